/** The pieces of serve's OIDC verification that need no provider: roles claims, issuer URLs, flags. */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {oidcOptionsOf} from '../../src/command/oidc-flags.js'
import {OidcVerifier, issuerUrl, rolesAt, unverifiedIssuer} from '../../src/lib/auth/oidc-verifier.js'
import {BackendUnavailableError, InvalidInputError} from '../../src/lib/errors.js'

describe('oidc verifier helpers', () => {
  it('reads roles at a dot path (Keycloak realm_access.roles), a list or a space-separated string', () => {
    const payload = {roles: ['a', 'b', 3], realm_access: {roles: ['roster-admin']}, groups: 'x y', nested: {deep: 'z'}}
    assert.deepEqual(rolesAt(payload, 'roles'), ['a', 'b'])
    assert.deepEqual(rolesAt(payload, 'realm_access.roles'), ['roster-admin'])
    assert.deepEqual(rolesAt(payload, 'groups'), ['x', 'y'])
    assert.deepEqual(rolesAt(payload, 'missing.path'), [])
    assert.deepEqual(rolesAt(payload, 'nested.deep.more'), [])
  })

  it('allows http:// only for a loopback issuer', () => {
    assert.equal(issuerUrl('https://id.example.com/realms/ops').href, 'https://id.example.com/realms/ops')
    assert.equal(issuerUrl('http://127.0.0.1:8080').origin, 'http://127.0.0.1:8080')
    assert.equal(issuerUrl('http://localhost:8080').origin, 'http://localhost:8080')
    assert.throws(
      () => issuerUrl('http://id.example.com'),
      (e: unknown) => e instanceof InvalidInputError && /oidc-issuer.*loopback/.test(e.message),
    )
    assert.throws(() => issuerUrl('ftp://id.example.com'), InvalidInputError)
    assert.throws(() => issuerUrl('not a url'), InvalidInputError)
    assert.throws(() => issuerUrl('https://user:pw@id.example.com'), InvalidInputError)
  })

  it('reads the issuer of a JWT without trusting it, and nothing from a non-JWT', () => {
    const jwt = `${Buffer.from('{"alg":"ES256"}').toString('base64url')}.${Buffer.from('{"iss":"https://x"}').toString('base64url')}.sig`
    assert.equal(unverifiedIssuer(jwt), 'https://x')
    assert.equal(unverifiedIssuer('opaque-token'), undefined)
    assert.equal(unverifiedIssuer('a.!!!.c'), undefined)
  })

  it('checks the flags: an issuer needs a client id and the other way round; the audience defaults to the client id', () => {
    assert.equal(oidcOptionsOf({}), undefined)
    assert.throws(() => oidcOptionsOf({'oidc-issuer': 'https://id.example.com'}), /oidc-client-id/)
    assert.throws(() => oidcOptionsOf({'oidc-client-id': 'roster'}), /oidc-issuer/)
    const v = new OidcVerifier(
      oidcOptionsOf({'oidc-issuer': 'https://id.example.com', 'oidc-client-id': 'roster', 'oidc-admin-roles': ['ops']})!,
    )
    assert.deepEqual(v.config(), {issuer: 'https://id.example.com', clientId: 'roster', audience: 'roster', rolesClaim: 'roles'})
    assert.throws(() => new OidcVerifier({issuer: 'https://id.example.com', clientId: 'r', rolesClaim: 'a..b'}), /oidc-roles-claim/)
  })

  it('an identity provider that does not answer is unavailable (exit 3), not a refused token', async () => {
    const v = new OidcVerifier({issuer: 'http://127.0.0.1:1', clientId: 'roster', timeoutMs: 2000})
    await assert.rejects(
      v.verify('a.b.c'),
      (e: unknown) => e instanceof BackendUnavailableError && /identity provider unavailable/.test(e.message),
    )
  })
})
