/**
 * kube-proxy's BoundedFrequencyRunner: `run()` asks for a sync; syncs happen at most once every
 * `minIntervalMs` (a burst of requests becomes one sync, the first at once, the rest coalesced
 * into the next allowed slot) and at least once every `maxIntervalMs` (a periodic resync that
 * repairs whatever a missed event left behind). One sync at a time; a request made during a sync
 * gets a sync after it. A failed sync is retried after `retryAfterMs` (capped by the max interval).
 *
 * The clock is injectable, so tests drive time by hand and never assert on wall-clock timing.
 */

export interface RunnerClock {
  now(): number
  setTimer(fn: () => void, ms: number): unknown
  clearTimer(handle: unknown): void
}

export const systemClock: RunnerClock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
}

export interface BoundedFrequencyRunnerOptions {
  minIntervalMs: number
  maxIntervalMs: number
  /** After a failed sync, the next one comes this long after the failed one started. Default: max(minIntervalMs, 1 s). */
  retryAfterMs?: number
  clock?: RunnerClock
  onError?: (error: unknown) => void
}

export class BoundedFrequencyRunner {
  private readonly clock: RunnerClock
  private readonly minIntervalMs: number
  private readonly maxIntervalMs: number
  private readonly retryAfterMs: number
  private lastStart: number | undefined
  private pending = false
  private failed = false
  private running: Promise<void> | undefined
  private timer: unknown
  private timerDue: number | undefined
  private stopped = false
  private started = false
  /** Syncs started so far. */
  syncs = 0

  constructor(
    private readonly sync: () => Promise<void>,
    private readonly options: BoundedFrequencyRunnerOptions,
  ) {
    if (!(options.minIntervalMs >= 0) || !(options.maxIntervalMs >= options.minIntervalMs) || options.maxIntervalMs <= 0)
      throw new RangeError(`bounded-frequency runner: need 0 <= min (${options.minIntervalMs}) <= max (${options.maxIntervalMs}), max > 0`)
    this.clock = options.clock ?? systemClock
    this.minIntervalMs = options.minIntervalMs
    this.maxIntervalMs = options.maxIntervalMs
    this.retryAfterMs = Math.min(options.retryAfterMs ?? Math.max(options.minIntervalMs, 1000), options.maxIntervalMs)
  }

  /** Starts the periodic syncs (the first sync is requested at once). */
  start(): void {
    if (this.started || this.stopped) return
    this.started = true
    this.run()
  }

  /** Requests a sync: now if the min interval has passed since the last one, else at the next allowed time. */
  run(): void {
    if (this.stopped) return
    this.started = true
    this.pending = true
    this.schedule()
  }

  /** Stops the runner; resolves when a sync in progress has finished. No sync starts afterwards. */
  async stop(): Promise<void> {
    this.stopped = true
    this.cancelTimer()
    await this.running
  }

  /** Resolves when no sync is running (for tests and orderly shutdown). */
  async idle(): Promise<void> {
    while (this.running) await this.running
  }

  private cancelTimer(): void {
    if (this.timer !== undefined) this.clock.clearTimer(this.timer)
    this.timer = undefined
    this.timerDue = undefined
  }

  private schedule(): void {
    if (this.stopped || this.running) return
    const now = this.clock.now()
    let due: number
    if (this.lastStart === undefined) due = now
    else if (this.failed) due = this.lastStart + this.retryAfterMs
    else if (this.pending) due = this.lastStart + this.minIntervalMs
    else due = this.lastStart + this.maxIntervalMs
    if (due <= now) {
      this.cancelTimer()
      this.startSync()
      return
    }
    if (this.timerDue === due) return
    this.cancelTimer()
    this.timerDue = due
    this.timer = this.clock.setTimer(() => {
      this.timer = undefined
      this.timerDue = undefined
      if (this.stopped || this.running) return
      this.startSync()
    }, due - now)
  }

  private startSync(): void {
    this.pending = false
    this.failed = false
    this.lastStart = this.clock.now()
    this.syncs++
    let run: Promise<void>
    try {
      run = this.sync()
    } catch (error) {
      run = Promise.reject(error)
    }
    this.running = run
      .catch((error: unknown) => {
        this.failed = true
        this.options.onError?.(error)
      })
      .finally(() => {
        this.running = undefined
        this.schedule()
      })
  }
}
