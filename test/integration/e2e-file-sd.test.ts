/**
 * End to end, file_sd: a real node_exporter registered with `roster service register` (local
 * SQLite registry), `roster sd export --once` writes the file_sd files, and a real Prometheus
 * reading them scrapes the node_exporter (`up == 1`) with the registered labels. After
 * `service unregister` and another export the target is gone from Prometheus.
 */
import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {type CliResult, isolatedEnv, runCli} from '../support/cli.js'
import {type NodeExporter, startNodeExporter} from '../support/node-exporter.js'
import {PROMETHEUS_POLL_MS, type PrometheusServer, startPrometheus} from '../support/prometheus-server.js'
import {nonEmpty, until} from '../support/until.js'

function ok(r: CliResult): CliResult {
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stdout} ${r.stderr}`)
  return r
}

describe('e2e: roster sd export → Prometheus file_sd → node_exporter', () => {
  let dir: string
  let sdDir: string
  let env: Record<string, string | undefined>
  let exporter: NodeExporter
  let prometheus: PrometheusServer | undefined
  const cli = (...args: string[]): Promise<CliResult> => runCli(args, {env})

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'roster-e2e-file-sd-'))
    sdDir = path.join(dir, 'file_sd')
    mkdirSync(sdDir)
    env = isolatedEnv({ROSTER_REGISTRY: `sqlite:${path.join(dir, 'registry.db')}`})
    exporter = await startNodeExporter()
    // Prometheus first, reading the still empty directory: it starts while the test registers and
    // exports (its first targets come on a 5 s tick after it starts, and file_sd sees new files).
    prometheus = await startPrometheus({
      scrapeConfigs: [{job_name: 'roster', file_sd_configs: [{files: [path.join(sdDir, '*.json')], refresh_interval: '2s'}]}],
    })
  })
  after(async () => {
    await prometheus?.stop()
    await exporter?.stop()
    rmSync(dir, {recursive: true, force: true})
    if (env.HOME) rmSync(env.HOME, {recursive: true, force: true})
  })

  it('Prometheus scrapes the registered node_exporter with its labels, and drops it once unregistered', async () => {
    ok(await cli('server', 'register', 'prom1'))
    ok(await cli('namespace', 'register', 'team-a'))
    ok(
      await cli(
        'service',
        'register',
        'node',
        '-e',
        exporter.metricsUrl,
        '-n',
        'team-a',
        '-l',
        'env=prod,app.kubernetes.io/name=node-exporter',
      ),
    )
    const first = ok(await cli('sd', 'export', '--once', '--server', 'prom1', '--dir', sdDir))
    assert.match(first.stdout, /2 written \(default\.json, team-a\.json\)/)

    const p = prometheus!
    const target = await until(
      'the node_exporter target to be up',
      async () => (await p.activeTargets()).find((t) => t.labels.job === 'node' && t.health === 'up'),
      {
        timeoutMs: 90_000,
        intervalMs: PROMETHEUS_POLL_MS,
        describe: () => `targets file: ${readFileSync(path.join(sdDir, 'team-a.json'), 'utf8')} prometheus log: ${p.log()}`,
      },
    )
    assert.equal(target.scrapeUrl, exporter.metricsUrl)
    assert.deepEqual(target.labels, {app_kubernetes_io_name: 'node-exporter', env: 'prod', instance: exporter.hostPort, job: 'node'})
    assert.equal(target.discoveredLabels.__meta_roster_namespace, 'team-a')
    assert.equal(target.discoveredLabels.__meta_roster_server, 'prom1')
    assert.match(target.discoveredLabels.__meta_roster_service_id ?? '', /^[0-9a-f-]{36}$/)

    const up = await until('up{job="node"} in the TSDB', async () => nonEmpty(await p.query('up{job="node"}')), {
      timeoutMs: 90_000,
      intervalMs: PROMETHEUS_POLL_MS,
    })
    assert.equal(up.length, 1)
    assert.equal(up[0]!.value[1], '1')
    assert.equal(up[0]!.metric.env, 'prod')
    assert.equal(up[0]!.metric.app_kubernetes_io_name, 'node-exporter')
    assert.equal(up[0]!.metric.instance, exporter.hostPort)

    ok(await cli('service', 'unregister', exporter.metricsUrl, '-n', 'team-a'))
    const second = ok(await cli('sd', 'export', '--once', '--server', 'prom1', '--dir', sdDir))
    assert.match(second.stdout, /1 written \(team-a\.json\), 1 unchanged, 0 removed/)
    assert.equal(readFileSync(path.join(sdDir, 'team-a.json'), 'utf8'), '[]\n')
    await until('the node_exporter target to be gone', async () => !(await p.activeTargets()).some((t) => t.labels.job === 'node'), {
      timeoutMs: 90_000,
      intervalMs: PROMETHEUS_POLL_MS,
    })
  })
})
