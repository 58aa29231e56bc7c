import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'

import {ConflictError, InvalidInputError, NotFoundError} from '../../src/lib/errors.js'
import {Registry} from '../../src/lib/registry/registry.js'
import {openStore} from '../../src/lib/store/open-store.js'
import type {Store} from '../../src/lib/store/store.js'

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of it) out.push(x)
  return out
}

describe('Registry operations (sqlite::memory:)', () => {
  let store: Store
  let registry: Registry
  before(async () => {
    store = await openStore({registry: 'sqlite::memory:', timeoutMs: 10_000})
    registry = new Registry(store, {pageSize: 50})
  })
  after(async () => {
    await store.close()
  })

  it('stores services unassigned before any server exists', async () => {
    const r = await registry.registerServices({name: 'node', endpoints: ['http://db1:9100/metrics', 'http://db2:9100/metrics']})
    assert.equal(r.created, 2)
    assert.deepEqual(r.services.map((s) => s.servers), [[], []])
    const again = await registry.registerServices({name: 'node', endpoints: ['http://db1:9100/metrics']})
    assert.equal(again.unchanged, 1)
    assert.equal(again.services[0]!.id, r.services[0]!.id)
  })

  it('registering servers distributes every service, and unregistering moves them off', async () => {
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
    assert.deepEqual((await registry.listServers()).map((s) => s.name), ['prom2'])
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
    await registry.registerServer('prom4', {env: 'prod'})
    const r = await registry.updateSettings({replicas: 2})
    assert.equal(r.settings.replicas, 2)
    assert.ok((await all(registry.listServices())).every((s) => s.servers.join() === 'prom2,prom4'))
    await registry.updateSettings({replicas: 1})
    assert.ok((await all(registry.listServices())).every((s) => s.servers.length === 1))
  })

  it('a selector that matches no server is an error naming it, and writes nothing', async () => {
    await assert.rejects(registry.registerServices({name: 'x', endpoints: ['http://x/'], selector: 'env=qa'}), (e: unknown) => {
      return e instanceof InvalidInputError && e.message.startsWith('selector "env=qa": matches none')
    })
    assert.equal((await all(registry.listServices({name: '^x$'}))).length, 0)
  })

  it('namespaces: default always exists, unknown ones are not found, non-empty ones refuse without force', async () => {
    assert.deepEqual((await registry.listNamespaces()).map((n) => n.name), ['default'])
    await assert.rejects(registry.registerServices({name: 'a', endpoints: ['http://a/'], namespace: 'team'}), NotFoundError)
    await registry.registerNamespace('team', 'blackbox')
    await registry.registerServices({name: 'a', endpoints: ['http://a/', 'http://b/'], namespace: 'team'})
    await assert.rejects(registry.unregisterNamespace('team'), (e: unknown) => e instanceof ConflictError && /has 2 services/.test(e.message))
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
    const sorted = await all(registry.listServices({name: '^node$', sortBy: 'endpoint'}))
    assert.deepEqual(sorted.map((s) => s.endpoint), ['http://db1:9100/metrics', 'http://db2:9100/metrics'])
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
