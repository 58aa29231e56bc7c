/**
 * `node-status --watch` and `--serve` against the test API server: changes printed as they
 * happen; the exporter's series appear, change, disappear; it survives the API going away with
 * its last state and last_error set; and while nothing changes it sends nothing but the one watch.
 */
import assert from 'node:assert/strict'
import {spawn, type ChildProcessWithoutNullStreams} from 'node:child_process'
import {after, before, describe, it} from 'node:test'

import {startNodeExporter, type NodeExporter} from '../../src/lib/cluster/node-exporter.js'
import {BIN, isolatedEnv} from '../support/cli.js'
import {startKubeApiServer, type KubeApiServer} from '../support/kube-api-server.js'
import {makeNode} from '../support/kube-objects.js'

let api: KubeApiServer

before(async () => {
  api = await startKubeApiServer({
    nodes: [
      makeNode({name: 'a', roles: ['control-plane']}),
      makeNode({name: 'b', roles: ['worker']}),
      makeNode({name: 'c', roles: ['worker'], ready: 'False'}),
    ],
    bookmarkIntervalMs: 300,
  })
})

after(async () => {
  await api.stop()
})

const setReady = (name: string, status: 'True' | 'False' | 'Unknown') =>
  api.updateNode(name, (n) => {
    const ready = (n.status as {conditions: Array<{type: string; status: string}>}).conditions.find((c) => c.type === 'Ready')
    if (ready) ready.status = status
  })

async function until<T>(what: () => T | undefined | false | Promise<T | undefined | false>, label: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await what()
    if (v) return v
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${label}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

function spawnCli(args: string[]): {
  child: ChildProcessWithoutNullStreams
  out: () => string
  err: () => string
  exit: Promise<number | null>
} {
  const child = spawn(process.execPath, [BIN, ...args], {env: isolatedEnv() as NodeJS.ProcessEnv})
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  return {child, out: () => stdout, err: () => stderr, exit}
}

describe('node-status --watch', () => {
  it('prints the table, then each change as it happens, and exits 0 on SIGINT', async () => {
    const cli = spawnCli(['node-status', '--kubeconfig', api.kubeconfigPath(), '--watch'])
    try {
      await until(() => cli.out().includes('2/3 nodes ready') && api.openWatchCount() > 0, 'the first table and the watch')
      setReady('c', 'True')
      await until(() => /\nMODIFIED\tc\tReady\tworker\t\S+\tv1\.32\.2\t\(3\/3 ready\)\n/.test(cli.out()), 'MODIFIED c')
      api.addNode(makeNode({name: 'd', ready: 'Unknown'}))
      await until(() => /\nADDED\td\tNotReady\t<none>\t/.test(cli.out()), 'ADDED d')
      api.deleteNode('d')
      await until(() => /\nDELETED\td\t.*\(3\/3 ready\)\n/.test(cli.out()), 'DELETED d')
      // the server ends the stream: roster resumes from its resourceVersion, no relist, no missed event
      api.resetRequests()
      api.closeWatches()
      setReady('b', 'False')
      await until(() => /\nMODIFIED\tb\tNotReady\t/.test(cli.out()), 'MODIFIED b after resume')
      assert.equal(api.requestCount({verb: 'list'}), 0)
      cli.child.kill('SIGINT')
      assert.equal(await cli.exit, 0, cli.err())
    } finally {
      cli.child.kill('SIGKILL')
      setReady('b', 'True')
      setReady('c', 'False')
    }
  })

  it('-o json streams one JSON object per change', async () => {
    const cli = spawnCli(['node-status', '--kubeconfig', api.kubeconfigPath(), '--watch', '-o', 'json'])
    try {
      await until(() => cli.out().includes('"totals"') && api.openWatchCount() > 0, 'the first listing')
      setReady('a', 'Unknown')
      const line = await until(
        () =>
          cli
            .out()
            .split('\n')
            .find((l) => l.startsWith('{"type":"MODIFIED"')),
        'a JSON event',
      )
      const event = JSON.parse(line) as {type: string; node: {name: string; ready: string}; totals: {ready: number}}
      assert.equal(event.node.name, 'a')
      assert.equal(event.node.ready, 'Unknown')
      cli.child.kill('SIGTERM')
      assert.equal(await cli.exit, 0)
    } finally {
      cli.child.kill('SIGKILL')
      setReady('a', 'True')
    }
  })
})

describe('node-status --serve (exporter)', () => {
  let exporter: NodeExporter
  const scrape = async (): Promise<string> => (await fetch(`${exporter.url}/metrics`)).text()

  before(async () => {
    exporter = await startNodeExporter({kubeconfig: api.kubeconfigPath(), listen: '127.0.0.1:0', backoff: {initialMs: 100, maxMs: 400}})
    await until(async () => (await scrape()).includes('roster_node_status_synced 1'), 'initial sync')
  })

  after(async () => {
    await exporter.close()
  })

  it('exposes every node, then follows updates and deletions', async () => {
    let text = await scrape()
    assert.match(text, /\nkube_node_status\{node="a"\} 1\n/)
    assert.match(text, /\nkube_node_status\{node="c"\} 0\n/)
    assert.match(text, /\nkube_node_status_nodes_total 3\n/)
    assert.match(text, /\nkube_node_status_condition\{node="c",condition="Ready",status="false"\} 1\n/)
    const res = await fetch(`${exporter.url}/metrics`)
    assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8')

    setReady('c', 'True')
    text = await until(async () => {
      const t = await scrape()
      return t.includes('kube_node_status{node="c"} 1') && t
    }, 'c Ready')
    assert.match(text, /\nkube_node_status_nodes_not_ready 0\n/)
    assert.match(text, /\nkube_node_status_nodes_not_ready_ratio 0\n/)

    api.addNode(makeNode({name: 'e', ready: 'Unknown'}))
    await until(
      async () => (await scrape()).includes('kube_node_status_condition{node="e",condition="Ready",status="unknown"} 1'),
      'e appears',
    )
    api.deleteNode('e')
    text = await until(async () => {
      const t = await scrape()
      return !t.includes('node="e"') && t
    }, 'e disappears')
    assert.match(text, /\nkube_node_status_nodes_total 3\n/)
    setReady('c', 'False')
  })

  it('sends nothing to the API while nothing changes: two open watches (nodes, Leases), bookmarks on them', async () => {
    await until(() => api.openWatchCount() === 2, 'two watches')
    api.resetRequests()
    // Ten bookmarks (one every 300 ms) on the open watch: time passed with the exporter connected.
    const bookmarks = api.bookmarksSent()
    await until(() => api.bookmarksSent() >= bookmarks + 10, 'ten bookmarks on the open watch')
    for (let i = 0; i < 20; i++) await scrape()
    assert.equal(api.requests.length, 0, api.requests.map((r) => `${r.verb} ${r.path}`).join(', '))
    assert.equal(api.openWatchCount(), 2)
  })

  it('keeps the last state and reports last_error when the API goes away; recovers when it returns', async () => {
    await until(async () => (await scrape()).includes('kube_node_status{node="c"} 0'), 'c NotReady before')
    await api.suspend()
    const text = await until(async () => {
      const t = await scrape()
      return t.includes('roster_node_status_last_error 1') && t
    }, 'last_error 1')
    assert.match(text, /\nkube_node_status\{node="a"\} 1\n/, 'last good state kept')
    assert.match(text, /\nkube_node_status_nodes_total 3\n/)
    assert.match(text, /\nroster_node_status_up 0\n/)
    const health = await fetch(`${exporter.url}/healthz`)
    assert.equal(health.status, 503)
    assert.match(await health.text(), /stale: .*unreachable/)

    setReady('c', 'True') // changed while the exporter cannot see it
    await api.resume()
    await until(async () => {
      const t = await scrape()
      return t.includes('roster_node_status_last_error 0') && t.includes('kube_node_status{node="c"} 1')
    }, 'recovered with the change made meanwhile')
    assert.equal((await fetch(`${exporter.url}/healthz`)).status, 200)
    assert.ok(exporter.health().errorsTotal >= 1)
  })
})

describe('node-status --serve from the CLI', () => {
  it('serves /metrics and /healthz, and exits 0 on SIGTERM', async () => {
    const cli = spawnCli(['node-status', '--kubeconfig', api.kubeconfigPath(), '--serve', '127.0.0.1:0'])
    try {
      const url = await until(() => /on (http:\/\/127\.0\.0\.1:\d+)\/metrics/.exec(cli.err())?.[1], 'the address on stderr')
      await until(() => cli.err().includes('listed 3 nodes'), 'the first list')
      const text = await (await fetch(`${url}/metrics`)).text()
      assert.match(text, /\nkube_node_status_nodes_total 3\n/)
      assert.equal((await fetch(`${url}/healthz`)).status, 200)
      cli.child.kill('SIGTERM')
      assert.equal(await cli.exit, 0, cli.err())
    } finally {
      cli.child.kill('SIGKILL')
    }
  })

  it('refuses a bad --serve address and --fail-if-not-ready with --serve (exit 2)', async () => {
    const bad = spawnCli(['node-status', '--kubeconfig', api.kubeconfigPath(), '--serve', 'nowhere'])
    assert.equal(await bad.exit, 2)
    assert.match(bad.err(), /--serve "nowhere"/)
    const both = spawnCli(['node-status', '--kubeconfig', api.kubeconfigPath(), '--serve', '127.0.0.1:0', '--fail-if-not-ready', '1'])
    assert.equal(await both.exit, 2)
  })
})
