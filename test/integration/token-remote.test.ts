/**
 * The token commands against a remote registry (`roster serve`, the built CLI on a loopback
 * port): the first admin token is made with direct store access, then create/info/list/revoke go
 * through the API; a service or read token is refused (exit 4), an unknown id exits 5, and a
 * revoked token is refused by the server. Nothing here prints the signing key.
 */
import assert from 'node:assert/strict'
import {spawn, type ChildProcess} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {openStore} from '../../src/lib/store/open-store.js'
import {BIN, type CliResult, isolatedEnv, runCli} from '../support/cli.js'

let dir: string
let registry: string
let env: Record<string, string | undefined>
let serve: ChildProcess
let serveErr = ''
let url: string
let admin: string
const outputs: string[] = []

function ok(r: CliResult): CliResult {
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`)
  return r
}

function fails(r: CliResult, code: number, message: RegExp): void {
  assert.equal(r.code, code, `expected exit ${code}, got ${r.code}: ${r.stdout} ${r.stderr}`)
  assert.equal(r.stderr.trim().split('\n').length, 1, `one line expected: ${r.stderr}`)
  assert.match(r.stderr, message)
}

async function remote(token: string | undefined, ...args: string[]): Promise<CliResult> {
  const r = await runCli([...args, '--registry', url], {env: {...env, ROSTER_TOKEN: token}})
  outputs.push(r.stdout, r.stderr)
  return r
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'roster-token-remote-'))
  registry = `sqlite:${path.join(dir, 'registry.db')}`
  env = isolatedEnv()
  // The registry's owner makes the first admin token with direct store access.
  const first = await runCli(['token', 'create', 'first-admin', '--role', 'admin', '--registry', registry], {env})
  assert.equal(first.code, 0, first.stderr)
  admin = first.stdout.trim()
  serve = spawn(process.execPath, [BIN, 'serve', '--registry', registry, '--listen', '127.0.0.1:0'], {
    env: env as NodeJS.ProcessEnv,
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  serve.stderr!.setEncoding('utf8').on('data', (d: string) => (serveErr += d))
  url = await new Promise<string>((resolve, reject) => {
    serve.stderr!.on('data', () => {
      const m = /listening on (\S+)/.exec(serveErr)
      if (m) resolve(m[1]!)
    })
    serve.on('exit', (code) => reject(new Error(`roster serve exited ${code}: ${serveErr}`)))
  })
})

after(async () => {
  if (serve && serve.exitCode === null) {
    const exited = new Promise((resolve) => serve.on('exit', resolve))
    serve.kill('SIGTERM')
    await exited
  }
  rmSync(dir, {recursive: true, force: true})
})

describe('roster token against roster serve', () => {
  it('create → info → list → revoke → info through the API, with an admin token', async () => {
    const created = ok(await remote(admin, 'token', 'create', 'db1', '-n', 'default'))
    assert.match(created.stdout, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$/)
    const service = created.stdout.trim()

    const info = ok(await remote(admin, 'token', 'info', service))
    assert.match(info.stdout, /^id: +db1$/m)
    assert.match(info.stdout, /^signature: +valid$/m)
    assert.match(info.stdout, /^revoked: +no$/m)

    const list = JSON.parse(ok(await remote(admin, 'token', 'list', '-o', 'json')).stdout) as {id: string; revoked?: boolean}[]
    assert.deepEqual(
      list.map((t) => t.id),
      ['db1', 'first-admin'],
    )

    // A service token may not manage tokens; neither may no token.
    fails(await remote(service, 'token', 'list'), 4, /not allowed/)
    fails(await remote(undefined, 'token', 'list'), 4, /needs a token/)
    fails(await remote(admin, 'token', 'revoke', 'nobody'), 5, /nobody/)
    fails(await remote(admin, 'token', 'create', 'x', '--role', 'read'), 2, /namespaces/)

    ok(await remote(admin, 'token', 'revoke', 'db1'))
    const revoked = JSON.parse(ok(await remote(admin, 'token', 'info', service, '--json')).stdout) as {revoked: boolean}
    assert.equal(revoked.revoked, true)
    // The server refuses the revoked token (revoke answers once the server's view has it).
    fails(await remote(service, 'service', 'list'), 4, /revoked/)
  })

  it('never prints the signing key', async () => {
    const store = await openStore({registry, timeoutMs: 5000})
    let d: string
    try {
      d = (JSON.parse((await store.get('auth/signing-key'))!.value) as {d: string}).d
    } finally {
      await store.close()
    }
    for (const text of [...outputs, serveErr]) assert.ok(!text.includes(d))
  })
})
