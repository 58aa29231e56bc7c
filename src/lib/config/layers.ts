/**
 * Layered flag values: a flag typed on the command line wins, then ROSTER_<FLAG> in the
 * environment, then the config files (see load-config.ts), then the flag's default. This module
 * knows nothing of oclif: the base command describes each flag as a `FlagSpec` and asks here.
 */
import {InvalidInputError, firstLineOf} from '../errors.js'
import type {LoadedConfig} from './load-config.js'
import {nearestName} from './nearest.js'

/** Where a flag's effective value came from, for `config show`. */
export type ValueSource = 'flag' | 'default' | `env ${string}` | `file ${string}`

/** Flags that never come from ROSTER_<NAME> or the config file. */
export const NOT_LAYERED: ReadonlySet<string> = new Set(['json', 'help', 'config'])

/** `etcd-prefix` → `ROSTER_ETCD_PREFIX`. */
export function envNameOf(flagName: string): string {
  return `ROSTER_${flagName.toUpperCase().replace(/-/g, '_')}`
}

/** `ROSTER_ETCD_PREFIX` → `etcd-prefix`; undefined for a name that is not ROSTER_*. */
export function flagNameOfEnv(envName: string): string | undefined {
  if (!envName.startsWith('ROSTER_')) return undefined
  return envName.slice('ROSTER_'.length).toLowerCase().replace(/_/g, '-')
}

/** What the layering needs to know of a flag to turn a text or file value into the flag's value. */
export interface FlagSpec {
  kind: 'boolean' | 'option'
  /** The values allowed, when the flag has a fixed set. */
  options?: readonly string[]
  multiple?: boolean
  delimiter?: string
  /** The flag's own parser (oclif's `parse`), for one item. */
  parse?: (text: string) => Promise<unknown>
}

export interface LayeredValue {
  value: unknown
  source: ValueSource
}

/**
 * The value of a flag that was not typed: from the environment, else from the config files, else
 * undefined (the caller uses the flag's default). Validated as the command line would be; an
 * error names where the value came from (`ROSTER_TIMEOUT "soon": ...`, `timeout (in FILE) ...`).
 */
export async function layeredValue(
  name: string,
  spec: FlagSpec,
  sources: {env: NodeJS.ProcessEnv; loaded?: LoadedConfig},
): Promise<LayeredValue | undefined> {
  const envName = envNameOf(name)
  const fromEnv = sources.env[envName]
  if (fromEnv !== undefined && fromEnv !== '') {
    return {value: await coerceValue(spec, fromEnv, envName), source: `env ${envName}`}
  }
  const fromFile = sources.loaded?.values.get(name)
  if (fromFile) {
    return {value: await coerceValue(spec, fromFile.value, `${name} (in ${fromFile.file})`), source: `file ${fromFile.file}`}
  }
  return undefined
}

/** Turns an env or config-file value into the flag's type, validated as oclif validates argv. */
export async function coerceValue(spec: FlagSpec, value: unknown, field: string): Promise<unknown> {
  if (spec.kind === 'boolean') {
    if (typeof value === 'boolean') return value
    const text = String(value).trim().toLowerCase()
    if (['1', 'true', 'yes', 'on'].includes(text)) return true
    if (['0', 'false', 'no', 'off', ''].includes(text)) return false
    throw InvalidInputError.forField(field, value, 'expected true or false')
  }
  const one = async (item: unknown): Promise<unknown> => {
    const text = String(item).trim()
    if (spec.options && !spec.options.includes(text)) {
      throw InvalidInputError.forField(field, text, `expected one of ${spec.options.join(', ')}`)
    }
    try {
      return spec.parse ? await spec.parse(text) : text
    } catch (error) {
      throw InvalidInputError.forField(field, text, firstLineOf(error))
    }
  }
  if (spec.multiple) {
    const items = Array.isArray(value)
      ? value
      : String(value)
          .split(spec.delimiter ?? /[,\s]+/)
          .filter((s) => s.trim() !== '')
    return Promise.all(items.map((item) => one(item)))
  }
  if (Array.isArray(value)) throw InvalidInputError.forField(field, value, 'expected a single value, not a list')
  return one(value)
}

/**
 * Rejects a config-file key that is no flag of any command (exit 2), naming the key, its file,
 * and the nearest known key: a typo must not silently fall back to the default.
 */
export function checkConfigKeys(loaded: LoadedConfig, known: ReadonlySet<string>): void {
  for (const file of loaded.parsed) {
    for (const [key, raw] of Object.entries(file.rawKeys ?? {})) {
      if (known.has(key) && !NOT_LAYERED.has(key)) continue
      const near = nearestName(
        key,
        [...known].filter((k) => !NOT_LAYERED.has(k)),
      )
      const hint = near ? `; did you mean ${near}?` : ''
      throw new InvalidInputError(`config ${file.path}: unknown key ${JSON.stringify(raw)}${hint}`, {field: key})
    }
  }
}
