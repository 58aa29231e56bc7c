/**
 * Conditional requests through `roster serve` (SQLite): single objects carry their revision as the
 * ETag and in the body, list items in the body; every write route of the OpenAPI document answers
 * 412 `precondition_failed` to a stale If-Match and changes nothing (the store revision does not
 * move), and the routes that take If-Match do the write with the current ETag. The routes are read
 * from the document itself, so a write route added later is tested too: one that takes If-Match
 * needs a fixture below, or this test fails naming it. The CLI's --if-revision exits 6 through
 * serve as it does locally.
 */
import assert from 'node:assert/strict'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {openStore} from '../../src/lib/store/open-store.js'
import {type Store, storeRevision} from '../../src/lib/store/store.js'
import {type CliResult, isolatedEnv, runCli} from '../support/cli.js'
import {type ServeProcess, createToken, http, startServe} from '../support/serve-server.js'

interface OpenApi {
  paths: Record<string, Record<string, {operationId?: string; parameters?: {in: string; name: string}[]}>>
}
interface ErrorBody {
  error: {code: string; message: string}
}

/** How to make a valid request to a route that takes If-Match, read its ETag, and move the object. */
interface Fixture {
  url: string
  body?: unknown
  /** The object's current ETag, as a client reads it. */
  etag(): Promise<string>
  /** Changes the object (another client's write), so that an ETag read before is stale. */
  touch(): Promise<void>
}

const WRITE_METHODS = new Set(['post', 'put', 'patch', 'delete'])

describe('roster serve: ETags and If-Match on every write route (SQLite)', () => {
  let dir: string
  let registry: string
  let serve: ServeProcess
  let admin: string
  let store: Store

  const api = (urlPath: string, o: {method?: string; body?: unknown; headers?: Record<string, string>} = {}) =>
    http(`${serve.url}${urlPath}`, {
      method: o.method,
      token: admin,
      headers: o.headers,
      body: o.body === undefined ? undefined : JSON.stringify(o.body),
    })
  const okApi = async (urlPath: string, o: Parameters<typeof api>[1] = {}) => {
    const r = await api(urlPath, o)
    assert.ok(r.status >= 200 && r.status < 300, `${o.method ?? 'GET'} ${urlPath}: ${r.status} ${r.text}`)
    return r
  }
  const etagOf = async (urlPath: string): Promise<string> => {
    const response = await fetch(`${serve.url}${urlPath}`, {headers: {authorization: `Bearer ${admin}`}})
    assert.equal(response.status, 200, urlPath)
    const etag = response.headers.get('etag')
    const body = (await response.json()) as {revision: number}
    assert.equal(etag, `"${body.revision}"`, `${urlPath}: the ETag is the body's revision`)
    return etag!
  }
  const serviceEtag = async (endpoint: string): Promise<string> => {
    const page = (await okApi(`/v1/services?endpoint=${encodeURIComponent(`^${endpoint}$`)}`)).json() as {items: {revision: number}[]}
    assert.equal(page.items.length, 1, endpoint)
    return `"${page.items[0]!.revision}"`
  }
  const register = (name: string, endpoint: string, description = '') =>
    okApi('/v1/services', {method: 'POST', body: {name, endpoints: [endpoint], description}})
  let touches = 0
  const touchService = (endpoint: string) => register('svc', endpoint, `touched ${++touches}`).then(() => undefined)
  const cli = (...args: string[]): Promise<CliResult> =>
    runCli(args, {env: isolatedEnv({ROSTER_REGISTRY: serve.url, ROSTER_TOKEN: admin, ROSTER_TIMEOUT: '10s'})})

  const fixtures: Record<string, Fixture> = {
    'put /v1/settings': {
      url: '/v1/settings',
      body: {replicas: 1},
      etag: () => etagOf('/v1/settings'),
      touch: async () => {
        await okApi('/v1/settings', {method: 'PUT', body: {replicas: 2}})
        await okApi('/v1/settings', {method: 'PUT', body: {replicas: 1}})
      },
    },
    'put /v1/servers/{name}': {
      url: '/v1/servers/prom-put',
      body: {labels: {dc: 'b'}},
      etag: () => etagOf('/v1/servers/prom-put'),
      touch: async () => void (await okApi('/v1/servers/prom-put', {method: 'PUT', body: {labels: {dc: `t${++touches}`}}})),
    },
    'delete /v1/servers/{name}': {
      url: '/v1/servers/prom-delete',
      etag: () => etagOf('/v1/servers/prom-delete'),
      touch: async () => void (await okApi('/v1/servers/prom-delete', {method: 'PUT', body: {labels: {dc: `t${++touches}`}}})),
    },
    'put /v1/namespaces/{name}': {
      url: '/v1/namespaces/ns-put',
      body: {export: 'disabled'},
      etag: () => etagOf('/v1/namespaces/ns-put'),
      touch: async () => {
        await okApi('/v1/namespaces/ns-put', {method: 'PUT', body: {export: 'blackbox'}})
        await okApi('/v1/namespaces/ns-put', {method: 'PUT', body: {export: 'standard'}})
      },
    },
    'delete /v1/namespaces/{name}': {
      url: '/v1/namespaces/ns-delete',
      etag: () => etagOf('/v1/namespaces/ns-delete'),
      touch: async () => {
        await okApi('/v1/namespaces/ns-delete', {method: 'PUT', body: {export: 'blackbox'}})
        await okApi('/v1/namespaces/ns-delete', {method: 'PUT', body: {export: 'standard'}})
      },
    },
    'post /v1/services': {
      url: '/v1/services',
      body: {name: 'svc', endpoints: ['http://register:9100/'], description: 'conditional'},
      etag: () => serviceEtag('http://register:9100/'),
      touch: () => touchService('http://register:9100/'),
    },
    'post /v1/services/unregister': {
      url: '/v1/services/unregister',
      body: {refs: ['http://unregister:9100/']},
      etag: () => serviceEtag('http://unregister:9100/'),
      touch: () => touchService('http://unregister:9100/'),
    },
    'delete /v1/services/{id}': {
      url: '/v1/services/ID?namespace=default',
      etag: () => serviceEtag('http://delete:9100/'),
      touch: () => touchService('http://delete:9100/'),
    },
  }

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'roster-serve-conditional-'))
    registry = `sqlite:${path.join(dir, 'registry.db')}`
    admin = await createToken(registry, {id: 'admin-1', role: 'admin', namespaces: ['*']})
    serve = await startServe({registry})
    store = await openStore({registry, timeoutMs: 10_000, readOnly: true})
    await okApi('/v1/settings', {method: 'PUT', body: {replicas: 1}})
    for (const name of ['prom-put', 'prom-delete']) await okApi(`/v1/servers/${name}`, {method: 'PUT', body: {labels: {dc: 'a'}}})
    for (const name of ['ns-put', 'ns-delete']) await okApi(`/v1/namespaces/${name}`, {method: 'PUT', body: {export: 'standard'}})
    for (const endpoint of ['http://register:9100/', 'http://unregister:9100/', 'http://delete:9100/']) await register('svc', endpoint)
    const id = ((await register('svc', 'http://delete:9100/')).json() as {services: {id: string}[]}).services[0]!.id
    fixtures['delete /v1/services/{id}']!.url = `/v1/services/${id}?namespace=default`
  })
  after(async () => {
    await store?.close()
    await serve?.stop()
    rmSync(dir, {recursive: true, force: true})
  })

  it('gives every object its revision: the ETag of single objects, a field in bodies and lists', async () => {
    for (const urlPath of ['/v1/settings', '/v1/servers/prom-put', '/v1/namespaces/ns-put', '/v1/namespaces/default']) await etagOf(urlPath)
    assert.equal(await etagOf('/v1/namespaces/default'), '"0"', 'default is not stored: revision 0')
    for (const [urlPath, items] of [
      ['/v1/servers', (b: unknown) => b as {revision: number}[]],
      ['/v1/namespaces', (b: unknown) => b as {revision: number}[]],
      ['/v1/services', (b: unknown) => (b as {items: {revision: number}[]}).items],
    ] as const) {
      const listed = items((await okApi(urlPath)).json())
      assert.ok(listed.length > 0 && listed.every((o) => Number.isInteger(o.revision)), `${urlPath}: every item has its revision`)
    }
    const put = await okApi('/v1/servers/prom-put', {method: 'PUT', body: {labels: {dc: 'a'}}})
    const answer = put.json() as {server: {revision: number}}
    assert.equal(await etagOf('/v1/servers/prom-put'), `"${answer.server.revision}"`, 'a write answers with the revision it left')
    const reg = (await register('svc', 'http://register:9100/')).json() as {services: {revision: number}[]}
    assert.equal(await serviceEtag('http://register:9100/'), `"${reg.services[0]!.revision}"`)
  })

  it('answers 412 to a stale If-Match on every write route of the OpenAPI document, and changes nothing', async () => {
    const doc = (await okApi('/v1/openapi.json')).json() as OpenApi
    const tested: string[] = []
    for (const [template, methods] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        if (!WRITE_METHODS.has(method)) continue
        const route = `${method} ${template}`
        const takesIfMatch = (operation.parameters ?? []).some((p) => p.in === 'header' && p.name.toLowerCase() === 'if-match')
        const fixture = fixtures[route]
        if (takesIfMatch) assert.ok(fixture, `${route} takes If-Match: give it a fixture in this test`)
        else assert.equal(fixture, undefined, `${route} has a fixture but its document does not list the If-Match header`)
        const url = fixture?.url ?? template.replace(/\{[^}]+\}/g, 'x')
        const body = fixture ? fixture.body : method === 'delete' ? undefined : {}
        let stale = '"1"'
        if (fixture) {
          stale = await fixture.etag()
          await fixture.touch()
          assert.notEqual(await fixture.etag(), stale, `${route}: the touch moved the object`)
        }
        const current = fixture ? await fixture.etag() : undefined
        const revision = await storeRevision(store)
        const r = await api(url, {method: method.toUpperCase(), body, headers: {'if-match': stale}})
        assert.equal(r.status, 412, `${route} with a stale If-Match: ${r.status} ${r.text}`)
        assert.equal((r.json() as ErrorBody).error.code, 'precondition_failed', route)
        assert.match((r.json() as ErrorBody).error.message, /nothing was changed/, route)
        assert.equal(await storeRevision(store), revision, `${route}: a 412 changes nothing`)
        if (fixture) {
          assert.equal(await fixture.etag(), current, `${route}: the object is unchanged`)
          const done = await api(url, {method: method.toUpperCase(), body, headers: {'if-match': current!}})
          assert.equal(done.status, 200, `${route} with the current ETag: ${done.text}`)
        }
        tested.push(route)
      }
    }
    for (const route of Object.keys(fixtures)) assert.ok(tested.includes(route), `${route} is in the OpenAPI document`)
    assert.ok(tested.length >= Object.keys(fixtures).length + 3, `write routes tested: ${tested.join(', ')}`)
  })

  it('refuses If-Match values that are not one entity tag (400), and a weak or foreign tag can never match (412)', async () => {
    await okApi('/v1/servers/prom-tags', {method: 'PUT', body: {labels: {}}})
    const etag = await etagOf('/v1/servers/prom-tags')
    const put = (ifMatch: string) =>
      api('/v1/servers/prom-tags', {method: 'PUT', body: {labels: {dc: 'z'}}, headers: {'if-match': ifMatch}})
    for (const [value, status, message] of [
      ['*', 400, /if-match "\*": give the ETag of the object/],
      [`${etag}, "1"`, 400, /give one ETag/],
      [etag.replace(/"/g, ''), 400, /is not an entity tag/],
      [`W/${etag}`, 412, /matches no revision/],
      ['"abc"', 412, /matches no revision/],
      ['"99999999999999999999"', 412, /matches no revision/],
    ] as const) {
      const r = await put(value)
      assert.equal(r.status, status, `If-Match ${value}: ${r.text}`)
      assert.match((r.json() as ErrorBody).error.message, message)
    }
    assert.equal(await etagOf('/v1/servers/prom-tags'), etag, 'nothing changed')
    const both = await api('/v1/services/unregister', {
      method: 'POST',
      body: {refs: ['http://x/'], revisions: [1]},
      headers: {'if-match': '"1"'},
    })
    assert.equal(both.status, 400, both.text)
  })

  it('service register/unregister --if-revision exit 6 through serve when the service moved, and act when it did not', async () => {
    const endpoint = 'http://cli:9100/'
    const created = await cli('service', 'register', 'cli', '-e', endpoint, '--if-revision', '0', '--json')
    assert.equal(created.code, 0, created.stderr)
    const revision = (JSON.parse(created.stdout) as {services: {revision: number}[]}).services[0]!.revision
    const again = await cli('service', 'register', 'cli', '-e', endpoint, '--if-revision', '0')
    assert.equal(again.code, 6, again.stderr)
    assert.match(
      again.stderr,
      /^roster: service "http:\/\/cli:9100\/" in namespace "default": revision 0 expected, it exists .*nothing was changed\n$/,
    )
    await register('cli', endpoint, 'renewed by someone else')
    const stale = await cli('service', 'unregister', endpoint, '--if-revision', String(revision))
    assert.equal(stale.code, 6, stale.stderr)
    assert.match(stale.stderr, /revision \d+ expected, it is at revision \d+ now; nothing was changed/)
    assert.equal(((await okApi(`/v1/services?endpoint=^http://cli`)).json() as {items: unknown[]}).items.length, 1, 'not removed')
    const current = JSON.parse((await cli('service', 'list', '--endpoint', '^http://cli', '-o', 'json')).stdout) as {revision: number}[]
    const removed = await cli('service', 'unregister', endpoint, '--if-revision', String(current[0]!.revision))
    assert.equal(removed.code, 0, removed.stderr)
    assert.match(removed.stdout, /unregistered default\/cli http:\/\/cli:9100\//)
  })
})
