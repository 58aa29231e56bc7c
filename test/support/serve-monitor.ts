/**
 * The well-behaved clients of a `roster serve` under attack, and what they saw: a Prometheus-like
 * client asking for http_sd every 100 ms, a host registering a service every second, and a
 * monitoring system asking for /healthz and /metrics every second; each request on a new TLS
 * connection from 127.0.0.1 (the hostile clients use other loopback addresses), as a client
 * whose idle connection was closed has to. Also serve's resident memory, twice a second.
 */
import {readFileSync} from 'node:fs'
import {request} from 'node:https'

export interface MonitorOptions {
  /** serve's https://127.0.0.1:PORT */
  url: string
  /** serve's CA certificate (PEM). */
  ca: string
  /** A read token, for http_sd. */
  readToken: string
  /** A service token for namespace default, to register with. */
  serviceToken: string
  /** serve's process id, for its memory. */
  pid: number
  /** The http_sd path the Prometheus-like client asks for. */
  sdPath: string
}

export interface Series {
  requests: number
  /** The slowest answer, ms (a failure counts as its time to fail). */
  maxMs: number
  /** Every answer's time, ms, in order. */
  latencies: number[]
  /** The first few failures: a status other than expected, or a connection error. */
  failures: string[]
  failed: number
}

export interface MonitorReport {
  sd: Series
  register: Series
  healthz: Series
  metrics: Series
  rssPeakMiB: number
  /** CPU time serve used meanwhile (user and system), s. */
  cpuSeconds: number
  /**
   * Time serve was ready to run but waited for a CPU meanwhile, s: when it is large, other
   * processes on the machine took serve's CPU, and latencies measure them.
   */
  cpuWaitSeconds: number
}

/** A bound on one request, so that a stuck one counts as a failure instead of stopping the client. */
const REQUEST_TIMEOUT_MS = 10_000

/** The resident memory of process `pid`, MiB. */
export function rssMiB(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN)
  return kb / 1024
}

/** The CPU time process `pid` has used (user and system), s. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** The time process `pid` has waited for a CPU while ready to run, s (Linux schedstat). */
export function cpuWaitSeconds(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e9
}

/** One request on a new connection: the status and body, or the error. */
export function once(
  url: string,
  options: {ca: string; method?: string; token?: string; body?: string; localAddress?: string},
): Promise<{status: number; body: string; headers: Record<string, string | string[] | undefined>}> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {}
    if (options.token) headers.authorization = `Bearer ${options.token}`
    if (options.body !== undefined) headers['content-type'] = 'application/json'
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        ca: options.ca,
        agent: false,
        headers,
        localAddress: options.localAddress,
        timeout: REQUEST_TIMEOUT_MS,
      },
      (res) => {
        let body = ''
        res.setEncoding('utf8').on('data', (d: string) => (body += d))
        res.once('end', () => resolve({status: res.statusCode ?? 0, body, headers: res.headers}))
        res.once('error', reject)
      },
    )
    req.once('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)))
    req.once('error', reject)
    req.end(options.body)
  })
}

export function startMonitor(o: MonitorOptions): {stop(): Promise<MonitorReport>} {
  let running = true
  const series = (): Series => ({requests: 0, maxMs: 0, latencies: [], failures: [], failed: 0})
  const report: MonitorReport = {
    sd: series(),
    register: series(),
    healthz: series(),
    metrics: series(),
    rssPeakMiB: 0,
    cpuSeconds: 0,
    cpuWaitSeconds: 0,
  }
  const cpuBefore = cpuSeconds(o.pid)
  const waitBefore = cpuWaitSeconds(o.pid)
  let registered = 0
  const loop = async (s: Series, everyMs: number, ask: () => Promise<{status: number; body: string}>, ok: (status: number) => boolean) => {
    while (running) {
      const started = performance.now()
      let failure: string | undefined
      try {
        const {status, body} = await ask()
        if (!ok(status)) failure = `${status} ${body.slice(0, 200)}`
      } catch (error) {
        failure = (error as NodeJS.ErrnoException).code ?? (error as Error).message
      }
      const ms = performance.now() - started
      s.requests++
      s.maxMs = Math.max(s.maxMs, ms)
      s.latencies.push(ms)
      if (failure !== undefined) {
        s.failed++
        if (s.failures.length < 5) s.failures.push(failure)
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, everyMs - ms)))
    }
  }
  const loops = [
    loop(
      report.sd,
      100,
      () => once(`${o.url}${o.sdPath}`, {ca: o.ca, token: o.readToken}),
      (s) => s === 200,
    ),
    loop(
      report.register,
      1000,
      () =>
        once(`${o.url}/v1/services`, {
          ca: o.ca,
          method: 'POST',
          token: o.serviceToken,
          body: JSON.stringify({
            name: 'monitor',
            namespace: 'default',
            endpoints: [`http://monitor-${++registered}.example.com:9100/metrics`],
          }),
        }),
      (s) => s === 200 || s === 201,
    ),
    loop(
      report.healthz,
      1000,
      () => once(`${o.url}/healthz`, {ca: o.ca}),
      (s) => s === 200,
    ),
    loop(
      report.metrics,
      1000,
      () => once(`${o.url}/metrics`, {ca: o.ca}),
      (s) => s === 200,
    ),
  ]
  const memory = setInterval(() => (report.rssPeakMiB = Math.max(report.rssPeakMiB, rssMiB(o.pid))), 500)
  report.rssPeakMiB = rssMiB(o.pid)
  return {
    async stop() {
      running = false
      clearInterval(memory)
      await Promise.all(loops)
      report.cpuSeconds = cpuSeconds(o.pid) - cpuBefore
      report.cpuWaitSeconds = cpuWaitSeconds(o.pid) - waitBefore
      return report
    },
  }
}

/** One series of serve's /metrics (labels as written, e.g. `{kind="headers"}`), or 0 when absent. */
export function metricValue(text: string, name: string): number {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const m = new RegExp(`^${escaped} (\\S+)$`, 'm').exec(text)
  return m ? Number(m[1]) : 0
}
