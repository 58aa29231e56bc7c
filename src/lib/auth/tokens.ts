/**
 * Machine tokens: EdDSA (Ed25519) JWTs signed with a key kept in the registry's store.
 *
 * Store layout (logical keys; etcd adds its prefix):
 * - `auth/signing-key`   the private key as a JWK (JSON, with `kid` and `alg: "EdDSA"`). Created on
 *                        the first `create()` (never by verify/inspect/list), with a compare on
 *                        "absent", so concurrent first creates agree on one key. Never printed or
 *                        logged; no default or built-in key exists.
 * - `auth/tokens/<id>`   the record of an issued token (TokenInfo + kid), never the token itself.
 * - `auth/revoked/<id>`  `{"id", "revokedAt"}`: the token id is refused from then on, forever.
 *
 * A token: header `{alg: "EdDSA", typ: "JWT", kid}`; claims `iss`, `aud`, `jti` (= the id), `iat`,
 * `nbf`, `exp` (absent when it expires never), `role`, `namespaces`. Ids are unique: creating an id
 * that exists (revoked or not) is a ConflictError.
 *
 * verify(): refuses (NotAuthenticatedError, one line, never the token) anything over 8 KiB before
 * parsing, any alg but EdDSA, a `kid` other than the stored key's, a bad signature, a wrong
 * iss/aud, exp/nbf outside a 30 s clock skew, claims of the wrong types, and revoked ids.
 *
 * Revocation checks (`isRevoked`): by default (the CLI) each check reads `auth/revoked/<id>` from
 * the store. `roster serve` passes `isRevoked`, answered from its in-memory view of the registry,
 * which the store follower keeps current on every instance (server/view.ts); it calls `reload()`
 * when a key under `auth/` changed, so that a signing key created after start is used at once.
 *
 * Key rotation is out of scope; the `kid` header leaves room for it (several keys by kid).
 */
import type {CryptoKey, JWK, JWTPayload} from 'jose'

import {ConflictError, InvalidInputError, NotAuthenticatedError, NotFoundError, RosterError, firstLineOf} from '../errors.js'
import {validateName} from '../registry/validation.js'
import {parseDuration} from '../config/duration.js'
import {REVOKED_PREFIX, SIGNING_KEY_KEY, TOKENS_PREFIX} from '../registry/keys.js'
import type {Store} from '../store/store.js'
import {ALL_NAMESPACES, type Caller, type Role, ROLES, isRole} from './caller.js'

export const DEFAULT_ISSUER = 'roster'
export const DEFAULT_AUDIENCE = 'roster-api'
export const ALGORITHM = 'EdDSA'
/** Tokens longer than this are refused before any parsing. Ours are about 400 bytes. */
export const MAX_TOKEN_BYTES = 8192
/** Tolerated clock difference for exp and nbf, in seconds. */
export const CLOCK_SKEW_SECONDS = 30
export const DEFAULT_EXPIRES = '90d'
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/
export const MAX_ID_LENGTH = 128

export interface TokenInfo {
  id: string
  role: Role
  /** ['*'] = every namespace (always so for admin). */
  namespaces: string[]
  /** ISO 8601. */
  issuedAt: string
  /** ISO 8601, or null for a token that never expires. */
  expiresAt: string | null
  issuer: string
  audience: string
}

/** A token record as list() returns it. */
export type TokenRecord = TokenInfo & {revoked: boolean}

export type InspectResult = TokenInfo & {
  signatureValid: boolean
  revoked: boolean
  /** Whether verify() accepts the token now (signature, iss/aud, times, not revoked). */
  valid: boolean
  /** Why verify() refuses it, when it does. */
  problem?: string
}

export interface CreateTokenInput {
  id: string
  role: Role | string
  namespaces: string[]
  /** "90d", "12h", "2w", "1y", or "never". Default "90d". */
  expiresIn?: string
}

export interface TokenAuthorityOptions {
  /** The clock (tests). Default: the system clock. */
  now?: () => Date
  issuer?: string
  audience?: string
  /** Answers isRevoked() from memory (serve: its view); see the file header. Default: a store read per check. */
  isRevoked?: (id: string) => boolean
}

interface SigningKey {
  kid: string
  privateKey?: CryptoKey
  publicKey: CryptoKey
}

type Jose = typeof import('jose')
let joseModule: Promise<Jose> | undefined
function jose(): Promise<Jose> {
  joseModule ??= import('jose')
  return joseModule
}

function refuse(reason: string): NotAuthenticatedError {
  return new NotAuthenticatedError(`not authenticated: ${reason}`)
}

/** Validates a token id (also the `jti`): letters, digits, ".", "_", "-"; safe as one key segment. */
export function validateTokenId(value: unknown, field = 'id'): string {
  if (typeof value !== 'string' || value === '') throw InvalidInputError.forField(field, value ?? '', 'must not be empty')
  if (value.length > MAX_ID_LENGTH) throw InvalidInputError.forField(field, value, `must be at most ${MAX_ID_LENGTH} characters`)
  if (!ID_PATTERN.test(value)) {
    throw InvalidInputError.forField(field, value, 'may contain only letters, digits, ".", "_" and "-", starting with a letter or digit')
  }
  return value
}

export function validateRole(value: unknown, field = 'role'): Role {
  if (!isRole(value)) throw InvalidInputError.forField(field, value ?? '', `expected one of ${ROLES.join(', ')}`)
  return value
}

/** The namespaces of a token: admin → ['*']; others: a non-empty list of names, or ['*']. */
export function validateNamespaces(role: Role, value: unknown, field = 'namespaces'): string[] {
  if (!Array.isArray(value)) throw InvalidInputError.forField(field, value ?? '', 'expected a list of namespace names')
  const names = [...new Set(value.map((v) => (typeof v === 'string' ? v.trim() : v)))]
  if (role === 'admin') {
    if (names.length > 0 && !(names.length === 1 && names[0] === ALL_NAMESPACES)) {
      throw InvalidInputError.forField(field, value.join(','), 'an admin token covers every namespace; leave namespaces out')
    }
    return [ALL_NAMESPACES]
  }
  if (names.length === 0) throw InvalidInputError.forField(field, '', `a ${role} token needs at least one namespace (or "*" for all)`)
  if (names.includes(ALL_NAMESPACES)) {
    if (names.length > 1) throw InvalidInputError.forField(field, value.join(','), '"*" (every namespace) stands alone')
    return [ALL_NAMESPACES]
  }
  for (const name of names) validateName(field, name)
  return (names as string[]).sort()
}

/**
 * A token's lifetime in seconds, a duration as every setting takes one (config/duration.ts), or
 * null for "never". InvalidInputError naming `field` otherwise.
 */
export function parseExpires(value: string | undefined, field = 'expires'): number | null {
  const text = (value ?? DEFAULT_EXPIRES).trim()
  if (text.toLowerCase() === 'never') return null
  return Math.ceil(parseDuration(text, field) / 1000)
}

function isoOfSeconds(seconds: number): string {
  return new Date(seconds * 1000).toISOString()
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** The claims of a roster token, checked for types; undefined when any is wrong. */
function tokenClaims(payload: JWTPayload): {id: string; role: Role; namespaces: string[]; iat: number; exp: number | null} | undefined {
  const {jti, role, namespaces, iat, exp, nbf} = payload as Record<string, unknown>
  if (typeof jti !== 'string' || jti.length > MAX_ID_LENGTH || !ID_PATTERN.test(jti)) return undefined
  if (!isRole(role)) return undefined
  if (!Array.isArray(namespaces) || namespaces.length === 0 || namespaces.length > 1000) return undefined
  if (!namespaces.every((n) => typeof n === 'string' && (n === ALL_NAMESPACES || /^[A-Za-z0-9_-]{1,63}$/.test(n)))) return undefined
  if (typeof iat !== 'number' || !Number.isFinite(iat)) return undefined
  if (nbf !== undefined && (typeof nbf !== 'number' || !Number.isFinite(nbf))) return undefined
  if (exp !== undefined && (typeof exp !== 'number' || !Number.isFinite(exp))) return undefined
  return {id: jti, role, namespaces: role === 'admin' ? [ALL_NAMESPACES] : (namespaces as string[]), iat, exp: exp ?? null}
}

/** A cheap structural check: three base64url parts (no JSON parsing yet). */
function looksLikeJwt(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)
}

export class TokenAuthority {
  private key?: SigningKey
  private reloading?: Promise<void>
  private lastKeyLookup = 0
  readonly issuer: string
  readonly audience: string
  private readonly now: () => Date

  private constructor(
    private readonly store: Store,
    private readonly options: TokenAuthorityOptions,
  ) {
    this.now = options.now ?? (() => new Date())
    this.issuer = options.issuer ?? DEFAULT_ISSUER
    this.audience = options.audience ?? DEFAULT_AUDIENCE
  }

  /** Opens the authority over `store` and loads the signing key, if there is one. */
  static async open(store: Store, options: TokenAuthorityOptions = {}): Promise<TokenAuthority> {
    const authority = new TokenAuthority(store, options)
    await authority.loadKey()
    return authority
  }

  /** The `kid` of the signing key that verify() checks against now; undefined before the first token. */
  get keyId(): string | undefined {
    return this.key?.kid
  }

  /** Re-reads the signing key from the store. */
  async reload(): Promise<void> {
    if (this.reloading) return this.reloading
    this.reloading = this.loadKey().finally(() => (this.reloading = undefined))
    return this.reloading
  }

  /** Whether token id `id` is revoked: from memory when the authority was given `isRevoked`, else from the store. */
  async isRevoked(id: string): Promise<boolean> {
    if (this.options.isRevoked) return this.options.isRevoked(id)
    return (await this.store.get(REVOKED_PREFIX + id)) !== undefined
  }

  /** Issues a token; generates the signing key on first use. Returns the JWT and its record. */
  async create(input: CreateTokenInput): Promise<{token: string; info: TokenInfo}> {
    const id = validateTokenId(input.id)
    const role = validateRole(input.role)
    const namespaces = validateNamespaces(role, input.namespaces)
    const lifetime = parseExpires(input.expiresIn)
    const key = await this.signingKey()
    const iat = Math.floor(this.now().getTime() / 1000)
    const exp = lifetime === null ? null : iat + lifetime
    const info: TokenInfo = {
      id,
      role,
      namespaces,
      issuedAt: isoOfSeconds(iat),
      expiresAt: exp === null ? null : isoOfSeconds(exp),
      issuer: this.issuer,
      audience: this.audience,
    }
    const {SignJWT} = await jose()
    const jwt = new SignJWT({role, namespaces})
      .setProtectedHeader({alg: ALGORITHM, typ: 'JWT', kid: key.kid})
      .setIssuer(this.issuer)
      .setAudience(this.audience)
      .setJti(id)
      .setIssuedAt(iat)
      .setNotBefore(iat)
    if (exp !== null) jwt.setExpirationTime(exp)
    const token = await jwt.sign(key.privateKey!)
    const result = await this.store.txn(
      [
        {key: TOKENS_PREFIX + id, modRevision: 0},
        {key: REVOKED_PREFIX + id, modRevision: 0},
      ],
      [{type: 'put', key: TOKENS_PREFIX + id, value: JSON.stringify({...info, kid: key.kid})}],
    )
    if (!result.succeeded) {
      throw new ConflictError(`id ${JSON.stringify(id)}: a token with this id exists or was revoked; choose another id`)
    }
    return {token, info}
  }

  /** The Caller a valid token stands for; NotAuthenticatedError (one line, no token) otherwise. */
  async verify(jwt: unknown): Promise<Caller> {
    const {claims} = await this.check(jwt)
    return {subject: claims.id, role: claims.role, namespaces: claims.namespaces, kind: 'token'}
  }

  /** What a token says, whether its signature is ours, whether it is revoked, and whether verify() accepts it. */
  async inspect(jwt: unknown): Promise<InspectResult> {
    if (typeof jwt !== 'string' || jwt.trim() === '') throw InvalidInputError.forField('token', '', 'must not be empty')
    const token = jwt.trim()
    if (Buffer.byteLength(token) > MAX_TOKEN_BYTES) {
      throw new InvalidInputError(`token: ${Buffer.byteLength(token)} bytes, at most ${MAX_TOKEN_BYTES}`, {field: 'token'})
    }
    const {decodeJwt} = await jose()
    let payload: JWTPayload
    try {
      if (!looksLikeJwt(token)) throw new Error('not a JWT')
      payload = decodeJwt(token)
    } catch {
      throw new InvalidInputError('token: not a JWT (expected three base64url parts)', {field: 'jwt'})
    }
    const claims = tokenClaims(payload)
    if (!claims) throw new InvalidInputError('token: its claims are not those of a roster token', {field: 'token'})
    let signatureValid = false
    let problem: string | undefined
    try {
      await this.check(token)
      signatureValid = true
    } catch (error) {
      problem = firstLineOf(error).replace(/^not authenticated: /, '')
      signatureValid = (error as {signatureChecked?: boolean}).signatureChecked === true
    }
    const revoked = await this.isRevoked(claims.id)
    return {
      id: claims.id,
      role: claims.role,
      namespaces: claims.namespaces,
      issuedAt: isoOfSeconds(claims.iat),
      expiresAt: claims.exp === null ? null : isoOfSeconds(claims.exp),
      issuer: typeof payload.iss === 'string' ? payload.iss : '',
      audience: typeof payload.aud === 'string' ? payload.aud : Array.isArray(payload.aud) ? payload.aud.join(',') : '',
      signatureValid,
      revoked,
      valid: problem === undefined,
      ...(problem === undefined ? {} : {problem}),
    }
  }

  /** Every issued token's record, by id, with whether it is revoked. */
  async list(): Promise<TokenRecord[]> {
    const revoked = new Set<string>()
    for await (const page of this.store.range(REVOKED_PREFIX)) {
      for (const kv of page.kvs) revoked.add(kv.key.slice(REVOKED_PREFIX.length))
    }
    const records: TokenRecord[] = []
    for await (const page of this.store.range(TOKENS_PREFIX)) {
      for (const kv of page.kvs) {
        const value = parseJson(kv.value) as Partial<TokenInfo> | undefined
        const id = kv.key.slice(TOKENS_PREFIX.length)
        records.push({
          id,
          role: isRole(value?.role) ? value.role : ('unknown' as Role),
          namespaces: Array.isArray(value?.namespaces) ? value.namespaces : [],
          issuedAt: String(value?.issuedAt ?? ''),
          expiresAt: typeof value?.expiresAt === 'string' ? value.expiresAt : null,
          issuer: String(value?.issuer ?? ''),
          audience: String(value?.audience ?? ''),
          revoked: revoked.has(id),
        })
      }
    }
    return records
  }

  /** Revokes every token issued with id `id` (idempotent); NotFoundError for an id never issued. */
  async revoke(id: string): Promise<{id: string; revoked: true}> {
    validateTokenId(id)
    for (;;) {
      const record = await this.store.get(TOKENS_PREFIX + id)
      if (!record) throw new NotFoundError(`token ${JSON.stringify(id)} not found`)
      if (await this.store.get(REVOKED_PREFIX + id)) return {id, revoked: true}
      const result = await this.store.txn(
        [
          {key: TOKENS_PREFIX + id, modRevision: record.modRevision},
          {key: REVOKED_PREFIX + id, modRevision: 0},
        ],
        [{type: 'put', key: REVOKED_PREFIX + id, value: JSON.stringify({id, revokedAt: this.now().toISOString()})}],
      )
      if (result.succeeded) return {id, revoked: true}
    }
  }

  /** Full verification; returns the typed claims. Errors carry `signatureChecked` when the signature was good. */
  private async check(jwt: unknown): Promise<{claims: NonNullable<ReturnType<typeof tokenClaims>>}> {
    if (typeof jwt !== 'string' || jwt === '') throw refuse('no token')
    if (jwt.length > MAX_TOKEN_BYTES) throw refuse(`token too large (more than ${MAX_TOKEN_BYTES} bytes)`)
    if (!looksLikeJwt(jwt)) throw refuse('malformed token (expected a JWT)')
    const j = await jose()
    let header: ReturnType<Jose['decodeProtectedHeader']>
    try {
      header = j.decodeProtectedHeader(jwt)
    } catch {
      throw refuse('malformed token header')
    }
    if (header.alg !== ALGORITHM)
      throw refuse(`token algorithm ${JSON.stringify(String(header.alg).slice(0, 20))} not accepted (EdDSA only)`)
    let key = this.key
    if (!key || key.kid !== header.kid) {
      key = await this.refreshKey()
      if (!key) throw refuse('no token signing key in this registry yet (create a token first)')
      if (key.kid !== header.kid) throw refuse('token signed by an unknown key')
    }
    let payload: JWTPayload
    try {
      ;({payload} = await j.jwtVerify(jwt, key.publicKey, {
        algorithms: [ALGORITHM],
        issuer: this.issuer,
        audience: this.audience,
        clockTolerance: CLOCK_SKEW_SECONDS,
        currentDate: this.now(),
        requiredClaims: ['jti', 'iat', 'nbf'],
      }))
    } catch (error) {
      throw this.joseRefusal(error, j)
    }
    const claims = tokenClaims(payload)
    if (!claims) throw Object.assign(refuse('token claims invalid'), {signatureChecked: true})
    if (await this.isRevoked(claims.id)) throw Object.assign(refuse(`token ${JSON.stringify(claims.id)} revoked`), {signatureChecked: true})
    return {claims}
  }

  private joseRefusal(error: unknown, j: Jose): NotAuthenticatedError {
    const e = j.errors
    if (error instanceof e.JWTExpired) return Object.assign(refuse('token expired'), {signatureChecked: true})
    if (error instanceof e.JWTClaimValidationFailed) {
      const claim = error.claim
      const reason =
        error.reason !== 'check_failed'
          ? 'token claims invalid'
          : claim === 'nbf' || claim === 'iat'
            ? 'token not yet valid'
            : claim === 'iss'
              ? 'token issuer not accepted'
              : claim === 'aud'
                ? 'token audience not accepted'
                : `token claim ${JSON.stringify(String(claim).slice(0, 20))} invalid`
      return Object.assign(refuse(reason), {signatureChecked: true})
    }
    if (error instanceof e.JWSSignatureVerificationFailed) return refuse('token signature invalid')
    if (error instanceof e.JWTInvalid) return Object.assign(refuse('token claims invalid'), {signatureChecked: true})
    return refuse('malformed token')
  }

  /** The key, re-read from the store at most once a second (so bad tokens cannot flood the store). */
  private async refreshKey(): Promise<SigningKey | undefined> {
    const now = Date.now()
    if (now - this.lastKeyLookup < 1000 && this.lastKeyLookup !== 0) return this.key
    this.lastKeyLookup = now
    await this.loadKey()
    return this.key
  }

  private async loadKey(): Promise<void> {
    const kv = await this.store.get(SIGNING_KEY_KEY)
    this.key = kv ? await this.importKey(kv.value) : undefined
  }

  private async importKey(text: string): Promise<SigningKey> {
    const jwk = parseJson(text) as (JWK & {kid?: string}) | undefined
    if (!jwk || typeof jwk !== 'object' || jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.kid !== 'string' || !jwk.d) {
      throw new RosterError(`${SIGNING_KEY_KEY}: the stored signing key is not an Ed25519 JWK`)
    }
    const {importJWK} = await jose()
    const {d, ...publicJwk} = jwk
    const privateKey = (await importJWK({...publicJwk, d, ext: false}, ALGORITHM)) as CryptoKey
    const publicKey = (await importJWK({...publicJwk, ext: true}, ALGORITHM)) as CryptoKey
    return {kid: jwk.kid, privateKey, publicKey}
  }

  /** The signing key, generated and stored on first use (compare on "absent": one key per store). */
  private async signingKey(): Promise<SigningKey> {
    if (this.key?.privateKey) return this.key
    await this.loadKey()
    if (this.key?.privateKey) return this.key
    const {generateKeyPair, exportJWK, calculateJwkThumbprint} = await jose()
    const pair = await generateKeyPair(ALGORITHM, {crv: 'Ed25519', extractable: true})
    const jwk = await exportJWK(pair.privateKey)
    const kid = await calculateJwkThumbprint({kty: jwk.kty, crv: jwk.crv, x: jwk.x} as JWK)
    const stored = JSON.stringify({...jwk, kid, alg: ALGORITHM, use: 'sig', createdAt: this.now().toISOString()})
    const result = await this.store.txn([{key: SIGNING_KEY_KEY, modRevision: 0}], [{type: 'put', key: SIGNING_KEY_KEY, value: stored}])
    // Lost a race with another first create: use the key that was stored.
    if (!result.succeeded) await this.loadKey()
    else this.key = await this.importKey(stored)
    if (!this.key) throw new RosterError(`${SIGNING_KEY_KEY}: the signing key could not be stored`)
    return this.key
  }
}
