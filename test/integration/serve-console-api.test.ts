/**
 * The /v1 reads the console is built on, over a real SQLite store (serve's app in-process):
 * GET /v1/status counts what the caller may read and no more; GET /v1/services/{id} is read in
 * the namespace that holds it; GET /v1/servers/{name}/moves predicts what unregistering the
 * server then really moves (the registry's own distribution decides both).
 */
import assert from 'node:assert/strict'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {TokenAuthority} from '../../src/lib/auth/tokens.js'
import {Registry} from '../../src/lib/registry/registry.js'
import {buildApp} from '../../src/lib/server/app.js'
import {createMetrics} from '../../src/lib/server/metrics.js'
import {DEFAULT_LIMITS} from '../../src/lib/server/limits.js'
import {RegistryView} from '../../src/lib/server/view.js'
import {openStore} from '../../src/lib/store/open-store.js'
import type {Store} from '../../src/lib/store/store.js'

describe('serve: the reads the console is built on', () => {
  let dir: string
  let store: Store
  let view: RegistryView
  let registry: Registry
  let app: Awaited<ReturnType<typeof buildApp>>
  const tokens: Record<string, string> = {}

  const get = async (url: string, who: string) => {
    const r = await app.inject({method: 'GET', url, headers: {authorization: `Bearer ${tokens[who]}`}})
    return {status: r.statusCode, body: JSON.parse(r.body) as Record<string, unknown>}
  }

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'roster-console-api-'))
    store = await openStore({registry: `sqlite:${path.join(dir, 'r.db')}`, timeoutMs: 10_000})
    view = new RegistryView(store)
    await view.start()
    const authority = await TokenAuthority.open(store, {isRevoked: (id) => view.isRevoked(id)})
    registry = new Registry(store)
    app = await buildApp({
      store,
      registry,
      view,
      tokens: authority,
      loopback: true,
      metrics: await createMetrics(view, DEFAULT_LIMITS),
      log: () => undefined,
      version: 'test',
    })
    for (const [id, role, namespaces] of [
      ['admin', 'admin', ['*']],
      ['reader', 'read', ['*']],
      ['team-reader', 'read', ['team-a']],
      ['hook', 'service', ['team-a']],
    ] as const)
      tokens[id] = (await authority.create({id, role, namespaces: [...namespaces]})).token
    for (const [name, region] of [
      ['prom1', 'eu'],
      ['prom2', 'eu'],
      ['prom3', 'eu'],
      ['prom4', 'us'],
    ])
      await registry.registerServer(name!, {region: region!})
    await registry.registerNamespace('team-a')
    await registry.registerServices({
      name: 'node',
      endpoints: Array.from({length: 60}, (_, i) => `http://n${i}:9100/metrics`),
      selector: 'region=eu',
    })
    await registry.registerServices({
      name: 'api',
      namespace: 'team-a',
      endpoints: Array.from({length: 20}, (_, i) => `http://a${i}:8080/metrics`),
    })
    await registry.updateSettings({replicas: 2})
    await view.fresh()
  })
  after(async () => {
    await app?.close()
    await view?.close()
    await store?.close()
    rmSync(dir, {recursive: true, force: true})
  })

  it('GET /v1/status: the view and its counts; a reader of one namespace counts that namespace only; a service token is refused', async () => {
    const all = await get('/v1/status', 'reader')
    assert.equal(all.status, 200)
    assert.equal(all.body.revision, view.storeRevision)
    assert.equal(typeof all.body.lagSeconds, 'number')
    assert.equal(all.body.servers, 4)
    assert.equal(all.body.services, 80)
    assert.equal(all.body.unassigned, 0)
    assert.deepEqual(all.body.servicesByNamespace, {default: 60, 'team-a': 20})
    const byServer = all.body.servicesByServer as Record<string, number>
    assert.deepEqual(Object.keys(byServer), ['prom1', 'prom2', 'prom3', 'prom4'])
    assert.equal(
      Object.values(byServer).reduce((a, b) => a + b, 0),
      160,
      'two servers per service',
    )
    const one = await get('/v1/status', 'team-reader')
    assert.equal(one.status, 200)
    assert.deepEqual(one.body.servicesByNamespace, {'team-a': 20})
    assert.equal(one.body.services, 20)
    assert.equal(
      Object.values(one.body.servicesByServer as Record<string, number>).reduce((a, b) => a + b, 0),
      40,
    )
    assert.equal((await get('/v1/status', 'hook')).status, 403)
  })

  it('GET /v1/services/{id}: the service, in the namespace that holds it; outside the caller’s namespaces 403; unknown 404', async () => {
    const [service] = (await registry.registerServices({name: 'api', namespace: 'team-a', endpoints: ['http://a0:8080/metrics']})).services
    const found = await get(`/v1/services/${service!.id}`, 'team-reader')
    assert.equal(found.status, 200)
    assert.equal(found.body.endpoint, 'http://a0:8080/metrics')
    const [other] = (await registry.registerServices({name: 'node', endpoints: ['http://n0:9100/metrics'], selector: 'region=eu'})).services
    assert.equal((await get(`/v1/services/${other!.id}`, 'team-reader')).status, 403)
    assert.equal((await get(`/v1/services/${other!.id}`, 'admin')).status, 200)
    assert.equal((await get('/v1/services/6f1c3f0e-0000-5000-8000-000000000000', 'admin')).status, 404)
  })

  it('GET /v1/servers/{name}/moves: what unregistering the server then moves, service by service', async () => {
    const predicted = await get('/v1/servers/prom2/moves?limit=1000', 'admin')
    assert.equal(predicted.status, 200)
    const moves = predicted.body.moves as {service: {id: string; namespace: string; servers: string[]}; to: string[]}[]
    assert.equal(moves.length, predicted.body.services)
    const destinations: Record<string, number> = {}
    for (const m of moves) for (const to of m.to) destinations[to] = (destinations[to] ?? 0) + 1
    assert.deepEqual(predicted.body.destinations, destinations)
    const reader = await get('/v1/servers/prom2/moves?limit=1000', 'team-reader')
    assert.ok((reader.body.moves as typeof moves).every((m) => m.service.namespace === 'team-a'))
    assert.ok((reader.body.services as number) < moves.length)

    const before = new Map<string, string[]>()
    for (const ns of ['default', 'team-a']) for (const s of view.servicesIn(ns)) before.set(s.id, s.servers)
    await registry.unregisterServer('prom2')
    await view.fresh()
    let moved = 0
    for (const ns of ['default', 'team-a'])
      for (const s of view.servicesIn(ns)) {
        const gained = s.servers.filter((n) => !before.get(s.id)!.includes(n))
        const move = moves.find((m) => m.service.id === s.id)
        assert.deepEqual(gained, move?.to ?? [], `${s.id}: the prediction is what happened`)
        if (move) moved++
      }
    assert.equal(moved, moves.length)
    assert.equal((await get('/v1/servers/prom2/moves', 'admin')).status, 404)
    assert.equal((await get('/v1/servers/prom1/moves?limit=5000', 'admin')).status, 400)
  })
})
