/** The pure parts of kube discover: pod → target, owner names, the plan's table of cases and the guard. */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {EMPTY_GUARD_MIN_OWNED, EmptySourceError, OWNER_LABEL, planDiscovery} from '../../src/lib/discover/plan.js'
import {ownerName, parseNameFrom, podTarget, serviceNameOf, type KubePod, type PodTarget} from '../../src/lib/discover/pods.js'
import type {Revisioned, Service} from '../../src/lib/registry/model.js'
import {makePod} from '../support/pod-fixtures.js'

const pod = (spec: Parameters<typeof makePod>[0]) => makePod(spec) as unknown as KubePod
const target = (spec: Parameters<typeof makePod>[0], copy: string[] = []) => podTarget(pod(spec), {copyLabels: copy}) as PodTarget

let revisions = 0
function service(endpoint: string, labels: Record<string, string>, name = 'x'): Revisioned<Service> {
  return {
    id: `id-${endpoint}`,
    name,
    namespace: 'k8s',
    endpoint,
    labels,
    selector: '',
    servers: [],
    description: '',
    modified: '',
    revision: ++revisions,
  }
}

const opts = {ownerId: 'a', nameFrom: parseNameFrom('owner')}

describe('kube discover: pods', () => {
  it('a target only when Running, Ready, annotated, with an IP and not being deleted', () => {
    assert.ok(target({name: 'p', ip: '127.0.0.1'}))
    assert.equal(podTarget(pod({name: 'p', ready: false})), null)
    assert.equal(podTarget(pod({name: 'p', phase: 'Succeeded'})), null)
    assert.equal(podTarget(pod({name: 'p', scrape: false})), null)
    const deleting = pod({name: 'p'})
    deleting.metadata.deletionTimestamp = '2026-01-01T00:00:00Z'
    assert.equal(podTarget(deleting), null)
    const noIp = pod({name: 'p'})
    delete noIp.status?.podIP
    assert.equal(podTarget(noIp), null)
  })

  it('builds the URL from port, path and scheme annotations (defaults 80, /metrics, http)', () => {
    assert.equal(target({name: 'p', ip: '127.0.0.9'}).url, 'http://127.0.0.9:80/metrics')
    assert.equal(target({name: 'p', ip: '127.0.0.9', port: 8443, path: 'stats', scheme: 'https'}).url, 'https://127.0.0.9:8443/stats')
    assert.match(target({name: 'p', port: '0'}).problem ?? '', /port.*"0"/)
    assert.match(target({name: 'p', scheme: 'ftp'}).problem ?? '', /scheme/)
  })

  it('owner names: a ReplicaSet maps to its Deployment by the pod-template-hash suffix', () => {
    assert.equal(ownerName(pod({name: 'api-5d9c7b8f6d-x', deployment: 'api'}).metadata), 'api')
    assert.equal(ownerName(pod({name: 'db-0', owner: {kind: 'StatefulSet', name: 'db'}}).metadata), 'db')
    assert.equal(ownerName(pod({name: 'rs-abc', owner: {kind: 'ReplicaSet', name: 'bare-rs'}}).metadata), 'bare-rs', 'no hash label: kept')
    assert.equal(ownerName(pod({name: 'solo'}).metadata), 'solo')
  })

  it('--name-from and service name sanitizing', () => {
    const t = target({name: 'web.v2-0', labels: {app: 'shop.web'}, owner: {kind: 'StatefulSet', name: 'web.v2'}}, ['app'])
    assert.equal(serviceNameOf(t, parseNameFrom('owner')), 'web_v2')
    assert.equal(serviceNameOf(t, parseNameFrom('pod')), 'web_v2-0')
    assert.equal(serviceNameOf(t, parseNameFrom('label:app')), 'shop_web')
    assert.equal(serviceNameOf(t, parseNameFrom('label:missing')), 'web_v2', 'falls back to the owner')
    assert.throws(() => parseNameFrom('colour'), /name-from "colour"/)
  })
})

describe('kube discover: plan', () => {
  const a = target({name: 'a', ip: '127.0.0.1', port: 9100})
  const b = target({name: 'b', ip: '127.0.0.2', port: 9100})
  const aLabels = {[OWNER_LABEL]: 'a', kube_namespace: 'default', node: 'node-a', pod: 'a'}

  it('creates, keeps unchanged, updates and removes only owned services', () => {
    const current = [
      service('http://127.0.0.1:9100/metrics', aLabels, 'a'),
      service('http://127.0.0.3:9100/metrics', {[OWNER_LABEL]: 'a', pod: 'gone'}),
      service('http://127.0.0.4:9100/metrics', {}),
      service('http://127.0.0.5:9100/metrics', {[OWNER_LABEL]: 'b'}),
    ]
    current[0]!.description = 'kube pod default/a'
    const plan = planDiscovery([a, b], current, opts)
    assert.equal(plan.unchanged, 1)
    assert.deepEqual(
      plan.upsert.map((d) => [d.endpoint, d.revision]),
      [['http://127.0.0.2:9100/metrics', 0]],
      'a new service is written only if still absent (revision 0)',
    )
    current[0]!.labels = {...aLabels, node: 'node-z'}
    assert.deepEqual(
      planDiscovery([a, b], current, opts).upsert.map((d) => [d.endpoint, d.revision]),
      [
        ['http://127.0.0.1:9100/metrics', current[0]!.revision],
        ['http://127.0.0.2:9100/metrics', 0],
      ],
      'an owned service is updated at the revision it was read at',
    )
    assert.deepEqual(
      plan.remove.map((s) => [s.endpoint, s.revision]),
      [['http://127.0.0.3:9100/metrics', current[1]!.revision]],
      'an owned service is removed at the revision it was read at',
    )
    assert.equal(plan.owned, 2)
  })

  it('a label change is an update; a foreign endpoint is a conflict, never written', () => {
    const moved = {...a, node: 'node-z'}
    const current = [
      service('http://127.0.0.1:9100/metrics', aLabels, 'a'),
      service('http://127.0.0.2:9100/metrics', {[OWNER_LABEL]: 'other'}),
    ]
    const plan = planDiscovery([moved, b], current, opts)
    assert.deepEqual(
      plan.upsert.map((d) => d.labels.node),
      ['node-z'],
    )
    assert.deepEqual(
      plan.conflicts.map((c) => c.pod),
      ['default/b'],
    )
    assert.match(plan.conflicts[0]!.reason, /discoverer "other"/)
  })

  it('two pods with one endpoint: the first (by namespace/name) wins, the other is skipped', () => {
    const twin = {...a, pod: 'z-twin'}
    const plan = planDiscovery([twin, a], [], opts)
    assert.equal(plan.upsert.length, 1)
    assert.equal(plan.upsert[0]!.pod, 'default/a')
    assert.deepEqual(
      plan.skipped.map((s) => s.pod),
      ['default/z-twin'],
    )
  })

  it('the empty-source guard: refuses above the threshold, not at it, not with --force, not when pods remain', () => {
    const owned = (n: number) => Array.from({length: n}, (_, i) => service(`http://127.0.1.${i + 1}/metrics`, {[OWNER_LABEL]: 'a'}))
    assert.throws(() => planDiscovery([], owned(EMPTY_GUARD_MIN_OWNED + 1), opts), EmptySourceError)
    assert.equal(planDiscovery([], owned(EMPTY_GUARD_MIN_OWNED), opts).remove.length, EMPTY_GUARD_MIN_OWNED)
    assert.equal(planDiscovery([], owned(EMPTY_GUARD_MIN_OWNED + 1), {...opts, force: true}).remove.length, EMPTY_GUARD_MIN_OWNED + 1)
    assert.equal(planDiscovery([a], owned(EMPTY_GUARD_MIN_OWNED + 1), opts).remove.length, EMPTY_GUARD_MIN_OWNED + 1)
    try {
      planDiscovery([], owned(20), opts)
    } catch (error) {
      assert.equal((error as EmptySourceError).exitCode, 9)
    }
  })
})
