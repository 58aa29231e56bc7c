/**
 * The exporter's text against the real Prometheus tools: `promtool check metrics` accepts
 * `node-status -o prometheus`, and a real Prometheus server scraping `node-status --serve` sees
 * the series, their changes, and the disappearance of a deleted node's series.
 */
import assert from 'node:assert/strict'
import {execFile, spawn, type ChildProcess} from 'node:child_process'
import {after, before, describe, it} from 'node:test'

import {BIN, isolatedEnv, runCli} from '../support/cli.js'
import {freePort} from '../support/free-port.js'
import {startKubeApiServer, type KubeApiServer} from '../support/kube-api-server.js'
import {makeNode} from '../support/kube-objects.js'
import {PROMETHEUS_POLL_MS, startPrometheus} from '../support/prometheus-server.js'
import {type UntilOptions, until} from '../support/until.js'

const PROMTOOL = '/usr/bin/promtool'

function promtool(input: string): Promise<{code: number; output: string}> {
  return new Promise((resolve) => {
    const child = execFile(PROMTOOL, ['check', 'metrics'], (error, stdout, stderr) => {
      resolve({code: error ? Number((error as {code?: number}).code ?? 1) : 0, output: stdout + stderr})
    })
    child.stdin?.end(input)
  })
}

describe('node-status and the real Prometheus', () => {
  let api: KubeApiServer
  const children: ChildProcess[] = []
  const stops: (() => Promise<void>)[] = []

  before(async () => {
    api = await startKubeApiServer({
      nodes: [
        makeNode({name: 'cp-1', roles: ['control-plane']}),
        makeNode({name: 'worker-1', roles: ['worker']}),
        makeNode({name: 'worker-2', roles: ['worker'], ready: 'False'}),
        makeNode({name: 'worker-3', roles: ['worker'], ready: 'Unknown'}),
      ],
    })
  })

  after(async () => {
    for (const stop of stops) await stop()
    for (const child of children) child.kill('SIGKILL')
    await api?.stop()
  })

  it('promtool check metrics parses -o prometheus; its only lint is the name kube-node-status chose', async () => {
    const result = await runCli(['node-status', '-o', 'prometheus', '--kubeconfig', api.kubeconfigPath()])
    assert.equal(result.code, 0, result.stderr)
    const check = await promtool(result.stdout)
    // promtool exits 1 when the text does not parse, 3 when it parses with lint problems. The
    // one lint is `kube_node_status_nodes_total`: a gauge named with _total, a name kept for
    // compatibility with kube-node-status's series.
    assert.ok(check.code === 0 || check.code === 3, check.output)
    const lints = check.output.split('\n').filter((line) => line.trim() !== '')
    assert.deepEqual(lints, ['kube_node_status_nodes_total non-counter metrics should not have "_total" suffix'])
    assert.match(result.stdout, /^kube_node_status_nodes_not_ready 2$/m)
  })

  it('a Prometheus server scraping --serve sees the nodes, a change, and a deleted node vanish', async () => {
    const exporterPort = await freePort()
    const exporter = spawn(
      process.execPath,
      [BIN, 'node-status', '--kubeconfig', api.kubeconfigPath(), '--serve', `127.0.0.1:${exporterPort}`],
      {
        env: isolatedEnv() as NodeJS.ProcessEnv,
        stdio: 'ignore',
      },
    )
    children.push(exporter)

    const prometheus = await startPrometheus({
      scrapeConfigs: [{job_name: 'roster', static_configs: [{targets: [`127.0.0.1:${exporterPort}`]}]}],
    })
    stops.push(() => prometheus.stop())
    const query = (expr: string) => prometheus.query(expr)
    const scalar = async (expr: string): Promise<string | undefined> => (await query(expr))[0]?.value[1]
    const polled: UntilOptions = {intervalMs: PROMETHEUS_POLL_MS}

    await until('a successful scrape', async () => (await scalar('up{job="roster"}')) === '1', polled)
    await until('4 nodes', async () => (await scalar('kube_node_status_nodes_total')) === '4', polled)
    assert.equal(await scalar('kube_node_status_nodes_ready'), '2')
    assert.equal(await scalar('kube_node_status_nodes_not_ready_ratio'), '0.5')
    assert.equal(await scalar('kube_node_status_condition{node="worker-3",condition="Ready",status="unknown"}'), '1')
    assert.equal(await scalar('kube_node_status{node="worker-2"}'), '0')

    api.updateNode('worker-2', (node) => {
      ;(node.status as {conditions: Array<{type: string; status: string}>}).conditions.find((c) => c.type === 'Ready')!.status = 'True'
    })
    await until('worker-2 Ready', async () => (await scalar('kube_node_status{node="worker-2"}')) === '1', polled)

    api.deleteNode('worker-3')
    await until('3 nodes', async () => (await scalar('kube_node_status_nodes_total')) === '3', polled)
    await until('worker-3 series gone', async () => (await query('kube_node_status{node="worker-3"}')).length === 0, polled)
    assert.deepEqual((await query('kube_node_status')).map((r) => r.metric.node).sort(), ['cp-1', 'worker-1', 'worker-2'])
  })
})
