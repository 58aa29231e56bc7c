/**
 * The default `roster node-status` table comes from the server's Table (what `kubectl get nodes`
 * asks for), with the not-ready rows looked up again in one request so that Ready=Unknown is
 * still counted apart from Ready=False: same rows as kubectl, same totals as -o json, no more
 * requests than kubectl; and the full list when that lookup cannot be exact.
 */
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {promisify} from 'node:util'

import {isolatedEnv, runCli} from '../support/cli.js'
import {startKubeApiServer, type KubeApiServer} from '../support/kube-api-server.js'
import {makeNode} from '../support/kube-objects.js'

const execFileAsync = promisify(execFile)
const KUBECTL = process.env.KUBECTL ?? 'kubectl'
const TABLE = /^application\/json;as=Table;v=v1;g=meta\.k8s\.io/

let api: KubeApiServer
let home: string
let kubeconfig: string

const NODES = 1100
const readyOf = (i: number) => (i % 97 === 3 ? 'False' : i % 211 === 5 ? 'Unknown' : i === 50 ? 'missing' : 'True')

before(async () => {
  home = mkdtempSync(join(tmpdir(), 'roster-node-table-'))
  const nodes = []
  for (let i = 0; i < NODES; i++) {
    nodes.push(
      makeNode({
        name: `node-${String(i).padStart(4, '0')}`,
        roles: i < 3 ? ['control-plane'] : ['worker'],
        ready: readyOf(i),
        unschedulable: i === 7 || i === 3,
        labels: {zone: i % 2 ? 'b' : 'a'},
        createdAt: new Date(Date.now() - (i % 30) * 86_400_000 - 3_600_000),
      }),
    )
  }
  // A not-ready node whose hostname label is not its name (as on some clouds).
  const odd = makeNode({name: 'node-odd', ready: 'Unknown', roles: ['worker']})
  odd.metadata.labels = {...odd.metadata.labels, 'kubernetes.io/hostname': 'ip-10-0-0-9'}
  nodes.push(odd)
  api = await startKubeApiServer({nodes})
  kubeconfig = api.kubeconfigPath()
})

after(async () => {
  await api.stop()
  rmSync(home, {recursive: true, force: true})
})

async function kubectl(args: string[]): Promise<string> {
  try {
    const {stdout} = await execFileAsync(KUBECTL, ['--kubeconfig', kubeconfig, '--cache-dir', join(home, 'kube-cache'), ...args], {
      env: {PATH: process.env.PATH, HOME: home},
      timeout: 60_000,
      maxBuffer: 64 * 1024 * 1024,
    })
    return stdout
  } catch (error) {
    if ((error as {code?: unknown}).code === 'ENOENT') assert.fail(`kubectl is not installed (${KUBECTL}): these tests need it`)
    throw error
  }
}

const run = (args: string[]) => runCli(['node-status', '--kubeconfig', kubeconfig, ...args], {env: isolatedEnv()})

/** Rows of a table: kubectl's columns are separated by 3+ spaces, roster's (off a TTY) by tabs. */
function rows(text: string, separator: RegExp): string[][] {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => l.trim().split(separator))
}

interface Report {
  totals: {total: number; ready: number; notReady: number; unknown: number}
  nodes: Array<{name: string; ready: string; status: string}>
}

describe('node-status default table (server-side Table)', () => {
  it('prints what kubectl get nodes prints, the totals of -o json, in no more requests than kubectl', async () => {
    // kubectl's discovery cache, warm as a user's is (one node: discovery is the same, without the list)
    await kubectl(['get', 'nodes', 'node-0000', '-o', 'name'])
    api.resetRequests()
    const theirs = rows(await kubectl(['get', 'nodes']), /\s{3,}/)
    const kubectlRequests = api.requests.length

    api.resetRequests()
    const r = await run([])
    assert.equal(r.code, 0, r.stderr)
    const ours = rows(r.stdout, /\t/)
    const summary = ours.pop()?.join('')
    assert.deepEqual(ours, theirs)
    assert.equal(ours.length, NODES + 2)

    // the first page as nodes, the next ones as Table rows, then the not-ready rows as nodes, in
    // one request by hostname label; beside them, the Leases in kube-node-lease (one page here)
    const lists = api.requests.filter((x) => x.verb === 'list' && x.resource === 'nodes')
    assert.deepEqual(
      api.requests.filter((x) => x.resource === 'leases').map((x) => `${x.verb} ${x.path}`),
      ['list /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases'],
    )
    assert.deepEqual(
      lists.map((x) => (TABLE.test(x.accept) ? 'table' : x.query.has('labelSelector') ? 'lookup' : 'nodes')),
      ['nodes', 'table', 'table', 'lookup'],
    )
    const selector = lists[3]?.query.get('labelSelector') ?? ''
    assert.match(selector, /^kubernetes\.io\/hostname in \(/)
    assert.ok(selector.includes('ip-10-0-0-9'), selector)
    const nodeRequests = api.requests.filter((x) => x.resource !== 'leases').length
    assert.ok(nodeRequests <= kubectlRequests, `${nodeRequests} requests for nodes, kubectl ${kubectlRequests}`)

    const json = await run(['-o', 'json'])
    const report = JSON.parse(json.stdout) as Report
    const {ready, total, notReady, unknown} = report.totals
    assert.ok(unknown > 0 && notReady > unknown, JSON.stringify(report.totals))
    assert.equal(summary, `${ready}/${total} nodes ready, ${notReady} not ready (${unknown} unknown)`)
    assert.deepEqual(
      ours.slice(1).map((row) => [row[0], row[1]]),
      report.nodes.map((n) => [n.name, n.status]),
    )
  })

  it('with -l, looks the not-ready rows up within the same selector; --fail-if-not-ready counts them', async () => {
    api.resetRequests()
    const worker = 'node-role.kubernetes.io/worker'
    const r = await run(['-l', worker, '--fail-if-not-ready', '0'])
    assert.equal(r.code, 7)
    const json = JSON.parse((await run(['-l', worker, '-o', 'json'])).stdout) as Report
    const t = json.totals
    assert.match(r.stdout, new RegExp(`\\n${t.ready}/${t.total} nodes ready, ${t.notReady} not ready \\(${t.unknown} unknown\\)\\n$`))
    const lookup = api.requests.filter((x) => x.verb === 'list' && x.resource === 'nodes' && !TABLE.test(x.accept))[1]
    assert.match(lookup?.query.get('labelSelector') ?? '', /^node-role\.kubernetes\.io\/worker,kubernetes\.io\/hostname in \(/)
  })

  it('lists the nodes in full when a not-ready node has no hostname label', async () => {
    const bare = makeNode({name: 'node-bare', ready: 'Unknown'})
    delete bare.metadata.labels?.['kubernetes.io/hostname']
    api.addNode(bare)
    try {
      api.resetRequests()
      const r = await run([])
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stdout, /\nnode-bare\tNotReady\t<none>\t/)
      const full = api.requests.filter((x) => x.verb === 'list' && x.resource === 'nodes' && !TABLE.test(x.accept))
      const json = JSON.parse((await run(['-o', 'json'])).stdout) as Report
      const t = json.totals
      assert.match(r.stdout, new RegExp(`\\n${t.ready}/${t.total} nodes ready, ${t.notReady} not ready \\(${t.unknown} unknown\\)\\n$`))
      assert.equal(full.length, 1 + 3, 'the first page, then the whole list, in pages')
      assert.ok(full.every((x) => !x.query.has('labelSelector')))
    } finally {
      api.deleteNode('node-bare')
    }
  })

  it('lists the nodes in full when more than 100 are not ready', async () => {
    for (let i = 0; i < 120; i++) api.updateNode(`node-${String(500 + i).padStart(4, '0')}`, (n) => setReady(n, 'False'))
    try {
      api.resetRequests()
      const r = await run(['--no-headers'])
      assert.equal(r.code, 0, r.stderr)
      const fullList = api.requests.some(
        (x) => x.verb === 'list' && x.resource === 'nodes' && !TABLE.test(x.accept) && !x.query.has('labelSelector'),
      )
      const t = (JSON.parse((await run(['-o', 'json'])).stdout) as Report).totals
      assert.ok(t.notReady > 120)
      assert.equal(r.stderr.trim(), `${t.ready}/${t.total} nodes ready, ${t.notReady} not ready (${t.unknown} unknown)`)
      // STATUS is NotReady (Ready False or Unknown) or Unknown (no Ready condition)
      assert.equal(
        r.stdout
          .trim()
          .split('\n')
          .filter((l) => !l.split('\t')[1]?.startsWith('Ready')).length,
        t.notReady,
      )
      assert.ok(fullList, 'the whole list, without a hostname selector')
    } finally {
      for (let i = 0; i < 120; i++) api.updateNode(`node-${String(500 + i).padStart(4, '0')}`, (n) => setReady(n, readyOf(500 + i)))
    }
  })
})

describe('node-status default table, a server that prints no Tables', () => {
  it('falls back to the nodes themselves after the 406: the same nodes as kubectl, with their STATUS', async () => {
    // more than a page, so that roster asks for a Table after the first one
    const filler = Array.from({length: 500}, (_, i) => makeNode({name: `x-${String(i).padStart(3, '0')}`}))
    const plain = await startKubeApiServer({
      tables: false,
      nodes: [
        makeNode({name: 'a', roles: ['control-plane']}),
        makeNode({name: 'b', ready: 'False'}),
        makeNode({name: 'c', ready: 'Unknown', unschedulable: true}),
        ...filler,
      ],
    })
    try {
      const config = plain.kubeconfigPath()
      const k = await execFileAsync(KUBECTL, ['--kubeconfig', config, '--cache-dir', join(home, 'kube-cache-plain'), 'get', 'nodes'], {
        env: {PATH: process.env.PATH, HOME: home},
      })
      plain.resetRequests()
      const r = await runCli(['node-status', '--kubeconfig', config], {env: isolatedEnv()})
      assert.equal(r.code, 0, r.stderr)
      const ours = rows(r.stdout, /\t/)
      assert.deepEqual(ours.pop(), ['501/503 nodes ready, 2 not ready (1 unknown)'])
      // kubectl, given no Table, prints what it can print of any object: NAME and AGE
      const theirs = rows(k.stdout, /\s{3,}/)
      assert.deepEqual(theirs[0], ['NAME', 'AGE'])
      assert.deepEqual(
        ours.map((row) => row[0]),
        theirs.map((row) => row[0]),
      )
      assert.deepEqual(
        ours.slice(0, 4).map((row) => row[1]),
        ['STATUS', 'Ready', 'NotReady', 'NotReady,SchedulingDisabled'],
      )
      // the first page (nodes), the second as a Table (406), then the nodes in full
      assert.deepEqual(
        plain.requests.filter((x) => x.resource === 'nodes').map((x) => x.status),
        [200, 406, 200, 200],
      )
    } finally {
      await plain.stop()
    }
  })
})

function setReady(node: {status?: Record<string, unknown>}, ready: string): void {
  const conditions = (node.status?.conditions ?? []) as Array<{type: string; status: string}>
  const c = conditions.find((x) => x.type === 'Ready')
  if (c && ready !== 'missing') c.status = ready
}
