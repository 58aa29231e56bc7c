/**
 * Signing people in to the console with the OpenID Provider serve trusts: the authorization-code
 * flow with PKCE (S256), a state and a nonce, through openid-client as `roster login` uses it
 * (auth/login.ts's providerConfig and loginFrom), with the redirect URI <public URL>/ui/auth/callback.
 *
 * The bearer a session sends to /v1 is what `roster login` would store: the JWT access token, or
 * the ID token when the access token is not a JWT. Who the person is (and whether they are admin)
 * is what serve's own verifier says of that token, the check every /v1 request makes again.
 */
import type {Configuration} from 'openid-client'

import type {Caller} from '../../auth/caller.js'
import {loginFrom, providerConfig} from '../../auth/login.js'
import {NotAuthenticatedError, firstLineOf} from '../../errors.js'
import type {PendingSignIn, SignedIn} from './session.js'

export const CALLBACK_PATH = '/ui/auth/callback'
/** Refresh the bearer when less than this remains. */
const REFRESH_MARGIN_MS = 30_000
const WANTED_SCOPES = ['openid', 'profile', 'email']

export interface WebSignInOptions {
  issuer: string
  clientId: string
  rolesClaim: string
  /** The origin people reach serve at (the redirect URI is built on it). */
  publicOrigin: () => string
  /** serve's own check of a person's token (the OidcVerifier of its authentication). */
  verify: (bearer: string) => Promise<Caller>
  timeoutMs?: number
}

type OpenIdClient = typeof import('openid-client')

export class WebSignIn {
  private provider?: Promise<{oidc: OpenIdClient; config: Configuration}>

  constructor(private readonly options: WebSignInOptions) {}

  get issuer(): string {
    return this.options.issuer
  }

  redirectUri(): string {
    return this.options.publicOrigin() + CALLBACK_PATH
  }

  /** The provider's discovery, once (again after a failure). */
  private discover(): Promise<{oidc: OpenIdClient; config: Configuration}> {
    this.provider ??= providerConfig(this.options.issuer, this.options.clientId, this.options.timeoutMs ?? 10_000).catch(
      (error: unknown) => {
        this.provider = undefined
        throw error
      },
    )
    return this.provider
  }

  /** The origin of the provider's authorization endpoint (the sign-in form is redirected there: CSP form-action). */
  async authorizationOrigin(): Promise<string> {
    const {config} = await this.discover()
    return new URL(config.serverMetadata().authorization_endpoint!).origin
  }

  /** Where to send the browser, and the sign-in to remember under `state`. */
  async start(next: string): Promise<{url: string; state: string; pending: PendingSignIn}> {
    const {oidc, config} = await this.discover()
    const verifier = oidc.randomPKCECodeVerifier()
    const state = oidc.randomState()
    const nonce = oidc.randomNonce()
    const supported = config.serverMetadata().scopes_supported
    const scope = WANTED_SCOPES.filter((s) => s === 'openid' || !supported || supported.includes(s)).join(' ')
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.redirectUri(),
      scope,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    })
    return {url: url.href, state, pending: {verifier, nonce, next, startedAt: Date.now()}}
  }

  /** Exchanges the callback's code; throws NotAuthenticatedError with the reason when the sign-in failed. */
  async finish(search: string, state: string, pending: PendingSignIn): Promise<SignedIn> {
    const {oidc, config} = await this.discover()
    const current = new URL(this.redirectUri() + search)
    const error = current.searchParams.get('error')
    if (error) {
      const description = current.searchParams.get('error_description')
      throw new NotAuthenticatedError(`the identity provider refused the sign-in: ${error}${description ? `: ${description}` : ''}`)
    }
    let response: Awaited<ReturnType<OpenIdClient['authorizationCodeGrant']>>
    try {
      response = await oidc.authorizationCodeGrant(
        config,
        current,
        {pkceCodeVerifier: pending.verifier, expectedState: state, expectedNonce: pending.nonce},
        {redirect_uri: this.redirectUri()},
      )
    } catch (e) {
      throw new NotAuthenticatedError(`the sign-in failed: ${grantReason(e)}`)
    }
    return this.signedIn(response)
  }

  needsRefresh(signedIn: SignedIn, now = Date.now()): boolean {
    return signedIn.bearerExpiresAt - now <= REFRESH_MARGIN_MS
  }

  /** New tokens for a session whose bearer expires soon; undefined when it cannot be refreshed. */
  async refresh(signedIn: SignedIn): Promise<SignedIn | undefined> {
    if (!signedIn.refreshToken) return undefined
    try {
      const {oidc, config} = await this.discover()
      const response = await oidc.refreshTokenGrant(config, signedIn.refreshToken)
      return await this.signedIn(response, signedIn.refreshToken)
    } catch {
      return undefined
    }
  }

  /** Revokes a session's refresh token at the provider, when it has one and the provider can. */
  async revoke(signedIn: SignedIn): Promise<void> {
    if (!signedIn.refreshToken) return
    try {
      const {oidc, config} = await this.discover()
      if (config.serverMetadata().revocation_endpoint)
        await oidc.tokenRevocation(config, signedIn.refreshToken, {token_type_hint: 'refresh_token'})
    } catch {
      // The session is gone either way; the refresh token then lives until it expires.
    }
  }

  private async signedIn(response: Parameters<typeof loginFrom>[0], previousRefresh?: string): Promise<SignedIn> {
    const login = loginFrom(response, {
      registry: '',
      issuer: this.options.issuer,
      clientId: this.options.clientId,
      rolesClaim: this.options.rolesClaim,
      flow: 'pkce',
    })
    const bearer = login.bearer === 'id_token' ? (login.idToken ?? '') : login.accessToken
    let caller: Caller
    try {
      caller = await this.options.verify(bearer)
    } catch (error) {
      throw new NotAuthenticatedError(
        `this server does not accept the identity provider's token for client ${this.options.clientId} (${firstLineOf(error).replace(/^not authenticated: /, '')})`,
      )
    }
    return {
      bearer,
      bearerExpiresAt: Date.parse(login.expiresAt),
      refreshToken: login.refreshToken ?? previousRefresh,
      subject: caller.subject,
      name: login.name ?? caller.subject,
      role: caller.role,
    }
  }
}

function grantReason(error: unknown): string {
  const e = error as {error?: string; error_description?: string}
  return e.error ? `${e.error}${e.error_description ? `: ${e.error_description}` : ''}` : firstLineOf(error)
}
