/**
 * `roster serve` over TLS, with its default limits, under clients that misbehave (hostile-clients.ts,
 * in a process of their own): 5,000 idle TCP connections, 200 clients sending headers a byte a
 * second, 200 TLS handshakes never finished, 50 clients sending 1 MiB bodies a byte a second, and
 * a reconnect storm. Meanwhile a Prometheus-like client asks for http_sd every 100 ms, a host
 * registers a service every second, and /healthz and /metrics are asked every second, each on a
 * new connection (serve-monitor.ts). Each run reports their slowest answer and serve's memory;
 * the one timing bound is the issue's: every answer within 1 s, none failed. After each run,
 * serve must be back where it started: its connections closed, http_sd and registrations
 * answered as before.
 *
 * Each run lasts at least RUN_MS and until the limit it exercises has acted (its counter moved),
 * bounded by RUN_LIMIT_MS. Loopback only. Heavy (about two minutes, several thousand
 * connections): run by `npm run test:hostile` (which .ci/run runs on its own), not by `npm test`
 * on a machine busy with other test files, where the 1 s bound would measure the other files.
 */
import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, test, type TestContext} from 'node:test'

import {makeTlsFiles} from '../support/test-pki.js'
import {type Attack, type AttackName, startHostileClients} from '../support/hostile-clients.js'
import {seedRegistry} from '../support/seed-registry.js'
import {type MonitorReport, metricValue, once, rssMiB, startMonitor} from '../support/serve-monitor.js'
import {createToken, startServe, type ServeProcess} from '../support/serve-server.js'
import {timeUntil, until} from '../support/until.js'

/** The bound on every answer under attack. */
const BOUND_MS = 1000
const RUN_MS = 15_000
const RUN_LIMIT_MS = 120_000
const SERVICES = 10_000

const enabled = process.env.ROSTER_HOSTILE === '1'

describe('serve under hostile clients', {skip: enabled ? false : 'run by npm run test:hostile (ROSTER_HOSTILE=1)'}, () => {
  let dir: string
  let serve: ServeProcess
  let ca: string
  let readToken: string
  let serviceToken: string
  let port: number
  let sdBefore: string

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'roster-hostile-'))
    const tls = makeTlsFiles(dir)
    ca = readFileSync(tls.caFile, 'utf8')
    const registry = `sqlite:${path.join(dir, 'registry.db')}`
    await seedRegistry(registry, SERVICES)
    readToken = await createToken(registry, {id: 'prometheus', role: 'read', namespaces: ['*']})
    serviceToken = await createToken(registry, {id: 'host', role: 'service', namespaces: ['default']})
    serve = await startServe({registry, args: ['--tls-cert', tls.serverCertFile, '--tls-key', tls.serverKeyFile]})
    port = Number(new URL(serve.url).port)
    sdBefore = (await once(`${serve.url}/v1/sd/prom1`, {ca, token: readToken})).body
  })

  after(async () => {
    await serve?.stop()
    rmSync(dir, {recursive: true, force: true})
  })

  const metrics = async (): Promise<string> => (await once(`${serve.url}/metrics`, {ca})).body

  /**
   * Runs `attack` with the monitor, until RUN_MS has passed and `acted` holds of serve's /metrics
   * (the limit did its work); then stops it, checks the bound and the recovery, and reports.
   */
  async function run(
    t: TestContext,
    name: AttackName,
    attack: Omit<Attack, 'name' | 'port' | 'ca'>,
    acted: (now: string, before: string) => boolean,
  ): Promise<MonitorReport> {
    const beforeMetrics = await metrics()
    const monitor = startMonitor({url: serve.url, ca, readToken, serviceToken, pid: serve.child.pid!, sdPath: '/v1/sd/prom1'})
    const started = Date.now()
    const clients = await startHostileClients({name, port, ca, ...attack})
    let seen: MonitorReport
    let actedAfter: number
    try {
      await new Promise((resolve) => setTimeout(resolve, RUN_MS))
      actedAfter = await timeUntil(`the limits acting on ${name}`, async () => acted(await metrics(), beforeMetrics), {
        timeoutMs: RUN_LIMIT_MS,
      })
    } finally {
      const counts = await clients.stop()
      seen = await monitor.stop()
      t.diagnostic(`${name}: clients ${JSON.stringify(counts)}`)
    }
    const during = await metrics()
    const delta = (series: string) => metricValue(during, series) - metricValue(beforeMetrics, series)
    t.diagnostic(
      `${name}: ${Math.round((Date.now() - started) / 1000)} s (limits acted ${actedAfter + RUN_MS} ms in); slowest answers: ` +
        `http_sd ${seen.sd.maxMs.toFixed(0)} ms of ${seen.sd.requests}, register ${seen.register.maxMs.toFixed(0)} ms of ${seen.register.requests}, ` +
        `/healthz ${seen.healthz.maxMs.toFixed(0)} ms, /metrics ${seen.metrics.maxMs.toFixed(0)} ms; ` +
        `serve RSS peak ${seen.rssPeakMiB.toFixed(0)} MiB, CPU ${seen.cpuSeconds.toFixed(1)} s, waited for a CPU ${seen.cpuWaitSeconds.toFixed(1)} s`,
    )
    t.diagnostic(
      `${name}: counters: ${[
        'roster_serve_connections_refused_total{reason="max-connections"}',
        'roster_serve_connections_refused_total{reason="max-connections-per-address"}',
        'roster_serve_connections_reused_total{reason="max-connections"}',
        'roster_serve_connections_reused_total{reason="max-connections-per-address"}',
        'roster_serve_connections_reused_total{reason="probe-connections"}',
        'roster_serve_timeouts_total{kind="headers"}',
        'roster_serve_timeouts_total{kind="request"}',
        'roster_serve_timeouts_total{kind="keep-alive"}',
        'roster_serve_timeouts_total{kind="tls-handshake"}',
        'roster_serve_requests_refused_total{reason="probe-connections"}',
      ]
        .map((s) => `${s.replace(/^roster_serve_/, '')} +${delta(s)}`)
        .join(', ')}`,
    )

    // Recovery: every hostile connection gone, the same answers as before.
    await until('the connections closing', async () => metricValue(await metrics(), 'roster_serve_connections') <= 1, {timeoutMs: 60_000})
    const sdAfter = await once(`${serve.url}/v1/sd/prom1`, {ca, token: readToken})
    assert.equal(sdAfter.status, 200)
    const targets = (body: string) => new Set((JSON.parse(body) as {targets: string[]}[]).flatMap((g) => g.targets))
    const missing = [...targets(sdBefore)].filter((target) => !targets(sdAfter.body).has(target))
    assert.deepEqual(missing, [], 'http_sd answers every target it answered before (and those registered since)')
    const registered = await once(`${serve.url}/v1/services`, {
      ca,
      method: 'POST',
      token: serviceToken,
      body: JSON.stringify({name: 'after', namespace: 'default', endpoints: [`http://after-${name}.example.com:9100/metrics`]}),
    })
    assert.ok(registered.status < 300, `register after ${name}: ${registered.status} ${registered.body}`)
    t.diagnostic(`${name}: serve RSS after the run ${rssMiB(serve.child.pid!).toFixed(0)} MiB`)

    for (const [what, s] of Object.entries({
      http_sd: seen.sd,
      register: seen.register,
      '/healthz': seen.healthz,
      '/metrics': seen.metrics,
    })) {
      assert.equal(s.failed, 0, `${what} under ${name}: ${s.failed} of ${s.requests} failed: ${s.failures.join('; ')}`)
      assert.ok(
        s.maxMs <= BOUND_MS,
        `${what} under ${name}: slowest answer ${s.maxMs.toFixed(0)} ms (bound ${BOUND_MS} ms); serve used ${seen.cpuSeconds.toFixed(1)} s of CPU ` +
          `and waited ${seen.cpuWaitSeconds.toFixed(1)} s for one (other processes' load)`,
      )
      assert.ok(s.requests > 0, `${what} was asked under ${name}`)
    }
    return seen
  }

  const moved =
    (series: string, by = 1) =>
    (now: string, before: string) =>
      metricValue(now, series) - metricValue(before, series) >= by

  test('5,000 idle TCP connections: the oldest make room for new ones, the rest time out in their TLS handshake', async (t) => {
    await run(t, 'idle-tcp', {clients: 5000, addresses: 50, group: 10}, (now, before) => {
      const limited =
        metricValue(now, 'roster_serve_connections_refused_total{reason="max-connections"}') +
        metricValue(now, 'roster_serve_connections_reused_total{reason="max-connections"}') -
        metricValue(before, 'roster_serve_connections_refused_total{reason="max-connections"}') -
        metricValue(before, 'roster_serve_connections_reused_total{reason="max-connections"}')
      return limited > 0 && moved('roster_serve_timeouts_total{kind="tls-handshake"}')(now, before)
    })
  })

  test('200 clients sending headers a byte a second are closed by the headers timeout', async (t) => {
    await run(t, 'slow-headers', {clients: 200, addresses: 4, group: 11}, moved('roster_serve_timeouts_total{kind="headers"}', 200))
  })

  test('200 TLS handshakes never finished (half stalled, half a byte a second) are closed by the handshake timeout', async (t) => {
    await run(t, 'tls-handshakes', {clients: 200, addresses: 4, group: 12}, moved('roster_serve_timeouts_total{kind="tls-handshake"}', 200))
  })

  test('50 clients sending 1 MiB bodies a byte a second are closed by the request timeout', async (t) => {
    await run(
      t,
      'slow-bodies',
      {clients: 50, addresses: 2, group: 13, token: serviceToken},
      moved('roster_serve_timeouts_total{kind="request"}', 50),
    )
  })

  test('a reconnect storm: waves of 250 clients connecting at once, each asking http_sd', async (t) => {
    const seen = await run(t, 'storm', {clients: 250, addresses: 10, group: 14, token: readToken, waveMs: 2000}, () => true)
    assert.ok(seen.sd.requests > 0)
  })
})
