/**
 * The token commands as a user runs them (the built CLI) on a SQLite registry: create → info →
 * list → revoke → info; `$(roster token create …)` gives only the JWT; bad input exits 2 naming
 * the field and changes nothing; the signing key's private part never appears in any output.
 */
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {openStore} from '../../src/lib/store/open-store.js'
import {BIN, type CliResult, isolatedEnv, runCli} from '../support/cli.js'

const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

let dir: string
let registry: string
let env: Record<string, string | undefined>
/** Every output of every command run here, checked for key material at the end. */
const outputs: string[] = []

async function cli(...args: string[]): Promise<CliResult> {
  const r = await runCli([...args, '--registry', registry], {env})
  outputs.push(r.stdout, r.stderr)
  return r
}

function ok(r: CliResult): CliResult {
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`)
  return r
}

function fails(r: CliResult, code: number, message: RegExp): void {
  assert.equal(r.code, code, `expected exit ${code}, got ${r.code}: ${r.stdout} ${r.stderr}`)
  const lines = r.stderr.trim().split('\n')
  assert.equal(lines.length, 1, `one line expected: ${r.stderr}`)
  assert.match(lines[0]!, message)
}

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'roster-token-cli-'))
  registry = `sqlite:${path.join(dir, 'registry.db')}`
  env = isolatedEnv()
})
after(() => rmSync(dir, {recursive: true, force: true}))

describe('roster token', () => {
  it('refuses bad input with exit 2 naming the field, and creates nothing (not even a key)', async () => {
    fails(
      await cli('token', 'create', 'x', '--role', 'root', '-n', 'default'),
      2,
      /^roster: --role "root": expected one of service, read, admin/,
    )
    fails(await cli('token', 'create', 'x'), 2, /^roster: --namespaces "": a service token needs at least one namespace/)
    fails(await cli('token', 'create', 'x', '--role', 'read', '-n', ''), 2, /^roster: --namespaces "": must not be empty/)
    fails(
      await cli('token', 'create', 'x', '-n', 'default', '--expires', '3months'),
      2,
      /^roster: --expires "3months": expected a duration/,
    )
    fails(await cli('token', 'create', 'a/b', '-n', 'default'), 2, /^roster: id "a\/b": may contain only/)
    fails(await cli('token', 'create', 'x', '-n', 'no such'), 2, /^roster: --namespaces "no such"/)
    const json = await cli('token', 'create', 'x', '--expires', 'soon', '-n', 'default', '--json')
    assert.equal(json.code, 2)
    assert.deepEqual((JSON.parse(json.stdout) as {error: {code: string; field: string}}).error.field, 'expires')
    const list = ok(await cli('token', 'list', '-o', 'json'))
    assert.deepEqual(JSON.parse(list.stdout), [])
    const store = await openStore({registry, timeoutMs: 5000})
    try {
      assert.equal(await store.get('auth/signing-key'), undefined)
    } finally {
      await store.close()
    }
  })

  it('create → info → list → revoke → info', async () => {
    const created = ok(await cli('token', 'create', 'db1.example.com', '-n', 'default,team-a'))
    assert.equal(created.stderr, '')
    assert.match(created.stdout, /^[A-Za-z0-9_.-]+\n$/, 'only the JWT and a newline')
    const token = created.stdout.trim()
    assert.match(token, JWT)

    const info = ok(await cli('token', 'info', token))
    assert.match(info.stdout, /^id: +db1\.example\.com$/m)
    assert.match(info.stdout, /^role: +service$/m)
    assert.match(info.stdout, /^namespaces: +default,team-a$/m)
    assert.match(info.stdout, /^issued: +\d{4}-\d\d-\d\dT/m)
    assert.match(info.stdout, /^expires: +\d{4}-\d\d-\d\dT/m)
    assert.match(info.stdout, /^signature: +valid$/m)
    assert.match(info.stdout, /^revoked: +no$/m)
    assert.match(info.stdout, /^valid: +yes$/m)

    ok(await cli('token', 'create', 'prom1', '--role', 'read', '-n', 'default', '--expires', '1y'))
    ok(await cli('token', 'create', 'boss', '--role', 'admin', '--expires', 'never'))
    const list = ok(await cli('token', 'list'))
    assert.deepEqual(list.stdout.trim().split('\n')[0]!.split('\t'), ['ID', 'ROLE', 'NAMESPACES', 'ISSUED', 'EXPIRES', 'REVOKED'])
    const rows = list.stdout
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split('\t'))
    assert.deepEqual(
      rows.map((r) => [r[0], r[1], r[2], r[5]]),
      [
        ['boss', 'admin', '*', 'no'],
        ['db1.example.com', 'service', 'default,team-a', 'no'],
        ['prom1', 'read', 'default', 'no'],
      ],
    )
    assert.equal(rows[0]![4], 'never')
    for (const format of ['json', 'yaml', 'csv']) ok(await cli('token', 'list', '-o', format))
    assert.ok(!list.stdout.includes(token.split('.')[2]!), 'list never shows a token')

    const revoked = ok(await cli('token', 'revoke', 'db1.example.com'))
    assert.equal(revoked.stdout, 'token db1.example.com revoked\n')
    ok(await cli('token', 'revoke', 'db1.example.com'))
    fails(await cli('token', 'revoke', 'nobody'), 5, /^roster: token "nobody" not found$/)
    fails(
      await cli('token', 'create', 'db1.example.com', '-n', 'default'),
      6,
      /^roster: id "db1\.example\.com": a token with this id exists or was revoked/,
    )

    const after = ok(await cli('token', 'info', token, '--json'))
    const parsed = JSON.parse(after.stdout) as {id: string; signatureValid: boolean; revoked: boolean; valid: boolean; problem: string}
    assert.equal(parsed.id, 'db1.example.com')
    assert.equal(parsed.signatureValid, true)
    assert.equal(parsed.revoked, true)
    assert.equal(parsed.valid, false)
    assert.equal(parsed.problem, 'token "db1.example.com" revoked')
    const listJson = JSON.parse(ok(await cli('token', 'list', '--json')).stdout) as {id: string; revoked: boolean}[]
    assert.equal(listJson.find((t) => t.id === 'db1.example.com')?.revoked, true)

    // From stdin, so that the token is not in the process list.
    const fromStdin = await runCli(['token', 'info', '-', '--registry', registry], {env, input: `${token}\n`})
    outputs.push(fromStdin.stdout, fromStdin.stderr)
    assert.match(ok(fromStdin).stdout, /^revoked: +yes$/m)
  })

  it('TOKEN=$(roster token create …) holds only the JWT', () => {
    const script = `set -e
T=$("$NODE" "$BIN" token create shell-made -n default --registry "$REG")
printf '%s' "$T" > "$OUT"
"$NODE" "$BIN" token info "$T" --registry "$REG" --json`
    const out = path.join(dir, 'token.txt')
    const r = spawnSync('bash', ['-c', script], {
      env: {...env, NODE: process.execPath, BIN, REG: registry, OUT: out} as NodeJS.ProcessEnv,
      encoding: 'utf8',
    })
    outputs.push(r.stdout, r.stderr)
    assert.equal(r.status, 0, r.stderr)
    const info = JSON.parse(r.stdout) as {id: string; valid: boolean}
    assert.equal(info.id, 'shell-made')
    assert.equal(info.valid, true)
    assert.match(spawnSync('cat', [out], {encoding: 'utf8'}).stdout, JWT)
  })

  it('info refuses what is not a token with exit 2, and flags a token of another registry', async () => {
    fails(await cli('token', 'info', 'garbage'), 2, /^roster: token: not a JWT/)
    const otherRegistry = `sqlite:${path.join(dir, 'other.db')}`
    const foreign = ok(await runCli(['token', 'create', 'db1', '-n', 'default', '--registry', otherRegistry], {env})).stdout.trim()
    const info = ok(await cli('token', 'info', foreign))
    assert.match(info.stdout, /^signature: +invalid$/m)
    assert.match(info.stdout, /^valid: +no \(token signed by an unknown key\)$/m)
  })

  it('remote registries: http:// only on loopback, and a token is required', async () => {
    fails(
      await runCli(['token', 'list', '--registry', 'http://192.0.2.1:8080'], {env}),
      2,
      /^roster: --registry "http:\/\/192\.0\.2\.1:8080": http:\/\/ only on loopback/,
    )
    fails(await runCli(['token', 'list', '--registry', 'https://127.0.0.1:1'], {env}), 4, /needs a token/)
  })

  it('never prints the private signing key', async () => {
    const store = await openStore({registry, timeoutMs: 5000})
    let d: string
    try {
      d = (JSON.parse((await store.get('auth/signing-key'))!.value) as {d: string}).d
    } finally {
      await store.close()
    }
    assert.ok(d.length >= 40)
    assert.ok(outputs.length > 20)
    for (const text of outputs) assert.ok(!text.includes(d), 'the JWK "d" value appears in an output')
  })
})
