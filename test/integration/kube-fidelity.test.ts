/**
 * Fidelity of the test API server, proved with the real kubectl (/usr/bin/kubectl, 1.32), and
 * agreement of `roster node-status` with `kubectl get nodes` on the same cluster.
 * A missing kubectl is a failure, not a skip.
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
import {until} from '../support/until.js'

const execFileAsync = promisify(execFile)
const KUBECTL = process.env.KUBECTL ?? 'kubectl'

let api: KubeApiServer
let home: string
let kubeconfig: string

const DAY = 86_400_000
const SEEDED = [
  makeNode({name: 'cp-1', roles: ['control-plane'], createdAt: new Date(Date.now() - 5 * DAY), version: 'v1.32.2'}),
  makeNode({name: 'w-1', ready: 'False', roles: ['worker'], version: 'v1.31.4', createdAt: new Date(Date.now() - 40 * DAY)}),
  makeNode({name: 'w-2', ready: 'Unknown', legacyRole: 'node', createdAt: new Date(Date.now() - 3 * 3_600_000 - 20 * 60_000)}),
  makeNode({name: 'w-3', ready: 'missing', unschedulable: true, roles: ['worker']}),
  makeNode({name: 'w-4', unschedulable: true, roles: ['worker', 'infra'], externalIP: '203.0.113.9', pressure: ['MemoryPressure']}),
  makeNode({name: 'w-5', createdAt: new Date(Date.now() - 800 * DAY)}),
]

async function kubectl(args: string[], config = kubeconfig): Promise<{code: number; stdout: string; stderr: string}> {
  try {
    const {stdout, stderr} = await execFileAsync(KUBECTL, ['--kubeconfig', config, '--cache-dir', join(home, 'kube-cache'), ...args], {
      env: {PATH: process.env.PATH, HOME: home},
      timeout: 60_000,
    })
    return {code: 0, stdout, stderr}
  } catch (error) {
    const e = error as {code?: unknown; stdout?: string; stderr?: string}
    if (e.code === 'ENOENT') assert.fail(`kubectl is not installed (${KUBECTL}): the fidelity tests need it`)
    return {code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? ''}
  }
}

/** kubectl's table: columns separated by 3+ spaces (tabwriter). roster off a TTY: tabs. */
function parseTable(text: string, separator: RegExp): Array<Record<string, string>> {
  const lines = text.split('\n').filter((l) => l.trim() !== '')
  const header = (lines[0] ?? '').trim().split(separator)
  return lines.slice(1).map((line) => {
    const cells = line.trim().split(separator)
    return Object.fromEntries(header.map((h, i) => [h, cells[i] ?? '']))
  })
}

before(async () => {
  home = mkdtempSync(join(tmpdir(), 'roster-kubectl-home-'))
  api = await startKubeApiServer({nodes: SEEDED})
  kubeconfig = api.kubeconfigPath()
})

after(async () => {
  await api.stop()
  rmSync(home, {recursive: true, force: true})
})

describe('test API server fidelity (real kubectl)', () => {
  it('kubectl get nodes -o json prints the seeded nodes', async () => {
    const r = await kubectl(['get', 'nodes', '-o', 'json'])
    assert.equal(r.code, 0, r.stderr)
    const list = JSON.parse(r.stdout) as {
      kind: string
      items: Array<{kind: string; metadata: {name: string}; status: {conditions: Array<{type: string; status: string}>}}>
    }
    assert.equal(list.kind, 'List')
    assert.deepEqual(
      list.items.map((n) => n.metadata.name),
      ['cp-1', 'w-1', 'w-2', 'w-3', 'w-4', 'w-5'],
    )
    assert.ok(list.items.every((n) => n.kind === 'Node'))
    const ready = Object.fromEntries(
      list.items.map((n) => [n.metadata.name, n.status.conditions.find((c) => c.type === 'Ready')?.status ?? 'none']),
    )
    assert.deepEqual(ready, {'cp-1': 'True', 'w-1': 'False', 'w-2': 'Unknown', 'w-3': 'none', 'w-4': 'True', 'w-5': 'True'})
  })

  it('kubectl get nodes prints Ready / NotReady / Unknown / cordoned nodes with roles and versions', async () => {
    const r = await kubectl(['get', 'nodes'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION\n/)
    const rows = parseTable(r.stdout, /\s{3,}/)
    assert.deepEqual(
      rows.map((x) => [x.NAME, x.STATUS, x.ROLES, x.AGE, x.VERSION]),
      [
        ['cp-1', 'Ready', 'control-plane', '5d', 'v1.32.2'],
        ['w-1', 'NotReady', 'worker', '40d', 'v1.31.4'],
        ['w-2', 'NotReady', 'node', '3h20m', 'v1.32.2'],
        ['w-3', 'Unknown,SchedulingDisabled', 'worker', '24h', 'v1.32.2'],
        ['w-4', 'Ready,SchedulingDisabled', 'infra,worker', '24h', 'v1.32.2'],
        ['w-5', 'Ready', '<none>', '2y70d', 'v1.32.2'],
      ],
    )
  })

  it('kubectl pages with --chunk-size, filters with -l, gets one node, and is refused with the real messages', async () => {
    api.resetRequests()
    const chunked = await kubectl(['get', 'nodes', '--chunk-size=2', '-o', 'name'])
    assert.equal(chunked.stdout.trim().split('\n').length, 6)
    assert.equal(api.requestCount({verb: 'list', resource: 'nodes'}), 3)
    const selected = await kubectl(['get', 'nodes', '-l', 'node-role.kubernetes.io/worker', '-o', 'name'])
    assert.deepEqual(selected.stdout.trim().split('\n'), ['node/w-1', 'node/w-3', 'node/w-4'])
    const one = await kubectl(['get', 'node', 'w-2', '-o', 'jsonpath={.status.nodeInfo.kubeletVersion}'])
    assert.equal(one.stdout, 'v1.32.2')
    const missing = await kubectl(['get', 'node', 'nope'])
    assert.match(missing.stderr, /Error from server \(NotFound\): nodes "nope" not found/)
    const forbidden = await kubectl(['get', 'nodes'], api.kubeconfigPath({user: 'viewer'}))
    assert.match(
      forbidden.stderr,
      /Error from server \(Forbidden\): nodes is forbidden: User "viewer" cannot list resource "nodes" in API group "" at the cluster scope/,
    )
    const unauthorized = await kubectl(['get', 'nodes'], api.kubeconfigPath({token: 'wrong'}))
    assert.match(unauthorized.stderr, /You must be logged in to the server \(Unauthorized\)/)
    const cert = await kubectl(['get', 'nodes', '-o', 'name'], api.kubeconfigPath({user: 'carol', auth: 'cert'}))
    assert.equal(cert.code, 0, cert.stderr)
    assert.ok(api.requests.some((r) => r.user === 'carol' && r.verb === 'list'))
  })

  it('kubectl follows a watch: changes made on the server show up', async () => {
    const child = execFile(
      KUBECTL,
      ['--kubeconfig', kubeconfig, '--cache-dir', join(home, 'kube-cache'), 'get', 'nodes', '--watch-only', '-o', 'name'],
      {env: {PATH: process.env.PATH, HOME: home}},
    )
    let out = ''
    child.stdout?.on('data', (d: string) => (out += d))
    try {
      await until('the watch', () => api.openWatchCount() > 0)
      api.addNode(makeNode({name: 'w-6'}))
      await until('node/w-6 printed', () => out.includes('node/w-6'), {describe: () => out})
      assert.ok(api.requests.some((r) => r.verb === 'watch'))
    } finally {
      child.kill('SIGTERM')
      api.deleteNode('w-6')
    }
  })
})

describe('roster node-status agrees with kubectl get nodes', () => {
  it('the default table: same NAME, STATUS, ROLES, VERSION (and AGE) for every node', async () => {
    const k = await kubectl(['get', 'nodes'])
    const r = await runCli(['node-status', '--kubeconfig', kubeconfig], {env: isolatedEnv()})
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.trimEnd().split('\n')
    assert.equal(lines[lines.length - 1], '3/6 nodes ready, 3 not ready (2 unknown)')
    const ours = parseTable(lines.slice(0, -1).join('\n'), /\t/)
    const theirs = parseTable(k.stdout, /\s{3,}/)
    assert.equal(ours.length, 6)
    assert.deepEqual(
      ours.map((x) => [x.NAME, x.STATUS, x.ROLES, x.VERSION]),
      theirs.map((x) => [x.NAME, x.STATUS, x.ROLES, x.VERSION]),
    )
    assert.deepEqual(
      ours.map((x) => x.AGE),
      theirs.map((x) => x.AGE),
    )
  })

  it('-o wide: the same ten columns as kubectl -o wide, then CONDITIONS', async () => {
    const k = await kubectl(['get', 'nodes', '-o', 'wide'])
    const r = await runCli(['node-status', '--kubeconfig', kubeconfig, '-o', 'wide'], {env: isolatedEnv()})
    assert.equal(r.code, 0, r.stderr)
    const ours = parseTable(r.stdout.trimEnd().split('\n').slice(0, -1).join('\n'), /\t/)
    const theirs = parseTable(k.stdout, /\s{3,}/)
    const cols = [
      'NAME',
      'STATUS',
      'ROLES',
      'AGE',
      'VERSION',
      'INTERNAL-IP',
      'EXTERNAL-IP',
      'OS-IMAGE',
      'KERNEL-VERSION',
      'CONTAINER-RUNTIME',
    ]
    assert.deepEqual(
      ours.map((x) => cols.map((c) => x[c])),
      theirs.map((x) => cols.map((c) => x[c])),
    )
    assert.equal(ours.find((x) => x.NAME === 'w-4')?.CONDITIONS, 'MemoryPressure')
    assert.equal(ours.find((x) => x.NAME === 'cp-1')?.CONDITIONS, '<none>')
  })

  it('-l selects the same nodes as kubectl -l', async () => {
    const k = await kubectl(['get', 'nodes', '-l', 'node-role.kubernetes.io/worker,kubernetes.io/hostname!=w-1'])
    const r = await runCli(
      ['node-status', '--kubeconfig', kubeconfig, '-l', 'node-role.kubernetes.io/worker,kubernetes.io/hostname!=w-1'],
      {env: isolatedEnv()},
    )
    assert.equal(r.code, 0, r.stderr)
    const ours = parseTable(r.stdout.trimEnd().split('\n').slice(0, -1).join('\n'), /\t/).map((x) => x.NAME)
    assert.deepEqual(
      ours,
      parseTable(k.stdout, /\s{3,}/).map((x) => x.NAME),
    )
    assert.deepEqual(ours, ['w-3', 'w-4'])
  })

  it('a 403 names the same user and verb kubectl reports', async () => {
    const config = api.kubeconfigPath({user: 'viewer'})
    const k = await kubectl(['get', 'nodes'], config)
    const r = await runCli(['node-status', '--kubeconfig', config], {env: isolatedEnv()})
    assert.equal(r.code, 4)
    const message = /nodes is forbidden: User "viewer" cannot list resource "nodes" in API group "" at the cluster scope/
    assert.match(k.stderr, message)
    assert.match(r.stderr, message)
    assert.equal(r.stderr.trim().split('\n').length, 1)
  })
})
