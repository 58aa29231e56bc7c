/**
 * serve's validators and serializers made at build time (dist/serve-schemas.cjs, written by
 * scripts/serve-schemas.mjs, restored by src/lib/server/schema-compilers.ts): the built serve
 * answers with them and compiles no schema at run time, and a schema that is not the one built, or
 * no file at all, is compiled at run time instead: stale code is never used.
 *
 * A compilation is seen where it happens: Ajv makes each validator with `new Function('self',
 * 'scope', code)` and fast-json-stringify each serializer with `new Function('validator',
 * 'serializer', code)`; a spy on the global Function records the parameter names of every function
 * made from source (in-process here, and in the built serve through a preload). The in-process
 * cases show that the spy sees both compilers when they run.
 */
import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import Fastify from 'fastify'

import {AJV_OPTIONS} from '../../src/lib/server/app.js'
import {SCHEMA_CODE_FILE, restoringCompilers} from '../../src/lib/server/schema-compilers.js'
import {routes, sharedSchemas} from '../../src/lib/server/schemas.js'
import {ROOT, isolatedEnv} from '../support/cli.js'
import {http, startServe} from '../support/serve-server.js'

const BUILT = path.join(ROOT, SCHEMA_CODE_FILE)

/** The spy: every function made from source, as its parameter names; written to $SCHEMA_SPY_OUT at exit. */
const SPY = `const made = (globalThis.madeFunctions = [])
globalThis.Function = new Proxy(Function, {
  construct: (target, args) => (made.push(args.slice(0, -1).join(',')), Reflect.construct(target, args)),
  apply: (target, self, args) => (made.push(args.slice(0, -1).join(',')), Reflect.apply(target, self, args)),
})
if (process.env.SCHEMA_SPY_OUT) process.on('exit', () => require('node:fs').writeFileSync(process.env.SCHEMA_SPY_OUT, JSON.stringify(made)))
`
/** The compilations among the functions made: Ajv's validators, fast-json-stringify's serializers. */
const compilations = (made: string[]) => ({
  validators: made.filter((p) => p === 'self,scope').length,
  serializers: made.filter((p) => p === 'validator,serializer').length,
})

describe('serve: schemas compiled at build time', () => {
  let dir: string
  let made: string[]
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'roster-serve-schemas-'))
    writeFileSync(path.join(dir, 'spy.cjs'), SPY)
    createRequire(import.meta.url)(path.join(dir, 'spy.cjs'))
    made = (globalThis as unknown as {madeFunctions: string[]}).madeFunctions
  })
  after(() => rmSync(dir, {recursive: true, force: true}))

  it('the built serve validates and serializes with them, and compiles none at run time', async () => {
    const spy = path.join(dir, 'spy.cjs')
    const out = path.join(dir, 'made.json')
    writeFileSync(spy, SPY)
    // The console is on (the default): every route there is, as the build saw them.
    const serve = await startServe({
      registry: `sqlite:${path.join(dir, 'registry.db')}`,
      args: ['--auth', 'none'],
      nodeArgs: ['--require', spy],
      env: isolatedEnv({SCHEMA_SPY_OUT: out}),
    })
    try {
      const refused = await http(`${serve.url}/v1/settings`, {method: 'PUT', body: JSON.stringify({replicas: 'two'})})
      assert.equal(refused.status, 400, refused.text)
      assert.deepEqual(refused.json(), {error: {code: 'invalid_input', message: 'replicas: must be integer', field: 'replicas'}})
      const tooLong = await http(`${serve.url}/v1/servers/${'a'.repeat(254)}`, {method: 'PUT', body: JSON.stringify({labels: {}})})
      assert.equal(tooLong.status, 400, tooLong.text)
      assert.match(tooLong.text, /must NOT have more than 253 characters/)
      const put = await http(`${serve.url}/v1/servers/prom1`, {method: 'PUT', body: JSON.stringify({labels: {dc: 'a'}})})
      assert.equal(put.status, 200, put.text)
      assert.deepEqual((put.json() as {server: {labels: object}}).server.labels, {dc: 'a'})
      const settings = await http(`${serve.url}/v1/settings`)
      assert.equal(settings.status, 200, settings.text)
      assert.deepEqual(Object.keys(settings.json() as object).sort(), ['historyRetention', 'replicas', 'revision'])
      const sd = await http(`${serve.url}/v1/sd/prom1`)
      assert.equal(sd.status, 200, sd.text)
      assert.deepEqual(sd.json(), [])
    } finally {
      assert.equal(await serve.stop(), 0, serve.stderr())
    }
    const made = JSON.parse(readFileSync(out, 'utf8')) as string[]
    assert.ok(made.length > 0, 'the spy saw the functions the router makes')
    assert.deepEqual(compilations(made), {validators: 0, serializers: 0}, 'dist/serve-schemas.cjs did not cover every schema')
  })

  /** A fastify app as serve's (its Ajv options, its shared schemas) with one route, compiled by `compilers`. */
  async function appWith(compilers: ReturnType<typeof restoringCompilers>, schema: object) {
    const app = Fastify({ajv: AJV_OPTIONS, schemaController: {compilersFactory: compilers as never}})
    for (const shared of sharedSchemas) app.addSchema(shared)
    app.setErrorHandler(async (error, _request, reply) =>
      reply.code(400).send({error: {code: 'invalid_input', message: (error as Error).message}}),
    )
    app.put('/v1/settings', {schema}, async () => ({settings: {replicas: 1, revision: 1}, moved: 0, servicesMoved: 0}))
    await app.ready()
    return app
  }

  it('restores the code of a schema as built, and compiles a schema that differs from it', async () => {
    made.length = 0
    const asBuilt = restoringCompilers(BUILT)
    const built = await appWith(asBuilt, routes.putSettings)
    assert.equal(asBuilt.counts.compiled, 0)
    assert.deepEqual(compilations(made), {validators: 0, serializers: 0})
    assert.ok(asBuilt.counts.restored >= 3, `restored ${asBuilt.counts.restored}`)
    await built.close()

    // The same route with a schema changed since the build: replicas now a string.
    const changed = {
      ...routes.putSettings,
      body: {...routes.putSettings.body, properties: {...routes.putSettings.body.properties, replicas: {type: 'string'}}},
    }
    made.length = 0
    const compilers = restoringCompilers(BUILT)
    const app = await appWith(compilers, changed)
    assert.equal(compilers.counts.compiled, 1, 'the changed body schema, and only it, is compiled')
    const {validators, serializers} = compilations(made)
    assert.ok(validators > 0 && serializers === 0, `validators ${validators}, serializers ${serializers}`)
    const answer = await app.inject({method: 'PUT', url: '/v1/settings', payload: {replicas: 2}})
    assert.equal(answer.statusCode, 400)
    assert.match(answer.body, /must be string/)
    await app.close()
  })

  for (const [where, file] of [
    ['beside the bundle', path.join(ROOT, 'dist', 'no-such-file.cjs')],
    ['nor any bundle (src/ through bin/dev.js, before a build)', path.join(ROOT, 'no-such-dist', 'serve-schemas.cjs')],
  ])
    it(`compiles every schema at run time when there is no built file ${where}`, async () => {
      made.length = 0
      const compilers = restoringCompilers(file!)
      const app = await appWith(compilers, routes.putSettings)
      assert.equal(compilers.counts.restored, 0)
      const {validators, serializers} = compilations(made)
      assert.ok(validators > 0 && serializers > 0, `validators ${validators}, serializers ${serializers}`)
      assert.ok(compilers.counts.compiled >= 3, `compiled ${compilers.counts.compiled}`)
      const answer = await app.inject({method: 'PUT', url: '/v1/settings', payload: {replicas: 'two'}})
      assert.equal(answer.statusCode, 400)
      assert.match(answer.body, /must be integer/)
      await app.close()
    })
})
