/**
 * `roster login` / `logout` / `auth status` and the stored login every remote command falls back
 * on. The flows are openid-client's (v6): authorization code + PKCE with a loopback
 * redirect, the device authorization grant, and the resource-owner password grant (for
 * compatibility with discovery). The provider and client id come from the registry's
 * GET /v1/auth/config, so a login needs nothing configured but the registry's URL.
 *
 * Tokens are secrets: they are stored (credentials.ts), sent to the registry, and never printed.
 */
import {spawn} from 'node:child_process'
import {createServer} from 'node:http'

import type {Configuration, TokenEndpointResponse, TokenEndpointResponseHelpers} from 'openid-client'

import {BackendUnavailableError, InvalidInputError, NotAuthenticatedError, firstLineOf, setting} from '../errors.js'
import {
  type StoredLogin,
  type LoadedLogin,
  deleteLogin,
  loadLogin,
  registryKey,
  saveLogin,
  updateLogin,
  withLoginLock,
} from './credentials.js'
import {readPemFile} from '../fs/input-file.js'
import {type AuthConfig, issuerUrl, rolesAt} from './oidc-verifier.js'

/** Refresh the bearer token when less than this remains. */
export const REFRESH_MARGIN_MS = 30_000
const SCOPE = 'openid profile offline_access'
/** How long a person has to finish signing in in the browser or on the device page. */
const SIGN_IN_LIMIT_MS = 10 * 60_000

type TokenResponse = TokenEndpointResponse & TokenEndpointResponseHelpers

export interface LoginOptions {
  registry: string
  registryCa?: string
  /** PEM file of the identity provider's CA (oidc-ca), kept with the login for its refreshes. */
  oidcCa?: string
  timeoutMs: number
  /** pkce (default on a desktop), device, or password (with username and password). */
  flow: 'pkce' | 'device' | 'password'
  openBrowser: boolean
  username?: string
  password?: string
  /** Lines for the person (stderr). */
  say: (line: string) => void
}

export interface LoginResult {
  registry: string
  subject: string
  name?: string
  roles: string[]
  expiresAt: string
  store: 'keychain' | 'file'
  where: string
  flow: StoredLogin['flow']
  /** The login this one replaced, when there was one: whether its refresh token was revoked at its provider. */
  replaced?: {revoked: boolean; warning?: string}
}

/** Whether a browser can be opened here: a desktop session, not a plain SSH login. */
export function browserAvailable(env: NodeJS.ProcessEnv = process.env): boolean {
  if (process.platform === 'darwin' || process.platform === 'win32') return !env.SSH_CONNECTION && !env.SSH_TTY
  return Boolean(env.DISPLAY || env.WAYLAND_DISPLAY)
}

/** GET /v1/auth/config of the registry. */
export async function fetchAuthConfig(
  registry: string,
  o: {registryCa?: string; timeoutMs: number},
): Promise<Required<Pick<AuthConfig, 'issuer' | 'clientId'>> & AuthConfig> {
  const {remoteBaseUrl} = await import('../registry/remote-registry.js')
  const base = remoteBaseUrl(registry)
  const ca = o.registryCa ? readPemFile(o.registryCa, {field: 'registry-ca'}) : undefined
  const {JsonHttpClient} = await import('../http/json-client.js')
  const http = new JsonHttpClient({
    baseUrl: base.origin + base.pathname.replace(/\/+$/, ''),
    what: 'roster serve',
    timeoutMs: o.timeoutMs,
    ca,
  })
  const config = (await http.get<AuthConfig>('/v1/auth/config')).body
  if (!config?.issuer || !config.clientId) {
    throw new InvalidInputError(
      `registry ${base.origin}: its server has no identity provider (its roster serve has no oidc-issuer and oidc-client-id), so there is nothing to log in to; use a machine token (roster token create)`,
      {field: 'registry'},
    )
  }
  return config as Required<Pick<AuthConfig, 'issuer' | 'clientId'>> & AuthConfig
}

/**
 * openid-client's configuration for the provider (plain http only for a loopback issuer); with
 * `ca` (PEM), every request to the provider trusts it. A certificate not trusted is exit 2,
 * naming oidc-ca; an unreachable provider exit 3.
 */
export async function providerConfig(
  issuer: string,
  clientId: string,
  timeoutMs: number,
  ca?: string | Buffer,
): Promise<{oidc: typeof import('openid-client'); config: Configuration}> {
  const url = issuerUrl(issuer, 'issuer')
  const oidc = await import('openid-client')
  const {fetchTrusting, isTlsTrustError, tlsTrustProblem} = await import('../http/fetch-trusting.js')
  const insecure = url.protocol === 'http:'
  try {
    const config = await oidc.discovery(url, clientId, undefined, oidc.None(), {
      ...(insecure ? {execute: [oidc.allowInsecureRequests]} : {}),
      ...(ca ? {[oidc.customFetch]: fetchTrusting(ca) as never} : {}),
      timeout: Math.max(1, Math.ceil(timeoutMs / 1000)),
    })
    return {oidc, config}
  } catch (error) {
    if (isTlsTrustError(error)) {
      const how = ca ? 'the CA of oidc-ca does not sign its certificate' : `trust its CA with ${setting('oidc-ca')}`
      throw new InvalidInputError(`identity provider ${url.origin}: TLS verification failed (${tlsTrustProblem(error)}); ${how}`, {
        field: 'oidc-ca',
      })
    }
    throw new BackendUnavailableError(`identity provider ${url.origin} unavailable: ${firstLineOf(error)}`)
  }
}

function decodePayload(jwt: string | undefined): Record<string, unknown> | undefined {
  const parts = jwt?.split('.')
  if (!parts || parts.length !== 3) return undefined
  try {
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as unknown
    return payload && typeof payload === 'object' ? (payload as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

/** A StoredLogin from a token response (after a login or a refresh; the console keeps one per session). */
export function loginFrom(
  response: TokenResponse,
  base: Pick<StoredLogin, 'registry' | 'issuer' | 'clientId' | 'rolesClaim' | 'flow' | 'providerCa'> & {previous?: StoredLogin},
): StoredLogin {
  const accessPayload = decodePayload(response.access_token)
  const idToken = response.id_token ?? base.previous?.idToken
  const bearer: StoredLogin['bearer'] = accessPayload ? 'access_token' : 'id_token'
  const bearerPayload = accessPayload ?? decodePayload(idToken)
  if (!bearerPayload) {
    throw new NotAuthenticatedError(
      'the identity provider returned neither a JWT access token nor an ID token; roster serve needs one of them',
    )
  }
  const idPayload = decodePayload(idToken) ?? {}
  const exp = typeof bearerPayload.exp === 'number' ? bearerPayload.exp * 1000 : Date.now() + (response.expires_in ?? 300) * 1000
  const pick = (...values: unknown[]) => values.find((v): v is string => typeof v === 'string' && v !== '')
  return {
    registry: base.registry,
    issuer: base.issuer,
    clientId: base.clientId,
    rolesClaim: base.rolesClaim,
    accessToken: response.access_token,
    bearer,
    idToken,
    refreshToken: response.refresh_token ?? base.previous?.refreshToken,
    expiresAt: new Date(exp).toISOString(),
    subject: String(bearerPayload.sub ?? idPayload.sub ?? ''),
    name: pick(idPayload.name, idPayload.preferred_username, idPayload.email, bearerPayload.name, bearerPayload.preferred_username),
    roles: rolesAt(bearerPayload, base.rolesClaim),
    flow: base.flow,
    ...(base.providerCa ? {providerCa: base.providerCa} : {}),
  }
}

export function bearerOf(login: StoredLogin): string {
  return login.bearer === 'id_token' ? (login.idToken ?? '') : login.accessToken
}

export async function login(o: LoginOptions): Promise<LoginResult> {
  const registry = registryKey((await import('../registry/remote-registry.js')).remoteBaseUrl(o.registry).href)
  const providerCa = o.oidcCa ? readPemFile(o.oidcCa, {field: 'oidc-ca'}).toString() : undefined
  const auth = await fetchAuthConfig(registry, o)
  const {oidc, config} = await providerConfig(auth.issuer, auth.clientId, o.timeoutMs, providerCa)
  let response: TokenResponse
  if (o.flow === 'password') response = await passwordGrant(oidc, config, o)
  else if (o.flow === 'device') response = await deviceGrant(oidc, config, o)
  else response = await pkceGrant(oidc, config, o)
  const stored = loginFrom(response, {
    registry,
    issuer: auth.issuer,
    clientId: auth.clientId,
    rolesClaim: auth.rolesClaim ?? 'roles',
    flow: o.flow,
    providerCa,
  })
  // The login this one replaces: its refresh token is revoked once the new login is stored.
  const previous = await loadLogin(registry).catch(() => undefined)
  const saved = await saveLogin(stored)
  if (saved.store === 'file') {
    o.say(`warning: no keychain (Secret Service) answered; the login is stored in ${saved.where} (mode 0600)`)
  }
  const replaced = previous ? await revokeReplaced(previous.login, stored, o.timeoutMs) : undefined
  if (replaced?.warning) o.say(`warning: ${replaced.warning}`)
  return {
    registry,
    subject: stored.subject,
    name: stored.name,
    roles: stored.roles,
    expiresAt: stored.expiresAt,
    store: saved.store,
    where: saved.where,
    flow: stored.flow,
    ...(replaced ? {replaced} : {}),
  }
}

/**
 * Revokes the refresh token of the login `next` replaced (RFC 7009, at the provider that issued
 * it), so that a sign-in left on a machine does not stay usable after the next one. A provider
 * without a revocation endpoint, or one that cannot be reached, leaves it valid until it expires:
 * a warning, not a failure (the new login is stored).
 */
async function revokeReplaced(old: StoredLogin, next: StoredLogin, timeoutMs: number): Promise<{revoked: boolean; warning?: string}> {
  if (!old.refreshToken || old.refreshToken === next.refreshToken) return {revoked: false}
  return revokeRefreshToken(old, timeoutMs, 'the refresh token of the previous login')
}

/** Revokes a login's refresh token at its provider; a warning naming `what` when it cannot be. */
async function revokeRefreshToken(login: StoredLogin, timeoutMs: number, what: string): Promise<{revoked: boolean; warning?: string}> {
  try {
    const {oidc, config} = await providerConfig(login.issuer, login.clientId, timeoutMs, login.providerCa)
    if (!config.serverMetadata().revocation_endpoint) {
      return {revoked: false, warning: `the identity provider has no revocation endpoint: ${what} stays valid until it expires`}
    }
    await oidc.tokenRevocation(config, login.refreshToken!, {token_type_hint: 'refresh_token'})
    return {revoked: true}
  } catch (error) {
    return {revoked: false, warning: `${what} could not be revoked (${firstLineOf(error)}); it stays valid until it expires`}
  }
}

function grantError(error: unknown): NotAuthenticatedError {
  const e = error as {error?: string; error_description?: string; message?: string}
  const reason = e.error ? `${e.error}${e.error_description ? `: ${e.error_description}` : ''}` : firstLineOf(error)
  return new NotAuthenticatedError(`login failed: ${reason}`)
}

async function passwordGrant(oidc: typeof import('openid-client'), config: Configuration, o: LoginOptions): Promise<TokenResponse> {
  if (!o.username) throw InvalidInputError.forField('username', '', 'is required for the password grant')
  if (!o.password) throw InvalidInputError.forField('password', '', 'is empty')
  try {
    return await oidc.genericGrantRequest(config, 'password', {username: o.username, password: o.password, scope: SCOPE})
  } catch (error) {
    throw grantError(error)
  }
}

async function deviceGrant(oidc: typeof import('openid-client'), config: Configuration, o: LoginOptions): Promise<TokenResponse> {
  if (!config.serverMetadata().device_authorization_endpoint) {
    throw new InvalidInputError(
      `the identity provider has no device authorization endpoint; log in with a browser (without ${setting('device')}) or with ${setting('username')}`,
    )
  }
  let start: Awaited<ReturnType<typeof oidc.initiateDeviceAuthorization>>
  try {
    start = await oidc.initiateDeviceAuthorization(config, {scope: SCOPE})
  } catch (error) {
    throw grantError(error)
  }
  o.say(`To sign in, open ${start.verification_uri} and enter the code ${start.user_code}`)
  if (start.verification_uri_complete) o.say(`(or open ${start.verification_uri_complete})`)
  o.say('Waiting for the sign-in to finish...')
  try {
    return await oidc.pollDeviceAuthorizationGrant(config, start, undefined, {
      signal: AbortSignal.timeout(Math.min(SIGN_IN_LIMIT_MS, (start.expires_in ?? 600) * 1000)),
    })
  } catch (error) {
    throw grantError(error)
  }
}

async function pkceGrant(oidc: typeof import('openid-client'), config: Configuration, o: LoginOptions): Promise<TokenResponse> {
  const verifier = oidc.randomPKCECodeVerifier()
  const challenge = await oidc.calculatePKCECodeChallenge(verifier)
  const state = oidc.randomState()
  let settle!: {resolve: (url: URL) => void; reject: (error: Error) => void}
  const callback = new Promise<URL>((resolve, reject) => (settle = {resolve, reject}))
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://127.0.0.1`)
    if (req.method !== 'GET' || url.pathname !== '/callback') {
      res.writeHead(404, {'content-type': 'text/plain; charset=utf-8'}).end('not found\n')
      return
    }
    if (url.searchParams.get('state') !== state) {
      res.writeHead(400, {'content-type': 'text/plain; charset=utf-8'}).end('This is not the sign-in roster started.\n')
      return
    }
    const failed = url.searchParams.get('error')
    res
      .writeHead(failed ? 400 : 200, {'content-type': 'text/html; charset=utf-8', connection: 'close'})
      .end(failed ? '<p>Sign-in failed; see the terminal.</p>\n' : '<p>Signed in to roster. You can close this tab.</p>\n')
    settle.resolve(url)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  const redirectUri = `http://127.0.0.1:${port}/callback`
  const timer = setTimeout(
    () => settle.reject(new NotAuthenticatedError('login failed: the sign-in was not finished within 10 minutes')),
    SIGN_IN_LIMIT_MS,
  )
  try {
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: SCOPE,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state,
      prompt: 'consent',
    })
    o.say(`Open this URL to sign in: ${url.href}`)
    if (o.openBrowser) openBrowser(url.href)
    const current = await callback
    const error = current.searchParams.get('error')
    if (error)
      throw new NotAuthenticatedError(
        `login failed: ${error}${current.searchParams.get('error_description') ? `: ${current.searchParams.get('error_description')}` : ''}`,
      )
    // openid-client compares the redirect URI of the token request with this one.
    const currentUrl = new URL(`${redirectUri}${current.search}`)
    try {
      return await oidc.authorizationCodeGrant(
        config,
        currentUrl,
        {pkceCodeVerifier: verifier, expectedState: state},
        {redirect_uri: redirectUri},
      )
    } catch (e) {
      throw grantError(e)
    }
  } finally {
    clearTimeout(timer)
    server.closeAllConnections()
    server.close()
  }
}

function openBrowser(url: string): void {
  const [cmd, args] =
    process.platform === 'darwin'
      ? ['open', [url]]
      : process.platform === 'win32'
        ? ['cmd', ['/c', 'start', '""', url]]
        : ['xdg-open', [url]]
  try {
    const child = spawn(cmd, args, {stdio: 'ignore', detached: true})
    child.on('error', () => undefined)
    child.unref()
  } catch {
    // The URL is printed; the person opens it.
  }
}

/** Refreshes a login whose bearer token expires within REFRESH_MARGIN_MS; stores the new tokens. */
export async function freshLogin(loaded: LoadedLogin, timeoutMs: number): Promise<StoredLogin> {
  if (!expiresSoon(loaded.login)) return loaded.login
  // One refresh at a time across processes; the login is read again under the lock, since
  // another process may have refreshed (and the provider rotated) it meanwhile.
  return withLoginLock(async () => {
    const latest = (await loadLogin(loaded.login.registry)) ?? loaded
    if (!expiresSoon(latest.login)) return latest.login
    return refreshLogin(latest.login, timeoutMs)
  })
}

function expiresSoon(login: StoredLogin): boolean {
  return Date.parse(login.expiresAt) - Date.now() <= REFRESH_MARGIN_MS
}

async function refreshLogin(current: StoredLogin, timeoutMs: number): Promise<StoredLogin> {
  const expired = (reason: string) =>
    new NotAuthenticatedError(
      `not signed in: your login at ${current.registry} has expired and ${reason}; run roster login ${setting('registry')} ${current.registry}, or pass ${setting('token')} (or ROSTER_TOKEN)`,
    )
  if (!current.refreshToken) throw expired('cannot be refreshed (no refresh token)')
  const {oidc, config} = await providerConfig(current.issuer, current.clientId, timeoutMs, current.providerCa).catch((error: unknown) => {
    throw expired(`could not be refreshed (${firstLineOf(error)})`)
  })
  let response: TokenResponse
  try {
    response = await oidc.refreshTokenGrant(config, current.refreshToken)
  } catch (error) {
    throw expired(`could not be refreshed (${firstLineOf(grantError(error)).replace(/^login failed: /, '')})`)
  }
  const next = loginFrom(response, {...current, previous: current})
  await updateLogin(next)
  return next
}

/** Logins this process has loaded, so that a long-running command reads the store only to refresh. */
const current = new Map<string, StoredLogin>()

export async function storedBearer(registry: string, timeoutMs: number): Promise<string | undefined> {
  const key = registryKey(registry)
  const known = current.get(key)
  if (known && Date.parse(known.expiresAt) - Date.now() > REFRESH_MARGIN_MS) return bearerOf(known)
  // Reloaded before a refresh: another roster process may have refreshed (and rotated) it already.
  let loaded: LoadedLogin | undefined
  try {
    loaded = await loadLogin(key)
  } catch (error) {
    if (error instanceof InvalidInputError) return undefined
    throw error
  }
  if (!loaded) return undefined
  const fresh = await freshLogin(loaded, timeoutMs)
  current.set(key, fresh)
  return bearerOf(fresh)
}

export interface LogoutResult {
  registry: string
  loggedOut: boolean
  /** Whether the provider revoked the refresh token. */
  revoked: boolean
  warning?: string
}

export async function logout(registry: string, timeoutMs: number): Promise<LogoutResult> {
  const key = registryKey((await import('../registry/remote-registry.js')).remoteBaseUrl(registry).href)
  let revoked = false
  let warning: string | undefined
  const loaded = await loadLogin(key).catch((error: unknown) => {
    warning = `the stored login could not be read (${firstLineOf(error)}); its refresh token is not revoked`
    return undefined
  })
  if (loaded?.login.refreshToken) {
    const outcome = await revokeRefreshToken(loaded.login, timeoutMs, 'the refresh token')
    revoked = outcome.revoked
    warning ??= outcome.warning
  }
  const loggedOut = await deleteLogin(key)
  return {registry: key, loggedOut, revoked, ...(warning ? {warning} : {})}
}

export interface AuthStatus {
  registry: string
  loggedIn: boolean
  subject?: string
  name?: string
  roles?: string[]
  issuer?: string
  expiresAt?: string
  expired?: boolean
  refreshable?: boolean
  store?: 'keychain' | 'file'
  where?: string
  flow?: StoredLogin['flow']
}

export async function authStatus(registry: string): Promise<AuthStatus> {
  const key = registryKey((await import('../registry/remote-registry.js')).remoteBaseUrl(registry).href)
  const loaded = await loadLogin(key)
  if (!loaded) return {registry: key, loggedIn: false}
  const l = loaded.login
  return {
    registry: key,
    loggedIn: true,
    subject: l.subject,
    name: l.name,
    roles: l.roles,
    issuer: l.issuer,
    expiresAt: l.expiresAt,
    expired: Date.parse(l.expiresAt) <= Date.now(),
    refreshable: Boolean(l.refreshToken),
    store: loaded.store,
    where: loaded.where,
    flow: l.flow,
  }
}
