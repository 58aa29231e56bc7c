/**
 * A real Prometheus (Debian's /usr/bin/prometheus) for integration tests: on a free loopback
 * port, with its config and TSDB in a fresh temporary directory removed by `stop()`, short
 * global scrape and evaluation intervals. The scrape configs are the test's (written as JSON,
 * which is YAML). A missing binary throws: the test fails, it never skips.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {freePort} from './free-port.js'

export const PROMETHEUS_BINARY = process.env.ROSTER_TEST_PROMETHEUS ?? '/usr/bin/prometheus'

/**
 * How often a test asks Prometheus whether what it waits for has happened (`until`'s intervalMs).
 * Prometheus hands discovered targets to its scrapers on fixed 5 s ticks and scrapes once a
 * scrape interval (1 s here): asking every 50 ms only adds API requests on both sides.
 */
export const PROMETHEUS_POLL_MS = 250

export interface ActiveTarget {
  labels: Record<string, string>
  discoveredLabels: Record<string, string>
  scrapePool: string
  scrapeUrl: string
  health: 'up' | 'down' | 'unknown'
  lastError: string
}

export interface QuerySample {
  metric: Record<string, string>
  value: [number, string]
}

export interface PrometheusServer {
  /** 'http://127.0.0.1:PORT'. */
  url: string
  /** The temporary directory (config in it, TSDB under it). */
  dir: string
  /** /api/v1/targets: the active targets. */
  activeTargets(): Promise<ActiveTarget[]>
  /** /api/v1/query: an instant vector query's samples. */
  query(expr: string): Promise<QuerySample[]>
  /** The last lines Prometheus logged (for failure messages). */
  log(): string
  stop(): Promise<void>
}

export interface StartPrometheusOptions {
  /** `scrape_configs` entries, as objects (e.g. {job_name, file_sd_configs: [{files: [...]}]}). */
  scrapeConfigs: unknown[]
  /** Global scrape interval. Default '1s'. */
  scrapeInterval?: string
  /** How long to wait for /-/ready. Default 60 s. */
  startTimeoutMs?: number
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url, {signal: AbortSignal.timeout(10_000)})
  const body = (await response.json()) as {status: string; data: T; error?: string}
  if (body.status !== 'success') throw new Error(`${url}: ${body.error ?? response.status}`)
  return body.data
}

export async function startPrometheus(options: StartPrometheusOptions): Promise<PrometheusServer> {
  if (!existsSync(PROMETHEUS_BINARY)) {
    throw new Error(
      `prometheus binary not found at ${PROMETHEUS_BINARY}: install the Debian package prometheus (or set ROSTER_TEST_PROMETHEUS)`,
    )
  }
  const dir = mkdtempSync(join(tmpdir(), 'roster-prometheus-'))
  const interval = options.scrapeInterval ?? '1s'
  const config = {
    global: {scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval},
    scrape_configs: options.scrapeConfigs,
  }
  const configFile = join(dir, 'prometheus.yml')
  writeFileSync(configFile, JSON.stringify(config, null, 2))
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const child: ChildProcess = spawn(
    PROMETHEUS_BINARY,
    [
      `--config.file=${configFile}`,
      `--web.listen-address=127.0.0.1:${port}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      '--log.level=warn',
    ],
    {cwd: dir, stdio: ['ignore', 'ignore', 'pipe']},
  )
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-8000)
  })
  let exited = false
  const exit = new Promise<void>((resolve) =>
    child.on('exit', () => {
      exited = true
      resolve()
    }),
  )
  const removeDir = () => rmSync(dir, {recursive: true, force: true})
  const stop = async (): Promise<void> => {
    if (!exited) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exit
      clearTimeout(timer)
    }
    removeDir()
  }

  const timeout = options.startTimeoutMs ?? 60_000
  const deadline = Date.now() + timeout
  for (;;) {
    if (exited) {
      removeDir()
      throw new Error(`prometheus exited during start-up: ${stderr.trim()}`)
    }
    try {
      const response = await fetch(`${url}/-/ready`, {signal: AbortSignal.timeout(1000)})
      if (response.ok) break
    } catch {
      // not yet listening
    }
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`prometheus at ${url} not ready after ${timeout}ms: ${stderr.trim()}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }

  return {
    url,
    dir,
    activeTargets: async () => (await getJson<{activeTargets: ActiveTarget[]}>(`${url}/api/v1/targets?state=active`)).activeTargets,
    query: async (expr) => {
      const data = await getJson<{resultType: string; result: QuerySample[]}>(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`)
      return data.result
    },
    log: () => stderr,
    stop,
  }
}
