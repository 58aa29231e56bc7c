/**
 * `roster node-status` as a user runs it (the built CLI) against the test API server: outputs,
 * the CI gate (exit 7), kubeconfig rules, and the documented exit codes for every failure.
 */
import assert from 'node:assert/strict'
import {rmSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:net'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'

import {isolatedEnv, processTempDir, runCli} from '../support/cli.js'
import {startKubeApiServer, type KubeApiServer} from '../support/kube-api-server.js'
import {makeNode} from '../support/kube-objects.js'

let api: KubeApiServer
let dir: string
let kubeconfig: string
let silent: Server
let silentPort: number

before(async () => {
  dir = processTempDir('roster-node-status-')
  const nodes = []
  // 10 nodes: 7 Ready, 2 NotReady (False), 1 Unknown — 30% not ready
  for (let i = 0; i < 10; i++) {
    nodes.push(
      makeNode({
        name: `n${i}`,
        roles: i < 3 ? ['control-plane'] : ['worker'],
        ready: i === 3 || i === 4 ? 'False' : i === 5 ? 'Unknown' : 'True',
        labels: {zone: i % 2 ? 'b' : 'a'},
      }),
    )
  }
  api = await startKubeApiServer({nodes})
  kubeconfig = api.kubeconfigPath()
  // a cluster that accepts connections and never answers: --timeout must end the wait
  silent = createServer(() => undefined)
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  silentPort = (silent.address() as {port: number}).port
})

after(async () => {
  await api.stop()
  await new Promise((resolve) => silent.close(resolve))
  rmSync(dir, {recursive: true, force: true})
})

const run = (args: string[], env: Record<string, string | undefined> = {}) => runCli(['node-status', ...args], {env: isolatedEnv(env)})

describe('node-status output', () => {
  it('-o json: per-node readiness, conditions, roles, addresses, taints, and the totals; nothing else on stdout', async () => {
    const r = await run(['--kubeconfig', kubeconfig, '-o', 'json'])
    assert.equal(r.code, 0, r.stderr)
    const report = JSON.parse(r.stdout) as {context: string; totals: Record<string, number>; nodes: Array<Record<string, unknown>>}
    assert.deepEqual(report.totals, {total: 10, ready: 7, notReady: 3, unknown: 1})
    assert.equal(report.context, 'test')
    const n5 = report.nodes.find((n) => n.name === 'n5') as Record<string, unknown>
    assert.equal(n5.ready, 'Unknown')
    assert.equal(n5.status, 'NotReady')
    assert.deepEqual(n5.roles, ['worker'])
    const ready = (n5.conditions as Array<Record<string, string>>).find((c) => c.type === 'Ready')
    assert.equal(ready?.reason, 'NodeStatusUnknown')
    assert.equal(ready?.message, 'Kubelet stopped posting node status.')
    assert.ok(ready?.lastTransitionTime)
    assert.ok(Array.isArray(n5.addresses) && Array.isArray(n5.taints))
    assert.equal(typeof n5.unschedulable, 'boolean')
  })

  it('-o yaml and --json carry the same report', async () => {
    const y = await run(['--kubeconfig', kubeconfig, '-o', 'yaml', '-l', 'zone=a'])
    assert.equal(y.code, 0, y.stderr)
    assert.match(y.stdout, /^context: test\n/m)
    assert.match(y.stdout, /total: 5\n/)
    const j = await run(['--kubeconfig', kubeconfig, '--json', '-l', 'zone=a'])
    assert.equal(j.code, 0, j.stderr)
    assert.equal((JSON.parse(j.stdout) as {totals: {total: number}}).totals.total, 5)
  })

  it('-o prometheus prints the exposition format', async () => {
    const r = await run(['--kubeconfig', kubeconfig, '-o', 'prometheus'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /\nkube_node_status\{node="n3"\} 0\n/)
    assert.match(r.stdout, /\nkube_node_status_nodes_not_ready_ratio 0.3\n/)
    assert.match(r.stdout, /\nkube_node_status_condition\{node="n5",condition="Ready",status="unknown"\} 1\n/)
  })

  it('--no-headers: rows only on stdout, the summary on stderr', async () => {
    const r = await run(['--kubeconfig', kubeconfig, '--no-headers', '-l', 'node-role.kubernetes.io/control-plane'])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => l.split('\t')[0]),
      ['n0', 'n1', 'n2'],
    )
    assert.equal(r.stderr.trim(), '3/3 nodes ready')
  })
})

describe('--fail-if-not-ready', () => {
  const cases: Array<[string, number]> = [
    ['3', 0],
    ['2', 7],
    ['30%', 0],
    ['29%', 7],
    ['0', 7],
  ]
  for (const [threshold, code] of cases) {
    it(`${threshold} with 3 of 10 not ready → exit ${code}`, async () => {
      const r = await run(['--kubeconfig', kubeconfig, '--fail-if-not-ready', threshold])
      assert.equal(r.code, code, r.stderr)
      assert.match(r.stdout, /^NAME\tSTATUS/, 'the table is printed first, gate or not')
      assert.match(r.stdout, /7\/10 nodes ready, 3 not ready \(1 unknown\)\n$/)
      if (code === 7) {
        assert.equal(r.stderr.trim().split('\n').length, 1)
        assert.match(r.stderr, /not Ready/)
        assert.match(r.stderr, threshold.endsWith('%') ? /30% of nodes are not Ready \(3 of 10\)/ : /3 of 10 nodes are not Ready/)
      } else assert.equal(r.stderr, '')
    })
  }

  it('applies to the selected nodes only, and keeps -o json pure', async () => {
    const r = await run([
      '--kubeconfig',
      kubeconfig,
      '-l',
      'node-role.kubernetes.io/control-plane',
      '--fail-if-not-ready',
      '0',
      '-o',
      'json',
    ])
    assert.equal(r.code, 0, r.stderr)
    const bad = await run(['--kubeconfig', kubeconfig, '-l', 'zone=b', '--fail-if-not-ready', '0', '-o', 'json'])
    assert.equal(bad.code, 7)
    assert.equal((JSON.parse(bad.stdout) as {totals: {notReady: number}}).totals.notReady, 2)
  })

  it('refuses a malformed threshold with exit 2', async () => {
    const r = await run(['--kubeconfig', kubeconfig, '--fail-if-not-ready', 'lots'])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /--fail-if-not-ready "lots"/)
  })
})

describe('kubeconfig rules', () => {
  it('KUBECONFIG with two files: merged, the first current-context wins, --context picks another', async () => {
    // file 1: current-context "first" pointing at a cluster in file 2; file 2 has its own
    // current-context (ignored, kubectl rule) and a context for the viewer user.
    const one = join(dir, 'one.yaml')
    const two = join(dir, 'two.yaml')
    writeFileSync(
      one,
      [
        'apiVersion: v1',
        'kind: Config',
        'current-context: first',
        'contexts:',
        '- name: first',
        '  context: {cluster: shared, user: admin}',
        'users:',
        '- name: admin',
        '  user: {token: admin-token}',
        '',
      ].join('\n'),
    )
    writeFileSync(
      two,
      [
        'apiVersion: v1',
        'kind: Config',
        'current-context: second',
        'clusters:',
        '- name: shared',
        '  cluster:',
        `    server: ${api.url}`,
        `    certificate-authority: ${api.caFile}`,
        'contexts:',
        '- name: second',
        '  context: {cluster: shared, user: viewer}',
        'users:',
        '- name: viewer',
        '  user: {token: viewer-token}',
        '- name: admin',
        '  user: {token: not-this-one}',
        '',
      ].join('\n'),
    )
    const merged = await run(['-o', 'json'], {KUBECONFIG: `${join(dir, 'missing.yaml')}:${one}:${two}`})
    assert.equal(merged.code, 0, merged.stderr)
    assert.equal((JSON.parse(merged.stdout) as {context: string}).context, 'first')
    const other = await run(['--context', 'second'], {KUBECONFIG: `${one}:${two}`})
    assert.equal(other.code, 4)
    assert.match(
      other.stderr,
      /kubeconfig user "viewer" \(context "second"\) may not list nodes: .*User "viewer" cannot list resource "nodes"/,
    )
    // --kubeconfig wins over KUBECONFIG
    const flag = await run(['--kubeconfig', kubeconfig, '-o', 'json'], {KUBECONFIG: two})
    assert.equal(flag.code, 0, flag.stderr)
  })

  it('reads ~/.kube/config when nothing else is given', async () => {
    const env = isolatedEnv()
    const {mkdirSync} = await import('node:fs')
    mkdirSync(join(env.HOME as string, '.kube'))
    api.kubeconfigPath({file: join(env.HOME as string, '.kube', 'config'), context: 'home'})
    const r = await runCli(['node-status', '-o', 'json'], {env})
    assert.equal(r.code, 0, r.stderr)
    assert.equal((JSON.parse(r.stdout) as {context: string}).context, 'home')
  })

  it('an unknown context, a broken file, a missing file → exit 2 naming it', async () => {
    const ctx = await run(['--kubeconfig', kubeconfig, '--context', 'staging'])
    assert.equal(ctx.code, 2)
    assert.match(ctx.stderr, /^roster: --context "staging": no such context in kubeconfig .+ \(known contexts: test\)\n$/)
    const broken = join(dir, 'broken.yaml')
    writeFileSync(broken, 'clusters:\n- cluster:\n    server: https://x\n')
    const b = await run(['--kubeconfig', broken])
    assert.equal(b.code, 2)
    assert.match(b.stderr, new RegExp(`kubeconfig "${broken}" is not a valid kubeconfig: clusters\\[0\\]\\.name is missing`))
    const notYaml = join(dir, 'not-yaml.yaml')
    writeFileSync(notYaml, 'a: [b\n')
    const y = await run(['--kubeconfig', notYaml])
    assert.equal(y.code, 2)
    assert.match(y.stderr, /not-yaml\.yaml" is not a valid kubeconfig/)
    const missing = await run(['--kubeconfig', join(dir, 'nope.yaml')])
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /--kubeconfig ".*nope\.yaml": no such file/)
    const none = await run([])
    assert.equal(none.code, 2)
    assert.match(none.stderr, /no kubeconfig/)
  })
})

describe('exit codes for a cluster that refuses or is not there', () => {
  it('401 (bad token) → exit 4 naming the user and the verb', async () => {
    const r = await run(['--kubeconfig', api.kubeconfigPath({token: 'expired-token'})])
    assert.equal(r.code, 4)
    assert.match(r.stderr, /rejected the credentials of kubeconfig user "admin" to list nodes: Unauthorized \(401\)/)
  })

  it('401 (no credentials at all) → exit 4', async () => {
    const r = await run(['--kubeconfig', api.kubeconfigPath({auth: 'none', user: 'anonymous'})])
    assert.equal(r.code, 4)
    assert.match(r.stderr, /Unauthorized/)
  })

  it('403 → exit 4 with the user and verb refused; --json keeps the code', async () => {
    const r = await run(['--kubeconfig', api.kubeconfigPath({user: 'viewer'}), '--json'])
    assert.equal(r.code, 4)
    const out = JSON.parse(r.stdout) as {error: {code: string; message: string; exitCode: number}}
    assert.equal(out.error.code, 'not_allowed')
    assert.match(out.error.message, /User "viewer" cannot list resource "nodes"/)
  })

  it('unreachable (connection refused) → exit 3', async () => {
    const r = await run(['--kubeconfig', api.kubeconfigPath({server: 'https://127.0.0.1:1'})])
    assert.equal(r.code, 3)
    assert.match(r.stderr, /^roster: cluster https:\/\/127\.0\.0\.1:1 \(context "test"\) is unreachable \(list nodes\): .*ECONNREFUSED/)
  })

  it('a cluster that never answers → exit 3 after --timeout', async () => {
    const started = Date.now()
    const r = await run(['--kubeconfig', api.kubeconfigPath({server: `https://127.0.0.1:${silentPort}`}), '--timeout', '1s'])
    assert.equal(r.code, 3)
    assert.match(r.stderr, /did not answer \(list nodes\): no answer within 1s/)
    assert.ok(Date.now() - started < 10_000)
  })

  it('a server certificate the CA did not sign → exit 2 pointing at certificate-authority', async () => {
    const other = await startKubeApiServer({nodes: []})
    try {
      const r = await run(['--kubeconfig', api.kubeconfigPath({server: other.url})])
      assert.equal(r.code, 2)
      assert.match(r.stderr, /TLS with cluster .* failed: .*certificate-authority/)
    } finally {
      await other.stop()
    }
  })
})
