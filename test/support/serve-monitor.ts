/**
 * The well-behaved clients of a `roster serve` under attack, and what they saw: a Prometheus-like
 * client asking for http_sd every 100 ms, a host registering a service every second, and a
 * monitoring system asking for /healthz and /metrics every second; each request on a new TLS
 * connection from 127.0.0.1 (the hostile clients use other loopback addresses), as a client
 * whose idle connection was closed has to. Also serve's resident memory, twice a second.
 *
 * Its pieces are the tests' and benches' one home for reading a process's CPU, memory and page
 * faults from /proc, and for one HTTP(S) request on a new connection (`once`).
 */
import {readFileSync} from 'node:fs'
import {request as httpRequest} from 'node:http'
import {request as httpsRequest} from 'node:https'

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

// What /proc tells of a process (Linux): the one place tests and benches read a process's CPU,
// memory and page faults from. Each reader throws when the process is gone.

/** /proc/PID/stat's fields after the command name in parentheses: field i here is stat(5)'s field i + 3. */
function statFields(pid: number | 'self'): string[] {
  return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
}

/** Clock ticks a second (USER_HZ), the unit of /proc's CPU times. */
const TICKS = 100

/** The resident memory of process `pid`, MiB. */
export function rssMiB(pid: number): number {
  return memoryMiB(pid).rss
}

/**
 * The resident memory of process `pid` (VmRSS), its peak so far (VmHWM), and the resident
 * memory's two parts: anonymous (heaps, buffers: what the process allocated) and file-backed
 * (the executable's and libraries' code), MiB.
 */
export function memoryMiB(pid: number): {rss: number; peak: number; anon: number; file: number} {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN) / 1024
  return {rss: kb('VmRSS'), peak: kb('VmHWM'), anon: kb('RssAnon'), file: kb('RssFile')}
}

/** The CPU time process `pid` has used (user and system), s. */
export function cpuSeconds(pid: number): number {
  const fields = statFields(pid)
  return (Number(fields[11]) + Number(fields[12])) / TICKS
}

/** The CPU time process `pid` has used in the kernel (stime), s. */
export function systemSeconds(pid: number): number {
  return Number(statFields(pid)[12]) / TICKS
}

/** The CPU time (user and system) of the children this process has waited for (cutime and cstime), s. */
export function childCpuSeconds(): number {
  const fields = statFields('self')
  return (Number(fields[13]) + Number(fields[14])) / TICKS
}

/** The minor page faults of process `pid` (minflt): memory it took afresh. */
export function minorFaults(pid: number): number {
  return Number(statFields(pid)[7])
}

/** The parent of process `pid` (ppid). */
export function parentPid(pid: number): number {
  return Number(statFields(pid)[1])
}

/** The time process `pid` has waited for a CPU while ready to run, s (Linux schedstat). */
export function cpuWaitSeconds(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e9
}

export interface OnceOptions {
  /** The CA certificate (PEM) an https URL's server is checked against. */
  ca?: string | Buffer
  method?: string
  token?: string
  body?: string
  localAddress?: string
  /** A bound on the request (10 s): a stuck one fails instead of stopping its caller. */
  timeoutMs?: number
}

export interface OnceAnswer<Body> {
  status: number
  body: Body
  headers: Record<string, string | string[] | undefined>
  /** From the request's start to the last byte, ms. */
  ms: number
  /** From the request's start to the answer's headers, ms (a server that sends once the answer is whole: its work). */
  headersMs: number
}

/** One request on a new connection (http: or https: as the URL says): the status and body as text, or the error. */
export function once(url: string, options: OnceOptions): Promise<OnceAnswer<string>>
/** One request on a new connection, the body as the bytes sent. */
export function once(url: string, options: OnceOptions & {raw: true}): Promise<OnceAnswer<Buffer>>
export function once(url: string, options: OnceOptions & {raw?: boolean}): Promise<OnceAnswer<string | Buffer>> {
  const started = performance.now()
  const timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {}
    if (options.token) headers.authorization = `Bearer ${options.token}`
    if (options.body !== undefined) headers['content-type'] = 'application/json'
    const req = (url.startsWith('https:') ? httpsRequest : httpRequest)(
      url,
      {
        method: options.method ?? 'GET',
        ca: options.ca,
        agent: false,
        headers,
        localAddress: options.localAddress,
        timeout: timeoutMs,
      },
      (res) => {
        const headersMs = performance.now() - started
        const chunks: Buffer[] = []
        res.on('data', (d: Buffer) => chunks.push(d))
        res.once('end', () => {
          const bytes = Buffer.concat(chunks)
          resolve({
            status: res.statusCode ?? 0,
            body: options.raw ? bytes : bytes.toString('utf8'),
            headers: res.headers,
            ms: performance.now() - started,
            headersMs,
          })
        })
        res.once('error', reject)
      },
    )
    req.once('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)))
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
