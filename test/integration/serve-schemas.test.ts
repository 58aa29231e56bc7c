/**
 * serve's validators and serializers made at build time (dist/serve-schemas.cjs, written by
 * scripts/serve-schemas.mjs, restored by src/lib/server/schema-compilers.ts): the built serve
 * answers with them and compiles no schema at run time (neither Ajv nor fast-json-stringify's
 * compiler is ever loaded), and a schema that is not the one built, or no file at all, is compiled
 * at run time instead: stale code is never used.
 */
import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import Fastify from 'fastify'

import {AJV_OPTIONS} from '../../src/lib/server/app.js'
import {restoringCompilers} from '../../src/lib/server/schema-compilers.js'
import {routes, sharedSchemas} from '../../src/lib/server/schemas.js'
import {ROOT} from '../support/cli.js'
import {http, startServe} from '../support/serve-server.js'

const BUILT = path.join(ROOT, 'dist', 'serve-schemas.cjs')

describe('serve: schemas compiled at build time', () => {
  let dir: string
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'roster-serve-schemas-'))
  })
  after(() => rmSync(dir, {recursive: true, force: true}))

  it('the built serve validates and serializes with them, and compiles none at run time', async () => {
    // What the process loaded, written as it exits.
    const loaded = path.join(dir, 'loaded.txt')
    const preload = path.join(dir, 'loaded-modules.cjs')
    writeFileSync(
      preload,
      `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(loaded)}, Object.keys(require.cache).join('\\n')))\n`,
    )
    // The console is on (the default): every route there is, as the build saw them.
    const serve = await startServe({
      registry: `sqlite:${path.join(dir, 'registry.db')}`,
      args: ['--auth', 'none'],
      nodeArgs: ['--require', preload],
    })
    try {
      const refused = await http(`${serve.url}/v1/settings`, {method: 'PUT', body: JSON.stringify({replicas: 'two'})})
      assert.equal(refused.status, 400, refused.text)
      assert.deepEqual(refused.json(), {error: {code: 'invalid_input', message: 'replicas: must be integer', field: 'replicas'}})
      const tooLong = await http(`${serve.url}/v1/servers/${'a'.repeat(254)}`, {method: 'PUT', body: JSON.stringify({labels: {}})})
      assert.equal(tooLong.status, 400, tooLong.text)
      assert.match(tooLong.text, /must NOT have more than 253 characters/)
      const settings = await http(`${serve.url}/v1/settings`)
      assert.equal(settings.status, 200, settings.text)
      assert.deepEqual(Object.keys(settings.json() as object).sort(), ['historyRetention', 'replicas', 'revision'])
      const put = await http(`${serve.url}/v1/servers/prom1`, {method: 'PUT', body: JSON.stringify({labels: {dc: 'a'}})})
      assert.equal(put.status, 200, put.text)
      assert.deepEqual((put.json() as {server: {labels: object}}).server.labels, {dc: 'a'})
      const sd = await http(`${serve.url}/v1/sd/prom1`)
      assert.equal(sd.status, 200, sd.text)
      assert.deepEqual(sd.json(), [])
    } finally {
      assert.equal(await serve.stop(), 0, serve.stderr())
    }
    const modules = readFileSync(loaded, 'utf8').split('\n')
    assert.ok(
      modules.some((m) => m.endsWith(`${path.sep}fastify.js`)),
      'the preload saw fastify load',
    )
    const compilers = modules.filter((m) =>
      /[\\/]node_modules[\\/](ajv[\\/]dist[\\/](ajv|core)\.js|fast-json-stringify[\\/]index\.js|@fastify[\\/](ajv-compiler|fast-json-stringify-compiler)[\\/])/.test(
        m,
      ),
    )
    assert.deepEqual(compilers, [], 'a schema compiler was loaded: dist/serve-schemas.cjs did not cover every schema')
  })

  /** A fastify app as serve's (its Ajv options, its shared schemas) with one route, compiled by `compilers`. */
  async function appWith(compilers: ReturnType<typeof restoringCompilers>, schema: object) {
    const app = Fastify({ajv: AJV_OPTIONS, schemaController: {compilersFactory: compilers as never}})
    for (const shared of sharedSchemas) app.addSchema(shared)
    app.setErrorHandler(async (error, _request, reply) => reply.code(400).send({error: {code: 'invalid_input', message: error.message}}))
    app.put('/v1/settings', {schema}, async () => ({settings: {replicas: 1, revision: 1}, moved: 0, servicesMoved: 0}))
    await app.ready()
    return app
  }

  it('restores the code of a schema as built, and compiles a schema that differs from it', async () => {
    const asBuilt = restoringCompilers(BUILT)
    const built = await appWith(asBuilt, routes.putSettings)
    assert.equal(asBuilt.counts.compiled, 0)
    assert.ok(asBuilt.counts.restored >= 3, `restored ${asBuilt.counts.restored}`)
    await built.close()

    // The same route with a schema changed since the build: replicas now a string.
    const changed = {
      ...routes.putSettings,
      body: {...routes.putSettings.body, properties: {...routes.putSettings.body.properties, replicas: {type: 'string'}}},
    }
    const compilers = restoringCompilers(BUILT)
    const app = await appWith(compilers, changed)
    assert.equal(compilers.counts.compiled, 1, 'the changed body schema, and only it, is compiled')
    const answer = await app.inject({method: 'PUT', url: '/v1/settings', payload: {replicas: 2}})
    assert.equal(answer.statusCode, 400)
    assert.match(answer.body, /must be string/)
    await app.close()
  })

  it('compiles every schema at run time when there is no built file', async () => {
    const compilers = restoringCompilers(path.join(ROOT, 'dist', 'no-such-file.cjs'))
    const app = await appWith(compilers, routes.putSettings)
    assert.equal(compilers.counts.restored, 0)
    assert.ok(compilers.counts.compiled >= 3, `compiled ${compilers.counts.compiled}`)
    const answer = await app.inject({method: 'PUT', url: '/v1/settings', payload: {replicas: 'two'}})
    assert.equal(answer.statusCode, 400)
    assert.match(answer.body, /must be integer/)
    await app.close()
  })
})
