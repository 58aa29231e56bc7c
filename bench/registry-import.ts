/**
 * `roster service import` at scale, on SQLite and on etcd: 100,000 services into an empty
 * registry, then 1,000,000 into another as ten files of 100,000 imported one after another (each
 * chunk into a registry that already holds the chunks before it). Prints each chunk's time and
 * peak memory (maximum resident set size from /usr/bin/time -v), the ratio of the 1M time to the
 * 100k time beside the ≤ 10x target (linear), and the same import of the last chunk again (every
 * service unchanged: no write). Before that, the bound: the store's own writes at both sizes,
 * without roster, the same keys and values in the same transactions (as service-writes.ts cuts
 * them with BatchBudget: each service's key compared absent, the services put, and one history
 * record), one chunk into an empty store and every chunk into another; on SQLite through the
 * Store (src/lib/store), on etcd with bare etcd3 KV.Txn calls; only the write calls are timed.
 * Its own 1M / 100k ratio is printed beside roster's. Prints figures; asserts nothing.
 *
 *   npm run build && node --import tsx bench/registry-import.ts [chunk size] [--chunks N]
 */
import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {BatchBudget} from '../src/lib/registry/batches.js'
import {actorText, localActor} from '../src/lib/registry/history/actor.js'
import {eventOp, serviceChange} from '../src/lib/registry/history/record.js'
import {DEFAULT_NAMESPACE, type Service} from '../src/lib/registry/model.js'
import {namespaceKey, serviceKey, TOPOLOGY_KEY} from '../src/lib/registry/keys.js'
import {serviceId} from '../src/lib/registry/service-id.js'
import {DEFAULT_ETCD_PREFIX, openStore} from '../src/lib/store/open-store.js'
import type {Compare, Operation} from '../src/lib/store/store.js'
import {BIN, isolatedEnv} from '../test/support/cli.js'
import {startEtcd} from '../test/support/etcd-server.js'
import {cpuSeconds} from '../test/support/serve-monitor.js'
import {arg, timeVFigures} from './bench-support.js'

const chunk = Number(process.argv[2] && !process.argv[2].startsWith('--') ? process.argv[2] : 100_000)
const chunks = arg('chunks', 10)
/** The target: chunks × the services take at most this many times the time of one chunk. */
const TARGET = chunks
const dir = mkdtempSync(path.join(tmpdir(), 'roster-bench-import-'))

const entry = (i: number) => ({
  name: `node-${i % 50}`,
  endpoint: `http://host-${i}.dc1.example.com:9100/metrics`,
  labels: {app: 'node', rack: `r${i % 40}`},
})

/** The files of the chunks: services [c × chunk, (c + 1) × chunk) each. */
const files = Array.from({length: chunks}, (_, c) => {
  const file = path.join(dir, `services-${c}.json`)
  writeFileSync(file, JSON.stringify(Array.from({length: chunk}, (_, i) => entry(c * chunk + i))))
  return file
})

/**
 * The transactions chunk c's import writes into a registry without it (no servers registered:
 * unassigned): batches cut by BatchBudget, each comparing the topology, the namespace and every
 * service key (absent), putting the services and the batch's history record.
 */
function transactions(c: number): {compares: Compare[]; ops: Operation[]}[] {
  const actor = localActor()
  const now = new Date()
  const modified = now.toISOString()
  const out: {compares: Compare[]; ops: Operation[]}[] = []
  let batch: Service[] = []
  const flush = (): void => {
    const keys = batch.map((service) => serviceKey(service.namespace, service.id))
    out.push({
      compares: [
        {key: TOPOLOGY_KEY, modRevision: 0},
        {key: namespaceKey(DEFAULT_NAMESPACE), modRevision: 0},
        ...keys.map((key) => ({key, modRevision: 0})),
      ],
      ops: [
        ...batch.map((service, i): Operation => ({type: 'put', key: keys[i]!, value: JSON.stringify(service)})),
        eventOp(
          actor,
          now,
          batch.map((service) => serviceChange(undefined, service)),
        ),
      ],
    })
    batch = []
  }
  const budget = new BatchBudget()
  for (let i = c * chunk; i < (c + 1) * chunk; i++) {
    const e = entry(i)
    const namespace = DEFAULT_NAMESPACE
    const service: Service = {
      id: serviceId(namespace, e.endpoint),
      ...e,
      namespace,
      selector: '',
      servers: [],
      description: '',
      modified,
      registeredBy: actorText(actor),
    }
    if (!budget.fits(service)) {
      flush()
      budget.reset()
    }
    budget.add(service)
    batch.push(service)
  }
  if (batch.length > 0) flush()
  return out
}

interface Run {
  ms: number
  rssMiB: number
  /** roster's own CPU time (user + system): on a shared machine, steadier than the wall time. */
  cpuS: number
  /** The etcd server's CPU time during the import (etcd only). */
  serverCpuS?: number
}

function cliImport(registry: string, file: string, etcdPid?: number): Run {
  const serverBefore = etcdPid ? cpuSeconds(etcdPid) : NaN
  const env = isolatedEnv({ROSTER_REGISTRY: registry, ROSTER_TIMEOUT: '600s'}) as NodeJS.ProcessEnv
  const start = process.hrtime.bigint()
  const r = spawnSync('/usr/bin/time', ['-v', process.execPath, BIN, 'service', 'import', file], {env, encoding: 'utf8'})
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  if (r.status !== 0) throw new Error(`import failed: ${r.stderr}`)
  rmSync(env.HOME!, {recursive: true, force: true})
  const serverCpuS = etcdPid ? cpuSeconds(etcdPid) - serverBefore : undefined
  return {ms, ...timeVFigures(r.stderr), serverCpuS}
}

function cpu(run: Run): string {
  return `CPU ${run.cpuS.toFixed(1)} s${run.serverCpuS === undefined ? '' : ` + etcd ${run.serverCpuS.toFixed(1)} s`}`
}

function rate(n: number, ms: number): string {
  return `${(ms / 1000).toFixed(2).padStart(7)} s  ${Math.round((n / ms) * 1000)
    .toString()
    .padStart(7)} services/s`
}

/** One store: the raw rate, one chunk alone, then every chunk into one registry, and the last again. */
function scale(store: string, registryOf: (name: string) => {url: string; etcdPid?: number}, rawMs: number): void {
  const run = (name: string, file: string): Run => {
    const {url, etcdPid} = registryOf(name)
    return cliImport(url, file, etcdPid)
  }
  const line = (label: string, n: number, r: Run): void =>
    console.log(`${store}: ${label.padEnd(44)} ${rate(n, r.ms)}, ${cpu(r)}, peak RSS ${r.rssMiB.toFixed(0)} MiB`)
  console.log(`${store}: ${`raw, ${chunk} puts in 128-operation transactions`.padEnd(44)} ${rate(chunk, rawMs)}`)
  const single = run('single', files[0]!)
  line(`import of ${chunk} into an empty registry`, chunk, single)
  const runs: Run[] = []
  for (const [c, file] of files.entries()) {
    const r = run('chunks', file)
    runs.push(r)
    line(`  chunk ${c + 1} of ${chunks} (${c * chunk} already there)`, chunk, r)
  }
  const sum = (f: (r: Run) => number) => runs.reduce((n, r) => n + f(r), 0)
  const total = sum((r) => r.ms)
  const cpuTotal = sum((r) => r.cpuS + (r.serverCpuS ?? 0))
  const peak = Math.max(...runs.map((r) => r.rssMiB))
  console.log(
    `${store}: ${chunks * chunk} in ${chunks} chunks ${rate(chunks * chunk, total)}, peak RSS ${peak.toFixed(0)} MiB (one chunk alone: ${single.rssMiB.toFixed(0)} MiB); ` +
      `${(total / single.ms).toFixed(1)}x the time of ${chunk} (target ≤ ${TARGET}x), ${(cpuTotal / (single.cpuS + (single.serverCpuS ?? 0))).toFixed(1)}x its CPU time`,
  )
  line('the last chunk again (all unchanged)', chunk, run('chunks', files[chunks - 1]!))
}

console.log(`service import, ${chunks} chunks of ${chunk} services (node ${process.version})`)

// SQLite
{
  const raw = await openStore({registry: `sqlite:${path.join(dir, 'raw.db')}`, timeoutMs: 60_000})
  const start = process.hrtime.bigint()
  for (const ops of batches()) await raw.txn([], ops)
  const rawMs = Number(process.hrtime.bigint() - start) / 1e6
  await raw.close()
  scale('sqlite', (name) => ({url: `sqlite:${path.join(dir, `${name}.db`)}`}), rawMs)
}

// etcd: one server for each registry (the second holds the million).
{
  const raw = await startEtcd({args: ['--quota-backend-bytes', String(8 * 1024 ** 3)]})
  const chunked = await startEtcd({args: ['--quota-backend-bytes', String(8 * 1024 ** 3)]})
  try {
    const {Etcd3} = await import('etcd3')
    const client = new Etcd3({hosts: raw.endpoint})
    const start = process.hrtime.bigint()
    for (const ops of batches()) {
      await client.kv.txn({
        compare: [],
        success: ops.map((op) => ({
          request_put: {key: Buffer.from('/raw/' + op.key), value: Buffer.from(op.type === 'put' ? op.value : '')},
        })),
        failure: [],
      })
    }
    const rawMs = Number(process.hrtime.bigint() - start) / 1e6
    client.close()
    scale('etcd', (name) => (name === 'single' ? {url: raw.url, etcdPid: raw.pid} : {url: chunked.url, etcdPid: chunked.pid}), rawMs)
  } finally {
    await raw.stop()
    await chunked.stop()
  }
}
rmSync(dir, {recursive: true, force: true})
