/**
 * `roster serve` at scale: http_sd of one of 10 servers holding 100,000 services (about 10,000
 * targets), with autocannon at 1 and 50 concurrent clients (p50/p99 latency, requests/s, response
 * bytes); the resident memory of the server; and the time from a `roster service register` (the
 * CLI writing to the store directly) to the target being in http_sd, on SQLite and on etcd.
 * Prints figures; asserts nothing.
 *
 *   npm run build && node --import tsx bench/serve-sd.ts [--services 100000] [--etcd-services 20000] [--seconds 10]
 */
import {spawn} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import type {Service} from '../src/lib/registry/model.js'
import {BIN, isolatedEnv} from '../test/support/cli.js'
import {startEtcd} from '../test/support/etcd-server.js'
import {seedRegistry} from '../test/support/seed-registry.js'
import {cpuSeconds, rssMiB} from '../test/support/serve-monitor.js'
import {createToken, http, startServe, type ServeProcess} from '../test/support/serve-server.js'
import {arg, median} from './bench-support.js'

const SERVERS = 10
const services = arg('services', 100_000)
const etcdServices = arg('etcd-services', 20_000)
const seconds = arg('seconds', 10)

/** Bytes on the wire (no decompression), and the content-encoding. */
async function rawBytes(url: string, headers: Record<string, string>): Promise<string> {
  const {get} = await import('node:http')
  return new Promise((resolve, reject) => {
    get(url, {headers}, (res) => {
      let n = 0
      res.on('data', (d: Buffer) => (n += d.length))
      res.on('end', () => resolve(`${n} ${res.headers['content-encoding'] ?? 'identity'}`))
    }).on('error', reject)
  })
}

/** autocannon against `url`; with gzip as Prometheus asks for it (Go's HTTP client sends Accept-Encoding: gzip). */
let servePid = 0

async function load(url: string, token: string, connections: number, gzip = true): Promise<void> {
  const cpuBefore = cpuSeconds(servePid)
  const {default: autocannon} = await import('autocannon')
  const headers: Record<string, string> = {authorization: `Bearer ${token}`}
  if (gzip) headers['accept-encoding'] = 'gzip'
  const result = await autocannon({url, connections, duration: seconds, headers})
  const lat = result.latency
  console.log(
    `  ${String(connections).padStart(2)} client(s)${gzip ? ', gzip' : ', identity'}: p50 ${lat.p50} ms, p99 ${lat.p99} ms, max ${lat.max} ms, ` +
      `${Math.round(result.requests.average)} requests/s, ${result.non2xx} non-2xx, ${result.errors} errors; ` +
      `serve used ${(((cpuSeconds(servePid) - cpuBefore) * 1000) / result.requests.total).toFixed(2)} ms CPU per request`,
  )
}

/** From the moment `service register` exits 0 (its write is committed) until http_sd shows it; and from its start. */
async function registerToVisible(registry: string, serve: ServeProcess, token: string, trials: number): Promise<void> {
  const afterExit: number[] = []
  const fromStart: number[] = []
  const env = isolatedEnv({ROSTER_REGISTRY: registry})
  for (let t = 0; t < trials; t++) {
    const endpoint = `http://probe-${Date.now()}-${t}.example.com:9100/metrics`
    const host = new URL(endpoint).host
    const started = Date.now()
    const {code, stdout} = await new Promise<{code: number; stdout: string}>((resolve) => {
      const child = spawn(process.execPath, [BIN, 'service', 'register', 'probe', '-e', endpoint, '--json'], {
        env: env as NodeJS.ProcessEnv,
        stdio: ['ignore', 'pipe', 'ignore'],
      })
      let out = ''
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
      child.on('close', (c) => resolve({code: c ?? 1, stdout: out}))
    })
    if (code !== 0) throw new Error(`service register exited ${code}`)
    const exited = Date.now()
    const server = (JSON.parse(stdout) as {services: Service[]}).services[0]!.servers[0]!
    while (!(await http(`${serve.url}/v1/sd/${server}/default`, {token})).text.includes(`"${host}"`)) {
      if (Date.now() - exited > 30_000) throw new Error('not visible after 30 s')
    }
    afterExit.push(Date.now() - exited)
    fromStart.push(Date.now() - started)
  }
  console.log(
    `  register → visible in http_sd: median ${median(afterExit)} ms after the CLI exits (max ${Math.max(...afterExit)} ms); ` +
      `median ${median(fromStart)} ms from the CLI's start; ${trials} trials`,
  )
}

const dir = mkdtempSync(path.join(tmpdir(), 'roster-bench-serve-'))
try {
  const registry = `sqlite:${path.join(dir, 'registry.db')}`
  console.log(`SQLite: seeding ${services} services on ${SERVERS} servers...`)
  console.log(`  seeded in ${(await seedRegistry(registry, services, SERVERS)) / 1000} s`)
  const token = await createToken(registry, {id: 'prometheus', role: 'read', namespaces: ['*']})
  let started = Date.now()
  const serve = await startServe({registry, startTimeoutMs: 120_000})
  console.log(`  serve loaded the view and listened in ${(Date.now() - started) / 1000} s`)
  try {
    servePid = serve.child.pid!
    const url = `${serve.url}/v1/sd/prom3/default`
    const first = await http(url, {token})
    const groups = (first.json() as unknown[]).length
    const gzBytes = await rawBytes(url, {authorization: `Bearer ${token}`, 'accept-encoding': 'gzip'})
    console.log(
      `http_sd ${url.replace(serve.url, '')}: ${groups} targets, ${Buffer.byteLength(first.text)} bytes (with Accept-Encoding: gzip: ${gzBytes})`,
    )
    console.log(`serve resident memory with ${services} services before the load: ${rssMiB(serve.child.pid!).toFixed(0)} MiB`)
    started = Date.now()
    await http(url, {token})
    console.log(`  a cached answer: ${Date.now() - started} ms (one client, fetch)`)
    await load(url, token, 1, false)
    await load(url, token, 1)
    await load(url, token, 50)
    console.log(`serve resident memory with ${services} services: ${rssMiB(serve.child.pid!).toFixed(0)} MiB (VmRSS after the load)`)
    await registerToVisible(registry, serve, token, 5)
  } finally {
    await serve.stop()
  }

  console.log(`\netcd: seeding ${etcdServices} services on ${SERVERS} servers...`)
  const etcd = await startEtcd({args: ['--quota-backend-bytes', String(4 * 1024 ** 3)]})
  try {
    console.log(`  seeded in ${(await seedRegistry(etcd.url, etcdServices, SERVERS)) / 1000} s`)
    const etcdToken = await createToken(etcd.url, {id: 'prometheus', role: 'read', namespaces: ['*']})
    started = Date.now()
    const serveEtcd = await startServe({registry: etcd.url, startTimeoutMs: 120_000})
    console.log(`  serve loaded the view and listened in ${(Date.now() - started) / 1000} s`)
    try {
      await registerToVisible(etcd.url, serveEtcd, etcdToken, 5)
    } finally {
      await serveEtcd.stop()
    }
  } finally {
    await etcd.stop()
  }
} finally {
  rmSync(dir, {recursive: true, force: true})
}
