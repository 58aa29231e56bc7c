/**
 * The web console under /ui/: read-only pages rendered on the server, a built stylesheet and a
 * small script (assets.ts), and the sign-in with the OpenID Provider serve trusts (sign-in.ts,
 * session.ts).
 *
 * No new way in: a page reads the registry only through GET requests to serve's own /v1 routes
 * (v1.ts), with the signed-in person's provider token as the bearer, so the same authentication
 * and the same withAccess rules decide what it shows; a refusal there is the page's refusal. The
 * /ui routes themselves are `unauthenticated: 'public'` for the bearer-token hook only: without a
 * session they answer nothing but the sign-in. With auth `none` (loopback only) nobody signs in
 * and the /v1 requests carry no token, as for any client of such a server.
 *
 * Every answer carries a strict Content-Security-Policy (scripts, styles and images from serve
 * only, nothing inline, no eval; the sign-in form may go to the provider), X-Frame-Options DENY,
 * frame-ancestors 'none' and a same-origin Referrer-Policy. Pages are Cache-Control: no-store, so
 * that after sign-out the back button asks serve again; assets are cached for a year by name.
 */
import type {FastifyInstance, FastifyReply, FastifyRequest} from 'fastify'

import {BackendUnavailableError, NotAuthenticatedError, firstLineOf} from '../../errors.js'
import type {AppContext, ServeApp} from '../app-context.js'
import {httpError} from '../http-error.js'
import {loadAssets} from './assets.js'
import {type Html, html} from './html.js'
import {type Frame, type Viewer, layout} from './layout.js'
import type {ConsoleOptions} from './options.js'
import {historyPage} from './pages/history.js'
import {type Page, href, problem} from './pages/page.js'
import {namespacesPage, overviewPage, serverPage, serversPage} from './pages/registry.js'
import {servicePage, servicesPage} from './pages/services.js'
import {tokensPage} from './pages/tokens.js'
import {
  CSRF_COOKIE,
  ConsoleSessions,
  SESSION_COOKIE,
  SESSION_LIMIT_MS,
  SIGN_IN_COOKIE,
  SIGN_IN_LIMIT_MS,
  type Session,
  clearCookie,
  cookieValue,
  random,
  setCookie,
} from './session.js'
import {V1Client, V1Error} from './v1.js'
import {WebSignIn} from './sign-in.js'
import {DEFAULT_LIMITS} from '../limits.js'

const PAGES: [string, Page][] = [
  ['/', overviewPage],
  ['/servers', serversPage],
  ['/servers/:name', serverPage],
  ['/namespaces', namespacesPage],
  ['/services', servicesPage],
  ['/services/:id', servicePage],
  ['/history', historyPage],
  ['/tokens', tokensPage],
]
/** The console's routes: no bearer token (a session instead), and not part of the API's OpenAPI document. */
const PUBLIC = {config: {unauthenticated: 'public'}, schema: {hide: true}} as const
const FORM_LIMIT = 8192

function csp(formAction: string[] = []): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    `form-action 'self'${formAction.map((origin) => ` ${origin}`).join('')}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ')
}

export async function registerConsole(app: ServeApp, ctx: AppContext, options: ConsoleOptions): Promise<void> {
  const root = app as unknown as FastifyInstance
  const assets = loadAssets(options.assetsDir, ctx.log)
  const sessions = new ConsoleSessions()
  const publicOrigin = () => options.publicUrl ?? root.listeningOrigin
  const signIn =
    ctx.tokens && ctx.oidc
      ? new WebSignIn({
          issuer: ctx.oidc.issuer,
          clientId: options.clientId ?? ctx.oidc.clientId,
          rolesClaim: ctx.oidc.rolesClaim,
          publicOrigin,
          verify: (bearer) => ctx.oidc!.verify(bearer),
        })
      : undefined
  const refreshing = new Map<string, Promise<void>>()

  const frame = (request: FastifyRequest, viewer?: Viewer): Frame => ({
    assets,
    viewer,
    path: request.url.split('?')[0]!,
    version: ctx.version,
  })
  const sendPage = (reply: FastifyReply, status: number, body: string) =>
    reply.code(status).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(body)
  const message = (request: FastifyRequest, reply: FastifyReply, status: number, title: string, main: Html, viewer?: Viewer) =>
    sendPage(reply, status, layout(frame(request, viewer), title, main))
  const toSignIn = (reply: FastifyReply, next: string) =>
    reply.header('cache-control', 'no-store').redirect(href('/ui/auth/sign-in', {next}), 303)

  /** Who is asking: the session's person (its bearer refreshed when due), everyone as admin with auth none, or nobody. */
  const signedIn = async (request: FastifyRequest): Promise<{viewer: Viewer; bearer?: string; session?: Session} | undefined> => {
    if (!ctx.tokens) return {viewer: {name: 'auth none', role: 'admin'}}
    const session = sessions.fromCookie(cookieValue(request.headers.cookie, SESSION_COOKIE))
    if (!session || !signIn) return undefined
    if (signIn.needsRefresh(session)) {
      let pending = refreshing.get(session.id)
      if (!pending) {
        pending = signIn
          .refresh(session)
          .then((fresh) => {
            if (fresh) sessions.update(session, fresh)
          })
          .finally(() => refreshing.delete(session.id))
        refreshing.set(session.id, pending)
      }
      await pending
      if (session.bearerExpiresAt <= Date.now()) {
        sessions.end(session)
        return undefined
      }
    }
    return {viewer: {name: session.name, role: session.role, csrf: sessions.csrfToken(session.csrf)}, bearer: session.bearer, session}
  }

  /** A POST from a page of this origin: no cross-site Origin or Sec-Fetch-Site (the CSRF token is checked besides). */
  const sameOrigin = (request: FastifyRequest): boolean => {
    const site = request.headers['sec-fetch-site']
    if (site !== undefined && site !== 'same-origin') return false
    const origin = request.headers.origin
    return origin === undefined || origin === publicOrigin() || origin === `${request.protocol}://${request.headers.host ?? ''}`
  }

  await app.register(
    async (ui) => {
      ui.addContentTypeParser('application/x-www-form-urlencoded', {parseAs: 'string', bodyLimit: FORM_LIMIT}, (_request, body, done) =>
        done(null, Object.fromEntries(new URLSearchParams(body as string))),
      )
      ui.addHook('onSend', async (_request, reply) => {
        if (!reply.hasHeader('content-security-policy')) reply.header('content-security-policy', csp())
        reply.header('x-frame-options', 'DENY')
        reply.header('referrer-policy', 'same-origin')
        reply.header('x-content-type-options', 'nosniff')
        reply.header('cross-origin-opener-policy', 'same-origin')
        reply.header('cross-origin-resource-policy', 'same-origin')
      })
      ui.setNotFoundHandler(async (request, reply) =>
        message(
          request,
          reply,
          404,
          'Not found',
          html`<p class="empty">There is no page at <code>${request.url.split('?')[0]}</code>. <a href="/ui/">Overview</a></p>`,
        ),
      )
      ui.setErrorHandler(async (error, request, reply) => {
        const {status, body} = httpError(error, (ctx.limits ?? DEFAULT_LIMITS).maxBodyBytes)
        if (status >= 500 && status !== 503) ctx.log(`error: ${request.method} ${request.url.split('?')[0]}: ${firstLineOf(error)}`)
        const text = status >= 500 && status !== 503 ? 'Something went wrong in serve; its log says what.' : body.error.message
        return message(request, reply, status, status === 503 ? 'Registry unavailable' : 'Error', problem(text))
      })

      ui.get('/assets/:name', PUBLIC, async (request, reply) => {
        const asset = assets.get((request.params as {name: string}).name)
        if (!asset) return reply.code(404).type('text/plain; charset=utf-8').send('not found\n')
        reply.type(asset.type).header('cache-control', 'public, max-age=31536000, immutable').header('vary', 'accept-encoding')
        if (/\bgzip\b/.test(String(request.headers['accept-encoding'] ?? '')))
          return reply.header('content-encoding', 'gzip').send(asset.gzip)
        return reply.send(asset.body)
      })

      for (const [path, page] of PAGES) {
        ui.get(path, PUBLIC, async (request, reply) => {
          const who = await signedIn(request)
          if (!who) return toSignIn(reply, request.url)
          const query: Record<string, string> = {}
          for (const [k, v] of Object.entries(request.query as Record<string, unknown>)) {
            const first = Array.isArray(v) ? v[0] : v
            if (typeof first === 'string') query[k] = first
          }
          const v1 = new V1Client(root, who.bearer, request.ip)
          try {
            const result = await page({v1, viewer: who.viewer, query, params: request.params as Record<string, string>, url: request.url})
            return message(request, reply, result.status ?? 200, result.title, result.main, who.viewer)
          } catch (error) {
            if (!(error instanceof V1Error)) throw error
            if (error.status === 401 && who.session) {
              sessions.end(who.session)
              return toSignIn(reply, request.url)
            }
            const title =
              error.status === 403
                ? 'Not allowed'
                : error.status === 404
                  ? 'Not found'
                  : error.status === 503
                    ? 'Registry unavailable'
                    : 'Error'
            return message(request, reply, error.status, title, problem(error.message), who.viewer)
          }
        })
      }

      ui.get('/auth/sign-in', PUBLIC, async (request, reply) => {
        const next = safeNext((request.query as {next?: unknown}).next)
        const who = await signedIn(request)
        if (who) return reply.header('cache-control', 'no-store').redirect(next, 303)
        if (!signIn)
          return message(
            request,
            reply,
            503,
            'Sign-in is not set up',
            html`<p>
              This server has no identity provider to sign people in with. Give <code>roster serve</code> the settings
              <code>oidc-issuer</code> and <code>oidc-client-id</code> (and <code>ui-client-id</code> when the provider keeps the console's
              client apart), or <code>auth</code> <code>none</code> on a loopback address.
            </p>`,
          )
        let providerOrigin: string
        try {
          providerOrigin = await signIn.authorizationOrigin()
        } catch (error) {
          return message(
            request,
            reply,
            503,
            'Identity provider unavailable',
            html`${problem(firstLineOf(error))}
              <p><a href="${href('/ui/auth/sign-in', {next})}">Try again</a></p>`,
          )
        }
        let secret = sessions.unsign(cookieValue(request.headers.cookie, CSRF_COOKIE))
        if (!secret) {
          secret = random()
          reply.header('set-cookie', setCookie(CSRF_COOKIE, sessions.sign(secret), {maxAgeSeconds: 3600}))
        }
        reply.header('content-security-policy', csp([providerOrigin]))
        return message(
          request,
          reply,
          200,
          'Sign in',
          html`<p>Sign in to see the registry: which server scrapes what, and who changed it.</p>
            <form method="post" action="/ui/auth/sign-in" class="sign-in">
              <input type="hidden" name="csrf" value="${sessions.csrfToken(secret)}" />
              <input type="hidden" name="next" value="${next}" />
              <button type="submit">Sign in with ${new URL(signIn.issuer).host}</button>
            </form>`,
        )
      })

      ui.post('/auth/sign-in', PUBLIC, async (request, reply) => {
        const form = (request.body ?? {}) as Record<string, string | undefined>
        const secret = sessions.unsign(cookieValue(request.headers.cookie, CSRF_COOKIE))
        if (!signIn) return toSignIn(reply, '/ui/')
        if (!sameOrigin(request) || !sessions.csrfMatches(secret, form.csrf))
          return message(
            request,
            reply,
            403,
            'Sign-in expired',
            html`<p>
              This sign-in form is not one this server gave out, or it has expired.
              <a href="${href('/ui/auth/sign-in', {next: safeNext(form.next)})}">Sign in again</a>
            </p>`,
          )
        let started
        try {
          started = await signIn.start(safeNext(form.next))
        } catch (error) {
          throw error instanceof BackendUnavailableError ? error : new BackendUnavailableError(firstLineOf(error))
        }
        sessions.startSignIn(started.state, started.pending)
        return reply

          .header('cache-control', 'no-store')
          .header('set-cookie', setCookie(SIGN_IN_COOKIE, sessions.sign(started.state), {maxAgeSeconds: SIGN_IN_LIMIT_MS / 1000}))
          .redirect(started.url, 303)
      })

      ui.get('/auth/callback', PUBLIC, async (request, reply) => {
        const at = request.url.indexOf('?')
        const search = at >= 0 ? request.url.slice(at) : ''
        const state = new URLSearchParams(search).get('state') ?? ''
        const pending = signIn && sessions.takeSignIn(state, cookieValue(request.headers.cookie, SIGN_IN_COOKIE))
        reply.header('set-cookie', clearCookie(SIGN_IN_COOKIE))
        if (!signIn || !pending)
          return message(
            request,
            reply,
            400,
            'Sign-in not recognised',
            html`<p>
              This sign-in was not started in this browser, or it took more than ${SIGN_IN_LIMIT_MS / 60_000} minutes.
              <a href="/ui/auth/sign-in">Sign in again</a>
            </p>`,
          )
        let session: Session
        try {
          session = sessions.create(await signIn.finish(search, state, pending))
        } catch (error) {
          if (!(error instanceof NotAuthenticatedError)) throw error
          ctx.log(`console sign-in refused: ${firstLineOf(error)}`)
          return message(
            request,
            reply,
            401,
            'Sign-in failed',
            html`${problem(firstLineOf(error))}
              <p><a href="${href('/ui/auth/sign-in', {next: pending.next})}">Sign in again</a></p>`,
          )
        }
        reply.header('set-cookie', setCookie(SESSION_COOKIE, sessions.cookieOf(session), {maxAgeSeconds: SESSION_LIMIT_MS / 1000}))
        return reply.header('cache-control', 'no-store').redirect(pending.next, 303)
      })

      ui.post('/auth/sign-out', PUBLIC, async (request, reply) => {
        const form = (request.body ?? {}) as Record<string, string | undefined>
        const session = sessions.fromCookie(cookieValue(request.headers.cookie, SESSION_COOKIE))
        if (session) {
          if (!sameOrigin(request) || !sessions.csrfMatches(session.csrf, form.csrf))
            return message(
              request,
              reply,
              403,
              'Sign-out refused',
              html`<p>This sign-out form is not one this server gave out. <a href="/ui/">Back to the overview</a></p>`,
            )
          sessions.end(session)
          void signIn?.revoke(session)
        }
        return reply
          .header('cache-control', 'no-store')
          .header('set-cookie', clearCookie(SESSION_COOKIE))
          .redirect('/ui/auth/signed-out', 303)
      })

      ui.get('/auth/signed-out', PUBLIC, async (request, reply) =>
        message(
          request,
          reply,
          200,
          'Signed out',
          html`<p>You are signed out of the console. <a href="/ui/auth/sign-in">Sign in again</a></p>`,
        ),
      )
    },
    {prefix: '/ui'},
  )
}

/** Where to go after signing in: a console path of this server, nothing else. */
function safeNext(value: unknown): string {
  if (typeof value !== 'string' || !/^\/ui(\/|\?|$)/.test(value) || value.includes('\\') || value.includes('//')) return '/ui/'
  return value
}
