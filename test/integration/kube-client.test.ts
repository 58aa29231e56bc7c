/**
 * The cluster client against the test API server: pagination, 410 restarts, services and
 * ingresses (for the DNS sources), kubeconfig variants, the in-cluster service account, and the
 * informer's watch resume / relist.
 */
import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'

import {createClusterClient} from '../../src/lib/cluster/cluster-client.js'
import {runInformer} from '../../src/lib/cluster/informer.js'
import type {KubeNode} from '../../src/lib/cluster/kube-types.js'
import {summarizeNode, type NodeSummary} from '../../src/lib/cluster/node-readiness.js'
import {BackendUnavailableError, InvalidInputError, NotAllowedError, NotFoundError} from '../../src/lib/errors.js'
import {startKubeApiServer, type KubeApiServer} from '../support/kube-api-server.js'
import {makeIngress, makeNode, makeService} from '../support/kube-objects.js'
import {until} from '../support/until.js'

let api: KubeApiServer
let tmp: string

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'roster-kube-client-'))
  const nodes = []
  for (let i = 0; i < 1234; i++)
    nodes.push(
      makeNode({
        name: `node-${String(i).padStart(4, '0')}`,
        roles: i % 10 === 0 ? ['control-plane'] : ['worker'],
        ready: i % 100 === 7 ? 'False' : 'True',
      }),
    )
  api = await startKubeApiServer({
    nodes,
    services: [
      makeService({
        name: 'web',
        namespace: 'shop',
        type: 'LoadBalancer',
        loadBalancer: [{ip: '198.51.100.7'}],
        annotations: {'external-dns.alpha.kubernetes.io/hostname': 'web.example.org'},
      }),
      makeService({name: 'db', namespace: 'shop', labels: {tier: 'data'}}),
      makeService({name: 'kubernetes', namespace: 'default', clusterIP: '10.96.0.1'}),
    ],
    ingresses: [
      makeIngress({name: 'web', namespace: 'shop', hosts: ['shop.example.org'], loadBalancer: [{hostname: 'lb.example.net'}]}),
      makeIngress({name: 'docs', namespace: 'docs', hosts: ['docs.example.org'], labels: {team: 'docs'}}),
    ],
  })
})

after(async () => {
  await api.stop()
  rmSync(tmp, {recursive: true, force: true})
})

describe('cluster client', () => {
  it('lists every node in pages of 500 with continue, mapping each page as it arrives', async () => {
    const client = await createClusterClient({kubeconfig: api.kubeconfigPath()})
    api.resetRequests()
    const listed = await client.listNodes(summarizeNode)
    client.close()
    assert.equal(listed.items.length, 1234)
    assert.equal(listed.pages, 3)
    assert.equal(listed.restarts, 0)
    assert.equal(api.requestCount({verb: 'list', resource: 'nodes'}), 3)
    assert.ok(api.requests.every((r) => r.query.get('limit') === '500'))
    assert.equal(api.requests.filter((r) => r.query.has('continue')).length, 2)
    assert.equal(listed.items.filter((n) => n.ready === 'False').length, 13)
    assert.equal(listed.resourceVersion, String(api.resourceVersion()))
  })

  it('restarts the list when a continue token has expired (410)', async () => {
    const client = await createClusterClient({kubeconfig: api.kubeconfigPath()})
    api.resetRequests()
    api.failNextContinue(1)
    const listed = await client.listNodes((n) => n.metadata.name, {limit: 300})
    client.close()
    assert.equal(listed.restarts, 1)
    assert.equal(listed.items.length, 1234, 'no node lost or counted twice')
    assert.equal(new Set(listed.items).size, 1234)
    assert.equal(api.requestCount({status: 410}), 1)
    // first page, 410 on the second, then a whole fresh list of 5 pages
    assert.equal(api.requestCount({verb: 'list'}), 1 + 1 + 5)
  })

  it('passes the label selector to the server', async () => {
    const client = await createClusterClient({kubeconfig: api.kubeconfigPath()})
    const listed = await client.listNodes((n) => n.metadata.name, {labelSelector: 'node-role.kubernetes.io/control-plane'})
    await assert.rejects(
      client.listNodes((n) => n, {labelSelector: 'a in (b'}),
      InvalidInputError,
    )
    client.close()
    assert.equal(listed.items.length, 124)
  })

  it('lists services and ingresses, in all namespaces or one, with selectors', async () => {
    const client = await createClusterClient({kubeconfig: api.kubeconfigPath()})
    const all = await client.listServices((s) => `${s.metadata.namespace}/${s.metadata.name}`)
    assert.deepEqual(all.items, ['default/kubernetes', 'shop/db', 'shop/web'])
    const shop = await client.listServices((s) => s, {namespace: 'shop', labelSelector: '!tier'})
    assert.equal(shop.items.length, 1)
    assert.deepEqual(shop.items[0]?.status?.loadBalancer?.ingress, [{ip: '198.51.100.7'}])
    assert.equal(shop.items[0]?.metadata.annotations?.['external-dns.alpha.kubernetes.io/hostname'], 'web.example.org')
    const ingresses = await client.listIngresses((i) => i.spec?.rules?.map((r) => r.host))
    assert.deepEqual(ingresses.items, [['docs.example.org'], ['shop.example.org']])
    const docs = await client.listIngresses((i) => i.metadata.name, {namespace: 'docs', labelSelector: 'team=docs'})
    assert.deepEqual(docs.items, ['docs'])
    await assert.rejects(client.getNode('nope'), NotFoundError)
    assert.equal((await client.getNode('node-0001')).metadata.name, 'node-0001')
    client.close()
  })

  it('authenticates with client certificates, inline CA data, or insecure-skip-tls-verify', async () => {
    for (const opts of [{auth: 'cert' as const, user: 'carol'}, {inlineCa: true}, {insecure: true}]) {
      const client = await createClusterClient({kubeconfig: api.kubeconfigPath(opts)})
      const listed = await client.listNodes((n) => n.metadata.name, {labelSelector: 'kubernetes.io/hostname=node-0002'})
      client.close()
      assert.deepEqual(listed.items, ['node-0002'], JSON.stringify(opts))
    }
    assert.equal(
      api.requests.some((r) => r.user === 'carol'),
      true,
    )
  })

  it('refuses a server whose certificate the CA did not sign (exit 2), names 401/403 (exit 4)', async () => {
    const other = await startKubeApiServer({nodes: []})
    try {
      // our CA, the other server: TLS verification must fail
      const file = api.kubeconfigPath({server: other.url})
      const client = await createClusterClient({kubeconfig: file})
      await assert.rejects(
        client.listNodes((n) => n),
        (e: unknown) => e instanceof InvalidInputError && /TLS/.test(e.message) && /certificate-authority/.test(e.message),
      )
      client.close()
    } finally {
      await other.stop()
    }
    const viewer = await createClusterClient({kubeconfig: api.kubeconfigPath({user: 'viewer'})})
    await assert.rejects(
      viewer.listServices((s) => s, {namespace: 'shop'}),
      (e: unknown) =>
        e instanceof NotAllowedError &&
        e.message.includes('User "viewer" cannot list resource "services" in API group "" in the namespace "shop"'),
    )
    viewer.close()
  })

  it('uses the in-cluster service account when there is no kubeconfig', async () => {
    const sa = join(tmp, 'serviceaccount')
    mkdirSync(sa, {recursive: true})
    writeFileSync(join(sa, 'token'), 'admin-token\n')
    writeFileSync(join(sa, 'ca.crt'), api.caPem)
    writeFileSync(join(sa, 'namespace'), 'default')
    const env = {HOME: join(tmp, 'home-without-kube'), KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(api.port)}
    const client = await createClusterClient({env, serviceAccountDir: sa})
    assert.equal(client.kubeconfig.source, 'in-cluster service account')
    const listed = await client.listNodes((n) => n.metadata.name, {labelSelector: 'kubernetes.io/hostname=node-0003'})
    client.close()
    assert.deepEqual(listed.items, ['node-0003'])
    await assert.rejects(
      createClusterClient({env: {HOME: join(tmp, 'home-without-kube')}, serviceAccountDir: sa}),
      (e: unknown) => e instanceof InvalidInputError && /no kubeconfig/.test(e.message),
    )
  })

  it('reports an unreachable cluster as unavailable (exit 3)', async () => {
    const client = await createClusterClient({kubeconfig: api.kubeconfigPath({server: 'https://127.0.0.1:1'}), timeoutMs: 2000})
    await assert.rejects(
      client.listNodes((n) => n),
      (e: unknown) => e instanceof BackendUnavailableError && /unreachable/.test(e.message) && e.exitCode === 3,
    )
    client.close()
  })
})

describe('watch', () => {
  it('ends when aborted while the request is still on its way', async () => {
    const client = await createClusterClient({kubeconfig: api.kubeconfigPath()})
    const controller = new AbortController()
    const watching = client.watch(client.pathOf('nodes'), {
      resourceVersion: String(api.resourceVersion()),
      signal: controller.signal,
      onEvent: () => undefined,
    })
    controller.abort()
    // No timed race: a watch that did not end would hang here and the test runner's timeout fails it.
    const outcome = await watching.then(() => 'ended')
    client.close()
    assert.equal(outcome, 'ended')
  })
})

describe('informer (list + watch)', () => {
  it('resumes from the last resourceVersion when a stream ends, and relists after 410', async () => {
    const watchApi = await startKubeApiServer({nodes: [makeNode({name: 'a'}), makeNode({name: 'b'})], bookmarkIntervalMs: 100})
    const client = await createClusterClient({kubeconfig: watchApi.kubeconfigPath()})
    const controller = new AbortController()
    const changes: string[] = []
    let state: ReadonlyMap<string, NodeSummary> = new Map()
    let syncs = 0
    const showChanges = {describe: () => `changes: ${changes.join(' ')}`}
    const done = runInformer<KubeNode, NodeSummary>({
      client,
      path: client.pathOf('nodes'),
      map: summarizeNode,
      signal: controller.signal,
      backoff: {initialMs: 50, maxMs: 200},
      onSynced: (items) => {
        state = items
        syncs++
      },
      onChange: (type, key, item) => changes.push(`${type}:${key}:${item?.ready ?? '-'}`),
    })
    try {
      await until('initial sync', () => syncs === 1 && watchApi.openWatchCount() === 1, showChanges)
      watchApi.updateNode('a', (n) => {
        ;(n.status as {conditions: Array<{type: string; status: string}>}).conditions.find((c) => c.type === 'Ready')!.status = 'False'
      })
      watchApi.addNode(makeNode({name: 'c'}))
      await until('two events', () => changes.length === 2, showChanges)
      assert.deepEqual(changes, ['MODIFIED:a:False', 'ADDED:c:True'])

      // The server ends the stream; the changes made meanwhile arrive through the resumed watch.
      watchApi.resetRequests()
      watchApi.closeWatches()
      watchApi.deleteNode('b')
      await until('delete after resume', () => changes.length === 3, showChanges)
      assert.equal(changes[2], 'DELETED:b:-')
      assert.equal(watchApi.requestCount({verb: 'list'}), 0, 'resumed without a relist')
      assert.ok(
        watchApi.requests.some((r) => r.verb === 'watch' && Number(r.query.get('resourceVersion')) >= watchApi.resourceVersion() - 1),
      )

      // Bookmarks only, no list: heartbeats with no change are not reported.
      watchApi.updateNode('c', (n) => {
        ;(n.status as {conditions: Array<{lastHeartbeatTime: string}>}).conditions.forEach(
          (c) => (c.lastHeartbeatTime = new Date(Date.now() + 10_000).toISOString()),
        )
      })
      // A real change after it, on the same stream: when it arrives, the heartbeat (sent first) has been handled.
      watchApi.updateNode('a', (n) => {
        ;(n.status as {conditions: Array<{type: string; status: string}>}).conditions.find((c) => c.type === 'Ready')!.status = 'True'
      })
      await until('the change after the heartbeat', () => changes.length === 4, showChanges)
      assert.equal(changes[3], 'MODIFIED:a:True', 'a heartbeat-only update is not a change')

      // History compacted while disconnected: the watch gets 410 and the informer relists.
      watchApi.closeWatches()
      watchApi.addNode(makeNode({name: 'd', ready: 'Unknown'}))
      watchApi.compactHistory()
      await until('relist after 410', () => syncs === 2 && changes.length === 5, showChanges)
      assert.equal(changes[4], 'ADDED:d:Unknown')
      assert.deepEqual([...state.keys()].sort(), ['a', 'c', 'd'])
    } finally {
      controller.abort()
      await done
      client.close()
      await watchApi.stop()
    }
  })
})
