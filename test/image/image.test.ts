/**
 * roster's OCI image, built by scripts/image.sh (with --oci-archive) and run under podman as a pod
 * runs it (test/image/podman.ts: --read-only without any tmpfs, --user 65532:65532, the in-cluster
 * environment and a mounted service account), against real servers on loopback: the test
 * Kubernetes API server, Prometheus, `roster serve`, etcd, PowerDNS. Each job of the Kubernetes
 * manifests runs from the image: node-status (table and --serve), kube metrics-proxy (configured
 * as metrics-k8s-proxy is), kube discover, dns sync --watch, serve. The archive loads into an empty
 * store and copies with skopeo.
 *
 * Run by `npm run test:image` (root; .ci/run runs it). Without podman the tests are skipped, except
 * under CI=true, where they fail.
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, readdirSync, readFileSync, rmSync, statSync} from 'node:fs'
import {createServer} from 'node:http'
import {request} from 'node:https'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {isolatedEnv, runCli} from '../support/cli.js'
import {startEtcd} from '../support/etcd-server.js'
import {makeTlsFiles} from '../support/test-pki.js'
import {freePort} from '../support/free-port.js'
import {startKubeApiServer, type KubeApiServer} from '../support/kube-api-server.js'
import {makeNode, makeService} from '../support/kube-objects.js'
import {startPdns} from '../support/pdns-server.js'
import {makePod} from '../support/pod-fixtures.js'
import {startPrometheus} from '../support/prometheus-server.js'
import {createToken, http, startServe} from '../support/serve-server.js'
import {until} from '../support/until.js'
import {
  IMAGE,
  IMAGE_NAME,
  IMAGE_UID,
  VERSION,
  buildImage,
  containerOwnedDir,
  inClusterEnv,
  podman,
  podmanUnavailable,
  runContainer,
  serviceAccount,
  skopeo,
  startContainer,
} from './podman.js'

const unavailable = podmanUnavailable()
/** The most the image may be, uncompressed. */
const MAX_IMAGE_BYTES = 160_000_000

describe('the image', {skip: unavailable}, () => {
  const work = mkdtempSync(path.join(tmpdir(), 'roster-image-test-'))
  const archive = path.join(work, 'roster.oci.tar')
  // The service account's token, a fresh one per run: the API server knows no other.
  const token = `sa-${randomBytes(16).toString('hex')}`
  let api: KubeApiServer
  let sa: string
  let env: Record<string, string>
  let buildOutput = ''

  before(async () => {
    buildOutput = buildImage({ociArchive: archive})
    api = await startKubeApiServer({
      // The API server's unrestricted user: what each job may do is the RBAC tests' business.
      tokens: {[token]: 'admin'},
      nodes: [
        makeNode({name: 'cp-1', roles: ['control-plane']}),
        makeNode({name: 'worker-1', roles: ['worker']}),
        makeNode({name: 'worker-2', roles: ['worker'], ready: 'False'}),
      ],
    })
    sa = serviceAccount(api, token)
    env = inClusterEnv(api)
  })

  after(async () => {
    await api?.stop()
    rmSync(work, {recursive: true, force: true})
    if (sa) rmSync(sa, {recursive: true, force: true})
  })

  it('is built as localhost/roster:<version> and :latest, at most 160 MB, running roster as 65532 with Node 24', async () => {
    assert.match(buildOutput, new RegExp(`${IMAGE} \\(${IMAGE_NAME}:latest\\): \\d+ MB uncompressed, Node 24\\.`))
    const inspect = podman(['image', 'inspect', IMAGE])
    assert.equal(inspect.code, 0, inspect.stderr)
    const [image] = JSON.parse(inspect.stdout) as Array<{
      Id: string
      Size: number
      Config: {User: string; Entrypoint: string[]; Env: string[]}
    }>
    assert.ok(image!.Size <= MAX_IMAGE_BYTES, `${image!.Size} bytes`)
    assert.equal(image!.Config.User, `${IMAGE_UID}:${IMAGE_UID}`)
    assert.deepEqual(image!.Config.Entrypoint, ['/usr/bin/roster'])
    assert.ok(image!.Config.Env.includes('XDG_CACHE_HOME=/var/cache'), image!.Config.Env.join(' '))
    const latest = JSON.parse(podman(['image', 'inspect', `${IMAGE_NAME}:latest`]).stdout) as Array<{Id: string}>
    assert.equal(latest[0]!.Id, image!.Id)
    const version = await runContainer(['--version'])
    assert.equal(version.code, 0, version.stderr)
    assert.match(version.stdout, new RegExp(`^roster/${VERSION.replace(/\./g, '\\.')} linux-x64 node-v24\\.`))
  })

  it("holds Debian's CA certificates, and runs Node as 65532 on a read-only root with nothing writable", async () => {
    const script = [
      "const fs = require('node:fs'), {X509Certificate} = require('node:crypto')",
      "const pem = fs.readFileSync(process.env.SSL_CERT_FILE, 'utf8').match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g)",
      'const subjects = pem.map((p) => new X509Certificate(p).subject)',
      "let writable = []; for (const d of ['/', '/tmp', '/home/nonroot', '/var/cache/roster', '/usr/lib/roster']) { try { fs.accessSync(d, fs.constants.W_OK); writable.push(d) } catch {} }",
      "console.log(JSON.stringify({certificates: subjects.length, isrg: subjects.some((s) => s.includes('ISRG Root X1')), uid: process.getuid(), gid: process.getgid(), writable}))",
    ].join('\n')
    const r = await runContainer(['-e', script], {entrypoint: '/usr/local/bin/node'})
    assert.equal(r.code, 0, r.stderr)
    const seen = JSON.parse(r.stdout) as {certificates: number; isrg: boolean; uid: number; gid: number; writable: string[]}
    assert.ok(seen.certificates > 100, `${seen.certificates} certificates`)
    assert.ok(seen.isrg, "Let's Encrypt's root is among them")
    assert.deepEqual({uid: seen.uid, gid: seen.gid, writable: seen.writable}, {uid: IMAGE_UID, gid: IMAGE_UID, writable: []})
  })

  it('node-status: the table, from the in-cluster service account; --fail-if-not-ready exits 7 through podman', async () => {
    const table = await runContainer(['node-status'], {env, serviceAccount: sa})
    assert.equal(table.code, 0, table.stderr)
    assert.match(table.stdout, /^NAME\tSTATUS\tROLES\tAGE\tVERSION$/m)
    assert.match(table.stdout, /^cp-1\tReady\tcontrol-plane\t/m)
    assert.match(table.stdout, /^worker-2\tNotReady\tworker\t/m)
    assert.match(table.stdout, /^2\/3 nodes ready, 1 not ready$/m)
    assert.equal(table.stderr, '')
    const gate = await runContainer(['node-status', '--fail-if-not-ready', '0'], {env, serviceAccount: sa})
    assert.equal(gate.code, 7, gate.stderr)
  })

  it('node-status writes its code cache to $XDG_CACHE_HOME/roster when that is writable (an emptyDir), readable by its owner only', async () => {
    const cache = containerOwnedDir('roster-image-cache-')
    try {
      const r = await runContainer(['node-status', '-o', 'json'], {env, serviceAccount: sa, writable: {'/var/cache/roster': cache}})
      assert.equal(r.code, 0, r.stderr)
      const files = readdirSync(cache).filter((f) => f.endsWith('.v8cache'))
      assert.equal(files.length, 1, readdirSync(cache).join(' '))
      assert.match(files[0]!, /^roster-v24\.[\d.]+-x64-/)
      const stat = statSync(path.join(cache, files[0]!))
      assert.equal(stat.uid, IMAGE_UID)
      assert.equal(stat.mode & 0o077, 0)
    } finally {
      rmSync(cache, {recursive: true, force: true})
    }
  })

  it('node-status --serve: scraped by a real Prometheus; SIGTERM exits 0', async () => {
    const port = await freePort()
    const exporter = startContainer(['node-status', '--serve', `127.0.0.1:${port}`], {env, serviceAccount: sa})
    const prometheus = await startPrometheus({
      scrapeConfigs: [{job_name: 'roster-image', static_configs: [{targets: [`127.0.0.1:${port}`]}]}],
    })
    try {
      await exporter.waitFor(/listed 3 nodes/)
      await until(
        'Prometheus scraping the exporter',
        async () => (await prometheus.query('kube_node_status_nodes_ready{job="roster-image"}'))[0]?.value[1] === '2',
        {describe: () => `${exporter.stderr()}\n${prometheus.log()}`, timeoutMs: 120_000},
      )
      const notReady = await prometheus.query('kube_node_status == 0')
      assert.deepEqual(
        notReady.map((s) => s.metric.node),
        ['worker-2'],
      )
      const [target] = await prometheus.activeTargets()
      assert.equal(target?.health, 'up', target?.lastError)
    } finally {
      await prometheus.stop()
      assert.equal(await exporter.stop(), 0, exporter.stderr())
    }
  })

  it('kube metrics-proxy, configured as metrics-k8s-proxy is (POD_LABEL_SELECTOR, SCRAPE_TIMEOUT, PORT) plus --insecure-plaintext', async () => {
    const pod = createServer((_req, res) => res.end('mesh_connections 3\n'))
    const podPort = await new Promise<number>((resolve) =>
      pod.listen(0, '127.0.0.41', () => resolve((pod.address() as {port: number}).port)),
    )
    api.addPod(makePod({name: 'ztunnel-a', namespace: 'istio-system', ip: '127.0.0.41', port: podPort, labels: {app: 'ztunnel'}}))
    api.addPod(makePod({name: 'web-a', namespace: 'shop', ip: '127.0.0.41', port: podPort, labels: {app: 'web'}}))
    const port = await freePort()
    const proxy = startContainer(['kube', 'metrics-proxy', '--insecure-plaintext'], {
      env: {...env, POD_LABEL_SELECTOR: 'app=ztunnel', SCRAPE_TIMEOUT: '5s', PORT: String(port)},
      serviceAccount: sa,
    })
    try {
      await proxy.waitFor(new RegExp(`serving http://0\\.0\\.0\\.0:${port}/metrics`))
      await until('the pods listed', async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200, {
        describe: () => proxy.stderr(),
        timeoutMs: 60_000,
      })
      const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
      assert.match(body, /^mesh_connections\{pod="ztunnel-a",namespace="istio-system"\} 3$/m)
      assert.match(body, /^up\{pod="ztunnel-a",namespace="istio-system"\} 1$/m)
      assert.doesNotMatch(body, /web-a/)
    } finally {
      assert.equal(await proxy.stop(), 0, proxy.stderr())
      pod.close()
      api.deletePod('istio-system', 'ztunnel-a')
      api.deletePod('shop', 'web-a')
    }
  })

  it('kube discover: the pods become services in a real roster serve, and a new pod follows through the watch', async () => {
    const registry = `sqlite:${path.join(work, 'discover.db')}`
    const setup = await runCli(['namespace', 'register', 'k8s'], {env: isolatedEnv({ROSTER_REGISTRY: registry})})
    assert.equal(setup.code, 0, setup.stderr)
    const serve = await startServe({registry})
    const admin = await createToken(registry, {id: 'admin', role: 'admin', namespaces: ['*']})
    const discoverToken = await createToken(registry, {id: 'discover', role: 'service', namespaces: ['k8s']})
    api.addPod(makePod({name: 'api-0', namespace: 'shop', ip: '127.0.0.42', port: 9100, owner: {kind: 'StatefulSet', name: 'api'}}))
    const discover = startContainer(['kube', 'discover', '--owner-id', 'cluster-a', '-n', 'k8s', '--registry', serve.url], {
      env: {...env, ROSTER_TOKEN: discoverToken},
      serviceAccount: sa,
    })
    const endpoints = async (): Promise<string[]> => {
      const r = await http(`${serve.url}/v1/services?namespace=k8s`, {token: admin})
      const body = r.json() as Array<{endpoint: string}> | {items: Array<{endpoint: string}>}
      return (Array.isArray(body) ? body : body.items).map((s) => s.endpoint).sort()
    }
    try {
      await until('the first reconcile', async () => (await endpoints()).includes('http://127.0.0.42:9100/metrics'), {
        describe: () => discover.stderr(),
        timeoutMs: 120_000,
      })
      api.addPod(makePod({name: 'api-1', namespace: 'shop', ip: '127.0.0.43', port: 9100, owner: {kind: 'StatefulSet', name: 'api'}}))
      await until('the new pod', async () => (await endpoints()).includes('http://127.0.0.43:9100/metrics'), {
        describe: () => discover.stderr(),
        timeoutMs: 60_000,
      })
    } finally {
      assert.equal(await discover.stop(), 0, discover.stderr())
      await serve.stop()
      api.deletePod('shop', 'api-0')
      api.deletePod('shop', 'api-1')
    }
  })

  it('dns sync --watch: Services with external-dns annotations reach a real PowerDNS, a new one through the watch', async () => {
    const pdns = await startPdns({zones: [{name: 'example.org'}]})
    // A LoadBalancer Service named for external-dns, as the dns-sync job's users annotate theirs.
    const addService = (name: string, ip: string) =>
      api.addService(
        makeService({
          name,
          namespace: 'shop',
          type: 'LoadBalancer',
          loadBalancer: [{ip}],
          annotations: {'external-dns.alpha.kubernetes.io/hostname': `${name}.example.org`},
        }),
      )
    addService('web', '127.0.0.44')
    // as the dns-sync manifest runs it: the API key from a Secret, through the environment
    const sync = startContainer(
      ['dns', 'sync', '--watch', '--policy', 'sync', '--owner-id', 'cluster-a', '--source', 'kubernetes', '--provider', 'pdns'],
      {env: {...env, ROSTER_PDNS_SERVER: pdns.url, ROSTER_PDNS_API_KEY: pdns.apiKey, ROSTER_PDNS_ZONE: 'example.org'}, serviceAccount: sa},
    )
    try {
      await until('the first sync', async () => (await pdns.contents('example.org', 'web.example.org', 'A'))?.[0] === '127.0.0.44', {
        describe: () => sync.stderr(),
        timeoutMs: 120_000,
      })
      addService('api', '127.0.0.45')
      await until('the new Service', async () => (await pdns.contents('example.org', 'api.example.org', 'A'))?.[0] === '127.0.0.45', {
        describe: () => sync.stderr(),
        timeoutMs: 60_000,
      })
      assert.deepEqual(await pdns.dig('api.example.org', 'A'), ['127.0.0.45'])
      assert.doesNotMatch(sync.stdout() + sync.stderr(), new RegExp(pdns.apiKey))
    } finally {
      assert.equal(await sync.stop(), 0, sync.stderr())
      await pdns.stop()
      api.deleteService('shop', 'web')
      api.deleteService('shop', 'api')
    }
  })

  it('serve: over etcd, HTTPS from a mounted certificate; /healthz, /readyz, the API and the console answer', async () => {
    const etcd = await startEtcd()
    const tlsDir = mkdtempSync(path.join(work, 'tls-'))
    const tls = makeTlsFiles(tlsDir)
    const secret = containerOwnedDir('roster-image-tls-', {
      'tls.crt': readFileSync(tls.serverCertFile, 'utf8'),
      'tls.key': readFileSync(tls.serverKeyFile, 'utf8'),
    })
    const port = await freePort()
    const admin = await createToken(etcd.url, {id: 'admin', role: 'admin', namespaces: ['*']})
    const serve = startContainer(
      [
        'serve',
        '--registry',
        etcd.url,
        '--listen',
        `127.0.0.1:${port}`,
        '--tls-cert',
        '/etc/roster/tls/tls.crt',
        '--tls-key',
        '/etc/roster/tls/tls.key',
      ],
      {readOnly: {'/etc/roster/tls': secret}},
    )
    const ca = readFileSync(tls.caFile)
    const get = (route: string, bearer?: string) =>
      new Promise<{status: number; body: string; location?: string}>((resolve, reject) => {
        const req = request(
          `https://127.0.0.1:${port}${route}`,
          {ca, headers: bearer ? {authorization: `Bearer ${bearer}`} : {}},
          (res) => {
            let body = ''
            res.setEncoding('utf8').on('data', (d: string) => (body += d))
            res.on('end', () => resolve({status: res.statusCode ?? 0, body, location: res.headers.location}))
          },
        )
        req.on('error', reject)
        req.end()
      })
    try {
      await serve.waitFor(new RegExp(`listening on https://127\\.0\\.0\\.1:${port}`))
      assert.equal((await get('/healthz')).status, 200)
      assert.equal((await get('/readyz')).status, 200)
      const servers = await get('/v1/servers', admin)
      assert.equal(servers.status, 200, servers.body)
      assert.equal((await get('/v1/servers')).status, 401)
      // The web console's assets are in the image: /ui/ sends a stranger to its sign-in page, which
      // links a stylesheet that answers.
      const entry = await get('/ui/')
      assert.equal(entry.status, 303, entry.body)
      assert.match(entry.location ?? '', /^\/ui\/auth\/sign-in/)
      const page = await get(entry.location!)
      const stylesheet = /href="(\/ui\/assets\/[^"]+\.css)"/.exec(page.body)?.[1]
      assert.ok(stylesheet, `a stylesheet link on /ui/: ${page.status} ${page.body.slice(0, 300)}`)
      assert.equal((await get(stylesheet)).status, 200)
    } finally {
      assert.equal(await serve.stop(), 0, serve.stderr())
      await etcd.stop()
      rmSync(secret, {recursive: true, force: true})
    }
  })

  it('the OCI archive loads into an empty podman store and runs there, and skopeo copies it', async () => {
    const store = mkdtempSync(path.join(work, 'store-'))
    const storeOptions = [`--root=${path.join(store, 'root')}`, `--runroot=${path.join(store, 'run')}`]
    try {
      const load = podman([...storeOptions, 'load', '--input', archive])
      assert.equal(load.code, 0, load.stderr)
      assert.match(load.stdout, new RegExp(`Loaded image: ${IMAGE}`))
      const version = await runContainer(['--version'], {podmanOptions: storeOptions})
      assert.equal(version.code, 0, version.stderr)
      assert.match(version.stdout, /^roster\/\S+ linux-x64 node-v24\./)
      const ids = [
        podman(['image', 'inspect', '--format', '{{.Id}}', IMAGE]),
        podman([...storeOptions, 'image', 'inspect', '--format', '{{.Id}}', IMAGE]),
      ]
      assert.equal(ids[1]!.stdout, ids[0]!.stdout, 'the same image as in the local store')
      const layout = path.join(work, 'oci-layout')
      const copy = skopeo(['copy', '--quiet', `oci-archive:${archive}`, `oci:${layout}:${VERSION}`])
      assert.equal(copy.code, 0, copy.stderr)
      const index = JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8')) as {
        manifests: Array<{annotations?: Record<string, string>}>
      }
      assert.equal(index.manifests[0]?.annotations?.['org.opencontainers.image.ref.name'], VERSION)
      const inspect = skopeo(['inspect', `oci-archive:${archive}`])
      assert.equal(inspect.code, 0, inspect.stderr)
      assert.equal((JSON.parse(inspect.stdout) as {Labels: Record<string, string>}).Labels['org.opencontainers.image.version'], VERSION)
    } finally {
      podman([...storeOptions, 'rmi', '--all', '--force'])
      rmSync(store, {recursive: true, force: true})
    }
  })
})
