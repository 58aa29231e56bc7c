/**
 * serve's app built in-process over real SQLite stores (fastify's inject, no socket): the
 * verified-token cache belongs to one app (a second app in the same process, over another
 * registry, refuses a token the first accepted), follows a replaced signing key at once, and the
 * app refuses to build a route that forgot its access rule or, under /v1, its documentation.
 */
import assert from 'node:assert/strict'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {TokenAuthority} from '../../src/lib/auth/tokens.js'
import {Registry} from '../../src/lib/registry/registry.js'
import type {ServeApp} from '../../src/lib/server/app-context.js'
import {buildApp} from '../../src/lib/server/app.js'
import {requireAccessRules, withAccess, adminOnly} from '../../src/lib/server/authorization.js'
import {DEFAULT_LIMITS} from '../../src/lib/server/limits.js'
import {createMetrics} from '../../src/lib/server/metrics.js'
import {OPENAPI_PATH, registerOpenApi} from '../../src/lib/server/openapi.js'
import {routes, sharedSchemas} from '../../src/lib/server/schemas.js'
import {RegistryView} from '../../src/lib/server/view.js'
import {openStore} from '../../src/lib/store/open-store.js'
import type {Store} from '../../src/lib/store/store.js'

interface InProcessApp {
  app: Awaited<ReturnType<typeof buildApp>>
  store: Store
  tokens: TokenAuthority
  get(url: string, token: string): Promise<{status: number; body: string}>
  close(): Promise<void>
}

/** What serve() puts together, over `sqlite:DIR/NAME.db`, without listening. */
async function startApp(dir: string, name: string): Promise<InProcessApp> {
  const store = await openStore({registry: `sqlite:${path.join(dir, `${name}.db`)}`, timeoutMs: 10_000})
  const view = new RegistryView(store)
  await view.start()
  const tokens = await TokenAuthority.open(store, {isRevoked: (id) => view.isRevoked(id)})
  const app = await buildApp({
    store,
    registry: new Registry(store),
    view,
    tokens,
    loopback: true,
    metrics: await createMetrics(view, DEFAULT_LIMITS),
    log: () => undefined,
    version: 'test',
  })
  return {
    app,
    store,
    tokens,
    async get(url, token) {
      const r = await app.inject({method: 'GET', url, headers: {authorization: `Bearer ${token}`}})
      return {status: r.statusCode, body: r.body}
    },
    async close() {
      await app.close()
      await view.close()
      await store.close()
    },
  }
}

describe('serve app: the verified-token cache is the app’s own', () => {
  let dir: string
  let a: InProcessApp
  let b: InProcessApp

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'roster-serve-app-'))
    a = await startApp(dir, 'a')
    b = await startApp(dir, 'b')
  })
  after(async () => {
    await a?.close()
    await b?.close()
    rmSync(dir, {recursive: true, force: true})
  })

  it('a token one app accepted is refused by a second app in the process, over another registry', async () => {
    // Same id and claims in both registries: only the signing keys differ.
    const tokenA = (await a.tokens.create({id: 'prom', role: 'read', namespaces: ['*']})).token
    const tokenB = (await b.tokens.create({id: 'prom', role: 'read', namespaces: ['*']})).token
    assert.equal((await a.get('/v1/servers', tokenA)).status, 200)
    assert.equal((await b.get('/v1/servers', tokenB)).status, 200)
    const crossed = await b.get('/v1/servers', tokenA)
    assert.equal(crossed.status, 401, crossed.body)
    assert.match(crossed.body, /token signed by an unknown key/)
    assert.equal((await a.get('/v1/servers', tokenB)).status, 401)
    assert.equal((await a.get('/v1/servers', tokenA)).status, 200, 'the first app still accepts its own token')
  })

  it('refuses a cached token as soon as the authority verifies with a new signing key', async () => {
    const old = (await a.tokens.create({id: 'before-rotation', role: 'read', namespaces: ['*']})).token
    assert.equal((await a.get('/v1/servers', old)).status, 200)
    // The key replaced in the store by another process, then the app's authority reloaded, as
    // serve does on any change under auth/.
    await a.store.txn([], [{type: 'delete', key: 'auth/signing-key'}])
    const other = await TokenAuthority.open(a.store)
    const fresh = (await other.create({id: 'after-rotation', role: 'read', namespaces: ['*']})).token
    await a.tokens.reload()
    const refused = await a.get('/v1/servers', old)
    assert.equal(refused.status, 401, refused.body)
    assert.match(refused.body, /token signed by an unknown key/)
    assert.equal((await a.get('/v1/servers', fresh)).status, 200)
  })
})

describe('serve app: routes cannot skip authorization or the OpenAPI document', () => {
  const bareApp = async (): Promise<ServeApp> => {
    const {default: Fastify} = await import('fastify')
    const app: ServeApp = Fastify().withTypeProvider()
    for (const schema of sharedSchemas) app.addSchema(schema)
    return app
  }

  it('refuses to build a route that needs a token without its access rule', async () => {
    const app = await bareApp()
    requireAccessRules(app)
    assert.throws(
      () => app.get('/v1/settings', {schema: routes.getSettings}, async () => ({replicas: 1, revision: 0})),
      /GET \/v1\/settings: .*withAccess/,
    )
    // Another route's schema does not stand for this one's.
    assert.throws(
      () => app.get('/v1/servers', {...withAccess(routes.getSettings, adminOnly), schema: routes.listServers}, async () => []),
      /GET \/v1\/servers/,
    )
    app.get('/v1/settings', withAccess(routes.getSettings, adminOnly), async () => ({replicas: 1, revision: 0}))
    app.get('/open', {config: {unauthenticated: 'public'}}, async () => ({}))
    await app.ready()
    await app.close()
  })

  it('refuses to build a /v1 route left out of the document', async () => {
    const app = await bareApp()
    await registerOpenApi(app, 'test')
    assert.throws(() => app.get('/v1/hidden', {schema: {hide: true}}, async () => ({})), /GET \/v1\/hidden: every \/v1 route is documented/)
    assert.throws(() => app.get('/v1/bare', async () => ({})), /GET \/v1\/bare/)
    app.get('/healthz', {schema: {hide: true}}, async () => ({}))
    await app.close()
  })

  it('documents every route of the app, each with its answers, and only routes the app has', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'roster-serve-doc-'))
    const served = await startApp(dir, 'doc')
    try {
      const r = await served.app.inject({method: 'GET', url: OPENAPI_PATH})
      assert.equal(r.statusCode, 200)
      const doc = JSON.parse(r.body) as {paths: Record<string, Record<string, {responses?: Record<string, unknown>}>>}
      const documented = Object.entries(doc.paths).flatMap(([p, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${p}`))
      // One operation per route schema, no more, no less.
      assert.equal(documented.length, Object.keys(routes).length, documented.join('\n'))
      for (const [p, methods] of Object.entries(doc.paths)) {
        for (const [method, operation] of Object.entries(methods)) {
          const url = p.replace(/\{(\w+)\}/g, ':$1')
          assert.ok(served.app.hasRoute({method: method.toUpperCase() as 'GET', url}), `${method} ${p} documented, not served`)
          assert.ok(operation.responses?.['200'] && operation.responses['4XX'], `${method} ${p}: answers documented`)
        }
      }
    } finally {
      await served.close()
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
