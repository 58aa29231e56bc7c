/**
 * Settings and flags. src/lib names a setting as the config file does (`registry`, `owner-id`,
 * `listen`), in an error's field and in its message (errors.ts `setting()`), and never as a flag;
 * the user typed a flag, a ROSTER_ variable or a config key.
 * `nameSettings` rewrites a library error so that it names what the user typed, and adds the
 * hint SETTINGS keeps for its setting. This file is the one place that knows both names.
 */
import {RosterError, renderSettings} from '../lib/errors.js'
import {envNameOf, type ValueSource} from '../lib/config/layers.js'

interface SettingEntry {
  /** The flags that set it, where a command's flag has another name than the setting. */
  flags?: readonly string[]
  /** Appended to an error whose field is this setting; `{name}` becomes the flag of setting `name`. */
  hint?: string
}

/** The settings whose flag is not simply `--<setting>` in every command, or whose errors take a hint. */
export const SETTINGS: Readonly<Record<string, SettingEntry>> = {
  // node-status serves its exporter with --serve; serve and kube metrics-proxy take --listen.
  listen: {flags: ['listen', 'serve']},
  // The revision a conditional write expects (the library's expectRevision): service register/unregister --if-revision.
  revision: {flags: ['if-revision']},
  token: {hint: 'pass {token} (or ROSTER_TOKEN, or token: in a config file), or run roster login'},
}

/** What `nameSettings` needs to know of the running command. */
export interface CommandSettings {
  /** The flags the command declares. */
  flags: ReadonlySet<string>
  /** Its arguments: a field named like one is the argument (`token info TOKEN`), not a flag. */
  args?: ReadonlySet<string>
  /** Where each flag's value came from (the base command's valueSources); a flag not in it was not parsed yet. */
  sources: ReadonlyMap<string, ValueSource>
}

/** The command's flag for `setting`, or undefined when it has none. */
export function flagOf(setting: string, flags: ReadonlySet<string>): string | undefined {
  const candidates = SETTINGS[setting]?.flags ?? [setting]
  return candidates.find((flag) => flags.has(flag))
}

/** How the user gave `flag`: `--flag` (typed, or its default), `ROSTER_FLAG`, or `flag (in FILE)`. */
export function typedName(flag: string, source: ValueSource | undefined): string {
  const where = (source ?? 'flag').replace(/ \(keychain\)$/, '')
  if (where.startsWith('env ')) return where.slice('env '.length) || envNameOf(flag)
  if (where.startsWith('file ')) return `${flag} (in ${where.slice('file '.length)})`
  return `--${flag}`
}

const named = new WeakSet<Error>()

/**
 * Rewrites a library error for the user, once: a message that starts with its field (`listen
 * "x": ...`) starts with what the user typed instead (`--serve "x": ...`, `ROSTER_LISTEN "x":
 * ...`); the settings it marks (errors.ts `setting()`) become flags; the field's hint is added.
 * A field this command has no flag for, that names one of its arguments, or whose flag was not
 * parsed (so what the user typed is not known) is left as it is; so is anything that is not a
 * RosterError.
 */
export function nameSettings<E>(error: E, command: CommandSettings): E {
  if (!(error instanceof RosterError) || named.has(error)) return error
  named.add(error)
  const asFlag = (name: string): string => {
    const flag = flagOf(name, command.flags)
    return flag === undefined ? name : `--${flag}`
  }
  let head = ''
  let rest = error.template ?? error.message
  const field = error.field
  const fieldFlag = field === undefined || command.args?.has(field) ? undefined : flagOf(field, command.flags)
  const source = fieldFlag === undefined ? undefined : command.sources.get(fieldFlag)
  if (field !== undefined && source !== undefined && (rest.startsWith(`${field} `) || rest.startsWith(`${field}:`))) {
    head = typedName(fieldFlag as string, source)
    rest = rest.slice(field.length)
  }
  rest = renderSettings(rest, asFlag)
  const hint = field === undefined ? undefined : SETTINGS[field]?.hint
  if (hint !== undefined && source !== undefined) rest += `; ${hint.replace(/\{([a-z0-9-]+)\}/g, (_whole, name: string) => asFlag(name))}`
  error.message = head + rest
  return error
}
