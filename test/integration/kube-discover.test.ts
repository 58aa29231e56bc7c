/**
 * `roster kube discover` through the built CLI, against the test Kubernetes API server and a real
 * SQLite registry: pods become services (and stop being services), ownership keeps hand-registered
 * and other owners' services safe, the empty-source guard refuses, and a burst of pod events
 * becomes a handful of store writes (counted as the store's revision delta).
 */
import assert from 'node:assert/strict'
import {execFile, spawn} from 'node:child_process'
import {promisify} from 'node:util'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {Registry} from '../../src/lib/registry/registry.js'
import type {Service} from '../../src/lib/registry/model.js'
import {openStore} from '../../src/lib/store/open-store.js'
import {storeRevision} from '../../src/lib/loop/registry-changes.js'
import {BIN, isolatedEnv, processTempDir, runCli} from '../support/cli.js'
import {startKubeApiServer, type KubeApiServer} from '../support/kube-api-server.js'
import {makePod, setPodIp, setPodReady} from '../support/pod-fixtures.js'
import {until} from '../support/until.js'

let api: KubeApiServer
let kubeconfig: string
let dir: string

before(async () => {
  api = await startKubeApiServer({bookmarkIntervalMs: 500})
  kubeconfig = api.kubeconfigPath()
  dir = processTempDir('roster-discover-')
})

after(async () => {
  await api.stop()
})

let dbCounter = 0
function freshRegistry(): string {
  return `sqlite:${path.join(dir, `registry-${++dbCounter}.db`)}`
}

const cli = (registry: string, args: string[]) => runCli([...args, '--registry', registry], {env: isolatedEnv()})
/** `kube discover --once` of the test cluster's k8s namespace, as owner `owner`. */
const discoverOnce = (registry: string, owner: string, ...args: string[]) =>
  cli(registry, ['kube', 'discover', '--once', '--owner-id', owner, '-n', 'k8s', '--kubeconfig', kubeconfig, ...args])

async function services(registry: string, namespace = 'k8s'): Promise<Service[]> {
  const store = await openStore({registry, timeoutMs: 10_000})
  try {
    const out: Service[] = []
    for await (const s of new Registry(store).listServices({namespace, sortBy: 'endpoint'})) out.push(s)
    return out
  } finally {
    await store.close()
  }
}

async function revision(registry: string): Promise<number> {
  const store = await openStore({registry, timeoutMs: 10_000})
  try {
    return await storeRevision(store)
  } finally {
    await store.close()
  }
}

async function setupRegistry(): Promise<string> {
  const registry = freshRegistry()
  const ns = await cli(registry, ['namespace', 'register', 'k8s'])
  assert.equal(ns.code, 0, ns.stderr)
  // A hand-registered service and another cluster's discovered service.
  const hand = await cli(registry, ['service', 'register', 'hand', '-e', 'http://127.0.0.50:9100/metrics', '-n', 'k8s'])
  assert.equal(hand.code, 0, hand.stderr)
  const other = await cli(registry, [
    'service',
    'register',
    'other',
    '-e',
    'http://127.0.0.51:9100/metrics',
    '-n',
    'k8s',
    '-l',
    'roster_owner=cluster-b,pod=x',
  ])
  assert.equal(other.code, 0, other.stderr)
  return registry
}

const byEndpoint = (list: Service[]) => new Map(list.map((s) => [s.endpoint, s]))

describe('kube discover --once', () => {
  let registry: string
  before(async () => {
    registry = await setupRegistry()
    for (const p of [
      makePod({
        name: 'api-5d9c7b8f6d-abcde',
        namespace: 'shop',
        ip: '127.0.0.11',
        port: 8080,
        deployment: 'api',
        labels: {app: 'api', tier: 'web'},
      }),
      makePod({name: 'db-0', namespace: 'shop', ip: '127.0.0.12', port: 9187, path: '/probe', owner: {kind: 'StatefulSet', name: 'db'}}),
      makePod({name: 'agent-x1', namespace: 'kube-system', ip: '127.0.0.13', owner: {kind: 'DaemonSet', name: 'agent'}, node: 'node-b'}),
      makePod({name: 'lonely', namespace: 'shop', ip: '127.0.0.14', scheme: 'https', port: 8443}),
      makePod({name: 'unready', namespace: 'shop', ip: '127.0.0.15', ready: false}),
      makePod({name: 'pending', namespace: 'shop', ip: '127.0.0.16', phase: 'Pending'}),
      makePod({name: 'not-annotated', namespace: 'shop', ip: '127.0.0.17', scrape: false}),
      makePod({name: 'bad-port', namespace: 'shop', ip: '127.0.0.18', port: 'http'}),
      // Same endpoint as the hand-registered service: a conflict, never written.
      makePod({name: 'squatter', namespace: 'shop', ip: '127.0.0.50', port: 9100}),
    ])
      api.addPod(p)
  })
  after(() => {
    for (const [ns, name] of [
      ['shop', 'api-5d9c7b8f6d-abcde'],
      ['shop', 'db-0'],
      ['kube-system', 'agent-x1'],
      ['shop', 'lonely'],
      ['shop', 'unready'],
      ['shop', 'pending'],
      ['shop', 'not-annotated'],
      ['shop', 'bad-port'],
      ['shop', 'squatter'],
    ] as const)
      api.deletePod(ns, name)
  })

  it('kubectl agrees with the test API server about pods', async () => {
    const kubectl = async (args: string[]) =>
      (await promisify(execFile)('kubectl', ['--kubeconfig', kubeconfig, ...args], {encoding: 'utf8'})).stdout
    const out = await kubectl(['get', 'pods', '-A', '-o', 'json'])
    const list = JSON.parse(out) as {items: Array<{metadata: {name: string; namespace: string}; status: {podIP: string}}>}
    assert.equal(list.items.length, 9)
    assert.ok(list.items.some((p) => p.metadata.name === 'db-0' && p.metadata.namespace === 'shop' && p.status.podIP === '127.0.0.12'))
    const one = await kubectl(['get', 'pods', '-n', 'shop', 'db-0', '-o', 'json'])
    assert.equal((JSON.parse(one) as {metadata: {name: string}}).metadata.name, 'db-0')
  })

  it('registers ready annotated pods with owner names and labels, leaves others alone', async () => {
    const r = await discoverOnce(registry, 'cluster-a', '--copy-labels', 'app', '--json')
    assert.equal(r.code, 0, r.stderr)
    const result = JSON.parse(r.stdout) as {
      created: number
      removed: number
      conflicts: Array<{pod: string}>
      skipped: Array<{pod: string}>
    }
    assert.equal(result.created, 4)
    assert.deepEqual(
      result.conflicts.map((c) => c.pod),
      ['shop/squatter'],
    )
    assert.deepEqual(
      result.skipped.map((c) => c.pod),
      ['shop/bad-port'],
    )
    const all = byEndpoint(await services(registry))
    const api_ = all.get('http://127.0.0.11:8080/metrics')
    assert.equal(api_?.name, 'api', 'a ReplicaSet owner maps to its Deployment')
    assert.deepEqual(api_?.labels, {
      app: 'api',
      kube_namespace: 'shop',
      node: 'node-a',
      pod: 'api-5d9c7b8f6d-abcde',
      roster_owner: 'cluster-a',
    })
    assert.equal(all.get('http://127.0.0.12:9187/probe')?.name, 'db')
    assert.equal(all.get('http://127.0.0.13/metrics')?.name, 'agent', 'port 80 by default')
    assert.equal(all.get('http://127.0.0.13/metrics')?.labels.node, 'node-b')
    assert.equal(all.get('https://127.0.0.14:8443/metrics')?.name, 'lonely', 'no owner: the pod name')
    // The hand-registered and the other owner's services: exactly as they were.
    assert.deepEqual(all.get('http://127.0.0.50:9100/metrics')?.labels, {})
    assert.equal(all.get('http://127.0.0.50:9100/metrics')?.name, 'hand')
    assert.deepEqual(all.get('http://127.0.0.51:9100/metrics')?.labels, {pod: 'x', roster_owner: 'cluster-b'})
    assert.equal(all.size, 6)
  })

  it('a second run writes nothing (revision unchanged)', async () => {
    const before_ = await revision(registry)
    const r = await discoverOnce(registry, 'cluster-a', '--copy-labels', 'app')
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /0 created, 0 updated, 4 unchanged, 0 removed/)
    assert.match(r.stderr, /shop\/squatter .*registered by hand/)
    assert.match(r.stderr, /skipped shop\/bad-port: annotation prometheus.io\/port="http" is not a port/)
    assert.equal(await revision(registry), before_)
  })

  it('--name-from pod and a label selector', async () => {
    const registry2 = await setupRegistry()
    const r = await discoverOnce(registry2, 'c', '--name-from', 'pod', '-l', 'app=api')
    assert.equal(r.code, 0, r.stderr)
    const names = (await services(registry2)).map((s) => s.name).sort()
    assert.deepEqual(names, ['api-5d9c7b8f6d-abcde', 'hand', 'other'])
  })

  it('an unreachable cluster: exit 3, nothing written', async () => {
    const closed = api.kubeconfigPath({server: 'https://127.0.0.1:1'})
    const before_ = await revision(registry)
    const r = await cli(registry, [
      'kube',
      'discover',
      '--once',
      '--owner-id',
      'cluster-a',
      '-n',
      'k8s',
      '--kubeconfig',
      closed,
      '--timeout',
      '5s',
    ])
    assert.equal(r.code, 3, r.stderr)
    assert.match(r.stderr, /^roster: .*127\.0\.0\.1:1/)
    assert.equal(r.stderr.trim().split('\n').length, 1)
    assert.equal(await revision(registry), before_)
  })

  it('bad input: one line, exit 2, nothing written', async () => {
    const before_ = await revision(registry)
    const bad = await discoverOnce(registry, 'a b')
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /^roster: --owner-id/)
    const badName = await cli(registry, [
      'kube',
      'discover',
      '--once',
      '--owner-id',
      'a',
      '--name-from',
      'color',
      '--kubeconfig',
      kubeconfig,
    ])
    assert.equal(badName.code, 2)
    assert.match(badName.stderr, /--name-from.*color/)
    const noNs = await cli(registry, ['kube', 'discover', '--once', '--owner-id', 'a', '-n', 'nope', '--kubeconfig', kubeconfig])
    assert.equal(noNs.code, 5, noNs.stderr)
    assert.equal(await revision(registry), before_)
  })
})

describe('kube discover --dry-run', () => {
  it('prints the plan and writes nothing', async () => {
    api.addPod(makePod({name: 'dry', namespace: 'dry', ip: '127.0.0.40', port: 9100}))
    try {
      const registry = await setupRegistry()
      const before_ = await revision(registry)
      const r = await cli(registry, [
        'kube',
        'discover',
        '--once',
        '--dry-run',
        '--owner-id',
        'd',
        '-n',
        'k8s',
        '--kubeconfig',
        kubeconfig,
        '--kube-namespace',
        'dry',
      ])
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stdout, /^Plan: 1 target pods → 1 created, 0 updated, 0 unchanged, 0 removed/)
      assert.equal(await revision(registry), before_)
    } finally {
      api.deletePod('dry', 'dry')
    }
  })
})

describe('kube discover: the empty-source guard', () => {
  it('refuses to remove more than 10 owned services when no pod is listed (exit 9), --force removes them', async () => {
    const registry = await setupRegistry()
    const names: string[] = []
    for (let i = 0; i < 12; i++) {
      names.push(`web-${i}`)
      api.addPod(makePod({name: `web-${i}`, namespace: 'guard', ip: `127.0.1.${i + 1}`, port: 9000}))
    }
    const first = await discoverOnce(registry, 'g', '--kube-namespace', 'guard')
    assert.equal(first.code, 0, first.stderr)
    assert.equal((await services(registry)).length, 14)
    for (const n of names) api.deletePod('guard', n)
    const before_ = await revision(registry)
    const refused = await discoverOnce(registry, 'g', '--kube-namespace', 'guard')
    assert.equal(refused.code, 9, refused.stderr)
    assert.match(refused.stderr, /refusing to remove all 12 services owned by "g"/)
    assert.equal(await revision(registry), before_, 'nothing written')
    const forced = await discoverOnce(registry, 'g', '--kube-namespace', 'guard', '--force')
    assert.equal(forced.code, 0, forced.stderr)
    const left = (await services(registry)).map((s) => s.name).sort()
    assert.deepEqual(left, ['hand', 'other'])
  })
})

describe('kube discover (watch mode)', () => {
  it('follows pods appearing, readiness, IP changes and deletion; a burst is a handful of writes; SIGTERM exits 0', async () => {
    const registry = await setupRegistry()
    const child = spawn(
      process.execPath,
      [
        BIN,
        'kube',
        'discover',
        '--owner-id',
        'w',
        '-n',
        'k8s',
        '--kubeconfig',
        kubeconfig,
        '--kube-namespace',
        'live',
        '--min-interval',
        '1s',
        '--registry',
        registry,
      ],
      {env: isolatedEnv() as NodeJS.ProcessEnv},
    )
    let stderr = ''
    let stdout = ''
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
    try {
      const endpoints = async () => (await services(registry)).filter((s) => s.labels.roster_owner === 'w').map((s) => s.endpoint)
      await until('the first reconcile and the watch', () => api.openWatchCount() > 0 && stdout.includes('Reconciled'))

      api.addPod(makePod({name: 'p1', namespace: 'live', ip: '127.0.2.1', port: 9100, ready: false}))
      api.addPod(makePod({name: 'p2', namespace: 'live', ip: '127.0.2.2', port: 9100}))
      await until('p2 registered, unready p1 not', async () => (await endpoints()).join() === 'http://127.0.2.2:9100/metrics')

      api.updatePod('live', 'p1', (p) => setPodReady(p, true))
      await until('p1 registered once ready', async () => (await endpoints()).length === 2)

      api.updatePod('live', 'p2', (p) => setPodReady(p, false))
      await until('p2 unregistered when unready', async () => (await endpoints()).join() === 'http://127.0.2.1:9100/metrics')

      api.updatePod('live', 'p1', (p) => setPodIp(p, '127.0.2.9'))
      await until('p1 follows its new IP', async () => (await endpoints()).join() === 'http://127.0.2.9:9100/metrics')

      api.updatePod('live', 'p1', (p) => {
        delete (p.metadata.annotations as Record<string, string>)['prometheus.io/scrape']
      })
      await until('p1 unregistered when the annotation goes', async () => (await endpoints()).length === 0)
      api.updatePod('live', 'p1', (p) => {
        ;(p.metadata.annotations as Record<string, string>)['prometheus.io/scrape'] = 'true'
      })
      await until('p1 back', async () => (await endpoints()).length === 1)
      api.deletePod('live', 'p1')
      api.deletePod('live', 'p2')
      await until('deleted pods unregistered', async () => (await endpoints()).length === 0)

      // A burst: 500 pods added and each modified once = 1,000 pod events.
      const start = await revision(registry)
      for (let i = 0; i < 500; i++)
        api.addPod(makePod({name: `b-${i}`, namespace: 'live', ip: `127.0.${3 + (i >> 7)}.${(i & 127) + 1}`, port: 9100}))
      for (let i = 0; i < 500; i++) api.updatePod('live', `b-${i}`, (p) => ((p.metadata.labels as Record<string, string>).burst = 'yes'))
      await until('the burst registered', async () => (await endpoints()).length === 500, {timeoutMs: 60_000})
      const writes = (await revision(registry)) - start
      process.stdout.write(`# 1000 pod events → ${writes} store writes (transactions)\n`)
      assert.ok(writes <= 60, `1000 pod events took ${writes} store writes`)

      // The hand-registered and the other owner's services survived every reconcile.
      const all = byEndpoint(await services(registry))
      assert.equal(all.get('http://127.0.0.50:9100/metrics')?.name, 'hand')
      assert.equal(all.get('http://127.0.0.51:9100/metrics')?.labels.roster_owner, 'cluster-b')
    } finally {
      child.kill('SIGTERM')
      assert.equal(await exit, 0, stderr)
      for (let i = 0; i < 500; i++) api.deletePod('live', `b-${i}`)
    }
  })
})
