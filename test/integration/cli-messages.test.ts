/**
 * Messages that say what to do next, as a new user meets them through the built CLI: typos of
 * commands and option values, oclif's parse errors in roster's one-line form, a missing URL
 * scheme, an endpoint unregistered from the wrong namespace, a secret with no keychain to hold
 * it, a remote call being retried (a line on a terminal, silence in a pipe) and Ctrl-C during it,
 * and the systemd hooks with no registry configured.
 */
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {BIN, type CliResult, ROOT, isolatedEnv, runCli} from '../support/cli.js'
import {freePort} from '../support/free-port.js'
import {startServe} from '../support/serve-server.js'

function fails(r: CliResult, code: number, line: RegExp | string): void {
  assert.equal(r.code, code, r.stdout + r.stderr)
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line: ${r.stderr}`)
  if (typeof line === 'string') assert.equal(r.stderr, `${line}\n`)
  else assert.match(r.stderr, line)
}

let dir: string
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'roster-messages-'))
})
after(() => rmSync(dir, {recursive: true, force: true}))

describe('suggestions', () => {
  it('names every command one edit away: roster servce → serve and service', async () => {
    fails(
      await runCli(['servce']),
      2,
      'roster: unknown command "servce"; did you mean "serve" or "service"? run roster --help for the commands',
    )
  })

  it('suggests the nearest value of an option flag: -o jsn → json', async () => {
    fails(
      await runCli(['service', 'list', '-o', 'jsn']),
      2,
      'roster: --output "jsn": expected one of table, json, yaml, csv; did you mean "json"? (see --help)',
    )
    const json = await runCli(['service', 'list', '-ojsn', '--json'])
    assert.equal(json.code, 2)
    const body = JSON.parse(json.stdout) as {error: {code: string; field: string; message: string}}
    assert.deepEqual([body.error.code, body.error.field], ['invalid_input', 'output'])
  })
})

describe("oclif's parse errors, in one line naming the flag or argument and the value", () => {
  const cases: [string, string[], string][] = [
    ['an integer flag', ['registry', 'settings', '--replicas', 'two'], 'roster: --replicas "two": expected an integer (see --help)'],
    [
      'below its minimum',
      ['registry', 'settings', '--replicas=0'],
      'roster: --replicas "0": expected an integer of at least 1 (see --help)',
    ],
    [
      'an option flag without its value',
      ['service', 'list', '--output'],
      'roster: --output: needs a value, one of table, json, yaml, csv (see --help)',
    ],
    ['a missing argument', ['token', 'revoke'], 'roster: missing argument ID (see --help)'],
    [
      'an argument swallowed by a flag of several values',
      ['token', 'create', '--role', 'read', '-n', 'a', 'b'],
      'roster: missing argument ID; --namespaces takes several values, so give the arguments before it (or after --) (see --help)',
    ],
    ['required flags', ['dns', 'sync', '--owner-id', 'x'], 'roster: --policy: required; --source: required (see --help)'],
  ]
  for (const [what, argv, line] of cases) {
    it(what, async () => fails(await runCli(argv), 2, line))
  }
})

describe('endpoints', () => {
  it('-e db1:9100 is told to add http://', async () => {
    fails(
      await runCli(['service', 'register', 'node', '-e', 'db1:9100']),
      2,
      'roster: --endpoint "db1:9100": has no scheme; add http:// or https:// (http://db1:9100)',
    )
  })

  it('service unregister URL without -n names the namespace where the endpoint is registered', async () => {
    const env = isolatedEnv()
    assert.equal((await runCli(['namespace', 'register', 'shop'], {env})).code, 0)
    assert.equal((await runCli(['service', 'register', 'node', '-e', 'http://db1:9100/metrics', '-n', 'shop'], {env})).code, 0)
    const r = await runCli(['service', 'unregister', 'http://db1:9100/metrics'], {env})
    assert.equal(r.code, 0, 'unregister stays idempotent')
    assert.equal(
      r.stderr,
      'not registered in namespace "default": http://db1:9100/metrics; it is registered in namespace "shop": roster service unregister http://db1:9100/metrics -n shop\n',
    )
    const json = await runCli(['service', 'unregister', 'http://db1:9100/metrics', '--json'], {env})
    assert.deepEqual((JSON.parse(json.stdout) as {registeredElsewhere: unknown}).registeredElsewhere, [
      {ref: 'http://db1:9100/metrics', namespaces: ['shop']},
    ])
    const gone = await runCli(['service', 'unregister', 'http://db9:9100/metrics'], {env})
    assert.equal(gone.stderr, 'not registered: http://db9:9100/metrics\n', 'no hint for an endpoint registered nowhere')
    const right = await runCli(['service', 'unregister', 'http://db1:9100/metrics', '-n', 'shop'], {env})
    assert.match(right.stdout, /^unregistered shop\/node http:\/\/db1:9100\/metrics/)
  })
})

describe('config set-secret with no Secret Service', () => {
  it('keeps a freshly minted admin token in the 0600 credentials file, with one warning, and token: keychain: reads it', async () => {
    const registry = `sqlite:${path.join(dir, 'secret.db')}`
    const env = isolatedEnv() // no D-Bus session: no keychain answers
    const minted = await runCli(['token', 'create', 'ops', '--role', 'admin', '--registry', registry], {env})
    assert.equal(minted.code, 0, minted.stderr)
    const token = minted.stdout.trim()
    const stored = await runCli(['config', 'set-secret', 'token'], {env, input: `${token}\n`})
    const file = path.join(env.HOME!, '.config', 'roster', 'credentials.json')
    assert.equal(stored.code, 0, stored.stderr)
    assert.equal(stored.stderr, `roster: warning: no keychain (Secret Service) answered; stored token in ${file} (mode 0600) instead\n`)
    assert.equal(statSync(file).mode & 0o777, 0o600)
    assert.equal(statSync(path.dirname(file)).mode & 0o777, 0o700)
    assert.ok(!stored.stdout.includes(token) && !stored.stderr.includes(token))

    const serve = await startServe({registry})
    try {
      writeFileSync(path.join(env.HOME!, '.config', 'roster', 'config.yaml'), 'token: "keychain:"\n', {mode: 0o600})
      const list = await runCli(['token', 'list', '-o', 'json', '--registry', serve.url], {env})
      assert.equal(list.code, 0, list.stderr)
      assert.deepEqual(
        (JSON.parse(list.stdout) as {id: string}[]).map((t) => t.id),
        ['ops'],
      )
      const deleted = await runCli(['config', 'delete-secret', 'token'], {env})
      assert.equal(deleted.code, 0, deleted.stderr)
      assert.ok(!readFileSync(file, 'utf8').includes(token), 'the secret is gone from the file')
    } finally {
      await serve.stop()
    }
  })
})

describe('a remote call being retried', () => {
  let closedUrl: string
  before(async () => {
    closedUrl = `http://127.0.0.1:${await freePort()}`
  })

  it('shows a progress line on a terminal, cleared before the one-line error', async () => {
    const r = await runCli(['service', 'list', '--registry', closedUrl, '--timeout', '1s'], {tty: {stderr: true}})
    assert.equal(r.code, 3)
    assert.match(
      r.stderr,
      new RegExp(
        `^\\r\\x1b\\[Kroster: roster serve at ${closedUrl} is unreachable \\(ECONNREFUSED\\); retrying for up to 1s \\(attempt 2, `,
      ),
    )
    assert.ok(r.stderr.endsWith(`\r\x1b[Kroster: roster serve at ${closedUrl} is unreachable (ECONNREFUSED)\n`), JSON.stringify(r.stderr))
  })

  it('is quiet in a pipe: only the final line', async () => {
    const r = await runCli(['service', 'list', '--registry', closedUrl, '--timeout', '1s'])
    fails(r, 3, `roster: roster serve at ${closedUrl} is unreachable (ECONNREFUSED)`)
  })

  it('Ctrl-C: one line saying what was being retried, exit 130', async () => {
    let requests = 0
    let interrupt: () => void = () => undefined
    const server: Server = createServer((_req, res) => {
      if (++requests === 2) interrupt() // the first attempt failed: retrying now
      res.writeHead(503, {'content-type': 'application/json'}).end('{"error":{"code":"unavailable","message":"store not ready"}}')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(server.address() as {port: number}).port}`
    try {
      const env = isolatedEnv()
      const child = spawn(process.execPath, [BIN, 'service', 'list', '--registry', url, '--timeout', '5m'], {
        env: env as NodeJS.ProcessEnv,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      interrupt = () => child.kill('SIGINT')
      let stderr = ''
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
      const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)))
      assert.equal(code, 130, stderr)
      assert.equal(stderr, `roster: interrupted while retrying: roster serve at ${url}: HTTP 503: store not ready\n`)
    } finally {
      server.close()
    }
  })
})

describe('systemd hooks with no registry configured', () => {
  const hookEnv = (extra: Record<string, string> = {}) =>
    isolatedEnv({INVOCATION_ID: '0123456789abcdef', ROSTER_NAME: 'node', ROSTER_ENDPOINTS: 'http://db1:9100/metrics', ...extra})

  it('register and unregister exit 2 naming ROSTER_REGISTRY, and write no private registry file', async () => {
    for (const command of ['register', 'unregister']) {
      const env = hookEnv()
      const r = await runCli(['service', command], {env})
      fails(r, 2, /^roster: no registry configured: under systemd \(INVOCATION_ID is set\) .*set ROSTER_REGISTRY in the unit/)
      assert.equal(existsSync(path.join(env.HOME!, '.local', 'share', 'roster', 'registry.db')), false)
    }
  })

  it('run as usual with ROSTER_REGISTRY, or registry: in a config file', async () => {
    const fromEnv = hookEnv({ROSTER_REGISTRY: `sqlite:${path.join(dir, 'hook-env.db')}`})
    assert.equal((await runCli(['service', 'register'], {env: fromEnv})).code, 0)
    assert.equal((await runCli(['service', 'unregister'], {env: fromEnv})).code, 0)
    const fromFile = hookEnv()
    mkdirSync(path.join(fromFile.HOME!, '.config', 'roster'), {recursive: true})
    const config = `registry: sqlite:${path.join(dir, 'hook-file.db')}\n`
    writeFileSync(path.join(fromFile.HOME!, '.config', 'roster', 'config.yaml'), config)
    const r = await runCli(['service', 'register'], {env: fromFile})
    assert.equal(r.code, 0, r.stderr)
  })
})

describe('a failed command leaves no new, empty registry file behind', () => {
  it('the default registry and a named one: absent after a failure; an existing one is kept', async () => {
    const env = isolatedEnv()
    const named = path.join(dir, 'never.db')
    for (const extra of [[], ['--registry', `sqlite:${named}`]]) {
      const r = await runCli(['service', 'register', 'node', '-e', 'http://db1:9100/metrics', '-n', 'nosuch', ...extra], {env})
      fails(r, 5, /namespace "nosuch" is not registered/)
    }
    assert.equal(existsSync(path.join(env.HOME!, '.local', 'share', 'roster', 'registry.db')), false)
    assert.equal(existsSync(named), false)

    assert.equal((await runCli(['namespace', 'register', 'shop', '--registry', `sqlite:${named}`], {env})).code, 0)
    const r = await runCli(
      ['service', 'register', 'node', '-e', 'http://db1:9100/metrics', '-n', 'nosuch', '--registry', `sqlite:${named}`],
      {env},
    )
    assert.equal(r.code, 5)
    assert.equal(existsSync(named), true, 'a registry that existed before stays')
  })
})

describe('one meaning per flag name', () => {
  it('-n/--namespace is always a roster namespace, --kube-namespace always a Kubernetes one', () => {
    type Flag = {name: string; char?: string; aliases?: string[]; description?: string}
    const manifest = JSON.parse(readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8')) as {
      commands: Record<string, {flags: Record<string, Flag>}>
    }
    let checked = 0
    for (const [id, command] of Object.entries(manifest.commands)) {
      for (const flag of Object.values(command.flags)) {
        if (flag.name === 'namespace' || flag.name === 'namespaces') {
          assert.equal(flag.char, 'n', `${id} --${flag.name} is -n`)
          assert.doesNotMatch(flag.description ?? '', /kubernetes/i, `${id} --${flag.name} is roster's`)
          checked++
        }
        if (/kubernetes namespace/i.test(flag.description ?? '')) {
          assert.equal(flag.name, 'kube-namespace', `${id}: a Kubernetes namespace is --kube-namespace, not --${flag.name}`)
          checked++
        }
      }
    }
    assert.ok(checked >= 8, `${checked} flags checked`)
  })
})
