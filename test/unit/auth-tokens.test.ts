import assert from 'node:assert/strict'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, afterEach, beforeEach, describe, it} from 'node:test'

import {decodeJwt, decodeProtectedHeader} from 'jose'

import {TokenAuthority, parseExpires} from '../../src/lib/auth/tokens.js'
import {ConflictError, InvalidInputError, NotAuthenticatedError, NotFoundError} from '../../src/lib/errors.js'
import {SIGNING_KEY_KEY, TOKENS_PREFIX} from '../../src/lib/registry/keys.js'
import {RegistryView} from '../../src/lib/server/view.js'
import {openStore} from '../../src/lib/store/open-store.js'
import {rangeAll, type Store} from '../../src/lib/store/store.js'
import {until} from '../support/until.js'

const dir = mkdtempSync(join(tmpdir(), 'roster-auth-tokens-'))
after(() => rmSync(dir, {recursive: true, force: true}))

let store: Store
let authority: TokenAuthority
/**
 * A fresh store and authority for each test of the enclosing describe. Not top-level hooks: those
 * are the process's, and npm test runs this file in one process with other unit files
 * (scripts/run-tests.mjs), whose every test they would wrap too.
 */
function freshAuthorityEachTest(): void {
  beforeEach(async () => {
    store = await openStore({registry: 'sqlite::memory:', timeoutMs: 5000})
    authority = await TokenAuthority.open(store)
  })
  afterEach(async () => {
    await store.close()
  })
}

async function refusedAs(promise: Promise<unknown>, reason: RegExp, token?: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof NotAuthenticatedError, `expected NotAuthenticatedError, got ${String(error)}`)
    assert.equal(error.exitCode, 4)
    assert.equal(error.code, 'not_authenticated')
    assert.match(error.message, reason)
    assert.ok(!error.message.includes('\n'), 'one line')
    if (token) assert.ok(!error.message.includes(token), 'the token is never in a message')
    return true
  })
}

describe('TokenAuthority: create, verify, inspect, list, revoke', () => {
  freshAuthorityEachTest()

  it('issues an EdDSA JWT with the documented claims and header', async () => {
    const {token, info} = await authority.create({id: 'db1.example.com', role: 'service', namespaces: ['team-a', 'default']})
    const header = decodeProtectedHeader(token)
    assert.equal(header.alg, 'EdDSA')
    assert.equal(header.typ, 'JWT')
    assert.equal(typeof header.kid, 'string')
    const claims = decodeJwt(token)
    assert.equal(claims.jti, 'db1.example.com')
    assert.equal(claims.iss, 'roster')
    assert.equal(claims.aud, 'roster-api')
    assert.equal(claims.role, 'service')
    assert.deepEqual(claims.namespaces, ['default', 'team-a'])
    assert.equal(typeof claims.iat, 'number')
    assert.equal(claims.nbf, claims.iat)
    assert.equal(claims.exp, (claims.iat as number) + 90 * 86_400, 'default lifetime 90 days')
    assert.deepEqual(info.namespaces, ['default', 'team-a'])
    assert.equal(info.expiresAt, new Date((claims.exp as number) * 1000).toISOString())
    const stored = JSON.parse((await store.get(SIGNING_KEY_KEY))!.value) as {kid: string; d: string}
    assert.equal(stored.kid, header.kid)
    assert.ok(!token.includes(stored.d))
  })

  it('verifies its tokens into a Caller', async () => {
    const {token} = await authority.create({id: 'prom1', role: 'read', namespaces: ['default']})
    assert.deepEqual(await authority.verify(token), {subject: 'prom1', role: 'read', namespaces: ['default'], kind: 'token'})
    const admin = await authority.create({id: 'boss', role: 'admin', namespaces: [], expiresIn: 'never'})
    assert.equal(decodeJwt(admin.token).exp, undefined)
    assert.equal(admin.info.expiresAt, null)
    assert.deepEqual(await authority.verify(admin.token), {subject: 'boss', role: 'admin', namespaces: ['*'], kind: 'token'})
  })

  it('shares one key between authorities on one store (every serve instance verifies every token)', async () => {
    const path = join(dir, 'shared.db')
    const s1 = await openStore({registry: `sqlite:${path}`, timeoutMs: 5000})
    const s2 = await openStore({registry: `sqlite:${path}`, timeoutMs: 5000})
    try {
      const a1 = await TokenAuthority.open(s1)
      const a2 = await TokenAuthority.open(s2)
      const {token} = await a1.create({id: 'x', role: 'read', namespaces: ['default']})
      assert.equal((await a2.verify(token)).subject, 'x')
      const {token: t2} = await a2.create({id: 'y', role: 'read', namespaces: ['default']})
      assert.equal(decodeProtectedHeader(t2).kid, decodeProtectedHeader(token).kid, 'the second create reuses the stored key')
    } finally {
      await s1.close()
      await s2.close()
    }
  })

  it('agrees on one key when first creates race', async () => {
    const others = await Promise.all([1, 2, 3].map(() => TokenAuthority.open(store)))
    const created = await Promise.all(others.map((a, i) => a.create({id: `race${i}`, role: 'read', namespaces: ['default']})))
    const kids = new Set(created.map((c) => decodeProtectedHeader(c.token).kid))
    assert.equal(kids.size, 1)
    for (const c of created) await authority.verify(c.token)
  })

  it('lists records (never tokens) and revokes by id', async () => {
    const {token} = await authority.create({id: 'db1', role: 'service', namespaces: ['default']})
    await authority.create({id: 'prom1', role: 'read', namespaces: ['*']})
    const listed = await authority.list()
    assert.deepEqual(
      listed.map((r) => [r.id, r.role, r.namespaces, r.revoked]),
      [
        ['db1', 'service', ['default'], false],
        ['prom1', 'read', ['*'], false],
      ],
    )
    for (const kv of await rangeAll(store, 'auth/')) assert.ok(!kv.value.includes(token.split('.')[2]!), `${kv.key} holds no token`)

    assert.deepEqual(await authority.revoke('db1'), {id: 'db1', revoked: true})
    assert.deepEqual(await authority.revoke('db1'), {id: 'db1', revoked: true}, 'idempotent')
    assert.equal((await authority.list()).find((r) => r.id === 'db1')?.revoked, true)
    await refusedAs(authority.verify(token), /^not authenticated: token "db1" revoked$/, token)
    const inspected = await authority.inspect(token)
    assert.equal(inspected.signatureValid, true)
    assert.equal(inspected.revoked, true)
    assert.equal(inspected.valid, false)
    await assert.rejects(authority.revoke('nobody'), NotFoundError)
  })

  it('refuses a second token with an id in use or revoked', async () => {
    await authority.create({id: 'db1', role: 'service', namespaces: ['default']})
    await assert.rejects(authority.create({id: 'db1', role: 'service', namespaces: ['default']}), ConflictError)
    await authority.revoke('db1')
    await assert.rejects(authority.create({id: 'db1', role: 'service', namespaces: ['default']}), ConflictError)
  })

  it('refuses bad input naming the field, and stores nothing', async () => {
    const bad: [Record<string, unknown>, string, RegExp][] = [
      [{id: 'x', role: 'root', namespaces: ['default']}, 'role', /^role "root": expected one of admin, service, read$/],
      [{id: 'x', role: 'service', namespaces: []}, 'namespaces', /needs at least one namespace/],
      [{id: 'x', role: 'read', namespaces: ['bad/ns']}, 'namespaces', /namespaces "bad\/ns"/],
      [{id: 'x', role: 'read', namespaces: ['*', 'a']}, 'namespaces', /stands alone/],
      [{id: 'x', role: 'admin', namespaces: ['a']}, 'namespaces', /covers every namespace/],
      [{id: 'x', role: 'read', namespaces: ['a'], expiresIn: '90 days'}, 'expires', /^expires "90 days"/],
      [{id: 'x', role: 'read', namespaces: ['a'], expiresIn: '0d'}, 'expires', /expires "0d"/],
      [{id: 'x', role: 'read', namespaces: ['a'], expiresIn: '11y'}, 'expires', /at most 10y/],
      [{id: '', role: 'read', namespaces: ['a']}, 'id', /^id "": must not be empty/],
      [{id: '../x', role: 'read', namespaces: ['a']}, 'id', /^id "..\/x"/],
      [{id: 'a'.repeat(129), role: 'read', namespaces: ['a']}, 'id', /at most 128/],
    ]
    for (const [input, field, message] of bad) {
      await assert.rejects(authority.create(input as never), (error: unknown) => {
        assert.ok(error instanceof InvalidInputError, String(error))
        assert.equal(error.field, field)
        assert.match(error.message, message)
        return true
      })
    }
    assert.deepEqual(await rangeAll(store, 'auth/'), [])
  })

  it('parses lifetimes: durations as every setting takes them, or never', () => {
    assert.equal(parseExpires('90d'), 90 * 86_400)
    assert.equal(parseExpires('12h'), 12 * 3600)
    assert.equal(parseExpires('2w'), 14 * 86_400)
    assert.equal(parseExpires('1y'), 365 * 86_400)
    assert.equal(parseExpires('never'), null)
    assert.equal(parseExpires(undefined), 90 * 86_400)
    assert.equal(parseExpires('30m'), 30 * 60)
    assert.equal(parseExpires('1500ms'), 2, 'rounded up to whole seconds')
    for (const bad of ['', '90', '-1d', 'forever', '1.5d', '0']) assert.throws(() => parseExpires(bad), InvalidInputError)
  })

  it('has no key before the first create, and does not make one to verify or inspect', async () => {
    await refusedAs(authority.verify('eyJhbGciOiJFZERTQSIsImtpZCI6IngifQ.e30.AAAA'), /no token signing key/)
    assert.equal(await store.get(SIGNING_KEY_KEY), undefined)
    assert.deepEqual(await authority.list(), [])
  })
})

describe('TokenAuthority: revocations answered from memory (serve)', () => {
  freshAuthorityEachTest()

  it('asks isRevoked, not the store', async () => {
    const {token} = await authority.create({id: 'db1', role: 'service', namespaces: ['default']})
    const revoked = new Set<string>()
    const serve = await TokenAuthority.open(store, {isRevoked: (id) => revoked.has(id)})
    await authority.revoke('db1')
    // Not yet in memory: the positive signal that the store is not read.
    assert.equal((await serve.verify(token)).subject, 'db1')
    revoked.add('db1')
    await refusedAs(serve.verify(token), /revoked/)
    assert.equal((await serve.inspect(token)).revoked, true)
  })

  it("on SQLite: another process's revocation reaches serve's view, and with it verify()", async () => {
    const path = join(dir, 'follow.db')
    const s1 = await openStore({registry: `sqlite:${path}`, timeoutMs: 5000})
    const s2 = await openStore({registry: `sqlite:${path}`, timeoutMs: 5000})
    const view = new RegistryView(s2)
    try {
      const cli = await TokenAuthority.open(s1)
      await view.start()
      const serve = await TokenAuthority.open(s2, {isRevoked: (id) => view.isRevoked(id)})
      const {token} = await cli.create({id: 'db1', role: 'service', namespaces: ['default']})
      assert.equal((await serve.verify(token)).subject, 'db1', 'the key created after open is picked up')
      await cli.revoke('db1')
      await until('the revocation in the view', () => view.isRevoked('db1'))
      await refusedAs(serve.verify(token), /revoked/)
    } finally {
      await view.close()
      await s1.close()
      await s2.close()
    }
  })
})

describe('TokenAuthority: records', () => {
  freshAuthorityEachTest()

  it('keeps a record per token under auth/tokens/', async () => {
    await authority.create({id: 'db1', role: 'service', namespaces: ['default']})
    const record = JSON.parse((await store.get(TOKENS_PREFIX + 'db1'))!.value) as Record<string, unknown>
    assert.deepEqual(Object.keys(record).sort(), ['audience', 'expiresAt', 'id', 'issuedAt', 'issuer', 'kid', 'namespaces', 'role'])
  })
})
