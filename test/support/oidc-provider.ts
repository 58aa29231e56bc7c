/**
 * A real OpenID Provider for the login tests: `oidc-provider` 8.8 (OpenID-certified) on a free
 * loopback port, with one public native client (`roster-cli`: code + PKCE with any loopback
 * port, the device flow, refresh, and a test-only password grant), JWT access tokens for the
 * resource `AUDIENCE` (the roles are a claim in them), revocation, and the provider's own
 * development login and consent pages (any password but the account's is refused).
 *
 * `playBrowser(url, user)` is the person at the browser: plain HTTP requests that follow
 * redirects, keep cookies and submit the login, consent and device-confirmation forms.
 *
 * One EC P-256 key per test process (RSA generation is slow here); `sign()` signs tokens with it
 * so that tests can make expired or wrong-audience tokens the provider would never issue.
 *
 * With `tls` (a certificate a test CA signs), the provider serves HTTPS: a provider with a private
 * CA, which clients reach only when told to trust that CA.
 */
import {createServer, type Server} from 'node:http'
import {createServer as createHttpsServer, request as httpsRequest} from 'node:https'
import type {AddressInfo} from 'node:net'
import path from 'node:path'

import {SignJWT, exportJWK, generateKeyPair, type JWK, type JWTPayload} from 'jose'

import {type InProcessServe, type ServeProcess, startServe, startServeInProcess} from './serve-server.js'

export const CLIENT_ID = 'roster-cli'
/** The console's client (startOidcProvider's `consoleRedirectUris`): a public web client, code + PKCE. */
export const CONSOLE_CLIENT_ID = 'roster-console'
export const AUDIENCE = 'https://roster.test/api'
export const ADMIN_ROLE = 'roster-admin'

export interface TestUser {
  password: string
  name: string
  email: string
  roles: string[]
}

export const USERS: Record<string, TestUser> = {
  alice: {password: 'alice-Pa55-word', name: 'Alice Admin', email: 'alice@roster.test', roles: [ADMIN_ROLE, 'staff']},
  bob: {password: 'bob-Pa55-word', name: 'Bob Viewer', email: 'bob@roster.test', roles: ['staff']},
}

/* eslint-disable @typescript-eslint/no-explicit-any */
interface KoaContext {
  method: string
  path: string
  status: number
  body: unknown
  req: any
  request: any
  oidc: {params: Record<string, string | undefined>; client?: {clientId: string}; provider: Record<string, any>}
}
interface OidcProviderModule {
  default: new (
    issuer: string,
    config: object,
  ) => {
    use(middleware: (ctx: KoaContext, next: () => Promise<void>) => Promise<void>): void
    registerGrantType(name: string, handler: (ctx: KoaContext, next: () => Promise<void>) => Promise<void>, params: Set<string>): void
    callback(): (req: any, res: any) => void
  }
  errors: {InvalidGrant: new (message: string) => Error}
}
/* eslint-enable @typescript-eslint/no-explicit-any */

export interface OidcProviderServer {
  issuer: string
  stop(): Promise<void>
  /** Signs a JWT with the provider's own key (kid included). */
  sign(payload: JWTPayload, o?: {expiresIn?: string | number}): Promise<string>
  /** The public JWK the provider publishes. */
  publicJwk: JWK
  /** Whether a refresh token still works at the provider (a refresh_token grant succeeds; a rotating provider then replaces it). */
  refreshWorks(refreshToken: string): Promise<boolean>
  /** Whether the provider still holds a refresh token as valid, looked up in its store without using it. */
  refreshTokenActive(refreshToken: string): Promise<boolean>
}

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey']
let keyPromise: Promise<{privateJwk: JWK; publicJwk: JWK; privateKey: PrivateKey}> | undefined
function processKey() {
  keyPromise ??= (async () => {
    const {privateKey, publicKey} = await generateKeyPair('ES256', {extractable: true})
    const kid = 'test-es256'
    return {
      privateKey,
      privateJwk: {...(await exportJWK(privateKey)), kid, alg: 'ES256', use: 'sig'},
      publicJwk: {...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig'},
    }
  })()
  return keyPromise
}

export async function startOidcProvider(
  o: {accessTokenTtl?: number; consoleRedirectUris?: string[]; tls?: {cert: Buffer; key: Buffer; ca: Buffer}} = {},
): Promise<OidcProviderServer> {
  // oidc-provider ships no types: the little used here is typed below.
  const {default: Provider, errors} = (await import('oidc-provider' as string)) as OidcProviderModule
  const key = await processKey()
  const ttl = o.accessTokenTtl ?? 600
  const http: Server = o.tls ? createHttpsServer({cert: o.tls.cert, key: o.tls.key}) : createServer()
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  const issuer = `${o.tls ? 'https' : 'http'}://127.0.0.1:${(http.address() as AddressInfo).port}`

  const account = (id: string) => {
    const user = USERS[id]
    if (!user) return undefined
    return {
      accountId: id,
      claims: async () => ({sub: id, name: user.name, preferred_username: id, roles: user.roles}),
    }
  }
  const resourceServer = {
    scope: 'api',
    audience: AUDIENCE,
    accessTokenFormat: 'jwt' as const,
    accessTokenTTL: ttl,
    jwt: {sign: {alg: 'ES256'}},
  }

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        token_endpoint_auth_method: 'none',
        application_type: 'native',
        redirect_uris: ['http://127.0.0.1/callback'],
        grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code', 'password'],
        response_types: ['code'],
        id_token_signed_response_alg: 'ES256',
      },
      ...(o.consoleRedirectUris
        ? [
            {
              client_id: CONSOLE_CLIENT_ID,
              token_endpoint_auth_method: 'none',
              application_type: 'web',
              redirect_uris: o.consoleRedirectUris,
              grant_types: ['authorization_code', 'refresh_token'],
              response_types: ['code'],
              id_token_signed_response_alg: 'ES256',
            },
          ]
        : []),
    ],
    jwks: {keys: [key.privateJwk]},
    findAccount: async (_ctx: unknown, id: string) => account(id),
    claims: {openid: ['sub'], profile: ['name', 'preferred_username', 'roles']},
    scopes: ['openid', 'offline_access', 'profile'],
    issueRefreshToken: async (_ctx: unknown, client: {grantTypeAllowed(t: string): boolean}) => client.grantTypeAllowed('refresh_token'),
    extraTokenClaims: async (_ctx: unknown, token: {accountId?: string}) =>
      // The e-mail too, as providers that put it in access tokens do: roster's history records it.
      token.accountId && USERS[token.accountId] ? {roles: USERS[token.accountId]!.roles, email: USERS[token.accountId]!.email} : undefined,
    features: {
      devInteractions: {enabled: true},
      deviceFlow: {enabled: true},
      revocation: {enabled: true},
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => AUDIENCE,
        useGrantedResource: async () => true,
        getResourceServerInfo: async () => resourceServer,
      },
    },
    pkce: {required: () => true},
    cookies: {keys: ['roster-test-cookie-key']},
    ttl: {AccessToken: ttl, IdToken: ttl, DeviceCode: 600, Session: 3600, Interaction: 600, Grant: 3600, RefreshToken: 3600},
  } as never)

  // The dev login form takes any password; this checks it, so that a wrong password is refused.
  provider.use(async (ctx, next) => {
    if (ctx.method === 'POST' && /^\/interaction\/[^/]+\/login$/.test(ctx.path)) {
      const {default: raw} = await import('node:stream/consumers')
      const text = await raw.text(ctx.req)
      const form = new URLSearchParams(text)
      const user = USERS[form.get('login') ?? '']
      if (!user || user.password !== form.get('password')) {
        ctx.status = 401
        ctx.body = 'wrong user name or password'
        return
      }
      // Hand the body on to the provider's own parser.
      const {Readable} = await import('node:stream')
      const replay = Readable.from([Buffer.from(text)]) as unknown as typeof ctx.req
      Object.assign(replay, {headers: ctx.req.headers, method: ctx.req.method, url: ctx.req.url})
      ctx.req = replay
      ;(ctx.request as {req: unknown}).req = replay
    }
    await next()
    // oidc-provider sends no interval; without one openid-client waits 5 s between polls.
    if (ctx.path === '/device/auth' && ctx.body && typeof ctx.body === 'object') (ctx.body as Record<string, unknown>).interval = 1
  })

  // A test-only resource-owner password grant (oidc-provider has none).
  provider.registerGrantType(
    'password',
    async (ctx, next) => {
      const params = ctx.oidc.params as {username?: string; password?: string; scope?: string}
      const user = USERS[params.username ?? '']
      if (!user || user.password !== params.password) throw new errors.InvalidGrant('wrong user name or password')
      const client = ctx.oidc.client!
      const {AccessToken, IdToken, RefreshToken, Grant, ResourceServer} = ctx.oidc.provider as unknown as Record<
        string,
        new (...a: never[]) => never
      >
      const scope = (params.scope ?? 'openid').split(' ').filter((s) => ['openid', 'profile', 'offline_access'].includes(s))
      const grant = new (
        Grant as unknown as new (o: object) => {
          addOIDCScope(s: string): void
          addResourceScope(r: string, s: string): void
          save(): Promise<string>
        }
      )({
        accountId: params.username,
        clientId: client.clientId,
      })
      grant.addOIDCScope(scope.join(' '))
      grant.addResourceScope(AUDIENCE, 'api')
      const grantId = await grant.save()
      const at = new (
        AccessToken as unknown as new (o: object) => {
          resourceServer: unknown
          scope: string
          save(): Promise<string>
          expiration: number
          tokenType: string
        }
      )({
        accountId: params.username,
        client,
        grantId,
        gty: 'password',
      })
      at.resourceServer = new (ResourceServer as unknown as new (r: string, i: object) => unknown)(AUDIENCE, resourceServer)
      at.scope = 'api'
      const accessToken = await at.save()
      const rt = new (RefreshToken as unknown as new (o: object) => {save(): Promise<string>})({
        accountId: params.username,
        client,
        grantId,
        gty: 'password',
        resource: AUDIENCE,
        rotations: 0,
        scope: scope.join(' '),
      })
      const refreshToken = await rt.save()
      const claims = await account(params.username!)!.claims()
      const id = new (IdToken as unknown as new (c: object, o: object) => {scope: string; issue(o: object): Promise<string>})(claims, {ctx})
      id.scope = scope.join(' ')
      const idToken = await id.issue({use: 'idtoken'})
      ctx.body = {
        access_token: accessToken,
        expires_in: at.expiration,
        id_token: idToken,
        refresh_token: refreshToken,
        scope: scope.join(' '),
        token_type: at.tokenType,
      }
      await next()
    },
    new Set(['username', 'password', 'scope']),
  )

  http.on('request', provider.callback())
  return {
    issuer,
    publicJwk: key.publicJwk,
    stop: async () => {
      http.closeAllConnections()
      await new Promise<void>((resolve) => http.close(() => resolve()))
    },
    sign: async (payload, so = {}) => {
      const jwt = new SignJWT(payload).setProtectedHeader({alg: 'ES256', kid: key.privateJwk.kid!, typ: 'at+jwt'}).setIssuedAt()
      if (so.expiresIn !== undefined) jwt.setExpirationTime(so.expiresIn)
      return jwt.sign(key.privateKey)
    },
    refreshWorks: async (refreshToken) => {
      const body = new URLSearchParams({grant_type: 'refresh_token', refresh_token: refreshToken, client_id: CLIENT_ID}).toString()
      const headers = {'content-type': 'application/x-www-form-urlencoded'}
      if (!o.tls) return (await fetch(`${issuer}/token`, {method: 'POST', headers, body})).ok
      return new Promise<boolean>((resolve, reject) => {
        const req = httpsRequest(`${issuer}/token`, {method: 'POST', headers, ca: o.tls!.ca}, (res) => {
          res.resume()
          res.on('end', () => resolve((res.statusCode ?? 500) < 300))
        })
        req.on('error', reject)
        req.end(body)
      })
    },
    refreshTokenActive: async (refreshToken) => {
      const {RefreshToken} = provider as unknown as {
        RefreshToken: {find(value: string): Promise<{isExpired: boolean; consumed?: unknown} | undefined>}
      }
      const token = await RefreshToken.find(refreshToken)
      return token !== undefined && !token.isExpired && !token.consumed
    },
  }
}

/** Plays the person at the browser from `startUrl` to the end (the CLI's callback, or the device success page). */
export async function playBrowser(
  startUrl: string,
  user: {login: string; password: string; userCode?: string},
): Promise<{status: number; text: string; url: string}> {
  const jar = new Map<string, string>()
  let url = new URL(startUrl)
  let method = 'GET'
  let body: string | undefined
  for (let step = 0; step < 40; step++) {
    const headers: Record<string, string> = {}
    if (jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ')
    if (body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded'
    const response = await fetch(url, {method, headers, body, redirect: 'manual'})
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(';')
      const eq = pair!.indexOf('=')
      const value = pair!.slice(eq + 1)
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(cookie)) jar.delete(pair!.slice(0, eq))
      else jar.set(pair!.slice(0, eq), value)
    }
    const location = response.headers.get('location')
    if (response.status >= 300 && response.status < 400 && location) {
      await response.arrayBuffer()
      url = new URL(location, url)
      method = 'GET'
      body = undefined
      continue
    }
    const text = await response.text()
    const form = /<form\b[^>]*>([\s\S]*?)<\/form>/i.exec(text)
    if (!form || response.status >= 400) return {status: response.status, text, url: url.href}
    const action = /action="([^"]*)"/i.exec(form[0])?.[1] ?? url.pathname
    const fields = new URLSearchParams()
    for (const input of form[1]!.matchAll(/<input\b[^>]*>/gi)) {
      const name = /name="([^"]*)"/i.exec(input[0])?.[1]
      if (!name) continue
      const value = /value="([^"]*)"/i.exec(input[0])?.[1] ?? ''
      if (name === 'login') fields.set(name, user.login)
      else if (name === 'password') fields.set(name, user.password)
      else if (name === 'user_code' && value === '' && user.userCode) fields.set(name, user.userCode)
      else fields.set(name, value.replace(/&amp;/g, '&'))
    }
    // The device confirmation page has a "Continue" button named confirm (and an abort one).
    if (/name="confirm"/.test(form[1]!) && !fields.has('confirm')) fields.set('confirm', 'yes')
    url = new URL(action.replace(/&amp;/g, '&'), url)
    method = 'POST'
    body = fields.toString()
  }
  throw new Error(`the browser did not finish within 40 steps (at ${url.href})`)
}

/**
 * A provider (with `o.provider`'s options) and a `roster serve` (on a new SQLite registry under
 * `dir`) that trusts it: `o.adminRoles` (default `ADMIN_ROLE`) its admin roles, `o.args` more of
 * its flags.
 */
export function startOidcServe(
  dir: string,
  o: {provider?: Parameters<typeof startOidcProvider>[0]; adminRoles?: string; args?: string[]} = {},
): Promise<{provider: OidcProviderServer; serve: ServeProcess; stop(): Promise<void>}> {
  return withProvider(o.provider, (issuer) =>
    startServe({
      registry: `sqlite:${path.join(dir, 'registry.db')}`,
      args: [
        '--oidc-issuer',
        issuer,
        '--oidc-client-id',
        CLIENT_ID,
        '--oidc-audience',
        AUDIENCE,
        '--oidc-admin-roles',
        o.adminRoles ?? ADMIN_ROLE,
        ...(o.args ?? []),
      ],
    }),
  )
}

/**
 * The same serve in this process (startServeInProcess, with the options those `--oidc-*` flags
 * give), for a test that asks it HTTP only: `o.adminRoles` (default `ADMIN_ROLE`),
 * `o.clockSkew` its `--oidc-clock-skew`.
 */
export function startOidcServeInProcess(
  dir: string,
  o: {provider?: Parameters<typeof startOidcProvider>[0]; adminRoles?: string[]; clockSkew?: string} = {},
): Promise<{provider: OidcProviderServer; serve: InProcessServe; stop(): Promise<void>}> {
  return withProvider(o.provider, async (issuer) => {
    // Loaded here: it loads oclif, which the files that start no serve here never need.
    const {oidcOptionsOf} = await import('../../src/command/oidc-flags.js')
    return startServeInProcess({
      registry: `sqlite:${path.join(dir, 'registry.db')}`,
      oidc: oidcOptionsOf({
        'oidc-issuer': issuer,
        'oidc-client-id': CLIENT_ID,
        'oidc-audience': AUDIENCE,
        'oidc-admin-roles': o.adminRoles ?? [ADMIN_ROLE],
        'oidc-clock-skew': o.clockSkew,
      }),
    })
  })
}

/** A provider and the serve `start` starts trusting it; the provider stops if the serve does not start. */
async function withProvider<S extends {stop(): Promise<unknown>}>(
  options: Parameters<typeof startOidcProvider>[0],
  start: (issuer: string) => Promise<S>,
): Promise<{provider: OidcProviderServer; serve: S; stop(): Promise<void>}> {
  const provider = await startOidcProvider(options)
  try {
    const serve = await start(provider.issuer)
    return {
      provider,
      serve,
      stop: async () => {
        await serve.stop()
        await provider.stop()
      },
    }
  } catch (error) {
    await provider.stop()
    throw error
  }
}
