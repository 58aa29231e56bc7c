/**
 * `roster kube metrics-proxy` configured as metrics-k8s-proxy is, by POD_LABEL_SELECTOR,
 * SCRAPE_TIMEOUT and PORT, with --insecure-plaintext its only argument (that tool's Deployment with
 * only the image and args changed): it serves on every interface at PORT, only the selected pods.
 * Flags and ROSTER_* come before these variables; bad values are refused naming the variable.
 */
import assert from 'node:assert/strict'
import {createServer, type Server} from 'node:http'
import {after, before, describe, it} from 'node:test'

import {BIN, isolatedEnv, runCli} from '../support/cli.js'
import {freePort} from '../support/free-port.js'
import {startKubeApiServer, type KubeApiServer} from '../support/kube-api-server.js'
import {startLongRunning} from '../support/long-running.js'
import {makePod} from '../support/pod-fixtures.js'
import {until} from '../support/until.js'

let api: KubeApiServer
let exporter: Server

before(async () => {
  exporter = createServer((_req, res) => res.writeHead(200, {'content-type': 'text/plain; version=0.0.4'}).end('demo_up 1\n'))
  const port = await new Promise<number>((resolve) =>
    exporter.listen(0, '127.0.0.31', () => resolve((exporter.address() as {port: number}).port)),
  )
  api = await startKubeApiServer({
    pods: [
      makePod({name: 'mesh-a', namespace: 'istio', ip: '127.0.0.31', port, labels: {app: 'ztunnel'}}),
      makePod({name: 'web-a', namespace: 'shop', ip: '127.0.0.31', port, labels: {app: 'web'}}),
    ],
  })
})

after(async () => {
  exporter.closeAllConnections()
  await new Promise((resolve) => exporter.close(resolve))
  await api.stop()
})

/** Runs the proxy with `env`, scrapes /metrics once from 127.0.0.1:`port`, stops it; the exit code, the serving line, the body. */
async function scrapeOnce(
  args: string[],
  env: Record<string, string>,
  port: number,
): Promise<{code: number; serving: string; body: string}> {
  const proxy = startLongRunning(process.execPath, [BIN, 'kube', 'metrics-proxy', ...args], {
    env: isolatedEnv({KUBECONFIG: api.kubeconfigPath(), ...env}) as NodeJS.ProcessEnv,
  })
  try {
    const [serving] = await proxy.waitFor(/serving \S+/)
    // /healthz answers 200 once the pods are listed
    await until('the pods listed', async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200, {timeoutMs: 60_000})
    const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    return {code: await proxy.stop(), serving, body}
  } finally {
    await proxy.stop('SIGKILL')
  }
}

describe('kube metrics-proxy with metrics-k8s-proxy settings', () => {
  it('POD_LABEL_SELECTOR, SCRAPE_TIMEOUT and PORT configure it: every interface at PORT, only the selected pods', async () => {
    const port = await freePort()
    const {code, serving, body} = await scrapeOnce(
      ['--insecure-plaintext'],
      {POD_LABEL_SELECTOR: 'app=ztunnel', SCRAPE_TIMEOUT: '15s', PORT: String(port)},
      port,
    )
    assert.equal(serving, `serving http://0.0.0.0:${port}/metrics`)
    assert.match(body, /^up\{pod="mesh-a",namespace="istio"\} 1$/m)
    assert.match(body, /^demo_up\{pod="mesh-a",namespace="istio"\} 1$/m)
    assert.doesNotMatch(body, /web-a/)
    assert.equal(code, 0)
  })

  it('flags and ROSTER_* come first: --listen and ROSTER_SELECTOR win over PORT and POD_LABEL_SELECTOR', async () => {
    const port = await freePort()
    const {serving, body} = await scrapeOnce(
      ['--listen', `127.0.0.1:${port}`],
      {POD_LABEL_SELECTOR: 'app=ztunnel', ROSTER_SELECTOR: 'app=web', PORT: '1'},
      port,
    )
    assert.equal(serving, `serving http://127.0.0.1:${port}/metrics`)
    assert.match(body, /^up\{pod="web-a",namespace="shop"\} 1$/m)
    assert.doesNotMatch(body, /mesh-a/)
  })

  it('refuses a bad PORT or SCRAPE_TIMEOUT naming the variable, and PORT in plain HTTP without --insecure-plaintext', async () => {
    const env = (vars: Record<string, string>) => isolatedEnv({KUBECONFIG: api.kubeconfigPath(), ...vars})
    for (const bad of ['0', '65536', 'http', '15090x']) {
      const r = await runCli(['kube', 'metrics-proxy', '--insecure-plaintext'], {env: env({PORT: bad})})
      assert.equal(r.code, 2, r.stderr)
      assert.match(r.stderr, new RegExp(`^roster: PORT "${bad}": expected a port number from 1 to 65535$`, 'm'))
    }
    const timeout = await runCli(['kube', 'metrics-proxy'], {env: env({SCRAPE_TIMEOUT: 'soon'})})
    assert.equal(timeout.code, 2, timeout.stderr)
    assert.match(timeout.stderr, /^roster: SCRAPE_TIMEOUT "soon": /m)
    const plain = await runCli(['kube', 'metrics-proxy'], {env: env({PORT: '15090'})})
    assert.equal(plain.code, 2, plain.stderr)
    assert.match(plain.stderr, /"0\.0\.0\.0:15090": is not a loopback address: .*--insecure-plaintext/)
  })
})
