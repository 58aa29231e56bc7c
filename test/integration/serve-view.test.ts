/**
 * The in-memory view `roster serve` answers from, over a real SQLite file written by a second
 * connection (another process, as far as SQLite knows): puts, deletes (from their tombstones),
 * a delete and a create between two polls, keys the view does not track, revocations, and a
 * relist after its watch ended. `fresh()` asks the store follower for the changes at once
 * instead of at its next poll.
 */
import assert from 'node:assert/strict'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {serviceKey, serverKey} from '../../src/lib/registry/keys.js'
import type {Service} from '../../src/lib/registry/model.js'
import {RegistryView} from '../../src/lib/server/view.js'
import {openStore} from '../../src/lib/store/open-store.js'
import {CompactedError, type Store} from '../../src/lib/store/store.js'
import {until} from '../support/until.js'
import {BreakableStore} from '../support/store-suite.js'

const service = (id: string, name = 'node'): Service => ({
  id,
  name,
  namespace: 'default',
  endpoint: `http://${id}:9100/metrics`,
  labels: {},
  selector: '',
  servers: ['prom1'],
  description: '',
  modified: new Date().toISOString(),
})

describe('the serve view over SQLite', () => {
  let dir: string
  let writer: Store
  let reader: BreakableStore
  let view: RegistryView
  const changed: string[][] = []
  const put = (key: string, value: unknown) => writer.txn([], [{type: 'put', key, value: JSON.stringify(value)}])
  const del = (...keys: string[]) =>
    writer.txn(
      [],
      keys.map((key) => ({type: 'delete' as const, key})),
    )
  const ids = () => [...view.servicesIn('default')].map((s) => s.id).sort()

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'roster-serve-view-'))
    const registry = `sqlite:${path.join(dir, 'registry.db')}`
    writer = await openStore({registry, timeoutMs: 5000})
    reader = new BreakableStore(await openStore({registry, timeoutMs: 5000}))
    await put(serverKey('prom1'), {name: 'prom1', labels: {}, state: 'active', modified: ''})
    await put(serviceKey('default', 'a'), service('a'))
    await put('topology', {untracked: true})
    view = new RegistryView(reader, {onChange: (keys) => changed.push(keys)})
    await view.start()
  })
  after(async () => {
    await view.close()
    await reader.close()
    await writer.close()
    rmSync(dir, {recursive: true, force: true})
  })

  it('loads what is there', () => {
    assert.deepEqual(ids(), ['a'])
    assert.equal(view.server('prom1')?.name, 'prom1')
  })

  it('applies puts and updates from another connection', async () => {
    await put(serviceKey('default', 'b'), service('b'))
    await put(serviceKey('default', 'a'), service('a', 'renamed'))
    const generation = view.generation
    await view.fresh()
    assert.deepEqual(ids(), ['a', 'b'])
    assert.equal(view.service('default', 'a')?.name, 'renamed')
    assert.ok(view.generation > generation)
  })

  it('keeps every field of a service record, the optional ones too', async () => {
    const full: Service = {...service('full'), labels: {app: 'db'}, expires: '2030-01-01T00:00:00.000Z', registeredBy: 'ops@host1'}
    await put(serviceKey('default', 'full'), full)
    await view.fresh()
    const {revision, ...kept} = view.service('default', 'full')!
    assert.ok(revision > 0)
    assert.deepEqual(kept, full)
    await del(serviceKey('default', 'full'))
    await view.fresh()
  })

  it('finds deletions, also with a create between the same two polls', async () => {
    await del(serviceKey('default', 'b'))
    await put(serviceKey('default', 'c'), service('c'))
    await view.fresh()
    assert.deepEqual(ids(), ['a', 'c'])
    await del(serviceKey('default', 'a'), serverKey('prom1'))
    await view.fresh()
    assert.deepEqual(ids(), ['c'])
    assert.equal(view.server('prom1'), undefined)
  })

  it('finds a delete and re-create of one key, and a deleted untracked key', async () => {
    await del(serviceKey('default', 'c'))
    await put(serviceKey('default', 'c'), service('c', 'again'))
    await del('topology')
    await view.fresh()
    assert.deepEqual(ids(), ['c'])
    assert.equal(view.service('default', 'c')?.name, 'again')
    await del(serviceKey('default', 'c'))
    await view.fresh()
    assert.deepEqual(ids(), [])
  })

  it('changes nothing, and keeps its generation, when the store did not change', async () => {
    const generation = view.generation
    const revision = view.storeRevision
    const calls = changed.length
    await view.fresh()
    assert.equal(view.generation, generation)
    assert.equal(view.storeRevision, revision)
    assert.equal(changed.length, calls)
  })

  it('records revocations', async () => {
    await put('auth/revoked/t1', {id: 't1'})
    await view.fresh()
    assert.ok(view.isRevoked('t1'))
    assert.ok(!view.isRevoked('t2'))
  })

  it('after its watch ended, lists again: what changed meanwhile, deletions included, is there', async () => {
    await put(serviceKey('default', 'd'), service('d'))
    await view.fresh()
    const calls = changed.length
    // The watch ends (compacted); before the view lists again, the registry changes.
    reader.failingRanges = 1
    reader.endWatches(new CompactedError('compacted for the test', view.storeRevision))
    await del(serviceKey('default', 'd'), 'auth/revoked/t1')
    await put(serviceKey('default', 'e'), service('e'))
    await until('the relist', () => ids().join() === 'e')
    assert.ok(!view.isRevoked('t1'))
    const keys = changed.slice(calls).flat()
    for (const key of [serviceKey('default', 'd'), serviceKey('default', 'e'), 'auth/revoked/t1']) assert.ok(keys.includes(key), key)
    // And it follows again.
    await put(serviceKey('default', 'f'), service('f'))
    await view.fresh()
    assert.deepEqual(ids(), ['e', 'f'])
  })
})
