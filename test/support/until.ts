/**
 * The one way a test or a bench waits for state that something else brings about (a server's
 * watch, Prometheus's scrape, a child process's output). It polls and never asserts timing: the
 * deadline is generous and only turns a state that never comes into a failure, one that shows
 * what was last seen, so a slow machine makes a test slower, not red.
 */

export interface UntilOptions {
  /** When to give up (30 s). */
  timeoutMs?: number
  /** The pause between probes (50 ms). */
  intervalMs?: number
  /** What to show when the deadline passes: the state the test was looking at. */
  describe?: () => string
}

type Truthy<T> = Exclude<T, false | 0 | '' | null | undefined>

/**
 * Calls `probe` until it returns a truthy value and returns that value. A probe that throws
 * counts as "not yet" (a server still starting refuses connections); the last error is shown,
 * with `describe()`, if the deadline passes.
 */
export async function until<T>(what: string, probe: () => T | Promise<T>, options: UntilOptions = {}): Promise<Truthy<T>> {
  const {timeoutMs = 30_000, intervalMs = 50, describe} = options
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value) return value as Truthy<T>
    } catch (error) {
      lastError = error
    }
    if (Date.now() > deadline) {
      const details = [
        describe?.(),
        lastError === undefined ? undefined : `last error: ${lastError instanceof Error ? lastError.message : String(lastError)}`,
      ].filter((d) => d)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${details.length > 0 ? `\n${details.join('\n')}` : ''}`)
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}

/** `until`, returning how long the wait took in whole milliseconds, for tests and benches that print it. */
export async function timeUntil<T>(what: string, probe: () => T | Promise<T>, options: UntilOptions = {}): Promise<number> {
  const started = performance.now()
  await until(what, probe, options)
  return Math.round(performance.now() - started)
}

/** A probe's list, or undefined while it is empty: an empty list is "not yet" (an array is truthy). */
export function nonEmpty<T>(list: readonly T[]): readonly T[] | undefined {
  return list.length > 0 ? list : undefined
}
