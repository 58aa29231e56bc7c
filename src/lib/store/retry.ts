/**
 * Retry with exponential backoff and jitter, bounded by a deadline. Used by both store backends:
 * SQLite retries SQLITE_BUSY beyond its busy timeout, etcd retries an unreachable cluster, both
 * until the command's timeout; then the caller turns the last error into a
 * BackendUnavailableError. The store follower retries a list with no deadline, until closed.
 */
export interface RetryOptions {
  /** Epoch milliseconds after which no new attempt starts. */
  deadline: number
  /** Whether an error is worth another attempt. Others are thrown at once. */
  isRetryable(error: unknown): boolean
  /** Builds the error thrown when the deadline passes; gets the last error and the time spent. */
  onExhausted(lastError: unknown, attempts: number, elapsedMs: number): Error
  /** First delay; doubles each attempt up to `maxDelayMs`. Defaults 25 and 1000. */
  initialDelayMs?: number
  maxDelayMs?: number
  /**
   * No attempt starts with less than this left before the deadline (default 0): a last attempt
   * with no time to succeed only replaces a telling error ("connection refused") with a timeout.
   */
  minAttemptMs?: number
  /** Ends the retries: the wait in progress stops at once and the last error is thrown. */
  signal?: AbortSignal
}

/** Waits `ms`; an aborted `signal` ends the wait early (resolving, not rejecting). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (!signal) return new Promise((resolve) => setTimeout(resolve, ms))
  if (signal.aborted) return Promise.resolve()
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, {once: true})
  })
}

/**
 * The delay before attempt `attempt + 1`: exponential from `initialMs` (doubling per attempt, at
 * most `maxMs`) with "equal jitter" (half fixed, half random), so that many processes spread out.
 */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(attempt - 1, 0), 20))
  return ceiling / 2 + random() * (ceiling / 2)
}

export async function retryWithBackoff<T>(fn: (attempt: number) => Promise<T> | T, options: RetryOptions): Promise<T> {
  const started = Date.now()
  const initial = options.initialDelayMs ?? 25
  const max = options.maxDelayMs ?? 1000
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt)
    } catch (error) {
      if (!options.isRetryable(error) || options.signal?.aborted) throw error
      const remaining = options.deadline - Date.now() - (options.minAttemptMs ?? 0)
      if (remaining <= 0) throw options.onExhausted(error, attempt, Date.now() - started)
      await sleep(Math.min(remaining, backoffDelay(attempt, initial, max)), options.signal)
      if (options.signal?.aborted) throw error
    }
  }
}
