/**
 * What the registry history costs, on SQLite and etcd:
 * - a write: `registerServices` of one new service, with its event and without it (the same
 *   registry over a store that drops the history record from each transaction), and an import of
 *   --import services in batches, both ways;
 * - retention with --events records in the history (spread over 60 days): a sweep that finds
 *   nothing expired (what a write pays, at most once a minute per process), a sweep that deletes
 *   a full bound (SWEEP_MAX_BATCHES × MAX_TXN_OPS records), and so how many writes a cut of the
 *   retention takes to drop half the history;
 * - reading: the first page of `GET /v1/events?since=1h`, and of the whole history; serve's view
 *   listing the store without the history (as it does) and with it (as it would);
 * - `service list -o wide`: who registered each service, stored on it (bytes per record) against
 *   looking it up in the history (a scan of every record).
 * Prints figures; asserts nothing.
 *
 *   node --import tsx bench/registry-history.ts [--events 1000000] [--writes 2000] [--import 10000]
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {createContext} from '../src/lib/registry/context.js'
import {type Actor, HISTORY_PREFIX, eventsOf} from '../src/lib/registry/history/event.js'
import {compileHistoryFilter, readHistory} from '../src/lib/registry/history/read.js'
import {eventOp, serviceChange} from '../src/lib/registry/history/record.js'
import {SWEEP_MAX_BATCHES, newHistoryState, sweepHistory} from '../src/lib/registry/history/retention.js'
import {Registry} from '../src/lib/registry/registry.js'
import {serviceId} from '../src/lib/registry/service-id.js'
import {openStore} from '../src/lib/store/open-store.js'
import {MAX_TXN_OPS, type Operation, type Store} from '../src/lib/store/store.js'
import {startEtcd} from '../test/support/etcd-server.js'
import {withTxn} from '../test/support/store-hooks.js'
import {arg, median} from './bench-support.js'

const events = arg('events', 1_000_000)
const writes = arg('writes', 2000)
const imported = arg('import', 10_000)
const dir = mkdtempSync(path.join(tmpdir(), 'roster-bench-history-'))
const ACTOR: Actor = {kind: 'token', id: 'ansible', role: 'service'}
const DAY = 86_400_000
const T0 = Date.parse('2026-01-01T00:00:00.000Z')

const line = (label: string, value: string) => console.log(`${label.padEnd(72)} ${value}`)
const ms = (x: number) => `${x.toFixed(x < 10 ? 2 : 0).padStart(8)} ms`
const us = (x: number) => `${(x * 1000).toFixed(0).padStart(8)} µs`

/** The same store, but every transaction's history record dropped: the registry without its history. */
function withoutHistory(store: Store): Store {
  return withTxn(store, (compares, ops) =>
    store.txn(
      compares,
      ops.filter((op) => !op.key.startsWith(HISTORY_PREFIX)),
    ),
  )
}

async function time<T>(fn: () => Promise<T>): Promise<number> {
  const started = performance.now()
  await fn()
  return performance.now() - started
}

/**
 * The same writes with and without the history, interleaved (one of each in turn, on two stores
 * alike), so that warming up and the machine's other work weigh on both ways alike.
 */
async function writeCost(name: string, open: () => Promise<Store>): Promise<void> {
  const ways = [
    {label: 'without', store: await open(), wrap: withoutHistory},
    {label: 'with', store: await open(), wrap: (s: Store) => s},
  ].map((w) => ({...w, registry: new Registry(w.wrap(w.store), {actor: ACTOR}), times: [] as number[], imports: [] as number[]}))
  try {
    for (const w of ways)
      for (let i = 0; i < 50; i++) await w.registry.registerServices({name: 'warm', endpoints: [`http://warm-${i}:9100/`]})
    for (let i = 0; i < writes; i++) {
      for (const w of i % 2 === 0 ? ways : [...ways].reverse()) {
        const endpoint = `http://host-${i}.dc1.example.com:9100/metrics`
        w.times.push(await time(() => w.registry.registerServices({name: 'node', endpoints: [endpoint], labels: {rack: `r${i % 40}`}})))
      }
    }
    for (let round = 0; round < 3; round++) {
      const entries = Array.from({length: imported}, (_, i) => ({
        name: 'bulk',
        endpoint: `http://bulk-${round}-${i}:9100/`,
        labels: {n: String(i)},
      }))
      for (const w of round % 2 === 0 ? ways : [...ways].reverse()) w.imports.push(await time(() => w.registry.importServices(entries)))
    }
  } finally {
    for (const w of ways) await w.store.close()
  }
  for (const w of ways) {
    line(`${name}: register one new service, ${w.label} history (median of ${writes})`, ms(median(w.times)))
    line(`${name}: import ${imported} new services, ${w.label} history (median of 3)`, ms(median(w.imports)))
  }
  const [without, withHistory] = ways.map((w) => median(w.times)) as [number, number]
  line(
    `${name}: what the event adds to one register`,
    `${us(withHistory - without)} (${(((withHistory - without) / without) * 100).toFixed(0)}%)`,
  )
  const [importWithout, importWith] = ways.map((w) => median(w.imports)) as [number, number]
  line(`${name}: what the events add to the import`, `${(((importWith - importWithout) / importWithout) * 100).toFixed(0)}%`.padStart(11))
}

/** `events` records of one event each, times spread over 60 days, written 128 a transaction. */
async function fill(store: Store): Promise<number> {
  const started = performance.now()
  const service = {
    id: serviceId('default', 'http://x/'),
    name: 'node',
    namespace: 'default',
    endpoint: 'http://host.dc1.example.com:9100/metrics',
    labels: {rack: 'r1', app: 'node'},
    selector: '',
    servers: ['prom1'],
    description: '',
    modified: '',
  }
  for (let i = 0; i < events; i += MAX_TXN_OPS) {
    const ops: Operation[] = []
    for (let j = i; j < Math.min(events, i + MAX_TXN_OPS); j++) {
      const endpoint = `http://host-${j}.dc1.example.com:9100/metrics`
      ops.push(eventOp(ACTOR, new Date(T0 + Math.floor((j / events) * 60 * DAY)), [serviceChange(undefined, {...service, endpoint})]))
    }
    await store.txn([], ops)
  }
  return performance.now() - started
}

async function retentionAndReads(name: string, store: Store): Promise<void> {
  line(`${name}: write ${events} history records (${Math.ceil(events / MAX_TXN_OPS)} transactions)`, ms(await fill(store)))
  let clock = T0 + 29 * DAY
  const ctx = createContext(store, {
    now: () => new Date(clock),
    maxAttempts: 5,
    pageSize: 1000,
    actor: ACTOR,
    history: newHistoryState(),
    topology: {},
  })
  const sweep = async (): Promise<{ms: number; deleted: number}> => {
    ctx.history.nextSweepAt = 0
    let deleted = 0
    const t = await time(async () => (deleted = await sweepHistory(ctx)))
    return {ms: t, deleted}
  }
  // Retention 30d, the clock 29 days in: nothing has expired.
  const idle: number[] = []
  for (let i = 0; i < 200; i++) idle.push((await sweep()).ms)
  line(`${name}: a sweep with nothing expired, ${events} records (median of 200)`, ms(median(idle)))
  // 60 days in: half has expired.
  clock = T0 + 60 * DAY
  const full: number[] = []
  let deleted = 0
  for (let i = 0; i < 20; i++) {
    const s = await sweep()
    full.push(s.ms)
    deleted += s.deleted
  }
  const bound = SWEEP_MAX_BATCHES * MAX_TXN_OPS
  line(`${name}: a sweep deleting its bound of ${bound} records (median of 20)`, ms(median(full)))
  line(
    `${name}:   records deleted per second of sweeping`,
    `${Math.round((deleted / full.reduce((a, b) => a + b, 0)) * 1000)}`.padStart(11),
  )
  line(`${name}:   writes that drop half the history after a cut (${events / 2} records)`, `${Math.ceil(events / 2 / bound)}`.padStart(11))

  const now = new Date(clock)
  const firstPage = async (filter: {since?: string}) =>
    time(async () => readHistory(store, await compileHistoryFilter(filter, now), {limit: 1000}))
  line(
    `${name}: first page of the history since 1d (limit 1000)`,
    ms(median([await firstPage({since: '1d'}), await firstPage({since: '1d'})])),
  )
  line(`${name}: first page of the whole history (limit 1000)`, ms(median([await firstPage({}), await firstPage({})])))

  const list = async (skip?: string) =>
    time(async () => {
      let read = 0
      for await (const page of store.range('', {pageSize: 5000, skip})) read += page.kvs.length
      return read
    })
  line(`${name}: serve's view listing the store without the history (as it does)`, ms(await list(HISTORY_PREFIX)))
  line(`${name}: the same listing with the history in it`, ms(await list()))

  // service list -o wide: look the registrations up in the history instead of storing them.
  const lookup = await time(async () => {
    const last = new Map<string, string>()
    for await (const page of store.range(HISTORY_PREFIX, {pageSize: 5000}))
      for (const kv of page.kvs) for (const e of eventsOf(kv)) if (e.object.id) last.set(e.object.id, e.actor.id)
  })
  line(`${name}: -o wide by looking up every registration in the history (a full scan)`, ms(lookup))
}

console.log(`registry history (node ${process.version}; ${events} records; ${writes} writes)`)
line(
  '-o wide by storing it: bytes a service record grows by ("registeredBy":"token:ansible")',
  `${Buffer.byteLength(',"registeredBy":"token:ansible"')}`.padStart(11),
)
try {
  let n = 0
  await writeCost('sqlite', () => openStore({registry: `sqlite:${path.join(dir, `writes-${++n}.db`)}`, timeoutMs: 60_000}))
  const sqlite = await openStore({registry: `sqlite:${path.join(dir, 'history.db')}`, timeoutMs: 60_000})
  try {
    await retentionAndReads('sqlite', sqlite)
  } finally {
    await sqlite.close()
  }

  const etcd = await startEtcd({args: ['--quota-backend-bytes', String(8 * 1024 ** 3)]})
  try {
    let prefix = 0
    await writeCost('etcd', () => openStore({registry: etcd.url, etcdPrefix: `/w${++prefix}/`, timeoutMs: 60_000}))
    const store = await openStore({registry: etcd.url, etcdPrefix: '/history/', timeoutMs: 120_000})
    try {
      await retentionAndReads('etcd', store)
    } finally {
      await store.close()
    }
  } finally {
    await etcd.stop()
  }
} finally {
  rmSync(dir, {recursive: true, force: true})
}
