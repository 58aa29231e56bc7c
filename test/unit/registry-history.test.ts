/**
 * The registry history at the library level, on SQLite in memory under a clock the test
 * controls: each kind of write records one event per object, in the write's own transaction and
 * with the registry's actor; a write that failed (validation, a lost compare) records nothing;
 * tokens are recorded by id only; filters, pages and a follow; retention by the registry's clock.
 * (Through the CLI, serve, OIDC and kube discover: test/integration/registry-history.test.ts.)
 */
import assert from 'node:assert/strict'
import {after, afterEach, before, beforeEach, describe, it} from 'node:test'

import {TokenAuthority} from '../../src/lib/auth/tokens.js'
import {InvalidInputError, PreconditionFailedError} from '../../src/lib/errors.js'
import {localActor} from '../../src/lib/registry/history/actor.js'
import {type Actor, HISTORY_PREFIX, type HistoryEvent, historyTimeKey} from '../../src/lib/registry/history/event.js'
import {FollowBehindError, compileHistoryFilter, followHistory, historyRecords, readHistory} from '../../src/lib/registry/history/read.js'
import {eventOp} from '../../src/lib/registry/history/record.js'
import {SWEEP_MAX_BATCHES} from '../../src/lib/registry/history/retention.js'
import {pruneServices} from '../../src/lib/registry/prune.js'
import {Registry} from '../../src/lib/registry/registry.js'
import {openStore} from '../../src/lib/store/open-store.js'
import {MAX_TXN_OPS, type Operation, type Store, rangeAll, storeRevision} from '../../src/lib/store/store.js'
import {withTxn} from '../support/store-hooks.js'
import {until} from '../support/until.js'

const HOUR = 3_600_000
const DAY = 24 * HOUR
const T0 = Date.parse('2026-11-01T00:00:00.000Z')
const ALICE: Actor = {kind: 'local', id: 'alice@db1', user: 'alice', host: 'db1'}
const ANSIBLE: Actor = {kind: 'token', id: 'ansible', role: 'service'}

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of it) out.push(x)
  return out
}

/** A registry on SQLite in memory, as ALICE, under a clock the test sets (`t.clock`); opened by `open` (before or beforeEach). */
function memoryRegistry(open: typeof before, close: typeof after) {
  const t = {
    store: undefined as unknown as Store,
    registry: undefined as unknown as Registry,
    clock: T0,
    now: (): Date => new Date(t.clock),
  }
  open(async () => {
    t.clock = T0
    t.store = await openStore({registry: 'sqlite::memory:', timeoutMs: 10_000})
    t.registry = new Registry(t.store, {now: t.now, actor: ALICE})
  })
  close(async () => {
    await t.store?.close()
  })
  return t
}

/** `store`, running `before` ahead of each of its transactions (another writer's turn). */
function racingStore(store: Store, before: (ops: Operation[]) => Promise<void>): Store {
  return withTxn(store, async (compares, ops) => {
    await before(ops)
    return store.txn(compares, ops)
  })
}

/** Every event, and what identifies it: "action kind namespace/name actor". */
async function summary(registry: Registry): Promise<string[]> {
  return (await all(registry.listEvents())).map(
    (e) => `${e.action} ${e.object.kind} ${e.object.namespace ?? ''}/${e.object.name} ${e.actor.id}`,
  )
}

describe('registry history: what each write records', () => {
  const t = memoryRegistry(beforeEach, afterEach)

  it('a service registered, changed, left unchanged and unregistered: one event per write, with the fields that changed', async () => {
    await t.registry.registerServices({name: 'node', endpoints: ['http://db1:9100/metrics'], labels: {env: 'prod'}, ttl: '1h'})
    t.clock += 60_000
    const revision = await storeRevision(t.store)
    await t.registry.registerServices({name: 'node', endpoints: ['http://db1:9100/metrics'], labels: {env: 'prod'}, ttl: '1h'})
    await t.registry.withActor(ANSIBLE).registerServices({name: 'node', endpoints: ['http://db1:9100/metrics'], labels: {env: 'dev'}})
    const unchanged = await t.registry.registerServices({name: 'node', endpoints: ['http://db1:9100/metrics'], labels: {env: 'dev'}})
    assert.equal(unchanged.unchanged, 1)
    await t.registry.unregisterServices(['http://db1:9100/metrics'])
    const events = await all(t.registry.listEvents())
    assert.deepEqual(
      events.map((e) => [e.action, e.actor.id, e.changes]),
      [
        ['register', 'alice@db1', {name: {after: 'node'}, labels: {after: {env: 'prod'}}, expires: {after: '2026-11-01T01:00:00.000Z'}}],
        // The same registration a minute later renews the TTL: that is a change.
        ['update', 'alice@db1', {expires: {before: '2026-11-01T01:00:00.000Z', after: '2026-11-01T01:01:00.000Z'}}],
        ['update', 'ansible', {labels: {before: {env: 'prod'}, after: {env: 'dev'}}, expires: {before: '2026-11-01T01:01:00.000Z'}}],
        ['unregister', 'alice@db1', {name: {before: 'node'}, labels: {before: {env: 'dev'}}}],
      ],
    )
    const [first] = events
    assert.deepEqual(first!.object, {
      kind: 'service',
      namespace: 'default',
      name: 'node',
      endpoint: 'http://db1:9100/metrics',
      id: first!.object.id,
    })
    assert.equal(first!.time, '2026-11-01T00:00:00.000Z')
    assert.deepEqual(first!.actor, ALICE)
    // Ids are the revision of the write and the place in it; the renewal is the first write after `revision`.
    assert.equal(events[1]!.id, `${revision + 1}-0`)
  })

  it('the last registration is stored on the service (service list -o wide), and a move does not change it', async () => {
    await t.registry.withActor(ANSIBLE).registerServices({name: 'node', endpoints: ['http://db1:9100/metrics']})
    await t.registry.registerServer('prom1')
    const [service] = await all(t.registry.listServices())
    assert.deepEqual(service!.servers, ['prom1'])
    assert.equal(service!.registeredBy, 'token:ansible')
  })

  it('servers, namespaces and settings: joining, moves, active, leaving; a forced namespace removal records each service', async () => {
    await t.registry.registerNamespace('team-a')
    await t.registry.registerServices({name: 'api', namespace: 'team-a', endpoints: ['http://api1/', 'http://api2/']})
    await t.registry.registerServer('prom1', {dc: 'a'})
    await t.registry.updateSettings({historyRetention: '7d'})
    await t.registry.unregisterServer('prom1')
    await t.registry.unregisterNamespace('team-a', true)
    assert.deepEqual(await summary(t.registry), [
      'register namespace team-a/team-a alice@db1',
      'register service team-a/api alice@db1',
      'register service team-a/api alice@db1',
      'register server /prom1 alice@db1',
      'move service team-a/api alice@db1',
      'move service team-a/api alice@db1',
      'update server /prom1 alice@db1',
      'update settings /settings alice@db1',
      'update server /prom1 alice@db1',
      'move service team-a/api alice@db1',
      'move service team-a/api alice@db1',
      'unregister server /prom1 alice@db1',
      'unregister namespace team-a/team-a alice@db1',
      'unregister service team-a/api alice@db1',
      'unregister service team-a/api alice@db1',
    ])
    const events = await all(t.registry.listEvents())
    assert.deepEqual(
      events.filter((e) => e.object.kind === 'server').map((e) => e.changes),
      [
        {labels: {after: {dc: 'a'}}, state: {after: 'joining'}},
        {state: {before: 'joining', after: 'active'}},
        {state: {before: 'active', after: 'leaving'}},
        {labels: {before: {dc: 'a'}}, state: {before: 'leaving'}},
      ],
    )
    assert.deepEqual(events[4]!.changes, {servers: {before: [], after: ['prom1']}})
    assert.deepEqual(events[7]!.changes, {historyRetention: {before: '30d', after: '7d'}})
    // The two services registered together share their write: one record, two events.
    assert.equal(events[1]!.id.split('-')[0], events[2]!.id.split('-')[0])
    assert.deepEqual([events[1]!.id.split('-')[1], events[2]!.id.split('-')[1]], ['0', '1'])
  })

  it('a write refused by validation, or by a missing namespace, records nothing', async () => {
    await t.registry.registerServices({name: 'node', endpoints: ['http://db1/']})
    const before = await rangeAll(t.store, HISTORY_PREFIX)
    const revision = await storeRevision(t.store)
    await assert.rejects(t.registry.registerServices({name: 'node', endpoints: ['not a url']}), InvalidInputError)
    await assert.rejects(
      t.registry.registerServices({name: 'node', endpoints: ['http://db2/'], labels: {'bad key!': 'x'}}),
      InvalidInputError,
    )
    await assert.rejects(t.registry.registerServices({name: 'node', namespace: 'nope', endpoints: ['http://db2/']}))
    await assert.rejects(t.registry.updateSettings({historyRetention: 'forever'}), InvalidInputError)
    await assert.rejects(
      t.registry.importServices([
        {name: 'a', endpoint: 'http://ok/'},
        {name: 'b', endpoint: 'nope'},
      ]),
      InvalidInputError,
    )
    assert.deepEqual(await rangeAll(t.store, HISTORY_PREFIX), before)
    assert.equal(await storeRevision(t.store), revision)
  })

  it('a conditional write at a stale revision (412) changes nothing and records nothing; at the current one, its event', async () => {
    await t.registry.registerServer('prom1')
    await t.registry.registerNamespace('team-a')
    const [service] = (await t.registry.registerServices({name: 'node', namespace: 'team-a', endpoints: ['http://db1/']})).services
    await t.registry.updateSettings({historyRetention: '7d'})
    const before = await rangeAll(t.store, HISTORY_PREFIX)
    const revision = await storeRevision(t.store)
    const stale = {expectRevision: 1}
    const refused = [
      t.registry.registerServer('prom1', {dc: 'a'}, stale),
      t.registry.unregisterServer('prom1', stale),
      t.registry.registerNamespace('team-a', 'blackbox', stale),
      t.registry.unregisterNamespace('team-a', true, stale),
      t.registry.updateSettings({replicas: 2, historyRetention: '1d'}, stale),
      t.registry.registerServices({name: 'node', namespace: 'team-a', endpoints: ['http://db1/'], labels: {a: 'b'}}, stale),
      t.registry.registerServices({name: 'new', namespace: 'team-a', endpoints: ['http://db2/']}, {expectRevision: service!.revision}),
      t.registry.unregisterServices(['http://db1/'], 'team-a', {expectRevisions: [1]}),
      t.registry.importServices([{name: 'node', namespace: 'team-a', endpoint: 'http://db1/', revision: 1}]),
    ]
    for (const write of refused) await assert.rejects(write, PreconditionFailedError)
    assert.deepEqual(await rangeAll(t.store, HISTORY_PREFIX), before, 'no event for a write that did not happen')
    assert.equal(await storeRevision(t.store), revision, 'nothing changed')

    const server = (await t.registry.getServer('prom1'))!
    await t.registry.registerServer('prom1', {dc: 'a'}, {expectRevision: server.revision})
    await t.registry.unregisterServices(['http://db1/'], 'team-a', {expectRevisions: [service!.revision], action: 'expire'})
    const settings = await t.registry.getSettings()
    await t.registry.updateSettings({historyRetention: '1d'}, {expectRevision: settings.revision})
    assert.deepEqual((await summary(t.registry)).slice(-4), [
      'update server /prom1 alice@db1',
      'update server /prom1 alice@db1',
      'expire service team-a/node alice@db1',
      'update settings /settings alice@db1',
    ])
  })

  it('a write whose compare failed records nothing; its retry records the write once', async () => {
    const other = new Registry(t.store, {now: t.now, actor: ANSIBLE})
    let raced = false
    const racing = racingStore(t.store, async (ops) => {
      if (!raced && ops.some((op) => op.key.startsWith('services/'))) {
        raced = true
        // Another writer changes the same service between this write's read and its transaction.
        await other.registerServices({name: 'node', endpoints: ['http://db1/'], labels: {by: 'other'}})
      }
    })
    await new Registry(racing, {now: t.now, actor: ALICE}).registerServices({
      name: 'node',
      endpoints: ['http://db1/'],
      labels: {by: 'alice'},
    })
    assert.ok(raced)
    const events = await all(t.registry.listEvents())
    assert.deepEqual(
      events.map((e) => [e.action, e.actor.id, e.changes.labels]),
      [
        ['register', 'ansible', {after: {by: 'other'}}],
        ['update', 'alice@db1', {before: {by: 'other'}, after: {by: 'alice'}}],
      ],
    )
  })

  it('an unregister whose service another writer deleted first records only the other writer’s event', async () => {
    await t.registry.registerServices({name: 'node', endpoints: ['http://db1/', 'http://db2/']})
    const other = new Registry(t.store, {now: t.now, actor: ANSIBLE})
    let raced = false
    const racing = racingStore(t.store, async (ops) => {
      if (!raced && ops.some((op) => op.type === 'delete')) {
        raced = true
        await other.unregisterServices(['http://db1/'])
      }
    })
    const result = await new Registry(racing, {now: t.now, actor: ALICE}).unregisterServices(['http://db1/', 'http://db2/'])
    assert.equal(result.removed.length, 2)
    assert.deepEqual((await summary(t.registry)).slice(2), [
      'unregister service default/node ansible',
      'unregister service default/node alice@db1',
    ])
    assert.deepEqual(
      (await all(t.registry.listEvents())).slice(2).map((e) => e.object.endpoint),
      ['http://db1/', 'http://db2/'],
    )
  })

  it('prune records an expiry as "expire" and an unresolvable host as "prune", by the actor that pruned', async () => {
    await t.registry.registerServices({name: 'old', endpoints: ['http://10.0.0.1/'], ttl: '1h'})
    await t.registry.registerServices({name: 'keep', endpoints: ['http://10.0.0.2/']})
    t.clock += 2 * HOUR
    const pruner = t.registry.withActor({kind: 'token', id: 'cron', role: 'service'})
    const result = await pruneServices(pruner, {expired: true, now: t.now})
    assert.equal(result.removed.length, 1)
    const last = (await all(t.registry.listEvents())).at(-1)!
    assert.deepEqual([last.action, last.actor.id, last.object.endpoint], ['expire', 'cron', 'http://10.0.0.1/'])
  })

  it('tokens: issued and revoked by id, role, namespaces and expiry; never the token nor the key', async () => {
    const authority = await TokenAuthority.open(t.store, {now: t.now, actor: ALICE})
    const {token} = await authority.create({id: 'ansible', role: 'service', namespaces: ['team-a'], expiresIn: '90d'})
    await authority.revoke('ansible', ANSIBLE)
    const events = await all(t.registry.listEvents())
    assert.deepEqual(
      events.map((e) => [e.action, e.object.kind, e.object.name, e.actor.id, e.changes]),
      [
        ['create', 'token', 'signing-key', 'alice@db1', {}],
        [
          'create',
          'token',
          'ansible',
          'alice@db1',
          {role: {after: 'service'}, namespaces: {after: ['team-a']}, expiresAt: {after: '2027-01-30T00:00:00.000Z'}},
        ],
        ['revoke', 'token', 'ansible', 'ansible', {revoked: {before: false, after: true}}],
      ],
    )
    const key = JSON.parse((await t.store.get('auth/signing-key'))!.value) as {d: string; x: string}
    for (const kv of await rangeAll(t.store, HISTORY_PREFIX)) {
      for (const secret of [token, token.split('.')[2]!, key.d, key.x]) assert.ok(!kv.value.includes(secret), 'a secret in the history')
    }
  })
})

describe('registry history: reading', () => {
  const t = memoryRegistry(before, after)
  before(async () => {
    await t.registry.registerNamespace('team-a')
    for (let i = 0; i < 10; i++) {
      t.clock = T0 + i * HOUR
      const r = i % 2 === 0 ? t.registry : t.registry.withActor(ANSIBLE)
      await r.registerServices({name: 'node', namespace: i < 5 ? 'default' : 'team-a', endpoints: [`http://db${i}/`, `http://web${i}/`]})
    }
  })
  const page = async (filter: Parameters<typeof compileHistoryFilter>[0], p: {limit?: number; continue?: string} = {}) =>
    readHistory(t.store, await compileHistoryFilter(filter, new Date(T0 + 10 * HOUR)), p)

  it('filters by time (a duration back or an RFC 3339 time), actor, namespace and endpoint', async () => {
    const endpoints = async (filter: Parameters<typeof compileHistoryFilter>[0]) =>
      (await page(filter)).items.map((e) => e.object.endpoint ?? e.object.name)
    assert.deepEqual(await endpoints({since: '2h'}), ['http://db8/', 'http://web8/', 'http://db9/', 'http://web9/'])
    assert.deepEqual(await endpoints({since: '2026-11-01T07:00:00Z', until: '2026-11-01T08:00:00Z'}), ['http://db7/', 'http://web7/'])
    assert.deepEqual(await endpoints({actor: 'ansible', namespace: 'default'}), [
      'http://db1/',
      'http://web1/',
      'http://db3/',
      'http://web3/',
    ])
    assert.deepEqual(await endpoints({actor: 'alice', endpoint: '^http://web[0-4]'}), ['http://web0/', 'http://web2/', 'http://web4/'])
    assert.deepEqual(await endpoints({namespace: 'team-a', since: '3h', actor: 'token:ansible'}), [
      'http://db7/',
      'http://web7/',
      'http://db9/',
      'http://web9/',
    ])
    await assert.rejects(page({since: 'yesterday'}), /since.*duration back from now/)
    await assert.rejects(page({endpoint: '('}), /endpoint/)
    // RE2, as every filter a reader sends: no lookaround, which needs backtracking.
    await assert.rejects(page({endpoint: '(?=db)'}), /endpoint.*not a valid regular expression/)
    await assert.rejects(page({since: '1h', until: '2h'}), /until.*must be after since/)
  })

  it('pages of any size, across the events of one write, give every event once, in order', async () => {
    const everything = (await page({})).items
    assert.equal(everything.length, 21)
    for (const limit of [1, 2, 3, 20]) {
      const seen: HistoryEvent[] = []
      let next: string | undefined
      let pages = 0
      do {
        const p = await page({}, {limit, continue: next})
        assert.ok(p.items.length <= limit)
        seen.push(...p.items)
        next = p.continue
        pages++
      } while (next)
      assert.deepEqual(seen, everything, `limit ${limit}`)
      assert.ok(pages <= Math.ceil(21 / limit) + 1)
    }
    await assert.rejects(page({}, {continue: 'garbage'}), /continue.*not the continue of a previous page/)
    await assert.rejects(page({}, {limit: 0}), /limit/)
  })

  it('a follow gives the events from since, then a write made after it started', async () => {
    const got: HistoryEvent[] = []
    let arrived: () => void = () => undefined
    const following = await followHistory(
      t.store,
      await compileHistoryFilter({since: '90m', namespace: 'team-a'}, new Date(T0 + 10 * HOUR)),
      (e) => {
        got.push(e)
        arrived()
      },
    )
    try {
      const waitFor = (n: number) =>
        new Promise<void>((resolve) => {
          arrived = () => got.length >= n && resolve()
          arrived()
        })
      await waitFor(2)
      assert.deepEqual(
        got.map((e) => e.object.endpoint),
        ['http://db9/', 'http://web9/'],
      )
      t.clock = T0 + 11 * HOUR
      await t.registry.registerServices({name: 'late', namespace: 'default', endpoints: ['http://late0/']})
      await t.registry.registerServices({name: 'late', namespace: 'team-a', endpoints: ['http://late/']})
      await waitFor(3)
      assert.deepEqual(
        got.map((e) => e.object.endpoint),
        ['http://db9/', 'http://web9/', 'http://late/'],
      )
    } finally {
      await following.close()
    }
  })

  it('a follow whose reader stops taking events ends with FollowBehindError once max-backlog records wait, and only then', async () => {
    let stuck = false
    const delivered: string[] = []
    const following = await followHistory(
      t.store,
      await compileHistoryFilter({}, new Date(T0 + 10 * HOUR)),
      async (e) => {
        delivered.push(e.object.endpoint ?? '')
        if (stuck) await new Promise(() => undefined) // a reader that takes nothing more
      },
      {maxBacklog: 3},
    )
    const state: {ended: Error | undefined | 'open'} = {ended: 'open'}
    void following.ended.then((error) => (state.ended = error))
    try {
      // A reader that keeps up is never cut off, however many records pass.
      for (let i = 0; i < 6; i++) {
        await t.registry.registerServices({name: 'kept', endpoints: [`http://kept${i}/`]})
        await until(`record ${i} delivered`, () => delivered.length === i + 1)
      }
      stuck = true
      await t.registry.registerServices({name: 'stall', endpoints: ['http://stall0/']})
      await until('the reader holding the follow', () => delivered.length === 7)
      // The record in the reader's hands and two more wait: the follow holds them.
      for (let i = 1; i <= 2; i++) await t.registry.registerServices({name: 'stall', endpoints: [`http://stall${i}/`]})
      assert.equal(state.ended, 'open')
      // A fourth is one too many.
      await t.registry.registerServices({name: 'stall', endpoints: ['http://stall3/']})
      await until('the follow ended', () => state.ended !== 'open')
      const ended: unknown = state.ended
      assert.ok(ended instanceof FollowBehindError, String(ended))
      // It ended at the fourth, not before: three waited while it stayed open.
      assert.match(String(ended), /fell 4 history records behind/)
    } finally {
      await following.close()
    }
  })
})

describe('registry history: reading by windows of time', () => {
  const t = memoryRegistry(before, after)

  it('gives every record from the start on, in key order, in windows that widen when sparse and narrow when dense', async () => {
    const times = [
      T0 - 25 * DAY,
      ...Array.from({length: 300}, (_, i) => T0 - 10 * DAY + i * 100),
      T0 - HOUR,
      T0 + 2 * DAY, // a writer whose clock is ahead
    ]
    for (let i = 0; i < times.length; i += MAX_TXN_OPS)
      await t.store.txn(
        [],
        times.slice(i, i + MAX_TXN_OPS).map((time) => eventOp(ALICE, new Date(time), [])),
      )
    let ranges = 0
    const counted = withTxn(t.store, (compares, ops) => t.store.txn(compares, ops))
    counted.range = (prefix, options) => {
      ranges++
      return t.store.range(prefix, options)
    }
    const read: string[] = []
    for await (const kv of historyRecords(counted, historyTimeKey(new Date(T0 - 30 * DAY)), undefined, new Date(T0), 20)) read.push(kv.key)
    assert.deepEqual(
      read,
      (await rangeAll(t.store, HISTORY_PREFIX)).map((kv) => kv.key),
    )
    assert.ok(ranges < 40, `${ranges} ranges`)
    // Up to an end: what lies before it.
    const until: string[] = []
    for await (const kv of historyRecords(t.store, historyTimeKey(new Date(T0 - 30 * DAY)), historyTimeKey(new Date(T0)), new Date(T0)))
      until.push(kv.key)
    assert.equal(until.length, times.length - 1)
  })
})

describe('registry history: retention', () => {
  const t = memoryRegistry(before, after)
  const kept = async () => (await rangeAll(t.store, HISTORY_PREFIX)).length

  it('writes delete the events older than the retention, in bounded batches, by the registry clock', async () => {
    // Old events: more than one sweep deletes.
    const old = SWEEP_MAX_BATCHES * MAX_TXN_OPS + 50
    for (let i = 0; i < old; i += MAX_TXN_OPS) {
      const ops = Array.from({length: Math.min(MAX_TXN_OPS, old - i)}, (_, j) =>
        eventOp(ALICE, new Date(T0 + i + j), [{action: 'register', object: {kind: 'server', name: `s${i + j}`}, changes: {}}]),
      )
      await t.store.txn([], ops)
    }
    await t.registry.updateSettings({historyRetention: '2d'})
    assert.equal(await kept(), old + 1)

    // A day later nothing is old enough.
    t.clock = T0 + DAY
    await t.registry.registerNamespace('a')
    assert.equal(await kept(), old + 2)

    // Three days on, a write deletes what is older than two days, up to its bound…
    t.clock = T0 + 3 * DAY
    await t.registry.registerNamespace('b')
    assert.equal(await kept(), old + 3 - SWEEP_MAX_BATCHES * MAX_TXN_OPS)
    // …and the next write the rest; what is younger stays.
    await t.registry.registerNamespace('c')
    const names = (await all(t.registry.listEvents())).map((e) => e.object.name)
    assert.deepEqual(names, ['a', 'b', 'c'])

    // A write that records nothing (unchanged) sweeps nothing either, and a read never does;
    // but a read shows only what the retention keeps, swept or not.
    t.clock = T0 + 10 * DAY
    await t.registry.registerNamespace('c')
    await all(t.registry.listServices())
    assert.deepEqual(await all(t.registry.listEvents()), [])
    assert.equal(await kept(), 3)
    await t.registry.registerNamespace('d')
    assert.equal(await kept(), 1)
    assert.deepEqual(
      (await all(t.registry.listEvents())).map((e) => e.object.name),
      ['d'],
    )
  })
})

describe('actors', () => {
  it('the local actor is this user on this host', () => {
    const actor = localActor()
    assert.equal(actor.kind, 'local')
    assert.equal(actor.id, `${actor.user}@${actor.host}`)
  })
})
