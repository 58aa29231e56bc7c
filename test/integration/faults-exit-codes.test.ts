/**
 * Exit 1 is only ever a bug (issue 10): every error class of src/lib/errors.ts is made to happen
 * for real through the built CLI, and the exit code must be the class's (never 1), with one line
 * on stderr and no stack. The table below names each class; a class added to errors.ts without a
 * case here fails the first test.
 */
import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import * as errors from '../../src/lib/errors.js'
import {ExitCode} from '../../src/lib/errors.js'
import {isolatedEnv, runCli, type CliResult} from '../support/cli.js'
import {freePort} from '../support/free-port.js'
import {startKubeApiServer, type KubeApiServer} from '../support/kube-api-server.js'
import {makeNode} from '../support/kube-objects.js'
import {createToken, startServe, type ServeProcess} from '../support/serve-server.js'

const env = isolatedEnv()
const home = env.HOME!
const registry = `sqlite:${path.join(home, 'r.db')}`
let dir: string
let serve: ServeProcess
let kube: KubeApiServer
let readToken: string

/** Every exit code the contract documents; 1 is not among them. */
const DOCUMENTED = new Set([0, 2, 3, 4, 5, 6, 7, 8, 9])

function expectClass(r: CliResult, code: number, label: string): void {
  assert.notEqual(r.code, 1, `${label}: exit 1 is a bug: ${r.stderr}`)
  assert.ok(DOCUMENTED.has(r.code), `${label}: exit ${r.code} is not documented`)
  assert.equal(r.code, code, `${label}: ${r.stderr}`)
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `${label}: one line: ${r.stderr}`)
  assert.doesNotMatch(r.stderr, /^\s+at /m, label)
}

/** The `--json` error object carries the class's code and exit code too. */
function expectJsonClass(r: CliResult, code: number, errorCode: string, label: string): void {
  assert.equal(r.code, code, `${label}: ${r.stdout}${r.stderr}`)
  const body = JSON.parse(r.stdout) as {error: {code: string; exitCode: number}}
  assert.equal(body.error.code, errorCode, label)
  assert.equal(body.error.exitCode, code, label)
}

const ZONE_HEAD = '$ORIGIN example.com.\n@ 3600 IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ 3600 IN NS ns1\nns1 3600 IN A 192.0.2.53\n'

function records(count: number): string {
  return Array.from({length: count}, (_, i) => `- dnsName: h${i}.example.com\n  recordType: A\n  targets: [192.0.2.${i + 1}]\n`).join('')
}

function dnsSync(file: string, zone: string, ...extra: string[]): string[] {
  return [
    'dns',
    'sync',
    '--once',
    '--policy',
    'sync',
    '--owner-id',
    'ci',
    '--source',
    'file',
    '--file',
    file,
    '--provider',
    'zonefile',
    '--zone-file',
    zone,
    '--zone',
    'example.com',
    ...extra,
  ]
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'roster-faults-exit-'))
  const r = await runCli(['service', 'register', 'web', '-e', 'http://127.0.0.1:9100/metrics', '--registry', registry], {env})
  assert.equal(r.code, 0, r.stderr)
  readToken = await createToken(registry, {id: 'reader', role: 'read', namespaces: ['*']})
  serve = await startServe({registry, env})
  kube = await startKubeApiServer({nodes: [makeNode({name: 'n1'}), makeNode({name: 'n2', ready: 'False'})]})
})
after(async () => {
  await serve?.stop()
  await kube?.stop()
  rmSync(dir, {recursive: true, force: true})
})

describe('every error class exits with its own code, never 1', () => {
  const cases: Record<string, () => Promise<void>> = {
    InvalidInputError: async () => {
      const r = await runCli(['service', 'register', 'web', '-e', 'not a url', '--registry', registry], {env})
      expectClass(r, ExitCode.invalidInput, 'InvalidInputError')
      const j = await runCli(['service', 'register', 'web', '-e', 'not a url', '--registry', registry, '--json'], {env})
      expectJsonClass(j, 2, 'invalid_input', 'InvalidInputError --json')
    },
    TooLargeError: async () => {
      // A sparse file just over the import limit: refused from its size, before it is read.
      const file = path.join(dir, 'huge.yaml')
      writeFileSync(file, '')
      truncateSync(file, 64 * 1024 * 1024 + 1)
      const r = await runCli(['service', 'import', file, '--registry', registry], {env})
      expectClass(r, ExitCode.invalidInput, 'TooLargeError')
      const j = await runCli(['service', 'import', file, '--registry', registry, '--json'], {env})
      expectJsonClass(j, 2, 'too_large', 'TooLargeError --json')
    },
    BackendUnavailableError: async () => {
      const port = await freePort()
      const r = await runCli(['service', 'list', '--registry', `etcd://127.0.0.1:${port}`, '--timeout', '1s'], {env})
      expectClass(r, ExitCode.unavailable, 'BackendUnavailableError (etcd)')
      const k = await runCli(
        ['node-status', '--kubeconfig', kube.kubeconfigPath({server: `https://127.0.0.1:${port}`}), '--timeout', '1s'],
        {env},
      )
      expectClass(k, ExitCode.unavailable, 'BackendUnavailableError (cluster)')
    },
    NotAuthenticatedError: async () => {
      const r = await runCli(['service', 'list', '--registry', serve.url], {env})
      expectClass(r, ExitCode.notAllowed, 'NotAuthenticatedError')
      const j = await runCli(['service', 'list', '--registry', serve.url, '--json'], {env})
      expectJsonClass(j, 4, 'not_authenticated', 'NotAuthenticatedError --json')
    },
    NotAllowedError: async () => {
      const r = await runCli(['service', 'register', 'x', '-e', 'http://127.0.0.1:2/m', '--registry', serve.url, '--token', readToken], {
        env,
      })
      expectClass(r, ExitCode.notAllowed, 'NotAllowedError')
      const j = await runCli(
        ['service', 'register', 'x', '-e', 'http://127.0.0.1:2/m', '--registry', serve.url, '--token', readToken, '--json'],
        {env},
      )
      expectJsonClass(j, 4, 'not_allowed', 'NotAllowedError --json')
    },
    NotFoundError: async () => {
      const r = await runCli(['server', 'unregister', 'no-such-server', '--registry', registry], {env})
      expectClass(r, ExitCode.notFound, 'NotFoundError')
    },
    ConflictError: async () => {
      const reg = await runCli(['namespace', 'register', 'team', '--registry', registry], {env})
      assert.equal(reg.code, 0, reg.stderr)
      const svc = await runCli(['service', 'register', 'api', '-n', 'team', '-e', 'http://127.0.0.1:9200/m', '--registry', registry], {env})
      assert.equal(svc.code, 0, svc.stderr)
      const r = await runCli(['namespace', 'unregister', 'team', '--registry', registry], {env})
      expectClass(r, ExitCode.conflict, 'ConflictError')
    },
    PreconditionFailedError: async () => {
      // A conditional write whose service moved: locally, and through serve (HTTP 412).
      const stale = ['service', 'register', 'web', '-e', 'http://127.0.0.1:9100/metrics', '--if-revision', '0']
      expectClass(await runCli([...stale, '--registry', registry], {env}), ExitCode.conflict, 'PreconditionFailedError')
      const j = await runCli([...stale, '--registry', registry, '--json'], {env})
      expectJsonClass(j, 6, 'precondition_failed', 'PreconditionFailedError --json')
      const admin = await createToken(registry, {id: 'admin-412', role: 'admin', namespaces: ['*']})
      const remote = await runCli([...stale, '--registry', serve.url, '--token', admin, '--json'], {env})
      expectJsonClass(remote, 6, 'precondition_failed', 'PreconditionFailedError --json (roster serve)')
    },
    CommandExitError: async () => {
      // 7: the node-status gate.
      const gate = await runCli(['node-status', '--kubeconfig', kube.kubeconfigPath(), '--fail-if-not-ready', '0'], {env})
      expectClass(gate, ExitCode.notReady, 'CommandExitError 7 (node-status)')
      // 8: dns sync --detailed-exitcode with changes applied (stdout carries the plan, stderr may be empty).
      const zone = path.join(dir, 'db.example.com')
      writeFileSync(zone, ZONE_HEAD)
      const file = path.join(dir, 'records.yaml')
      writeFileSync(file, records(12))
      const changed = await runCli(dnsSync(file, zone, '--detailed-exitcode'), {env})
      assert.equal(changed.code, ExitCode.changesPending, changed.stderr)
      // 9: a plan deleting 11 of 12 owned records is unsafe.
      writeFileSync(file, records(1))
      const zoneBefore = readFileSync(zone, 'utf8')
      const unsafe = await runCli(dnsSync(file, zone), {env})
      expectClass(unsafe, ExitCode.unsafePlan, 'CommandExitError 9 (dns sync)')
      assert.equal(readFileSync(zone, 'utf8'), zoneBefore, 'nothing written')
    },
  }

  it('has a case for every error class in src/lib/errors.ts', () => {
    const classes = Object.entries(errors)
      .filter(([, v]) => typeof v === 'function' && (v === errors.RosterError || v.prototype instanceof errors.RosterError))
      .map(([name]) => name)
      .filter((name) => name !== 'RosterError') // the base: only a bug throws it bare
    assert.deepEqual(classes.sort(), Object.keys(cases).sort())
  })

  for (const [name, run] of Object.entries(cases)) it(name, run)
})
