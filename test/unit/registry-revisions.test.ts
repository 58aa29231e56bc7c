/**
 * Revisions on registry objects and conditional writes, on the local Registry (SQLite in memory):
 * every read carries the store mod revision of its key; every write and delete with an expected
 * revision happens only if the object is still there, and otherwise fails with
 * PreconditionFailedError (exit 6) leaving the store exactly as it was (same store revision).
 * The same code runs over etcd and behind serve (test/integration/registry-race.test.ts,
 * serve-conditional.test.ts).
 */
import assert from 'node:assert/strict'
import {afterEach, beforeEach, describe, it} from 'node:test'

import {ExitCode, InvalidInputError, PreconditionFailedError} from '../../src/lib/errors.js'
import {
  NAMESPACES_PREFIX,
  SERVERS_PREFIX,
  SERVICES_PREFIX,
  SETTINGS_KEY,
  namespaceKey,
  serverKey,
  serviceKey,
} from '../../src/lib/registry/keys.js'
import {MAX_CONDITIONAL_SERVICES, Registry} from '../../src/lib/registry/registry.js'
import {openStore} from '../../src/lib/store/open-store.js'
import {type Store, rangeAll, storeRevision} from '../../src/lib/store/store.js'

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of it) out.push(x)
  return out
}

describe('revisions and conditional writes (sqlite::memory:)', () => {
  let store: Store
  let registry: Registry
  beforeEach(async () => {
    store = await openStore({registry: 'sqlite::memory:', timeoutMs: 10_000})
    registry = new Registry(store)
  })
  afterEach(async () => {
    await store.close()
  })

  const modRevision = async (key: string): Promise<number> => (await store.get(key))?.modRevision ?? 0

  /** Runs `write`, expects PreconditionFailedError (exit 6), and that nothing in the store changed. */
  const refused = async (write: () => Promise<unknown>, message: RegExp): Promise<void> => {
    const before = await storeRevision(store)
    await assert.rejects(write, (error: unknown) => {
      assert.ok(error instanceof PreconditionFailedError, String(error))
      assert.equal(error.exitCode, ExitCode.conflict)
      assert.equal(error.code, 'precondition_failed')
      assert.match(error.message, message)
      assert.match(error.message, /nothing was changed$/)
      return true
    })
    assert.equal(await storeRevision(store), before, 'a refused conditional write changes nothing')
  }

  it('every read carries the revision of its key, and no stored value holds it', async () => {
    await registry.registerNamespace('team-a')
    await registry.registerServer('prom1', {dc: 'a'})
    await registry.updateSettings({replicas: 1})
    const registered = await registry.registerServices({name: 'node', namespace: 'team-a', endpoints: ['http://db1:9100/']})
    const service = registered.services[0]!

    assert.equal(service.revision, await modRevision(serviceKey('team-a', service.id)))
    assert.equal((await registry.getServer('prom1'))!.revision, await modRevision(serverKey('prom1')))
    assert.deepEqual(
      (await registry.listServers()).map((s) => s.revision),
      [await modRevision(serverKey('prom1'))],
    )
    assert.equal((await registry.getNamespace('team-a'))!.revision, await modRevision(namespaceKey('team-a')))
    assert.equal((await registry.getNamespace('default'))!.revision, 0, 'the implicit default namespace is not stored: 0')
    assert.deepEqual(
      (await registry.listNamespaces()).map((n) => [n.name, n.revision]),
      [
        ['default', 0],
        ['team-a', await modRevision(namespaceKey('team-a'))],
      ],
    )
    assert.equal((await registry.getSettings()).revision, await modRevision(SETTINGS_KEY))
    for (const sortBy of [undefined, 'namespace', 'endpoint'] as const) {
      const listed = await all(registry.listServices({sortBy}))
      assert.deepEqual(
        listed.map((s) => s.revision),
        [service.revision],
        `listServices sortBy ${sortBy}`,
      )
    }
    for (const prefix of [SERVICES_PREFIX, SERVERS_PREFIX, NAMESPACES_PREFIX, SETTINGS_KEY])
      for (const kv of await rangeAll(store, prefix)) assert.ok(!('revision' in JSON.parse(kv.value)), `${kv.key} stores no revision`)
  })

  it('a service is registered and unregistered only at the revision expected; 0 means only if absent', async () => {
    const endpoint = 'http://db1:9100/'
    const created = await registry.registerServices({name: 'node', endpoints: [endpoint]}, {expectRevision: 0})
    const first = created.services[0]!
    assert.equal(created.created, 1)
    await refused(
      () => registry.registerServices({name: 'node', endpoints: [endpoint]}, {expectRevision: 0}),
      /it exists \(revision \d+\) and revision 0 means only if absent/,
    )

    const renewed = await registry.registerServices({name: 'node', endpoints: [endpoint], ttl: '1h'}, {expectRevision: first.revision})
    const second = renewed.services[0]!
    assert.ok(second.revision > first.revision)
    await refused(
      () => registry.registerServices({name: 'other', endpoints: [endpoint]}, {expectRevision: first.revision}),
      new RegExp(`revision ${first.revision} expected, it is at revision ${second.revision} now`),
    )
    // Unchanged at the expected revision: nothing written, the same revision handed back.
    const same = await registry.registerServices(
      {name: 'node', endpoints: [endpoint], expiresAt: second.expires},
      {expectRevision: second.revision},
    )
    assert.equal(same.unchanged, 1)
    assert.equal(same.services[0]!.revision, second.revision)

    await refused(() => registry.unregisterServices([endpoint], undefined, {expectRevisions: [first.revision]}), /nothing was changed/)
    assert.equal((await all(registry.listServices())).length, 1)
    const removed = await registry.unregisterServices([first.id], 'default', {expectRevisions: [second.revision]})
    assert.deepEqual(
      removed.removed.map((s) => s.revision),
      [second.revision],
    )
    // Gone: reported as not found, as an unconditional unregister reports it.
    assert.deepEqual(await registry.unregisterServices([endpoint], undefined, {expectRevisions: [second.revision]}), {
      removed: [],
      notFound: [endpoint],
    })
    await assert.rejects(
      () => registry.registerServices({name: 'node', endpoints: [endpoint, 'http://db2:9100/']}, {expectRevision: 0}),
      (error: unknown) =>
        error instanceof InvalidInputError && error.field === 'revision' && /give one endpoint, not 2/.test(error.message),
    )
  })

  it('a conditional unregister of several services removes all of them or none', async () => {
    const r = await registry.registerServices({name: 'node', endpoints: ['http://a/', 'http://b/', 'http://c/']})
    const [a, b, c] = r.services
    await registry.registerServices({name: 'renewed', endpoints: ['http://b/']})
    await refused(
      () => registry.unregisterServices([a!.id, b!.id, c!.id], 'default', {expectRevisions: [a!.revision, b!.revision, c!.revision]}),
      /service "http:\/\/b\/"/,
    )
    assert.equal((await all(registry.listServices())).length, 3, 'nothing removed')
    await assert.rejects(
      () => registry.unregisterServices([a!.id, b!.id], 'default', {expectRevisions: [a!.revision]}),
      (error: unknown) => error instanceof InvalidInputError && /one revision per service/.test(error.message),
    )
    const refs = Array.from({length: MAX_CONDITIONAL_SERVICES + 1}, (_, i) => `http://x${i}/`)
    await assert.rejects(
      () => registry.unregisterServices(refs, 'default', {expectRevisions: refs.map(() => 0)}),
      (error: unknown) => error instanceof InvalidInputError && /at most 100 services/.test(error.message),
    )
  })

  it('an import whose entries carry revisions is written whole or not at all', async () => {
    const r = await registry.registerServices({name: 'node', endpoints: ['http://a/']})
    const a = r.services[0]!
    const entries = [
      {name: 'node', endpoint: 'http://a/', labels: {v: '2'}, revision: a.revision},
      {name: 'node', endpoint: 'http://new/', revision: 0},
    ]
    await registry.registerServices({name: 'by-hand', endpoints: ['http://new/']})
    await refused(() => registry.importServices(entries), /service "http:\/\/new\/" in namespace "default": revision 0 expected/)
    assert.deepEqual(
      (await all(registry.listServices({sortBy: 'endpoint'}))).map((s) => [s.endpoint, s.name, s.labels]),
      [
        ['http://a/', 'node', {}],
        ['http://new/', 'by-hand', {}],
      ],
    )
    await registry.unregisterServices(['http://new/'])
    const done = await registry.importServices(entries)
    assert.deepEqual([done.created, done.updated], [1, 1])
    const many = Array.from({length: MAX_CONDITIONAL_SERVICES + 1}, (_, i) => ({name: 'n', endpoint: `http://m${i}/`, revision: 0}))
    await assert.rejects(
      () => registry.importServices(many),
      (error: unknown) => error instanceof InvalidInputError && /at most 100 services/.test(error.message),
    )
  })

  it('servers, namespaces and settings change only at the revision expected', async () => {
    const joined = await registry.registerServer('prom1', {dc: 'a'}, {expectRevision: 0})
    await refused(() => registry.registerServer('prom1', {dc: 'b'}, {expectRevision: 0}), /server "prom1"/)
    const relabelled = await registry.registerServer('prom1', {dc: 'b'}, {expectRevision: joined.server.revision})
    assert.equal(relabelled.server.revision, await modRevision(serverKey('prom1')))
    await refused(() => registry.unregisterServer('prom1', {expectRevision: joined.server.revision}), /server "prom1"/)
    await registry.unregisterServer('prom1', {expectRevision: relabelled.server.revision})
    assert.equal(await registry.getServer('prom1'), undefined)

    const ns = await registry.registerNamespace('team-a', 'standard', {expectRevision: 0})
    await refused(() => registry.registerNamespace('team-a', 'blackbox', {expectRevision: 0}), /namespace "team-a"/)
    const changed = await registry.registerNamespace('team-a', 'blackbox', {expectRevision: ns.revision})
    await refused(() => registry.unregisterNamespace('team-a', false, {expectRevision: ns.revision}), /namespace "team-a"/)
    await registry.unregisterNamespace('team-a', false, {expectRevision: changed.revision})
    // default is not stored: revision 0 until it is registered
    await registry.registerNamespace('default', 'blackbox', {expectRevision: 0})

    await refused(() => registry.updateSettings({replicas: 2}, {expectRevision: 7}), /settings: revision 7 expected, it does not exist/)
    const set = await registry.updateSettings({replicas: 2}, {expectRevision: 0})
    assert.equal(set.settings.revision, await modRevision(SETTINGS_KEY))
    await refused(() => registry.updateSettings({replicas: 3}, {expectRevision: 0}), /settings/)
    assert.equal((await registry.updateSettings({replicas: 3}, {expectRevision: set.settings.revision})).settings.replicas, 3)
  })
})
