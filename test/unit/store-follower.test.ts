/**
 * The store follower (src/lib/store/follower.ts) over a SQLite store in memory, wrapped so that
 * the test can end its watches (as a compaction or a broken stream does) and fail its lists (a
 * store that is down): snapshot then events, a relist that replaces the snapshot, the backoff
 * of a failing relist, close() in the middle of it, and sync().
 */
import assert from 'node:assert/strict'
import {afterEach, beforeEach, describe, it} from 'node:test'

import {BackendUnavailableError} from '../../src/lib/errors.js'
import {follow, type Follower, type FollowHandlers} from '../../src/lib/store/follower.js'
import {openStore} from '../../src/lib/store/open-store.js'
import {CompactedError, storeRevision, type KeyValue, type WatchEvent} from '../../src/lib/store/store.js'
import {until} from '../support/until.js'
import {BreakableStore} from '../support/store-suite.js'

interface Recorded {
  snapshots: {keys: string[]; revision: number; relisted: boolean}[]
  events: WatchEvent[]
  errors: unknown[]
  handlers: FollowHandlers
}

function recorder(): Recorded {
  const r: Recorded = {
    snapshots: [],
    events: [],
    errors: [],
    handlers: {
      onSnapshot: (kvs: KeyValue[], revision: number, relisted: boolean) =>
        r.snapshots.push({keys: kvs.map((kv) => kv.key), revision, relisted}),
      onEvent: (event) => r.events.push(event),
      onError: (error) => r.errors.push(error),
    },
  }
  return r
}

describe('the store follower', () => {
  let store: BreakableStore
  let follower: Follower | undefined
  const put = async (key: string, value = 'v') => (await store.txn([], [{type: 'put', key, value}])).revision
  const del = async (key: string) => (await store.txn([], [{type: 'delete', key}])).revision
  const fast = {initialDelayMs: 1, maxDelayMs: 5}

  beforeEach(async () => {
    store = new BreakableStore(await openStore({registry: 'sqlite::memory:', timeoutMs: 5000}))
  })
  afterEach(async () => {
    await follower?.close()
    follower = undefined
    await store.close()
  })

  it('hands out the prefix at one revision, then the changes after it', async () => {
    await put('a/1')
    const listed = await put('b/1')
    const r = recorder()
    follower = await follow(store, 'a/', r.handlers)
    assert.deepEqual(r.snapshots, [{keys: ['a/1'], revision: listed, relisted: false}])
    const written = await put('a/2')
    await put('b/2')
    await until('the put', () => r.events.length === 1)
    assert.deepEqual(r.events, [{type: 'put', kv: {key: 'a/2', value: 'v', createRevision: written, modRevision: written, version: 1}}])
    assert.equal(follower.revision, written)
    assert.ok(follower.confirmedAt > 0)
  })

  it("with list: 'revision', reads no keys: the snapshot is the revision alone", async () => {
    await put('a/1')
    const r = recorder()
    follower = await follow(store, '', r.handlers, {list: 'revision'})
    assert.deepEqual(r.snapshots, [{keys: [], revision: await storeRevision(store), relisted: false}])
  })

  it('sync() delivers what was committed before it', async () => {
    const r = recorder()
    follower = await follow(store, '', r.handlers)
    await put('k')
    await follower.sync()
    assert.equal(r.events.length, 1)
  })

  it('lists again when its watch ends, and the new snapshot replaces the old (deletions made meanwhile included)', async () => {
    await put('a/1')
    await put('a/2')
    const r = recorder()
    follower = await follow(store, 'a/', r.handlers, fast)
    // The watch ends (compacted) and, before the follower lists again, a key goes.
    store.failingRanges = 1
    assert.equal(store.endWatches(new CompactedError('compacted for the test', 1)), 1)
    const gone = await del('a/1')
    await until('the relist', () => r.snapshots.length === 2)
    assert.ok(r.errors[0] instanceof CompactedError, String(r.errors[0]))
    assert.ok(r.errors[1] instanceof BackendUnavailableError, 'the failed list is reported too')
    assert.deepEqual(r.snapshots[1], {keys: ['a/2'], revision: gone, relisted: true})
    // And it follows again from there.
    await put('a/3')
    await until('the put after the relist', () => r.events.some((e) => e.type === 'put' && e.kv.key === 'a/3'))
  })

  it('retries a failing relist with backoff, reporting each failure, until a list succeeds', async () => {
    const r = recorder()
    follower = await follow(store, '', r.handlers, fast)
    store.failingRanges = 4
    const before = store.ranges
    store.endWatches(new Error('stream broken'))
    await until('the relist', () => r.snapshots.length === 2)
    assert.equal(store.ranges - before, 5)
    assert.equal(r.errors.length, 5, 'the ended watch and four failed lists')
  })

  it('close() ends a relist in its backoff, and nothing is handed out after it', async () => {
    const r = recorder()
    follower = await follow(store, '', r.handlers, {initialDelayMs: 60_000, maxDelayMs: 60_000})
    store.failingRanges = 1
    store.endWatches(new Error('stream broken'))
    await until('the failed relist', () => r.errors.length === 2)
    await follower.close()
    const counts = [r.snapshots.length, r.events.length]
    await put('after-close')
    assert.deepEqual([r.snapshots.length, r.events.length], counts)
  })

  it('stops when its store is closed under it: no relist, no error', async () => {
    const r = recorder()
    follower = await follow(store, '', r.handlers, fast)
    const ranges = store.ranges
    await store.close()
    await follower.close()
    assert.deepEqual(r.errors, [])
    assert.equal(store.ranges, ranges)
  })

  it('a first list that fails is thrown (the caller decides), and nothing is left running', async () => {
    store.failingRanges = 1
    await assert.rejects(follow(store, '', recorder().handlers), BackendUnavailableError)
  })
})
