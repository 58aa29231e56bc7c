/**
 * What exporter users ask for beyond readiness, against the test API server: taints, cordoned
 * nodes, condition transition times and node heartbeats from their Leases in kube-node-lease. A
 * node whose Lease is stale is named in the table's summary line while its Ready condition still
 * says True. Where kubectl shows the same thing (describe node), its output agrees.
 */
import assert from 'node:assert/strict'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'

import {startNodeExporter, type NodeExporter} from '../../src/lib/cluster/node-exporter.js'
import {formatDuration} from '../../src/lib/config/duration.js'
import {isolatedEnv, runCli} from '../support/cli.js'
import {startKubeApiServer, type KubeApiServer} from '../support/kube-api-server.js'
import {makeNode, makeNodeLease, microTime} from '../support/kube-objects.js'
import {kubectl} from '../support/kubectl.js'
import {until} from '../support/until.js'

const SECOND = 1000
/** Condition transitions three hours ago, to the second (as the API server keeps them). */
const TRANSITION = new Date(Math.floor((Date.now() - 3 * 3_600_000) / SECOND) * SECOND)

let api: KubeApiServer
let home: string
let kubeconfig: string

before(async () => {
  home = mkdtempSync(join(tmpdir(), 'roster-node-depth-'))
  api = await startKubeApiServer({
    nodes: [
      makeNode({name: 'cp-1', roles: ['control-plane'], transitionAt: TRANSITION}),
      makeNode({
        name: 'w-gpu',
        roles: ['worker'],
        unschedulable: true,
        taints: [{key: 'dedicated', value: 'gpu', effect: 'NoSchedule'}],
        transitionAt: TRANSITION,
      }),
      makeNode({name: 'w-silent', roles: ['worker'], transitionAt: TRANSITION}),
      makeNode({name: 'w-nolease', roles: ['worker']}),
      makeNode({name: 'w-down', roles: ['worker'], ready: 'Unknown'}),
    ],
    leases: [
      makeNodeLease('cp-1'),
      makeNodeLease('w-gpu'),
      makeNodeLease('w-silent', new Date(Date.now() - 120 * SECOND)),
      makeNodeLease('w-down', new Date(Date.now() - 600 * SECOND)),
    ],
  })
  kubeconfig = api.kubeconfigPath()
})

after(async () => {
  await api.stop()
  rmSync(home, {recursive: true, force: true})
})

const run = (args: string[], config = kubeconfig) => runCli(['node-status', '--kubeconfig', config, ...args], {env: isolatedEnv()})

interface JsonNode {
  name: string
  ready: string
  unschedulable: boolean
  taints: Array<{key: string; value?: string; effect: string}>
  conditions: Array<{type: string; status: string; lastTransitionTime?: string}>
  leaseRenewTime?: string
}
interface JsonReport {
  nodes: JsonNode[]
  leases: {staleAfterSeconds: number; stale: string[]; unavailable?: string}
}

/** Prometheus text → "name{labels}" → value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const cut = line.lastIndexOf(' ')
    out.set(line.slice(0, cut), Number(line.slice(cut + 1)))
  }
  return out
}

describe('node-status: taints, cordons, transitions and Leases', () => {
  it('names the nodes whose Lease is stale in the summary line, Ready or not; --lease-stale sets the age', async () => {
    const r = await run([])
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.trimEnd().split('\n')
    assert.equal(
      lines.at(-1),
      `4/5 nodes ready, 1 not ready (1 unknown); no Lease renewal for over ${formatDuration(40_000)}: w-down, w-silent`,
    )
    assert.match(r.stdout, /^w-gpu\tReady,SchedulingDisabled\tworker\t/m)
    assert.match(r.stdout, /^w-silent\tReady\tworker\t/m)

    const five = await run(['--lease-stale', '5m'])
    assert.equal(
      five.stdout.trimEnd().split('\n').at(-1),
      `4/5 nodes ready, 1 not ready (1 unknown); no Lease renewal for over ${formatDuration(300_000)}: w-down`,
    )
    const hour = await run(['--lease-stale', '1h', '--no-headers'])
    assert.equal(hour.stderr.trim(), '4/5 nodes ready, 1 not ready (1 unknown)')
    const bad = await run(['--lease-stale', 'soon'])
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /--lease-stale/)
  })

  it('-o json: every node with its taints, cordon, transition times and Lease renewal; the stale ones', async () => {
    const r = await run(['-o', 'json'])
    assert.equal(r.code, 0, r.stderr)
    const report = JSON.parse(r.stdout) as JsonReport
    assert.deepEqual(report.leases, {staleAfterSeconds: 40, stale: ['w-down', 'w-silent']})
    const byName = new Map(report.nodes.map((n) => [n.name, n]))
    const gpu = byName.get('w-gpu')
    assert.equal(gpu?.unschedulable, true)
    assert.deepEqual(gpu?.taints, [
      {key: 'dedicated', value: 'gpu', effect: 'NoSchedule'},
      {key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule'},
    ])
    assert.equal(byName.get('w-silent')?.leaseRenewTime, api.getLease('kube-node-lease', 'w-silent')?.spec?.renewTime)
    assert.equal(byName.get('w-nolease')?.leaseRenewTime, undefined)
    const ready = gpu?.conditions.find((c) => c.type === 'Ready')
    assert.equal(Date.parse(ready?.lastTransitionTime ?? ''), TRANSITION.getTime())
  })

  it('-o prometheus: kube_node_spec_taint, kube_node_spec_unschedulable, transition timestamps, Lease ages', async () => {
    const r = await run(['-o', 'prometheus'])
    assert.equal(r.code, 0, r.stderr)
    const s = samples(r.stdout)
    assert.equal(s.get('kube_node_spec_taint{node="w-gpu",key="dedicated",value="gpu",effect="NoSchedule"}'), 1)
    assert.equal(s.get('kube_node_spec_taint{node="w-gpu",key="node.kubernetes.io/unschedulable",value="",effect="NoSchedule"}'), 1)
    assert.equal([...s.keys()].filter((k) => k.startsWith('kube_node_spec_taint{')).length, 2)
    assert.equal(s.get('kube_node_spec_unschedulable{node="w-gpu"}'), 1)
    assert.equal(s.get('kube_node_spec_unschedulable{node="cp-1"}'), 0)
    for (const condition of ['MemoryPressure', 'DiskPressure', 'PIDPressure', 'Ready']) {
      const key = `roster_node_status_condition_last_transition_timestamp_seconds{node="w-silent",condition="${condition}"}`
      assert.equal(s.get(key), TRANSITION.getTime() / SECOND, key)
    }
    const silent = s.get('roster_node_lease_renew_age_seconds{node="w-silent"}') ?? NaN
    assert.ok(silent >= 120 && silent < 180, String(silent))
    assert.ok((s.get('roster_node_lease_renew_age_seconds{node="cp-1"}') ?? NaN) < 40)
    assert.equal(s.has('roster_node_lease_renew_age_seconds{node="w-nolease"}'), false)
  })

  it('agrees with kubectl describe node: taints, unschedulable, Lease renew time, condition transitions', async () => {
    const report = JSON.parse((await run(['-o', 'json'])).stdout) as JsonReport
    for (const name of ['w-gpu', 'w-silent', 'cp-1']) {
      const ours = report.nodes.find((n) => n.name === name)
      assert.ok(ours)
      const k = await kubectl(home, kubeconfig, ['describe', 'node', name])
      assert.equal(k.code, 0, k.stderr)
      const taints = /^Taints:\s+(.*(?:\n\s{10,}\S.*)*)/m
        .exec(k.stdout)?.[1]
        ?.split('\n')
        .map((t) => t.trim())
      const ourTaints = ours.taints.map((t) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`)
      assert.deepEqual(taints, ourTaints.length > 0 ? ourTaints : ['<none>'], name)
      assert.equal(/^Unschedulable:\s+(\S+)/m.exec(k.stdout)?.[1], String(ours.unschedulable))
      const renew = /^\s+RenewTime:\s+(.+)$/m.exec(k.stdout)?.[1] ?? ''
      assert.equal(Date.parse(renew), Math.floor(Date.parse(ours.leaseRenewTime ?? '') / SECOND) * SECOND, `${name}: ${renew}`)
      // Type Status LastHeartbeatTime LastTransitionTime Reason Message, 3+ spaces apart
      const rows = k.stdout
        .split('\n')
        .filter((l) => /^\s{2}(MemoryPressure|DiskPressure|PIDPressure|Ready)\s/.test(l))
        .map((l) => l.trim().split(/\s{3,}|\s{2}(?=\S)/))
      assert.equal(rows.length, 4)
      for (const [type, , , transition] of rows) {
        const mine: string | undefined = ours.conditions.find((c) => c.type === type)?.lastTransitionTime
        assert.equal(Date.parse(transition ?? ''), Date.parse(mine ?? ''), `${name} ${type}`)
      }
    }
  })

  it('--serve follows taints, cordons and Lease renewals; a renewed Lease is young again', async () => {
    let exporter: NodeExporter | undefined
    try {
      exporter = await startNodeExporter({kubeconfig, listen: '127.0.0.1:0', backoff: {initialMs: 50, maxMs: 200}})
      const url = exporter.url
      const metrics = async () => samples(await (await fetch(`${url}/metrics`)).text())
      await until('the first Lease list', async () => (await metrics()).has('roster_node_lease_renew_age_seconds{node="w-silent"}'))
      assert.equal((await fetch(`${url}/readyz`)).status, 200)
      assert.equal((await fetch(`${url}/livez`)).status, 200)

      api.updateLease('kube-node-lease', 'w-silent', (l) => {
        ;(l.spec as {renewTime: string}).renewTime = microTime(new Date())
      })
      api.updateNode('w-gpu', (n) => {
        ;(n.spec as {taints: unknown[]}).taints = [{key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule'}]
      })
      api.updateNode('cp-1', (n) => {
        ;(n.spec as {unschedulable: boolean}).unschedulable = true
      })
      const s = await until('the renewal, the cordon and the removed taint', async () => {
        const m = await metrics()
        return (
          (m.get('roster_node_lease_renew_age_seconds{node="w-silent"}') ?? Infinity) < 40 &&
          m.get('kube_node_spec_unschedulable{node="cp-1"}') === 1 &&
          !m.has('kube_node_spec_taint{node="w-gpu",key="dedicated",value="gpu",effect="NoSchedule"}') &&
          m
        )
      })
      assert.ok((s.get('roster_node_lease_renew_age_seconds{node="w-down"}') ?? 0) >= 600)
    } finally {
      await exporter?.close()
      api.updateLease('kube-node-lease', 'w-silent', (l) => {
        ;(l.spec as {renewTime: string}).renewTime = microTime(new Date(Date.now() - 120 * SECOND))
      })
    }
  })

  it('a user who may not read Leases still gets the nodes, told why heartbeats are left out', async () => {
    const limited = await startKubeApiServer({
      nodes: [makeNode({name: 'a'})],
      leases: [makeNodeLease('a', new Date(Date.now() - 600 * SECOND))],
      permissions: {viewer: ['nodes']},
    })
    let exporter: NodeExporter | undefined
    try {
      const config = limited.kubeconfigPath({user: 'viewer'})
      const r = await run([], config)
      assert.equal(r.code, 0, r.stderr)
      assert.equal(r.stdout.trimEnd().split('\n').at(-1), '1/1 nodes ready')
      assert.match(
        r.stderr,
        /warning: .*leases\.coordination\.k8s\.io is forbidden: User "viewer" cannot list resource "leases" in API group "coordination\.k8s\.io" in the namespace "kube-node-lease".*: node heartbeats \(Leases\) are left out/,
      )
      const started = await startNodeExporter({kubeconfig: config, listen: '127.0.0.1:0', backoff: {initialMs: 50, maxMs: 200}})
      exporter = started
      await until('the first sync', () => started.health().synced)
      const text = await (await fetch(`${exporter.url}/metrics`)).text()
      assert.match(text, /^kube_node_status\{node="a"\} 1$/m)
      assert.doesNotMatch(text, /^roster_node_lease_renew_age_seconds\{/m)
      assert.equal((await fetch(`${exporter.url}/healthz`)).status, 200)
    } finally {
      await exporter?.close()
      await limited.stop()
    }
  })
})
