/**
 * `roster serve` with the settings oidc-issuer and oidc-client-id: verifies the identity provider's tokens
 * (JWT access tokens, or ID tokens) for people. The issuer's discovery document names its JWKS;
 * jose's remote key set caches the keys, refetches them on an unknown `kid`, and waits a floor
 * between fetches. Checked: the signature (asymmetric algorithms only: RS256, PS256, ES256,
 * EdDSA — `none` and HMAC are refused), iss, aud, exp and nbf with a small clock skew.
 *
 * A person in one of oidc-admin-roles (read from the oidc-roles-claim dot path, e.g.
 * `realm_access.roles` for Keycloak) is `admin`; any other signed-in person is `read`.
 */
import type {JWTPayload, JWTVerifyGetKey} from 'jose'

import type {Caller} from './caller.js'
import {BackendUnavailableError, InvalidInputError, NotAuthenticatedError, firstLineOf, setting} from '../errors.js'
import {isLoopbackHost} from '../net/loopback.js'

export const OIDC_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA']
/** Seconds of clock skew accepted on exp and nbf, unless oidc-clock-skew says otherwise. */
export const OIDC_CLOCK_SKEW_S = 10
/** The most oidc-clock-skew may be: beyond it, an expired token is not expired in any useful sense. */
export const OIDC_MAX_CLOCK_SKEW_S = 300
export const DEFAULT_ROLES_CLAIM = 'roles'

export interface OidcOptions {
  issuer: string
  clientId: string
  /** Default: the client id. */
  audience?: string
  /** Dot path of the roles claim. Default `roles`. */
  rolesClaim?: string
  adminRoles?: string[]
  /** Discovery and JWKS request timeout. */
  timeoutMs?: number
  /** Seconds of clock skew accepted on exp and nbf. Default OIDC_CLOCK_SKEW_S. */
  clockSkewS?: number
  /** PEM CA certificates to trust for the provider (oidc-ca), besides the system's. */
  ca?: Buffer
}

/** What GET /v1/auth/config returns: all a client needs to sign in. */
export interface AuthConfig {
  issuer?: string
  clientId?: string
  audience?: string
  rolesClaim?: string
}

/** The issuer as a URL: https://, or http:// only on loopback. Throws InvalidInputError naming `field`. */
export function issuerUrl(value: string, field = 'oidc-issuer'): URL {
  let url: URL
  try {
    url = new URL(value.trim())
  } catch {
    throw InvalidInputError.forField(field, value, 'is not a URL')
  }
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    throw InvalidInputError.forField(field, url.origin, 'http:// is allowed only for a loopback issuer; use https://')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw InvalidInputError.forField(field, value, 'expected https://HOST/...')
  if (url.username || url.password || url.search || url.hash) {
    throw InvalidInputError.forField(field, url.origin, 'must not hold credentials, a query or a fragment')
  }
  return url
}

/** The value at a dot path (`realm_access.roles`) as a list of strings. */
export function rolesAt(payload: Record<string, unknown>, path: string): string[] {
  let value: unknown = payload
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object') return []
    value = (value as Record<string, unknown>)[part]
  }
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string')
  if (typeof value === 'string') return value.split(/[\s,]+/).filter((v) => v !== '')
  return []
}

/** The unverified `iss` of a JWT, or undefined when it is not one. */
export function unverifiedIssuer(jwt: string): string | undefined {
  const part = jwt.split('.')[1]
  if (!part) return undefined
  try {
    const payload = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as {iss?: unknown}
    return typeof payload.iss === 'string' ? payload.iss : undefined
  } catch {
    return undefined
  }
}

export class OidcVerifier {
  readonly issuer: string
  readonly clientId: string
  readonly audience: string
  readonly rolesClaim: string
  readonly adminRoles: Set<string>
  private keys?: Promise<JWTVerifyGetKey>

  constructor(private readonly options: OidcOptions) {
    const url = issuerUrl(options.issuer)
    // The issuer is compared as the provider writes it; a trailing slash the user typed is kept.
    this.issuer = options.issuer.trim()
    void url
    if (!options.clientId?.trim())
      throw InvalidInputError.forField('oidc-client-id', options.clientId ?? '', `is required with ${setting('oidc-issuer')}`)
    this.clientId = options.clientId.trim()
    this.audience = options.audience?.trim() || this.clientId
    this.rolesClaim = options.rolesClaim?.trim() || DEFAULT_ROLES_CLAIM
    if (!/^[^.\s]+(\.[^.\s]+)*$/.test(this.rolesClaim)) {
      throw InvalidInputError.forField('oidc-roles-claim', this.rolesClaim, 'expected a dot path such as roles or realm_access.roles')
    }
    this.adminRoles = new Set((options.adminRoles ?? []).map((r) => r.trim()).filter((r) => r !== ''))
  }

  config(): AuthConfig {
    return {issuer: this.issuer, clientId: this.clientId, audience: this.audience, rolesClaim: this.rolesClaim}
  }

  /** Loads the discovery document once (again after a failure) and the remote key set. */
  private keySet(): Promise<JWTVerifyGetKey> {
    this.keys ??= this.discover().catch((error: unknown) => {
      this.keys = undefined
      throw error
    })
    return this.keys
  }

  private async discover(): Promise<JWTVerifyGetKey> {
    const timeoutMs = this.options.timeoutMs ?? 10_000
    const where = `${this.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`
    let doc: {issuer?: unknown; jwks_uri?: unknown}
    const {fetchTrusting, isTlsTrustError, tlsTrustProblem} = await import('../http/fetch-trusting.js')
    const get = this.options.ca ? fetchTrusting(this.options.ca) : fetch
    try {
      const response = await get(where, {signal: AbortSignal.timeout(timeoutMs), redirect: 'error'})
      if (!response.ok) throw new Error(`HTTP ${response.status}`)
      doc = (await response.json()) as typeof doc
    } catch (error) {
      if (isTlsTrustError(error)) {
        throw new BackendUnavailableError(
          `identity provider unavailable: ${where}: TLS verification failed (${tlsTrustProblem(error)}); trust its CA with ${setting('oidc-ca')}`,
        )
      }
      throw new BackendUnavailableError(`identity provider unavailable: ${where}: ${firstLineOf(error)}`)
    }
    if (doc.issuer !== this.issuer) {
      throw new BackendUnavailableError(
        `identity provider: discovery says issuer ${JSON.stringify(doc.issuer)}, not ${JSON.stringify(this.issuer)}`,
      )
    }
    if (typeof doc.jwks_uri !== 'string') throw new BackendUnavailableError('identity provider: discovery has no jwks_uri')
    const jwksUrl = issuerUrl(doc.jwks_uri, 'jwks_uri')
    const {createRemoteJWKSet, customFetch} = await import('jose')
    return createRemoteJWKSet(jwksUrl, {
      timeoutDuration: timeoutMs,
      cooldownDuration: 30_000,
      cacheMaxAge: 10 * 60_000,
      ...(this.options.ca ? {[customFetch]: fetchTrusting(this.options.ca)} : {}),
    })
  }

  /** Verifies a person's token; the caller is admin (an admin role) or read. Never echoes the token. */
  async verify(jwt: string): Promise<Caller> {
    const keys = await this.keySet()
    const jose = await import('jose')
    let payload: JWTPayload
    try {
      ;({payload} = await jose.jwtVerify(jwt, keys, {
        issuer: this.issuer,
        audience: this.audience,
        algorithms: OIDC_ALGORITHMS,
        clockTolerance: this.options.clockSkewS ?? OIDC_CLOCK_SKEW_S,
        requiredClaims: ['sub', 'exp'],
      }))
    } catch (error) {
      if (error instanceof jose.errors.JWKSTimeout)
        throw new BackendUnavailableError('identity provider unavailable: its JWKS did not answer')
      throw new NotAuthenticatedError(`not authenticated: ${reasonOf(error, jose.errors)}`)
    }
    const roles = rolesAt(payload as Record<string, unknown>, this.rolesClaim)
    const admin = roles.some((r) => this.adminRoles.has(r))
    return {subject: String(payload.sub), role: admin ? 'admin' : 'read', namespaces: ['*'], kind: 'oidc'}
  }
}

function reasonOf(error: unknown, errors: typeof import('jose').errors): string {
  if (error instanceof errors.JWTExpired) return 'the sign-in has expired; run roster login'
  if (error instanceof errors.JWTClaimValidationFailed) return `token ${error.claim} claim not accepted (${error.reason})`
  if (error instanceof errors.JOSEAlgNotAllowed) return 'token algorithm not accepted (only RS256, PS256, ES256, EdDSA)'
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'token signature invalid'
  if (error instanceof errors.JWKSNoMatchingKey) return 'token signed by a key the identity provider does not publish'
  if (error instanceof errors.JWTInvalid || error instanceof errors.JWSInvalid) return 'not a valid JWT'
  return `token not accepted (${firstLineOf(error).slice(0, 120)})`
}
