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
import {type EtcdServer, startEtcd} from '../test/support/etcd-server.js'
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
  /** Peak RSS of the import (the store alone: not measured, it runs in this process). */
  rssMiB?: number
  /** The writer's own CPU time (user + system): on a shared machine, steadier than the wall time. */
  cpuS: number
  /** The etcd server's CPU time meanwhile (etcd only). */
  serverCpuS?: number
}

/** A registry, and the etcd server behind it (etcd only). */
interface Registry {
  url: string
  etcd?: EtcdServer
  /** Frees its disk and memory once measured. */
  remove(): Promise<void>
}

function cliImport(registry: Registry, file: string): Run {
  const etcdPid = registry.etcd?.pid
  const serverBefore = etcdPid ? cpuSeconds(etcdPid) : NaN
  const env = isolatedEnv({ROSTER_REGISTRY: registry.url, ROSTER_TIMEOUT: '600s'}) as NodeJS.ProcessEnv
  const start = process.hrtime.bigint()
  const r = spawnSync('/usr/bin/time', ['-v', process.execPath, BIN, 'service', 'import', file], {env, encoding: 'utf8'})
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  if (r.status !== 0) throw new Error(`import failed: ${r.stderr}`)
  rmSync(env.HOME!, {recursive: true, force: true})
  const serverCpuS = etcdPid ? cpuSeconds(etcdPid) - serverBefore : undefined
  return {ms, ...timeVFigures(r.stderr), serverCpuS}
}

/**
 * The store alone: chunk c's transactions written into `registry` without roster, only the
 * write calls timed (SQLite: Store.txn, opened as the import opens it; etcd: bare etcd3 KV.Txn
 * as the etcd store sends it, compares of an absent key on its create revision).
 */
async function storeAlone(registry: Registry, c: number): Promise<Run> {
  const txns = transactions(c)
  const serverBefore = registry.etcd ? cpuSeconds(registry.etcd.pid) : NaN
  const timed = async (write: (t: (typeof txns)[number]) => Promise<{succeeded: boolean}>): Promise<Run> => {
    const cpu = process.cpuUsage()
    const start = process.hrtime.bigint()
    // A compare that failed would write nothing, and time nothing.
    for (const t of txns) if (!(await write(t)).succeeded) throw new Error(`${registry.url}: a transaction's compares failed`)
    const ms = Number(process.hrtime.bigint() - start) / 1e6
    const used = process.cpuUsage(cpu)
    const serverCpuS = registry.etcd ? cpuSeconds(registry.etcd.pid) - serverBefore : undefined
    return {ms, cpuS: (used.user + used.system) / 1e6, serverCpuS}
  }
  if (!registry.etcd) {
    const store = await openStore({registry: registry.url, timeoutMs: 60_000})
    try {
      return await timed((t) => store.txn(t.compares, t.ops))
    } finally {
      await store.close()
    }
  }
  const {Etcd3} = await import('etcd3')
  const client = new Etcd3({hosts: registry.etcd.endpoint})
  const key = (k: string) => Buffer.from(DEFAULT_ETCD_PREFIX + k)
  try {
    return await timed((t) =>
      client.kv.txn({
        compare: t.compares.map((c) => ({key: key(c.key), target: 'Create', result: 'Equal', create_revision: 0})),
        success: t.ops.map((op) => ({request_put: {key: key(op.key), value: Buffer.from(op.type === 'put' ? op.value : '')}})),
        failure: [],
      }),
    )
  } finally {
    client.close()
  }
}

function cpu(run: Run): string {
  return `CPU ${run.cpuS.toFixed(1)} s${run.serverCpuS === undefined ? '' : ` + etcd ${run.serverCpuS.toFixed(1)} s`}`
}

function rate(n: number, ms: number): string {
  return `${(ms / 1000).toFixed(2).padStart(7)} s  ${Math.round((n / ms) * 1000)
    .toString()
    .padStart(7)} services/s`
}

/** Every chunk into one registry against one chunk into an empty one: the time's and the CPU's ratios. */
function ratios(single: Run, runs: Run[]): {time: number; cpu: number} {
  const total = (f: (r: Run) => number) => runs.reduce((n, r) => n + f(r), 0)
  const allCpu = (r: Run) => r.cpuS + (r.serverCpuS ?? 0)
  return {time: total((r) => r.ms) / single.ms, cpu: total(allCpu) / allCpu(single)}
}

/**
 * One store: the store alone, one chunk into an empty registry and every chunk into another;
 * then roster's import the same way, and the last chunk again. `registry(role)` gives a fresh
 * registry for each of the four.
 */
async function scale(store: string, registry: (role: string) => Promise<Registry>): Promise<void> {
  const line = (label: string, n: number, r: Run): void =>
    console.log(
      `${store}: ${label.padEnd(52)} ${rate(n, r.ms)}, ${cpu(r)}${r.rssMiB === undefined ? '' : `, peak RSS ${r.rssMiB.toFixed(0)} MiB`}`,
    )
  const chunked = async (label: string, into: Registry, write: (c: number) => Promise<Run>): Promise<Run[]> => {
    const runs: Run[] = []
    for (let c = 0; c < chunks; c++) {
      runs.push(await write(c))
      line(`  ${label}chunk ${c + 1} of ${chunks} (${c * chunk} already there)`, chunk, runs.at(-1)!)
    }
    return runs
  }
  const total = (runs: Run[]) => runs.reduce((n, r) => n + r.ms, 0)

  // Every chunk first, so that the one chunk into an empty store runs as warm as roster's
  // (which starts a new process for each import): its JIT and the store's client loaded.
  const aloneInto = await registry('alone-chunks')
  const alone = await chunked('store alone: ', aloneInto, (c) => storeAlone(aloneInto, c))
  await aloneInto.remove()
  const aloneEmpty = await registry('alone-single')
  const aloneSingle = await storeAlone(aloneEmpty, 0)
  await aloneEmpty.remove()
  line(`store alone: ${chunk} into an empty store`, chunk, aloneSingle)
  const aloneRatio = ratios(aloneSingle, alone)
  console.log(
    `${store}: store alone: ${chunks * chunk} in ${chunks} chunks ${rate(chunks * chunk, total(alone))}; ` +
      `${aloneRatio.time.toFixed(1)}x the time of ${chunk}, ${aloneRatio.cpu.toFixed(1)}x its CPU time (the bound of the import's ratio below)`,
  )

  const empty = await registry('single')
  const single = cliImport(empty, files[0]!)
  await empty.remove()
  line(`import of ${chunk} into an empty registry`, chunk, single)
  const into = await registry('chunks')
  const runs = await chunked('', into, (c) => Promise.resolve(cliImport(into, files[c]!)))
  const roster = ratios(single, runs)
  const peak = Math.max(...runs.map((r) => r.rssMiB!))
  console.log(
    `${store}: ${chunks * chunk} in ${chunks} chunks ${rate(chunks * chunk, total(runs))}, peak RSS ${peak.toFixed(0)} MiB (one chunk alone: ${single.rssMiB!.toFixed(0)} MiB); ` +
      `${roster.time.toFixed(1)}x the time of ${chunk} (target ≤ ${TARGET}x; the store alone: ${aloneRatio.time.toFixed(1)}x), ` +
      `${roster.cpu.toFixed(1)}x its CPU time (the store alone: ${aloneRatio.cpu.toFixed(1)}x)`,
  )
  line('the last chunk again (all unchanged)', chunk, cliImport(into, files[chunks - 1]!))
  await into.remove()
}

console.log(`service import, ${chunks} chunks of ${chunk} services (node ${process.version})`)

await scale('sqlite', async (role) => {
  const file = path.join(dir, `${role}.db`)
  return {url: `sqlite:${file}`, remove: async () => ['', '-wal', '-shm'].forEach((suffix) => rmSync(file + suffix, {force: true}))}
})

// etcd: a server for each registry, each stopped once measured (or at the end, after a failure).
const servers = new Set<EtcdServer>()
try {
  await scale('etcd', async () => {
    const etcd = await startEtcd({args: ['--quota-backend-bytes', String(8 * 1024 ** 3)]})
    servers.add(etcd)
    return {url: etcd.url, etcd, remove: () => (servers.delete(etcd), etcd.stop())}
  })
} finally {
  await Promise.all([...servers].map((s) => s.stop()))
}
rmSync(dir, {recursive: true, force: true})
