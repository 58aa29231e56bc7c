/**
 * The HTTP API of `roster serve` (fastify 5): the registry's operations under /v1/, Prometheus
 * http_sd, token administration, /metrics, /healthz and /readyz. Requests are validated with the
 * JSON schemas of schemas.ts (unknown fields refused), then by the same Registry code as the
 * CLI; errors are `{"error": {"code", "message", "field"?}}` with the status of their class.
 *
 * Reads of services and http_sd come from the in-memory view (view.ts); writes go through the
 * Registry to the store, and wait until the view shows them, so a client reads its own writes.
 */
import type {FastifyInstance, FastifyReply, FastifyRequest} from 'fastify'

import {type Caller, NO_TOKEN_MESSAGE, authorize, mayAccessNamespace} from '../auth/caller.js'
import type {TokenAuthority} from '../auth/tokens.js'
import {type OidcVerifier, unverifiedIssuer} from '../auth/oidc-verifier.js'
import {
  BackendUnavailableError,
  InvalidInputError,
  NotAllowedError,
  NotAuthenticatedError,
  NotFoundError,
  ConflictError,
  RosterError,
  TooLargeError,
  firstLineOf,
} from '../errors.js'
import type {Registry, ServiceFilter} from '../registry/registry.js'
import {DEFAULT_NAMESPACE, type Service} from '../registry/model.js'
import {isServiceId} from '../registry/service-id.js'
import {validateName} from '../registry/validation.js'
import {serializeTargetGroups, sdConfigOf, targetGroups, type TargetGroup} from '../sd/targets.js'
import type {Store} from '../store/store.js'
import type {ServeMetrics} from './metrics.js'
import {routes, sharedSchemas} from './schemas.js'
import {queryServices} from './service-query.js'
import type {RegistryView} from './view.js'

export const BODY_LIMIT = 1024 * 1024

export interface AppContext {
  store: Store
  registry: Registry
  view: RegistryView
  /** Undefined with auth none (every caller is admin; loopback only). */
  tokens?: TokenAuthority
  /** People's tokens from an OpenID Provider (serve's oidc-issuer). */
  oidc?: OidcVerifier
  /** Whether the server listens on loopback only: then /healthz, /readyz and /metrics need no token. */
  loopback: boolean
  metrics: ServeMetrics
  /** One line per request and per unexpected error (never a token). */
  log: (line: string) => void
  https?: {cert: Buffer; key: Buffer}
  version: string
}

declare module 'fastify' {
  interface FastifyRequest {
    caller?: Caller
  }
}

const ADMIN_WITHOUT_AUTH: Caller = {subject: '(auth none)', role: 'admin', namespaces: ['*'], kind: 'token'}
const OPEN_ROUTES = new Set(['/v1/openapi.json', '/v1/auth/config'])
const HEALTH_ROUTES = new Set(['/healthz', '/readyz', '/metrics'])

export async function buildApp(ctx: AppContext): Promise<FastifyInstance> {
  const {default: Fastify} = await import('fastify')
  const app = Fastify({
    logger: false,
    bodyLimit: BODY_LIMIT,
    ...(ctx.https ? {https: {cert: ctx.https.cert, key: ctx.https.key}} : {}),
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    ajv: {customOptions: {removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false}},
  })
  // JSON bodies only: a text/plain body is refused (415 → 400), not handed to the schemas as a string.
  app.removeContentTypeParser('text/plain')
  for (const schema of sharedSchemas) app.addSchema(schema)
  const {default: swagger} = await import('@fastify/swagger')
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'roster serve',
        version: ctx.version,
        description: 'The roster registry over HTTP/JSON, Prometheus http_sd, and machine tokens.',
      },
      components: {securitySchemes: {bearer: {type: 'http', scheme: 'bearer', bearerFormat: 'JWT'}}},
      security: [{bearer: []}],
    },
    refResolver: {buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`)},
  })

  app.addHook('onRequest', async (request) => {
    const path = request.url.split('?')[0] ?? ''
    if (OPEN_ROUTES.has(path)) return
    if (HEALTH_ROUTES.has(path) && ctx.loopback) return
    request.caller = await authenticate(ctx, request)
  })

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched'
    ctx.metrics.requests.inc({route, method: request.method, code: String(reply.statusCode)})
    ctx.metrics.duration.observe({route}, reply.elapsedTime / 1000)
    if (!HEALTH_ROUTES.has(route)) {
      ctx.log(`${request.method} ${request.url.split('?')[0]} ${reply.statusCode} ${reply.elapsedTime.toFixed(1)}ms`)
    }
  })

  app.setErrorHandler(async (error, request, reply) => {
    const {status, body} = httpError(error)
    if (status === 503) ctx.metrics.storeErrors.inc({source: 'request'})
    // A refusal is logged with its reason, so that an operator whose scraper gets 401 can tell why
    // (the messages name a token's id, never the token).
    if (status === 401 || status === 403)
      ctx.log(`refused: ${request.method} ${request.url.split('?')[0]} ${status}: ${body.error.message}`)
    if (status >= 500 && status !== 503) ctx.log(`error: ${request.method} ${request.url.split('?')[0]}: ${firstLineOf(error)}`)
    return reply.code(status).type('application/json; charset=utf-8').send(body)
  })
  app.setNotFoundHandler(async (request, reply) =>
    reply.code(404).send({error: {code: 'not_found', message: `no such route: ${request.method} ${request.url.split('?')[0]}`}}),
  )

  registerRoutes(app, ctx)
  app.get('/v1/openapi.json', {schema: {hide: true}}, async () => app.swagger())
  app.get('/v1/auth/config', {schema: {hide: true}}, async () => ctx.oidc?.config() ?? {})
  app.get('/healthz', {schema: {hide: true}}, async () => ({ok: true}))
  app.get('/readyz', {schema: {hide: true}}, async (_request, reply) => {
    if (!ctx.view.synced) return reply.code(503).send({error: {code: 'unavailable', message: 'the registry view is not loaded yet'}})
    try {
      await withTimeout(ctx.store.get('settings'), 2000, `registry ${ctx.store.description} did not answer within 2 s`)
    } catch (error) {
      ctx.metrics.storeErrors.inc({source: 'readyz'})
      return reply.code(503).send({error: {code: 'unavailable', message: firstLineOf(error)}})
    }
    return {ready: true, revision: ctx.view.storeRevision}
  })
  app.get('/metrics', {schema: {hide: true}}, async (_request, reply) =>
    reply.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics()),
  )
  return app
}

async function authenticate(ctx: AppContext, request: FastifyRequest): Promise<Caller> {
  if (!ctx.tokens) return ADMIN_WITHOUT_AUTH
  const token = bearerToken(request.headers.authorization)
  if (ctx.oidc && unverifiedIssuer(token) !== ctx.tokens.issuer) return ctx.oidc.verify(token)
  const now = Date.now()
  let entry = verified.get(token)
  if (!entry || entry.until <= now || entry.generation !== authGeneration) {
    const caller = await ctx.tokens.verify(token)
    if (verified.size >= MAX_VERIFIED) verified.clear()
    entry = {caller, until: Math.min(now + VERIFIED_TTL_MS, expiryMs(token)), generation: authGeneration}
    verified.set(token, entry)
  }
  const caller = entry.caller
  if (ctx.view.isRevoked(caller.subject))
    throw new NotAuthenticatedError(`not authenticated: token ${JSON.stringify(caller.subject)} revoked`)
  return caller
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

/**
 * Tokens verified in the last VERIFIED_TTL_MS (never past their expiry), so that a Prometheus
 * scraping every few seconds does not pay an EdDSA verification per request. Revocation is
 * checked on every request all the same (from the view), and any change under the store's
 * `auth/` (a key, a revocation) empties it (noteAuthChange).
 */
const verified = new Map<string, {caller: Caller; until: number; generation: number}>()
const VERIFIED_TTL_MS = 10_000
const MAX_VERIFIED = 10_000
let authGeneration = 0

export function noteAuthChange(): void {
  authGeneration++
  verified.clear()
}

function expiryMs(token: string): number {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {exp?: unknown}
    return typeof payload.exp === 'number' ? payload.exp * 1000 : Number.POSITIVE_INFINITY
  } catch {
    return 0
  }
}

function callerOf(request: FastifyRequest): Caller {
  if (!request.caller) throw new NotAuthenticatedError(NO_TOKEN_MESSAGE)
  return request.caller
}

function registerRoutes(app: FastifyInstance, ctx: AppContext): void {
  const {registry, view} = ctx
  type Req<B = unknown, Q = Record<string, string | undefined>, P = Record<string, string>> = FastifyRequest<{
    Body: B
    Querystring: Q
    Params: P
  }>

  // ------------------------------------------------------------------ settings
  app.get('/v1/settings', {schema: routes.getSettings}, async (request) => {
    authorize(callerOf(request), 'read')
    return registry.getSettings()
  })
  app.put('/v1/settings', {schema: routes.putSettings}, async (request: Req<{replicas: number}>) => {
    authorize(callerOf(request), 'admin')
    return registry.updateSettings({replicas: request.body.replicas})
  })

  // ------------------------------------------------------------------ servers
  app.get('/v1/servers', {schema: routes.listServers}, async (request: Req<unknown, {selector?: string}>) => {
    authorize(callerOf(request), 'read')
    return registry.listServers(request.query.selector)
  })
  app.get('/v1/servers/:name', {schema: routes.getServer}, async (request: Req) => {
    authorize(callerOf(request), 'read')
    const name = request.params.name!
    const server = await registry.getServer(name)
    if (!server) throw new NotFoundError(`server ${JSON.stringify(name)} is not registered`)
    return server
  })
  app.put('/v1/servers/:name', {schema: routes.putServer}, async (request: Req<{labels?: Record<string, string>}>) => {
    authorize(callerOf(request), 'admin')
    const result = await registry.registerServer(request.params.name!, request.body?.labels ?? {})
    await view.settle(() => view.server(result.server.name)?.modified === result.server.modified)
    return result
  })
  app.delete('/v1/servers/:name', {schema: routes.deleteServer}, async (request: Req) => {
    authorize(callerOf(request), 'admin')
    const result = await registry.unregisterServer(request.params.name!)
    await view.settle(() => view.server(result.server) === undefined)
    return result
  })

  // ------------------------------------------------------------------ namespaces
  app.get('/v1/namespaces', {schema: routes.listNamespaces}, async (request) => {
    const caller = callerOf(request)
    if (caller.kind === 'anonymous') authorize(caller, 'read')
    return (await registry.listNamespaces()).filter((n) => mayAccessNamespace(caller, n.name))
  })
  app.get('/v1/namespaces/:name', {schema: routes.getNamespace}, async (request: Req) => {
    const name = validateName('namespace', request.params.name)
    authorize(callerOf(request), 'read', name)
    const namespace = await registry.getNamespace(name)
    if (!namespace) throw new NotFoundError(`namespace ${JSON.stringify(name)} is not registered`)
    return namespace
  })
  app.put('/v1/namespaces/:name', {schema: routes.putNamespace}, async (request: Req<{export?: string}>) => {
    authorize(callerOf(request), 'admin')
    const namespace = await registry.registerNamespace(request.params.name!, request.body?.export)
    await view.settle(() => view.namespace(namespace.name)?.export === namespace.export)
    return namespace
  })
  app.delete('/v1/namespaces/:name', {schema: routes.deleteNamespace}, async (request: Req<unknown, {force?: string}>) => {
    authorize(callerOf(request), 'admin')
    const result = await registry.unregisterNamespace(request.params.name!, request.query.force === 'true')
    await view.settle(() => !view.namespaces.has(result.namespace) && [...view.servicesIn(result.namespace)].length === 0)
    return result
  })

  // ------------------------------------------------------------------ services
  app.get(
    '/v1/services',
    {schema: routes.listServices},
    async (request: Req<unknown, ServiceFilter & {limit?: string; continue?: string}>) => {
      const caller = callerOf(request)
      const q = request.query
      if (q.namespace !== undefined) authorize(caller, 'read', validateName('namespace', q.namespace))
      else if (caller.kind === 'anonymous') authorize(caller, 'read')
      await view.fresh()
      return queryServices(
        view,
        {namespace: q.namespace, name: q.name, endpoint: q.endpoint, server: q.server, selector: q.selector, sortBy: q.sortBy},
        {limit: q.limit, continue: q.continue},
        (ns) => mayAccessNamespace(caller, ns),
      )
    },
  )
  app.post(
    '/v1/services',
    {schema: routes.registerServices},
    async (
      request: Req<{
        name: string
        endpoints: string[]
        namespace?: string
        labels?: Record<string, string>
        selector?: string
        description?: string
      }>,
    ) => {
      const body = request.body
      authorize(callerOf(request), 'write', validateName('namespace', body.namespace ?? DEFAULT_NAMESPACE))
      const result = await registry.registerServices(body)
      await view.settle(() => result.services.every((s) => sameInView(view, s)))
      return result
    },
  )
  const unregister = async (caller: Caller, refs: string[], namespace: string | undefined) => {
    const ns = namespace === undefined ? undefined : validateName('namespace', namespace)
    if (ns !== undefined) authorize(caller, 'write', ns)
    else {
      for (const ref of refs) {
        const text = ref.trim()
        if (isServiceId(text)) {
          const holders = view.namespacesHolding(text.toLowerCase())
          if (holders.length === 0) authorize(caller, 'write', DEFAULT_NAMESPACE)
          for (const holder of holders) authorize(caller, 'write', holder)
        } else authorize(caller, 'write', DEFAULT_NAMESPACE)
      }
    }
    const result = await registry.unregisterServices(refs, ns)
    await view.settle(() => result.removed.every((s) => !view.services.get(s.namespace)?.has(s.id)))
    return result
  }
  app.post('/v1/services/unregister', {schema: routes.unregisterServices}, async (request: Req<{refs: string[]; namespace?: string}>) =>
    unregister(callerOf(request), request.body.refs, request.body.namespace),
  )
  app.delete('/v1/services/:id', {schema: routes.deleteService}, async (request: Req<unknown, {namespace?: string}, {id: string}>) =>
    unregister(callerOf(request), [request.params.id], request.query.namespace),
  )
  app.post('/v1/services/import', {schema: routes.importServices}, async (request: Req<{document: unknown; source?: string}>) => {
    const caller = callerOf(request)
    if (caller.role !== 'admin') {
      for (const ns of importNamespaces(request.body.document)) authorize(caller, 'write', ns)
    }
    const result = await registry.importServices(request.body.document, request.body.source ?? 'document')
    await view.fresh()
    return result
  })

  // ------------------------------------------------------------------ tokens
  const authority = (): TokenAuthority => {
    if (!ctx.tokens)
      throw new InvalidInputError('tokens: this server runs without authentication (auth none); manage tokens against the store directly')
    return ctx.tokens
  }
  app.post(
    '/v1/tokens',
    {schema: routes.createToken},
    async (request: Req<{id: string; role: string; namespaces: string[]; expires?: string}>) => {
      authorize(callerOf(request), 'admin')
      const b = request.body
      return authority().create({id: b.id, role: b.role, namespaces: b.namespaces, expiresIn: b.expires})
    },
  )
  app.get('/v1/tokens', {schema: routes.listTokens}, async (request) => {
    authorize(callerOf(request), 'admin')
    return authority().list()
  })
  app.delete('/v1/tokens/:id', {schema: routes.revokeToken}, async (request: Req<unknown, Record<string, string>, {id: string}>) => {
    authorize(callerOf(request), 'admin')
    const result = await authority().revoke(request.params.id)
    await view.settle(() => view.isRevoked(result.id))
    return result
  })
  app.post('/v1/tokens/inspect', {schema: routes.inspectToken}, async (request: Req<{token: string}>) => {
    authorize(callerOf(request), 'admin')
    return authority().inspect(request.body.token)
  })

  // ------------------------------------------------------------------ http_sd
  // The serialized answers, per view generation: as bytes, and gzipped on first demand
  // (Prometheus's HTTP client asks for gzip; 10,000 targets are about 4 MB, 0.35 MB gzipped).
  const cache = new Map<string, {body: Buffer; gzip?: Buffer}>()
  let cacheGeneration = -1
  const sendCached = async (request: FastifyRequest, reply: FastifyReply, key: string, build: () => string) => {
    if (cacheGeneration !== view.generation) {
      cache.clear()
      cacheGeneration = view.generation
    }
    let entry = cache.get(key)
    if (!entry) {
      entry = {body: Buffer.from(build())}
      cache.set(key, entry)
    }
    reply.type('application/json; charset=utf-8').header('vary', 'accept-encoding')
    if (entry.body.length > 1024 && /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''))) {
      if (!entry.gzip) {
        const {gzipSync} = await import('node:zlib')
        entry.gzip = gzipSync(entry.body, {level: 1})
      }
      return reply.header('content-encoding', 'gzip').send(entry.gzip)
    }
    return reply.send(entry.body)
  }
  const requireServer = (name: string) => {
    if (!view.server(name)) throw new NotFoundError(`server ${JSON.stringify(name)} is not registered`)
  }
  app.get(
    '/v1/sd/:server/:namespace',
    {schema: routes.sdNamespace},
    async (
      request: Req<unknown, {config?: string; 'export-config'?: string}, {server: string; namespace: string}>,
      reply: FastifyReply,
    ) => {
      const {server, namespace} = request.params
      authorize(callerOf(request), 'read', namespace)
      const override = request.query.config ?? request.query['export-config']
      requireServer(server)
      const ns = view.namespace(namespace)
      if (!ns) throw new NotFoundError(`namespace ${JSON.stringify(namespace)} is not registered`)
      const config = sdConfigOf(ns.export, override)
      return sendCached(request, reply, `${server}\u0000${namespace}\u0000${config}`, () =>
        serializeTargetGroups(config === 'disabled' ? [] : targetGroups(assignedTo(view, namespace, server), {server, namespace, config})),
      )
    },
  )
  app.get(
    '/v1/sd/:server',
    {schema: routes.sdServer},
    async (request: Req<unknown, Record<string, string>, {server: string}>, reply: FastifyReply) => {
      const caller = callerOf(request)
      const {server} = request.params
      requireServer(server)
      const namespaces = view.namespaceList().filter((n) => n.export !== 'disabled' && mayAccessNamespace(caller, n.name))
      const key = `${server}\u0000*\u0000${namespaces.map((n) => n.name).join(',')}`
      return sendCached(request, reply, key, () => {
        const groups: TargetGroup[] = []
        for (const ns of namespaces) {
          const config = sdConfigOf(ns.export)
          if (config !== 'disabled') groups.push(...targetGroups(assignedTo(view, ns.name, server), {server, namespace: ns.name, config}))
        }
        return serializeTargetGroups(groups)
      })
    },
  )
}

/** The services of `namespace` assigned to `server` (targetGroups selects them too; this skips the rest early). */
function* assignedTo(view: RegistryView, namespace: string, server: string): Iterable<Service> {
  for (const s of view.servicesIn(namespace)) if (s.servers.includes(server)) yield s
}

function sameInView(view: RegistryView, s: Service): boolean {
  return view.services.get(s.namespace)?.get(s.id)?.value.modified === s.modified
}

/** The namespaces an import document writes to (entries without one: "default"). */
function importNamespaces(document: unknown): Set<string> {
  const list = Array.isArray(document) ? document : (document as {services?: unknown} | null)?.services
  const namespaces = new Set<string>()
  if (!Array.isArray(list)) return namespaces
  for (const entry of list) {
    const ns = (entry as {namespace?: unknown} | null)?.namespace
    namespaces.add(typeof ns === 'string' ? ns : DEFAULT_NAMESPACE)
  }
  return namespaces
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new BackendUnavailableError(message)), ms)
    }),
  ])
}

interface FastifyishError {
  code?: string
  statusCode?: number
  message?: string
  validation?: {keyword: string; instancePath: string; params: Record<string, unknown>; message?: string}[]
  validationContext?: string
}

/** The status and JSON body for any error a request ended with. */
export function httpError(error: unknown): {status: number; body: {error: {code: string; message: string; field?: string}}} {
  const body = (code: string, message: string, field?: string) => ({error: {code, message, ...(field ? {field} : {})}})
  if (error instanceof RosterError) {
    const message = firstLineOf(error)
    const field = error instanceof InvalidInputError ? error.field : undefined
    if (error instanceof TooLargeError) return {status: 413, body: body(error.code, message, field)}
    if (error instanceof InvalidInputError) return {status: 400, body: body(error.code, message, field)}
    if (error instanceof NotAuthenticatedError) return {status: 401, body: body(error.code, message)}
    if (error instanceof NotAllowedError) return {status: 403, body: body(error.code, message)}
    if (error instanceof NotFoundError) return {status: 404, body: body(error.code, message)}
    if (error instanceof ConflictError) return {status: 409, body: body(error.code, message)}
    if (error instanceof BackendUnavailableError) return {status: 503, body: body(error.code, message)}
    return {status: 500, body: body('failure', 'internal error')}
  }
  const e = (error ?? {}) as FastifyishError
  if (e.validation && e.validation.length > 0) {
    const v = e.validation[0]!
    const where = e.validationContext === 'querystring' ? 'query parameter ' : e.validationContext === 'params' ? 'path parameter ' : ''
    const path = v.instancePath.replace(/^\//, '').replace(/\//g, '.')
    if (v.keyword === 'additionalProperties') {
      const field = [path, String(v.params.additionalProperty)].filter(Boolean).join('.')
      return {status: 400, body: body('invalid_input', `${where}${field}: unknown field`, field)}
    }
    if (v.keyword === 'required') {
      const field = [path, String(v.params.missingProperty)].filter(Boolean).join('.')
      return {status: 400, body: body('invalid_input', `${where}${field}: is required`, field)}
    }
    const field = path || e.validationContext || 'body'
    return {status: 400, body: body('invalid_input', `${where}${field}: ${v.message ?? 'is invalid'}`, field)}
  }
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return {status: 413, body: body('too_large', `request body larger than ${BODY_LIMIT} bytes (1 MiB)`)}
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return {status: 400, body: body('invalid_input', `body: not valid JSON (${firstLineOf(error)})`, 'body')}
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return {status: 400, body: body('invalid_input', 'body: Content-Type must be application/json', 'body')}
  }
  if (error instanceof SyntaxError) return {status: 400, body: body('invalid_input', `body: not valid JSON (${error.message})`, 'body')}
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return {status: e.statusCode, body: body('invalid_input', firstLineOf(error))}
  }
  return {status: 500, body: body('failure', 'internal error')}
}
