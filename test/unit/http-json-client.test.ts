/**
 * JsonHttpClient against a real node:http server on 127.0.0.1: what a caller gets back, which
 * errors (and so exit codes) statuses become, which calls are retried, and that credentials
 * never appear in a message.
 */
import assert from 'node:assert/strict'
import {type IncomingMessage, type Server, type ServerResponse, createServer} from 'node:http'
import type {AddressInfo, Socket} from 'node:net'
import {after, before, beforeEach, describe, it} from 'node:test'

import {
  BackendUnavailableError,
  ConflictError,
  InvalidInputError,
  NotAllowedError,
  NotAuthenticatedError,
  NotFoundError,
  type RosterError,
  TooLargeError,
} from '../../src/lib/errors.js'
import {JsonHttpClient} from '../../src/lib/http/json-client.js'

interface Seen {
  method: string
  url: string
  headers: IncomingMessage['headers']
  body: string
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void

const API_KEY = 'sekret-api-key-0123456789'

describe('JsonHttpClient', () => {
  let server: Server
  let base: string
  const sockets = new Set<Socket>()
  const seen: Seen[] = []
  let handler: Handler = (_req, res) => res.writeHead(200, {'content-type': 'application/json'}).end('{}')

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8')
        seen.push({method: req.method ?? '', url: req.url ?? '', headers: req.headers, body})
        handler(req, res, body)
      })
    })
    server.on('connection', (s: Socket) => {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })

  after(async () => {
    for (const s of sockets) s.destroy()
    await new Promise((resolve) => server.close(resolve))
  })

  beforeEach(() => {
    seen.length = 0
  })

  const client = (extra: Partial<ConstructorParameters<typeof JsonHttpClient>[0]> = {}): JsonHttpClient =>
    new JsonHttpClient({baseUrl: `${base}/api`, what: 'test API', timeoutMs: 5000, headers: {'x-api-key': API_KEY}, ...extra})

  const json = (status: number, body: unknown, headers: Record<string, string> = {}): Handler => {
    return (_req, res) => res.writeHead(status, {'content-type': 'application/json', ...headers}).end(JSON.stringify(body))
  }

  it('sends JSON with the base path, query, and configured headers; parses the JSON answer', async () => {
    handler = json(200, {ok: true, items: [1, 2]})
    const res = await client().request<{ok: boolean; items: number[]}>('POST', '/things', {
      body: {name: 'web'},
      query: {limit: 2, skip: undefined, sort: 'a b'},
    })
    assert.equal(res.status, 200)
    assert.deepEqual(res.body, {ok: true, items: [1, 2]})
    assert.equal(seen.length, 1)
    const [req] = seen
    assert.equal(req?.method, 'POST')
    assert.equal(req?.url, '/api/things?limit=2&sort=a+b')
    assert.equal(req?.headers['x-api-key'], API_KEY)
    assert.equal(req?.headers['content-type'], 'application/json')
    assert.equal(req?.headers.accept, 'application/json')
    assert.deepEqual(JSON.parse(req?.body ?? ''), {name: 'web'})
  })

  it('appends a fixed API prefix (basePath) to the path of the base URL', async () => {
    handler = json(200, [])
    await new JsonHttpClient({baseUrl: `${base}/root/`, basePath: '/api/v1', what: 'test API', timeoutMs: 5000}).get('/zones')
    assert.equal(seen[0]?.url, '/root/api/v1/zones')
  })

  it('a string body goes as it is, with the content type the caller gives', async () => {
    handler = (_req, res) => res.writeHead(204).end()
    const res = await client().request('PATCH', '/x', {body: '{"raw":1}', headers: {'content-type': 'application/x+json'}})
    assert.equal(res.status, 204)
    assert.equal(res.body, undefined)
    assert.equal(seen[0]?.body, '{"raw":1}')
    assert.equal(seen[0]?.headers['content-type'], 'application/x+json')
  })

  it('maps statuses to roster errors, with the exit codes the CLI documents', async () => {
    const cases: [number, new (...args: never[]) => RosterError, number][] = [
      [400, InvalidInputError, 2],
      [422, InvalidInputError, 2],
      [401, NotAuthenticatedError, 4],
      [403, NotAllowedError, 4],
      [404, NotFoundError, 5],
      [409, ConflictError, 6],
      [413, TooLargeError, 2],
      [500, BackendUnavailableError, 3],
    ]
    for (const [status, cls, exitCode] of cases) {
      handler = json(status, {error: {code: 'x', message: `the server says ${status}`, field: 'name'}})
      // A 500 is retried until the budget is spent: a short one keeps the test quick.
      await assert.rejects(client({retryBudgetMs: 300}).get('/s'), (e: unknown) => {
        assert.ok(e instanceof cls, `${status}: ${String(e)}`)
        assert.equal((e as RosterError).exitCode, exitCode, `${status}`)
        assert.match((e as Error).message, new RegExp(`the server says ${status}`))
        return true
      })
    }
    handler = json(400, {error: {code: 'invalid_input', message: 'name "x": bad', field: 'name'}})
    await assert.rejects(client().get('/s'), (e: unknown) => e instanceof InvalidInputError && e.field === 'name')
  })

  it('returns the statuses the caller accepts instead of throwing', async () => {
    handler = json(404, {error: 'no such thing'})
    const res = await client().get('/missing', {accept: [404]})
    assert.equal(res.status, 404)
    assert.deepEqual(res.body, {error: 'no such thing'})
  })

  it("uses the caller's own error for a status when it has one", async () => {
    handler = json(415, {error: 'wrong media type'})
    await assert.rejects(
      client().get('/m', {
        describeError: (status, body, where) =>
          status === 415 ? new InvalidInputError(`${where} wants another media type: ${(body as {error: string}).error}`) : undefined,
      }),
      (e: unknown) => e instanceof InvalidInputError && e.message === `test API at ${base} wants another media type: wrong media type`,
    )
  })

  it('retries an idempotent call on 503 until it succeeds', async () => {
    let calls = 0
    handler = (req, res, body) => {
      calls++
      if (calls < 3) json(503, {error: 'busy'})(req, res, body)
      else json(200, {done: calls})(req, res, body)
    }
    const res = await client({retryBudgetMs: 30_000}).get<{done: number}>('/flaky')
    assert.deepEqual(res.body, {done: 3})
    assert.equal(seen.length, 3)
  })

  it('never retries a POST: one request, and the 503 is BackendUnavailableError', async () => {
    handler = json(503, {error: 'busy'})
    await assert.rejects(
      client({retryBudgetMs: 30_000}).request('POST', '/once', {body: {}}),
      (e: unknown) => e instanceof BackendUnavailableError && /HTTP 503: busy/.test(e.message),
    )
    assert.equal(seen.length, 1)
  })

  it('a server that does not answer within the timeout is BackendUnavailableError naming it', async () => {
    handler = () => undefined // never answers
    await assert.rejects(client({timeoutMs: 200}).request('POST', '/slow', {body: {}}), (e: unknown) => {
      assert.ok(e instanceof BackendUnavailableError, String(e))
      assert.equal(e.exitCode, 3)
      assert.match(e.message, new RegExp(`^test API at ${base} did not answer POST /api/slow within 200 ms$`))
      return true
    })
    for (const s of sockets) s.destroy()
  })

  it('an unreachable server is BackendUnavailableError naming it', async () => {
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`
    await new Promise((resolve) => closed.close(resolve))
    await assert.rejects(
      new JsonHttpClient({baseUrl: url, what: 'test API', timeoutMs: 500}).get('/'),
      (e: unknown) => e instanceof BackendUnavailableError && e.message === `test API at ${url} is unreachable (ECONNREFUSED)`,
    )
  })

  it('never echoes credentials: not a header the server sends back, not a URL password', async () => {
    handler = (req, res) =>
      res.writeHead(401, {'content-type': 'application/json'}).end(JSON.stringify({error: `bad key ${String(req.headers['x-api-key'])}`}))
    await assert.rejects(client().get('/auth'), (e: unknown) => {
      assert.ok(e instanceof NotAuthenticatedError, String(e))
      assert.ok(!e.message.includes(API_KEY), e.message)
      assert.match(e.message, /bad key \*\*\*/)
      return true
    })
    handler = (req, res) => res.writeHead(500).end(`token was ${String(req.headers.authorization)}`)
    await assert.rejects(
      new JsonHttpClient({
        baseUrl: base,
        what: 'test API',
        timeoutMs: 5000,
        retryBudgetMs: 300,
        headers: {authorization: 'Bearer abc.def.ghi'},
      }).get('/t'),
      (e: unknown) => e instanceof BackendUnavailableError && !e.message.includes('abc.def.ghi'),
    )
    const withPassword = new JsonHttpClient({baseUrl: `http://user:hunter22@127.0.0.1:1/`, what: 'test API', timeoutMs: 500})
    assert.ok(!withPassword.origin.includes('hunter22'))
    assert.throws(
      () => new JsonHttpClient({baseUrl: 'ftp://user:hunter22@127.0.0.1/', what: 'test API', timeoutMs: 500}),
      (e: unknown) => e instanceof InvalidInputError && !e.message.includes('hunter22'),
    )
  })

  it('a token with characters no header can carry is bad input (exit 2), named and not echoed, and nothing is sent', async () => {
    let sent = 0
    handler = (_req, res) => {
      sent++
      res.writeHead(200).end('{}')
    }
    const token = 'abc\u00e9def\nghi'
    await assert.rejects(
      new JsonHttpClient({baseUrl: base, what: 'test API', timeoutMs: 5000, headers: {authorization: `Bearer ${token}`}}).get('/t'),
      (e: unknown) => e instanceof InvalidInputError && e.exitCode === 2 && /^token: /.test(e.message) && !e.message.includes('abc'),
    )
    assert.equal(sent, 0)
  })

  it('a base URL that is not one names the setting it came from', () => {
    assert.throws(
      () => new JsonHttpClient({baseUrl: 'nope', urlField: 'pdnsServer', what: 'test API', timeoutMs: 500}),
      (e: unknown) => e instanceof InvalidInputError && e.field === 'pdnsServer' && e.message === 'pdnsServer "nope": is not a URL',
    )
  })

  it('refuses an answer larger than the limit', async () => {
    handler = (_req, res) => res.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify({blob: 'x'.repeat(10_000)}))
    await assert.rejects(
      client({maxResponseBytes: 1000}).request('POST', '/big', {body: {}}),
      (e: unknown) => e instanceof BackendUnavailableError && /larger than 1000 bytes/.test(e.message),
    )
  })

  it('hands back text when the answer is not JSON', async () => {
    handler = (_req, res) => res.writeHead(200, {'content-type': 'text/plain'}).end('plain words')
    const res = await client().get('/text')
    assert.equal(res.body, 'plain words')
  })
})
