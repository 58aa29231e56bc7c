/**
 * oclif's command-line parse errors in roster's one-line form: the flag or argument, the value as
 * typed, what was expected, and the nearest allowed values when some are close:
 * `Parsing --replicas \n\tExpected an integer but received: two` becomes
 * `--replicas "two": expected an integer (see --help)`, and `Expected --output=jsn to be one of:
 * table, json, yaml, csv` becomes `--output "jsn": expected one of table, json, yaml, csv; did you
 * mean json? (see --help)`. oclif's errors carry most of this only in their text, so they are
 * recognised by it; an error not recognised here keeps its own text.
 */
import {InvalidInputError, listProblems, shortValue} from '../lib/errors.js'
import {didYouMean, nearestNames} from '../lib/text/nearest.js'

/** What the parse error is about: the command's flags and arguments, and the argv it parsed. */
export interface ParseContext {
  argv: readonly string[]
  flags: Record<string, {char?: string; options?: readonly string[]; multiple?: boolean}>
  args: Record<string, {options?: readonly string[]}>
}

/** The rewritten error (exit 2, `field` the flag or argument), or undefined when `error` is not a parse error. */
export function parseErrorAsInvalidInput(error: Error, ctx: ParseContext): InvalidInputError | undefined {
  const described = describe(error, ctx)
  if (!described) return undefined
  return new InvalidInputError(`${described.message} (see --help)`, {field: described.field, cause: error})
}

function describe(error: Error, ctx: ParseContext): {message: string; field?: string} | undefined {
  const text = stripAnsi(error.message ?? '')
    .replace(/\n\s*See more help with --help\s*$/, '')
    .trim()
  let m: RegExpExecArray | null

  if ((m = /^Parsing --([\w-]+)\s*\n\s*([\s\S]*)$/.exec(text))) return flagValueError(m[1]!, m[2]!.trim(), ctx)

  if ((m = /^Expected --([\w-]+)=([\s\S]*) to be one of: [\s\S]*$/.exec(text))) {
    const [, name, value] = m as unknown as [string, string, string]
    return {message: `--${name} ${shortValue(value)}: ${oneOf(value, ctx.flags[name]?.options ?? [])}`, field: name}
  }

  if ((m = /^Expected ([\s\S]*) to be one of: ([\s\S]*)$/.exec(text))) {
    const [, value, list] = m as unknown as [string, string, string]
    const options = list.split(', ')
    const arg = Object.entries(ctx.args).find(([, a]) => a.options?.join(', ') === list)?.[0]
    return {message: `${arg ? `${arg.toUpperCase()} ` : ''}${shortValue(value)}: ${oneOf(value, options)}`, field: arg}
  }

  if ((m = /^Flag --([\w-]+) expects one of these values: ([\s\S]*)$/.exec(text))) {
    return {message: `--${m[1]}: needs a value, one of ${m[2]}`, field: m[1]}
  }

  if ((m = /^Flag --([\w-]+) expects a value$/.exec(text))) return {message: `--${m[1]}: needs a value`, field: m[1]}

  if ((m = /^Flag --([\w-]+) can only be specified once$/.exec(text))) {
    return {message: `--${m[1]}: given more than once; give it once`, field: m[1]}
  }

  const unknownFlags = (error as {flags?: unknown}).flags
  if (/^Nonexistent flags?:/.test(text) && Array.isArray(unknownFlags)) {
    const typed = unknownFlags.map((f) => String(f).replace(/=[\s\S]*$/, ''))
    const names = Object.keys(ctx.flags).map((n) => `--${n}`)
    const hints = [...new Set(typed.flatMap((f) => nearestNames(f, names)))]
    const hint = hints.length > 0 ? `; ${didYouMean(hints, false)}` : ''
    return {message: `unknown flag${typed.length === 1 ? '' : 's'} ${listProblems(typed.map((f) => shortValue(f)))}${hint}`}
  }

  const errorArgs = (error as {args?: unknown}).args
  if (/^Missing \d+ required args?/.test(text) && Array.isArray(errorArgs)) {
    const names = errorArgs.map((a) => String((a as {name?: unknown}).name ?? '').toUpperCase()).filter((n) => n !== '')
    // A flag that takes several values swallows the words after it: the usual reason an argument goes missing.
    const greedy = Object.entries(ctx.flags)
      .filter(([name, f]) => f.multiple && typedFlag(ctx.argv, name, f.char))
      .map(([name]) => `--${name}`)
    const note = greedy.length > 0 ? `; ${greedy.join(', ')} takes several values, so give the arguments before it (or after --)` : ''
    return {message: `missing argument${names.length === 1 ? '' : 's'} ${names.join(', ')}${note}`, field: names[0]?.toLowerCase()}
  }

  if (/^Unexpected arguments?: /.test(text) && Array.isArray(errorArgs)) {
    const extra = errorArgs.map((a) => shortValue(String(a)))
    return {message: `unexpected argument${extra.length === 1 ? '' : 's'} ${listProblems(extra)}`}
  }

  if ((m = /^The following errors? occurred:\s*([\s\S]*)$/.exec(text))) {
    const reasons = m[1]!
      .split('\n')
      .map((r) => r.trim())
      .filter((r) => r !== '')
      .map((r) => r.replace(/^Missing required flag ([\w-]+)$/, '--$1: required'))
      .map((r) => r.charAt(0).toLowerCase() + r.slice(1))
    const field = /--([\w-]+)/.exec(reasons[0] ?? '')?.[1]
    return {message: listProblems(reasons), field}
  }

  return undefined
}

/** `--replicas "two": expected an integer`, from the message a flag's parser threw. */
function flagValueError(name: string, inner: string, ctx: ParseContext): {message: string; field: string} {
  const flag = `--${name}`
  let m: RegExpExecArray | null
  if ((m = /^Expected an integer but received: ([\s\S]*)$/.exec(inner))) {
    return {message: `${flag} ${shortValue(m[1])}: expected an integer`, field: name}
  }
  if ((m = /^Expected an integer (greater|less) than or equal to (\S+) but received: ([\s\S]*)$/.exec(inner))) {
    return {message: `${flag} ${shortValue(m[3])}: expected an integer of at ${m[1] === 'greater' ? 'least' : 'most'} ${m[2]}`, field: name}
  }
  const value = typedValue(ctx.argv, name, ctx.flags[name]?.char)
  const reason = inner.split('\n')[0]!.trim()
  const lowered = reason.charAt(0).toLowerCase() + reason.slice(1)
  return {message: `${flag}${value === undefined ? '' : ` ${shortValue(value)}`}: ${lowered}`, field: name}
}

/** `expected one of table, json, yaml, csv; did you mean json?` */
function oneOf(value: string, options: readonly string[]): string {
  const near = didYouMean(nearestNames(value, options))
  return `expected one of ${options.join(', ')}${near ? `; ${near}` : ''}`
}

/** Whether argv holds the flag (`--name`, `--name=…`, `-c`, `-cVALUE`) before any `--`. */
function typedFlag(argv: readonly string[], name: string, char: string | undefined): boolean {
  for (const arg of argv) {
    if (arg === '--') return false
    if (arg === `--${name}` || arg.startsWith(`--${name}=`)) return true
    if (char && arg.startsWith(`-${char}`)) return true
  }
  return false
}

/** The last value typed for the flag, as given (`--name V`, `--name=V`, `-c V`, `-cV`, `-c=V`). */
function typedValue(argv: readonly string[], name: string, char: string | undefined): string | undefined {
  let value: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--') break
    if (arg === `--${name}` || (char && arg === `-${char}`)) value = argv[i + 1]
    else if (arg.startsWith(`--${name}=`)) value = arg.slice(name.length + 3)
    else if (char && arg.startsWith(`-${char}`)) value = arg.slice(2).replace(/^=/, '')
  }
  return value
}

function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex -- the escape sequences oclif's theme adds
  return text.replace(/\x1b\[[0-9;]*m/g, '')
}
