/**
 * Retry with exponential backoff and jitter, bounded by a deadline. Used by both store backends:
 * SQLite retries SQLITE_BUSY beyond its busy timeout, etcd retries an unreachable cluster, both
 * until the command's timeout; then the caller turns the last error into a
 * BackendUnavailableError.
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
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
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
      if (!options.isRetryable(error)) throw error
      const remaining = options.deadline - Date.now() - (options.minAttemptMs ?? 0)
      if (remaining <= 0) throw options.onExhausted(error, attempt, Date.now() - started)
      await sleep(Math.min(remaining, backoffDelay(attempt, initial, max)))
    }
  }
}
