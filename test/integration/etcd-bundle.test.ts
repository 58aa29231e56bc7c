/**
 * The etcd client of the built CLI: dist/ carries etcd3 and its gRPC stack with a package
 * definition prepared at build time (scripts/bundle-etcd.mjs), not the copy in node_modules that
 * the store tests (test/integration/etcd-store.test.ts, from src/) use. This runs the built CLI
 * against a real etcd that requires TLS client certificates and a password, as a fleet's would:
 * writes, reads, a watch-free round trip, and the errors a user meets (wrong password, a read-only
 * user writing, nothing listening) with their exit codes.
 */
import assert from 'node:assert/strict'
import {mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {startEtcd, type EtcdServer} from '../support/etcd-server.js'
import {makeTlsFiles, type TlsFiles} from '../support/test-pki.js'
import {freePort} from '../support/free-port.js'
import {isolatedEnv, ROOT, runBin, runCli} from '../support/cli.js'
import {observeBin} from '../support/observe-bin.js'

const ROOT_PASSWORD = 'root-Secret-7f3a'
const READER_PASSWORD = 'reader-Secret-91c2'

describe('the built CLI on etcd with TLS client certificates and authentication', () => {
  let dir: string
  let tls: TlsFiles
  let etcd: EtcdServer
  let tlsFlags: string[]

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'roster-etcd-bundle-'))
    tls = makeTlsFiles(dir)
    etcd = await startEtcd({tls, throwaway: true})
    tlsFlags = ['--registry', etcd.url, '--etcd-ca', tls.caFile, '--etcd-cert', tls.clientCertFile, '--etcd-key', tls.clientKeyFile]
    // Set up users with the etcd3 package from node_modules (the test's own client, not the bundle's).
    const {Etcd3} = await import('etcd3')
    const raw = new Etcd3({
      hosts: etcd.endpoint,
      credentials: {
        rootCertificate: readFileSync(tls.caFile),
        certChain: readFileSync(tls.clientCertFile),
        privateKey: readFileSync(tls.clientKeyFile),
      },
    })
    try {
      await raw.user('root').create(ROOT_PASSWORD)
      await raw
        .role('root')
        .create()
        .catch(() => undefined)
      await raw.user('root').addRole('root')
      const reader = await raw.role('reader').create()
      await reader.grant({permission: 'Read', range: raw.range({prefix: '/roster/'})})
      await raw.user('reader').create(READER_PASSWORD)
      await raw.user('reader').addRole('reader')
      await raw.auth.authEnable({})
    } finally {
      raw.close()
    }
  })
  after(async () => {
    await etcd?.stop()
    rmSync(dir, {recursive: true, force: true})
  })

  it('dist carries etcd3: no file of it imports etcd3, or reads rpc.proto, from node_modules', () => {
    const files = (dir: string): string[] =>
      readdirSync(dir, {withFileTypes: true}).flatMap((e) =>
        e.isDirectory() ? files(path.join(dir, e.name)) : /\.c?js$/.test(e.name) ? [path.join(dir, e.name)] : [],
      )
    const texts = files(path.join(ROOT, 'dist')).map((f) => [f, readFileSync(f, 'utf8')] as const)
    assert.ok(
      texts.some(([, text]) => text.includes('etcdserverpb.KV')),
      'no file in dist holds the etcd package definition',
    )
    for (const [file, text] of texts) {
      assert.doesNotMatch(text, /(from|import\(|require\()\s*["']etcd3["']/, file)
      assert.doesNotMatch(text, /rpc\.proto`/, file)
    }
  })

  it('registers and lists a service as root, over TLS, with the password', async () => {
    const env = isolatedEnv({ROSTER_ETCD_USERNAME: 'root', ROSTER_ETCD_PASSWORD: ROOT_PASSWORD})
    const register = await runCli(['service', 'register', 'node', '-e', 'http://127.0.0.1:9100/metrics', ...tlsFlags], {env})
    assert.equal(register.code, 0, register.stderr)
    const list = await runCli(['service', 'list', '-o', 'json', ...tlsFlags], {env})
    assert.equal(list.code, 0, list.stderr)
    const services = JSON.parse(list.stdout) as {name: string; endpoint: string}[]
    assert.deepEqual(
      services.map((s) => [s.name, s.endpoint]),
      [['node', 'http://127.0.0.1:9100/metrics']],
    )
  })

  it('bin/run.js, as a process, does the same (what systemd hooks run), without proto-loader or rpc.proto', async () => {
    const env = isolatedEnv({ROSTER_ETCD_USERNAME: 'root', ROSTER_ETCD_PASSWORD: ROOT_PASSWORD})
    const register = await observeBin(['service', 'register', 'web', '-e', 'http://127.0.0.1:8080/metrics', ...tlsFlags], {env})
    assert.equal(register.code, 0, register.stderr)
    // The package definition prepared at build time stands for etcd3's loadSync(rpc.proto).
    assert.deepEqual(
      [...register.syncReads, ...register.asyncFs].filter((f) => f.endsWith('.proto')),
      [],
    )
    assert.deepEqual(
      register.resolved.filter((r) => /etcd3|@grpc|protobufjs/.test(r)),
      [],
    )
    // The hooks register and unregister; the list between only reads what the process wrote.
    const list = await runCli(['service', 'list', '-o', 'json', ...tlsFlags], {env})
    assert.equal(list.code, 0, list.stderr)
    assert.deepEqual((JSON.parse(list.stdout) as {name: string}[]).map((s) => s.name).sort(), ['node', 'web'])
    const unregister = await runBin(['service', 'unregister', 'http://127.0.0.1:8080/metrics', ...tlsFlags], {env})
    assert.equal(unregister.code, 0, unregister.stderr)
  })

  it('a read-only user lists, and is refused a write with exit 4, the registry unchanged', async () => {
    const env = isolatedEnv({ROSTER_ETCD_USERNAME: 'reader', ROSTER_ETCD_PASSWORD: READER_PASSWORD})
    const list = await runCli(['service', 'list', '-o', 'json', ...tlsFlags], {env})
    assert.equal(list.code, 0, list.stderr)
    assert.equal((JSON.parse(list.stdout) as unknown[]).length, 1)
    const register = await runCli(['service', 'register', 'web', '-e', 'http://127.0.0.1:8080/metrics', ...tlsFlags], {env})
    assert.equal(register.code, 4, register.stderr)
    assert.match(register.stderr, /permission denied/)
    assert.equal(register.stderr.trim().split('\n').length, 1, register.stderr)
    const after = await runCli(['service', 'list', '-o', 'json', ...tlsFlags], {env})
    assert.equal((JSON.parse(after.stdout) as unknown[]).length, 1)
  })

  it('a wrong password is exit 4 in one line that never shows the password', async () => {
    const env = isolatedEnv({ROSTER_ETCD_USERNAME: 'root', ROSTER_ETCD_PASSWORD: 'wrong-Password-0000'})
    const result = await runCli(['service', 'list', ...tlsFlags], {env})
    assert.equal(result.code, 4, result.stderr)
    assert.match(result.stderr, /refused user "root"/)
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr)
    assert.doesNotMatch(result.stdout + result.stderr, /wrong-Password-0000/)
  })

  it('nothing listening is exit 3 naming the endpoint', async () => {
    const port = await freePort()
    const env = isolatedEnv({ROSTER_ETCD_USERNAME: 'root', ROSTER_ETCD_PASSWORD: ROOT_PASSWORD})
    const flags = [...tlsFlags.slice(2), '--registry', `etcd://127.0.0.1:${port}`, '--timeout', '1s']
    const result = await runCli(['service', 'list', ...flags], {env})
    assert.equal(result.code, 3, result.stderr)
    assert.match(result.stderr, new RegExp(`127\\.0\\.0\\.1:${port}`))
  })
})
