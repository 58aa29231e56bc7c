/**
 * Least privilege, proven: the test API server authorizes every request of the jobs' service
 * accounts with RBAC read from the rendered manifests (deploy/kubernetes, `kubectl kustomize`),
 * and refuses as kube-apiserver refuses. Each job runs as its Deployment describes it (its args,
 * its ConfigMap's settings, its ServiceAccount's token) through what it does in a cluster; a 403
 * fails its test. At the end, every verb on every resource the manifests grant must have been
 * used by some request: a grant nothing used fails the suite.
 */
import assert from 'node:assert/strict'
import {mkdtempSync, rmSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {isolatedEnv, runCli} from '../support/cli.js'
import {freePort} from '../support/free-port.js'
import {startKubeApiServer, type KubeApiServer} from '../support/kube-api-server.js'
import {
  containerEnv,
  deployedContainer,
  JOBS,
  onLoopback,
  renderBase,
  spawnJob,
  type Job,
  type RenderedObject,
} from '../support/kube-manifests.js'
import {makeIngress, makeNode, makeNodeLease, makeService} from '../support/kube-objects.js'
import {RbacAuthorizer, type Use} from '../support/kube-rbac.js'
import {kubectl} from '../support/kubectl.js'
import {startPdns, type StartedPdns} from '../support/pdns-server.js'
import {makePod} from '../support/pod-fixtures.js'
import {until} from '../support/until.js'

const NAMESPACE = 'roster'
const READ_VERBS = new Set(['get', 'list', 'watch'])

let rendered: Record<Job, RenderedObject[]>
let rbac: RbacAuthorizer
let api: KubeApiServer
let dir: string
let metricsServer: Server
let metricsPort: number

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'roster-rbac-'))
  rendered = Object.fromEntries(JOBS.map((job) => [job, renderBase(job)])) as Record<Job, RenderedObject[]>
  rbac = new RbacAuthorizer(Object.values(rendered).flat())
  metricsServer = createServer((_req, res) => res.writeHead(200, {'content-type': 'text/plain'}).end('demo_up 1\n'))
  metricsPort = await new Promise<number>((resolve) =>
    metricsServer.listen(0, '127.0.0.1', () => resolve((metricsServer.address() as {port: number}).port)),
  )
  api = await startKubeApiServer({
    authorizer: rbac,
    nodes: [makeNode({name: 'cp-1', roles: ['control-plane']}), makeNode({name: 'w-1', roles: ['worker']})],
    leases: [makeNodeLease('cp-1'), makeNodeLease('w-1', new Date(Date.now() - 300_000))],
    pods: [makePod({name: 'api-1', namespace: 'shop', deployment: 'api', port: metricsPort})],
    services: [
      makeService({
        name: 'web',
        namespace: 'shop',
        type: 'LoadBalancer',
        loadBalancer: [{ip: '192.0.2.10'}],
        annotations: {'external-dns.alpha.kubernetes.io/hostname': 'web.example.org'},
      }),
    ],
    ingresses: [makeIngress({name: 'shop', namespace: 'shop', hosts: ['shop.example.org'], loadBalancer: [{ip: '192.0.2.20'}]})],
  })
})

after(async () => {
  await api?.stop()
  metricsServer?.close()
  rmSync(dir, {recursive: true, force: true})
})

/** The job's container: its args, and the environment its manifest gives it plus the test's. */
function deployed(job: Job): {args: string[]; env: Record<string, string>; user: string} {
  const objects = rendered[job]
  const {pod, container} = deployedContainer(objects)
  assert.equal(pod.serviceAccountName, `roster-${job}`, `${job} runs as its own ServiceAccount`)
  const sa = rbac.account(NAMESPACE, pod.serviceAccountName)
  const kubeconfig = api.kubeconfigPath({user: sa.name, token: sa.token})
  // One code cache for every job here (each pod's is an emptyDir): after the first, the jobs start
  // warm, which saves about 0.1 s of CPU each and changes nothing their requests show.
  const env = {...containerEnv(objects, container), XDG_CACHE_HOME: path.join(dir, 'cache'), KUBECONFIG: kubeconfig}
  return {args: container.args ?? [], env, user: sa.user}
}

const list = (resource: string, apiGroup = '', namespace?: string): Use[] =>
  ['list', 'watch'].map((verb) => ({verb, apiGroup, resource, ...(namespace ? {namespace} : {})}))

/** The job's requests were all allowed, and these are all it used. */
function assertUsedOnly(user: string, expected: Use[]): void {
  assert.deepEqual(
    rbac.refusals(user).map((r) => r.message),
    [],
    `${user} was refused`,
  )
  const key = (u: Use) => JSON.stringify([u.verb, u.apiGroup, u.resource, u.namespace ?? ''])
  assert.deepEqual(rbac.usesOf(user).map(key).sort(), expected.map(key).sort())
}

describe('RBAC of deploy/kubernetes, proven by the jobs themselves', () => {
  it('grants only reading verbs, never a wildcard, each job its own ServiceAccount', () => {
    for (const grant of rbac.grants()) {
      assert.ok(READ_VERBS.has(grant.verb), `${grant.binding}: ${grant.verb} ${grant.resource} is not a read`)
      assert.ok(![grant.verb, grant.apiGroup, grant.resource].includes('*'), `${grant.binding}: a wildcard`)
    }
    const roles = Object.values(rendered)
      .flat()
      .filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole')
    for (const role of roles) {
      for (const rule of role.rules as Array<{nonResourceURLs?: string[]; resources?: string[]}>) {
        assert.equal(rule.nonResourceURLs, undefined, `${role.metadata.name}: nonResourceURLs`)
        assert.ok(rule.resources && rule.resources.length > 0)
      }
    }
    assert.deepEqual(
      rbac.serviceAccounts.map((s) => `${s.namespace}/${s.name}`).sort(),
      JOBS.map((job) => `${NAMESPACE}/roster-${job}`).sort(),
    )
  })

  it('node-status --serve as deployed: nodes and their Leases, listed and watched', async () => {
    const {args, env, user} = deployed('node-status')
    const port = await freePort()
    const job = spawnJob(onLoopback(args, '--serve', `127.0.0.1:${port}`), env)
    try {
      const scrape = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
      await until('both Leases exported', async () => (await scrape()).match(/^roster_node_lease_renew_age_seconds\{/gm)?.length === 2, {
        describe: () => job.stderr(),
      })
      assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200)
      api.addNode(makeNode({name: 'w-2'}))
      await until('the new node, through the watch', async () => (await scrape()).includes('node="w-2"'), {describe: () => job.stderr()})
      assert.doesNotMatch(job.stderr(), /forbidden/i)
    } finally {
      assert.equal(await job.stop(), 0, job.stderr())
    }
    // The table a person would print with the same account: the same list of nodes and Leases.
    const table = await runCli(['node-status'], {env: isolatedEnv({KUBECONFIG: env.KUBECONFIG})})
    assert.equal(table.code, 0, table.stderr)
    assert.match(table.stdout, /no Lease renewal for over .*: w-1\n$/)
    assertUsedOnly(user, [...list('nodes'), ...list('leases', 'coordination.k8s.io', 'kube-node-lease')])
  })

  it('kube metrics-proxy as deployed: pods in every namespace, listed and watched', async () => {
    const {args, env, user} = deployed('metrics-proxy')
    const port = await freePort()
    const job = spawnJob(onLoopback(args, '--listen', `127.0.0.1:${port}`), env)
    try {
      await until('/healthz 200', async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, {describe: () => job.stderr()})
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
      assert.match(text, /^up\{pod="api-1",namespace="shop"\} 1$/m)
    } finally {
      assert.equal(await job.stop(), 0, job.stderr())
    }
    assertUsedOnly(user, list('pods'))
  })

  it('kube discover as deployed: pods in every namespace, listed and watched, registered', async () => {
    const {args, env, user} = deployed('kube-discover')
    // The registry is the test's (the manifest's is a roster serve in the cluster).
    const registry = `sqlite:${path.join(dir, 'registry.db')}`
    const job = spawnJob(args, {...env, ROSTER_REGISTRY: registry})
    try {
      await until('the pod registered', () => / 1 created, /.test(job.stdout()), {describe: () => job.stdout() + job.stderr()})
    } finally {
      assert.equal(await job.stop(), 0, job.stderr())
    }
    const services = await runCli(['service', 'list', '-o', 'json', '--registry', registry], {env: isolatedEnv()})
    assert.match(services.stdout, new RegExp(`http://127\\.0\\.0\\.1:${metricsPort}/metrics`))
    assertUsedOnly(user, list('pods'))
  })

  describe('dns sync --watch as deployed', () => {
    let pdns: StartedPdns
    before(async () => {
      pdns = await startPdns({zones: [{name: 'example.org'}]})
    })
    after(async () => {
      await pdns?.stop()
    })

    it('Services and Ingresses in every namespace, listed and watched, into PowerDNS', async () => {
      const {args, env, user} = deployed('dns-sync')
      // The Secret's key and the test's PowerDNS (the manifest names the cluster's).
      const job = spawnJob(args, {...env, ROSTER_PDNS_SERVER: pdns.url, ROSTER_PDNS_API_KEY: pdns.apiKey})
      try {
        await until(
          'both names in PowerDNS',
          async () => {
            const web = await pdns.contents('example.org', 'web.example.org.', 'A')
            const shop = await pdns.contents('example.org', 'shop.example.org.', 'A')
            return web?.[0] === '192.0.2.10' && shop?.[0] === '192.0.2.20'
          },
          {describe: () => job.stdout() + job.stderr()},
        )
      } finally {
        assert.equal(await job.stop(), 0, job.stderr())
      }
      assertUsedOnly(user, [...list('services'), ...list('ingresses', 'networking.k8s.io')])
    })
  })

  it('serve: no Kubernetes API at all (no role, no token mounted)', () => {
    const {pod} = deployedContainer(rendered.serve)
    assert.equal(pod.automountServiceAccountToken, false)
    const account = rendered.serve.find((o) => o.kind === 'ServiceAccount')
    assert.equal(account?.automountServiceAccountToken, false)
    const user = rbac.account(NAMESPACE, 'roster-serve').user
    assert.deepEqual(
      rbac.grants().filter((g) => g.binding.includes('roster-serve')),
      [],
    )
    assert.deepEqual(rbac.usesOf(user), [])
  })

  it('every verb on every resource granted was used by a job: nothing more is granted', () => {
    assert.deepEqual(rbac.unusedGrants(), [])
    assert.deepEqual(
      rbac.refusals().map((r) => `${r.user}: ${r.message}`),
      [],
    )
  })
})

describe('the authorizer itself', () => {
  it('refuses what is not granted as kube-apiserver does (kubectl prints its Forbidden)', async () => {
    const sa = rbac.account(NAMESPACE, 'roster-node-status')
    const home = mkdtempSync(path.join(dir, 'kubectl-'))
    const config = api.kubeconfigPath({user: sa.name, token: sa.token})
    const pods = await kubectl(home, config, ['get', 'pods', '-A'])
    assert.equal(pods.code, 1)
    assert.match(
      pods.stderr,
      /Error from server \(Forbidden\): pods is forbidden: User "system:serviceaccount:roster:roster-node-status" cannot list resource "pods" in API group "" at the cluster scope/,
    )
    const leases = await kubectl(home, config, ['get', 'leases', '-n', 'kube-system'])
    assert.match(
      leases.stderr,
      /leases\.coordination\.k8s\.io is forbidden: User "system:serviceaccount:roster:roster-node-status" cannot list resource "leases" in API group "coordination\.k8s\.io" in the namespace "kube-system"/,
    )
    const one = await kubectl(home, config, ['get', 'node', 'cp-1'])
    assert.match(
      one.stderr,
      /nodes "cp-1" is forbidden: User "system:serviceaccount:roster:roster-node-status" cannot get resource "nodes"/,
    )
    assert.equal((await kubectl(home, config, ['get', 'nodes', '-o', 'name'])).code, 0)
    assert.equal(rbac.refusals(sa.user).length, 3)
  })

  it('reports a grant that no request used', () => {
    const objects = [
      ...rendered['node-status'],
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRole',
        metadata: {name: 'extra'},
        rules: [{apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list']}],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: {name: 'extra'},
        roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'extra'},
        subjects: [{kind: 'ServiceAccount', name: 'roster-node-status', namespace: NAMESPACE}],
      },
    ]
    const authorizer = new RbacAuthorizer(objects)
    const user = authorizer.account(NAMESPACE, 'roster-node-status').user
    const request = {user, groups: [], resourceRequest: true, path: '/api/v1/nodes'}
    assert.equal(authorizer.authorize({...request, verb: 'list', apiGroup: '', resource: 'nodes'}).allowed, true)
    assert.equal(authorizer.authorize({...request, verb: 'watch', apiGroup: '', resource: 'nodes'}).allowed, true)
    assert.deepEqual(
      authorizer
        .unusedGrants()
        .map((g) => `${g.binding} ${g.verb} ${g.resource} ${g.namespace ?? '*'}`)
        .sort(),
      [
        'ClusterRoleBinding/extra get nodes *',
        'RoleBinding/kube-node-lease/roster-node-status list leases kube-node-lease',
        'RoleBinding/kube-node-lease/roster-node-status watch leases kube-node-lease',
      ],
    )
  })
})
