/**
 * A real node_exporter (Debian's /usr/bin/prometheus-node-exporter) on a free loopback port,
 * with the default collectors off and only `loadavg` on, so a scrape is fast and cheap.
 * A missing binary throws: the test fails, it never skips.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {existsSync} from 'node:fs'
import {freePort} from './free-port.js'

export const NODE_EXPORTER_BINARY = process.env.ROSTER_TEST_NODE_EXPORTER ?? '/usr/bin/prometheus-node-exporter'

export interface NodeExporter {
  /** '127.0.0.1:PORT'. */
  hostPort: string
  /** 'http://127.0.0.1:PORT/metrics'. */
  metricsUrl: string
  stop(): Promise<void>
}

export async function startNodeExporter(o: {startTimeoutMs?: number} = {}): Promise<NodeExporter> {
  if (!existsSync(NODE_EXPORTER_BINARY)) {
    throw new Error(
      `node_exporter binary not found at ${NODE_EXPORTER_BINARY}: install the Debian package prometheus-node-exporter (or set ROSTER_TEST_NODE_EXPORTER)`,
    )
  }
  const port = await freePort()
  const hostPort = `127.0.0.1:${port}`
  const metricsUrl = `http://${hostPort}/metrics`
  const child: ChildProcess = spawn(
    NODE_EXPORTER_BINARY,
    [`--web.listen-address=${hostPort}`, '--collector.disable-defaults', '--collector.loadavg', '--log.level=warn'],
    {stdio: ['ignore', 'ignore', 'pipe']},
  )
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
  const timeout = o.startTimeoutMs ?? 30_000
  const deadline = Date.now() + timeout
  for (;;) {
    if (exited) throw new Error(`node_exporter exited during start-up: ${stderr.trim()}`)
    try {
      const response = await fetch(metricsUrl, {signal: AbortSignal.timeout(1000)})
      if (response.ok && (await response.text()).includes('node_load1')) break
    } catch {
      // not yet listening
    }
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`node_exporter at ${hostPort} not serving after ${timeout}ms: ${stderr.trim()}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return {hostPort, metricsUrl, stop}
}
