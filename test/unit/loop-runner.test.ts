/**
 * The bounded-frequency runner under a hand-driven clock: no timed assertions, time moves only
 * when the test says so.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {BoundedFrequencyRunner, type RunnerClock} from '../../src/lib/loop/bounded-frequency-runner.js'

class ManualClock implements RunnerClock {
  t = 0
  private timers = new Map<number, {due: number; fn: () => void}>()
  private next = 1
  now(): number {
    return this.t
  }
  setTimer(fn: () => void, ms: number): unknown {
    const id = this.next++
    this.timers.set(id, {due: this.t + ms, fn})
    return id
  }
  clearTimer(handle: unknown): void {
    this.timers.delete(handle as number)
  }
  pendingTimers(): number[] {
    return [...this.timers.values()].map((t) => t.due).sort((a, b) => a - b)
  }
  /** Moves time forward, firing due timers in order (and letting their syncs settle). */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms
    for (;;) {
      await settle()
      const due = [...this.timers.entries()].filter(([, t]) => t.due <= end).sort((a, b) => a[1].due - b[1].due)[0]
      if (!due) break
      this.timers.delete(due[0])
      this.t = due[1].due
      due[1].fn()
    }
    this.t = end
    await settle()
  }
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await Promise.resolve()
}

function setup(o: {min: number; max: number; retry?: number; fail?: () => boolean}) {
  const clock = new ManualClock()
  const starts: number[] = []
  const errors: unknown[] = []
  let release: (() => void) | undefined
  let hold = false
  const runner = new BoundedFrequencyRunner(
    async () => {
      starts.push(clock.now())
      if (hold) await new Promise<void>((r) => (release = r))
      if (o.fail?.()) throw new Error('sync failed')
    },
    {minIntervalMs: o.min, maxIntervalMs: o.max, retryAfterMs: o.retry, clock, onError: (e) => errors.push(e)},
  )
  return {
    clock,
    runner,
    starts,
    errors,
    holdSyncs: (v: boolean) => (hold = v),
    finishSync: () => {
      const r = release
      release = undefined
      r?.()
    },
  }
}

describe('BoundedFrequencyRunner', () => {
  it('runs the first request at once and coalesces a burst into one sync at the min interval', async () => {
    const {clock, runner, starts} = setup({min: 1000, max: 60_000})
    for (let i = 0; i < 1000; i++) runner.run()
    await settle()
    assert.deepEqual(starts, [0])
    await clock.advance(999)
    assert.deepEqual(starts, [0])
    await clock.advance(1)
    assert.deepEqual(starts, [0, 1000])
    // Nothing requested since: the next sync is the periodic one, at the max interval.
    assert.deepEqual(clock.pendingTimers(), [61_000])
    await runner.stop()
  })

  it('syncs at least every max interval without requests', async () => {
    const {clock, runner, starts} = setup({min: 1000, max: 10_000})
    runner.start()
    await clock.advance(35_000)
    assert.deepEqual(starts, [0, 10_000, 20_000, 30_000])
    await runner.stop()
  })

  it('a request after the min interval has passed syncs immediately', async () => {
    const {clock, runner, starts} = setup({min: 1000, max: 10_000})
    runner.run()
    await clock.advance(5000)
    runner.run()
    await settle()
    assert.deepEqual(starts, [0, 5000])
    await runner.stop()
  })

  it('a request during a sync gives one more sync after it, not before the min interval', async () => {
    const {clock, runner, starts, holdSyncs, finishSync} = setup({min: 1000, max: 10_000})
    holdSyncs(true)
    runner.run()
    await settle()
    runner.run()
    runner.run()
    await clock.advance(3000)
    assert.deepEqual(starts, [0], 'no second sync while the first runs')
    holdSyncs(false)
    finishSync()
    await settle()
    assert.deepEqual(starts, [0, 3000], 'the coalesced request runs as soon as the first ends (min interval already passed)')
    await runner.stop()
  })

  it('retries a failed sync after retryAfterMs', async () => {
    let failures = 1
    const {clock, runner, starts, errors} = setup({min: 100, max: 10_000, retry: 2000, fail: () => failures-- > 0})
    runner.run()
    await settle()
    assert.equal(errors.length, 1)
    await clock.advance(1999)
    assert.deepEqual(starts, [0])
    await clock.advance(1)
    assert.deepEqual(starts, [0, 2000])
    assert.equal(errors.length, 1)
    await runner.stop()
  })

  it('stop() waits for the sync in progress and nothing runs afterwards', async () => {
    const {clock, runner, starts, holdSyncs, finishSync} = setup({min: 1000, max: 5000})
    holdSyncs(true)
    runner.run()
    await settle()
    let stopped = false
    const stopping = runner.stop().then(() => (stopped = true))
    await settle()
    assert.equal(stopped, false)
    finishSync()
    await stopping
    runner.run()
    await clock.advance(60_000)
    assert.deepEqual(starts, [0])
    assert.deepEqual(clock.pendingTimers(), [])
  })

  it('refuses min > max', () => {
    assert.throws(() => new BoundedFrequencyRunner(async () => undefined, {minIntervalMs: 10, maxIntervalMs: 5}), /min/)
  })
})

describe('runWatchLoop', () => {
  it('syncs at start and on every trigger; stops on the signal, stopping its triggers', async () => {
    const {runWatchLoop} = await import('../../src/lib/loop/watch-loop.js')
    const controller = new AbortController()
    let fire: (() => void) | undefined
    let triggerStopped = false
    let syncs = 0
    let resolveSync: (() => void) | undefined
    const synced = () => new Promise<void>((r) => (resolveSync = r))
    let next = synced()
    const done = runWatchLoop(
      async () => {
        syncs++
        resolveSync?.()
      },
      {
        minIntervalMs: 0,
        maxIntervalMs: 3_600_000,
        signal: controller.signal,
        onError: (e) => assert.fail(String(e)),
        triggers: [
          async (onChange, signal) => {
            fire = onChange
            await new Promise<void>((r) => signal.addEventListener('abort', () => r(), {once: true}))
            triggerStopped = true
          },
        ],
      },
    )
    await next
    assert.equal(syncs, 1)
    next = synced()
    fire?.()
    await next
    assert.equal(syncs, 2)
    controller.abort()
    assert.equal(await done, 2)
    assert.equal(triggerStopped, true)
  })

  it('a fatal sync error ends the loop with that error', async () => {
    const {runWatchLoop} = await import('../../src/lib/loop/watch-loop.js')
    const errors: unknown[] = []
    await assert.rejects(
      runWatchLoop(
        async () => {
          throw new Error('lock lost')
        },
        {
          minIntervalMs: 0,
          maxIntervalMs: 1000,
          signal: new AbortController().signal,
          onError: (e) => errors.push(e),
          isFatal: (e) => (e as Error).message === 'lock lost',
          triggers: [],
        },
      ),
      /lock lost/,
    )
    assert.deepEqual(errors, [])
  })
})
