/**
 * `node-status --watch` and `--serve` against the test API server: changes printed as they
 * happen; the exporter's series appear, change, disappear; it survives the API going away with
 * its last state and last_error set; and while nothing changes it sends nothing but the one watch.
 */
import assert from 'node:assert/strict'
import {spawn, type ChildProcessWithoutNullStreams} from 'node:child_process'
import {after, before, describe, it} from 'node:test'

import {startNodeExporter, type NodeExporter} from '../../src/lib/cluster/node-exporter.js'
import {BIN, isolatedEnv, runCli, startCli} from '../support/cli.js'
import {startKubeApiServer, type KubeApiServer} from '../support/kube-api-server.js'
import {makeNode} from '../support/kube-objects.js'
import {until} from '../support/until.js'

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
      await until('the first table and the watch', () => cli.out().includes('2/3 nodes ready') && api.openWatchCount() > 0)
      setReady('c', 'True')
      await until('MODIFIED c', () => /\nMODIFIED\tc\tReady\tworker\t\S+\tv1\.32\.2\t\(3\/3 ready\)\n/.test(cli.out()))
      api.addNode(makeNode({name: 'd', ready: 'Unknown'}))
      await until('ADDED d', () => /\nADDED\td\tNotReady\t<none>\t/.test(cli.out()))
      api.deleteNode('d')
      await until('DELETED d', () => /\nDELETED\td\t.*\(3\/3 ready\)\n/.test(cli.out()))
      // the server ends the stream: roster resumes from its resourceVersion, no relist, no missed event
      api.resetRequests()
      api.closeWatches()
      setReady('b', 'False')
      await until('MODIFIED b after resume', () => /\nMODIFIED\tb\tNotReady\t/.test(cli.out()))
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
    // In this process (the output is the case; the test above stops a process with a signal):
    // stop() calls the handlers the command installed for SIGTERM.
    const cli = startCli(['node-status', '--kubeconfig', api.kubeconfigPath(), '--watch', '-o', 'json'])
    try {
      await until('the first listing', () => cli.stdout().includes('"totals"') && api.openWatchCount() > 0)
      setReady('a', 'Unknown')
      const line = await until('a JSON event', () =>
        cli
          .stdout()
          .split('\n')
          .find((l) => l.startsWith('{"type":"MODIFIED"')),
      )
      const event = JSON.parse(line) as {type: string; node: {name: string; ready: string}; totals: {ready: number}}
      assert.equal(event.node.name, 'a')
      assert.equal(event.node.ready, 'Unknown')
      assert.equal(await cli.stop('SIGTERM'), 0)
    } finally {
      await cli.stop('SIGTERM')
      setReady('a', 'True')
    }
  })
})

describe('node-status --serve (exporter)', () => {
  let exporter: NodeExporter
  const scrape = async (): Promise<string> => (await fetch(`${exporter.url}/metrics`)).text()

  before(async () => {
    exporter = await startNodeExporter({kubeconfig: api.kubeconfigPath(), listen: '127.0.0.1:0', backoff: {initialMs: 100, maxMs: 400}})
    await until('initial sync', async () => (await scrape()).includes('roster_node_status_synced 1'))
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
    text = await until('c Ready', async () => {
      const t = await scrape()
      return t.includes('kube_node_status{node="c"} 1') && t
    })
    assert.match(text, /\nkube_node_status_nodes_not_ready 0\n/)
    assert.match(text, /\nkube_node_status_nodes_not_ready_ratio 0\n/)

    api.addNode(makeNode({name: 'e', ready: 'Unknown'}))
    await until('e appears', async () =>
      (await scrape()).includes('kube_node_status_condition{node="e",condition="Ready",status="unknown"} 1'),
    )
    api.deleteNode('e')
    text = await until('e disappears', async () => {
      const t = await scrape()
      return !t.includes('node="e"') && t
    })
    assert.match(text, /\nkube_node_status_nodes_total 3\n/)
    setReady('c', 'False')
  })

  it('sends nothing to the API while nothing changes: two open watches (nodes, Leases), bookmarks on them', async () => {
    await until('two watches', () => api.openWatchCount() === 2)
    api.resetRequests()
    // Ten bookmarks (one every 300 ms) on the open watch: time passed with the exporter connected.
    const bookmarks = api.bookmarksSent()
    await until('ten bookmarks on the open watch', () => api.bookmarksSent() >= bookmarks + 10)
    for (let i = 0; i < 20; i++) await scrape()
    assert.equal(api.requests.length, 0, api.requests.map((r) => `${r.verb} ${r.path}`).join(', '))
    assert.equal(api.openWatchCount(), 2)
  })

  it('keeps the last state and reports last_error when the API goes away; recovers when it returns', async () => {
    await until('c NotReady before', async () => (await scrape()).includes('kube_node_status{node="c"} 0'))
    await api.suspend()
    const text = await until('last_error 1', async () => {
      const t = await scrape()
      return t.includes('roster_node_status_last_error 1') && t
    })
    assert.match(text, /\nkube_node_status\{node="a"\} 1\n/, 'last good state kept')
    assert.match(text, /\nkube_node_status_nodes_total 3\n/)
    assert.match(text, /\nroster_node_status_up 0\n/)
    const health = await fetch(`${exporter.url}/healthz`)
    assert.equal(health.status, 503)
    assert.match(await health.text(), /stale: .*unreachable/)

    setReady('c', 'True') // changed while the exporter cannot see it
    await api.resume()
    await until('recovered with the change made meanwhile', async () => {
      const t = await scrape()
      return t.includes('roster_node_status_last_error 0') && t.includes('kube_node_status{node="c"} 1')
    })
    assert.equal((await fetch(`${exporter.url}/healthz`)).status, 200)
    assert.ok(exporter.health().errorsTotal >= 1)
  })
})

describe('node-status --serve from the CLI', () => {
  it('serves /metrics and /healthz, and exits 0 on SIGTERM', async () => {
    const cli = spawnCli(['node-status', '--kubeconfig', api.kubeconfigPath(), '--serve', '127.0.0.1:0'])
    try {
      const url = await until('the address on stderr', () => /on (http:\/\/127\.0\.0\.1:\d+)\/metrics/.exec(cli.err())?.[1])
      await until('the first list', () => cli.err().includes('listed 3 nodes'))
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
    const bad = await runCli(['node-status', '--kubeconfig', api.kubeconfigPath(), '--serve', 'nowhere'])
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /--serve "nowhere"/)
    const both = await runCli(['node-status', '--kubeconfig', api.kubeconfigPath(), '--serve', '127.0.0.1:0', '--fail-if-not-ready', '1'])
    assert.equal(both.code, 2)
  })
})
