/**
 * `roster serve` over SQLite and the CLI in remote mode (--registry http://127.0.0.1:PORT): round
 * trips of every registry command, the exit code for every status, the systemd example of the
 * README with a `service` token, bad requests refused with the registry unchanged, refusals
 * before listening, and SIGTERM with a request in flight.
 */
import assert from 'node:assert/strict'
import {mkdtempSync, rmSync} from 'node:fs'
import {request} from 'node:http'
import {connect, type Socket} from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {type CliResult, isolatedEnv, runCli} from '../support/cli.js'
import {makeTlsFiles} from '../support/test-pki.js'
import {type ServeProcess, createToken, http, startServe} from '../support/serve-server.js'
import {metricValue} from '../support/serve-monitor.js'
import {until} from '../support/until.js'

function ok(r: CliResult): CliResult {
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stdout} ${r.stderr}`)
  return r
}

function fails(r: CliResult, code: number, message: RegExp): void {
  assert.equal(r.code, code, `expected exit ${code}, got ${r.code}: ${r.stdout} ${r.stderr}`)
  const lines = r.stderr.trim().split('\n')
  assert.equal(lines.length, 1, `one line expected: ${r.stderr}`)
  assert.match(lines[0]!, message)
}

describe('roster serve: the API through the CLI in remote mode (SQLite)', () => {
  let dir: string
  let registry: string
  let serve: ServeProcess
  let admin: string
  let svcToken: string
  let readToken: string
  const outputs: string[] = []
  const cli = async (token: string | undefined, ...args: string[]): Promise<CliResult> => {
    const r = await runCli(args, {env: isolatedEnv({ROSTER_REGISTRY: serve.url, ROSTER_TOKEN: token, ROSTER_TIMEOUT: '5s'})})
    outputs.push(r.stdout, r.stderr)
    return r
  }
  const servicesJson = async (): Promise<unknown> => JSON.parse(ok(await cli(admin, 'service', 'list', '-o', 'json')).stdout)

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'roster-serve-api-'))
    registry = `sqlite:${path.join(dir, 'registry.db')}`
    admin = await createToken(registry, {id: 'admin-1', role: 'admin', namespaces: ['*']})
    svcToken = await createToken(registry, {id: 'svc-1', role: 'service', namespaces: ['default', 'team-a']})
    readToken = await createToken(registry, {id: 'read-1', role: 'read', namespaces: ['team-a']})
    serve = await startServe({registry})
  })
  after(async () => {
    await serve?.stop()
    rmSync(dir, {recursive: true, force: true})
  })

  it('servers, namespaces, settings and services round-trip', async () => {
    ok(await cli(admin, 'server', 'register', 'prom1', '-l', 'dc=a'))
    ok(await cli(admin, 'server', 'register', 'prom2', '-l', 'dc=b'))
    const servers = JSON.parse(ok(await cli(admin, 'server', 'list', '-o', 'json')).stdout) as {name: string; labels: object}[]
    assert.deepEqual(
      servers.map((s) => [s.name, s.labels]),
      [
        ['prom1', {dc: 'a'}],
        ['prom2', {dc: 'b'}],
      ],
    )
    ok(await cli(admin, 'namespace', 'register', 'team-a', '--export', 'blackbox'))
    const namespaces = JSON.parse(ok(await cli(admin, 'namespace', 'list', '-o', 'json')).stdout) as {name: string; export: string}[]
    assert.deepEqual(
      namespaces.map((n) => [n.name, n.export]),
      [
        ['default', 'standard'],
        ['team-a', 'blackbox'],
      ],
    )
    ok(await cli(admin, 'registry', 'settings', '--replicas', '2'))
    const settings = JSON.parse(ok(await cli(admin, 'registry', 'settings', '--json')).stdout) as {revision: number}
    assert.deepEqual(settings, {replicas: 2, historyRetention: '30d', revision: settings.revision})
    assert.ok(settings.revision > 0)
    ok(await cli(admin, 'registry', 'settings', '--replicas', '1'))

    const reg = ok(
      await cli(admin, 'service', 'register', 'api', '-n', 'team-a', '-e', 'http://api1:8080/metrics', '-l', 'tier=web', '--json'),
    )
    const result = JSON.parse(reg.stdout) as {created: number; services: {id: string; servers: string[]}[]}
    assert.equal(result.created, 1)
    assert.equal(result.services[0]!.servers.length, 1)
    const listed = JSON.parse(ok(await cli(admin, 'service', 'list', '-n', 'team-a', '-o', 'json')).stdout) as {
      id: string
      labels: object
    }[]
    assert.deepEqual(
      listed.map((s) => [s.id, s.labels]),
      [[result.services[0]!.id, {tier: 'web'}]],
    )
    const byId = ok(await cli(admin, 'service', 'unregister', result.services[0]!.id))
    assert.match(byId.stdout, /unregistered team-a\/api http:\/\/api1:8080\/metrics/)
    assert.equal(JSON.parse(ok(await cli(admin, 'service', 'list', '-n', 'team-a', '-o', 'json')).stdout).length, 0)

    ok(await cli(admin, 'server', 'unregister', 'prom2'))
    assert.deepEqual(
      (JSON.parse(ok(await cli(admin, 'server', 'list', '-o', 'json')).stdout) as {name: string}[]).map((s) => s.name),
      ['prom1'],
    )
  })

  it('lists page by page (limit/continue) and filters as service list does', async () => {
    const endpoints = Array.from({length: 2500}, (_, i) => ({
      name: `bulk${i % 3}`,
      endpoints: [`http://bulk${i}:9100/metrics`],
      namespace: 'team-a',
    }))
    const imported = await http(`${serve.url}/v1/services/import`, {
      method: 'POST',
      token: admin,
      body: JSON.stringify({document: endpoints}),
    })
    assert.equal(imported.status, 200, imported.text)
    const all = JSON.parse(ok(await cli(admin, 'service', 'list', '-n', 'team-a', '-o', 'json')).stdout) as {endpoint: string}[]
    assert.equal(all.length, 2500)
    assert.equal(new Set(all.map((s) => s.endpoint)).size, 2500)
    const sorted = JSON.parse(
      ok(await cli(admin, 'service', 'list', '-n', 'team-a', '--name', '^bulk1$', '--sort-by', 'endpoint', '-o', 'json')).stdout,
    ) as {
      endpoint: string
      name: string
    }[]
    assert.equal(sorted.length, 833)
    assert.ok(sorted.every((s) => s.name === 'bulk1'))
    assert.deepEqual(
      sorted.map((s) => s.endpoint),
      [...sorted.map((s) => s.endpoint)].sort(),
    )
    fails(await cli(admin, 'service', 'list', '--name', '('), 2, /name "\(": /)
    ok(await cli(admin, 'namespace', 'unregister', 'team-a', '--force'))
  })

  it("runs a reader's pattern in linear time: (a+)+$ against a long name answers at once, and serve goes on answering", async () => {
    // A backtracking engine takes 2^60 steps here, holding serve's one thread: the request (and
    // the test) would never end.
    const name = `${'a'.repeat(60)}-`
    ok(await cli(admin, 'namespace', 'register', 'team-a'))
    ok(await cli(admin, 'service', 'register', name, '-n', 'team-a', '-e', 'http://127.0.0.1:9100/metrics'))
    const listed = await http(`${serve.url}/v1/services?namespace=team-a&name=${encodeURIComponent('(a+)+$')}`, {token: readToken})
    assert.equal(listed.status, 200, listed.text)
    assert.deepEqual((JSON.parse(listed.text) as {items: unknown[]}).items, [])
    const prefixed = await http(`${serve.url}/v1/services?namespace=team-a&name=${encodeURIComponent('^(a+)+-$')}`, {token: readToken})
    assert.deepEqual(
      (JSON.parse(prefixed.text) as {items: {name: string}[]}).items.map((s) => s.name),
      [name],
    )
    // Lookaround needs backtracking: refused as invalid, naming the field.
    const lookahead = await http(`${serve.url}/v1/services?name=${encodeURIComponent('a(?=b)')}`, {token: readToken})
    assert.equal(lookahead.status, 400)
    assert.match(
      (JSON.parse(lookahead.text) as {error: {message: string}}).error.message,
      /^name "a\(\?=b\)": not a valid regular expression \(invalid or unsupported Perl syntax/,
    )
    ok(await cli(admin, 'namespace', 'unregister', 'team-a', '--force'))
  })

  it('maps statuses to exit codes: 400→2, 401/403→4, 404→5, 409→6', async () => {
    fails(await cli(admin, 'service', 'register', 'x', '-e', 'ftp://db1/metrics'), 2, /endpoint "ftp:\/\/db1\/metrics": scheme "ftp"/)
    fails(await cli('not-a-jwt', 'service', 'list'), 4, /not authenticated: malformed token/)
    fails(
      await cli(undefined, 'server', 'list'),
      4,
      /not authenticated: no token \(send "Authorization: Bearer TOKEN"\); pass --token \(or ROSTER_TOKEN, or token: in a config file\), or run roster login$/,
    )
    fails(await cli(svcToken, 'server', 'register', 'evil'), 4, /not allowed: token "svc-1"/)
    fails(await cli(svcToken, 'service', 'register', 'x', '-n', 'team-b', '-e', 'http://x:1/'), 4, /not allowed.*team-b/)
    fails(await cli(readToken, 'service', 'register', 'x', '-n', 'team-a', '-e', 'http://x:1/'), 4, /not allowed/)
    fails(await cli(admin, 'service', 'register', 'x', '-n', 'nowhere', '-e', 'http://x:1/'), 5, /namespace "nowhere" is not registered/)
    fails(await cli(admin, 'server', 'unregister', 'ghost'), 5, /ghost/)
    ok(await cli(admin, 'namespace', 'register', 'busy'))
    ok(await cli(admin, 'service', 'register', 'x', '-n', 'busy', '-e', 'http://x:1/'))
    fails(await cli(admin, 'namespace', 'unregister', 'busy'), 6, /busy/)
    ok(await cli(admin, 'namespace', 'unregister', 'busy', '--force'))
  })

  it('runs the README systemd example unchanged with a service token in ROSTER_TOKEN', async () => {
    const env = isolatedEnv({
      ROSTER_REGISTRY: serve.url,
      ROSTER_TOKEN: svcToken,
      ROSTER_NAME: 'node',
      ROSTER_ENDPOINTS: 'http://host1:9100/metrics',
    })
    const reg = ok(await runCli(['service', 'register'], {env}))
    outputs.push(reg.stdout, reg.stderr)
    assert.match(reg.stdout, /node\s+http:\/\/host1:9100\/metrics/)
    ok(await runCli(['service', 'register'], {env}))
    const services = (await servicesJson()) as {endpoint: string}[]
    assert.ok(services.some((s) => s.endpoint === 'http://host1:9100/metrics'))
    const un = ok(await runCli(['service', 'unregister'], {env}))
    outputs.push(un.stdout, un.stderr)
    assert.match(un.stdout, /unregistered default\/node http:\/\/host1:9100\/metrics/)
    assert.ok(!((await servicesJson()) as {endpoint: string}[]).some((s) => s.endpoint === 'http://host1:9100/metrics'))
  })

  it('carries a registration TTL and the namespace sort through the API', async () => {
    const before = Date.now()
    ok(await cli(svcToken, 'service', 'register', 'ttl-node', '-e', 'http://ttl1:9100/metrics', '--ttl', '24h'))
    const listed = (await servicesJson()) as {endpoint: string; expires?: string}[]
    const expires = listed.find((s) => s.endpoint === 'http://ttl1:9100/metrics')?.expires
    assert.ok(expires, 'the expiry came back through the API')
    const ms = Date.parse(expires) - before
    assert.ok(ms > 23 * 3600_000 && ms <= 24 * 3600_000 + 60_000, `expiry ${expires} is about 24h from now`)
    const sorted = JSON.parse(ok(await cli(admin, 'service', 'list', '-o', 'json', '--sort-by', 'namespace')).stdout) as {
      namespace: string
      name: string
    }[]
    const keys = sorted.map((s) => `${s.namespace}\u0000${s.name}`)
    assert.deepEqual(keys, [...keys].sort())
    ok(await cli(svcToken, 'service', 'unregister', 'http://ttl1:9100/metrics'))
  })

  it('refuses bad requests with 400/413 naming the problem, and changes nothing', async () => {
    ok(await cli(admin, 'service', 'register', 'keep', '-e', 'http://keep:9100/metrics'))
    const before = JSON.stringify(await servicesJson())
    const post = (body: string, headers?: Record<string, string>) =>
      http(`${serve.url}/v1/services`, {method: 'POST', token: admin, body, headers})
    const cases: [string, number, RegExp, Awaited<ReturnType<typeof post>>][] = [
      ['malformed JSON', 400, /body: not valid JSON/, await post('{"name": "x", ')],
      ['wrong type', 400, /endpoints: must be array/, await post(JSON.stringify({name: 'x', endpoints: 'http://x:1/'}))],
      ['wrong type in a list', 400, /endpoints\.0: must be string/, await post(JSON.stringify({name: 'x', endpoints: [1]}))],
      ['unknown field', 400, /bogus: unknown field/, await post(JSON.stringify({name: 'x', endpoints: ['http://x:1/'], bogus: true}))],
      ['missing field', 400, /name: is required/, await post(JSON.stringify({endpoints: ['http://x:1/']}))],
      ['invalid endpoint', 400, /endpoint "not a url": /, await post(JSON.stringify({name: 'x', endpoints: ['not a url']}))],
      ['bad label', 400, /label/, await post(JSON.stringify({name: 'x', endpoints: ['http://x:1/'], labels: {'-bad': 'v'}}))],
      [
        '2 MiB body',
        413,
        /larger than 1048576 bytes/,
        await post(JSON.stringify({name: 'x', endpoints: ['http://x:1/'], description: 'a'.repeat(2 * 1024 * 1024)})),
      ],
      ['not JSON', 400, /Content-Type must be application\/json/, await post('name=x', {'content-type': 'text/plain'})],
    ]
    for (const [what, status, message, r] of cases) {
      assert.equal(r.status, status, `${what}: ${r.text}`)
      const body = r.json() as {error: {code: string; message: string}}
      assert.match(body.error.message, message, what)
      assert.equal(body.error.code, status === 413 ? 'too_large' : 'invalid_input', what)
    }
    const settings = await http(`${serve.url}/v1/settings`, {method: 'PUT', token: admin, body: JSON.stringify({replicas: '2'})})
    assert.equal(settings.status, 400)
    assert.match(settings.text, /replicas: must be integer/)
    const query = await http(`${serve.url}/v1/services?limit=abc`, {token: admin})
    assert.equal(query.status, 400)
    assert.match(query.text, /query parameter limit/)
    assert.equal(JSON.stringify(await servicesJson()), before)
  })

  it('refuses a body that is not UTF-8 with the byte offset (400, field body), storing nothing; token info - sends nothing', async () => {
    ok(await cli(admin, 'service', 'register', 'keep', '-e', 'http://keep:9100/metrics'))
    const before = JSON.stringify(await servicesJson())
    const head = '{"name": "x", "endpoints": ["http://x:1/"], "description": "a'
    const post = async (bytes: Buffer) => {
      const response = await fetch(`${serve.url}/v1/services`, {
        method: 'POST',
        headers: {authorization: `Bearer ${admin}`, 'content-type': 'application/json; charset=utf-8'},
        body: bytes,
      })
      return {status: response.status, body: (await response.json()) as {error: {code: string; message: string; field?: string}}}
    }
    // A byte that never starts a character, an overlong "/", a surrogate, a sequence cut short by the quote.
    for (const bad of [[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82]]) {
      const r = await post(Buffer.concat([Buffer.from(head), Buffer.from(bad), Buffer.from('b"}')]))
      assert.equal(r.status, 400, JSON.stringify(r.body))
      assert.deepEqual(r.body, {error: {code: 'invalid_input', message: `body: invalid UTF-8 at byte ${head.length}`, field: 'body'}})
    }
    // U+FFFD itself, sent as UTF-8, is text like any other.
    assert.equal((await post(Buffer.from(`${head}\uFFFD"}`))).status, 200)
    ok(await cli(admin, 'service', 'unregister', 'http://x:1/'))
    assert.equal(JSON.stringify(await servicesJson()), before)

    const logged = serve.stderr().length
    const token = Buffer.concat([Buffer.from(admin.slice(0, 10)), Buffer.from([0xc3, 0x28]), Buffer.from(admin.slice(10))])
    const r = await runCli(['token', 'info', '-'], {env: isolatedEnv({ROSTER_REGISTRY: serve.url, ROSTER_TOKEN: admin}), input: token})
    fails(r, 2, /^roster: standard input: invalid UTF-8 at byte 10$/)
    assert.doesNotMatch(serve.stderr().slice(logged), /tokens\/inspect/, 'nothing was sent')
  })

  it('answers /healthz, /readyz, /metrics and the OpenAPI document', async () => {
    assert.equal((await http(`${serve.url}/healthz`)).status, 200)
    const ready = await http(`${serve.url}/readyz`)
    assert.equal(ready.status, 200, ready.text)
    const metrics = await http(`${serve.url}/metrics`)
    assert.match(metrics.text, /roster_serve_requests_total\{route="\/v1\/services",method="POST",code="200"\} \d+/)
    assert.match(metrics.text, /roster_serve_request_duration_seconds_bucket/)
    assert.match(metrics.text, /roster_serve_registry_objects\{kind="services"\} \d+/)
    assert.match(metrics.text, /roster_serve_store_errors_total|roster_serve_watch_lag_seconds/)
    const doc = (await http(`${serve.url}/v1/openapi.json`)).json() as {
      openapi: string
      paths: Record<string, Record<string, {requestBody?: unknown}>>
      components: {schemas: Record<string, unknown>}
    }
    assert.match(doc.openapi, /^3\./)
    assert.ok(doc.paths['/v1/services']?.post?.requestBody, 'POST /v1/services documented with its body')
    assert.ok(doc.paths['/v1/sd/{server}/{namespace}']?.get)
    const body = JSON.stringify(doc.paths['/v1/services']!.post!.requestBody)
    assert.match(body, /"additionalProperties":false/)
    // The query that turns the history into a stream that never ends is marked, for clients and generated tests to leave alone.
    const events = doc.paths['/v1/events']!.get as {
      'x-stream'?: {parameter: string; values: string[]; contentType: string; item: string}
      parameters: {name: string; description?: string}[]
    }
    assert.deepEqual(events['x-stream'], {
      parameter: 'follow',
      values: ['1', 'true'],
      contentType: 'application/x-ndjson',
      item: '#/components/schemas/Event',
    })
    assert.match(events.parameters.find((p) => p.name === 'follow')?.description ?? '', /stream of newline-delimited events/)
    assert.ok(doc.components.schemas.Event, 'the streamed item is a schema of the document')
  })

  it('refuses an http:// registry off loopback, an unreachable one exits 3 naming it', async () => {
    fails(
      await runCli(['server', 'list'], {env: isolatedEnv({ROSTER_REGISTRY: 'http://192.0.2.1:3002', ROSTER_TOKEN: admin})}),
      2,
      /ROSTER_REGISTRY "http:\/\/192\.0\.2\.1:3002": http:\/\/ is allowed only for a loopback host/,
    )
    fails(
      await runCli(['server', 'list', '--timeout', '1s'], {env: isolatedEnv({ROSTER_REGISTRY: 'http://127.0.0.1:1', ROSTER_TOKEN: admin})}),
      3,
      /roster serve at http:\/\/127\.0\.0\.1:1 is unreachable/,
    )
  })

  it('never prints a token in its logs, outputs or error messages', () => {
    const text = [serve.stderr(), serve.stdout(), ...outputs].join('\n')
    for (const token of [admin, svcToken, readToken]) {
      assert.ok(!text.includes(token), 'a token appears in the output')
      assert.ok(!text.includes(token.split('.')[2]!), 'a token signature appears in the output')
    }
  })
})

describe('roster serve: refusals and shutdown', () => {
  let dir: string
  let registry: string
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'roster-serve-stop-'))
    registry = `sqlite:${path.join(dir, 'registry.db')}`
  })
  after(() => rmSync(dir, {recursive: true, force: true}))

  it('refuses a non-loopback --listen without TLS, and --auth none off loopback (exit 2, nothing listens)', async () => {
    const env = isolatedEnv()
    fails(
      await runCli(['serve', '--registry', registry, '--listen', '0.0.0.0:0'], {env}),
      2,
      /listen "0\.0\.0\.0:0": is not a loopback address: serve HTTPS/,
    )
    const tls = makeTlsFiles(dir)
    fails(
      await runCli(
        [
          'serve',
          '--registry',
          registry,
          '--listen',
          '0.0.0.0:0',
          '--tls-cert',
          tls.serverCertFile,
          '--tls-key',
          tls.serverKeyFile,
          '--auth',
          'none',
        ],
        {env},
      ),
      2,
      /^roster: --auth "none": only on a loopback listen address/,
    )
    fails(
      await runCli(['serve', '--registry', registry, '--listen', 'nonsense'], {env}),
      2,
      /--listen "nonsense": expected PORT, :PORT, HOST:PORT/,
    )
  })

  // One serve for both halves of a drain: a SIGTERM is the end of a process, and a second
  // process would prove again what the first does.
  it('on SIGTERM finishes the request in flight, closes the connections with no request in flight (silent, or half its headers) instead of waiting for their timeouts, then exits 0', async () => {
    // Timeouts of an hour: a stop that waited for them would outlast the test's own bound.
    const serve = await startServe({registry, args: ['--auth', 'none', '--headers-timeout', '1h', '--request-timeout', '1h']})
    const {port} = new URL(serve.url)
    const open = (first: string): Promise<Socket> =>
      new Promise((resolve, reject) => {
        const socket = connect({host: '127.0.0.1', port: Number(port)}, () => {
          if (first) socket.write(first)
          resolve(socket)
        })
        socket.on('error', () => undefined)
        socket.once('error', reject)
      })
    const silent = await open('')
    const halfHeaders = await open('GET /v1/services HTTP/1.1\r\nHost: 127.0.0.1\r\n')
    const closed = [silent, halfHeaders].map((socket) => new Promise<void>((resolve) => socket.once('close', () => resolve())))

    const body = JSON.stringify({name: 'late', endpoints: ['http://late:9100/metrics']})
    const url = new URL(`${serve.url}/v1/services`)
    let sent!: () => void
    const inFlight = new Promise<void>((resolve) => (sent = resolve))
    const answer = new Promise<{status: number; text: string}>((resolve, reject) => {
      const req = request(
        url,
        {method: 'POST', headers: {'content-type': 'application/json', 'content-length': String(body.length)}},
        (res) => {
          let text = ''
          res.on('data', (d: Buffer) => (text += d.toString()))
          res.on('end', () => resolve({status: res.statusCode ?? 0, text}))
        },
      )
      req.on('error', reject)
      // Half the body now: the request is in flight when SIGTERM arrives.
      req.write(body.slice(0, 10), () => sent())
      void inFlight.then(async () => {
        await until(
          'the three connections counted',
          async () => metricValue((await http(`${serve.url}/metrics`)).text, 'roster_serve_connections') >= 4,
        )
        serve.child.kill('SIGTERM')
        // The server says it is draining before the rest of the body arrives.
        await until('the drain', () => /SIGTERM: finishing requests in flight/.test(serve.stderr()), {intervalMs: 10})
        req.end(body.slice(10))
      })
    })
    const r = await answer
    assert.equal(r.status, 200, r.text)
    assert.match(r.text, /"created":1/)
    assert.equal(await serve.exited, 0, serve.stderr())
    assert.match(serve.stderr(), /stopped/)
    await Promise.all(closed)
    const after = await runCli(['service', 'list', '--registry', registry, '-o', 'json'])
    assert.match(ok(after).stdout, /late:9100/)
  })
})
