/**
 * `roster kube metrics-proxy` through the built CLI: three real HTTP exporters on loopback pod
 * IPs (one slower than the timeout — it never answers —, one answering 500, one good) behind
 * pods of the test API server. The proxy answers (so the slow pod was cut off by the deadline),
 * with the good pod's samples labelled and `up` 0, 0, 1; promtool accepts the text; a real
 * Prometheus scrapes it.
 */
import assert from 'node:assert/strict'
import {spawn, type ChildProcessWithoutNullStreams} from 'node:child_process'
import {writeFileSync} from 'node:fs'
import {createServer, type Server, type ServerResponse} from 'node:http'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {BIN, isolatedEnv, processTempDir, runCli} from '../support/cli.js'
import {freePort} from '../support/free-port.js'
import {startKubeApiServer, type KubeApiServer} from '../support/kube-api-server.js'
import {makePod} from '../support/pod-fixtures.js'
import {startPrometheus} from '../support/prometheus-server.js'
import {until} from '../support/until.js'

const GOOD = [
  '# HELP demo_requests_total Requests served.',
  '# TYPE demo_requests_total counter',
  'demo_requests_total{code="200",pod="inner"} 7',
  'demo_requests_total{code="500",path="a\\"b\\\\c"} 1',
  '# HELP demo_latency_seconds Latency of requests.',
  '# TYPE demo_latency_seconds histogram',
  'demo_latency_seconds_bucket{le="0.1"} 3',
  'demo_latency_seconds_bucket{le="+Inf"} 4',
  'demo_latency_seconds_sum 0.5',
  'demo_latency_seconds_count 4',
  '',
].join('\n')

let api: KubeApiServer
let kubeconfig: string
const exporters: Server[] = []
const held = new Set<ServerResponse>()
let slowHits = 0

async function exporter(ip: string, handler: (res: ServerResponse) => void): Promise<number> {
  const server = createServer((_req, res) => handler(res))
  const port = await new Promise<number>((resolve) => server.listen(0, ip, () => resolve((server.address() as {port: number}).port)))
  exporters.push(server)
  return port
}

function spawnCli(args: string[]): {child: ChildProcessWithoutNullStreams; err: () => string; exit: Promise<number | null>} {
  const child = spawn(process.execPath, [BIN, ...args], {env: isolatedEnv() as NodeJS.ProcessEnv})
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  child.stdout.resume()
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  return {child, err: () => stderr, exit}
}

before(async () => {
  const goodPort = await exporter('127.0.0.21', (res) => res.writeHead(200, {'content-type': 'text/plain; version=0.0.4'}).end(GOOD))
  const failPort = await exporter('127.0.0.22', (res) => res.writeHead(500).end('boom\n'))
  const slowPort = await exporter('127.0.0.23', (res) => {
    slowHits++
    held.add(res) // never answered: only the proxy's deadline ends it
  })
  api = await startKubeApiServer({
    pods: [
      makePod({name: 'good', namespace: 'mp', ip: '127.0.0.21', port: goodPort}),
      makePod({name: 'failing', namespace: 'mp', ip: '127.0.0.22', port: failPort}),
      makePod({name: 'slow', namespace: 'mp', ip: '127.0.0.23', port: slowPort}),
      makePod({name: 'elsewhere', namespace: 'other', ip: '127.0.0.21', port: goodPort}),
    ],
  })
  kubeconfig = api.kubeconfigPath()
})

after(async () => {
  for (const res of held) res.destroy()
  for (const s of exporters) s.closeAllConnections()
  await Promise.all(exporters.map((s) => new Promise((r) => s.close(r))))
  await api.stop()
})

describe('kube metrics-proxy', () => {
  it('merges the pods with pod/namespace labels and up 0,0,1; promtool accepts it; Prometheus scrapes it; SIGTERM exits 0', async () => {
    const port = await freePort()
    const cli = spawnCli([
      'kube',
      'metrics-proxy',
      '--listen',
      `127.0.0.1:${port}`,
      '--kubeconfig',
      kubeconfig,
      '--kube-namespace',
      'mp',
      '--scrape-timeout',
      '1500ms',
    ])
    try {
      const base = `http://127.0.0.1:${port}`
      await until('the proxy listening with the pods listed', async () => (await fetch(`${base}/healthz`)).status === 200)
      assert.equal((await fetch(`${base}/nope`)).status, 404)
      assert.equal((await fetch(`${base}/metrics`, {method: 'POST'})).status, 405)
      const response = await fetch(`${base}/metrics`)
      assert.equal(response.status, 200)
      assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
      const text = await response.text()
      assert.ok(slowHits >= 1, 'the slow pod was asked')
      assert.match(text, /^up\{pod="good",namespace="mp"\} 1$/m)
      assert.match(text, /^up\{pod="failing",namespace="mp"\} 0$/m)
      assert.match(text, /^up\{pod="slow",namespace="mp"\} 0$/m)
      assert.doesNotMatch(text, /elsewhere/, '--kube-namespace limits the pods')
      assert.match(text, /^demo_requests_total\{code="200",exported_pod="inner",pod="good",namespace="mp"\} 7$/m)
      assert.match(text, /^demo_requests_total\{code="500",path="a\\"b\\\\c",pod="good",namespace="mp"\} 1$/m)
      assert.match(text, /^demo_latency_seconds_bucket\{le="\+Inf",pod="good",namespace="mp"\} 4$/m)
      assert.equal(text.match(/^# TYPE demo_latency_seconds histogram$/gm)?.length, 1)

      // promtool accepts the exposition.
      const check = await new Promise<{code: number | null; out: string}>((resolve) => {
        const p = spawn('promtool', ['check', 'metrics'])
        let out = ''
        p.stdout.on('data', (d: Buffer) => (out += d.toString()))
        p.stderr.on('data', (d: Buffer) => (out += d.toString()))
        p.on('close', (code) => resolve({code, out}))
        p.stdin.end(text)
      })
      assert.equal(check.code, 0, check.out)

      // A real Prometheus scrapes it as one static target.
      const prometheus = await startPrometheus({
        scrapeInterval: '3s',
        scrapeConfigs: [{job_name: 'proxy', static_configs: [{targets: [`127.0.0.1:${port}`]}]}],
      })
      try {
        const samples = await until('Prometheus to scrape the proxy', async () => {
          const s = await prometheus.query('up{job="proxy",pod!=""}')
          return s.length === 3 ? s : undefined
        })
        const byPod = Object.fromEntries(samples.map((s) => [s.metric.pod, s.value[1]]))
        assert.deepEqual(byPod, {good: '1', failing: '0', slow: '0'})
        const requests = await prometheus.query('demo_requests_total{code="200"}')
        assert.equal(requests[0]?.metric.pod, 'good')
        assert.equal(requests[0]?.metric.namespace, 'mp')
        assert.equal(requests[0]?.metric.exported_pod, 'inner')
        const targets = await prometheus.activeTargets()
        assert.equal(targets[0]?.health, 'up', targets[0]?.lastError)
      } finally {
        await prometheus.stop()
      }
    } finally {
      cli.child.kill('SIGTERM')
      assert.equal(await cli.exit, 0, cli.err())
    }
  })

  it('--auth-token-file: 401 without the token, 200 with it', async () => {
    const tokenFile = path.join(processTempDir('roster-proxy-'), 'token')
    writeFileSync(tokenFile, 's3cret-token\n', {mode: 0o600})
    const port = await freePort()
    const cli = spawnCli([
      'kube',
      'metrics-proxy',
      '--listen',
      `127.0.0.1:${port}`,
      '--kubeconfig',
      kubeconfig,
      '--kube-namespace',
      'other',
      '--auth-token-file',
      tokenFile,
    ])
    try {
      const base = `http://127.0.0.1:${port}`
      const auth = {headers: {authorization: 'Bearer s3cret-token'}}
      await until('the proxy', async () => (await fetch(`${base}/healthz`, auth)).status === 200)
      assert.equal((await fetch(`${base}/metrics`)).status, 401)
      assert.equal((await fetch(`${base}/metrics`, {headers: {authorization: 'Bearer wrong'}})).status, 401)
      const ok = await fetch(`${base}/metrics`, auth)
      assert.equal(ok.status, 200)
      assert.match(await ok.text(), /^up\{pod="elsewhere",namespace="other"\} 1$/m)
    } finally {
      cli.child.kill('SIGTERM')
      assert.equal(await cli.exit, 0, cli.err())
      assert.doesNotMatch(cli.err(), /s3cret/)
    }
  })

  it('refuses a non-loopback address without TLS (exit 2)', async () => {
    const r = await runCli(['kube', 'metrics-proxy', '--listen', '0.0.0.0:0', '--kubeconfig', kubeconfig])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /^roster: --listen "0\.0\.0\.0:0".*loopback.*--insecure-plaintext/)
  })
})
