/**
 * The one compare-and-swap loop (src/lib/store/cas.ts) and the registry writes that go through
 * it: bounded attempts, jittered backoff between them, a ConflictError naming what gave up.
 */
import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'

import {ConflictError} from '../../src/lib/errors.js'
import {Registry} from '../../src/lib/registry/registry.js'
import {RETRY, compareAndSwap} from '../../src/lib/store/cas.js'
import {openStore} from '../../src/lib/store/open-store.js'
import {backoffDelay} from '../../src/lib/store/retry.js'
import type {Compare, Operation, Store, TxnResult, WatchEvent} from '../../src/lib/store/store.js'

/** A step that always lost its compare, counting its attempts. */
function alwaysConflicting(): {step: () => Promise<typeof RETRY>; attempts: () => number} {
  let attempts = 0
  return {
    step: async () => {
      attempts++
      return RETRY
    },
    attempts: () => attempts,
  }
}

describe('compareAndSwap', () => {
  it('returns the first value that is not RETRY, without waiting when the first attempt succeeds', async () => {
    const waits: number[] = []
    const value = await compareAndSwap(async () => 'done', {what: 'x', maxAttempts: 3, sleep: async (ms) => void waits.push(ms)})
    assert.equal(value, 'done')
    assert.deepEqual(waits, [])
  })

  it('runs the step again after each RETRY, with growing jittered waits between attempts', async () => {
    const waits: number[] = []
    const attempts: number[] = []
    const value = await compareAndSwap(
      async (attempt) => {
        attempts.push(attempt)
        return attempt < 5 ? RETRY : attempt * 10
      },
      {what: 'x', maxAttempts: 10, initialDelayMs: 10, maxDelayMs: 40, sleep: async (ms) => void waits.push(ms)},
    )
    assert.equal(value, 50)
    assert.deepEqual(attempts, [1, 2, 3, 4, 5])
    assert.equal(waits.length, 4)
    // Equal jitter: between half the ceiling and the ceiling; ceilings 10, 20, 40, 40 (capped).
    const ceilings = [10, 20, 40, 40]
    waits.forEach((ms, i) => assert.ok(ms >= ceilings[i]! / 2 && ms <= ceilings[i]!, `wait ${i + 1}: ${ms} ms`))
  })

  it('gives up after maxAttempts with a ConflictError naming what and how often, without a last wait', async () => {
    const waits: number[] = []
    const conflicting = alwaysConflicting()
    await assert.rejects(
      compareAndSwap(conflicting.step, {what: 'server "prom1"', maxAttempts: 4, sleep: async (ms) => void waits.push(ms)}),
      (e: unknown) =>
        e instanceof ConflictError &&
        e.message === 'server "prom1": gave up after 4 attempts because of concurrent changes; try again' &&
        e.exitCode === 6,
    )
    assert.equal(conflicting.attempts(), 4)
    assert.equal(waits.length, 3)
  })

  it('does not retry an error the step throws', async () => {
    let attempts = 0
    await assert.rejects(
      compareAndSwap(
        async () => {
          attempts++
          throw new Error('boom')
        },
        {what: 'x', maxAttempts: 5, sleep: async () => undefined},
      ),
      /boom/,
    )
    assert.equal(attempts, 1)
  })

  it('treats maxAttempts below 1 as 1', async () => {
    const conflicting = alwaysConflicting()
    await assert.rejects(
      compareAndSwap(conflicting.step, {what: 'x', maxAttempts: 0, sleep: async () => undefined}),
      /gave up after 1 attempts/,
    )
    assert.equal(conflicting.attempts(), 1)
  })

  it('backoffDelay doubles from the initial delay up to the maximum, half fixed and half random', () => {
    assert.equal(
      backoffDelay(1, 10, 200, () => 0),
      5,
    )
    assert.equal(
      backoffDelay(1, 10, 200, () => 1),
      10,
    )
    assert.equal(
      backoffDelay(3, 10, 200, () => 0.5),
      30,
    )
    assert.equal(
      backoffDelay(30, 10, 200, () => 1),
      200,
    )
  })
})

/** A store whose next `failures` transactions with compares fail as a concurrent writer would make them fail. */
class ContendedStore implements Store {
  failures = 0
  txns: {compares: Compare[]; ops: Operation[]; succeeded: boolean}[] = []
  constructor(private readonly inner: Store) {}
  get description(): string {
    return this.inner.description
  }
  get(key: string) {
    return this.inner.get(key)
  }
  getMany(keys: readonly string[]) {
    return this.inner.getMany(keys)
  }
  range(prefix: string, options?: {pageSize?: number}) {
    return this.inner.range(prefix, options)
  }
  snapshot(revision?: number) {
    return this.inner.snapshot(revision)
  }
  watch(prefix: string, fromRevision: number, onEvent: (event: WatchEvent) => void) {
    return this.inner.watch(prefix, fromRevision, onEvent)
  }
  async txn(compares: Compare[], ops: Operation[]): Promise<TxnResult> {
    if (compares.length > 0 && this.failures > 0) {
      this.failures--
      this.txns.push({compares, ops, succeeded: false})
      return {succeeded: false, revision: 0}
    }
    const result = await this.inner.txn(compares, ops)
    this.txns.push({compares, ops, succeeded: result.succeeded})
    return result
  }
  close() {
    return this.inner.close()
  }
}

describe('registry writes go through the compare-and-swap loop', () => {
  let inner: Store
  let store: ContendedStore
  before(async () => {
    inner = await openStore({registry: 'sqlite::memory:', timeoutMs: 10_000})
    store = new ContendedStore(inner)
  })
  after(async () => {
    await inner.close()
  })

  const writes: [string, (r: Registry) => Promise<unknown>, RegExp][] = [
    ['namespace register', (r) => r.registerNamespace('team-a', 'blackbox'), /^namespace "team-a": gave up after 3 attempts/],
    ['settings', (r) => r.updateSettings({replicas: 2}), /^settings: gave up after 3 attempts/],
    ['server register', (r) => r.registerServer('prom1', {env: 'prod'}), /^server "prom1": gave up after 3 attempts/],
    [
      'service register',
      (r) => r.registerServices({name: 'node', endpoints: ['http://db1:9100/']}),
      /^service "http:\/\/db1:9100\/": gave up/,
    ],
  ]

  for (const [what, write, message] of writes) {
    it(`${what}: succeeds after two lost compares, gives up after three, and writes nothing then`, async () => {
      const registry = new Registry(store, {maxAttempts: 3})
      store.failures = 3
      store.txns = []
      await assert.rejects(write(registry), (e: unknown) => e instanceof ConflictError && message.test(e.message))
      assert.deepEqual(
        store.txns.map((t) => t.succeeded),
        [false, false, false],
      )
      store.failures = 2
      store.txns = []
      await write(registry)
      assert.deepEqual(
        store.txns.slice(0, 3).map((t) => t.succeeded),
        [false, false, true],
      )
    })
  }

  it('namespace unregister retries a lost compare and then deletes', async () => {
    const registry = new Registry(store, {maxAttempts: 3})
    store.failures = 2
    store.txns = []
    assert.deepEqual(await registry.unregisterNamespace('team-a'), {namespace: 'team-a', servicesRemoved: 0})
    assert.equal(await registry.getNamespace('team-a'), undefined)
  })

  it('server unregister retries a lost compare and then deletes', async () => {
    const registry = new Registry(store, {maxAttempts: 3})
    store.failures = 2
    await registry.unregisterServer('prom1')
    assert.equal(await registry.getServer('prom1'), undefined)
  })
})
