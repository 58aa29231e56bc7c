/**
 * The in-memory view `roster serve` answers from, over a real SQLite file written by a second
 * connection (another process, as far as SQLite knows): puts, deletes found by the key count, a
 * delete and a create between two checks, and keys the view does not track.
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
import type {Store} from '../../src/lib/store/store.js'

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
  let reader: Store
  let view: RegistryView
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
    reader = await openStore({registry, timeoutMs: 5000})
    await put(serverKey('prom1'), {name: 'prom1', labels: {}, state: 'active', modified: ''})
    await put(serviceKey('default', 'a'), service('a'))
    await put('topology', {untracked: true})
    view = new RegistryView(reader, {pollMs: 60_000})
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
    await view.poll()
    assert.deepEqual(ids(), ['a', 'b'])
    assert.equal(view.services.get('default')?.get('a')?.value.name, 'renamed')
    assert.ok(view.generation > generation)
  })

  it('finds deletions by the key count, also with a create in the same interval', async () => {
    await del(serviceKey('default', 'b'))
    await put(serviceKey('default', 'c'), service('c'))
    await view.poll()
    assert.deepEqual(ids(), ['a', 'c'])
    await del(serviceKey('default', 'a'), serverKey('prom1'))
    await view.poll()
    assert.deepEqual(ids(), ['c'])
    assert.equal(view.server('prom1'), undefined)
  })

  it('finds a delete and re-create of one key, and a deleted untracked key', async () => {
    await del(serviceKey('default', 'c'))
    await put(serviceKey('default', 'c'), service('c', 'again'))
    await del('topology')
    await view.poll()
    assert.deepEqual(ids(), ['c'])
    assert.equal(view.services.get('default')?.get('c')?.value.name, 'again')
    await del(serviceKey('default', 'c'))
    await view.poll()
    assert.deepEqual(ids(), [])
  })

  it('changes nothing, and keeps its generation, when the store did not change', async () => {
    const generation = view.generation
    await view.poll()
    assert.equal(view.generation, generation)
    assert.equal(await reader.changesSince!(view.storeRevision, 0), undefined)
  })

  it('records revocations', async () => {
    await put('auth/revoked/t1', {id: 't1'})
    await view.poll()
    assert.ok(view.isRevoked('t1'))
    assert.ok(!view.isRevoked('t2'))
  })
})
