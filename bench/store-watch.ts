/**
 * The store watch. On SQLite: what a poll of the one poller costs when nothing changed (one
 * indexed read of the revision) and when one key changed (that key through the index on
 * mod_revision), on an empty registry and on one of --keys keys, so that a cost growing with
 * the registry would show; the CPU an idle poller takes per second. On both stores: the delay
 * from a write in another process to a watcher's event in this one (SQLite: at most one poll
 * interval; etcd: pushed down the watch stream).
 *
 *   node --import tsx bench/store-watch.ts [--keys 50000] [--writes 40]
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {openStore, type StoreOptions} from '../src/lib/store/open-store.js'
import {WATCH_POLL_INTERVAL_MS} from '../src/lib/store/sqlite-watch.js'
import {MAX_TXN_OPS, storeRevision, type Store, type Watch} from '../src/lib/store/store.js'
import {startEtcd} from '../test/support/etcd-server.js'
import {runStoreChild} from '../test/support/store-suite.js'
import {arg, median, quantile} from './bench-support.js'

const keys = arg('keys', 50_000)
const writes = arg('writes', 40)
const dir = mkdtempSync(path.join(tmpdir(), 'roster-bench-store-watch-'))

const fmt = (ms: number, digits = 1) => ms.toFixed(digits).padStart(7)

async function fill(store: Store, n: number): Promise<void> {
  const value = JSON.stringify({endpoint: 'http://host.example.org:9100/metrics', labels: {team: 'a'}}).padEnd(200, ' ')
  for (let i = 0; i < n; i += MAX_TXN_OPS) {
    const ops = []
    for (let j = i; j < Math.min(n, i + MAX_TXN_OPS); j++)
      ops.push({type: 'put' as const, key: `services/default/${String(j).padStart(6, '0')}`, value})
    await store.txn([], ops)
  }
}

/** sync() of a current watch, many times: a poll that finds nothing, plus the async call. */
async function idlePollMicros(watch: Watch, rounds = 20_000): Promise<number> {
  for (let i = 0; i < 1000; i++) await watch.sync()
  const started = performance.now()
  for (let i = 0; i < rounds; i++) await watch.sync()
  return ((performance.now() - started) * 1000) / rounds
}

/** A write by another connection, then sync(): the poll that reads one changed key and delivers it. */
async function changedPollMicros(writer: Store, watch: Watch, events: () => number, rounds = 500): Promise<number> {
  const times: number[] = []
  for (let i = 0; i < rounds; i++) {
    await writer.txn([], [{type: 'put', key: `bench/changed-${i % 10}`, value: String(i)}])
    const before = events()
    const started = performance.now()
    await watch.sync()
    times.push((performance.now() - started) * 1000)
    if (events() !== before + 1) throw new Error('the poll did not deliver the change')
  }
  return median(times)
}

/** CPU of this process over `ms` (user + system, in ms). */
async function cpuOver(ms: number): Promise<number> {
  const start = process.cpuUsage()
  await new Promise((resolve) => setTimeout(resolve, ms))
  const used = process.cpuUsage(start)
  return (used.user + used.system) / 1000
}

const CHILD_WRITES = `
for (let i = 0; i < args.writes; i++) {
  await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 80))
  await store.txn([], [{type: 'put', key: 'bench/delay/' + i, value: String(performance.timeOrigin + performance.now())}])
}
`

/** Delays (ms) from each write in a child process to the event in this one. */
async function crossProcessDelays(storeOptions: StoreOptions): Promise<number[]> {
  const store = await openStore(storeOptions)
  const delays: number[] = []
  const watch = await store.watch('bench/delay/', await storeRevision(store), (event) => {
    if (event.type === 'put') delays.push(performance.timeOrigin + performance.now() - Number(event.kv.value))
  })
  try {
    const result = await runStoreChild(storeOptions, CHILD_WRITES, {writes}, 120_000)
    if (result.code !== 0) throw new Error(`writer failed: ${result.stderr}`)
    const deadline = Date.now() + 10_000
    while (delays.length < writes && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    return delays
  } finally {
    await watch.close()
    await store.close()
  }
}

function printDelays(label: string, delays: number[]): void {
  console.log(
    `  ${label.padEnd(34)} median ${fmt(median(delays))} ms   p90 ${fmt(quantile(delays, 0.9))} ms   max ${fmt(Math.max(...delays))} ms   (${delays.length}/${writes} writes)`,
  )
}

try {
  console.log(`SQLite poll (interval ${WATCH_POLL_INTERVAL_MS} ms), node ${process.version}`)
  for (const n of [0, keys]) {
    const registry = `sqlite:${path.join(dir, `registry-${n}.db`)}`
    const store = await openStore({registry, timeoutMs: 30_000})
    const writer = await openStore({registry, timeoutMs: 30_000})
    await fill(writer, n)
    let events = 0
    let watch = await store.watch('', await storeRevision(store), () => events++)
    await watch.sync()
    const idle = await idlePollMicros(watch)
    const changed = await changedPollMicros(writer, watch, () => events)
    console.log(`  ${String(n).padStart(6)} keys: idle poll ${fmt(idle, 2)} µs   poll with one changed key ${fmt(changed, 2)} µs`)
    if (n === keys) {
      // Interleaved seconds of this process idle: with the poller running, without it, and with
      // an empty timer at the same interval (what waking up alone costs).
      await cpuOver(2000)
      const withPoller: number[] = []
      const without: number[] = []
      const emptyTimer: number[] = []
      for (let round = 0; round < 3; round++) {
        withPoller.push(await cpuOver(2000))
        await watch.close()
        without.push(await cpuOver(2000))
        const timer = setInterval(() => undefined, WATCH_POLL_INTERVAL_MS)
        emptyTimer.push(await cpuOver(2000))
        clearInterval(timer)
        watch = await store.watch('', await storeRevision(store), () => events++)
      }
      const perPoll = (xs: number[]) => (((median(xs) - median(without)) / 2) * WATCH_POLL_INTERVAL_MS).toFixed(0)
      console.log(
        `  CPU of an idle poller: ${perPoll(withPoller)} µs a timer poll, an empty timer's wake-up alone ${perPoll(emptyTimer)} µs (the process idle without either: ${fmt(median(without) / 2, 3)} ms/s)`,
      )
    }
    await watch.close()
    await writer.close()
    await store.close()
  }

  console.log(`delay from a write in another process to the event here (${writes} writes, 20–100 ms apart)`)
  printDelays('SQLite', await crossProcessDelays({registry: `sqlite:${path.join(dir, 'delay.db')}`, timeoutMs: 30_000}))
  const etcd = await startEtcd()
  try {
    printDelays('etcd', await crossProcessDelays({registry: etcd.url, timeoutMs: 30_000}))
  } finally {
    await etcd.stop()
  }
} finally {
  rmSync(dir, {recursive: true, force: true})
}
