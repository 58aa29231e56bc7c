/**
 * Secrets from the OS keychain, end to end: a real Secret Service (gnome-keyring in a private
 * D-Bus session), keytar, and an etcd that has authentication on. The etcd password lives only
 * in the keychain; the CLI gets `--etcd-password keychain:`.
 */
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {BIN, isolatedEnv, runCli} from '../support/cli.js'
import {startEtcd, type EtcdServer} from '../support/etcd-server.js'

const PASSWORD = 'keychain-held-Pa55'

/** Runs a shell script inside `dbus-run-session` with an unlocked gnome-keyring. */
function inKeyringSession(
  script: string,
  env: Record<string, string | undefined>,
): Promise<{code: number; stdout: string; stderr: string}> {
  const file = path.join(env.HOME!, 'session.sh')
  writeFileSync(
    file,
    `set -u\nprintf %s session-unlock | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1\nroster() { "${process.execPath}" "${BIN}" "$@"; }\n${script}\n`,
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

describe('keychain secrets (gnome-keyring + keytar + etcd with auth)', () => {
  let etcd: EtcdServer
  before(async () => {
    etcd = await startEtcd()
    const {Etcd3} = await import('etcd3')
    const raw = new Etcd3({hosts: etcd.endpoint})
    try {
      await raw.user('root').create(PASSWORD)
      await raw
        .role('root')
        .create()
        .catch(() => undefined)
      await raw.user('root').addRole('root')
      await raw.auth.authEnable({})
    } finally {
      raw.close()
    }
  })
  after(async () => {
    await etcd?.stop()
  })

  it('reads the etcd password from the keychain, never prints it, and names what is missing', async () => {
    const env = isolatedEnv({SECRET: PASSWORD, REG: etcd.url})
    const flags = '--registry "$REG" --etcd-username root --etcd-password keychain: --timeout 5s'
    const result = await inKeyringSession(
      [
        'printf %s "$SECRET" | roster config set-secret etcd-password; echo "set=$?"',
        `roster service register web -e http://127.0.0.1:8080/metrics ${flags}; echo "register=$?"`,
        `roster service list -o json ${flags}; echo "list=$?"`,
        `ROSTER_ETCD_PASSWORD=keychain: roster config show -o json | grep -c 'keychain:'; echo "show=$?"`,
        'printf %s wrong-password | roster config set-secret etcd-password; echo "set-wrong=$?"',
        `roster service list ${flags} 2>&1; echo "wrong=$?"`,
        'roster config delete-secret etcd-password; echo "delete=$?"',
        `roster service list ${flags} 2>&1; echo "missing=$?"`,
      ].join('\n'),
      env,
    )
    const out = result.stdout
    const code = (name: string) => Number(new RegExp(`^${name}=(\\d+)$`, 'm').exec(out)?.[1])
    assert.equal(code('set'), 0, result.stderr)
    assert.equal(code('register'), 0, out + result.stderr)
    assert.equal(code('list'), 0)
    assert.match(out, /"endpoint": "http:\/\/127\.0\.0\.1:8080\/metrics"/)
    assert.equal(code('show'), 0, 'config show prints the keychain: reference')
    assert.equal(code('wrong'), 4, 'a wrong password from the keychain is refused by etcd: exit 4')
    assert.equal(code('delete'), 0)
    assert.equal(code('missing'), 5, 'an absent keychain entry: exit 5')
    assert.match(out, /keychain: no secret "etcd-password"/)
    assert.ok(!out.includes(PASSWORD) && !result.stderr.includes(PASSWORD), 'the secret never appears')
    assert.ok(!out.includes('wrong-password') && !result.stderr.includes('wrong-password'))
  })

  it('without a Secret Service, says so in one line and exits 3', async () => {
    const result = await runCli(['service', 'list', '--registry', etcd.url, '--etcd-username', 'root', '--etcd-password', 'keychain:'])
    assert.equal(result.code, 3, result.stderr)
    assert.equal(result.stderr.trim().split('\n').length, 1)
    assert.match(result.stderr, /^roster: keychain unavailable: /)
  })

  it('set-secret refuses a name that is not a secret flag, and an empty secret', async () => {
    const notSecret = await runCli(['config', 'set-secret', 'registry'], {input: 'x'})
    assert.equal(notSecret.code, 2)
    assert.match(notSecret.stderr, /NAME "registry"/)
  })
})
