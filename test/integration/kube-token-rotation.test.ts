/**
 * In a pod, roster's credentials are the bound service-account token the kubelet keeps in
 * /var/run/secrets/kubernetes.io/serviceaccount/token and rewrites before it expires. The
 * long-running jobs read it through client-node's tokenFile provider, which reads the file again
 * (at most a minute later, as client-go does). Here the token is rotated and the test API server
 * refuses the old one from then on: the exporter, metrics-proxy and kube discover, configured
 * in-cluster (KUBERNETES_SERVICE_HOST/PORT and that directory), keep working — a change made
 * after the rotation reaches each of them, with the new token. Were the token read once at start,
 * every request after the rotation would be refused and this test would time out.
 */
import assert from 'node:assert/strict'
import {copyFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {startNodeExporter, type NodeExporter} from '../../src/lib/cluster/node-exporter.js'
import {runDiscoverLoop} from '../../src/lib/discover/discover.js'
import {startMetricsProxy, type MetricsProxy} from '../../src/lib/metrics-proxy/proxy.js'
import {Registry} from '../../src/lib/registry/registry.js'
import {openStore} from '../../src/lib/store/open-store.js'
import type {Store} from '../../src/lib/store/store.js'
import {startKubeApiServer, type KubeApiServer} from '../support/kube-api-server.js'
import {makeNode, makeNodeLease} from '../support/kube-objects.js'
import {makePod} from '../support/pod-fixtures.js'
import {until} from '../support/until.js'

const BEFORE = 'system:serviceaccount:roster:before-rotation'
const AFTER = 'system:serviceaccount:roster:after-rotation'
/** The tokenFile provider reads the file again a minute after it last read it; then backoff. */
const RECOVERY_MS = 150_000

let api: KubeApiServer
let dir: string
let serviceAccountDir: string
let env: NodeJS.ProcessEnv
const metricsServers: Server[] = []
/** Pod IP → the port its metrics are served on. */
const metricsPorts = new Map<string, number>()

async function serveMetrics(ip: string): Promise<void> {
  const server = createServer((_req, res) => res.writeHead(200, {'content-type': 'text/plain'}).end('demo_up 1\n'))
  metricsServers.push(server)
  metricsPorts.set(
    ip,
    await new Promise<number>((resolve) => server.listen(0, ip, () => resolve((server.address() as {port: number}).port))),
  )
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'roster-rotation-'))
  await serveMetrics('127.0.0.1')
  await serveMetrics('127.0.0.2')
  api = await startKubeApiServer({
    tokens: {'token-before': BEFORE},
    nodes: [makeNode({name: 'a'})],
    leases: [makeNodeLease('a')],
    pods: [makePod({name: 'web-1', namespace: 'shop', deployment: 'web', ip: '127.0.0.1', port: metricsPorts.get('127.0.0.1')})],
  })
  // The pod's service-account directory, as the kubelet projects it.
  serviceAccountDir = path.join(dir, 'serviceaccount')
  mkdirSync(serviceAccountDir)
  writeFileSync(path.join(serviceAccountDir, 'token'), 'token-before')
  writeFileSync(path.join(serviceAccountDir, 'namespace'), 'roster')
  copyFileSync(api.caFile, path.join(serviceAccountDir, 'ca.crt'))
  // In a pod: no kubeconfig anywhere, the API server's address in the environment.
  env = {HOME: path.join(dir, 'home'), KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(api.port)}
})

after(async () => {
  await api?.stop()
  for (const server of metricsServers) server.close()
  rmSync(dir, {recursive: true, force: true})
})

/** The kubelet's rewrite: the new token in place at once (a rename), never a half-written file. */
function rotateToken(token: string): void {
  const next = path.join(serviceAccountDir, '.token.next')
  writeFileSync(next, token)
  renameSync(next, path.join(serviceAccountDir, 'token'))
}

describe('a rotated service-account token', () => {
  it('the exporter, metrics-proxy and kube discover keep working with the new token', {timeout: RECOVERY_MS + 60_000}, async () => {
    const inCluster = {env, serviceAccountDir, timeoutMs: 10_000}
    const backoff = {initialMs: 200, maxMs: 2000}
    let exporter: NodeExporter | undefined
    let proxy: MetricsProxy | undefined
    let store: Store | undefined
    const controller = new AbortController()
    let discover: Promise<unknown> | undefined
    const errors: string[] = []
    try {
      exporter = await startNodeExporter({...inCluster, listen: '127.0.0.1:0', backoff})
      proxy = await startMetricsProxy({...inCluster, listen: '127.0.0.1:0', scrapeTimeoutMs: 5000})
      store = await openStore({registry: `sqlite:${path.join(dir, 'registry.db')}`, timeoutMs: 10_000})
      const registry = new Registry(store)
      discover = runDiscoverLoop(registry, {
        ...inCluster,
        namespace: 'default',
        ownerId: 'rotation',
        nameFrom: {kind: 'pod'},
        pods: {},
        minIntervalMs: 100,
        maxIntervalMs: 60_000,
        signal: controller.signal,
        onResult: () => undefined,
        onError: (error) => errors.push(String(error)),
      })
      const exporterUrl = exporter.url
      const proxyUrl = proxy.url
      const registered = async (url: string) => {
        for await (const service of registry.listServices({namespace: 'default'})) if (service.endpoint === url) return true
        return false
      }
      /** The exporter exports the node, the proxy scrapes the pod, kube discover registered it. */
      const seen = async (pod: string, ip: string, node: string) =>
        (await (await fetch(`${exporterUrl}/metrics`)).text()).includes(`kube_node_status{node="${node}"} 1`) &&
        (await (await fetch(`${proxyUrl}/metrics`)).text()).includes(`up{pod="${pod}",namespace="shop"} 1`) &&
        (await registered(`http://${ip}:${metricsPorts.get(ip)}/metrics`))
      await until('the three jobs, before the rotation', async () => seen('web-1', '127.0.0.1', 'a'), {
        describe: () => errors.join('; '),
      })
      assert.ok(api.requests.some((r) => r.user === BEFORE && r.status === 200))

      // The kubelet rewrites the token; the API server accepts only the new one from now on, and
      // open watches end, so every job has to come back with credentials.
      rotateToken('token-after')
      api.addToken('token-after', AFTER)
      api.revokeToken('token-before')
      api.closeWatches()
      const rotatedAt = api.requests.length
      api.addNode(makeNode({name: 'b'}))
      api.addPod(makePod({name: 'web-2', namespace: 'shop', deployment: 'web', ip: '127.0.0.2', port: metricsPorts.get('127.0.0.2')}))

      // The wait is client-node's minute before it reads the file again: a probe a second is
      // enough to see the end of it, where the default pause would probe (two scrapes and a
      // listing) over a thousand times meanwhile.
      await until('the change, seen by all three with the new token', async () => seen('web-2', '127.0.0.2', 'b'), {
        timeoutMs: RECOVERY_MS,
        intervalMs: 1000,
        describe: () => `${api.requests.slice(rotatedAt).filter((r) => r.status === 401).length} requests refused since the rotation`,
      })
      const since = api.requests.slice(rotatedAt)
      assert.ok(!since.some((r) => r.user === BEFORE), 'the old token was refused')
      for (const resource of ['nodes', 'leases', 'pods'] as const) {
        assert.ok(
          since.some((r) => r.user === AFTER && r.resource === resource && r.verb === 'watch' && r.status === 200),
          `${resource} watched with the new token`,
        )
      }
      assert.equal(exporter.health().synced, true)
    } finally {
      controller.abort()
      await discover?.catch(() => undefined)
      await exporter?.close()
      await proxy?.close()
      await store?.close()
    }
  })
})
