/**
 * The simulated fleet's clients for bench/fleet.ts, run in a few child processes (each takes a
 * slice of the Prometheus servers or of the hosts), not one process per client:
 *
 * - a Prometheus polls `GET /v1/sd/{server}` every refresh interval from a phase of its own
 *   (uniform over the interval, as a fleet of Prometheus servers started at different times
 *   is), on one keep-alive TLS connection from a loopback address of its own (Go's HTTP client
 *   keeps its connection; Prometheus asks for no compression);
 * - a host renews each of its services (`POST /v1/services` with a TTL) on a timer with a random
 *   phase and ±5% jitter (a systemd timer with RandomizedDelaySec), each call on a new TLS
 *   connection, as the `roster service register` process of a unit does; a host in the rolling
 *   restart unregisters its services when it stops and registers them when it starts, and then
 *   asks the http_sd of the server each service went to until the change is there (register →
 *   visible, unregister → gone).
 *
 * Every request's start, duration, size and status go back to the parent in one message.
 */
import {readFileSync} from 'node:fs'
import {Agent, request} from 'node:https'

import {sleep} from '../src/lib/store/retry.js'

export interface FleetPlan {
  /** roster serve URLs; Prometheus j and host i use instance j (or i) modulo their number. */
  serveUrls: string[]
  caFile: string
  hosts: number
  servicesPerHost: number
  prometheus: number
  /** Prometheus servers polling the same scrape server (an HA pair: 2); server k is `prom-${k}`. */
  prometheusPerServer: number
  refreshMs: number
  renewMs: number
  /** The TTL every registration asks for (the duration grammar: 15m). */
  ttl: string
  /** Hosts in the rolling restart, each stopping at its turn within the window. */
  restartHosts: number
  restartStartMs: number
  restartWindowMs: number
  /** How long a restarting host is down between its unregister and its register. */
  downMs: number
  /** When the hosts' renewals start (before: Prometheus polls alone). */
  hostsStartMs: number
  endMs: number
  /** Epoch ms of the simulation's time 0; every time above is counted from it. */
  t0: number
  /** A read token per scrape server (what its Prometheus pair shares). */
  serverTokens: string[]
  /** Service tokens, host i uses hostTokens[i % length]. */
  hostTokens: string[]
  /** A read token for every namespace, for the visibility probes. */
  observerToken: string
  /** Hosts keep their connection between calls (the CLI does not: each call is a new process). */
  hostKeepAlive: boolean
}

export interface ClientTask {
  plan: FleetPlan
  role: 'prometheus' | 'hosts'
  /** The slice [from, to) of Prometheus servers or hosts this process runs. */
  from: number
  to: number
}

/** Flattened records, RECORD fields each, times in ms from t0. */
export interface ClientReport {
  role: ClientTask['role']
  /** Prometheus polls: start, ms, bytes, status, new connection (1/0). */
  polls: number[]
  /** Host calls: start, ms, status, kind (CALL_KINDS index). */
  calls: number[]
  /** Visibility probes: start (the write's answer), ms, http_sd requests it took, kind (0 appear, 1 gone; -ms: never within the bound). */
  visible: number[]
  errors: Record<string, number>
}

export const POLL_FIELDS = 5
export const CALL_FIELDS = 4
export const VISIBLE_FIELDS = 4
export const CALL_KINDS = ['renew', 'unregister', 'register'] as const
/** How long a probe waits for a change to show before it gives up (recorded as never). */
const VISIBLE_BOUND_MS = 30_000

const SERVICE_NAMES = ['node', 'app', 'process', 'cadvisor', 'blackbox', 'postgres', 'redis', 'nginx']

/** Scrape server k's name. */
export function serverName(k: number): string {
  return `prom-${k}`
}

/** Host i's endpoint for its service s (host names carry a data centre and a rack, as fleets name them). */
export function hostEndpoint(i: number, s: number): string {
  return `http://host-${i}.r${Math.floor(i / 40)}.dc${i % 3}.example.com:${9100 + s}/metrics`
}

export function serviceName(s: number): string {
  return SERVICE_NAMES[s % SERVICE_NAMES.length]! + (s >= SERVICE_NAMES.length ? String(s) : '')
}

export function hostLabels(i: number): Record<string, string> {
  return {dc: `dc${i % 3}`, rack: `r${Math.floor(i / 40)}`}
}

/** A loopback source address of its own for client i of a kind (127.KIND.x.y; Linux answers all of 127/8). */
function sourceAddress(kind: number, i: number): string {
  return `127.${kind}.${Math.floor(i / 250)}.${(i % 250) + 1}`
}

/**
 * Host i's turn in the rolling restart (0..hosts-1), spread over the fleet by a multiplicative
 * permutation so that the restarted hosts are not one block of racks; below restartHosts restarts.
 */
export function restartRank(i: number, hosts: number): number {
  let a = 7919
  while (gcd(a, hosts) !== 1) a += 2
  return (i * a) % hosts
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b)
}

interface Answer {
  status: number
  bytes: number
  body?: string
  reused: boolean
}

interface CallOptions {
  method?: string
  token: string
  body?: unknown
  agent: Agent
  localAddress: string
  keepBody?: boolean
}

/** One HTTPS request; a reused keep-alive connection that the server had closed is retried once on a new one, as Go's client does. */
async function call(url: string, options: CallOptions, ca: Buffer, retried = false): Promise<Answer> {
  try {
    return await once(url, options, ca)
  } catch (error) {
    const e = error as NodeJS.ErrnoException & {reused?: boolean}
    if (!retried && e.reused && (e.code === 'ECONNRESET' || e.code === 'EPIPE')) return call(url, options, ca, true)
    throw error
  }
}

function once(url: string, options: CallOptions, ca: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = options.body === undefined ? undefined : JSON.stringify(options.body)
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        agent: options.agent,
        ca,
        localAddress: options.localAddress,
        timeout: 30_000,
        headers: {
          authorization: `Bearer ${options.token}`,
          accept: 'application/json',
          ...(body === undefined ? {} : {'content-type': 'application/json', 'content-length': Buffer.byteLength(body)}),
        },
      },
      (res) => {
        let bytes = 0
        const chunks: Buffer[] = []
        res.on('data', (d: Buffer) => {
          bytes += d.length
          if (options.keepBody) chunks.push(d)
        })
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            bytes,
            body: options.keepBody ? Buffer.concat(chunks).toString('utf8') : undefined,
            reused: req.reusedSocket,
          }),
        )
        res.on('error', reject)
      },
    )
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), {code: 'ETIMEDOUT'})))
    req.on('error', (error) => reject(Object.assign(error, {reused: req.reusedSocket})))
    req.end(body)
  })
}

/** Waits until `t` (ms since the epoch); at once when it has passed (a negative timeout warns). */
const sleepUntil = (t: number) => sleep(Math.max(0, t - Date.now()))

async function runPrometheus(task: ClientTask, report: ClientReport, ca: Buffer, count: (e: unknown) => void): Promise<void> {
  const {plan} = task
  const at = (ms: number) => plan.t0 + ms
  const one = async (j: number): Promise<void> => {
    const k = Math.floor(j / plan.prometheusPerServer)
    const agent = new Agent({keepAlive: true, maxSockets: 1, ca})
    const url = `${plan.serveUrls[j % plan.serveUrls.length]}/v1/sd/${serverName(k)}`
    const options: CallOptions = {token: plan.serverTokens[k]!, agent, localAddress: sourceAddress(1, j)}
    for (let next = Math.random() * plan.refreshMs; next < plan.endMs; next += plan.refreshMs) {
      await sleepUntil(at(next))
      const started = Date.now()
      try {
        const answer = await call(url, options, ca)
        report.polls.push(started - plan.t0, Date.now() - started, answer.bytes, answer.status, answer.reused ? 0 : 1)
      } catch (error) {
        report.polls.push(started - plan.t0, Date.now() - started, 0, 0, 1)
        count(error)
      }
    }
    agent.destroy()
  }
  await Promise.all(Array.from({length: task.to - task.from}, (_, n) => one(task.from + n)))
}

async function runHosts(task: ClientTask, report: ClientReport, ca: Buffer, count: (e: unknown) => void): Promise<void> {
  const {plan} = task
  const at = (ms: number) => plan.t0 + ms
  const agent = new Agent({keepAlive: plan.hostKeepAlive, ca, maxSockets: Infinity})
  const probeAgent = new Agent({keepAlive: true, maxSockets: 16, ca})
  const record = (started: number, status: number, kind: (typeof CALL_KINDS)[number]) =>
    report.calls.push(started - plan.t0, Date.now() - started, status, CALL_KINDS.indexOf(kind))

  /** From the write's answer until the server's http_sd shows the change (appear) or no longer shows the target (gone). */
  const probe = async (instance: number, server: string, endpoint: string, kind: 0 | 1, answered: number): Promise<void> => {
    const url = `${plan.serveUrls[(instance + 1) % plan.serveUrls.length]}/v1/sd/${server}`
    const needle = `"${new URL(endpoint).host}"`
    const options: CallOptions = {token: plan.observerToken, agent: probeAgent, localAddress: '127.3.0.1', keepBody: true}
    for (let tries = 1; ; tries++) {
      try {
        const answer = await call(url, options, ca)
        if (answer.status === 200 && answer.body!.includes(needle) === (kind === 0)) {
          report.visible.push(answered - plan.t0, Date.now() - answered, tries, kind)
          return
        }
      } catch (error) {
        count(error)
      }
      if (Date.now() - answered > VISIBLE_BOUND_MS) {
        report.visible.push(answered - plan.t0, -(Date.now() - answered), tries, kind)
        return
      }
      await sleep(5)
    }
  }

  const write = async (i: number, s: number, kind: (typeof CALL_KINDS)[number], measure: boolean): Promise<void> => {
    const instance = i % plan.serveUrls.length
    const endpoint = hostEndpoint(i, s)
    const base = plan.serveUrls[instance]!
    const options: CallOptions = {
      token: plan.hostTokens[i % plan.hostTokens.length]!,
      agent,
      localAddress: sourceAddress(2, i),
      method: 'POST',
      keepBody: true,
      body:
        kind === 'unregister' ? {refs: [endpoint]} : {name: serviceName(s), endpoints: [endpoint], labels: hostLabels(i), ttl: plan.ttl},
    }
    const started = Date.now()
    let answer: Answer
    try {
      answer = await call(kind === 'unregister' ? `${base}/v1/services/unregister` : `${base}/v1/services`, options, ca)
    } catch (error) {
      record(started, 0, kind)
      count(error)
      return
    }
    record(started, answer.status, kind)
    if (answer.status !== 200) {
      count(new Error(`${kind} answered ${answer.status}: ${answer.body?.slice(0, 200) ?? ''}`))
      return
    }
    if (!measure) return
    const answered = Date.now()
    const parsed = JSON.parse(answer.body!) as {services?: {servers: string[]}[]; removed?: {servers: string[]}[]}
    const server = (kind === 'register' ? parsed.services?.[0] : parsed.removed?.[0])?.servers?.[0]
    if (server) await probe(instance, server, endpoint, kind === 'register' ? 0 : 1, answered)
  }

  const one = async (i: number): Promise<void> => {
    const rank = restartRank(i, plan.hosts)
    const restarts = rank < plan.restartHosts
    const stopAt = plan.restartStartMs + (rank * plan.restartWindowMs) / Math.max(1, plan.restartHosts)
    const startAt = stopAt + plan.downMs
    const services = Array.from({length: plan.servicesPerHost}, (_, s) => s)
    let next = plan.hostsStartMs + Math.random() * plan.renewMs
    let restarted = !restarts
    for (;;) {
      const event = !restarted && stopAt < next ? stopAt : next
      if (event >= plan.endMs) break
      await sleepUntil(at(event))
      if (event === stopAt && !restarted) {
        restarted = true
        // ExecStopPost, then the host is down; ExecStartPost when it is back; its timer starts anew.
        await Promise.all(services.map((s) => write(i, s, 'unregister', true)))
        await sleepUntil(at(startAt))
        await Promise.all(services.map((s) => write(i, s, 'register', true)))
        next = Math.max(next, startAt + plan.renewMs * (0.95 + Math.random() * 0.1))
        continue
      }
      await Promise.all(services.map((s) => write(i, s, 'renew', false)))
      next += plan.renewMs * (0.95 + Math.random() * 0.1)
    }
  }
  await Promise.all(Array.from({length: task.to - task.from}, (_, n) => one(task.from + n)))
  agent.destroy()
  probeAgent.destroy()
}

/** Runs a task in this process; what the parent gets back. */
export async function runClients(task: ClientTask): Promise<ClientReport> {
  const ca = readFileSync(task.plan.caFile)
  const report: ClientReport = {role: task.role, polls: [], calls: [], visible: [], errors: {}}
  const count = (error: unknown) => {
    const e = error as NodeJS.ErrnoException
    const key = e.code ?? e.message?.slice(0, 120) ?? String(error)
    report.errors[key] = (report.errors[key] ?? 0) + 1
  }
  if (task.role === 'prometheus') await runPrometheus(task, report, ca, count)
  else await runHosts(task, report, ca, count)
  return report
}

// As a child of bench/fleet.ts: one task in, one report out.
if (process.send && process.argv.includes('--fleet-clients')) {
  process.once('message', (task: ClientTask) => {
    void runClients(task).then(
      (report) => process.send!(report, () => process.exit(0)),
      (error: unknown) => {
        console.error(error)
        process.exit(1)
      },
    )
  })
}
