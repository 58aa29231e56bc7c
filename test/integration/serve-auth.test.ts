/**
 * Bearer tokens at `roster serve`: forged and bad tokens are each 401 (a 100 KB header: Node's
 * 431), never 500; a service token is kept to its namespaces and away from servers (403); a
 * revoked token is refused; no token or key material appears in the server's log or answers.
 */
import assert from 'node:assert/strict'
import {createHmac, createPrivateKey, createPublicKey} from 'node:crypto'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {type ServeProcess, createToken, http, signingJwk, startServe} from '../support/serve-server.js'
import {timeUntil, until} from '../support/until.js'

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')

describe('roster serve: tokens', () => {
  let dir: string
  let registry: string
  let serve: ServeProcess
  let admin: string
  let service: string
  let jwk: Record<string, unknown>
  const answers: string[] = []
  const call = async (
    p: string,
    token: string | undefined,
    init: {method?: string; body?: string; headers?: Record<string, string>} = {},
  ) => {
    const r = await http(`${serve.url}${p}`, {...init, token})
    answers.push(r.text)
    return r
  }

  /** A token with chosen header and claims, signed with the registry's real key. */
  const sign = async (claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> => {
    const {SignJWT, importJWK} = await import('jose')
    const key = await importJWK(jwk as never, 'EdDSA')
    return new SignJWT(claims).setProtectedHeader({alg: 'EdDSA', typ: 'JWT', kid: jwk.kid as string, ...header}).sign(key)
  }
  const now = () => Math.floor(Date.now() / 1000)
  const good = () => ({
    iss: 'roster',
    aud: 'roster-api',
    jti: 'admin',
    iat: now(),
    nbf: now(),
    exp: now() + 3600,
    role: 'admin',
    namespaces: ['*'],
  })

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'roster-serve-auth-'))
    registry = `sqlite:${path.join(dir, 'registry.db')}`
    admin = await createToken(registry, {id: 'admin', role: 'admin', namespaces: ['*']})
    service = await createToken(registry, {id: 'web-host', role: 'service', namespaces: ['web']})
    jwk = await signingJwk(registry)
    serve = await startServe({registry})
    assert.equal((await call('/v1/namespaces/web', admin, {method: 'PUT', body: '{}'})).status, 200)
  })
  after(async () => {
    await serve?.stop()
    rmSync(dir, {recursive: true, force: true})
  })

  it('accepts a good token and one signed by hand with the real key (the forging below is honest)', async () => {
    assert.equal((await call('/v1/servers', admin)).status, 200)
    assert.equal((await call('/v1/servers', await sign(good()))).status, 200)
  })

  it('refuses forged and bad tokens with 401, never 500', async () => {
    const other = mkdtempSync(path.join(tmpdir(), 'roster-serve-other-'))
    const wrongKey = await createToken(`sqlite:${path.join(other, 'r.db')}`, {id: 'admin', role: 'admin', namespaces: ['*']})
    rmSync(other, {recursive: true, force: true})
    const [h, p] = admin.split('.') as [string, string, string]
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>
    const publicPem = createPublicKey(createPrivateKey({key: jwk as never, format: 'jwk'})).export({type: 'spki', format: 'pem'}) as string
    const hsHeader = b64({alg: 'HS256', typ: 'JWT', kid: jwk.kid})
    const hs256 = `${hsHeader}.${p}.${createHmac('sha256', publicPem).update(`${hsHeader}.${p}`).digest('base64url')}`
    const cases: [string, string, RegExp][] = [
      ['wrong key', wrongKey, /unknown key|signature/],
      ['alg none', `${b64({alg: 'none', typ: 'JWT'})}.${p}.`, /algorithm "none" not accepted/],
      ['HS256 signed with the public key', hs256, /algorithm "HS256" not accepted/],
      ['expired', await sign({...good(), iat: now() - 7200, nbf: now() - 7200, exp: now() - 3600}), /expired/],
      ['not yet valid', await sign({...good(), nbf: now() + 3600}), /not yet valid/],
      ['wrong audience', await sign({...good(), aud: 'someone-else'}), /audience/],
      ['wrong issuer', await sign({...good(), iss: 'evil'}), /issuer/],
      [
        'tampered claims',
        `${h}.${b64({...claims, role: 'admin', namespaces: ['*'], jti: 'web-host'})}.${admin.split('.')[2]}`,
        /signature invalid/,
      ],
      ['malformed', 'abc.def', /malformed/],
      ['garbage', '!!!', /malformed/],
    ]
    for (const [what, token, message] of cases) {
      const r = await call('/v1/servers', token)
      assert.equal(r.status, 401, `${what}: ${r.text}`)
      const body = r.json() as {error: {code: string; message: string}}
      assert.equal(body.error.code, 'not_authenticated', what)
      assert.match(body.error.message, message, what)
    }
    const basic = await call('/v1/servers', undefined, {headers: {authorization: 'Basic YWRtaW46YWRtaW4='}})
    assert.equal(basic.status, 401)
    assert.match(basic.text, /not a bearer token/)
    // A 100 KB header: Node refuses it before any handler (431 Request Header Fields Too Large).
    const huge = await call('/v1/servers', 'x'.repeat(100 * 1024))
    assert.ok(huge.status >= 400 && huge.status < 500, `100 KB header: ${huge.status}`)
    assert.equal(huge.status, 431)
    // Just under Node's header limit, the token check refuses it (too large).
    const big = await call('/v1/servers', 'x'.repeat(12 * 1024))
    assert.equal(big.status, 401)
    assert.match(big.text, /too large/)
  })

  it('accepts a bare token (what Prometheus sends without type: Bearer) and logs every refusal with its reason', async () => {
    const bare = await call('/v1/servers', undefined, {headers: {authorization: admin}})
    assert.equal(bare.status, 200, bare.text)
    const none = await call('/v1/servers', undefined)
    assert.equal(none.status, 401)
    assert.match(none.text, /no token \(send \\"Authorization: Bearer TOKEN\\"\)/)
    assert.equal((await call('/v1/servers', undefined, {headers: {authorization: 'Bearer'}})).status, 401)
    assert.equal((await call('/v1/servers', service)).status, 403)
    const expired = await sign({...good(), iat: now() - 7200, nbf: now() - 7200, exp: now() - 3600})
    assert.equal((await call('/v1/servers', expired)).status, 401)
    await until('the 403 log line', () => /refused: GET \/v1\/servers 403: .*may not list servers/.test(serve.stderr()))
    const log = serve.stderr()
    assert.match(log, /refused: GET \/v1\/servers 401: not authenticated: no token/)
    assert.match(log, /refused: GET \/v1\/servers 401: not authenticated: no token after "Bearer"/)
    assert.match(log, /refused: GET \/v1\/servers 401: not authenticated: .*expired/)
    assert.ok(!log.includes(expired) && !log.includes(admin), 'no token in the log')
  })

  it('keeps a service token to its namespaces and away from servers, settings and tokens (403)', async () => {
    const body = (ns: string) => JSON.stringify({name: 'app', endpoints: ['http://app1:8080/metrics'], namespace: ns})
    assert.equal((await call('/v1/services', service, {method: 'POST', body: body('web')})).status, 200)
    const outside = await call('/v1/services', service, {method: 'POST', body: body('default')})
    assert.equal(outside.status, 403, outside.text)
    assert.match(outside.text, /may not write in namespace/)
    for (const [method, p, b] of [
      ['PUT', '/v1/servers/evil', '{}'],
      ['DELETE', '/v1/servers/evil', undefined],
      ['GET', '/v1/servers', undefined],
      ['PUT', '/v1/settings', '{"replicas":2}'],
      ['GET', '/v1/tokens', undefined],
      ['PUT', '/v1/namespaces/web', '{}'],
    ] as const) {
      const r = await call(p, service, {method, body: b})
      assert.equal(r.status, 403, `${method} ${p}: ${r.text}`)
    }
    const listed = (await call('/v1/services', service)).json() as {items: {namespace: string}[]}
    assert.ok(listed.items.length > 0 && listed.items.every((s) => s.namespace === 'web'))
    assert.equal((await call('/v1/services?namespace=default', service)).status, 403)
    const id = (listed.items[0] as unknown as {id: string}).id
    assert.equal((await call(`/v1/services/${id}`, service, {method: 'DELETE'})).status, 200)
  })

  it('refuses a token once it is revoked', async () => {
    const doomed = await createToken(registry, {id: 'doomed', role: 'read', namespaces: ['*']})
    assert.equal((await call('/v1/settings', doomed)).status, 200)
    const revoked = await call('/v1/tokens/doomed', admin, {method: 'DELETE'})
    assert.equal(revoked.status, 200, revoked.text)
    const r = await call('/v1/settings', doomed)
    assert.equal(r.status, 401)
    assert.match(r.text, /revoked/)
  })

  it('sees a revocation written straight into the store by another process', async () => {
    const victim = await createToken(registry, {id: 'victim', role: 'read', namespaces: ['*']})
    assert.equal((await call('/v1/settings', victim)).status, 200)
    const {openStore} = await import('../../src/lib/store/open-store.js')
    const {TokenAuthority} = await import('../../src/lib/auth/tokens.js')
    const store = await openStore({registry, timeoutMs: 5000})
    try {
      await (await TokenAuthority.open(store)).revoke('victim')
    } finally {
      await store.close()
    }
    const took = await timeUntil('the revocation', async () => (await call('/v1/settings', victim)).status === 401)
    process.stderr.write(`# revocation by another process refused after ${took} ms\n`)
  })

  it('never shows a token or the signing key in its log or answers', () => {
    const text = [serve.stderr(), serve.stdout(), ...answers].join('\n')
    assert.ok(!text.includes(admin.split('.')[2]!))
    assert.ok(!text.includes(service.split('.')[2]!))
    assert.ok(!text.includes(jwk.d as string))
  })
})
