/**
 * Plain-HTTP API servers (as `kubectl proxy` serves them) and a kubeconfig's `proxy-url`, the way
 * kubectl handles them: no credentials over plain HTTP; CONNECT tunnels for https:// servers and
 * absolute-form requests for http:// ones; and kubectl itself, through the same proxy, as the
 * reference for what goes over the wire.
 */
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {promisify} from 'node:util'

import {createClusterClient} from '../../src/lib/cluster/cluster-client.js'
import {summarizeNode} from '../../src/lib/cluster/node-readiness.js'
import {BackendUnavailableError, InvalidInputError, NotAllowedError} from '../../src/lib/errors.js'
import {isolatedEnv, runCli} from '../support/cli.js'
import {startKubeApiServer, type KubeApiServer} from '../support/kube-api-server.js'
import {startKubeHttpProxy, type KubeHttpProxy} from '../support/kube-http-proxy.js'
import {makeNode} from '../support/kube-objects.js'
import {needsTool} from '../support/needs.js'

const execFileAsync = promisify(execFile)

let tls: KubeApiServer
let plain: KubeApiServer
let proxy: KubeHttpProxy
let authProxy: KubeHttpProxy
let home: string

const nodes = () => [
  makeNode({name: 'a', roles: ['control-plane']}),
  makeNode({name: 'b', roles: ['worker'], ready: 'False'}),
  makeNode({name: 'c', roles: ['worker']}),
]

before(async () => {
  home = mkdtempSync(join(tmpdir(), 'roster-kube-proxy-'))
  tls = await startKubeApiServer({nodes: nodes()})
  plain = await startKubeApiServer({nodes: nodes(), plainHttpUser: 'proxy-user'})
  proxy = await startKubeHttpProxy()
  authProxy = await startKubeHttpProxy({auth: {user: 'pu', password: 'p@ss'}})
})

after(async () => {
  await Promise.all([tls.stop(), plain.stop(), proxy.stop(), authProxy.stop()])
  rmSync(home, {recursive: true, force: true})
})

const names = async (kubeconfig: string) => {
  const client = await createClusterClient({kubeconfig, timeoutMs: 10_000})
  try {
    return (await client.listNodes(summarizeNode)).items.map((n) => `${n.name}:${n.status}`)
  } finally {
    client.close()
  }
}

describe('plain-HTTP API server (kubectl proxy)', () => {
  it('lists nodes and sends no credentials over plain HTTP, though the kubeconfig has a token', async () => {
    plain.resetRequests()
    const kubeconfig = plain.kubeconfigPath({token: 'admin-token'})
    assert.match(plain.kubeconfigYaml({token: 'admin-token'}), /token: admin-token/)
    assert.deepEqual(await names(kubeconfig), ['a:Ready', 'b:NotReady', 'c:Ready'])
    assert.equal(plain.requestCount({verb: 'list', resource: 'nodes', status: 200}), 1)
    assert.equal(
      plain.requests.some((r) => r.authorization),
      false,
    )
  })

  it('roster node-status prints the table from an http:// server', async () => {
    const r = await runCli(['node-status', '--kubeconfig', plain.kubeconfigPath()], {env: isolatedEnv()})
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^NAME\s+STATUS\s+ROLES/m)
    assert.match(r.stdout, /^b\s+NotReady\s+worker/m)
    assert.match(r.stdout, /2\/3 nodes ready/)
  })
})

describe('proxy-url', () => {
  it('https:// server: one CONNECT tunnel to the server, TLS verified through it, the token inside the tunnel', async () => {
    proxy.requests.length = 0
    tls.resetRequests()
    const kubeconfig = tls.kubeconfigPath({proxyUrl: proxy.url})
    assert.deepEqual(await names(kubeconfig), ['a:Ready', 'b:NotReady', 'c:Ready'])
    assert.deepEqual(
      proxy.requests.map((r) => [r.method, r.target, r.status]),
      [['CONNECT', `127.0.0.1:${tls.port}`, 200]],
    )
    assert.equal(proxy.requests[0]?.headers.host, `127.0.0.1:${tls.port}`)
    assert.equal(proxy.requests[0]?.headers.authorization, undefined)
    assert.equal(tls.requests.filter((r) => r.authorization && r.user === 'admin').length, 1)
  })

  it('http:// server: absolute-form requests with the server as Host, no credentials', async () => {
    proxy.requests.length = 0
    const kubeconfig = plain.kubeconfigPath({proxyUrl: proxy.url, token: 'admin-token'})
    assert.deepEqual(await names(kubeconfig), ['a:Ready', 'b:NotReady', 'c:Ready'])
    assert.equal(proxy.requests.length, 1)
    const [r] = proxy.requests
    assert.equal(r?.method, 'GET')
    assert.equal(r?.target, `http://127.0.0.1:${plain.port}/api/v1/nodes?limit=500`)
    assert.equal(r?.headers.host, `127.0.0.1:${plain.port}`)
    assert.equal(r?.headers.authorization, undefined)
  })

  it('user:password in proxy-url becomes Proxy-Authorization; without it the proxy refuses (exit 4 / 3)', async () => {
    authProxy.requests.length = 0
    const good = `http://pu:${encodeURIComponent('p@ss')}@127.0.0.1:${authProxy.port}`
    assert.deepEqual(await names(tls.kubeconfigPath({proxyUrl: good})), ['a:Ready', 'b:NotReady', 'c:Ready'])
    assert.deepEqual(await names(plain.kubeconfigPath({proxyUrl: good})), ['a:Ready', 'b:NotReady', 'c:Ready'])
    assert.deepEqual(
      authProxy.requests.map((r) => r.status),
      [200, 200],
    )

    // https through a proxy that wants credentials: the tunnel is refused
    await assert.rejects(names(tls.kubeconfigPath({proxyUrl: authProxy.url})), (e: unknown) => {
      assert.ok(e instanceof BackendUnavailableError, String(e))
      assert.match(e.message, new RegExp(`proxy 127\\.0\\.0\\.1:${authProxy.port} answered 407`))
      return true
    })
    // http through it: the proxy's 407 is named as the proxy's
    await assert.rejects(names(plain.kubeconfigPath({proxyUrl: authProxy.url})), (e: unknown) => {
      assert.ok(e instanceof NotAllowedError, String(e))
      assert.match(e.message, /Proxy Authentication Required \(407\)/)
      return true
    })
  })

  it('a socks5 or malformed proxy-url is invalid input naming the field, with any password hidden', async () => {
    for (const url of ['socks5://user:secret@127.0.0.1:1080', 'not a url']) {
      await assert.rejects(names(tls.kubeconfigPath({proxyUrl: JSON.stringify(url)})), (e: unknown) => {
        assert.ok(e instanceof InvalidInputError, String(e))
        assert.match(e.message, /proxy-url/)
        assert.doesNotMatch(e.message, /secret/)
        return true
      })
    }
  })

  it(
    'what goes through the proxy matches kubectl through the same proxy',
    {skip: needsTool(['kubectl', 'version', '--client'], 'kubectl is on these machines')},
    async () => {
      // kubectl runs asynchronously: the proxy and the servers live in this process.
      const run = async (kubeconfig: string) => {
        proxy.requests.length = 0
        await execFileAsync(
          'kubectl',
          ['--kubeconfig', kubeconfig, '--cache-dir', join(home, 'cache'), '--request-timeout=20s', 'get', 'nodes'],
          {
            env: {PATH: process.env.PATH, HOME: home},
          },
        )
        return proxy.requests.map((x) => ({...x}))
      }
      const tlsKubeconfig = tls.kubeconfigPath({proxyUrl: proxy.url})
      const kubectlTls = await run(tlsKubeconfig)
      assert.ok(kubectlTls.length > 0 && kubectlTls.every((r) => r.method === 'CONNECT' && r.target === `127.0.0.1:${tls.port}`))
      proxy.requests.length = 0
      await names(tlsKubeconfig)
      assert.ok(proxy.requests.every((r) => r.method === 'CONNECT' && r.target === `127.0.0.1:${tls.port}`))

      const plainKubeconfig = plain.kubeconfigPath({proxyUrl: proxy.url, token: 'admin-token'})
      const kubectlPlain = await run(plainKubeconfig)
      const list = kubectlPlain.find((r) => r.target.includes('/api/v1/nodes'))
      assert.ok(list, JSON.stringify(kubectlPlain.map((r) => r.target)))
      assert.match(list.target, new RegExp(`^http://127\\.0\\.0\\.1:${plain.port}/api/v1/nodes`))
      assert.equal(list.headers.host, `127.0.0.1:${plain.port}`)
      assert.equal(list.headers.authorization, undefined)
      proxy.requests.length = 0
      await names(plainKubeconfig)
      const ours = proxy.requests.find((r) => r.target.includes('/api/v1/nodes'))
      assert.ok(ours)
      assert.match(ours.target, new RegExp(`^http://127\\.0\\.0\\.1:${plain.port}/api/v1/nodes`))
      assert.equal(ours.headers.host, list.headers.host)
      assert.equal(ours.headers.authorization, list.headers.authorization)
    },
  )
})
