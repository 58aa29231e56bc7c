/**
 * `roster login` with the OS keychain: a real Secret Service (gnome-keyring in a private D-Bus
 * session, as keychain.test.ts does), keytar, oidc-provider and `roster serve --oidc-*`. The
 * tokens live in the keychain only (the credentials file keeps an index entry without them);
 * every command reads them from there; logout deletes them. And a D-Bus session whose Secret
 * Service does not answer falls back to the 0600 file, with one warning.
 */
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {BIN, isolatedEnv} from '../support/cli.js'
import {USERS, type OidcProviderServer, startOidcServe} from '../support/oidc-provider.js'
import type {ServeProcess} from '../support/serve-server.js'

/** Runs a shell script inside `dbus-run-session`, with an unlocked gnome-keyring unless `keyring` is false. */
function inDbusSession(
  script: string,
  env: Record<string, string | undefined>,
  keyring = true,
): Promise<{code: number; stdout: string; stderr: string}> {
  const file = path.join(env.HOME!, 'session.sh')
  writeFileSync(
    file,
    `set -u\n${keyring ? 'printf %s session-unlock | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1\n' : ''}roster() { "${process.execPath}" "${BIN}" "$@"; }\n${script}\n`,
  )
  return new Promise((resolve, reject) => {
    const child = spawn('dbus-run-session', ['--', 'bash', file], {env: env as NodeJS.ProcessEnv, cwd: env.HOME})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolve({code: code ?? 1, stdout, stderr}))
  })
}

describe('roster login with the keychain (gnome-keyring + keytar)', () => {
  let dir: string
  let provider: OidcProviderServer
  let serve: ServeProcess

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'roster-oidc-kc-'))
    ;({provider, serve} = await startOidcServe(dir))
  })
  after(async () => {
    await serve?.stop()
    await provider?.stop()
    if (dir) rmSync(dir, {recursive: true, force: true})
  })

  it('stores the tokens in the keychain, uses them, and logout deletes them', async () => {
    const env = isolatedEnv({PW: USERS.alice!.password, REG: serve.url})
    const result = await inDbusSession(
      [
        'printf %s "$PW" | roster login --registry "$REG" --username alice --password-stdin 2>login.err; echo "login=$?"',
        'roster auth status --registry "$REG"; echo "status=$?"',
        'roster server register kc1 --registry "$REG"; echo "write=$?"',
        'echo "file=$(cat "$XDG_CONFIG_HOME/roster/credentials.json" | tr -d "\\n ")"',
        'roster logout --registry "$REG"; echo "logout=$?"',
        'roster auth status --registry "$REG"; echo "after=$?"',
        'echo "loginerr=$(cat login.err)"',
      ].join('\n'),
      env,
    )
    const out = result.stdout
    const code = (name: string) => Number(new RegExp(`^${name}=(\\d+)$`, 'm').exec(out)?.[1])
    assert.equal(code('login'), 0, out + result.stderr)
    assert.match(out, /^loginerr=$/m, 'no warning when the keychain answers')
    assert.equal(code('status'), 0, out)
    assert.match(out, /Stored in: the keychain \(service roster-login, account http:\/\/127\.0\.0\.1:\d+\)/)
    assert.match(out, /Roles: roster-admin/)
    assert.equal(code('write'), 0, out + result.stderr)
    const file = /^file=(.*)$/m.exec(out)?.[1] ?? ''
    assert.match(file, /"store":"keychain"/)
    assert.doesNotMatch(file, /eyJ|accessToken|refreshToken/, 'the credentials file holds no token for a keychain login')
    assert.equal(code('logout'), 0, out)
    assert.match(out, /refresh token is revoked/)
    assert.equal(code('after'), 4)
    assert.match(result.stderr, /roster: not signed in to http:\/\/127\.0\.0\.1:\d+/)
  })

  it('a D-Bus session without a Secret Service that answers: the 0600 file, one warning', async () => {
    const env = isolatedEnv({PW: USERS.bob!.password, REG: serve.url})
    // No keyring unlocked: the activated gnome-keyring has no unlocked collection (or none starts).
    const result = await inDbusSession(
      [
        'printf %s "$PW" | roster login --registry "$REG" --username bob --password-stdin; echo "login=$?"',
        'roster auth status --registry "$REG"; echo "status=$?"',
        'stat -c "mode=%a" "$XDG_CONFIG_HOME/roster/credentials.json"',
      ].join('\n'),
      env,
      false,
    )
    const out = result.stdout
    assert.match(out, /^login=0$/m, out + result.stderr)
    assert.equal(result.stderr.split('\n').filter((l) => /warning/.test(l)).length, 1, result.stderr)
    assert.match(result.stderr, /no keychain \(Secret Service\) answered; the login is stored in .*credentials\.json \(mode 0600\)/)
    assert.match(out, /Stored in: .*credentials\.json/)
    assert.match(out, /^mode=600$/m)
  })
})
