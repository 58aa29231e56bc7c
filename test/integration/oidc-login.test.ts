/**
 * `roster login` against a real OpenID Provider (oidc-provider on loopback) and a real serve
 * trusting it (serve() in the test's process, with the options its --oidc-* flags give; the
 * process `roster serve --oidc-*` is oidc-keychain.test.ts's, and its flags' refusals are below):
 * each flow (password grant, authorization code + PKCE with the
 * browser played by HTTP requests, device flow) end to end through the built CLI, registry
 * writes with the person's identity, refresh after expiry, logout that revokes the refresh token
 * at the provider, `auth status`, the file fallback (0600, one warning), and the tokens serve
 * refuses (another issuer, wrong audience, HS256 with the public key, alg none, expired, a
 * person without an admin role creating a machine token).
 *
 * Without D-Bus in these tests' environment the login is stored in the file; oidc-keychain.test.ts
 * covers the keychain.
 */
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {createPublicKey} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {BIN, isolatedEnv, runCli, startCli} from '../support/cli.js'
import {makeTlsFiles} from '../support/test-pki.js'
import {
  ADMIN_ROLE,
  AUDIENCE,
  CLIENT_ID,
  USERS,
  type OidcProviderServer,
  playBrowser,
  startOidcProvider,
  startOidcServeInProcess,
} from '../support/oidc-provider.js'
import {oidcOptionsOf} from '../../src/command/oidc-flags.js'
import {type InProcessServe, http, startServeInProcess} from '../support/serve-server.js'
import {until} from '../support/until.js'

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

/**
 * Waits until serve at `url` refuses `token`: the positive signal that the token has expired (its
 * exp and --oidc-clock-skew have passed). Asked four times a second: expiry is whole seconds away.
 */
async function refused(url: string, token: string): Promise<void> {
  await until('expiry', async () => (await http(`${url}/v1/settings`, {token})).status === 401, {timeoutMs: 60_000, intervalMs: 250})
}

interface CredentialsFileShape {
  registries: Record<string, {store: string; login?: {accessToken: string; refreshToken?: string; expiresAt: string}}>
}

describe('roster login (oidc-provider + roster serve --oidc-*)', () => {
  let dir: string
  let provider: OidcProviderServer
  let serve: InProcessServe
  let registry: string

  const credentialsFile = (env: Record<string, string | undefined>) => path.join(env.XDG_CONFIG_HOME!, 'roster', 'credentials.json')
  const storedLogin = (env: Record<string, string | undefined>) => {
    const content = JSON.parse(readFileSync(credentialsFile(env), 'utf8')) as CredentialsFileShape
    return content.registries[serve.url]!.login!
  }
  const roster = (args: string[], env: Record<string, string | undefined>, input?: string) =>
    runCli([...args, '--registry', serve.url], {env, input})
  const passwordLogin = (user: 'alice' | 'bob', env: Record<string, string | undefined>) =>
    roster(['login', '--username', user, '--password-stdin'], env, `${USERS[user]!.password}\n`)

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'roster-oidc-'))
    // Access tokens live 1 s: every command after a login refreshes, and expiry is quick to reach
    // (serve accepts them for 3 s more: --oidc-clock-skew 3s, instead of the default 10s), as the
    // four waits for an expiry below are most of this file's time.
    registry = `sqlite:${path.join(dir, 'registry.db')}`
    ;({provider, serve} = await startOidcServeInProcess(dir, {
      provider: {accessTokenTtl: 1},
      adminRoles: [ADMIN_ROLE, 'ops'],
      clockSkew: '3s',
    }))
  })
  after(async () => {
    await serve?.stop()
    await provider?.stop()
    if (dir) rmSync(dir, {recursive: true, force: true})
  })

  it('GET /v1/auth/config names the provider and the client, without a token', async () => {
    const r = await http(`${serve.url}/v1/auth/config`)
    assert.equal(r.status, 200)
    assert.deepEqual(r.json(), {issuer: provider.issuer, clientId: CLIENT_ID, audience: AUDIENCE, rolesClaim: 'roles'})
  })

  it('password grant: login, admin writes, auth status, a machine token, logout revokes the refresh token', async () => {
    const env = isolatedEnv()
    const login = await passwordLogin('alice', env)
    assert.equal(login.code, 0, login.stderr)
    assert.match(login.stdout, /^Logged in to http:\/\/127\.0\.0\.1:\d+ as Alice Admin \(alice\), roles roster-admin, staff\.$/m)
    const warnings = login.stderr.split('\n').filter((l) => /warning/.test(l))
    assert.equal(warnings.length, 1, login.stderr)
    assert.match(warnings[0]!, new RegExp(`stored in ${credentialsFile(env).replace(/[.]/g, '\\.')} \\(mode 0600\\)`))
    assert.equal(statSync(credentialsFile(env)).mode & 0o777, 0o600)
    assert.equal(statSync(path.dirname(credentialsFile(env))).mode & 0o777, 0o700)
    const stored = storedLogin(env)
    assert.ok(!login.stdout.includes(stored.accessToken) && !login.stderr.includes(stored.accessToken), 'the token is never printed')

    const write = await roster(['server', 'register', 'prom1'], env)
    assert.equal(write.code, 0, write.stderr)
    assert.equal(write.stderr.includes('warning'), false, 'the warning is printed once, at login')
    const list = await roster(['server', 'list', '-o', 'json'], env)
    assert.equal(list.code, 0, list.stderr)
    assert.match(list.stdout, /"name": "prom1"/)

    const status = await roster(['auth', 'status'], env)
    assert.equal(status.code, 0, status.stderr)
    assert.match(status.stdout, /Logged in as Alice Admin \(alice\)/)
    assert.match(status.stdout, /Roles: roster-admin, staff/)
    assert.match(status.stdout, new RegExp(`Identity provider: ${provider.issuer}`))
    assert.match(status.stdout, /Token expires: \d{4}-\d\d-\d\dT/)
    assert.match(status.stdout, new RegExp(`Stored in: ${credentialsFile(env).replace(/[.]/g, '\\.')}`))
    const now = storedLogin(env)
    for (const secret of [now.accessToken, now.refreshToken!]) assert.ok(!status.stdout.includes(secret) && !status.stderr.includes(secret))
    const json = await roster(['auth', 'status', '--json'], env)
    assert.equal((JSON.parse(json.stdout) as {subject: string}).subject, 'alice')

    const machine = await roster(['token', 'create', 'ci-bot', '--role', 'service', '-n', 'default'], env)
    assert.equal(machine.code, 0, machine.stderr)
    assert.match(machine.stdout.trim(), /^[\w-]+\.[\w-]+\.[\w-]+$/)

    const refreshToken = storedLogin(env).refreshToken!
    assert.equal(await provider.refreshWorks(refreshToken).then(() => true), true)
    // refreshWorks used (and so rotated) it: log in again for a fresh, unused refresh token.
    assert.equal((await passwordLogin('alice', env)).code, 0)
    const current = storedLogin(env).refreshToken!
    const logout = await roster(['logout'], env)
    assert.equal(logout.code, 0, logout.stderr)
    assert.match(logout.stdout, /Logged out of http:\/\/127\.0\.0\.1:\d+ \(the refresh token is revoked at the identity provider\)/)
    assert.equal(await provider.refreshWorks(current), false, 'the provider no longer accepts the refresh token')
    const after = await roster(['auth', 'status'], env)
    assert.equal(after.code, 4)
    assert.match(
      after.stderr,
      /^roster: not signed in to http:\/\/127\.0\.0\.1:\d+; run roster login --registry \S+, or give remote commands --token \(or ROSTER_TOKEN\)$/m,
    )
    assert.equal(after.stderr.trimEnd().split('\n').length, 1, after.stderr)
    const denied = await roster(['server', 'list'], env)
    assert.equal(denied.code, 4, denied.stderr)
    assert.match(denied.stderr, /not authenticated/)
  })

  it('authorization code + PKCE: the CLI prints the URL, the browser signs in, and a reader may read but not write', async () => {
    const env = isolatedEnv()
    const cli = startCli(['login', '--registry', serve.url, '--no-browser'], {env})
    const [, url] = await cli.waitFor(/Open this URL to sign in: (\S+)/, {timeoutMs: 60_000})
    assert.match(url!, /code_challenge_method=S256/)
    assert.match(url!, /redirect_uri=http%3A%2F%2F127\.0\.0\.1%3A\d+%2Fcallback/)
    const page = await playBrowser(url!, {login: 'bob', password: USERS.bob!.password})
    assert.equal(page.status, 200)
    assert.match(page.text, /Signed in to roster/)
    const result = await cli.done
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, /as Bob Viewer \(bob\), roles staff\./)

    const read = await roster(['server', 'list'], env)
    assert.equal(read.code, 0, read.stderr)
    const write = await roster(['server', 'register', 'prom2'], env)
    assert.equal(write.code, 4)
    assert.match(write.stderr, /not allowed/)
    const token = await roster(['token', 'create', 'bobs-bot', '--role', 'admin'], env)
    assert.equal(token.code, 4, 'a person without an admin role may not create machine tokens')
    assert.match(token.stderr, /^roster: .*not allowed/)
    const list = await roster(['token', 'list'], env)
    assert.equal(list.code, 4)
  })

  it('--username on a terminal: the password prompt does not echo (a pseudo-terminal through script(1))', async () => {
    const env = isolatedEnv()
    const command = [process.execPath, BIN, 'login', '--registry', serve.url, '--username', 'bob'].map((a) => `'${a}'`).join(' ')
    const child = spawn('script', ['-qefc', command, '/dev/null'], {
      env: env as NodeJS.ProcessEnv,
      cwd: env.HOME,
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d))
    const done = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)))
    // Typed only once the prompt is up (the terminal is then in no-echo mode), as a person would.
    await until('the prompt', () => out.includes('Password for bob: '), {timeoutMs: 60_000})
    child.stdin.write(`${USERS.bob!.password}\r`)
    assert.equal(await done, 0, out)
    assert.match(out, /as Bob Viewer \(bob\)/)
    assert.ok(!out.includes(USERS.bob!.password), 'the password is not echoed')
    child.stdin.end()
  })

  it('a wrong password is refused with exit 4 and nothing is stored', async () => {
    const env = isolatedEnv()
    const r = await roster(['login', '--username', 'alice', '--password-stdin'], env, 'not-the-password\n')
    assert.equal(r.code, 4, r.stderr)
    assert.match(r.stderr, /^roster: login failed: invalid_grant/)
    assert.ok(!r.stderr.includes('not-the-password'))
    assert.throws(() => statSync(credentialsFile(env)))
    const flag = await roster(['login', '--username', 'alice', '--password', USERS.alice!.password], env)
    assert.equal(flag.code, 2, 'a password is never a flag value')
    assert.ok(!flag.stderr.includes(USERS.alice!.password))
  })

  it('device flow (no browser here: no DISPLAY): prints the verification URI and the code, polls until the person signs in', async () => {
    const env = isolatedEnv()
    assert.equal(env.DISPLAY, undefined)
    const cli = startCli(['login', '--registry', serve.url], {env})
    const [, uri, code] = await cli.waitFor(/open (\S+) and enter the code (\S+)/, {timeoutMs: 60_000})
    assert.equal(uri, `${provider.issuer}/device`)
    const page = await playBrowser(uri!, {login: 'alice', password: USERS.alice!.password, userCode: code!})
    assert.equal(page.status, 200)
    assert.match(page.text, /Sign-in Success/)
    const result = await cli.done
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, /as Alice Admin \(alice\)/)
    const write = await roster(['namespace', 'register', 'team-a'], env)
    assert.equal(write.code, 0, write.stderr)
  })

  it('refreshes an expired access token transparently; a failed refresh exits 4 with one line naming roster login', async () => {
    const env = isolatedEnv()
    assert.equal((await passwordLogin('alice', env)).code, 0)
    const first = storedLogin(env)
    await refused(serve.url, first.accessToken)
    const write = await roster(['service', 'register', 'web', '-e', 'http://127.0.0.1:9100/metrics'], env)
    assert.equal(write.code, 0, write.stderr)
    const second = storedLogin(env)
    assert.notEqual(second.accessToken, first.accessToken, 'a new access token was stored')
    assert.notEqual(second.refreshToken, first.refreshToken, 'the provider rotated the refresh token')

    // Four commands at once after an expiry: one refreshes (the provider rotates refresh tokens and
    // would revoke the whole sign-in on a second use of one), the others use its result.
    const before = storedLogin(env)
    await refused(serve.url, before.accessToken)
    const parallel = await Promise.all([1, 2, 3, 4].map((i) => roster(['server', 'register', `p${i}`], env)))
    for (const r of parallel) assert.equal(r.code, 0, r.stderr)
    const next = await roster(['server', 'list'], env)
    assert.equal(next.code, 0, next.stderr)

    // A refresh token the provider no longer honours: the next command after expiry exits 4.
    const file = credentialsFile(env)
    const content = JSON.parse(readFileSync(file, 'utf8')) as CredentialsFileShape
    content.registries[serve.url]!.login!.refreshToken = 'not-a-valid-refresh-token'
    content.registries[serve.url]!.login!.expiresAt = new Date(Date.now() - 1000).toISOString()
    writeFileSync(file, JSON.stringify(content))
    const failed = await roster(['service', 'list'], env)
    assert.equal(failed.code, 4, failed.stderr)
    assert.equal(failed.stderr.trim().split('\n').length, 1, failed.stderr)
    assert.match(
      failed.stderr,
      new RegExp(
        `^roster: not signed in: your login at .* has expired and could not be refreshed .*; run roster login --registry ${serve.url.replace(/\./g, '\\.')}, or pass --token \\(or ROSTER_TOKEN\\)$`,
        'm',
      ),
    )
  })

  it('a long-running client (one RemoteRegistry) rides across an expiry: the token provider refreshes before a request', async () => {
    const env = isolatedEnv()
    assert.equal((await passwordLogin('alice', env)).code, 0)
    const saved = process.env.XDG_CONFIG_HOME
    process.env.XDG_CONFIG_HOME = env.XDG_CONFIG_HOME
    try {
      const {storedLoginToken} = await import('../../src/lib/auth/login-token.js')
      const {openRemoteRegistry} = await import('../../src/lib/registry/remote-registry.js')
      const provide = () => storedLoginToken(serve.url, 10_000)
      const first = await provide()
      assert.ok(first, 'the stored login gives a token')
      const client = openRemoteRegistry({url: serve.url, token: first, tokenProvider: provide, timeoutMs: 10_000})
      assert.ok(Array.isArray(await client.listServers()))
      await refused(serve.url, first)
      await client.registerServer('long-running')
      assert.notEqual(storedLogin(env).accessToken, first)
    } finally {
      process.env.XDG_CONFIG_HOME = saved
    }
  })

  it('a new login revokes the refresh token of the login it replaces, at the provider', async () => {
    const env = isolatedEnv()
    assert.equal((await passwordLogin('alice', env)).code, 0)
    const first = storedLogin(env).refreshToken!
    assert.equal(await provider.refreshTokenActive(first), true, 'the control: the first login is live at the provider')
    const again = await passwordLogin('bob', env)
    assert.equal(again.code, 0, again.stderr)
    assert.match(again.stdout, /^The previous login for this registry is replaced; its refresh token is revoked\.$/m)
    assert.equal(again.stderr.includes('warning: the refresh token of the previous login'), false, again.stderr)
    const second = storedLogin(env).refreshToken!
    assert.notEqual(second, first)
    assert.equal(await provider.refreshTokenActive(first), false, 'the provider no longer holds the replaced refresh token')
    assert.equal(await provider.refreshWorks(first), false, 'and refuses it')
    assert.equal(await provider.refreshTokenActive(second), true, 'the new one is live')
    const read = await roster(['server', 'list'], env)
    assert.equal(read.code, 0, read.stderr)
  })

  it('not signed in (no login, no token): one line naming roster login, --token and ROSTER_TOKEN', async () => {
    const env = isolatedEnv()
    for (const args of [
      ['server', 'list'],
      ['token', 'list'],
      ['service', 'register', 'web', '-e', 'http://127.0.0.1:9100/metrics'],
    ]) {
      const r = await roster(args, env)
      assert.equal(r.code, 4, r.stderr)
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
      for (const name of ['roster login', '--token', 'ROSTER_TOKEN']) assert.ok(r.stderr.includes(name), `${args.join(' ')}: ${r.stderr}`)
    }
    const status = await roster(['auth', 'status'], env)
    assert.equal(status.code, 4)
    for (const name of ['roster login', '--token', 'ROSTER_TOKEN']) assert.ok(status.stderr.includes(name), status.stderr)
  })

  it('--token, ROSTER_TOKEN and config token: come before the stored login', async () => {
    const env = isolatedEnv()
    assert.equal((await passwordLogin('alice', env)).code, 0)
    const bad = await roster(['server', 'list', '--token', 'not.a.token'], env)
    assert.equal(bad.code, 4, 'the --token given is used, not the login')
    const fromEnv = await roster(['server', 'list'], {...env, ROSTER_TOKEN: 'not.a.token'})
    assert.equal(fromEnv.code, 4, 'ROSTER_TOKEN is used, not the login')
    const config = path.join(env.HOME!, 'roster.yaml')
    writeFileSync(config, 'token: not.a.token\n', {mode: 0o600})
    const fromFile = await roster(['server', 'list'], {...env, ROSTER_CONFIG: config})
    assert.equal(fromFile.code, 4, 'the config file token: is used, not the login')
    const login = await roster(['server', 'list'], env)
    assert.equal(login.code, 0, 'and without them, the login')
  })

  it('refuses what it cannot log in to: a local registry, a server without a provider, bad --oidc-* flags (exit 2)', async () => {
    const env = isolatedEnv()
    const local = await runCli(['login', '--registry', registry], {env})
    assert.equal(local.code, 2, local.stderr)
    assert.match(local.stderr, /^roster: --registry "sqlite:.*": expected the https:\/\/ URL of a roster serve registry/)
    const plain = await startServeInProcess({registry: `sqlite:${path.join(dir, 'plain.db')}`})
    try {
      const r = await runCli(['login', '--registry', plain.url, '--device'], {env})
      assert.equal(r.code, 2, r.stderr)
      assert.match(r.stderr, /has no identity provider \(its roster serve has no oidc-issuer and oidc-client-id\)/)
      assert.equal(r.stderr.trim().split('\n').length, 1)
    } finally {
      await plain.stop()
    }
    // serve with these --oidc-* flags, refused before it listens.
    const badServe = (...oidc: string[]) =>
      runCli(['serve', '--registry', `sqlite:${path.join(dir, 'x.db')}`, '--listen', '127.0.0.1:0', ...oidc], {env})
    const flag = await badServe('--oidc-issuer', 'http://id.example.com', '--oidc-client-id', 'roster')
    assert.equal(flag.code, 2, flag.stderr)
    assert.match(flag.stderr, /oidc-issuer "http:\/\/id\.example\.com": http:\/\/ is allowed only for a loopback issuer/)
    const half = await badServe('--oidc-issuer', provider.issuer)
    assert.equal(half.code, 2, half.stderr)
    assert.match(half.stderr, /oidc-client-id/)
    for (const [skew, reason] of [
      ['1h', /^roster: --oidc-clock-skew "1h": must be at most 5m$/m],
      ['soon', /^roster: --oidc-clock-skew "soon": expected a duration/m],
    ] as const) {
      const r = await badServe('--oidc-issuer', provider.issuer, '--oidc-client-id', CLIENT_ID, '--oidc-clock-skew', skew)
      assert.equal(r.code, 2, r.stderr)
      assert.match(r.stderr, reason)
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
    }
  })

  describe('tokens serve refuses', () => {
    const now = () => Math.floor(Date.now() / 1000)
    const claims = () => ({
      iss: provider.issuer,
      aud: AUDIENCE,
      sub: 'alice',
      roles: [ADMIN_ROLE],
      iat: now(),
      nbf: now(),
      exp: now() + 600,
    })
    const settings = (token: string) => http(`${serve.url}/v1/settings`, {token})

    it('accepts a good token signed with the provider key (the control)', async () => {
      const r = await settings(await provider.sign(claims()))
      assert.equal(r.status, 200, r.text)
    })
    it('another issuer', async () => {
      const r = await settings(await provider.sign({...claims(), iss: 'http://127.0.0.1:1/other'}))
      assert.equal(r.status, 401)
      assert.match(r.text, /iss/)
    })
    it('a wrong audience', async () => {
      const r = await settings(await provider.sign({...claims(), aud: 'https://elsewhere.test/'}))
      assert.equal(r.status, 401)
      assert.match(r.text, /aud/)
    })
    it('expired', async () => {
      const r = await settings(await provider.sign({...claims(), iat: now() - 7200, nbf: now() - 7200, exp: now() - 3600}))
      assert.equal(r.status, 401)
      assert.match(r.text, /expired/)
    })
    it('expired by more than --oidc-clock-skew (3s), and not one within it', async () => {
      const late = await settings(await provider.sign({...claims(), iat: now() - 60, nbf: now() - 60, exp: now() - 10}))
      assert.equal(late.status, 401)
      assert.match(late.text, /expired/)
      const within = await settings(await provider.sign({...claims(), iat: now() - 60, nbf: now() - 60, exp: now() - 1}))
      assert.equal(within.status, 200, within.text)
    })
    it('HS256 signed with the JWKS public key', async () => {
      const {SignJWT} = await import('jose')
      const pem = createPublicKey({key: provider.publicJwk as never, format: 'jwk'}).export({type: 'spki', format: 'pem'})
      for (const secret of [Buffer.from(pem), Buffer.from(JSON.stringify(provider.publicJwk))]) {
        const forged = await new SignJWT(claims()).setProtectedHeader({alg: 'HS256', kid: provider.publicJwk.kid!}).sign(secret)
        const r = await settings(forged)
        assert.equal(r.status, 401)
        assert.match(r.text, /algorithm not accepted/)
      }
    })
    it('alg none', async () => {
      const r = await settings(`${b64({alg: 'none', typ: 'JWT'})}.${b64(claims())}.`)
      assert.equal(r.status, 401)
    })
    it('a person without an admin role may not create machine tokens (403)', async () => {
      const token = await provider.sign({...claims(), sub: 'bob', roles: ['staff']})
      const r = await http(`${serve.url}/v1/tokens`, {
        method: 'POST',
        token,
        body: JSON.stringify({id: 'bobs', role: 'admin', namespaces: ['*']}),
      })
      assert.equal(r.status, 403, r.text)
      const list = await http(`${serve.url}/v1/tokens`, {token})
      assert.equal(list.status, 403)
      const read = await settings(token)
      assert.equal(read.status, 200, 'but may read')
    })
    it('never logs a token', () => {
      assert.doesNotMatch(serve.stderr(), /eyJ[\w-]{10,}/)
    })
  })
})

describe('an identity provider with a private CA (--oidc-ca for serve and for login)', () => {
  let dir: string
  let provider: OidcProviderServer
  // What these serves are asked is HTTP: the verification through the CA, and the 503 without it.
  let serve: InProcessServe
  let serveWithoutCa: InProcessServe
  let ca: string

  const oidcArgs = (issuer: string) => ['--oidc-issuer', issuer, '--oidc-client-id', CLIENT_ID, '--oidc-audience', AUDIENCE]
  const login = (env: Record<string, string | undefined>, ...extra: string[]) =>
    runCli(['login', '--registry', serve.url, '--username', 'alice', '--password-stdin', ...extra], {
      env,
      input: `${USERS.alice!.password}\n`,
    })

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'roster-oidc-ca-'))
    const tls = makeTlsFiles(dir)
    ca = tls.caFile
    // Access tokens live 1 s: the commands after a login refresh through the private CA too.
    provider = await startOidcProvider({
      accessTokenTtl: 1,
      tls: {cert: readFileSync(tls.serverCertFile), key: readFileSync(tls.serverKeyFile), ca: readFileSync(ca)},
    })
    assert.match(provider.issuer, /^https:\/\//)
    // The options `--oidc-issuer … --oidc-ca CA --oidc-admin-roles … --oidc-clock-skew 3s` give.
    const oidc = {'oidc-issuer': provider.issuer, 'oidc-client-id': CLIENT_ID, 'oidc-audience': AUDIENCE}
    serve = await startServeInProcess({
      registry: `sqlite:${path.join(dir, 'registry.db')}`,
      oidc: oidcOptionsOf({...oidc, 'oidc-ca': ca, 'oidc-admin-roles': [ADMIN_ROLE], 'oidc-clock-skew': '3s'}),
    })
    serveWithoutCa = await startServeInProcess({registry: `sqlite:${path.join(dir, 'other.db')}`, oidc: oidcOptionsOf(oidc)})
  })
  after(async () => {
    await serve?.stop()
    await serveWithoutCa?.stop()
    await provider?.stop()
    if (dir) rmSync(dir, {recursive: true, force: true})
  })

  it('login without --oidc-ca: exit 2, one line naming --oidc-ca; nothing stored', async () => {
    const env = isolatedEnv()
    const r = await login(env)
    assert.equal(r.code, 2, r.stderr)
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
    assert.match(
      r.stderr,
      /^roster: identity provider https:\/\/127\.0\.0\.1:\d+: TLS verification failed \(\w+\); trust its CA with --oidc-ca$/m,
    )
    assert.throws(() => statSync(path.join(env.XDG_CONFIG_HOME!, 'roster', 'credentials.json')))
  })

  it('login --oidc-ca: signed in; the login keeps the CA, so refreshes after expiry reach the provider; serve --oidc-ca verifies', async () => {
    const env = isolatedEnv()
    const r = await login(env, '--oidc-ca', ca)
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /as Alice Admin \(alice\)/)
    const write = await runCli(['server', 'register', 'prom1', '--registry', serve.url], {env})
    assert.equal(write.code, 0, write.stderr)
    const stored = JSON.parse(readFileSync(path.join(env.XDG_CONFIG_HOME!, 'roster', 'credentials.json'), 'utf8')) as {
      registries: Record<string, {login?: {accessToken: string}}>
    }
    const first = stored.registries[serve.url]!.login!.accessToken
    // Past the expiry (serve refuses the first token), the next command refreshes through the CA.
    await refused(serve.url, first)
    const later = await runCli(['server', 'list', '-o', 'json', '--registry', serve.url], {env})
    assert.equal(later.code, 0, later.stderr)
    assert.match(later.stdout, /"name": "prom1"/)

    // The same person's token at a serve that does not trust the provider's CA: 503, saying why, exit 3.
    const direct = await http(`${serveWithoutCa.url}/v1/settings`, {token: first})
    assert.equal(direct.status, 503, direct.text)
    assert.match(direct.text, /TLS verification failed .*trust its CA with oidc-ca/)
  })

  it('serve refuses an --oidc-ca it cannot use, before listening (exit 2)', async () => {
    const r = await runCli([
      'serve',
      '--registry',
      `sqlite:${path.join(dir, 'x.db')}`,
      '--listen',
      '127.0.0.1:0',
      ...oidcArgs(provider.issuer),
      '--oidc-ca',
      dir,
    ])
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /^roster: --oidc-ca ".*": is a directory, not a file$/m)
    const without = await runCli(['serve', '--registry', `sqlite:${path.join(dir, 'x.db')}`, '--listen', '127.0.0.1:0', '--oidc-ca', ca])
    assert.equal(without.code, 2, without.stderr)
    assert.match(without.stderr, /--oidc-issuer "": is required with --oidc-ca/)
  })
})
