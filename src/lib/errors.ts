/**
 * The error classes of roster and their exit codes. Every command maps a thrown error to its
 * exit code through `exitCodeOf`; oclif reads `exitCode` too, so the code survives JSON output.
 *
 * 0 ok · 1 unexpected failure · 2 usage or invalid input · 3 backend unavailable (retryable)
 * · 4 not authenticated or not allowed · 5 not found · 6 conflict. Command-specific codes
 * (7 node-status gate, 8/9 dns sync) are thrown as `CommandExitError`.
 */
export const ExitCode = {
  ok: 0,
  failure: 1,
  invalidInput: 2,
  unavailable: 3,
  notAllowed: 4,
  notFound: 5,
  conflict: 6,
  notReady: 7,
  changesPending: 8,
  unsafePlan: 9,
} as const

export interface RosterErrorOptions {
  cause?: unknown
  /** The setting at fault, named as in the config file (`registry`, `owner-id`, `listen`), or a field of the input. */
  field?: string
}

const SETTING_OPEN = '\u{E000}'
const SETTING_CLOSE = '\u{E001}'
const MARKED_SETTING = /\u{E000}([^\u{E000}\u{E001}]*)\u{E001}/gu

/**
 * A setting named inside an error message, as in `required with ${setting('tls-cert')}`: the
 * message reads its bare name (`tls-cert`); the command layer shows the user the flag that sets
 * it. Library code names settings this way, never as flags.
 */
export function setting(name: string): string {
  return `${SETTING_OPEN}${name}${SETTING_CLOSE}`
}

/**
 * The base of roster's errors. Library code names settings as the config file does, never as
 * flags: `field` is the setting at fault, and settings named in the message are marked with
 * `setting()`. The command layer (src/command/settings.ts) turns both into what the user typed.
 */
export class RosterError extends Error {
  readonly exitCode: number = ExitCode.failure
  /** A short machine-readable code for JSON output. */
  readonly code: string = 'failure'
  readonly field?: string
  /** The message with its settings marked (see `setting`), when it names any. */
  declare readonly template?: string

  constructor(message: string, options?: RosterErrorOptions) {
    super(message.replace(MARKED_SETTING, '$1'), options?.cause === undefined ? undefined : {cause: options.cause})
    this.name = new.target.name
    if (options?.field !== undefined) this.field = options.field
    if (this.message !== message) Object.defineProperty(this, 'template', {value: message, writable: true})
  }
}

/** Each setting a message template marks, replaced by `name(setting)`. */
export function renderSettings(template: string, name: (setting: string) => string): string {
  return template.replace(MARKED_SETTING, (_marked, settingName: string) => name(settingName))
}

/** Usage errors and invalid input: names the field and the value. Exit 2. */
export class InvalidInputError extends RosterError {
  override readonly exitCode: number = ExitCode.invalidInput
  override readonly code: string = 'invalid_input'
  /** Every problem, when the message lists only the first few (see listProblems); all of them go into JSON output. */
  readonly problems?: string[]

  constructor(message: string, options?: RosterErrorOptions & {problems?: string[]}) {
    super(message, options)
    if (options?.problems) this.problems = options.problems
  }

  /** `field "value": reason` — the one-line shape every validation error takes (the value shortened). */
  static forField(field: string, value: unknown, reason: string): InvalidInputError {
    return new InvalidInputError(`${field} ${shortValue(value)}: ${reason}`, {field})
  }
}

/** A registry, cluster or DNS server that could not be reached or timed out. Retryable. Exit 3. */
export class BackendUnavailableError extends RosterError {
  override readonly exitCode: number = ExitCode.unavailable
  override readonly code: string = 'unavailable'
}

/** Not authenticated, or authenticated and not allowed. Exit 4. */
export class NotAllowedError extends RosterError {
  override readonly exitCode: number = ExitCode.notAllowed
  override readonly code: string = 'not_allowed'
}

/** No credentials, or credentials that are invalid, expired or revoked (HTTP 401). Exit 4. */
export class NotAuthenticatedError extends NotAllowedError {
  override readonly code: string = 'not_authenticated'
}

export class NotFoundError extends RosterError {
  override readonly exitCode: number = ExitCode.notFound
  override readonly code: string = 'not_found'
}

export class ConflictError extends RosterError {
  override readonly exitCode: number = ExitCode.conflict
  override readonly code: string = 'conflict'
}

/**
 * A conditional write or delete (HTTP If-Match, the library's expectRevision) whose object moved:
 * its revision is no longer the one expected. Nothing was changed. Exit 6, HTTP 412.
 */
export class PreconditionFailedError extends ConflictError {
  override readonly code: string = 'precondition_failed'
}

/** A request body or value larger than the limit (HTTP 413). Exit 2. */
export class TooLargeError extends InvalidInputError {
  override readonly code: string = 'too_large'
}

/** A command-specific outcome with its documented exit code (node-status gate, dns sync). */
export class CommandExitError extends RosterError {
  override readonly exitCode: number
  override readonly code: string

  constructor(message: string, exitCode: number, code: string, options?: RosterErrorOptions) {
    super(message, options)
    this.exitCode = exitCode
    this.code = code
  }
}

/** The first line of an error's message: libraries add detail lines that would break the one-line rule. */
export function firstLineOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error)
  return (text.split('\n')[0] ?? '').trim()
}

/** The exit code for any thrown value: ours, oclif's parse errors (2), or 1. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof RosterError) return error.exitCode
  const e = error as {exitCode?: unknown; oclif?: {exit?: unknown}; code?: unknown} | undefined
  if (e && typeof e.exitCode === 'number') return e.exitCode
  if (e && typeof e.oclif?.exit === 'number') return e.oclif.exit
  return ExitCode.failure
}

/** How many characters of a user-supplied value a message shows. */
export const MAX_VALUE_CHARS = 120
/** How many problems a one-line message lists before "and K more". */
export const MAX_PROBLEMS = 5

/**
 * A user-supplied value for a message: JSON-quoted, and cut to about `max` characters with
 * "…(N more characters)" so that a pasted file or a huge argument cannot flood the line.
 */
export function shortValue(value: unknown, max = MAX_VALUE_CHARS): string {
  let text: string
  try {
    text = JSON.stringify(value) ?? String(value)
  } catch {
    text = String(value)
  }
  if (text.length <= max) return text
  const cut = text.slice(0, max)
  return `${cut}…(${text.length - max} more characters)`
}

/** "p1; p2; p3; p4; p5; and 17 more": the first `max` problems of a list, for a one-line message. */
export function listProblems(problems: readonly string[], max = MAX_PROBLEMS): string {
  const shown = problems.slice(0, max).join('; ')
  return problems.length > max ? `${shown}; and ${problems.length - max} more` : shown
}
