/**
 * GET /v1/openapi.json: the API as OpenAPI 3.0, made by @fastify/swagger from the route schemas
 * (schemas.ts), so that what the document says is what the server validates. Every /v1 route is
 * in it: registering one without a schema, or hidden, makes the app fail to build, so that
 * clients and the fuzz tests generated from the document see the whole API.
 */
import type {ServeApp} from './app-context.js'

export const OPENAPI_PATH = '/v1/openapi.json'

/** Registers the document's generator (before the routes it describes) and its route. */
export async function registerOpenApi(app: ServeApp, version: string): Promise<void> {
  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/v1/') || route.url === OPENAPI_PATH) return
    if (!route.schema || route.schema.hide)
      throw new Error(`${String(route.method)} ${route.url}: every /v1 route is documented (schemas.ts)`)
  })
  const {default: swagger} = await import('@fastify/swagger')
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'roster serve',
        version,
        description: 'The roster registry over HTTP/JSON, Prometheus http_sd, and machine tokens.',
      },
      components: {securitySchemes: {bearer: {type: 'http', scheme: 'bearer', bearerFormat: 'JWT'}}},
      security: [{bearer: []}],
    },
    refResolver: {buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`)},
  })
  app.get(OPENAPI_PATH, {schema: {hide: true}, config: {unauthenticated: 'public'}}, async () => app.swagger())
}
