/**
 * Stale registrations at the library level: TTL expiry under a clock the test controls, renewal
 * by registering again, old records without an expiry, the mass-removal guard, --dry-run, and
 * IP-literal hosts. (DNS against a real server: test/integration/registry-prune.test.ts.)
 */
import assert from 'node:assert/strict'
import {after, before, beforeEach, describe, it} from 'node:test'

import {InvalidInputError} from '../../src/lib/errors.js'
import {serviceKey} from '../../src/lib/registry/keys.js'
import type {Service} from '../../src/lib/registry/model.js'
import {UnsafePruneError, pruneServices} from '../../src/lib/registry/prune.js'
import {Registry} from '../../src/lib/registry/registry.js'
import {serviceId} from '../../src/lib/registry/service-id.js'
import {openStore} from '../../src/lib/store/open-store.js'
import type {Store} from '../../src/lib/store/store.js'

const HOUR = 3_600_000
const T0 = Date.parse('2026-11-01T00:00:00.000Z')

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of it) out.push(x)
  return out
}

describe('service TTL and prune --expired', () => {
  let store: Store
  let registry: Registry
  let clock = T0
  const now = (): Date => new Date(clock)
  before(async () => {
    store = await openStore({registry: 'sqlite::memory:', timeoutMs: 10_000})
    registry = new Registry(store, {now})
  })
  after(async () => {
    await store.close()
  })
  beforeEach(async () => {
    clock = T0
    for (const s of await all(registry.listServices())) await registry.unregisterServices([s.id], s.namespace)
  })

  it('stores an expiry counted from the registration; registering again renews it; no TTL never expires', async () => {
    const r = await registry.registerServices({name: 'node', endpoints: ['http://db1:9100/'], ttl: '24h'})
    assert.equal(r.services[0]!.expires, '2026-11-02T00:00:00.000Z')
    await registry.registerServices({name: 'forever', endpoints: ['http://db2:9100/']})
    const listed = await all(registry.listServices({sortBy: 'namespace'}))
    assert.deepEqual(
      listed.map((s) => [s.name, s.expires]),
      [
        ['forever', undefined],
        ['node', '2026-11-02T00:00:00.000Z'],
      ],
    )
    assert.ok(!('expires' in listed[0]!), 'a service without a TTL has no expires field at all')

    clock = T0 + 23 * HOUR
    const renewed = await registry.registerServices({name: 'node', endpoints: ['http://db1:9100/'], ttl: '24h'})
    assert.equal(renewed.updated, 1)
    assert.equal(renewed.services[0]!.expires, '2026-11-02T23:00:00.000Z')

    clock = T0 + 25 * HOUR // past the first expiry, before the renewed one
    let result = await pruneServices(registry, {expired: true, now})
    assert.deepEqual(result.removed, [])
    assert.equal(result.kept.length, 2)

    clock = T0 + 47 * HOUR
    result = await pruneServices(registry, {expired: true, now})
    assert.deepEqual(
      result.removed.map((e) => [e.name, e.reason, e.expires]),
      [['node', 'expired', '2026-11-02T23:00:00.000Z']],
    )
    assert.deepEqual(
      (await all(registry.listServices())).map((s) => s.name),
      ['forever'],
    )
  })

  it('registering again without a TTL clears the expiry', async () => {
    await registry.registerServices({name: 'node', endpoints: ['http://db1:9100/'], ttl: '1h'})
    const r = await registry.registerServices({name: 'node', endpoints: ['http://db1:9100/']})
    assert.equal(r.updated, 1)
    assert.equal(r.services[0]!.expires, undefined)
    clock = T0 + 2 * HOUR
    assert.deepEqual((await pruneServices(registry, {expired: true, now})).removed, [])
  })

  it('expiresAt sets the expiry as a time; bad TTLs are invalid input naming the field', async () => {
    const r = await registry.registerServices({name: 'n', endpoints: ['http://a/'], expiresAt: '2026-12-01T01:00:00+01:00'})
    assert.equal(r.services[0]!.expires, '2026-12-01T00:00:00.000Z')
    for (const ttl of ['0s', 'abc', '24', '11y', '1d1x', '']) {
      await assert.rejects(
        registry.registerServices({name: 'n', endpoints: ['http://b/'], ttl}),
        (e: unknown) => e instanceof InvalidInputError && e.field === 'ttl' && e.message.startsWith(`ttl ${JSON.stringify(ttl)}: `),
        ttl,
      )
    }
    await assert.rejects(
      registry.registerServices({name: 'n', endpoints: ['http://b/'], ttl: '1h', expiresAt: '2026-12-01T00:00:00Z'}),
      /not both/,
    )
    await assert.rejects(
      registry.registerServices({name: 'n', endpoints: ['http://b/'], expiresAt: 'tomorrow'}),
      /^InvalidInputError: expiresAt "tomorrow"/,
    )
    assert.equal((await all(registry.listServices({endpoint: 'http://b/'}))).length, 0)
    const d = await registry.registerServices({name: 'n', endpoints: ['http://c/'], ttl: '1d12h'})
    assert.equal(d.services[0]!.expires, '2026-11-02T12:00:00.000Z')
  })

  it('reads a record written before expiries existed: it never expires', async () => {
    const endpoint = 'http://old:9100/'
    const id = serviceId('default', endpoint)
    const old: Omit<Service, 'expires'> = {
      id,
      name: 'old',
      namespace: 'default',
      endpoint,
      labels: {},
      selector: '',
      servers: [],
      description: '',
      modified: '2020-01-01T00:00:00.000Z',
    }
    await store.txn([], [{type: 'put', key: serviceKey('default', id), value: JSON.stringify(old)}])
    clock = T0 + 10_000 * HOUR
    const result = await pruneServices(registry, {expired: true, now})
    assert.deepEqual(
      result.kept.map((e) => e.name),
      ['old'],
    )
    assert.equal((await registry.registerServices({name: 'old', endpoints: [endpoint]})).unchanged, 1)
  })

  it('the guard refuses to remove more than maxPercent of 10 or more, and removes nothing; force and maxPercent override', async () => {
    await registry.registerServices({name: 'short', endpoints: Array.from({length: 4}, (_, i) => `http://s${i}/`), ttl: '1h'})
    await registry.registerServices({name: 'long', endpoints: Array.from({length: 8}, (_, i) => `http://l${i}/`), ttl: '48h'})
    clock = T0 + 2 * HOUR
    // 4 of 12 = 33% > 30%.
    let planned: number | undefined
    await assert.rejects(
      pruneServices(registry, {expired: true, now, onPlan: (p) => void (planned = p.removed.length)}),
      (e: unknown) =>
        e instanceof UnsafePruneError &&
        e.exitCode === 9 &&
        e.message === 'refusing to remove 4 of 12 matching services (33.3%, more than the 30% allowed); nothing was removed',
    )
    assert.equal(planned, 4)
    assert.equal((await all(registry.listServices())).length, 12)
    // Dry run: the same refusal (it tells what the real run would do), nothing removed.
    await assert.rejects(pruneServices(registry, {expired: true, now, dryRun: true}), UnsafePruneError)
    const dry = await pruneServices(registry, {expired: true, now, dryRun: true, maxPercent: 40})
    assert.equal(dry.removed.length, 4)
    assert.equal(dry.dryRun, true)
    assert.equal((await all(registry.listServices())).length, 12)
    // force removes the 4 of 12 the guard refused.
    const forced = await pruneServices(registry, {expired: true, now, force: true})
    assert.deepEqual(
      forced.removed.map((e) => e.endpoint),
      ['http://s0/', 'http://s1/', 'http://s2/', 'http://s3/'],
    )
    assert.equal((await all(registry.listServices())).length, 8)
  })

  it('the guard does not apply below 10 matching services; namespace and selector narrow what matches', async () => {
    await registry.registerNamespace('team')
    await registry.registerServices({name: 'a', namespace: 'team', endpoints: ['http://a1/', 'http://a2/'], labels: {tier: 'x'}, ttl: '1h'})
    await registry.registerServices({name: 'b', namespace: 'team', endpoints: ['http://b1/'], labels: {tier: 'y'}, ttl: '1h'})
    await registry.registerServices({name: 'c', endpoints: Array.from({length: 20}, (_, i) => `http://c${i}/`), ttl: '1h'})
    clock = T0 + 2 * HOUR
    const r = await pruneServices(registry, {expired: true, now, namespace: 'team', selector: 'tier=x'})
    assert.equal(r.matched, 2)
    assert.deepEqual(
      r.removed.map((e) => e.endpoint),
      ['http://a1/', 'http://a2/'],
    )
    assert.equal((await all(registry.listServices())).length, 21)
  })

  it('asks for a criterion and a sane percentage', async () => {
    await assert.rejects(pruneServices(registry, {}), (e: unknown) => e instanceof InvalidInputError && e.field === 'criteria')
    await assert.rejects(pruneServices(registry, {expired: true, maxPercent: 101}), /max-percent 101/)
  })

  it('IP-literal hosts count as resolvable without asking anyone; a bad --resolver is invalid input', async () => {
    await registry.registerServices({name: 'ip', endpoints: ['http://192.0.2.7:9100/', 'http://[2001:db8::7]:9100/']})
    // 192.0.2.1 (TEST-NET-1) is never asked: both hosts are IP addresses.
    const r = await pruneServices(registry, {unresolvable: true, resolvers: ['192.0.2.1:53'], timeoutMs: 100})
    assert.deepEqual(r.kept.map((e) => e.host).sort(), ['192.0.2.7', '2001:db8::7'])
    assert.deepEqual(r.failed, [])
    await assert.rejects(
      pruneServices(registry, {unresolvable: true, resolvers: ['dns.example.com']}),
      (e: unknown) => e instanceof InvalidInputError && e.field === 'resolver' && /^resolver "dns\.example\.com": /.test(e.message),
    )
  })
})
