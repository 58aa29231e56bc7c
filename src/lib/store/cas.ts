/**
 * The one compare-and-swap loop of the registry: read, compute, write with a compare on mod
 * revisions, and on a failed compare back off (jittered) and run the whole step again, at most
 * `maxAttempts` times; then give up with a ConflictError. Every registry write goes through it.
 */
import {ConflictError} from '../errors.js'
import {backoffDelay, sleep} from './retry.js'

/** What a step returns when its compare failed and it should run again after a backoff. */
export const RETRY: unique symbol = Symbol('compare-and-swap: retry')
export type Retry = typeof RETRY

export interface CasOptions {
  /** Attempts before giving up (at least 1). */
  maxAttempts: number
  /** Names what is written, for the ConflictError: `server "prom1"`, `settings`. */
  what: string
  /** Backoff after the first failed attempt; doubles per attempt up to `maxDelayMs`. Defaults 10 and 200. */
  initialDelayMs?: number
  maxDelayMs?: number
  /** Waits between attempts (tests replace it). Default: a timer. */
  sleep?: (ms: number) => Promise<void>
}

/**
 * Runs `step(attempt)` (1-based) until it returns anything but RETRY, backing off between
 * attempts. Errors `step` throws are not retried. After `maxAttempts` RETRYs, throws a
 * ConflictError naming `what` and the count, without a final wait.
 */
export async function compareAndSwap<T>(step: (attempt: number) => Promise<T | Retry>, options: CasOptions): Promise<T> {
  const maxAttempts = Math.max(1, Math.floor(options.maxAttempts))
  const wait = options.sleep ?? sleep
  for (let attempt = 1; ; attempt++) {
    const result = await step(attempt)
    if (result !== RETRY) return result
    if (attempt >= maxAttempts) throw giveUp(options.what, maxAttempts)
    await wait(backoffDelay(attempt, options.initialDelayMs ?? 10, options.maxDelayMs ?? 200))
  }
}

export function giveUp(what: string, attempts: number): ConflictError {
  return new ConflictError(`${what}: gave up after ${attempts} attempts because of concurrent changes; try again`)
}
