/**
 * The one regular-expression engine for patterns roster did not write: listing filters (which
 * serve runs for any reader) and an external-dns webhook's domain filter. RE2 (re2js) matches in
 * time linear in the input, so a pattern such as `(a+)+$` cannot hold the event loop; its syntax
 * is the one Prometheus relabelling and external-dns (Go's regexp) already take. Lookaround and
 * backreferences, which need backtracking, are refused as invalid. The time is also linear in the
 * size of the compiled pattern, and a short one can compile to thousands of instructions
 * (`\pL{1000}`): patterns are bounded in length and in compiled size, far above any filter a
 * person writes, so that one listing request over a large registry stays short.
 *
 * The engine loads on first use, not at start-up: call `loadRegexEngine()` (once, anywhere
 * async) before `compileRegex`.
 */
import type {RE2JS as Engine} from 're2js'

export interface Pattern {
  /** True when the pattern matches anywhere in `text` (anchor it with ^ and $ for the whole). */
  test(text: string): boolean
}

/** The longest pattern, in characters. */
export const MAX_PATTERN_LENGTH = 512
/** The most instructions a compiled pattern may have (`^node-[0-9]+$` has 11). */
export const MAX_PROGRAM_SIZE = 256

let engine: typeof Engine | undefined

export async function loadRegexEngine(): Promise<void> {
  engine ??= (await import('re2js')).RE2JS
}

/** Compiles `source`; a syntax error is thrown as the engine's one-line reason. */
export function compileRegex(source: string): Pattern {
  if (!engine) throw new Error('compileRegex before loadRegexEngine')
  if (source.length > MAX_PATTERN_LENGTH) throw new RegexSyntaxError(`longer than ${MAX_PATTERN_LENGTH} characters`)
  let compiled: ReturnType<typeof engine.compile>
  try {
    compiled = engine.compile(source)
  } catch (error) {
    throw new RegexSyntaxError((error as Error).message.replace(/^error parsing regexp: /, ''))
  }
  const size = compiled.programSize()
  if (size > MAX_PROGRAM_SIZE) throw new RegexSyntaxError(`too large once compiled (${size} instructions, at most ${MAX_PROGRAM_SIZE})`)
  return compiled
}

export class RegexSyntaxError extends Error {}
