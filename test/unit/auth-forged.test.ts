/**
 * Forged and bad tokens against TokenAuthority.verify(): every one is refused as not
 * authenticated (exit 4), with one line that never contains the token, and nothing crashes.
 */
import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'

import {SignJWT, UnsecuredJWT, base64url, decodeProtectedHeader, generateKeyPair, importJWK, type CryptoKey, type JWK} from 'jose'

import {TokenAuthority} from '../../src/lib/auth/tokens.js'
import {NotAuthenticatedError} from '../../src/lib/errors.js'
import {SIGNING_KEY_KEY} from '../../src/lib/registry/keys.js'
import {openStore} from '../../src/lib/store/open-store.js'
import type {Store} from '../../src/lib/store/store.js'

let store: Store
let authority: TokenAuthority
let good: string
let kid: string
let jwk: JWK & {kid: string}
let privateKey: CryptoKey

const HOUR = 3600
const now = () => Math.floor(Date.now() / 1000)

before(async () => {
  store = await openStore({registry: 'sqlite::memory:', timeoutMs: 5000})
  authority = await TokenAuthority.open(store)
  ;({token: good} = await authority.create({id: 'db1', role: 'service', namespaces: ['default']}))
  kid = decodeProtectedHeader(good).kid!
  jwk = JSON.parse((await store.get(SIGNING_KEY_KEY))!.value) as JWK & {kid: string}
  privateKey = (await importJWK({kty: jwk.kty, crv: jwk.crv, x: jwk.x, d: jwk.d}, 'EdDSA')) as CryptoKey
})
after(async () => {
  await store.close()
})

/** A token signed with the real key: what an attacker holding the key could mint (to test claim checks). */
function signed(claims: Record<string, unknown>, header: Record<string, unknown> = {}) {
  const payload = {
    iss: 'roster',
    aud: 'roster-api',
    jti: 'forged',
    iat: now(),
    nbf: now(),
    exp: now() + HOUR,
    role: 'service',
    namespaces: ['default'],
    ...claims,
  }
  return new SignJWT(payload).setProtectedHeader({alg: 'EdDSA', typ: 'JWT', kid, ...header} as never)
}

/** Signs any header and payload by hand (jose refuses to make some of these). */
async function rawSigned(header: Record<string, unknown>, payload: Record<string, unknown>): Promise<string> {
  const input = `${base64url.encode(JSON.stringify(header))}.${base64url.encode(JSON.stringify(payload))}`
  const signature = await crypto.subtle.sign('Ed25519', privateKey, new TextEncoder().encode(input))
  return `${input}.${base64url.encode(new Uint8Array(signature))}`
}

async function refused(token: unknown, reason: RegExp): Promise<void> {
  await assert.rejects(authority.verify(token), (error: unknown) => {
    assert.ok(error instanceof NotAuthenticatedError, `expected NotAuthenticatedError, got ${String(error)}`)
    assert.equal(error.exitCode, 4)
    assert.match(error.message, reason)
    assert.ok(!error.message.includes('\n'), 'one line')
    if (typeof token === 'string' && token.length > 0) {
      for (const part of token.split('.'))
        if (part.length > 8) assert.ok(!error.message.includes(part), 'no part of the token in the message')
    }
    return true
  })
}

describe('verify() refuses forged and bad tokens', () => {
  it('accepts the good token (the control)', async () => {
    assert.equal((await authority.verify(good)).subject, 'db1')
  })

  it('a token of another registry (another key, another kid)', async () => {
    const otherStore = await openStore({registry: 'sqlite::memory:', timeoutMs: 5000})
    const other = await TokenAuthority.open(otherStore)
    const {token} = await other.create({id: 'db1', role: 'admin', namespaces: []})
    await otherStore.close()
    await refused(token, /^not authenticated: token signed by an unknown key$/)
  })

  it('a token signed by another key that claims our kid', async () => {
    const {privateKey: otherKey} = await generateKeyPair('EdDSA', {crv: 'Ed25519'})
    await refused(await signed({role: 'admin', namespaces: ['*']}).sign(otherKey), /^not authenticated: token signature invalid$/)
  })

  it('our token with its payload changed (role raised to admin)', async () => {
    const [h, , s] = good.split('.')
    const payload = base64url.encode(
      JSON.stringify({...JSON.parse(new TextDecoder().decode(base64url.decode(good.split('.')[1]!))), role: 'admin'}),
    )
    await refused(`${h}.${payload}.${s}`, /signature invalid/)
  })

  it('alg "none" (unsecured JWT)', async () => {
    const unsecured = new UnsecuredJWT({role: 'admin', namespaces: ['*']})
      .setIssuer('roster')
      .setAudience('roster-api')
      .setJti('evil')
      .setIssuedAt()
      .encode()
    await refused(unsecured, /algorithm "none" not accepted/)
    // with our kid in the header too
    const header = base64url.encode(JSON.stringify({alg: 'none', kid}))
    await refused(`${header}.${unsecured.split('.')[1]}.`, /algorithm "none" not accepted/)
  })

  it('HS256 signed with the public key bytes (key confusion)', async () => {
    for (const secret of [base64url.decode(jwk.x!), new TextEncoder().encode(JSON.stringify({kty: jwk.kty, crv: jwk.crv, x: jwk.x}))]) {
      const token = await signed({role: 'admin', namespaces: ['*']}, {alg: 'HS256'}).sign(secret)
      await refused(token, /algorithm "HS256" not accepted/)
    }
  })

  it('expired, beyond the 30 s clock skew (and accepted within it)', async () => {
    await refused(
      await signed({iat: now() - 2 * HOUR, nbf: now() - 2 * HOUR, exp: now() - 60}).sign(privateKey),
      /^not authenticated: token expired$/,
    )
    const withinSkew = await signed({iat: now() - HOUR, nbf: now() - HOUR, exp: now() - 5}).sign(privateKey)
    assert.equal((await authority.verify(withinSkew)).subject, 'forged')
    const past = await TokenAuthority.open(store, {now: () => new Date(Date.now() - 3 * HOUR * 1000)})
    const {token} = await past.create({id: 'short', role: 'read', namespaces: ['default'], expiresIn: '1h'})
    await refused(token, /token expired/)
  })

  it('not yet valid (nbf, iat in the future)', async () => {
    const future = await TokenAuthority.open(store, {now: () => new Date(Date.now() + HOUR * 1000)})
    const {token} = await future.create({id: 'later', role: 'read', namespaces: ['default']})
    await refused(token, /^not authenticated: token not yet valid$/)
    await refused(await signed({nbf: now() + 120}).sign(privateKey), /not yet valid/)
  })

  it('wrong audience, wrong issuer', async () => {
    const otherAud = await TokenAuthority.open(store, {audience: 'someone-else'})
    await refused(
      (await otherAud.create({id: 'aud', role: 'admin', namespaces: []})).token,
      /^not authenticated: token audience not accepted$/,
    )
    const otherIss = await TokenAuthority.open(store, {issuer: 'discovery'})
    await refused(
      (await otherIss.create({id: 'iss', role: 'admin', namespaces: []})).token,
      /^not authenticated: token issuer not accepted$/,
    )
    await refused(await signed({aud: ['other', 'x']}).sign(privateKey), /audience not accepted/)
  })

  it('a revoked token', async () => {
    const {token} = await authority.create({id: 'gone', role: 'read', namespaces: ['default']})
    await authority.revoke('gone')
    await refused(token, /^not authenticated: token "gone" revoked$/)
  })

  it('malformed tokens and non-strings', async () => {
    for (const bad of ['', 'abc', 'a.b', 'a.b.c.d', 'a.b.c', '...', 'eyJ.eyJ.x', '!!.??.##', `${good} `, `Bearer ${good}`]) {
      await refused(bad, /^not authenticated: (no token|malformed token)/)
    }
    for (const bad of [undefined, null, 42, {}, ['a.b.c']]) await refused(bad, /^not authenticated: no token$/)
    const notJson = `${base64url.encode('{"alg":"EdDSA",')}.${base64url.encode('{}')}.AAAA`
    await refused(notJson, /malformed token header/)
    const payloadNotJson = `${base64url.encode(JSON.stringify({alg: 'EdDSA', kid}))}.${base64url.encode('not json')}.${good.split('.')[2]}`
    await refused(payloadNotJson, /signature invalid|malformed/)
  })

  it('a 100 KB header is refused before parsing', async () => {
    const header = base64url.encode(JSON.stringify({alg: 'EdDSA', kid, pad: 'x'.repeat(100_000)}))
    await refused(`${header}.${good.split('.')[1]}.${good.split('.')[2]}`, /^not authenticated: token too large \(more than 8192 bytes\)$/)
  })

  it('claims of the wrong types, even under a valid signature', async () => {
    const cases: Record<string, unknown>[] = [
      {role: 'root'},
      {role: ['admin']},
      {namespaces: 'default'},
      {namespaces: []},
      {namespaces: [1, 2]},
      {namespaces: ['../etc']},
      {jti: 42},
      {jti: 'a/b'},
      {iat: 'yesterday'},
    ]
    for (const claims of cases) {
      await refused(await signed(claims).sign(privateKey), /^not authenticated: token (claims invalid|claim|not yet valid|malformed)/)
    }
    await refused(await signed({jti: undefined}).sign(privateKey), /claim "jti" invalid|claims invalid/)
    await refused(await signed({nbf: undefined}).sign(privateKey), /claim "nbf" invalid|claims invalid/)
  })

  it('a header with no kid, or an unknown critical extension', async () => {
    await refused(await signed({}, {kid: undefined}).sign(privateKey), /unknown key/)
    const payload = {iss: 'roster', aud: 'roster-api', jti: 'crit', iat: now(), nbf: now(), role: 'admin', namespaces: ['*']}
    assert.equal((await authority.verify(await rawSigned({alg: 'EdDSA', kid}, payload))).subject, 'crit', 'the hand signer works')
    await refused(await rawSigned({alg: 'EdDSA', kid, crit: ['exp-ext'], 'exp-ext': 1}, payload), /malformed token/)
    await refused(
      await rawSigned({alg: 'EdDSA', kid, b64: false, crit: ['b64']}, payload),
      /malformed token|signature invalid|claims invalid/,
    )
  })

  it('random junk and mangled tokens: always not authenticated, never another error', async () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.'
    let seed = 42
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31
    const headers = [{alg: 'EdDSA', kid}, {alg: 'EdDSA', kid: 5}, {alg: 'EdDSA', kid, crit: 'x'}, [], 'x', null, {alg: ['EdDSA']}]
    for (let i = 0; i < 300; i++) {
      let token: string
      if (i % 3 === 0) {
        token = Array.from({length: Math.floor(random() * 400)}, () => alphabet[Math.floor(random() * alphabet.length)]).join('')
      } else if (i % 3 === 1) {
        const chars = good.split('')
        const at = Math.floor(random() * chars.length)
        chars[at] = alphabet[Math.floor(random() * 64)]!
        token = chars.join('')
        // A change in a last character's padding bits decodes to the same bytes: the same token.
        const same = (a: string, b: string) => {
          try {
            return Buffer.from(base64url.decode(a)).equals(Buffer.from(base64url.decode(b)))
          } catch {
            return false
          }
        }
        const [p, q] = [token.split('.'), good.split('.')]
        if (p.length === 3 && p.every((part, k) => same(part, q[k]!))) continue
      } else {
        const header = base64url.encode(JSON.stringify(headers[i % headers.length]))
        token = `${header}.${good.split('.')[1]}.${good.split('.')[2]}`
      }
      await assert.rejects(authority.verify(token), NotAuthenticatedError, `input ${i}`)
    }
  })

  it('inspect() reports a forged signature as invalid instead of throwing', async () => {
    const {privateKey: otherKey} = await generateKeyPair('EdDSA', {crv: 'Ed25519'})
    const result = await authority.inspect(await signed({role: 'admin', namespaces: ['*']}).sign(otherKey))
    assert.equal(result.signatureValid, false)
    assert.equal(result.valid, false)
    assert.equal(result.problem, 'token signature invalid')
    assert.equal(result.role, 'admin', 'inspect shows what the token claims')
  })
})
