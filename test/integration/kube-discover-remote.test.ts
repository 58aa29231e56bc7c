/**
 * `roster kube discover --once` against a REMOTE registry (`roster serve` over SQLite, the CLI
 * with --registry http://127.0.0.1:PORT), with the test Kubernetes API server's pods: with an
 * admin token and with a `service` token for the roster namespace, the pods' services appear
 * through the API, a second run writes nothing (the store's revision is unchanged), a deleted pod
 * is unregistered, and a service token is refused (exit 4, nothing written) outside its namespaces.
 */
import assert from 'node:assert/strict'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {storeRevision} from '../../src/lib/loop/registry-changes.js'
import {openStore} from '../../src/lib/store/open-store.js'
import {type CliResult, isolatedEnv, runCli} from '../support/cli.js'
import {startKubeApiServer, type KubeApiServer} from '../support/kube-api-server.js'
import {makePod} from '../support/pod-fixtures.js'
import {type ServeProcess, createToken, http, startServe} from '../support/serve-server.js'

interface ServiceJson {
  namespace: string
  name: string
  endpoint: string
  labels: Record<string, string>
  modified?: string
}

function ok(r: CliResult): CliResult {
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stdout} ${r.stderr}`)
  return r
}

describe('kube discover --once against roster serve (remote registry)', () => {
  let api: KubeApiServer
  let kubeconfig: string
  let dir: string
  let registry: string
  let serve: ServeProcess
  let admin: string
  let svc: string
  const homes: string[] = []
  let dbPresent = false
  const addDb = (): void => {
    api.addPod(makePod({name: 'db-0', namespace: 'shop', ip: '127.0.0.22', port: 9187, owner: {kind: 'StatefulSet', name: 'db'}}))
    dbPresent = true
  }

  const cli = async (token: string, ...args: string[]): Promise<CliResult> => {
    const env = isolatedEnv({ROSTER_REGISTRY: serve.url, ROSTER_TOKEN: token, ROSTER_TIMEOUT: '10s'})
    homes.push(env.HOME!)
    return runCli(args, {env})
  }
  const discover = (token: string, namespace: string, ownerId: string, ...extra: string[]): Promise<CliResult> =>
    cli(token, 'kube', 'discover', '--once', '--owner-id', ownerId, '-n', namespace, '--kubeconfig', kubeconfig, ...extra)
  /** The services as the API serves them: GET /v1/services?namespace=N. */
  const apiServices = async (namespace: string): Promise<ServiceJson[]> => {
    const r = await http(`${serve.url}/v1/services?namespace=${namespace}`, {token: admin})
    assert.equal(r.status, 200, r.text)
    const body = r.json() as ServiceJson[] | {items: ServiceJson[]}
    const list = Array.isArray(body) ? body : body.items
    return [...list].sort((a, b) => a.endpoint.localeCompare(b.endpoint))
  }
  const revision = async (): Promise<number> => {
    const store = await openStore({registry, timeoutMs: 10_000})
    try {
      return await storeRevision(store)
    } finally {
      await store.close()
    }
  }

  before(async () => {
    api = await startKubeApiServer()
    kubeconfig = api.kubeconfigPath()
    dir = mkdtempSync(path.join(tmpdir(), 'roster-discover-remote-'))
    registry = `sqlite:${path.join(dir, 'registry.db')}`
    admin = await createToken(registry, {id: 'admin-1', role: 'admin', namespaces: ['*']})
    svc = await createToken(registry, {id: 'svc-k8s', role: 'service', namespaces: ['k8s']})
    serve = await startServe({registry})
    for (const ns of ['k8s', 'k8s-admin']) ok(await cli(admin, 'namespace', 'register', ns))
    api.addPod(makePod({name: 'api-0', namespace: 'shop', ip: '127.0.0.21', port: 8080, owner: {kind: 'StatefulSet', name: 'api'}}))
    addDb()
  })
  after(async () => {
    await serve?.stop()
    await api?.stop()
    rmSync(dir, {recursive: true, force: true})
    for (const home of homes) rmSync(home, {recursive: true, force: true})
  })

  for (const who of ['admin', 'service'] as const) {
    const namespace = who === 'admin' ? 'k8s-admin' : 'k8s'
    const ownerId = `cluster-${who}`
    const token = (): string => (who === 'admin' ? admin : svc)

    describe(`with ${who === 'admin' ? 'an admin' : 'a service'} token (namespace ${namespace})`, () => {
      before(() => {
        // Each round starts from the same two pods.
        if (!dbPresent) addDb()
      })

      it('registers the pods: their services appear through the API', async () => {
        const r = JSON.parse(ok(await discover(token(), namespace, ownerId, '--json')).stdout) as {created: number; removed: number}
        assert.equal(r.created, 2)
        const listed = await apiServices(namespace)
        assert.deepEqual(
          listed.map((s) => [s.name, s.endpoint, s.labels.pod, s.labels.roster_owner]),
          [
            ['api', 'http://127.0.0.21:8080/metrics', 'api-0', ownerId],
            ['db', 'http://127.0.0.22:9187/metrics', 'db-0', ownerId],
          ],
        )
      })

      it('a second run writes nothing: same services, store revision unchanged', async () => {
        const before_ = await revision()
        const listed = await apiServices(namespace)
        const r = ok(await discover(token(), namespace, ownerId))
        assert.match(r.stdout, /0 created, 0 updated, 2 unchanged, 0 removed/)
        assert.equal(await revision(), before_)
        assert.deepEqual(await apiServices(namespace), listed)
      })

      it('a deleted pod is unregistered', async () => {
        api.deletePod('shop', 'db-0')
        dbPresent = false
        const r = ok(await discover(token(), namespace, ownerId))
        assert.match(r.stdout, /0 created, 0 updated, 1 unchanged, 1 removed/)
        assert.deepEqual(
          (await apiServices(namespace)).map((s) => s.endpoint),
          ['http://127.0.0.21:8080/metrics'],
        )
      })
    })
  }

  it('a service token outside its namespaces: exit 4, nothing written', async () => {
    if (!dbPresent) addDb()
    const before_ = await revision()
    const adminView = await apiServices('k8s-admin')
    const r = await discover(svc, 'k8s-admin', 'cluster-admin')
    assert.equal(r.code, 4, `exit ${r.code}: ${r.stdout} ${r.stderr}`)
    assert.ok(!r.stderr.includes(svc), 'the token is never printed')
    assert.equal(await revision(), before_)
    assert.deepEqual(await apiServices('k8s-admin'), adminView)
  })
})
