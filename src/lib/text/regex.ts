/**
 * The one regular-expression engine for patterns roster did not write: listing filters (which
 * serve runs for any reader) and an external-dns webhook's domain filter. RE2 (re2js) matches in
 * time linear in the input, so a pattern such as `(a+)+$` cannot hold the event loop; its syntax
 * is the one Prometheus relabelling and external-dns (Go's regexp) already take. Lookaround and
 * backreferences, which need backtracking, are refused as invalid.
 *
 * The engine loads on first use, not at start-up: call `loadRegexEngine()` (once, anywhere
 * async) before `compileRegex`.
 */
import type {RE2JS as Engine} from 're2js'

export interface Pattern {
  /** True when the pattern matches anywhere in `text` (anchor it with ^ and $ for the whole). */
  test(text: string): boolean
}

let engine: typeof Engine | undefined

export async function loadRegexEngine(): Promise<void> {
  engine ??= (await import('re2js')).RE2JS
}

/** Compiles `source`; a syntax error is thrown as the engine's one-line reason. */
export function compileRegex(source: string): Pattern {
  if (!engine) throw new Error('compileRegex before loadRegexEngine')
  try {
    return engine.compile(source)
  } catch (error) {
    throw new RegexSyntaxError((error as Error).message.replace(/^error parsing regexp: /, ''))
  }
}

export class RegexSyntaxError extends Error {}
