/**
 * Who is calling: every request but those of routes marked `unauthenticated` carries a bearer
 * token, a roster machine token (verified by the TokenAuthority, then kept a few seconds in the
 * app's own VerifiedTokens) or an OpenID Provider's token (verified by the OidcVerifier). The
 * Caller it stands for goes on `request.caller`, for authorization.ts. Without a token
 * authority (auth `none`, loopback only) every caller is an admin.
 */
import type {FastifyRequest} from 'fastify'

import {type Caller, NO_TOKEN_MESSAGE} from '../auth/caller.js'
import {unverifiedIssuer} from '../auth/oidc-verifier.js'
import type {TokenAuthority} from '../auth/tokens.js'
import {NotAuthenticatedError} from '../errors.js'
import type {AppContext, ServeApp} from './app-context.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the authentication hook; absent on unauthenticated routes. */
    caller?: Caller
  }
  interface FastifyContextConfig {
    /**
     * A route that needs no token: `public` always (the OpenAPI document, the sign-in settings);
     * `health` always too (liveness and readiness: a kubelet's probe sends no token, as
     * kube-apiserver's own /healthz and /readyz take none; not logged); `probe` when serve listens
     * on loopback only (metrics; not logged).
     */
    unauthenticated?: 'public' | 'health' | 'probe'
  }
}

const ADMIN_WITHOUT_AUTH: Caller = {subject: '(auth none)', role: 'admin', namespaces: ['*'], kind: 'token'}

/** Adds the hook that authenticates every request before its body is read. */
export function addAuthentication(app: ServeApp, ctx: AppContext): void {
  const authenticate = ctx.tokens ? tokenAuthentication(ctx, ctx.tokens) : async () => ADMIN_WITHOUT_AUTH
  app.addHook('onRequest', async (request) => {
    const unauthenticated = request.routeOptions.config.unauthenticated
    if (unauthenticated === 'public' || unauthenticated === 'health' || (unauthenticated === 'probe' && ctx.loopback)) return
    request.caller = await authenticate(request)
  })
}

function tokenAuthentication(ctx: AppContext, tokens: TokenAuthority): (request: FastifyRequest) => Promise<Caller> {
  const verified = new VerifiedTokens(tokens)
  return async (request) => {
    const token = bearerToken(request.headers.authorization)
    if (ctx.oidc && unverifiedIssuer(token) !== tokens.issuer) return ctx.oidc.verify(token)
    const caller = await verified.verify(token)
    if (ctx.view.isRevoked(caller.subject))
      throw new NotAuthenticatedError(`not authenticated: token ${JSON.stringify(caller.subject)} revoked`)
    return caller
  }
}

/**
 * The token of an Authorization header: `Bearer TOKEN`, or a bare TOKEN with no scheme, which is
 * what Prometheus sends when a scrape config's `authorization:` leaves out `type` (a JWT has no
 * space, so it cannot be mistaken for another scheme's credentials).
 */
export function bearerToken(header: string | undefined): string {
  if (header === undefined || header.trim() === '') {
    throw new NotAuthenticatedError(NO_TOKEN_MESSAGE)
  }
  const match = /^\s*Bearer +(\S+)\s*$/i.exec(header) ?? /^\s*([A-Za-z0-9._~+/-]+=*)\s*$/.exec(header)
  if (!match) throw new NotAuthenticatedError('not authenticated: not a bearer token (the Authorization header must be "Bearer TOKEN")')
  if (match[1]!.toLowerCase() === 'bearer') throw new NotAuthenticatedError('not authenticated: no token after "Bearer"')
  return match[1]!
}

/** How long a verified token is taken as verified (never past its expiry). */
const VERIFIED_TTL_MS = 10_000
const MAX_VERIFIED = 10_000

/**
 * The machine tokens one app verified lately, so that a Prometheus scraping every few seconds
 * does not pay an EdDSA verification per request. An entry holds while the authority verifies
 * with the key it was verified against: a replaced or deleted signing key drops every entry at
 * once. Revocation is not cached: authenticate() checks the view on every request.
 */
class VerifiedTokens {
  private readonly entries = new Map<string, {caller: Caller; until: number; keyId: string | undefined}>()

  constructor(
    private readonly authority: TokenAuthority,
    private readonly now: () => number = Date.now,
  ) {}

  async verify(token: string): Promise<Caller> {
    const now = this.now()
    const entry = this.entries.get(token)
    if (entry && entry.until > now && entry.keyId === this.authority.keyId) return entry.caller
    const caller = await this.authority.verify(token)
    if (this.entries.size >= MAX_VERIFIED) this.entries.clear()
    this.entries.set(token, {caller, until: Math.min(now + VERIFIED_TTL_MS, expiryMs(token)), keyId: this.authority.keyId})
    return caller
  }
}

function expiryMs(token: string): number {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {exp?: unknown}
    return typeof payload.exp === 'number' ? payload.exp * 1000 : Number.POSITIVE_INFINITY
  } catch {
    return 0
  }
}
