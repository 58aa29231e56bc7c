import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {InvalidInputError} from '../../src/lib/errors.js'
import {mergeKubeconfigs} from '../../src/lib/cluster/kubeconfig.js'
import type {KubeNode} from '../../src/lib/cluster/kube-types.js'
import {escapeLabelValue, formatNodeMetrics} from '../../src/lib/cluster/node-metrics.js'
import {
  checkNotReady,
  countNodes,
  humanDuration,
  nodeAge,
  nodeRoles,
  parseNotReadyThreshold,
  summarizeNode,
  summaryLine,
} from '../../src/lib/cluster/node-readiness.js'
import {makeNode} from '../support/kube-objects.js'

const node = (input: Parameters<typeof makeNode>[0]) => makeNode(input) as unknown as KubeNode

describe('summarizeNode', () => {
  it('reads the Ready condition by type, wherever it is in the list', () => {
    const n = node({name: 'a', ready: 'False'})
    const conditions = n.status?.conditions ?? []
    assert.equal(conditions[conditions.length - 1]?.type, 'Ready', 'fixture puts Ready last, as the kubelet does')
    assert.equal(summarizeNode(n).ready, 'False')
    // Ready first, pressure conditions after it: position must not matter.
    const reordered = structuredClone(n)
    reordered.status!.conditions = [...conditions].reverse()
    assert.equal(summarizeNode(reordered).ready, 'False')
    assert.equal(summarizeNode(node({name: 'b'})).ready, 'True')
  })

  it('keeps Unknown distinct from NotReady, and prints STATUS as kubectl does', () => {
    const cases: Array<[Parameters<typeof makeNode>[0], string, string]> = [
      [{name: 'ready'}, 'True', 'Ready'],
      [{name: 'false', ready: 'False'}, 'False', 'NotReady'],
      [{name: 'unknown', ready: 'Unknown'}, 'Unknown', 'NotReady'],
      [{name: 'missing', ready: 'missing'}, 'Unknown', 'Unknown'],
      [{name: 'cordoned', unschedulable: true}, 'True', 'Ready,SchedulingDisabled'],
      [{name: 'cordoned-down', ready: 'False', unschedulable: true}, 'False', 'NotReady,SchedulingDisabled'],
      [{name: 'cordoned-missing', ready: 'missing', unschedulable: true}, 'Unknown', 'Unknown,SchedulingDisabled'],
    ]
    for (const [input, ready, status] of cases) {
      const s = summarizeNode(node(input))
      assert.equal(s.ready, ready, input.name)
      assert.equal(s.status, status, input.name)
    }
  })

  it('derives roles from node-role.kubernetes.io/* and kubernetes.io/role labels', () => {
    assert.deepEqual(nodeRoles({'node-role.kubernetes.io/worker': '', 'node-role.kubernetes.io/control-plane': ''}), [
      'control-plane',
      'worker',
    ])
    assert.deepEqual(nodeRoles({'kubernetes.io/role': 'node', 'node-role.kubernetes.io/node': ''}), ['node'])
    assert.deepEqual(nodeRoles({'node-role.kubernetes.io/': '', 'kubernetes.io/role': ''}), [])
    assert.deepEqual(nodeRoles(undefined), [])
    assert.deepEqual(summarizeNode(node({name: 'x', roles: ['infra', 'etcd']})).roles, ['etcd', 'infra'])
  })

  it('keeps what it prints and drops the rest (images, heartbeats)', () => {
    const s = summarizeNode(node({name: 'x', externalIP: '203.0.113.5', pressure: ['DiskPressure'], images: 50}))
    assert.equal(s.externalIP, '203.0.113.5')
    assert.match(s.internalIP ?? '', /^10\./)
    assert.deepEqual(s.problems, ['DiskPressure'])
    assert.equal(s.osImage, 'Debian GNU/Linux 12 (bookworm)')
    assert.ok(!JSON.stringify(s).includes('lastHeartbeatTime'))
    assert.ok(!JSON.stringify(s).includes('registry.k8s.io'))
    assert.ok(JSON.stringify(s).length < 2000)
  })
})

describe('humanDuration (kubectl AGE)', () => {
  const s = 1000
  const m = 60 * s
  const h = 60 * m
  const d = 24 * h
  const cases: Array<[number, string]> = [
    [-5 * s, '<invalid>'],
    [-1 * s, '0s'],
    [0, '0s'],
    [45 * s, '45s'],
    [119 * s, '119s'],
    [2 * m, '2m'],
    [5 * m + 30 * s, '5m30s'],
    [45 * m, '45m'],
    [179 * m, '179m'],
    [3 * h, '3h'],
    [3 * h + 20 * m, '3h20m'],
    [8 * h, '8h'],
    [47 * h, '47h'],
    [2 * d, '2d'],
    [5 * d + 4 * h, '5d4h'],
    [8 * d, '8d'],
    [400 * d, '400d'],
    [730 * d, '2y'],
    [3 * 365 * d + 120 * d, '3y120d'],
    [9 * 365 * d, '9y'],
  ]
  for (const [ms, text] of cases) it(`${ms} ms → ${text}`, () => assert.equal(humanDuration(ms), text))
  it('nodeAge without a timestamp is <unknown>', () => {
    assert.equal(nodeAge(undefined), '<unknown>')
    assert.equal(nodeAge('2024-01-01T00:00:00Z', Date.parse('2024-01-06T00:00:00Z')), '5d')
  })
})

describe('--fail-if-not-ready', () => {
  const totals = (ready: number, notReady: number) => ({total: ready + notReady, ready, notReady, unknown: 0})
  it('parses counts and percentages, and refuses anything else', () => {
    assert.deepEqual(parseNotReadyThreshold('2'), {kind: 'count', value: 2, text: '2'})
    assert.deepEqual(parseNotReadyThreshold('12.5%'), {kind: 'percent', value: 12.5, text: '12.5%'})
    for (const bad of ['', '-1', 'two', '101%', '5%%', '1.5']) {
      assert.throws(
        () => parseNotReadyThreshold(bad),
        (e: unknown) => e instanceof InvalidInputError && /^fail-if-not-ready "/.test(e.message),
        bad,
      )
    }
  })
  it('fails only when MORE than N nodes are not Ready', () => {
    assert.equal(checkNotReady(totals(8, 2), parseNotReadyThreshold('2')), undefined)
    assert.match(checkNotReady(totals(7, 3), parseNotReadyThreshold('2')) ?? '', /^3 of 10 nodes are not Ready, more than the 2 allowed/)
    assert.match(checkNotReady(totals(9, 1), parseNotReadyThreshold('0')) ?? '', /1 of 10/)
  })
  it('fails only when MORE than P% are not Ready; no nodes is 0%', () => {
    assert.equal(checkNotReady(totals(9, 1), parseNotReadyThreshold('10%')), undefined)
    assert.match(checkNotReady(totals(8, 2), parseNotReadyThreshold('10%')) ?? '', /^20% of nodes are not Ready \(2 of 10\)/)
    assert.equal(checkNotReady(totals(0, 0), parseNotReadyThreshold('0%')), undefined)
    assert.match(checkNotReady(totals(2, 1), parseNotReadyThreshold('0%')) ?? '', /33\.3%/)
  })
  it('counts Unknown as not Ready, and says how many are Unknown', () => {
    const t = countNodes([{ready: 'True'}, {ready: 'False'}, {ready: 'Unknown'}, {ready: 'True'}])
    assert.deepEqual(t, {total: 4, ready: 2, notReady: 2, unknown: 1})
    assert.equal(summaryLine(t), '2/4 nodes ready, 2 not ready (1 unknown)')
    assert.equal(summaryLine(countNodes([{ready: 'True'}])), '1/1 nodes ready')
  })
})

describe('Prometheus exposition', () => {
  it('writes HELP/TYPE, per-node and total series, and kube-state-metrics conditions', () => {
    const text = formatNodeMetrics([summarizeNode(node({name: 'b', ready: 'Unknown'})), summarizeNode(node({name: 'a'}))])
    assert.match(
      text,
      /^# HELP kube_node_status .+\n# TYPE kube_node_status gauge\nkube_node_status\{node="a"\} 1\nkube_node_status\{node="b"\} 0\n/,
    )
    assert.match(text, /\nkube_node_status_nodes_total 2\n/)
    assert.match(text, /\nkube_node_status_nodes_ready 1\n/)
    assert.match(text, /\nkube_node_status_nodes_not_ready 1\n/)
    assert.match(text, /\nkube_node_status_nodes_not_ready_ratio 0.5\n/)
    assert.match(text, /\nkube_node_status_condition\{node="b",condition="Ready",status="unknown"\} 1\n/)
    assert.match(text, /\nkube_node_status_condition\{node="b",condition="Ready",status="true"\} 0\n/)
    assert.match(text, /\nkube_node_status_condition\{node="a",condition="DiskPressure",status="false"\} 1\n/)
    assert.ok(text.endsWith('\n'))
    for (const line of text.trimEnd().split('\n')) {
      assert.match(line, /^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+(\{[a-z_]+="[^"\n]*"(,[a-z_]+="[^"\n]*")*\})? [0-9.e+-]+)$/, line)
    }
  })
  it('reports a ratio of 0 with no nodes, and escapes label values', () => {
    assert.match(formatNodeMetrics([]), /\nkube_node_status_nodes_not_ready_ratio 0\n/)
    assert.equal(escapeLabelValue('a"b\\c\nd'), 'a\\"b\\\\c\\nd')
  })
  it('adds the exporter health series when given', () => {
    const text = formatNodeMetrics([], {health: {lastError: true, lastErrorTime: 1_700_000_000_000, errorsTotal: 3, synced: true}})
    assert.match(text, /\nroster_node_status_last_error 1\n/)
    assert.match(text, /\nroster_node_status_up 0\n/)
    assert.match(text, /\nroster_node_status_last_error_timestamp_seconds 1700000000\n/)
    assert.match(text, /# TYPE roster_node_status_api_errors_total counter\nroster_node_status_api_errors_total 3\n/)
  })
})

describe('kubeconfig merge (kubectl rules)', () => {
  it('takes current-context and each named entry from the first file that has it', () => {
    const merged = mergeKubeconfigs([
      {
        file: 'a',
        clusters: [{name: 'c1', server: 'https://a', skipTLSVerify: false}],
        users: [{name: 'u1', token: 'first'}],
        contexts: [],
        currentContext: undefined,
      },
      {
        file: 'b',
        clusters: [{name: 'c1', server: 'https://b', skipTLSVerify: false}],
        users: [{name: 'u1', token: 'second'}],
        contexts: [{name: 'x', cluster: 'c1', user: 'u1'}],
        currentContext: 'x',
      },
      {file: 'c', clusters: [], users: [], contexts: [{name: 'y', cluster: 'c1', user: 'u1'}], currentContext: 'y'},
    ])
    assert.equal(merged.currentContext, 'x')
    assert.equal(merged.clusters.length, 1)
    assert.equal(merged.clusters[0]?.server, 'https://a')
    assert.equal(merged.users[0]?.token, 'first')
    assert.deepEqual(
      merged.contexts.map((c) => c.name),
      ['x', 'y'],
    )
  })
})
