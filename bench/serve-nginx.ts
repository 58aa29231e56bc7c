/**
 * http_sd against a static file server: `roster serve` over TLS answering one server's http_sd
 * (10,000 targets, about 4 MB, without gzip as Prometheus asks for it), and Debian's nginx serving
 * the same bytes from a file with the same certificate, both loaded by wrk with 50 connections,
 * in turns in the same run (nginx, serve, nginx, serve…). Prints each side's requests/s and p99
 * and the ratios beside the targets (throughput ≥ 0.9× nginx's, p99 ≤ 1.3× nginx's), and the CPU
 * each server and wrk used per request, which says where the bound is on this machine.
 * Prints figures; asserts nothing.
 *
 *   npm run build && node --import tsx bench/serve-nginx.ts [--services 100000] [--seconds 10] [--rounds 3] [--nginx-workers 1]
 */
import {spawn, spawnSync} from 'node:child_process'
import {chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {request} from 'node:https'
import {loadavg, tmpdir} from 'node:os'
import path from 'node:path'

import {makeTlsFiles} from '../test/support/etcd-server.js'
import {freePort} from '../test/support/free-port.js'
import {seedRegistry} from '../test/support/seed-registry.js'
import {cpuSeconds} from '../test/support/serve-monitor.js'
import {createToken, startServe} from '../test/support/serve-server.js'
import {arg, median} from './bench-support.js'

const services = arg('services', 100_000)
const seconds = arg('seconds', 10)
const rounds = arg('rounds', 3)
const nginxWorkers = arg('nginx-workers', 1)
const CONNECTIONS = 50
const SD_PATH = '/v1/sd/prom3/default'
const TARGET_THROUGHPUT = 0.9
const TARGET_P99 = 1.3

interface WrkResult {
  requestsPerSecond: number
  p50Ms: number
  p99Ms: number
  requests: number
  non2xx: number
  errors: string
  /** CPU seconds the server used during the run, per request. */
  serverCpuMs: number
  wrkCpuMs: number
}

function toMs(value: string, unit: string): number {
  const n = Number(value)
  return unit === 'us' ? n / 1000 : unit === 's' ? n * 1000 : unit === 'm' ? n * 60_000 : n
}

/** wrk with its latency distribution; the server's CPU from `pids` (read before and after). */
function wrk(url: string, token: string, pids: () => number[]): WrkResult {
  const cpu = () => pids().reduce((sum, pid) => sum + cpuSeconds(pid), 0)
  const before = cpu()
  const wrkBefore = childCpuSeconds()
  const run = spawnSync(
    'wrk',
    ['-t2', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', '--timeout', '10s', '-H', `Authorization: Bearer ${token}`, url],
    {encoding: 'utf8'},
  )
  const serverCpu = cpu() - before
  const wrkCpu = childCpuSeconds() - wrkBefore
  if (run.status !== 0) throw new Error(`wrk exited ${run.status}: ${run.stderr}`)
  const out = run.stdout
  const latency = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out)
    return m ? toMs(m[1]!, m[2]!) : NaN
  }
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN)
  return {
    requestsPerSecond: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    p50Ms: latency('50'),
    p99Ms: latency('99'),
    requests,
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
    errors: /Socket errors: .*/.exec(out)?.[0] ?? '',
    serverCpuMs: (serverCpu * 1000) / requests,
    wrkCpuMs: (wrkCpu * 1000) / requests,
  }
}

/** CPU seconds used by the children this process waited for (wrk), from /proc/self/stat's cutime + cstime. */
function childCpuSeconds(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[13]) + Number(fields[14])) / 100
}

/** The worker processes of nginx's master `pid`. */
function childrenOf(pid: number): number[] {
  const children: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const ppid = Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]!.split(' ')[1])
      if (ppid === pid) children.push(Number(entry))
    } catch {
      // gone meanwhile
    }
  }
  return children
}

function body(url: string, token: string, ca: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    request(url, {ca, headers: {authorization: `Bearer ${token}`}}, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (d: Buffer) => chunks.push(d))
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`${url}: ${res.statusCode}`))))
    })
      .on('error', reject)
      .end()
  })
}

async function startNginx(dir: string, tls: {cert: string; key: string}, file: Buffer) {
  const www = path.join(dir, 'www')
  mkdirSync(path.join(www, path.dirname(SD_PATH)), {recursive: true})
  writeFileSync(path.join(www, SD_PATH), file)
  // nginx's workers run as nobody when it is started as root: they must reach the file.
  chmodSync(dir, 0o711)
  for (let d = path.join(www, path.dirname(SD_PATH)); d.startsWith(www); d = path.dirname(d)) chmodSync(d, 0o755)
  chmodSync(path.join(www, SD_PATH), 0o644)
  const port = await freePort()
  const conf = path.join(dir, 'nginx.conf')
  writeFileSync(
    conf,
    `worker_processes ${nginxWorkers};
pid ${path.join(dir, 'nginx.pid')};
error_log ${path.join(dir, 'nginx-error.log')};
events { worker_connections 1024; }
http {
  access_log off;
  default_type "application/json; charset=utf-8";
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${tls.cert};
    ssl_certificate_key ${tls.key};
    root ${www};
  }
}
`,
  )
  const child = spawn('nginx', ['-p', dir, '-c', conf, '-e', path.join(dir, 'nginx-error.log'), '-g', 'daemon off;'], {stdio: 'inherit'})
  const url = `https://127.0.0.1:${port}`
  for (let i = 0; ; i++) {
    try {
      await new Promise<void>((resolve, reject) =>
        request(url, {rejectUnauthorized: false}, (res) => {
          res.resume()
          res.on('end', resolve)
        })
          .on('error', reject)
          .end(),
      )
      break
    } catch (error) {
      if (i > 200) throw error
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  return {url, pid: child.pid!, stop: () => new Promise<void>((resolve) => (child.kill('SIGQUIT'), child.on('exit', () => resolve())))}
}

const dir = mkdtempSync(path.join(tmpdir(), 'roster-bench-nginx-'))
try {
  const files = makeTlsFiles(dir)
  const ca = readFileSync(files.caFile, 'utf8')
  const registry = `sqlite:${path.join(dir, 'registry.db')}`
  await seedRegistry(registry, services)
  const token = await createToken(registry, {id: 'prometheus', role: 'read', namespaces: ['*']})
  const serve = await startServe({registry, args: ['--tls-cert', files.serverCertFile, '--tls-key', files.serverKeyFile]})
  try {
    const bytes = await body(serve.url + SD_PATH, token, ca)
    const nginx = await startNginx(dir, {cert: files.serverCertFile, key: files.serverKeyFile}, bytes)
    try {
      if (!(await body(nginx.url + SD_PATH, token, ca)).equals(bytes)) throw new Error('nginx does not serve the same bytes')
      console.log(
        `http_sd ${SD_PATH}: ${(JSON.parse(bytes.toString()) as unknown[]).length} targets, ${bytes.length} bytes, over TLS, no gzip; ` +
          `wrk -t2 -c${CONNECTIONS} -d${seconds}s; nginx ${nginxWorkers} worker(s); load average ${loadavg()
            .map((l) => l.toFixed(1))
            .join(' ')}`,
      )
      const sides = {nginx: [] as WrkResult[], serve: [] as WrkResult[]}
      for (let round = 0; round < rounds; round++) {
        for (const side of ['nginx', 'serve'] as const) {
          const r =
            side === 'nginx'
              ? wrk(nginx.url + SD_PATH, token, () => [nginx.pid, ...childrenOf(nginx.pid)])
              : wrk(serve.url + SD_PATH, token, () => [serve.child.pid!])
          sides[side].push(r)
          console.log(
            `  round ${round + 1} ${side.padEnd(5)}: ${r.requestsPerSecond.toFixed(0)} requests/s, p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms; ` +
              `server ${r.serverCpuMs.toFixed(2)} ms CPU/request, wrk ${r.wrkCpuMs.toFixed(2)} ms CPU/request` +
              (r.non2xx ? `; ${r.non2xx} non-2xx` : '') +
              (r.errors ? `; ${r.errors}` : ''),
          )
        }
      }
      const ratios = sides.serve.map((r, i) => r.requestsPerSecond / sides.nginx[i]!.requestsPerSecond)
      const p99s = sides.serve.map((r, i) => r.p99Ms / sides.nginx[i]!.p99Ms)
      const throughput = median(ratios)
      const p99 = median(p99s)
      console.log(
        `  serve's throughput: ${throughput.toFixed(2)}× nginx's (rounds: ${ratios.map((x) => x.toFixed(2)).join(', ')}); target ≥ ${TARGET_THROUGHPUT}×: ${throughput >= TARGET_THROUGHPUT ? 'met' : 'NOT MET'}`,
      )
      console.log(
        `  serve's p99: ${p99.toFixed(2)}× nginx's (rounds: ${p99s.map((x) => x.toFixed(2)).join(', ')}); target ≤ ${TARGET_P99}×: ${p99 <= TARGET_P99 ? 'met' : 'NOT MET'}`,
      )
      console.log(
        `  CPU per request (median): serve ${median(sides.serve.map((r) => r.serverCpuMs)).toFixed(2)} ms, nginx ${median(sides.nginx.map((r) => r.serverCpuMs)).toFixed(2)} ms`,
      )
    } finally {
      await nginx.stop()
    }
  } finally {
    await serve.stop()
  }
} finally {
  rmSync(dir, {recursive: true, force: true})
}
