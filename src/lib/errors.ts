/**
 * The error classes of roster and their exit codes. Every command maps a thrown error to its
 * exit code through `exitCodeOf`; oclif reads `exitCode` too, so the code survives `--json`.
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

export class RosterError extends Error {
  readonly exitCode: number = ExitCode.failure
  /** A short machine-readable code for `--json` output. */
  readonly code: string = 'failure'

  constructor(message: string, options?: {cause?: unknown}) {
    super(message, options)
    this.name = new.target.name
  }
}

/** Usage errors and invalid input: names the field and the value. Exit 2. */
export class InvalidInputError extends RosterError {
  override readonly exitCode: number = ExitCode.invalidInput
  override readonly code: string = 'invalid_input'
  readonly field?: string
  /** Every problem, when the message lists only the first few (see listProblems); all of them go into --json. */
  readonly problems?: string[]

  constructor(message: string, options?: {cause?: unknown; field?: string; problems?: string[]}) {
    super(message, options)
    this.field = options?.field
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

/** A request body or value larger than the limit (HTTP 413). Exit 2. */
export class TooLargeError extends InvalidInputError {
  override readonly code: string = 'too_large'
}

/** A command-specific outcome with its documented exit code (node-status gate, dns sync). */
export class CommandExitError extends RosterError {
  override readonly exitCode: number
  override readonly code: string

  constructor(message: string, exitCode: number, code: string) {
    super(message)
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
