/**
 * http_sd against a static file server: `roster serve` over TLS answering one server's http_sd
 * (10,000 targets in one server, about 4 MB, without gzip as Prometheus asks for it), and Debian's
 * nginx serving the same bytes from a file with the same certificate and key, both loaded by wrk
 * (50 connections, the same bearer token header) in turns in the same run. Prints each side's
 * requests/s, MB/s, p50 and p99, the CPU each server (and the kernel for it) and wrk used per
 * request, the server's page faults per request (memory taken afresh for each answer), and the
 * ratios beside the targets (throughput ≥ 0.9× nginx's, p99 ≤ 1.3× nginx's). Asserts nothing.
 * Without nginx or wrk installed it says so and skips.
 *
 * The machine has few cores, and wrk decrypting 4 MB answers costs about what encrypting them
 * does, so where each process runs decides the figures. Three placements, each the same for both
 * servers:
 * - target: the server on CPU 0, wrk on CPU 1 (taskset), nginx with one worker. serve is one
 *   process with one event loop; so is nginx with one worker, and each has one core. (Skipped on
 *   a single CPU.)
 * - unpinned, nginx with one worker: the scheduler places everything.
 * - unpinned, nginx with worker_processes auto (one worker per core): what nginx does with the
 *   whole machine, against serve's one event loop.
 * nginx is configured as Debian's nginx.conf configures it (sendfile on, tcp_nopush on, keep-alive,
 * TLSv1.2 and TLSv1.3, OpenSSL's default ciphers, which Node's match); sendfile does not apply to
 * TLS without kernel TLS, which neither server uses. The protocol and cipher each negotiates with
 * OpenSSL's client (wrk's library) are printed.
 *
 * --compare BIN runs a second serve from another build's bin/run.js beside this one, in the same
 * turns (a change's figures before and after, on the same load). --cpu-prof DIR writes this
 * serve's CPU profile there when it stops.
 *
 *   npm run build && node --import tsx bench/serve-nginx.ts [--services 10000] [--seconds 15] [--rounds 3] [--compare BIN] [--cpu-prof DIR]
 */
import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {availableParallelism, loadavg, tmpdir} from 'node:os'
import path from 'node:path'

import {makeTlsFiles} from '../test/support/test-pki.js'
import {freePort} from '../test/support/free-port.js'
import {seedRegistry} from '../test/support/seed-registry.js'
import {childCpuSeconds, cpuSeconds, minorFaults, once, parentPid, systemSeconds} from '../test/support/serve-monitor.js'
import {createToken, startServe, type ServeProcess} from '../test/support/serve-server.js'
import {isolatedEnv} from '../test/support/cli.js'
import {until} from '../test/support/until.js'
import {arg, median} from './bench-support.js'

const services = arg('services', 10_000)
const seconds = arg('seconds', 15)
const rounds = arg('rounds', 3)
const option = (name: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}
const cpuProfDir = option('cpu-prof')
const compareBin = option('compare')
const CONNECTIONS = 50
const THREADS = 2
const SD_PATH = '/v1/sd/prom0/default'
const TARGET_THROUGHPUT = 0.9
const TARGET_P99 = 1.3
/** The server's CPU and wrk's in the pinned placement. */
const SERVER_CPU = '0'
const WRK_CPU = '1'

interface WrkResult {
  requestsPerSecond: number
  megabytesPerSecond: number
  p50Ms: number
  p99Ms: number
  requests: number
  non2xx: number
  errors: string
  /** CPU the server used during the run, ms per request. */
  serverCpuMs: number
  /** Of that, in the kernel (system time): TCP over loopback, nginx's file reads. */
  serverSysMs: number
  /** Minor page faults of the server per request: memory it freshly took for an answer. */
  serverFaults: number
  wrkCpuMs: number
}

const UNITS: Record<string, number> = {us: 1e-3, ms: 1, s: 1000, m: 60_000}
const BYTES: Record<string, number> = {B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3}

/** wrk with its latency distribution, pinned to `cpu` if given; the server's CPU from `pids` (read before and after). */
function wrk(url: string, token: string, pids: () => number[], cpu: string | undefined): WrkResult {
  const serverCpu = () => pids().reduce((sum, pid) => sum + cpuSeconds(pid), 0)
  const faults = () => pids().reduce((sum, pid) => sum + minorFaults(pid), 0)
  const sys = () => pids().reduce((sum, pid) => sum + systemSeconds(pid), 0)
  const before = serverCpu()
  const sysBefore = sys()
  const faultsBefore = faults()
  const wrkBefore = childCpuSeconds()
  const args = [
    `-t${THREADS}`,
    `-c${CONNECTIONS}`,
    `-d${seconds}s`,
    '--latency',
    '--timeout',
    '10s',
    '-H',
    `Authorization: Bearer ${token}`,
    url,
  ]
  const run = cpu ? spawnSync('taskset', ['-c', cpu, 'wrk', ...args], {encoding: 'utf8'}) : spawnSync('wrk', args, {encoding: 'utf8'})
  const server = serverCpu() - before
  const serverSys = sys() - sysBefore
  const serverFaults = faults() - faultsBefore
  const wrkCpu = childCpuSeconds() - wrkBefore
  if (run.status !== 0) throw new Error(`wrk exited ${run.status}: ${run.stderr}`)
  const out = run.stdout
  const latency = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out)
    return m ? Number(m[1]) * UNITS[m[2]!]! : NaN
  }
  const transfer = /Transfer\/sec:\s+([\d.]+)(B|KB|MB|GB)/.exec(out)
  // Per request only when one completed (a run on a swamped machine may see none).
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN) || NaN
  return {
    requestsPerSecond: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    megabytesPerSecond: transfer ? (Number(transfer[1]) * BYTES[transfer[2]!]!) / 1e6 : NaN,
    p50Ms: latency('50'),
    p99Ms: latency('99'),
    requests,
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
    errors: /Socket errors: .*/.exec(out)?.[0] ?? '',
    serverCpuMs: (server * 1000) / requests,
    serverSysMs: (serverSys * 1000) / requests,
    serverFaults: serverFaults / requests,
    wrkCpuMs: (wrkCpu * 1000) / requests,
  }
}

/** The processes whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  const children: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (parentPid(Number(entry)) === pid) children.push(Number(entry))
    } catch {
      // gone meanwhile
    }
  }
  return children
}

/** Runs every thread of `pids` on `cpus` (e.g. "0" or "0,1"). */
function pin(pids: number[], cpus: string): void {
  for (const pid of pids) {
    const r = spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], {encoding: 'utf8'})
    if (r.status !== 0) throw new Error(`taskset ${pid}: ${r.stderr}`)
  }
}

/** The body of a GET that must answer 200. */
async function get(url: string, token: string, ca: string): Promise<Buffer> {
  const r = await once(url, {ca, token, raw: true})
  if (r.status !== 200) throw new Error(`${url}: ${r.status}`)
  return r.body
}

/** The TLS protocol and cipher OpenSSL's client (the library wrk uses) negotiates with `url`. */
function negotiated(url: string): string {
  const {host} = new URL(url)
  const r = spawnSync('openssl', ['s_client', '-connect', host, '-brief'], {input: '', encoding: 'utf8'})
  const protocol = /Protocol version: (\S+)/.exec(r.stderr)?.[1] ?? '?'
  const cipher = /Ciphersuite: (\S+)/.exec(r.stderr)?.[1] ?? '?'
  return `${protocol} ${cipher}`
}

interface Nginx {
  url: string
  pid: number
  name: string
  stop(): Promise<void>
}

/** nginx serving `file` at SD_PATH with `workers` worker processes, started under `taskset -c cpus` if given. */
async function startNginx(
  dir: string,
  tls: {cert: string; key: string; ca: string},
  workers: string,
  cpus: string | undefined,
): Promise<Nginx> {
  const prefix = path.join(dir, `nginx-${workers}`)
  mkdirSync(prefix)
  chmodSync(prefix, 0o755)
  const port = await freePort()
  const conf = path.join(prefix, 'nginx.conf')
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${path.join(prefix, t)};`).join('\n')
  // As Debian's /etc/nginx/nginx.conf has it, but for the files' places and the access log.
  writeFileSync(
    conf,
    `worker_processes ${workers};
pid ${path.join(prefix, 'nginx.pid')};
error_log ${path.join(prefix, 'error.log')};
events { worker_connections 768; }
http {
  sendfile on;
  tcp_nopush on;
  types_hash_max_size 2048;
  default_type "application/json; charset=utf-8";
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_prefer_server_ciphers off;
  access_log off;
${temp}
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${tls.cert};
    ssl_certificate_key ${tls.key};
    root ${path.join(dir, 'www')};
  }
}
`,
  )
  const args = ['-p', prefix, '-c', conf, '-e', path.join(prefix, 'error.log'), '-g', 'daemon off;']
  const child: ChildProcess = cpus
    ? spawn('taskset', ['-c', cpus, 'nginx', ...args], {stdio: 'inherit'})
    : spawn('nginx', args, {stdio: 'inherit'})
  const url = `https://127.0.0.1:${port}`
  // Any answer, over the bench's own certificate: nginx is listening.
  await until(`nginx (worker_processes ${workers}) at ${url}`, async () => (await once(url, {ca: tls.ca})).status > 0, {timeoutMs: 10_000})
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  return {
    url,
    pid: child.pid!,
    name: `nginx, worker_processes ${workers}`,
    stop: async () => {
      child.kill('SIGQUIT')
      await exited
    },
  }
}

/** The file nginx serves, readable by its workers (they run as nobody when started as root). */
function publish(dir: string, bytes: Buffer): void {
  const www = path.join(dir, 'www')
  const file = path.join(www, SD_PATH)
  mkdirSync(path.dirname(file), {recursive: true})
  writeFileSync(file, bytes)
  chmodSync(dir, 0o711)
  for (let d = path.dirname(file); d.startsWith(www); d = path.dirname(d)) chmodSync(d, 0o755)
  chmodSync(file, 0o644)
}

const fmt = (r: WrkResult) =>
  `${r.requestsPerSecond.toFixed(0).padStart(4)} requests/s, ${r.megabytesPerSecond.toFixed(0).padStart(5)} MB/s, ` +
  `p50 ${r.p50Ms.toFixed(0).padStart(4)} ms, p99 ${r.p99Ms.toFixed(0).padStart(4)} ms; ` +
  `per request: server ${r.serverCpuMs.toFixed(2)} ms CPU (${r.serverSysMs.toFixed(2)} in the kernel) and ${r.serverFaults.toFixed(0)} page faults, wrk ${r.wrkCpuMs.toFixed(2)} ms CPU` +
  (r.non2xx ? `; ${r.non2xx} non-2xx` : '') +
  (r.errors ? `; ${r.errors}` : '')

const missing = ['nginx', 'wrk', 'taskset', 'openssl'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0)
if (missing.length > 0) {
  console.log(`skipped: needs ${missing.join(', ')} (Debian packages nginx, wrk, util-linux, openssl)`)
  process.exit(0)
}

const dir = mkdtempSync(path.join(tmpdir(), 'roster-bench-nginx-'))
try {
  const files = makeTlsFiles(dir)
  const ca = readFileSync(files.caFile, 'utf8')
  const registry = `sqlite:${path.join(dir, 'registry.db')}`
  await seedRegistry(registry, services, {servers: 1})
  const token = await createToken(registry, {id: 'prometheus', role: 'read', namespaces: ['*']})
  const tls = {cert: files.serverCertFile, key: files.serverKeyFile, ca}
  const serveArgs = ['--tls-cert', tls.cert, '--tls-key', tls.key]
  const env = isolatedEnv()
  if (cpuProfDir) env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${cpuProfDir}`.trim()
  const serves: {name: string; process: ServeProcess}[] = [{name: 'serve', process: await startServe({registry, env, args: serveArgs})}]
  try {
    if (compareBin) serves.push({name: 'serve*', process: await startServe({registry, bin: compareBin, args: serveArgs})})
    const bytes = await get(serves[0]!.process.url + SD_PATH, token, ca)
    publish(dir, bytes)
    const one = await startNginx(dir, tls, '1', SERVER_CPU)
    const auto = await startNginx(dir, tls, 'auto', undefined)
    try {
      for (const other of [one, auto, ...serves.slice(1).map((s) => ({name: s.name, url: s.process.url}))])
        if (!(await get(other.url + SD_PATH, token, ca)).equals(bytes)) throw new Error(`${other.name} does not serve the same bytes`)
      const nginxPids = (n: Nginx) => () => [n.pid, ...childrenOf(n.pid).flatMap((p) => [p, ...childrenOf(p)])]
      console.log(
        `http_sd ${SD_PATH}: ${(JSON.parse(bytes.toString()) as unknown[]).length} target groups, ${bytes.length} bytes (the same bytes from each), over TLS, no gzip; ` +
          `wrk -t${THREADS} -c${CONNECTIONS} -d${seconds}s; ${availableParallelism()} CPUs; load average ${loadavg()
            .map((l) => l.toFixed(1))
            .join(' ')}` +
          (compareBin ? `; serve* is ${compareBin}` : ''),
      )
      console.log(`  TLS with OpenSSL's client: serve ${negotiated(serves[0]!.process.url)}; nginx ${negotiated(one.url)}`)
      const placements = [
        ...(availableParallelism() > 1
          ? [{name: `target: server on CPU ${SERVER_CPU}, wrk on CPU ${WRK_CPU}, nginx with 1 worker`, nginx: one, pinned: true, rounds}]
          : []),
        {name: 'unpinned, nginx with 1 worker', nginx: one, pinned: false, rounds: 1},
        {name: `unpinned, nginx with worker_processes auto (${availableParallelism()} workers)`, nginx: auto, pinned: false, rounds: 1},
      ]
      for (const placement of placements) {
        console.log(`  ${placement.name}:`)
        // nginx with one worker was started pinned; it runs unpinned in the other placements.
        const cpus = placement.pinned ? SERVER_CPU : `0-${availableParallelism() - 1}`
        pin([...nginxPids(one)(), ...serves.map((s) => s.process.child.pid!)], cpus)
        const cpu = placement.pinned ? WRK_CPU : undefined
        const nginx: WrkResult[] = []
        const results = serves.map(() => [] as WrkResult[])
        for (let round = 0; round < placement.rounds; round++) {
          nginx.push(wrk(placement.nginx.url + SD_PATH, token, nginxPids(placement.nginx), cpu))
          console.log(`    ${'nginx'.padEnd(6)} ${fmt(nginx.at(-1)!)}`)
          serves.forEach((s, i) => {
            results[i]!.push(wrk(s.process.url + SD_PATH, token, () => [s.process.child.pid!], cpu))
            console.log(`    ${s.name.padEnd(6)} ${fmt(results[i]!.at(-1)!)}`)
          })
        }
        serves.forEach((s, i) => {
          const ratios = results[i]!.map((r, j) => r.requestsPerSecond / nginx[j]!.requestsPerSecond)
          const p99s = results[i]!.map((r, j) => r.p99Ms / nginx[j]!.p99Ms)
          const throughput = median(ratios)
          const p99 = median(p99s)
          const each = (xs: number[]) => (xs.length > 1 ? ` (rounds: ${xs.map((x) => x.toFixed(2)).join(', ')})` : '')
          const verdict = (met: boolean) => (placement.pinned ? `: ${met ? 'met' : 'NOT MET'}` : '')
          console.log(
            `    ${s.name}'s throughput ${throughput.toFixed(2)}× nginx's${each(ratios)}, target ≥ ${TARGET_THROUGHPUT}×${verdict(throughput >= TARGET_THROUGHPUT)}; ` +
              `p99 ${p99.toFixed(2)}× nginx's${each(p99s)}, target ≤ ${TARGET_P99}×${verdict(p99 <= TARGET_P99)}`,
          )
        })
      }
    } finally {
      await one.stop()
      await auto.stop()
    }
  } finally {
    for (const s of serves) await s.process.stop()
  }
} finally {
  rmSync(dir, {recursive: true, force: true})
}
