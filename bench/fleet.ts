/**
 * The fleet, simulated: a real 3-member etcd cluster (client TLS, periodic auto-compaction) on
 * loopback, a real `roster serve` over it with TLS, and the clients of a fleet in a few processes
 * (bench/fleet-clients.ts): Prometheus servers polling http_sd every refresh interval, and hosts
 * renewing their services with a TTL, a share of them restarting in a rolling restart
 * (unregister at stop, register at start). Prints, for each phase of the run (Prometheus alone;
 * steady renewals; the rolling restart; after it): http_sd latency, register → visible, the
 * hosts' calls, serve's CPU and memory, each etcd member's CPU, memory, database size and its own
 * metrics, the load average; then the fleet model's figures beside the measured ones.
 * `--ramp-prometheus 2000,4000,...` then runs more Prometheus servers per scrape server (with the
 * hosts renewing), and `--ramp-hosts 1000,2000,...` more renewing hosts (the first N of the
 * fleet; with the Prometheus servers polling), a step each, to find where p99 breaks and what
 * saturated; `--ramp-only` skips the phased run. `--serve-cpu-prof` prints where serve spent its
 * CPU (build with ROSTER_BUNDLE_MINIFY=0 for readable names). Prints figures; asserts nothing.
 *
 *   npm run build && node --import tsx bench/fleet.ts [--short] [--hosts 10000] [--services-per-host 2]
 *     [--prometheus 1000] [--per-server 2] [--refresh 30] [--renew 300] [--restart-percent 10]
 *     [--restart-minutes 5] [--down 30] [--quiet-minutes 1] [--steady-minutes 2] [--tail-minutes 1]
 *     [--serves 1] [--processes 2] [--max-connections N] [--host-keep-alive] [--serve-cpu-prof]
 *     [--ramp-prometheus 2000,4000,8000] [--ramp-hosts 1000,2000,5000] [--ramp-minutes 2] [--ramp-only]
 *
 * The phases last one refresh interval (Prometheus connecting) and 1 / 2 / 5.5 / 1 minutes (10
 * in all, after the seeding and serve's start); `--short` (or BENCH_FLEET_SHORT=1, also through
 * `npm run bench`) is a smoke of the same fleet in 95 s: phases of 30 / 10 / 10 / 35 / 10 s, the
 * restart of the same hosts in 30 s, each down 5 s.
 */
import {fork} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {cpus, loadavg, tmpdir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

import {TokenAuthority} from '../src/lib/auth/tokens.js'
import {Registry} from '../src/lib/registry/registry.js'
import {openStore} from '../src/lib/store/open-store.js'
import {isolatedEnv} from '../test/support/cli.js'
import {type EtcdCluster, startEtcdCluster} from '../test/support/etcd-server.js'
import {makeTlsFiles} from '../test/support/test-pki.js'
import {cpuSeconds, cpuWaitSeconds, once, rssMiB} from '../test/support/serve-monitor.js'
import {type ServeProcess, startServe} from '../test/support/serve-server.js'
import {arg, quantile} from './bench-support.js'
import {
  CALL_FIELDS,
  CALL_KINDS,
  type ClientReport,
  type ClientTask,
  type FleetPlan,
  POLL_FIELDS,
  VISIBLE_FIELDS,
  hostEndpoint,
  hostLabels,
  serverName,
  serviceName,
} from './fleet-clients.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const short = process.argv.includes('--short') || process.env.BENCH_FLEET_SHORT === '1'
const MIN = 60_000
const hosts = arg('hosts', 10_000)
const servicesPerHost = arg('services-per-host', 2)
const prometheus = arg('prometheus', 1000)
const perServer = arg('per-server', 2)
const refreshMs = arg('refresh', 30) * 1000
const renewMs = arg('renew', 300) * 1000
/** Three renewals may be missed before a registration expires. */
const ttlSeconds = 3 * (renewMs / 1000)
const restartHosts = Math.round((hosts * arg('restart-percent', 10)) / 100)
const restartWindowMs = arg('restart-minutes', short ? 0.5 : 5) * MIN
const downMs = arg('down', short ? 5 : 30) * 1000
const quietMs = arg('quiet-minutes', short ? 1 / 6 : 1) * MIN
const steadyMs = arg('steady-minutes', short ? 1 / 6 : 2) * MIN
const tailMs = arg('tail-minutes', short ? 1 / 6 : 1) * MIN
const serves = arg('serves', 1)
const processes = arg('processes', 2)
const rampMs = arg('ramp-minutes', 2) * MIN
/** `--NAME a,b,c`: a list of counts. */
function list(name: string): number[] {
  const i = process.argv.indexOf(`--${name}`)
  return i < 0
    ? []
    : (process.argv[i + 1] ?? '')
        .split(',')
        .map(Number)
        .filter((n) => n > 0)
}
const rampPrometheus = list('ramp-prometheus')
const rampHosts = list('ramp-hosts')
const mainRun = !process.argv.includes('--ramp-only')
const servers = Math.ceil(prometheus / perServer)
const profile = process.argv.includes('--serve-cpu-prof')
/**
 * Every Prometheus keeps its connection (the keep-alive timeout, 72 s, outlasts a 30 s refresh), so
 * serve's default of 1,024 connections is full at 1,000 Prometheus: each host's call then closes an
 * idle Prometheus connection, whose next poll pays a TLS handshake. An operator sizes it: P + 1,024.
 */
const maxConnections = arg('max-connections', Math.max(prometheus, ...rampPrometheus) + 1024)

// ---- measuring ----

/**
 * CPU seconds (user + system) and resident MiB of a process, and how long its main thread
 * (serve's event loop) was runnable but waiting for a core: on a shared machine, a process that
 * waits more than it runs is short of CPU, not of work.
 */
function proc(pid: number): {cpu: number; rssMiB: number; waited: number} {
  try {
    return {cpu: cpuSeconds(pid), rssMiB: rssMiB(pid), waited: cpuWaitSeconds(pid)}
  } catch {
    return {cpu: NaN, rssMiB: NaN, waited: NaN}
  }
}

type Metrics = Map<string, number>

/** A Prometheus text exposition: `name{labels}` → value. */
async function scrape(url: string, ca?: Buffer): Promise<Metrics> {
  const metrics: Metrics = new Map()
  try {
    // A loaded serve may not answer its first try in time; one more, so a phase keeps its figures.
    const text = (await once(url, {ca, timeoutMs: 30_000}).catch(() => once(url, {ca, timeoutMs: 60_000}))).body
    for (const line of text.split('\n')) {
      if (!line || line.startsWith('#')) continue
      const space = line.lastIndexOf(' ')
      metrics.set(line.slice(0, space), Number(line.slice(space + 1)))
    }
  } catch {
    // a member that does not answer shows as missing figures
  }
  return metrics
}

/** The sum of every series of `name` whose labels contain each of `has`. */
function sum(m: Metrics | undefined, name: string, ...has: string[]): number {
  let total = 0
  for (const [series, value] of m ?? []) {
    const brace = series.indexOf('{')
    if ((brace < 0 ? series : series.slice(0, brace)) === name && has.every((h) => series.includes(h))) total += value
  }
  return total
}

/** The q-quantile of a cumulative histogram's growth between two scrapes, as its bucket's upper bound. */
function histogramQuantile(a: Metrics | undefined, b: Metrics | undefined, name: string, q: number): number {
  const buckets: [number, number][] = []
  for (const [series, value] of b ?? []) {
    if (!series.startsWith(`${name}_bucket{`)) continue
    const le = /le="([^"]+)"/.exec(series)?.[1]
    if (le) buckets.push([le === '+Inf' ? Infinity : Number(le), value - (a?.get(series) ?? 0)])
  }
  buckets.sort((x, y) => x[0] - y[0])
  const total = buckets.at(-1)?.[1] ?? 0
  return total === 0 ? NaN : (buckets.find(([, n]) => n >= q * total)?.[0] ?? NaN)
}

interface Sample {
  at: number
  procs: Record<string, ReturnType<typeof proc>>
  load: number[]
  /** CPU seconds the whole machine spent busy (every core, every process, from /proc/stat). */
  machineBusy: number
}

/** The machine's busy CPU seconds: other work on a shared machine shows as busy CPU that is not the fleet's. */
function machineBusy(): number {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number)
  const [user, nice, system, , , irq, softirq, steal] = ticks as number[]
  return (user! + nice! + system! + irq! + softirq! + steal!) / 100
}

interface Snapshot {
  at: number
  etcd: Metrics[]
  serve: Metrics[]
}

function latency(values: number[]): string {
  const sorted = values.sort((a, b) => a - b)
  if (sorted.length === 0) return 'none'
  return `p50 ${quantile(sorted, 0.5)} ms, p99 ${quantile(sorted, 0.99)} ms, max ${sorted.at(-1)} ms (${sorted.length})`
}

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '-')
const mib = (bytes: number) => fmt(bytes / 1024 ** 2)

// ---- the run ----

interface Phase {
  name: string
  from: number
  to: number
}

interface RunResult {
  phases: Phase[]
  reports: ClientReport[]
  samples: Sample[]
  snapshots: Snapshot[]
  plan: FleetPlan
}

async function simulate(
  plan: Omit<FleetPlan, 't0'>,
  phases: Phase[],
  pids: Record<string, number>,
  cluster: EtcdCluster,
  serveList: ServeProcess[],
): Promise<RunResult> {
  const t0 = Date.now() + 5000
  // The clients run a little past the last phase, so that its closing sample finds them still there.
  const full: FleetPlan = {...plan, t0, endMs: plan.endMs + 3000}
  const ca = readFileSync(plan.caFile)
  const children = (['prometheus', 'hosts'] as const).flatMap((role) => {
    const total = role === 'prometheus' ? plan.prometheus : plan.hosts
    return Array.from({length: processes}, (_, p) => {
      const task: ClientTask = {plan: full, role, from: Math.floor((total * p) / processes), to: Math.floor((total * (p + 1)) / processes)}
      const child = fork(path.join(here, 'fleet-clients.ts'), ['--fleet-clients'], {execArgv: ['--import', 'tsx']})
      pids[`clients ${role} ${p}`] = child.pid!
      child.send(task)
      return new Promise<ClientReport>((resolve, reject) => {
        child.once('message', (report: ClientReport) => resolve(report))
        child.once('exit', (code) => reject(new Error(`a ${role} client process exited ${code}`)))
      })
    })
  })
  const samples: Sample[] = []
  const snapshots: Snapshot[] = []
  const pending: Promise<void>[] = []
  const sample = () => {
    const procs: Sample['procs'] = {}
    for (const [name, pid] of Object.entries(pids)) procs[name] = proc(pid)
    samples.push({at: Date.now() - t0, procs, load: loadavg(), machineBusy: machineBusy()})
  }
  const snapshot = async () => {
    const at = Date.now() - t0
    const [etcd, serve] = await Promise.all([
      Promise.all(cluster.members.map((m) => scrape(m.metricsUrl))),
      Promise.all(serveList.map((s) => scrape(`${s.url}/metrics`, ca))),
    ])
    snapshots.push({at, etcd, serve})
  }
  const sampler = setInterval(sample, 2000)
  const boundaries = [...new Set(phases.flatMap((p) => [p.from, p.to]))]
  const timers = boundaries.map((b) =>
    setTimeout(
      () => {
        sample()
        pending.push(snapshot())
      },
      Math.max(0, t0 + b - Date.now()),
    ),
  )
  try {
    const reports = await Promise.all(children)
    await Promise.all(pending)
    return {phases, reports, samples, snapshots, plan: full}
  } finally {
    clearInterval(sampler)
    for (const t of timers) clearTimeout(t)
    for (const name of Object.keys(pids)) if (name.startsWith('clients ')) delete pids[name]
  }
}

/** The sample closest to time `at`. */
function sampleAt(samples: Sample[], at: number): Sample | undefined {
  return samples.reduce<Sample | undefined>((best, s) => (!best || Math.abs(s.at - at) < Math.abs(best.at - at) ? s : best), undefined)
}

function snapshotAt(snapshots: Snapshot[], at: number): Snapshot | undefined {
  return snapshots.reduce<Snapshot | undefined>((best, s) => (!best || Math.abs(s.at - at) < Math.abs(best.at - at) ? s : best), undefined)
}

/** Per phase: the figures, printed; the measured rates, returned for the model. */
function printPhase(result: RunResult, phase: Phase, cluster: EtcdCluster): PhaseRates {
  const {reports, samples, snapshots} = result
  const seconds = (phase.to - phase.from) / 1000
  const inPhase = (t: number) => t >= phase.from && t < phase.to
  console.log(`\n--- ${phase.name}: ${fmt(phase.from / MIN, 2)}–${fmt(phase.to / MIN, 2)} min (${seconds} s) ---`)

  const pollMs: number[] = []
  let pollBytes = 0
  let pollNon200 = 0
  let fresh = 0
  for (const r of reports)
    for (let i = 0; i < r.polls.length; i += POLL_FIELDS) {
      if (!inPhase(r.polls[i]!)) continue
      pollMs.push(r.polls[i + 1]!)
      pollBytes += r.polls[i + 2]!
      if (r.polls[i + 3] !== 200) pollNon200++
      fresh += r.polls[i + 4]!
    }
  const polls = pollMs.length
  console.log(
    `http_sd polls: ${fmt(polls / seconds)}/s, ${latency(pollMs)}; ${pollNon200} not 200; ` +
      `${mib(pollBytes / seconds)} MiB/s answered (${fmt(pollBytes / Math.max(1, polls) / 1024)} KiB each); ${fresh} on a new connection`,
  )
  const byKind = CALL_KINDS.map(() => [] as number[])
  const callNon200 = CALL_KINDS.map(() => 0)
  for (const r of reports)
    for (let i = 0; i < r.calls.length; i += CALL_FIELDS) {
      if (!inPhase(r.calls[i]!)) continue
      const kind = r.calls[i + 3]!
      byKind[kind]!.push(r.calls[i + 1]!)
      if (r.calls[i + 2] !== 200) callNon200[kind]!++
    }
  const writes = byKind.reduce((n, k) => n + k.length, 0)
  CALL_KINDS.forEach((kind, k) => {
    if (byKind[k]!.length > 0)
      console.log(`${kind} calls: ${fmt(byKind[k]!.length / seconds)}/s, ${latency(byKind[k]!)}; ${callNon200[k]} not 200`)
  })
  for (const [kind, what] of [
    [0, 'register → visible in the server’s http_sd (target: ≤ 1 s)'],
    [1, 'unregister → gone from the server’s http_sd'],
  ] as const) {
    const ms: number[] = []
    let never = 0
    let tries = 0
    for (const r of reports)
      for (let i = 0; i < r.visible.length; i += VISIBLE_FIELDS) {
        if (!inPhase(r.visible[i]!) || r.visible[i + 3] !== kind) continue
        if (r.visible[i + 1]! < 0) never++
        else ms.push(r.visible[i + 1]!)
        tries += r.visible[i + 2]!
      }
    if (ms.length + never > 0)
      console.log(`${what}: ${latency(ms)}; ${never} not within 30 s; ${fmt(tries / (ms.length + never), 2)} http_sd requests each`)
  }

  const a = sampleAt(samples, phase.from)
  const b = sampleAt(samples, phase.to)
  const cpu = (name: string) => (a && b ? (b.procs[name]!.cpu - a.procs[name]!.cpu) / ((b.at - a.at) / 1000) : NaN)
  const waited = (name: string) => (a && b ? (b.procs[name]!.waited - a.procs[name]!.waited) / ((b.at - a.at) / 1000) : NaN)
  const peak = (name: string) => Math.max(...samples.filter((s) => inPhase(s.at)).map((s) => s.procs[name]?.rssMiB ?? NaN))
  const sa = snapshotAt(snapshots, phase.from)
  const sb = snapshotAt(snapshots, phase.to)
  const names = Object.keys(b?.procs ?? {})
  let serveRequests = 0
  for (const name of names.filter((n) => n.startsWith('serve'))) {
    const i = Number(name.split(' ')[1])
    const m = sb?.serve[i]
    // serve's own time per request, from its histogram by route (p99 as the bucket's upper bound).
    const routes = new Set<string>()
    for (const series of m?.keys() ?? [])
      if (series.startsWith('roster_serve_request_duration_seconds_count{')) routes.add(/route="([^"]*)"/.exec(series)?.[1] ?? '')
    const own = [...routes]
      .map((route) => {
        const has = `route="${route}"`
        const n =
          sum(m, 'roster_serve_request_duration_seconds_count', has) - sum(sa?.serve[i], 'roster_serve_request_duration_seconds_count', has)
        const filter = (x: Metrics | undefined) => new Map([...(x ?? [])].filter(([k]) => k.includes(has)))
        const p99 = histogramQuantile(filter(sa?.serve[i]), filter(m), 'roster_serve_request_duration_seconds', 0.99)
        return n > 0 ? `${route} ${fmt(n / seconds)}/s p99 ≤ ${fmt(p99 * 1000, 0)} ms` : ''
      })
      .filter(Boolean)
    const served = sum(m, 'roster_serve_requests_total') - sum(sa?.serve[i], 'roster_serve_requests_total')
    serveRequests += served
    console.log(
      `${name}: ${fmt(served / seconds)} requests/s answered; its own time (histogram): ${own.join('; ')}; ` +
        `event loop lag p99 ${fmt(sum(m, 'roster_serve_process_nodejs_eventloop_lag_p99_seconds') * 1000)} ms (max ${fmt(sum(m, 'roster_serve_process_nodejs_eventloop_lag_max_seconds') * 1000)} ms)`,
    )
    const d = (metric: string, ...has: string[]) => sum(m, metric, ...has) - sum(sa?.serve[i], metric, ...has)
    console.log(
      `${name}: CPU ${fmt(cpu(name) * 100)}% of a core (${fmt((cpu(name) * 1000 * seconds) / Math.max(1, polls + writes), 2)} ms per request), ` +
        `its event loop waited for a core ${fmt(waited(name) * 100)}% of the time, ` +
        `RSS peak ${fmt(peak(name))} MiB; ${fmt(d('roster_serve_view_revision') / seconds)} revisions/s applied to the view; ` +
        `connections ${sum(m, 'roster_serve_connections')} open, ${d('roster_serve_connections_reused_total')} closed to make room, ` +
        `${d('roster_serve_connections_refused_total')} refused; ${d('roster_serve_sd_renders_refused_total')} http_sd renders refused; ` +
        `watch lag ${fmt(sum(m, 'roster_serve_watch_lag_seconds'), 2)} s`,
    )
  }
  let etcdPuts = 0
  let etcdRanges = 0
  let etcdEvents = 0
  let etcdProposals = 0
  cluster.members.forEach((member, i) => {
    const name = `etcd ${i}`
    const ma = sa?.etcd[i]
    const mb = sb?.etcd[i]
    const d = (metric: string, ...has: string[]) => sum(mb, metric, ...has) - sum(ma, metric, ...has)
    etcdPuts = Math.max(etcdPuts, d('etcd_mvcc_put_total') + d('etcd_mvcc_delete_total'))
    etcdRanges += d('grpc_server_handled_total', 'grpc_method="Range"')
    etcdEvents += d('etcd_debugging_mvcc_events_total')
    etcdProposals = Math.max(etcdProposals, d('etcd_server_proposals_committed_total'))
    const fsyncs = d('etcd_disk_wal_fsync_duration_seconds_count')
    console.log(
      `${name}${sum(mb, 'etcd_server_is_leader') === 1 ? ' (leader)' : ''}: CPU ${fmt(cpu(name) * 100)}%, RSS peak ${fmt(peak(name))} MiB, ` +
        `db ${mib(sum(mb, 'etcd_mvcc_db_total_size_in_bytes'))} MiB (${mib(sum(mb, 'etcd_mvcc_db_total_size_in_use_in_bytes'))} in use), ` +
        `${sum(mb, 'etcd_debugging_mvcc_keys_total')} keys; per s: ${fmt(d('etcd_mvcc_put_total') / seconds)} puts, ` +
        `${fmt(d('etcd_mvcc_delete_total') / seconds)} deletes, ${fmt(d('etcd_mvcc_txn_total') / seconds)} txns, ` +
        `${fmt(d('grpc_server_handled_total', 'grpc_method="Range"') / seconds)} Range and ${fmt(d('grpc_server_handled_total', 'grpc_method="Txn"') / seconds)} Txn RPCs, ` +
        `${fmt(d('etcd_debugging_mvcc_events_total') / seconds)} watch events sent, ${fmt(d('etcd_server_proposals_committed_total') / seconds)} proposals, ` +
        `${fmt(fsyncs / seconds)} WAL fsyncs (mean ${fmt((d('etcd_disk_wal_fsync_duration_seconds_sum') / Math.max(1, fsyncs)) * 1000, 2)} ms, ` +
        `p99 ≤ ${fmt(histogramQuantile(ma, mb, 'etcd_disk_wal_fsync_duration_seconds', 0.99) * 1000, 0)} ms), ` +
        `client ${fmt(d('etcd_network_client_grpc_sent_bytes_total') / seconds / 1024)} KiB/s out ${fmt(d('etcd_network_client_grpc_received_bytes_total') / seconds / 1024)} KiB/s in, ` +
        `peers ${fmt(d('etcd_network_peer_sent_bytes_total') / seconds / 1024)} KiB/s out; ` +
        `${sum(mb, 'etcd_debugging_mvcc_watcher_total')} watchers, ${d('etcd_server_leader_changes_seen_total')} leader changes`,
    )
  })
  const clients = names.filter((n) => n.startsWith('clients'))
  const busy = a && b ? (b.machineBusy - a.machineBusy) / ((b.at - a.at) / 1000) : NaN
  const ours = names.reduce((c, n) => c + (Number.isFinite(cpu(n)) ? cpu(n) : 0), 0)
  console.log(
    `client processes: CPU ${clients.map((n) => `${fmt(cpu(n) * 100)}%`).join(', ')}; ` +
      `the machine: ${fmt(busy * 100)}% of ${cpus().length} cores busy, ${fmt(ours * 100)}% of it the fleet's (serve, etcd, clients); ` +
      `load average ${b ? b.load.map((l) => fmt(l, 2)).join(' ') : '-'} at the end (1, 5, 15 min)`,
  )
  return {
    seconds,
    polls: polls / seconds,
    pollBytes: pollBytes / seconds,
    bytesPerPoll: pollBytes / Math.max(1, polls),
    writes: writes / seconds,
    etcdWrites: etcdPuts / seconds,
    etcdRanges: etcdRanges / seconds,
    etcdEvents: etcdEvents / seconds,
    served: serveRequests / seconds,
    committed: etcdProposals / seconds,
    serveCpu: names.filter((n) => n.startsWith('serve')).reduce((c, n) => c + cpu(n), 0),
    p99: quantile(pollMs, 0.99),
    writeP99: quantile(byKind.flat(), 0.99),
  }
}

interface PhaseRates {
  seconds: number
  polls: number
  pollBytes: number
  bytesPerPoll: number
  writes: number
  etcdWrites: number
  etcdRanges: number
  etcdEvents: number
  /** Requests/s every serve answered, by its own count (the polls, the writes, the visibility probes, /metrics). */
  served: number
  /** Raft proposals committed per second: one per registry write that reached etcd. */
  committed: number
  serveCpu: number
  p99: number
  writeP99: number
}

function errorsOf(result: RunResult): string {
  const errors: Record<string, number> = {}
  for (const r of result.reports) for (const [k, n] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + n
  const list = Object.entries(errors)
  return list.length === 0 ? 'none' : list.map(([k, n]) => `${n}× ${k}`).join('; ')
}

// ---- setup ----

const dir = mkdtempSync(path.join(tmpdir(), 'roster-bench-fleet-'))
console.log(
  `fleet: ${hosts} hosts × ${servicesPerHost} services (${hosts * servicesPerHost}), renewed every ${renewMs / 1000} s with a TTL of ${ttlSeconds} s; ` +
    `${prometheus} Prometheus (${perServer} per scrape server: ${servers} servers) polling http_sd every ${refreshMs / 1000} s; ` +
    `rolling restart of ${restartHosts} hosts in ${restartWindowMs / MIN} min, each down ${downMs / 1000} s; ${serves} serve instance(s)` +
    (short ? ' (short run)' : ''),
)
console.log(
  `load average at the start: ${loadavg()
    .map((l) => fmt(l, 2))
    .join(' ')} (1, 5, 15 min; ${cpus().length} CPUs)`,
)
const tls = makeTlsFiles(dir)
let cluster: EtcdCluster | undefined
const serveList: ServeProcess[] = []
try {
  cluster = await startEtcdCluster(3, {
    tls,
    args: ['--auto-compaction-mode', 'periodic', '--auto-compaction-retention', '5m', '--quota-backend-bytes', String(8 * 1024 ** 3)],
  })
  const registryUrl = cluster.url.replace(/^etcd:/, 'etcds:')
  const etcdOptions = {etcdCa: tls.caFile, etcdCert: tls.clientCertFile, etcdKey: tls.clientKeyFile}
  let started = Date.now()
  const store = await openStore({registry: registryUrl, ...etcdOptions, timeoutMs: 120_000})
  const tokens = {server: [] as string[], host: [] as string[], observer: ''}
  try {
    const registry = new Registry(store)
    for (let k = 0; k < servers; k++) await registry.registerServer(serverName(k), {shard: String(k)})
    const entries = []
    for (let i = 0; i < hosts; i++)
      for (let s = 0; s < servicesPerHost; s++)
        entries.push({name: serviceName(s), endpoints: [hostEndpoint(i, s)], labels: hostLabels(i), ttl: `${ttlSeconds}s`})
    for (let i = 0; i < entries.length; i += 10_000) await registry.importServices(entries.slice(i, i + 10_000), 'bench')
    const authority = await TokenAuthority.open(store)
    for (let k = 0; k < servers; k++)
      tokens.server.push((await authority.create({id: `prometheus-${k}`, role: 'read', namespaces: ['default']})).token)
    // Config management hands a service token to a group of hosts (here: one per 100).
    for (let g = 0; g < Math.ceil(hosts / 100); g++)
      tokens.host.push((await authority.create({id: `hosts-${g}`, role: 'service', namespaces: ['default']})).token)
    tokens.observer = (await authority.create({id: 'observer', role: 'read', namespaces: ['*']})).token
  } finally {
    await store.close()
  }
  console.log(
    `seeded ${servers} servers, ${hosts * servicesPerHost} services and ${tokens.server.length + tokens.host.length + 1} tokens in ${fmt((Date.now() - started) / 1000)} s`,
  )
  started = Date.now()
  for (let n = 0; n < serves; n++)
    serveList.push(
      await startServe({
        registry: registryUrl,
        env: isolatedEnv(),
        nodeArgs: profile ? ['--cpu-prof', `--cpu-prof-dir=${path.join(dir, 'profiles')}`] : [],
        startTimeoutMs: 300_000,
        args: [
          '--tls-cert',
          tls.serverCertFile,
          '--tls-key',
          tls.serverKeyFile,
          '--etcd-ca',
          tls.caFile,
          '--etcd-cert',
          tls.clientCertFile,
          '--etcd-key',
          tls.clientKeyFile,
          '--max-connections',
          String(maxConnections),
        ],
      }),
    )
  console.log(`serve listened in ${fmt((Date.now() - started) / 1000)} s at ${serveList.map((s) => s.url).join(', ')}`)
  const pids: Record<string, number> = {}
  serveList.forEach((s, n) => (pids[`serve ${n}`] = s.child.pid!))
  cluster.members.forEach((m, i) => (pids[`etcd ${i}`] = m.pid))

  const base = {
    serveUrls: serveList.map((s) => s.url),
    caFile: tls.caFile,
    hosts,
    servicesPerHost,
    refreshMs,
    renewMs,
    ttl: `${ttlSeconds}s`,
    downMs,
    serverTokens: tokens.server,
    hostTokens: tokens.host,
    observerToken: tokens.observer,
    hostKeepAlive: process.argv.includes('--host-keep-alive'),
  }
  // Each Prometheus opens its TLS connection at its first poll: the first refresh interval pays
  // every handshake, so the phase with Prometheus alone starts after it.
  const hostsStart = refreshMs + quietMs
  const restartStart = hostsStart + steadyMs
  const end = restartStart + restartWindowMs + downMs + tailMs
  const phases: Phase[] = [
    {name: 'Prometheus connecting (the first poll of each opens its connection)', from: 0, to: refreshMs},
    {name: 'Prometheus alone', from: refreshMs, to: hostsStart},
    {name: 'steady renewals', from: hostsStart, to: restartStart},
    {name: 'rolling restart', from: restartStart, to: restartStart + restartWindowMs + downMs},
    {name: 'after the restart', from: restartStart + restartWindowMs + downMs, to: end},
  ]
  if (mainRun) {
    console.log(`\nsimulating ${fmt(end / MIN)} minutes...`)
    const result = await simulate(
      {
        ...base,
        prometheus,
        prometheusPerServer: perServer,
        restartHosts,
        restartStartMs: restartStart,
        restartWindowMs,
        hostsStartMs: hostsStart,
        endMs: end,
      },
      phases,
      pids,
      cluster,
      serveList,
    )
    const rates = phases.map((p) => printPhase(result, p, cluster!))
    console.log(`client errors: ${errorsOf(result)}`)
    printModel(rates, result.plan)
  }

  // ---- the ramps: more Prometheus, or more renewing hosts, until p99 breaks ----
  const steps = [
    ...rampPrometheus.map((count) => ({prometheus: count, hosts})),
    ...rampHosts.map((count) => ({prometheus, hosts: Math.min(count, hosts)})),
  ]
  for (const step of steps) {
    const per = step.prometheus / servers
    const title = `${step.prometheus} Prometheus (${fmt(per, 2)} per scrape server), ${step.hosts} hosts renewing (${fmt((step.hosts * servicesPerHost) / (renewMs / 1000))} renewals/s)`
    console.log(`\n=== ramp: ${title}, ${fmt(rampMs / MIN)} min ===`)
    const rampPhases: Phase[] = [{name: title, from: Math.min(refreshMs, rampMs / 2), to: rampMs}]
    const r = await simulate(
      {
        ...base,
        hosts: step.hosts,
        prometheus: step.prometheus,
        prometheusPerServer: per,
        restartHosts: 0,
        restartStartMs: rampMs,
        restartWindowMs: 0,
        hostsStartMs: 0,
        endMs: rampMs,
      },
      rampPhases,
      pids,
      cluster,
      serveList,
    )
    const rate = printPhase(r, rampPhases[0]!, cluster)
    console.log(`client errors: ${errorsOf(r)}`)
    if (!(rate.p99 < 1000) || rate.writeP99 >= 5000) {
      console.log(
        `ramp stops: http_sd p99 ${fmt(rate.p99, 0)} ms, writes' p99 ${fmt(rate.writeP99, 0)} ms, serve CPU ${fmt(rate.serveCpu * 100)}% of a core`,
      )
      break
    }
  }
} finally {
  await Promise.all(serveList.map((s) => s.stop()))
  if (profile) printProfiles(path.join(dir, 'profiles'))
  await cluster?.stop()
  rmSync(dir, {recursive: true, force: true})
}

/** serve's CPU profiles (V8's --cpu-prof): the functions with the most self time, whole run. */
function printProfiles(profiles: string): void {
  for (const file of existsSync(profiles) ? readdirSync(profiles) : []) {
    const {nodes, samples} = JSON.parse(readFileSync(path.join(profiles, file), 'utf8')) as {
      nodes: {id: number; callFrame: {functionName: string; url: string; lineNumber: number}}[]
      samples: number[]
    }
    const byNode = new Map(nodes.map((n) => [n.id, n.callFrame]))
    const self = new Map<string, number>()
    for (const id of samples) {
      const f = byNode.get(id)!
      const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(node_modules|dist|src)\//, '$1/')}:${f.lineNumber + 1}`
      self.set(key, (self.get(key) ?? 0) + 1)
    }
    const total = samples.length
    const idle = [...self].filter(([k]) => k.startsWith('(idle)')).reduce((n, [, v]) => n + v, 0)
    console.log(`\nserve's CPU profile ${file}: ${total} samples, ${fmt((100 * (total - idle)) / total)}% not idle; most self time:`)
    for (const [key, n] of [...self]
      .filter(([k]) => !k.startsWith('(idle)'))
      .sort((a, b) => b[1] - a[1])
      .slice(0, 25))
      console.log(`  ${fmt((100 * n) / (total - idle))}%  ${key}`)
  }
}

/**
 * The fleet model with this run's parameters, beside what was measured. H hosts × S services, P
 * Prometheus in groups of p per scrape server (K = P / p servers, each service on one), polling
 * every T s; each service renewed every R s; N serve instances; H_r hosts restarted in W s, each
 * down D s. Every registry write is two etcd puts (the key and its history record), and every
 * serve watches the whole prefix, so each put is a watch event to each serve.
 */
function printModel(rates: PhaseRates[], plan: FleetPlan): void {
  const H = plan.hosts
  const S = plan.servicesPerHost
  const P = plan.prometheus
  const T = plan.refreshMs / 1000
  const R = plan.renewMs / 1000
  const N = serves
  const K = servers
  const W = plan.restartWindowMs / 1000
  const D = plan.downMs / 1000
  const Hr = plan.restartHosts
  const [, quiet, steady, restart] = rates as [PhaseRates, PhaseRates, PhaseRates, PhaseRates, PhaseRates]
  const b = steady.bytesPerPoll / ((H * S) / K)
  const renewals = (H * S) / R
  const restartWrites = renewals * (1 - (Hr / H) * (D / W)) + (2 * S * Hr) / W
  const rows: [string, number, number][] = [
    ['http_sd requests/s = P / T', P / T, steady.polls],
    ['requests/s at serve (steady) = P / T + H·S / R', P / T + renewals, steady.served],
    ['http_sd bytes/s = P / T × (H·S / K) × b = p·H·S·b / T', (P / T) * ((H * S) / K) * b, steady.pollBytes],
    ['writes/s (steady) = H·S / R', renewals, steady.writes],
    ['writes/s committed by etcd (steady, proposals) = H·S / R', renewals, steady.committed],
    ['etcd puts/s (steady) = 2 × committed writes/s', 2 * steady.committed, steady.etcdWrites],
    ['watch events/s sent by etcd (steady) = N × 2 × committed writes/s', N * 2 * steady.committed, steady.etcdEvents],
    ['writes/s (restart) = H·S / R × (1 − (H_r/H)·D/W) + 2·S·H_r / W', restartWrites, restart.writes],
    ['writes/s committed by etcd (restart)', restartWrites, restart.committed],
    ['etcd puts/s (restart) = 2 × committed writes/s', 2 * restart.committed, restart.etcdWrites],
    ['watch events/s (restart) = N × 2 × committed writes/s', N * 2 * restart.committed, restart.etcdEvents],
  ]
  console.log('\n--- the fleet model against this run (steady and restart phases) ---')
  for (const [what, model, measured] of rows)
    console.log(`${what}: model ${fmt(model)}, measured ${fmt(measured)} (${fmt(measured / model, 2)}×)`)
  // serve's CPU per request: a poll from the phase with Prometheus alone, a write from what renewals add to it.
  const perPoll = quiet.serveCpu / Math.max(1e-9, quiet.polls)
  const perWrite = (steady.serveCpu - perPoll * steady.polls) / Math.max(1e-9, steady.committed)
  console.log(
    `b (bytes per target in an answer): ${fmt(b, 0)}; serve CPU ${fmt(quiet.serveCpu * 100)}% with Prometheus alone, ` +
      `${fmt(steady.serveCpu * 100)}% with renewals, ${fmt(restart.serveCpu * 100)}% in the restart`,
  )
  console.log(
    `serve CPU per request: ${fmt(perPoll * 1000, 2)} ms a poll (of ${fmt(steady.bytesPerPoll / 1024)} KiB), ${fmt(perWrite * 1000, 2)} ms a write; ` +
      `one core at this answer size carries ${fmt(1 / perPoll / (1 / T), 0)} Prometheus alone, or ${fmt(1 / perWrite, 0)} writes/s alone ` +
      `(${fmt(R / perWrite / S, 0)} hosts renewing every ${R} s); etcd Range RPCs per committed write (all members): ${fmt(steady.etcdRanges / Math.max(1e-9, steady.committed), 2)}`,
  )
}
