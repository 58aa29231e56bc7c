/**
 * End to end, http_sd: `roster serve` on loopback with TLS (a CA made with openssl), a real
 * node_exporter registered by `roster service register` in remote mode, configured only by
 * ROSTER_* variables and a `service` token, and a real Prometheus whose http_sd_configs point at
 * GET /v1/sd/prom1/team-a with a `read` token (authorization.credentials) and the CA
 * (tls_config.ca_file). Prometheus scrapes the node_exporter (`up == 1`) with the registered
 * labels; after `service unregister` (remote, same token) the target is gone.
 */
import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {request} from 'node:https'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {type CliResult, isolatedEnv, runCli} from '../support/cli.js'
import {makeTlsFiles, type TlsFiles} from '../support/test-pki.js'
import {freePort} from '../support/free-port.js'
import {type NodeExporter, startNodeExporter} from '../support/node-exporter.js'
import {PROMETHEUS_POLL_MS, type PrometheusServer, startPrometheus} from '../support/prometheus-server.js'
import {type ServeProcess, startServe} from '../support/serve-server.js'
import {nonEmpty, until} from '../support/until.js'

function ok(r: CliResult): CliResult {
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stdout} ${r.stderr}`)
  return r
}

/** GET over https trusting only the test CA; status and body. */
function httpsGet(url: string, ca: string, headers: Record<string, string> = {}): Promise<{status: number; body: string}> {
  return new Promise((resolve, reject) => {
    const req = request(url, {ca: readFileSync(ca), headers, timeout: 5000}, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => (body += d))
      res.on('end', () => resolve({status: res.statusCode ?? 0, body}))
    })
    req.on('error', reject)
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)))
    req.end()
  })
}

describe('e2e: roster serve http_sd (TLS, tokens) → Prometheus → node_exporter', () => {
  let dir: string
  let tls: TlsFiles
  let registry: string
  let adminEnv: Record<string, string | undefined>
  let serve: ServeProcess | undefined
  let baseUrl: string
  let exporter: NodeExporter
  let prometheus: PrometheusServer | undefined
  let remoteEnv: Record<string, string | undefined>
  let readToken: string

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'roster-e2e-http-sd-'))
    tls = makeTlsFiles(dir)
    registry = `sqlite:${path.join(dir, 'registry.db')}`
    adminEnv = isolatedEnv({ROSTER_REGISTRY: registry})
    ok(await runCli(['server', 'register', 'prom1'], {env: adminEnv}))
    ok(await runCli(['namespace', 'register', 'team-a'], {env: adminEnv}))
    const serviceToken = ok(
      await runCli(['token', 'create', 'node-agent', '-n', 'team-a', '--role', 'service'], {env: adminEnv}),
    ).stdout.trim()
    readToken = ok(await runCli(['token', 'create', 'prom1-sd', '-n', 'team-a', '--role', 'read'], {env: adminEnv})).stdout.trim()
    for (const token of [serviceToken, readToken]) assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'token create prints only the JWT')

    const port = await freePort()
    baseUrl = `https://127.0.0.1:${port}`
    // Prometheus first: it starts while serve starts and the node registers (its first targets
    // come on a 5 s tick after it starts, whenever the registration lands before that).
    prometheus = await startPrometheus({
      scrapeConfigs: [
        {
          job_name: 'roster-http-sd',
          http_sd_configs: [
            {
              url: `${baseUrl}/v1/sd/prom1/team-a`,
              refresh_interval: '2s',
              authorization: {type: 'Bearer', credentials: readToken},
              tls_config: {ca_file: tls.caFile},
            },
          ],
        },
      ],
    })
    serve = await startServe({
      registry,
      env: adminEnv,
      args: ['--listen', `127.0.0.1:${port}`, '--tls-cert', tls.serverCertFile, '--tls-key', tls.serverKeyFile],
    })
    const started = serve
    await until('roster serve to be ready', async () => (await httpsGet(`${baseUrl}/readyz`, tls.caFile)).status === 200, {
      timeoutMs: 60_000,
      describe: () => started.stderr(),
    })

    exporter = await startNodeExporter()
    // The node's side, as a systemd unit would run it: everything from ROSTER_* variables.
    remoteEnv = isolatedEnv({
      ROSTER_REGISTRY: baseUrl,
      ROSTER_REGISTRY_CA: tls.caFile,
      ROSTER_TOKEN: serviceToken,
      ROSTER_NAME: 'node',
      ROSTER_ENDPOINTS: exporter.metricsUrl,
      ROSTER_NAMESPACE: 'team-a',
      ROSTER_LABEL: 'env=prod,app.kubernetes.io/name=node-exporter',
    })
  })

  after(async () => {
    await prometheus?.stop()
    await exporter?.stop()
    if (serve) assert.equal(await serve.stop(), 0, `roster serve stops cleanly on SIGTERM: ${serve.stderr()}`)
    rmSync(dir, {recursive: true, force: true})
    for (const env of [adminEnv, remoteEnv]) if (env?.HOME) rmSync(env.HOME, {recursive: true, force: true})
  })

  it('refuses http_sd without a token', async () => {
    const r = await httpsGet(`${baseUrl}/v1/sd/prom1/team-a`, tls.caFile)
    assert.equal(r.status, 401, r.body)
  })

  it('Prometheus scrapes the node_exporter registered remotely, with its labels, and drops it once unregistered', async () => {
    const p = prometheus!
    ok(await runCli(['service', 'register'], {env: remoteEnv}))

    const sd = await httpsGet(`${baseUrl}/v1/sd/prom1/team-a`, tls.caFile, {authorization: `Bearer ${readToken}`})
    assert.equal(sd.status, 200, sd.body)
    const groups = JSON.parse(sd.body) as {targets: string[]; labels: Record<string, string>}[]
    assert.deepEqual(
      groups.map((g) => g.targets),
      [[exporter.hostPort]],
    )

    // file_sd from the remote registry, with the same read token: the same bytes as http_sd.
    const sdDir = mkdtempSync(path.join(dir, 'file-sd-'))
    const exported = ok(
      await runCli(['sd', 'export', '--once', '--server', 'prom1', '--dir', sdDir, '--token', readToken, '--registry-ca', tls.caFile], {
        env: isolatedEnv({ROSTER_REGISTRY: baseUrl}),
      }),
    )
    assert.match(exported.stdout, /1 written \(team-a\.json\)/, 'a token scoped to team-a exports only team-a')
    assert.equal(readFileSync(path.join(sdDir, 'team-a.json'), 'utf8'), sd.body)

    const target = await until(
      'the node_exporter target to be up',
      async () => (await p.activeTargets()).find((t) => t.labels.job === 'node' && t.health === 'up'),
      {timeoutMs: 90_000, intervalMs: PROMETHEUS_POLL_MS, describe: () => `prometheus log: ${p.log()} serve log: ${serve?.stderr()}`},
    )
    assert.equal(target.scrapeUrl, exporter.metricsUrl)
    assert.deepEqual(target.labels, {app_kubernetes_io_name: 'node-exporter', env: 'prod', instance: exporter.hostPort, job: 'node'})
    assert.equal(target.discoveredLabels.__meta_roster_namespace, 'team-a')
    assert.equal(target.discoveredLabels.__meta_roster_server, 'prom1')

    const up = await until('up{job="node"} in the TSDB', async () => nonEmpty(await p.query('up{job="node"}')), {
      timeoutMs: 90_000,
      intervalMs: PROMETHEUS_POLL_MS,
    })
    assert.equal(up[0]!.value[1], '1')
    assert.equal(up[0]!.metric.env, 'prod')

    ok(await runCli(['service', 'unregister'], {env: remoteEnv}))
    await until('the node_exporter target to be gone', async () => !(await p.activeTargets()).some((t) => t.labels.job === 'node'), {
      timeoutMs: 90_000,
      intervalMs: PROMETHEUS_POLL_MS,
      describe: () => `prometheus log: ${p.log()}`,
    })
  })
})
