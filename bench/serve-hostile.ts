/**
 * `roster serve` over TLS with its default limits, under each attack of the hostile-client suite
 * (test/support/hostile-clients.ts, in a child process) and with none: the latency of http_sd asked
 * every 100 ms on a new connection (p50, p99, max), of a registration every second, of /healthz
 * and /metrics, serve's peak resident memory and the CPU it used, and what its limits did.
 * Prints figures; asserts nothing.
 *
 *   npm run build && node --import tsx bench/serve-hostile.ts [--seconds 20] [--services 10000]
 */
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {loadavg, tmpdir} from 'node:os'
import path from 'node:path'

import {makeTlsFiles} from '../test/support/test-pki.js'
import {type Attack, type AttackName, startHostileClients} from '../test/support/hostile-clients.js'
import {seedRegistry} from '../test/support/seed-registry.js'
import {type Series, metricValue, once, rssMiB, startMonitor} from '../test/support/serve-monitor.js'
import {createToken, startServe} from '../test/support/serve-server.js'
import {until} from '../test/support/until.js'
import {arg, median, quantile} from './bench-support.js'

const seconds = arg('seconds', 20)
const services = arg('services', 10_000)

const attacks: Array<[string, AttackName | undefined, Omit<Attack, 'name' | 'port' | 'ca'>]> = [
  ['no attack', undefined, {clients: 0, addresses: 1, group: 0}],
  ['5,000 idle TCP connections', 'idle-tcp', {clients: 5000, addresses: 50, group: 10}],
  ['200 clients sending headers a byte a second', 'slow-headers', {clients: 200, addresses: 4, group: 11}],
  ['200 TLS handshakes never finished', 'tls-handshakes', {clients: 200, addresses: 4, group: 12}],
  ['50 clients sending 1 MiB bodies a byte a second', 'slow-bodies', {clients: 50, addresses: 2, group: 13}],
  ['a storm: 250 new connections at once every 2 s', 'storm', {clients: 250, addresses: 10, group: 14, waveMs: 2000}],
  ['a storm: 500 new connections at once every 2 s', 'storm', {clients: 500, addresses: 10, group: 14, waveMs: 2000}],
]

const COUNTERS = [
  'roster_serve_connections_refused_total{reason="max-connections"}',
  'roster_serve_connections_refused_total{reason="max-connections-per-address"}',
  'roster_serve_connections_reused_total{reason="max-connections"}',
  'roster_serve_connections_reused_total{reason="max-connections-per-address"}',
  'roster_serve_timeouts_total{kind="headers"}',
  'roster_serve_timeouts_total{kind="request"}',
  'roster_serve_timeouts_total{kind="tls-handshake"}',
]

const ms = (s: Series) =>
  `p50 ${median(s.latencies).toFixed(0)} ms, p99 ${quantile(s.latencies, 0.99).toFixed(0)} ms, max ${s.maxMs.toFixed(0)} ms` +
  (s.failed ? `, ${s.failed} of ${s.requests} failed (${s.failures[0]})` : '')

const dir = mkdtempSync(path.join(tmpdir(), 'roster-bench-hostile-'))
try {
  const tls = makeTlsFiles(dir)
  const ca = readFileSync(tls.caFile, 'utf8')
  const registry = `sqlite:${path.join(dir, 'registry.db')}`
  await seedRegistry(registry, services)
  const readToken = await createToken(registry, {id: 'prometheus', role: 'read', namespaces: ['*']})
  const serviceToken = await createToken(registry, {id: 'host', role: 'service', namespaces: ['default']})
  const serve = await startServe({registry, args: ['--tls-cert', tls.serverCertFile, '--tls-key', tls.serverKeyFile]})
  const port = Number(new URL(serve.url).port)
  const metrics = async () => (await once(`${serve.url}/metrics`, {ca})).body
  const sdBytes = (await once(`${serve.url}/v1/sd/prom1`, {ca, token: readToken})).body.length
  console.log(
    `roster serve over TLS, default limits; ${services} services on 10 servers; http_sd /v1/sd/prom1 (${sdBytes} bytes) every 100 ms on a new connection; ${seconds} s per attack`,
  )
  console.log(`serve resident memory at start: ${rssMiB(serve.child.pid!).toFixed(0)} MiB; load average ${loadavg()[0]!.toFixed(1)}`)
  try {
    for (const [title, name, attack] of attacks) {
      const before = await metrics()
      const monitor = startMonitor({url: serve.url, ca, readToken, serviceToken, pid: serve.child.pid!, sdPath: '/v1/sd/prom1'})
      const token = name === 'slow-bodies' ? serviceToken : readToken
      const clients = name ? await startHostileClients({name, port, ca, token, ...attack}) : undefined
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
      const counts = await clients?.stop()
      const seen = await monitor.stop()
      const after = await metrics()
      const acted = COUNTERS.map((c) => [c, metricValue(after, c) - metricValue(before, c)] as const)
        .filter(([, n]) => n > 0)
        .map(([c, n]) => `${c.replace(/^roster_serve_/, '')} +${n}`)
      console.log(`\n${title} (load average ${loadavg()[0]!.toFixed(1)}):`)
      console.log(`  http_sd: ${ms(seen.sd)} (${seen.sd.requests} answers)`)
      console.log(
        `  register: ${ms(seen.register)}; /healthz max ${seen.healthz.maxMs.toFixed(0)} ms; /metrics max ${seen.metrics.maxMs.toFixed(0)} ms`,
      )
      console.log(
        `  serve: peak RSS ${seen.rssPeakMiB.toFixed(0)} MiB, CPU ${seen.cpuSeconds.toFixed(1)} s in ${seconds} s, waited for a CPU ${seen.cpuWaitSeconds.toFixed(1)} s`,
      )
      if (counts?.waves.length) {
        console.log(
          `  storm: ${counts.waves.length} waves, each done in median ${median(counts.waves)} ms (max ${Math.max(...counts.waves)} ms); answers ${JSON.stringify(counts.statuses)}`,
        )
      }
      if (acted.length) console.log(`  limits: ${acted.join(', ')}`)
      // Let the last connections close before the next attack.
      await until('the connections closing', async () => metricValue(await metrics(), 'roster_serve_connections') <= 1, {
        timeoutMs: 120_000,
      })
    }
    console.log(`\nserve resident memory at the end: ${rssMiB(serve.child.pid!).toFixed(0)} MiB`)
  } finally {
    await serve.stop()
  }
} finally {
  rmSync(dir, {recursive: true, force: true})
}
