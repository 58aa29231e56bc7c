/**
 * kube metrics-proxy at scale: 200 pods of 1,000 series each (10 counter families × 100 series),
 * served by one request handler listening on 200 loopback addresses (127.0.1.1–127.0.1.200). The
 * proxy runs as the built CLI; REQUESTS sequential GET /metrics give the latency p50/p99, the
 * proxy's peak RSS (VmHWM) and the answer's size.
 * Prints figures; asserts nothing. Run: npm run build && node --import tsx bench/metrics-proxy.ts
 * BENCH_BIN=<another build's bin/run.js> runs that build instead, to compare two builds under the
 * same load; the figures then name it.
 */
import {spawn} from 'node:child_process'
import {createServer, type Server} from 'node:http'

import {BIN, isolatedEnv} from '../test/support/cli.js'
import {freePort} from '../test/support/free-port.js'
import {startKubeApiServer} from '../test/support/kube-api-server.js'
import {makePod} from '../test/support/pod-fixtures.js'
import {memoryMiB} from '../test/support/serve-monitor.js'
import {until} from '../test/support/until.js'
import {quantile} from './bench-support.js'

const PODS = Number(process.env.BENCH_PODS ?? 200)
const SERIES = Number(process.env.BENCH_SERIES ?? 1000)
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 30)
/** A sidecar's memory limit: the proxy's peak resident memory must fit in it. */
const PEAK_TARGET_MIB = 128
const bin = process.env.BENCH_BIN ?? BIN

const families = 10
const lines: string[] = []
for (let f = 0; f < families; f++) {
  lines.push(`# HELP bench_family_${f}_total Family ${f}.`, `# TYPE bench_family_${f}_total counter`)
  for (let s = 0; s < SERIES / families; s++) lines.push(`bench_family_${f}_total{series="s${s}",code="200"} ${s * 17 + f}`)
}
const body = `${lines.join('\n')}\n`
const handler = (_req: unknown, res: import('node:http').ServerResponse): void => {
  res.writeHead(200, {'content-type': 'text/plain; version=0.0.4'}).end(body)
}

const servers: Server[] = []
const port = await freePort()
for (let i = 1; i <= PODS; i++) {
  const server = createServer(handler)
  await new Promise<void>((resolve) => server.listen(port, `127.0.1.${i}`, () => resolve()))
  servers.push(server)
}
const api = await startKubeApiServer({
  pods: Array.from({length: PODS}, (_, i) => makePod({name: `pod-${i + 1}`, namespace: 'bench', ip: `127.0.1.${i + 1}`, port})),
})
const listen = await freePort()
const proxy = spawn(
  process.execPath,
  [bin, 'kube', 'metrics-proxy', '--listen', `127.0.0.1:${listen}`, '--kubeconfig', api.kubeconfigPath()],
  {
    env: isolatedEnv() as NodeJS.ProcessEnv,
    stdio: ['ignore', 'ignore', 'pipe'],
  },
)
const exited = new Promise<number | null>((resolve) => proxy.on('close', (code) => resolve(code)))

try {
  const base = `http://127.0.0.1:${listen}`
  await until('the proxy healthy', async () => (await fetch(`${base}/healthz`)).status === 200, {timeoutMs: 120_000})
  const idleRss = memoryMiB(proxy.pid!).rss
  const ms: number[] = []
  let bytes = 0
  let samples = 0
  let ups = 0
  for (let i = 0; i < REQUESTS; i++) {
    const t = performance.now()
    const text = await (await fetch(`${base}/metrics`)).text()
    ms.push(performance.now() - t)
    bytes = text.length
    samples = text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length
    ups = (text.match(/^up\{.*\} 1$/gm) ?? []).length
  }
  const hwm = memoryMiB(proxy.pid!).peak
  console.log(`${PODS} pods × ${SERIES} series: ${samples} samples (${(bytes / 1e6).toFixed(1)} MB) per answer, up=1 for ${ups} pods`)
  console.log(
    `latency over ${REQUESTS} requests: p50 ${quantile(ms, 0.5).toFixed(0)} ms, p99 ${quantile(ms, 0.99).toFixed(0)} ms (min ${Math.min(...ms).toFixed(0)} ms); ` +
      `target: p99 no worse than the proxy that held every answer whole (491 ms on the development machine; BENCH_BIN=<its bin/run.js> measures it on this one)`,
  )
  console.log(
    `proxy RSS idle (pods listed, nothing scraped): ${idleRss.toFixed(0)} MiB; peak RSS: ${hwm.toFixed(0)} MiB; target ≤ ${PEAK_TARGET_MIB} MiB: ${hwm <= PEAK_TARGET_MIB ? 'met' : 'NOT MET'}`,
  )
} finally {
  proxy.kill('SIGTERM')
  console.log(`proxy exit on SIGTERM: ${await exited}`)
  for (const s of servers) s.close()
  await api.stop()
}
