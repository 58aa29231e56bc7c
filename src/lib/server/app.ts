/**
 * The HTTP API of `roster serve` (fastify 5), put together from its parts: authentication (who
 * calls), authorization (what each route lets them do), the routes of each resource, http_sd,
 * the probes, the OpenAPI document and the error mapping (http-error.ts). Requests are validated
 * with the JSON schemas of schemas.ts (unknown fields refused), then by the same Registry code as
 * the CLI.
 *
 * Reads of services and http_sd come from the in-memory view (view.ts); writes go through the
 * Registry to the store, and wait until the view shows them, so a client reads its own writes.
 */
import type {FastifyInstance, FastifyReply} from 'fastify'

import {firstLineOf} from '../errors.js'
import type {AppContext, ServeApp} from './app-context.js'
import {addAuthentication} from './authentication.js'
import {requireAccessRules} from './authorization.js'
import {refuseIfMatchWithoutEntityTag} from './conditional.js'
import {createLimitedServer, type ConnectionGuard} from './connections.js'
import {MAX_PATH_PARAMETER, httpError} from './http-error.js'
import {registerHttpSdRoutes} from './http-sd.js'
import {addJsonBodyParser} from './json-body.js'
import {DEFAULT_LIMITS} from './limits.js'
import {registerOpenApi} from './openapi.js'
import {registerAuthConfigRoute} from './routes/auth-config.js'
import {registerEventRoutes} from './routes/events.js'
import {registerBackupRoute} from './routes/backup.js'
import {registerNamespaceRoutes} from './routes/namespaces.js'
import {registerProbeRoutes} from './routes/probes.js'
import {registerServerRoutes} from './routes/servers.js'
import {registerServiceRoutes} from './routes/services.js'
import {registerSettingsRoutes} from './routes/settings.js'
import {registerStatusRoutes} from './routes/status.js'
import {registerTokenRoutes} from './routes/tokens.js'
import {type ApiTypeProvider, sharedSchemas} from './schemas.js'
import {sliceLargeAnswers} from './tls-slices.js'

export type {AppContext} from './app-context.js'

/** How fastify's Ajv validates requests: as sent (nothing removed, coerced or defaulted), stopping at the first error. */
export const AJV_OPTIONS = {customOptions: {removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false}}

export async function buildApp(ctx: AppContext): Promise<FastifyInstance> {
  const {default: Fastify} = await import('fastify')
  const limits = ctx.limits ?? DEFAULT_LIMITS
  let guard: ConnectionGuard | undefined
  const app: ServeApp = Fastify({
    logger: false,
    bodyLimit: limits.maxBodyBytes,
    serverFactory: (handler) => {
      const made = createLimitedServer(handler, {limits, metrics: ctx.metrics, https: ctx.https})
      guard = made.guard
      return made.server
    },
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    // Path parameters up to this long reach the schemas (a name may be 253 characters, percent-encoded three times that).
    routerOptions: {maxParamLength: MAX_PATH_PARAMETER},
    // What the router refuses before any route (a bad percent-encoding, a parameter too long) answers like every other error.
    frameworkErrors: (error, _request, reply) => {
      const {status, body} = httpError(error, limits.maxBodyBytes)
      void (reply as unknown as FastifyReply).code(status).type('application/json; charset=utf-8').send(body)
    },
    ajv: AJV_OPTIONS,
    ...(ctx.schemaCompilers && {schemaController: {compilersFactory: ctx.schemaCompilers as never}}),
  }).withTypeProvider<ApiTypeProvider>()
  // JSON bodies only, their bytes UTF-8: a text/plain body is refused (415 → 400), not handed to the schemas as a string.
  addJsonBodyParser(app)
  for (const schema of sharedSchemas) app.addSchema(schema)

  requireAccessRules(app)
  refuseIfMatchWithoutEntityTag(app)
  // Before authentication: a connection of the probe pool (connections.ts) serves monitoring only.
  app.addHook('onRequest', async (request, reply) => {
    const unauthenticated = request.routeOptions.config.unauthenticated
    if (unauthenticated === 'health' || unauthenticated === 'probe' || !guard?.probesOnly(request.raw.socket)) return
    ctx.metrics.requestsRefused.inc({reason: 'probe-connections'})
    return reply
      .code(503)
      .header('retry-after', '1')
      .header('connection', 'close')
      .send({error: {code: 'unavailable', message: 'serve is at its connection limit; retry shortly'}})
  })
  addAuthentication(app, ctx)
  if (ctx.https) app.addHook('onSend', sliceLargeAnswers)
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched'
    ctx.metrics.requests.inc({route, method: request.method, code: String(reply.statusCode)})
    ctx.metrics.duration.observe({route}, reply.elapsedTime / 1000)
    const unauthenticated = request.routeOptions.config.unauthenticated
    if (unauthenticated !== 'probe' && unauthenticated !== 'health') {
      ctx.log(`${request.method} ${request.url.split('?')[0]} ${reply.statusCode} ${reply.elapsedTime.toFixed(1)}ms`)
    }
  })
  app.setErrorHandler(async (error, request, reply) => {
    const {status, body} = httpError(error, limits.maxBodyBytes)
    if (status === 503) ctx.metrics.storeErrors.inc({source: 'request'})
    if ((error as {code?: string}).code === 'FST_ERR_CTP_BODY_TOO_LARGE') ctx.metrics.requestsRefused.inc({reason: 'max-body-size'})
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

  await registerOpenApi(app, ctx.version)
  registerAuthConfigRoute(app, ctx)
  registerSettingsRoutes(app, ctx)
  registerServerRoutes(app, ctx)
  registerNamespaceRoutes(app, ctx)
  registerServiceRoutes(app, ctx)
  registerTokenRoutes(app, ctx)
  registerEventRoutes(app, ctx)
  registerStatusRoutes(app, ctx)
  registerBackupRoute(app, ctx)
  registerHttpSdRoutes(app, ctx)
  registerProbeRoutes(app, ctx)
  if (ctx.console) await (await import('./ui/console.js')).registerConsole(app, ctx, ctx.console)
  return app as unknown as FastifyInstance
}
