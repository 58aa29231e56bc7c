/**
 * Real Prometheus exporters from Debian's packages, on free loopback ports, for integration tests:
 * - node_exporter (/usr/bin/prometheus-node-exporter) with the default collectors off and only
 *   `loadavg` on, so a scrape is fast and cheap;
 * - the blackbox exporter (/usr/bin/prometheus-blackbox-exporter) with one module, `http_2xx`,
 *   for the docs' blackbox scrape configs.
 * A missing binary throws: the test fails, it never skips.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {freePort} from './free-port.js'

export const NODE_EXPORTER_BINARY = process.env.ROSTER_TEST_NODE_EXPORTER ?? '/usr/bin/prometheus-node-exporter'
export const BLACKBOX_EXPORTER_BINARY = process.env.ROSTER_TEST_BLACKBOX_EXPORTER ?? '/usr/bin/prometheus-blackbox-exporter'

export interface NodeExporter {
  /** '127.0.0.1:PORT'. */
  hostPort: string
  /** 'http://127.0.0.1:PORT/metrics'. */
  metricsUrl: string
  stop(): Promise<void>
}

export type BlackboxExporter = NodeExporter

export function startNodeExporter(o: {startTimeoutMs?: number} = {}): Promise<NodeExporter> {
  return startExporter({
    name: 'node_exporter',
    binary: NODE_EXPORTER_BINARY,
    debianPackage: 'prometheus-node-exporter',
    envName: 'ROSTER_TEST_NODE_EXPORTER',
    args: (hostPort) => [`--web.listen-address=${hostPort}`, '--collector.disable-defaults', '--collector.loadavg', '--log.level=warn'],
    readyText: 'node_load1',
    startTimeoutMs: o.startTimeoutMs,
  })
}

/** The blackbox exporter with the module `http_2xx` (an HTTP GET answered 2xx); its config in a temporary directory. */
export async function startBlackboxExporter(o: {startTimeoutMs?: number} = {}): Promise<BlackboxExporter> {
  const dir = mkdtempSync(path.join(tmpdir(), 'roster-blackbox-'))
  const config = path.join(dir, 'blackbox.yml')
  writeFileSync(config, JSON.stringify({modules: {http_2xx: {prober: 'http', timeout: '5s'}}}))
  try {
    const exporter = await startExporter({
      name: 'blackbox exporter',
      binary: BLACKBOX_EXPORTER_BINARY,
      debianPackage: 'prometheus-blackbox-exporter',
      envName: 'ROSTER_TEST_BLACKBOX_EXPORTER',
      args: (hostPort) => [`--config.file=${config}`, `--web.listen-address=${hostPort}`, '--log.level=warn'],
      readyText: 'blackbox_exporter_config_last_reload_successful 1',
      startTimeoutMs: o.startTimeoutMs,
    })
    return {...exporter, stop: () => exporter.stop().finally(() => rmSync(dir, {recursive: true, force: true}))}
  } catch (error) {
    rmSync(dir, {recursive: true, force: true})
    throw error
  }
}

interface ExporterSpec {
  name: string
  binary: string
  debianPackage: string
  envName: string
  args: (hostPort: string) => string[]
  /** Text its /metrics holds once it serves. */
  readyText: string
  startTimeoutMs?: number
}

async function startExporter(spec: ExporterSpec): Promise<NodeExporter> {
  if (!existsSync(spec.binary)) {
    throw new Error(
      `${spec.name} binary not found at ${spec.binary}: install the Debian package ${spec.debianPackage} (or set ${spec.envName})`,
    )
  }
  const port = await freePort()
  const hostPort = `127.0.0.1:${port}`
  const metricsUrl = `http://${hostPort}/metrics`
  const child: ChildProcess = spawn(spec.binary, spec.args(hostPort), {stdio: ['ignore', 'ignore', 'pipe']})
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000)
  })
  let exited = false
  const exit = new Promise<void>((resolve) =>
    child.on('exit', () => {
      exited = true
      resolve()
    }),
  )
  const stop = async (): Promise<void> => {
    if (exited) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exit
    clearTimeout(timer)
  }
  const timeout = spec.startTimeoutMs ?? 30_000
  const deadline = Date.now() + timeout
  for (;;) {
    if (exited) throw new Error(`${spec.name} exited during start-up: ${stderr.trim()}`)
    try {
      const response = await fetch(metricsUrl, {signal: AbortSignal.timeout(1000)})
      if (response.ok && (await response.text()).includes(spec.readyText)) break
    } catch {
      // not yet listening
    }
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`${spec.name} at ${hostPort} not serving after ${timeout}ms: ${stderr.trim()}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return {hostPort, metricsUrl, stop}
}
