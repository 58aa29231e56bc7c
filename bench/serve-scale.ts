/**
 * `roster serve` at fleet scale, on SQLite and on etcd: 1,000,000 services on 10 servers (100,000
 * targets each, about 40 MB of http_sd per server), each figure printed beside its target:
 * - from serve's start to its first complete http_sd answer;
 * - resident memory after every server's http_sd was read once (per server and per namespace),
 *   and its peak;
 * - an answer of 100,000 targets asked right after a change to it (the view shows the change;
 *   the answer is rendered or patched, then sent), beside the same answer asked again (kept);
 * - register → visible: from `roster service register` exiting (its write is committed) to the
 *   first http_sd answer that holds the new target; beside it, its bound: the same answer
 *   fetched again unchanged (moving the bytes, no render), and what register → visible takes
 *   beyond it;
 * - where the resident memory is after the reads (serve's own /metrics: the V8 heap, memory
 *   outside it that V8 knows of, i.e. Buffers; /proc: anonymous and file-backed), and at the
 *   end the stores side by side, so that their difference is attributed.
 * Prints figures; asserts nothing.
 *
 *   npm run build && node --import tsx bench/serve-scale.ts [--services 1000000] [--etcd-services 1000000] [--trials 5] [--stores sqlite,etcd]
 *
 * With BENCH_SCALE_DATA=DIR the seeded SQLite file is kept in DIR and used again by the next run.
 */
import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import {loadavg, tmpdir} from 'node:os'
import path from 'node:path'

import {isolatedEnv, runBin} from '../test/support/cli.js'
import {startEtcd} from '../test/support/etcd-server.js'
import {seedRegistry} from '../test/support/seed-registry.js'
import {cpuSeconds, memoryMiB, metricValue, once} from '../test/support/serve-monitor.js'
import {createToken, startServe, type ServeProcess} from '../test/support/serve-server.js'
import {arg, median} from './bench-support.js'

const SERVERS = 10
const services = arg('services', 1_000_000)
const etcdServices = arg('etcd-services', services)
const trials = arg('trials', 5)
/** --stores sqlite,etcd (the default): the stores to measure. */
const stores = process.argv.includes('--stores') ? process.argv[process.argv.indexOf('--stores') + 1]!.split(',') : ['sqlite', 'etcd']

const MiB = 1024 * 1024
const TARGET_RSS_MIB = 1024
const TARGET_FIRST_ANSWER_S = 8
const TARGET_AFTER_CHANGE_S = 0.4
const TARGET_VISIBLE_S = 1

/** One GET, the whole body read as bytes: status, body, the milliseconds to the last byte and to the headers (serve's render, before the transfer). */
function get(url: string, token: string): Promise<{status: number; body: Buffer; ms: number; headersMs: number}> {
  return once(url, {token, raw: true, timeoutMs: 600_000})
}

/** The view's store revision (/readyz). */
async function viewRevision(serve: ServeProcess, token: string): Promise<number> {
  const r = await get(`${serve.url}/readyz`, token)
  return r.status === 200 ? (JSON.parse(r.body.toString()) as {revision: number}).revision : 0
}

function verdict(value: number, target: number): string {
  return value <= target ? 'met' : 'NOT MET'
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`

/** `roster service register` through the CLI, straight into the store: the server it went to and the write's revision. */
async function register(registry: string, endpoint: string): Promise<{server: string; revision: number}> {
  const {code, stdout, stderr} = await runBin(['service', 'register', 'probe', '-e', endpoint, '--json'], {
    env: isolatedEnv({ROSTER_REGISTRY: registry}),
  })
  if (code !== 0) throw new Error(`service register exited ${code}: ${stderr}`)
  const service = (JSON.parse(stdout) as {services: {servers: string[]; revision: number}[]}).services[0]!
  return {server: service.servers[0]!, revision: service.revision}
}

/** Where serve's resident memory is, MiB: /proc's split, and the V8 heap and external memory from serve's /metrics (prom-client's default series). */
interface Memory {
  rss: number
  anon: number
  file: number
  heapTotal: number
  heapUsed: number
  /** The heap's used bytes by V8 space (old, new, large_object, code). */
  spaces: Record<string, number>
  /** Memory outside the V8 heap that V8 is told of: Buffers and other ArrayBuffers. */
  external: number
}

/** The V8 heap spaces that hold most of serve's heap. */
const HEAP_SPACES = ['old', 'new', 'large_object', 'code'] as const

async function memoryOf(serve: ServeProcess, token: string): Promise<Memory> {
  const r = await get(`${serve.url}/metrics`, token)
  if (r.status !== 200) throw new Error(`/metrics: ${r.status}`)
  const text = r.body.toString()
  const metric = (name: string) => metricValue(text, `roster_serve_process_${name}`) / MiB
  const {rss, anon, file} = memoryMiB(serve.child.pid!)
  return {
    rss,
    anon,
    file,
    heapTotal: metric('nodejs_heap_size_total_bytes'),
    heapUsed: metric('nodejs_heap_size_used_bytes'),
    spaces: Object.fromEntries(HEAP_SPACES.map((space) => [space, metric(`nodejs_heap_space_size_used_bytes{space="${space}"}`)])),
    external: metric('nodejs_external_memory_bytes'),
  }
}

/** The rows of a memory breakdown: each part's MiB. */
const MEMORY_ROWS: [string, (m: Memory) => number][] = [
  ['resident (RSS)', (m) => m.rss],
  ['  file-backed (code of node and its libraries)', (m) => m.file],
  ['  anonymous', (m) => m.anon],
  ['    V8 heap (allocated)', (m) => m.heapTotal],
  ['      of it used', (m) => m.heapUsed],
  ...HEAP_SPACES.map((space): [string, (m: Memory) => number] => [`        ${space.replace('_', ' ')} space`, (m) => m.spaces[space]!]),
  ['    external to the heap (Buffers, ArrayBuffers)', (m) => m.external],
  ['    the rest (native: allocator, gRPC/SQLite, stacks)', (m) => m.anon - m.heapTotal - m.external],
]

const memories = new Map<string, Memory>()

/** MiB as a whole number, padded ("0" for a rounded -0). */
const mib = (x: number, width: number) => (Math.round(x) || 0).toFixed(0).padStart(width)

async function measure(label: string, registry: string, count: number): Promise<void> {
  console.log(
    `\n${label}: ${count} services on ${SERVERS} servers (load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')})`,
  )
  const token = await createToken(registry, {id: `prometheus-${Date.now()}`, role: 'read', namespaces: ['*']})
  const started = performance.now()
  const serve = await startServe({registry, startTimeoutMs: 600_000})
  const listening = performance.now() - started
  try {
    const pid = serve.child.pid!
    const listeningCpu = cpuSeconds(pid)
    let first = await get(`${serve.url}/v1/sd/prom0/default`, token)
    while (first.status !== 200) first = await get(`${serve.url}/v1/sd/prom0/default`, token)
    const firstAnswer = performance.now() - started
    console.log(
      `  start → first complete http_sd answer: ${s(firstAnswer)} (listening after ${s(listening)}; serve's CPU: ${listeningCpu.toFixed(1)} s ` +
        `to listen, ${cpuSeconds(pid).toFixed(1)} s to answer; ${(first.body.length / MiB).toFixed(1)} MiB); ` +
        `target ≤ ${TARGET_FIRST_ANSWER_S} s${label === 'SQLite' ? `: ${verdict(firstAnswer / 1000, TARGET_FIRST_ANSWER_S)}` : ' on SQLite (etcd: reported)'}`,
    )
    const firsts: number[] = []
    for (let i = 0; i < SERVERS; i++) {
      for (const p of i === 0 ? [`prom${i}`] : [`prom${i}/default`, `prom${i}`]) {
        const r = await get(`${serve.url}/v1/sd/${p}`, token)
        if (r.status !== 200) throw new Error(`/v1/sd/${p}: ${r.status}`)
        firsts.push(r.ms)
      }
    }
    const mem = memoryMiB(pid)
    console.log(
      `  every server's http_sd read once (/v1/sd/SERVER/default and /v1/sd/SERVER, ${SERVERS} servers): median ${median(firsts).toFixed(0)} ms an answer`,
    )
    console.log(
      `  resident memory then: ${mem.rss.toFixed(0)} MiB (peak ${mem.peak.toFixed(0)} MiB); target ≤ ${TARGET_RSS_MIB} MiB: ${verdict(mem.rss, TARGET_RSS_MIB)} (peak: ${verdict(mem.peak, TARGET_RSS_MIB)})`,
    )
    const where = await memoryOf(serve, token)
    memories.set(label, where)
    console.log(`  where it is (the bound of resident memory; /proc and serve's /metrics, MiB):`)
    for (const [name, f] of MEMORY_ROWS) console.log(`    ${name.padEnd(54)} ${mib(f(where), 6)}`)

    const kept: number[] = []
    const afterChange: number[] = []
    const afterChangeHeaders: number[] = []
    const visible: number[] = []
    /** register → visible less the same answer's transfer when kept, trial by trial. */
    const beyondTransfer: number[] = []
    const cpuBefore = cpuSeconds(pid)
    for (let t = 0; t < trials; t++) {
      const endpoint = `http://probe-${Date.now()}-${t}.example.com:9100/metrics`
      const host = Buffer.from(`"${new URL(endpoint).host}"`)
      const {server, revision} = await register(registry, endpoint)
      const exited = performance.now()
      const url = `${serve.url}/v1/sd/${server}/default`
      // The view holds the write: then one answer, which must hold the target.
      while ((await viewRevision(serve, token)) < revision) await new Promise((r) => setTimeout(r, 2))
      const r = await get(url, token)
      if (!r.body.includes(host)) throw new Error(`${url}: the view is at revision ${revision} but the answer lacks ${host.toString()}`)
      visible.push(performance.now() - exited)
      afterChange.push(r.ms)
      afterChangeHeaders.push(r.headersMs)
      kept.push((await get(url, token)).ms)
      beyondTransfer.push(visible.at(-1)! - kept.at(-1)!)
    }
    const cpu = cpuSeconds(pid) - cpuBefore
    console.log(
      `  an answer of ${count / SERVERS} targets right after a change to it: median ${s(median(afterChange))} (max ${s(Math.max(...afterChange))}) ` +
        `to the last byte, of which ${s(median(afterChangeHeaders))} to its headers (the render: serve sends once the answer is whole); ` +
        `the same answer kept: ${s(median(kept))} (the transfer); target ≤ ${TARGET_AFTER_CHANGE_S} s: ${verdict(median(afterChangeHeaders) / 1000, TARGET_AFTER_CHANGE_S)} ` +
        `to the headers, ${verdict(median(afterChange) / 1000, TARGET_AFTER_CHANGE_S)} to the last byte`,
    )
    console.log(
      `  register → visible in http_sd: median ${s(median(visible))} (max ${s(Math.max(...visible))}) after the CLI exits; ` +
        `target ≤ ${TARGET_VISIBLE_S} s: ${verdict(median(visible) / 1000, TARGET_VISIBLE_S)}; ${trials} trials, serve used ${(cpu / trials).toFixed(2)} s CPU per change`,
    )
    console.log(
      `    its bound, the transfer: the same answer unchanged, fetched again, median ${s(median(kept))}; ` +
        `register → visible beyond it: median ${s(median(beyondTransfer))} (max ${s(Math.max(...beyondTransfer))})`,
    )
    const after = memoryMiB(pid)
    console.log(`  resident memory at the end: ${after.rss.toFixed(0)} MiB (peak ${after.peak.toFixed(0)} MiB)`)
  } finally {
    await serve.stop()
  }
}

// BENCH_SCALE_DATA=DIR keeps the seeded SQLite file there, and uses it again in the next run.
const keep = process.env.BENCH_SCALE_DATA
const dir = keep ?? mkdtempSync(path.join(tmpdir(), 'roster-bench-scale-'))
try {
  if (stores.includes('sqlite')) {
    const file = path.join(dir, `registry-${services}.db`)
    const registry = `sqlite:${file}`
    if (!existsSync(file)) {
      console.log(`SQLite: seeding ${services} services...`)
      console.log(`  seeded in ${s(await seedRegistry(registry, services, SERVERS))}`)
    }
    await measure('SQLite', registry, services)
  }
} finally {
  if (!keep) rmSync(dir, {recursive: true, force: true})
}

if (stores.includes('etcd')) {
  const etcd = await startEtcd({args: ['--quota-backend-bytes', String(8 * 1024 ** 3)]})
  try {
    console.log(`\netcd: seeding ${etcdServices} services...`)
    console.log(`  seeded in ${s(await seedRegistry(etcd.url, etcdServices, SERVERS))}`)
    await measure('etcd', etcd.url, etcdServices)
  } finally {
    await etcd.stop()
  }
}

// The stores side by side: where etcd's serve holds more (or less) than SQLite's.
const sqlite = memories.get('SQLite')
const etcdMemory = memories.get('etcd')
if (sqlite && etcdMemory) {
  console.log(
    `\nserve's memory after every http_sd read, by store (MiB; SQLite ${services} services, etcd ${etcdServices}; target ≤ ${TARGET_RSS_MIB} MiB resident):`,
  )
  console.log(`  ${''.padEnd(54)} ${'SQLite'.padStart(7)} ${'etcd'.padStart(7)} ${'etcd − SQLite'.padStart(14)}`)
  for (const [name, f] of MEMORY_ROWS)
    console.log(`  ${name.padEnd(54)} ${mib(f(sqlite), 7)} ${mib(f(etcdMemory), 7)} ${mib(f(etcdMemory) - f(sqlite), 14)}`)
}
