/**
 * `roster serve` at fleet scale, on SQLite and on etcd: 1,000,000 services on 10 servers (100,000
 * targets each, about 40 MB of http_sd per server), each figure printed beside its target:
 * - from serve's start to its first complete http_sd answer;
 * - resident memory after every server's http_sd was read once (per server and per namespace),
 *   and its peak;
 * - an answer of 100,000 targets asked right after a change to it (the view shows the change;
 *   the answer is rendered or patched, then sent), beside the same answer asked again (kept);
 * - register → visible: from `roster service register` exiting (its write is committed) to the
 *   first http_sd answer that holds the new target.
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
import {cpuSeconds, memoryMiB, once} from '../test/support/serve-monitor.js'
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

    const kept: number[] = []
    const afterChange: number[] = []
    const afterChangeHeaders: number[] = []
    const visible: number[] = []
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
