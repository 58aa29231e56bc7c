import assert from 'node:assert/strict'
import {afterEach, beforeEach, describe, it} from 'node:test'

import {ConflictError, InvalidInputError, NotFoundError} from '../../src/lib/errors.js'
import {HISTORY_PREFIX, eventsOf} from '../../src/lib/registry/history/event.js'
import {serviceKey} from '../../src/lib/registry/keys.js'
import type {Service} from '../../src/lib/registry/model.js'
import {BULK_WRITE_THRESHOLD, Registry} from '../../src/lib/registry/registry.js'
import {serviceId} from '../../src/lib/registry/service-id.js'
import {openStore} from '../../src/lib/store/open-store.js'
import {importIntoLargeNamespace} from '../support/import-cases.js'
import {MAX_TXN_OPS, type Compare, type Operation, type Store, type TxnResult, type WatchEvent} from '../../src/lib/store/store.js'

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of it) out.push(x)
  return out
}

// Each test has a new in-memory store and registers what it needs, so any test runs alone.
describe('Registry operations (sqlite::memory:)', () => {
  let store: Store
  let registry: Registry
  beforeEach(async () => {
    store = await openStore({registry: 'sqlite::memory:', timeoutMs: 10_000})
    registry = new Registry(store, {pageSize: 50})
  })
  afterEach(async () => {
    await store.close()
  })

  it('stores services unassigned before any server exists', async () => {
    const r = await registry.registerServices({name: 'node', endpoints: ['http://db1:9100/metrics', 'http://db2:9100/metrics']})
    assert.equal(r.created, 2)
    assert.deepEqual(
      r.services.map((s) => s.servers),
      [[], []],
    )
    const again = await registry.registerServices({name: 'node', endpoints: ['http://db1:9100/metrics']})
    assert.equal(again.unchanged, 1)
    assert.equal(again.services[0]!.id, r.services[0]!.id)
  })

  const registerNodes = () => registry.registerServices({name: 'node', endpoints: ['http://db1:9100/metrics', 'http://db2:9100/metrics']})

  it('registering servers distributes every service, and unregistering moves them off', async () => {
    await registerNodes()
    await registry.registerServer('prom1', {env: 'prod'})
    const s1 = await registry.registerServer('prom2', {env: 'prod'})
    assert.equal(s1.server.state, 'active')
    for (let i = 0; i < 300; i++) await registry.registerServices({name: 'bulk', endpoints: [`http://bulk${i}:9100/`]})
    let services = await all(registry.listServices())
    assert.equal(services.length, 302)
    assert.ok(services.every((s) => s.servers.length === 1))
    const onProm1 = services.filter((s) => s.servers[0] === 'prom1').length
    assert.ok(onProm1 > 100 && onProm1 < 200, String(onProm1))

    const removed = await registry.unregisterServer('prom1')
    assert.equal(removed.moved, onProm1)
    services = await all(registry.listServices())
    assert.ok(services.every((s) => s.servers.length === 1 && s.servers[0] === 'prom2'))
    assert.deepEqual(
      (await registry.listServers()).map((s) => s.name),
      ['prom2'],
    )
    await assert.rejects(registry.unregisterServer('prom1'), NotFoundError)
  })

  it('finishes an unregister that was interrupted (server left "leaving")', async () => {
    await registry.registerServer('prom3', {env: 'prod'})
    const server = JSON.parse((await store.get('servers/prom3'))!.value)
    await store.txn([], [{type: 'put', key: 'servers/prom3', value: JSON.stringify({...server, state: 'leaving'})}])
    await registry.unregisterServer('prom3')
    assert.equal(await store.get('servers/prom3'), undefined)
    assert.ok((await all(registry.listServices({server: 'prom3'}))).length === 0)
  })

  it('replicas=2 assigns two servers', async () => {
    await registerNodes()
    await registry.registerServer('prom2', {env: 'prod'})
    await registry.registerServer('prom4', {env: 'prod'})
    const r = await registry.updateSettings({replicas: 2})
    assert.equal(r.settings.replicas, 2)
    const services = await all(registry.listServices())
    assert.ok(services.length === 2 && services.every((s) => s.servers.join() === 'prom2,prom4'))
    await registry.updateSettings({replicas: 1})
    assert.ok((await all(registry.listServices())).every((s) => s.servers.length === 1))
  })

  it('a selector that matches no server is an error naming it, and writes nothing', async () => {
    await registry.registerServer('prom2', {env: 'prod'})
    await assert.rejects(registry.registerServices({name: 'x', endpoints: ['http://x/'], selector: 'env=qa'}), (e: unknown) => {
      return e instanceof InvalidInputError && e.message.startsWith('selector "env=qa": matches none')
    })
    assert.equal((await all(registry.listServices({name: '^x$'}))).length, 0)
  })

  it('namespaces: default always exists, unknown ones are not found, non-empty ones refuse without force', async () => {
    assert.deepEqual(
      (await registry.listNamespaces()).map((n) => n.name),
      ['default'],
    )
    await assert.rejects(registry.registerServices({name: 'a', endpoints: ['http://a/'], namespace: 'team'}), NotFoundError)
    await registry.registerNamespace('team', 'blackbox')
    await registry.registerServices({name: 'a', endpoints: ['http://a/', 'http://b/'], namespace: 'team'})
    await assert.rejects(
      registry.unregisterNamespace('team'),
      (e: unknown) => e instanceof ConflictError && /has 2 services/.test(e.message),
    )
    await assert.rejects(registry.unregisterNamespace('default', true), InvalidInputError)
    await assert.rejects(registry.unregisterNamespace('nope'), NotFoundError)
    const r = await registry.unregisterNamespace('team', true)
    assert.equal(r.servicesRemoved, 2)
    assert.equal((await all(registry.listServices({namespace: 'team'}))).length, 0)
  })

  it('unregisters services by URL or ID, idempotently', async () => {
    const [svc] = (await registry.registerServices({name: 'u', endpoints: ['http://u1/']})).services
    await registry.registerServices({name: 'u', endpoints: ['http://u2/']})
    const r = await registry.unregisterServices([svc!.id, 'http://u2/', 'http://u3/'])
    assert.equal(r.removed.length, 2)
    assert.deepEqual(r.notFound, ['http://u3/'])
    const again = await registry.unregisterServices(['http://u2/'])
    assert.equal(again.removed.length, 0)
  })

  it('lists with filters and sorting', async () => {
    await registerNodes()
    await registry.importServices(Array.from({length: 300}, (_, i) => ({name: 'bulk', endpoint: `http://bulk${i}:9100/`})))
    const sorted = await all(registry.listServices({name: '^node$', sortBy: 'endpoint'}))
    assert.deepEqual(
      sorted.map((s) => s.endpoint),
      ['http://db1:9100/metrics', 'http://db2:9100/metrics'],
    )
    assert.equal((await all(registry.listServices({endpoint: 'bulk1\\d\\d:'}))).length, 100)
    await assert.rejects(all(registry.listServices({name: '('})), /^InvalidInputError: name "\(": not a valid regular expression/)
  })

  it('import validates every entry first and writes nothing when one is bad', async () => {
    const before = await all(registry.listServices())
    await assert.rejects(
      registry.importServices([
        {name: 'i', endpoints: ['http://i1/']},
        {name: 'i', endpoint: 'ftp://x'},
        {name: 'i', endpoint: 'http://i1/'},
        {name: 'bad name', endpoint: 'http://i4/'},
        {name: 'i', endpoint: 'http://i5/', namespace: 'nope'},
      ]),
      (e: unknown) => {
        assert.ok(e instanceof InvalidInputError)
        assert.match(e.message, /^file: 4 of 5 entries are invalid, nothing was imported: entry 2: endpoint "ftp:\/\/x": scheme "ftp"/)
        assert.match(e.message, /entry 3: endpoint "http:\/\/i1\/": is also in entry 1/)
        assert.match(e.message, /entry 4: name "bad name"/)
        assert.match(e.message, /entry 5: namespace "nope" is not registered/)
        return true
      },
    )
    assert.deepEqual(await all(registry.listServices()), before)
    const entries = Array.from({length: 500}, (_, i) => ({name: 'imp', endpoint: `http://imp${i}/`, labels: {n: String(i)}}))
    const r = await registry.importServices({services: entries})
    assert.equal(r.created, 500)
    assert.equal((await all(registry.listServices({selector: 'n in (1,2,3)'}))).length, 3)
    const again = await registry.importServices(entries)
    assert.equal(again.unchanged, 500)
  })
})

/**
 * A Store that counts service gets and transactions, and can run a step of a "concurrent writer"
 * just before a given transaction (through the inner store, so that step is not counted).
 */
class ObservedStore implements Store {
  serviceGets: string[] = []
  /** The prefixes ranged over. */
  ranges: string[] = []
  /** `success` without the history record, which is `history` (one per write). */
  txns: {compares: Compare[]; success: Operation[]; history: Operation[]; result: TxnResult}[] = []
  beforeTxn?: (index: number) => Promise<void>

  constructor(readonly inner: Store) {}

  get description(): string {
    return this.inner.description
  }

  get(key: string) {
    if (key.startsWith('services/')) this.serviceGets.push(key)
    return this.inner.get(key)
  }

  getMany(keys: readonly string[]) {
    this.serviceGets.push(...keys.filter((key) => key.startsWith('services/')))
    return this.inner.getMany(keys)
  }

  range(prefix: string, options?: {pageSize?: number}) {
    this.ranges.push(prefix)
    return this.inner.range(prefix, options)
  }
  snapshot(revision?: number) {
    return this.inner.snapshot(revision)
  }
  watch(prefix: string, fromRevision: number, onEvent: (event: WatchEvent) => void) {
    return this.inner.watch(prefix, fromRevision, onEvent)
  }

  async txn(compares: Compare[], success: Operation[]): Promise<TxnResult> {
    const hook = this.beforeTxn
    if (hook) {
      this.beforeTxn = undefined
      await hook(this.txns.length)
      this.beforeTxn = hook
    }
    const result = await this.inner.txn(compares, success)
    const history = success.filter((op) => op.key.startsWith(HISTORY_PREFIX))
    this.txns.push({compares, success: success.filter((op) => !history.includes(op)), history, result})
    return result
  }

  close() {
    return this.inner.close()
  }

  reset(): void {
    this.serviceGets = []
    this.ranges = []
    this.txns = []
    this.beforeTxn = undefined
  }
}

/** The events of a transaction's history record. */
function recordedEvents(t: ObservedStore['txns'][number]) {
  const record = t.history[0] as {key: string; value: string}
  return eventsOf({key: record.key, value: record.value, createRevision: t.result.revision})
}

async function storeRevision(store: Store): Promise<number> {
  for await (const page of store.range('')) return page.revision
  return 0
}

describe(`Registry bulk import (${BULK_WRITE_THRESHOLD}+ services: one range, no get per service)`, () => {
  let inner: Store
  let store: ObservedStore
  let registry: Registry
  /** A second registry on the same store: the "concurrent writer". */
  let other: Registry
  const entries = (n: number, from = 0, extra: Record<string, unknown> = {}) =>
    Array.from({length: n}, (_, i) => ({
      name: 'bulk',
      endpoint: `http://b${from + i}.example:9100/metrics`,
      labels: {n: String(from + i)},
      ...extra,
    }))

  beforeEach(async () => {
    inner = await openStore({registry: 'sqlite::memory:', timeoutMs: 10_000})
    store = new ObservedStore(inner)
    registry = new Registry(store, {pageSize: 50})
    other = new Registry(inner, {pageSize: 50})
  })
  afterEach(async () => {
    await store.close()
  })

  it('reads the servers once while the topology stands; a change made by another writer is read anew', async () => {
    await other.registerServer('prom1', {})
    await registry.registerServices({name: 'one', endpoints: ['http://one:9100/']})
    store.reset()
    const second = await registry.registerServices({name: 'two', endpoints: ['http://two:9100/']})
    assert.deepEqual(store.ranges, [], 'the servers were not read again')
    assert.deepEqual(second.services[0]!.servers, ['prom1'])
    // Another process adds a server and asks for two replicas: the next write sees both.
    await other.registerServer('prom2', {})
    await other.updateSettings({replicas: 2})
    store.reset()
    const third = await registry.registerServices({name: 'three', endpoints: ['http://three:9100/']})
    assert.ok(
      store.ranges.some((prefix: string) => prefix === 'servers/'),
      JSON.stringify(store.ranges),
    )
    assert.deepEqual([...third.services[0]!.servers].sort(), ['prom1', 'prom2'])
    // withActor's registries share what was read.
    store.reset()
    await registry.withActor({kind: 'system', id: 'test'}).registerServices({name: 'four', endpoints: ['http://four:9100/']})
    assert.deepEqual(store.ranges, [])
  })

  it('creates in full transactions, then writes nothing on a rerun, reading no service by key', async () => {
    store.reset()
    const r = await registry.importServices(entries(600))
    assert.deepEqual({...r}, {entries: 600, services: 600, created: 600, updated: 0, unchanged: 0})
    assert.deepEqual(store.serviceGets, [])
    // 600 puts, MAX_TXN_OPS - 2 per transaction (one topology and one namespace compare).
    assert.equal(store.txns.length, Math.ceil(600 / (MAX_TXN_OPS - 2)))
    for (const t of store.txns) {
      assert.ok(t.result.succeeded)
      assert.ok(t.compares.length <= MAX_TXN_OPS && t.success.length <= MAX_TXN_OPS - 2)
      // One history record per transaction, an event for each service it writes.
      assert.equal(t.history.length, 1)
      assert.equal(recordedEvents(t).length, t.success.length)
      assert.equal(t.compares[0]!.key, 'topology')
      assert.deepEqual(t.compares[1], {key: 'namespaces/default', modRevision: 0})
      // Every put is guarded by "the key does not exist yet".
      assert.deepEqual(
        t.compares.slice(2).map((c) => [c.key, c.modRevision]),
        t.success.map((op) => [op.key, 0]),
      )
    }
    const listed = await all(registry.listServices({name: '^bulk$'}))
    assert.equal(listed.length, 600)
    assert.deepEqual(listed.find((s) => s.endpoint === 'http://b7.example:9100/metrics')?.labels, {n: '7'})

    store.reset()
    const revision = await storeRevision(inner)
    const again = await registry.importServices(entries(600))
    assert.deepEqual({...again}, {entries: 600, services: 600, created: 0, updated: 0, unchanged: 600})
    assert.equal(store.txns.length, 0)
    assert.deepEqual(store.serviceGets, [])
    assert.equal(await storeRevision(inner), revision)
  })

  it('a mixed rerun writes only the changed and new services, each guarded by its mod revision', async () => {
    await other.importServices(entries(600))
    const changed = entries(600).map((e, i) => (i % 100 === 0 ? {...e, labels: {n: e.labels.n, changed: 'yes'}} : e))
    const keyOf = (endpoint: string) => serviceKey('default', serviceId('default', endpoint))
    const revisions = new Map<string, number>()
    for (const e of changed.filter((_, i) => i % 100 === 0))
      revisions.set(keyOf(e.endpoint), (await inner.get(keyOf(e.endpoint)))!.modRevision)
    store.reset()
    const r = await registry.importServices([...changed, ...entries(20, 600)])
    assert.deepEqual({...r}, {entries: 620, services: 620, created: 20, updated: 6, unchanged: 600 - 6})
    assert.deepEqual(store.serviceGets, [])
    assert.equal(store.txns.length, 1)
    const t = store.txns[0]!
    assert.equal(t.success.length, 26)
    const events = recordedEvents(t)
    assert.deepEqual(events.map((e) => e.action).sort(), [...Array(20).fill('register'), ...Array(6).fill('update')])
    assert.deepEqual(
      events.filter((e) => e.action === 'update').map((e) => e.changes),
      [0, 100, 200, 300, 400, 500].map((n) => ({labels: {before: {n: String(n)}, after: {n: String(n), changed: 'yes'}}})),
    )
    assert.deepEqual(
      t.compares.slice(2).map((c) => [c.key, c.modRevision]),
      t.success.map((op) => [op.key, revisions.get(op.key) ?? 0]),
    )
    assert.equal([...revisions.values()].filter((v) => v > 0).length, 6)
    assert.equal((await all(registry.listServices({selector: 'changed=yes'}))).length, 6)
  })

  it('a service changed by another writer after the range is re-read by key and retried', async () => {
    store.reset()
    const target = 'http://b1000.example:9100/metrics'
    store.beforeTxn = async (index) => {
      // Just before the first transaction: another writer registers one of the services with
      // exactly the content the import is about to write.
      if (index === 0) await other.registerServices({name: 'bulk', endpoints: [target], labels: {n: '1000'}})
    }
    const r = await registry.importServices(entries(300, 900))
    assert.deepEqual({...r}, {entries: 300, services: 300, created: 299, updated: 0, unchanged: 1})
    assert.equal(store.txns[0]!.result.succeeded, false)
    assert.ok(store.txns.slice(1).every((t) => t.result.succeeded))
    // The failed batch, and only it, was re-read by key.
    assert.equal(store.serviceGets.length, MAX_TXN_OPS - 2)
    assert.deepEqual(
      store.serviceGets,
      store.txns[0]!.compares.slice(2).map((c) => c.key),
    )
    assert.equal((await all(registry.listServices({endpoint: 'b(9\\d\\d|1[01]\\d\\d)\\.'}))).length, 300)
  })

  it('a server registered mid-import: the topology compare fails, later batches use the new server set, none is left unassigned', async () => {
    store.reset()
    store.beforeTxn = async (index) => {
      if (index === 1) await other.registerServer('prom-mid', {env: 'prod'})
    }
    const r = await registry.importServices(entries(400, 2000))
    assert.equal(r.created, 400)
    assert.equal(store.txns[1]!.result.succeeded, false)
    const services = await all(registry.listServices())
    assert.equal(services.length, 400)
    assert.deepEqual(
      services.filter((s: Service) => s.servers.join() !== 'prom-mid').map((s) => s.endpoint),
      [],
    )
  })

  it('a namespace unregistered mid-import stops it with NotFoundError', async () => {
    await registry.registerNamespace('doomed')
    store.reset()
    store.beforeTxn = async (index) => {
      if (index === 1) await other.unregisterNamespace('doomed', true)
    }
    await assert.rejects(registry.importServices(entries(400, 3000, {namespace: 'doomed'})), (e: unknown) => {
      return e instanceof NotFoundError && /namespace "doomed" is not registered/.test(e.message)
    })
    assert.equal((await all(registry.listServices({namespace: 'doomed'}))).length, 0)
  })

  it('an invalid entry among hundreds writes nothing', async () => {
    store.reset()
    const revision = await storeRevision(inner)
    const list = [...entries(400, 4000)]
    list[333] = {...list[333]!, endpoint: 'gopher://x'}
    await assert.rejects(
      registry.importServices(list),
      /^InvalidInputError: file: 1 of 400 entries are invalid, nothing was imported: entry 334: endpoint "gopher:\/\/x"/,
    )
    assert.equal(store.txns.length, 0)
    assert.equal(await storeRevision(inner), revision)
  })

  it('an import into a namespace more than twice its size reads by key and counts, refuses and reruns as before', async () => {
    await importIntoLargeNamespace(new Registry(inner, {pageSize: 50}), 'large')
  })

  it('several namespaces in one import; a namespace much larger than the import is read by key', async () => {
    await registry.registerNamespace('big')
    await registry.registerNamespace('small')
    // 17 × 256 existing services in "big", so a 256-entry import into it stops its range early.
    const seed = entries(17 * BULK_WRITE_THRESHOLD, 10_000, {namespace: 'big'})
    for (let i = 0; i < seed.length; i += 1000) await other.importServices(seed.slice(i, i + 1000))
    store.reset()
    const existing = seed.slice(-100)
    const fresh = entries(BULK_WRITE_THRESHOLD - 100, 50_000, {namespace: 'big'})
    const r = await registry.importServices([...existing, ...fresh, ...entries(300, 60_000, {namespace: 'small'})])
    assert.deepEqual({...r}, {entries: 556, services: 556, created: 456, updated: 0, unchanged: 100})
    // "big" was read by key (those its range did not reach before it stopped), "small" by its range.
    const freshKeys = fresh.map((e) => serviceKey('big', serviceId('big', e.endpoint)))
    assert.ok(
      store.serviceGets.every((k) => k.startsWith('services/big/')),
      'only keys of "big" are read by key',
    )
    assert.ok(
      freshKeys.every((k) => store.serviceGets.includes(k)),
      'absent keys of "big" are read by key',
    )
    assert.ok(store.serviceGets.length <= BULK_WRITE_THRESHOLD)
    assert.equal((await all(registry.listServices({namespace: 'small'}))).length, 300)
    assert.equal((await all(registry.listServices({namespace: 'big'}))).length, seed.length + fresh.length)
  })
})
