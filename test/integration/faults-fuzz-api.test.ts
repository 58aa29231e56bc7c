/**
 * A fuzz test of `roster serve`'s HTTP API, generated from the server's own OpenAPI document
 * (GET /v1/openapi.json): for every route in it, requests built from its JSON schemas (values
 * the registry accepts, so that writes happen) and mutations of them: wrong types, missing and
 * unknown fields, huge strings and bodies, bytes that are not UTF-8, text that is not JSON, odd
 * path and query parameters, and callers without a token or with too little of one. A query that
 * the document marks as asking for a stream that never ends (`x-stream`: GET /v1/events?follow=1)
 * is never sent. For every answer the contract holds:
 *
 * - never a 5xx;
 * - the answer's status is documented for the route, and its JSON body matches the documented
 *   schema (ajv, strict about required and unknown fields as the schemas are);
 * - a refused request (4xx) changes nothing: the store's revision (raised by every write) is the
 *   same after it as before.
 *
 * Before the random scenarios, each route is shown to accept at least one generated request, so
 * that the generator cannot drift into producing only refusals unnoticed.
 *
 * Seeded and bounded as the CLI's fuzz test (test/support/fuzz-settings.ts): ROSTER_FUZZ_RUNS
 * scenarios, in rounds of one scenario for every route in a random order (default 8 rounds, some
 * 220 scenarios), or ROSTER_FUZZ_SECONDS (`npm run fuzz`). One real serve over SQLite on
 * loopback; requests one at a time.
 */
import assert from 'node:assert/strict'
import {mkdtempSync, rmSync} from 'node:fs'
import {request} from 'node:http'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, it} from 'node:test'

import Database from 'better-sqlite3'
import fc from 'fast-check'
import AjvModule from 'ajv'

import {serviceId} from '../../src/lib/registry/service-id.js'
import {DEFAULT_LIMITS} from '../../src/lib/server/limits.js'
import {assertNoCounterexample, fuzzSettings, roundOf} from '../support/fuzz-settings.js'
import {type ServeProcess, createToken, startServe} from '../support/serve-server.js'

const FUZZ = fuzzSettings(8)
/** A bound for a loaded machine, never a timing check: answers take milliseconds. */
const REQUEST_TIMEOUT_MS = 30_000

type Schema = {
  $ref?: string
  type?: string | string[]
  enum?: unknown[]
  pattern?: string
  maxLength?: number
  minItems?: number
  maxItems?: number
  items?: Schema
  properties?: Record<string, Schema>
  required?: string[]
  additionalProperties?: boolean | Schema
}
interface Parameter {
  name: string
  in: 'path' | 'query'
  required?: boolean
  schema: Schema
}
interface Operation {
  key: string
  method: string
  path: string
  params: Parameter[]
  body?: Schema
  /** Each documented status (`200`, `4XX`), with its JSON schema when the answer is JSON. */
  responses: Record<string, {json?: Schema}>
  /** The query parameter and values that turn the answer into a stream that never ends (the document's `x-stream`). */
  stream?: {parameter: string; values: string[]}
}
interface OpenApiDocument {
  paths: Record<
    string,
    Record<
      string,
      {
        parameters?: Parameter[]
        requestBody?: {content?: Record<string, {schema: Schema}>}
        responses: Record<string, {content?: Record<string, {schema: Schema}>}>
        'x-stream'?: {parameter: string; values: string[]}
      }
    >
  >
  components: {schemas: Record<string, Schema>}
}

let dir: string
let dbFile: string
let serve: ServeProcess
let doc: OpenApiDocument
let operations: Operation[] = []
const tokens: Record<'admin' | 'service' | 'read', string> = {admin: '', service: '', read: ''}

// ---- the document -----------------------------------------------------------------------------

function operationsOf(document: OpenApiDocument): Operation[] {
  const out: Operation[] = []
  for (const [p, methods] of Object.entries(document.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const responses: Record<string, {json?: Schema}> = {}
      for (const [status, r] of Object.entries(op.responses))
        responses[status.toUpperCase()] = {json: r.content?.['application/json']?.schema}
      const stream = op['x-stream']
      out.push({
        key: `${method.toUpperCase()} ${p}`,
        method: method.toUpperCase(),
        path: p,
        // A request never asks for the stream (an answer that never ends): its values are left out of the parameter's.
        params: (op.parameters ?? []).map((param) =>
          param.name === stream?.parameter && param.schema.enum
            ? {...param, schema: {...param.schema, enum: param.schema.enum.filter((v) => !stream.values.includes(String(v)))}}
            : param,
        ),
        body: op.requestBody?.content?.['application/json']?.schema,
        responses,
        stream: stream && {parameter: stream.parameter, values: stream.values},
      })
    }
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : 1))
}

function resolve(schema: Schema): Schema {
  if (!schema.$ref) return schema
  const name = schema.$ref.replace('#/components/schemas/', '')
  return doc.components.schemas[name]!
}

// ---- values the registry accepts, by the name of the field or parameter ------------------------

const ENDPOINTS = ['http://127.0.0.1:9100/metrics', 'http://127.0.0.1:9200/m', 'https://db1.example.com:9187/metrics', 'http://[::1]:8080/']
const label = fc.dictionary(fc.constantFrom('team', 'app', 'env'), fc.constantFrom('a', 'b', 'prod', ''), {maxKeys: 3})
const entry = fc.record(
  {
    name: fc.constantFrom('web', 'api'),
    endpoints: fc.array(fc.constantFrom(...ENDPOINTS), {minLength: 1, maxLength: 2}),
    namespace: fc.constantFrom('default', 'team-a'),
    labels: label,
  },
  {requiredKeys: ['name', 'endpoints']},
)
/** Machine tokens made before serve starts, for the revocation route to find (never the fuzzer's own). */
const TOKEN_IDS = ['fuzz-1', 'fuzz-2', 'fuzz-3', 'fuzz-4', 'fuzz-5']
const KNOWN_IDS = () => ['default', 'team-a'].flatMap((ns) => ENDPOINTS.map((e) => serviceId(ns, e)))
/** Regular expressions from a fixed list: serve runs the client's pattern, and a random one could be one that backtracks for ever. */
const regex = fc.constantFrom('^web', 'api$', 'web|api', '9100', '(', '[z-a]', '')

const HINTS: Record<string, () => fc.Arbitrary<unknown>> = {
  name: () => fc.constantFrom('web', 'api', 'prom1', 'prom2', 'default', 'team-a', 'team-b'),
  server: () => fc.constantFrom('prom1', 'prom2'),
  namespace: () => fc.constantFrom('default', 'team-a'),
  endpoints: () => fc.array(fc.constantFrom(...ENDPOINTS), {minLength: 1, maxLength: 3}),
  endpoint: () => regex,
  labels: () => label,
  selector: () => fc.constantFrom('', 'team=a', 'env in (prod,b)', '!app', 'team!=b'),
  ttl: () => fc.constantFrom('1h', '24h', '7d'),
  expiresAt: () => fc.constantFrom('2099-01-01T00:00:00Z', '2030-06-01T12:00:00.000+02:00'),
  refs: () => fc.array(fc.constantFrom(...ENDPOINTS, ...KNOWN_IDS()), {minLength: 1, maxLength: 3}),
  id: () => fc.constantFrom(...KNOWN_IDS(), ...TOKEN_IDS, 'no-such-id'),
  replicas: () => fc.integer({min: 1, max: 3}),
  namespaces: () => fc.array(fc.constantFrom('*', 'default', 'team-a'), {minLength: 1, maxLength: 2}),
  expires: () => fc.constantFrom('90d', '12h', 'never'),
  token: () => fc.constantFrom(tokens.read, tokens.service, 'x.y.z'),
  document: () =>
    fc.oneof(
      fc.array(entry, {maxLength: 4}),
      fc.array(entry, {maxLength: 4}).map((services) => ({services})),
    ),
  config: () => fc.constantFrom('standard', 'blackbox', 'disabled', 'bogus'),
  'export-config': () => fc.constantFrom('standard', 'blackbox'),
  continue: () => fc.constantFrom('', 'bm9uZQ', 'not a cursor'),
  limit: () => fc.constantFrom('1', '100', '1000'),
  since: () => fc.constantFrom('1h', '7d', '2026-01-01T00:00:00Z'),
  until: () => fc.constantFrom('1m', '2099-01-01T00:00:00Z'),
  actor: () => fc.constantFrom('fuzz-admin', 'root@db1', 'root'),
}

/** Values of `schema`: mostly what the registry accepts (HINTS by field name), sometimes anything the schema allows. */
function valueOf(schema: Schema, field?: string): fc.Arbitrary<unknown> {
  const generic = schemaValue(resolve(schema))
  const hint = field !== undefined && !resolve(schema).enum ? HINTS[field] : undefined
  return hint ? fc.oneof({weight: 4, arbitrary: hint()}, {weight: 1, arbitrary: generic}) : generic
}

function schemaValue(schema: Schema): fc.Arbitrary<unknown> {
  if (schema.enum) return fc.constantFrom(...schema.enum)
  const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : []
  if (types.length === 0) return fc.jsonValue({maxDepth: 3})
  return fc.oneof(
    ...types.map((type): fc.Arbitrary<unknown> => {
      switch (type) {
        case 'string':
          if (schema.pattern) return fc.stringMatching(new RegExp(schema.pattern))
          return fc.oneof(fc.string({maxLength: Math.min(schema.maxLength ?? 30, 30)}), fc.string({unit: 'grapheme', maxLength: 12}))
        case 'integer':
          return fc.oneof(fc.integer({min: -2, max: 12}), fc.integer())
        case 'number':
          return fc.double({noNaN: true})
        case 'boolean':
          return fc.boolean()
        case 'null':
          return fc.constant(null)
        case 'array':
          return fc.array(valueOf(schema.items ?? {}), {minLength: schema.minItems ?? 0, maxLength: Math.min(schema.maxItems ?? 4, 4)})
        case 'object':
          return objectValue(schema)
        default:
          return fc.jsonValue({maxDepth: 2})
      }
    }),
  )
}

function objectValue(schema: Schema): fc.Arbitrary<unknown> {
  const properties = schema.properties ?? {}
  const record = fc.record(Object.fromEntries(Object.entries(properties).map(([k, s]) => [k, valueOf(s, k)])), {
    requiredKeys: schema.required ?? [],
  })
  if (typeof schema.additionalProperties !== 'object') return record
  const extra = fc.dictionary(fc.string({minLength: 1, maxLength: 10}), valueOf(schema.additionalProperties), {maxKeys: 3})
  return fc.tuple(record, extra).map(([r, e]) => ({...e, ...r}))
}

// ---- scenarios ----------------------------------------------------------------------------------

type Caller = 'admin' | 'service' | 'read' | 'none' | 'garbage'
type Mutation =
  | {kind: 'none'}
  | {kind: 'wrong-type'; field: number; value: unknown}
  | {kind: 'missing'; field: number}
  | {kind: 'unknown-field'; name: string; value: unknown}
  | {kind: 'huge-string'; field: number; size: number}
  | {kind: 'invalid-utf8'; bytes: readonly number[]; at: number}
  | {kind: 'not-json'; text: string; contentType: string}
  | {kind: 'odd-path'; param: number; raw: string}
  | {kind: 'odd-query'; name: string; raw: string}

interface Scenario {
  op: Operation
  caller: Caller
  params: Record<string, unknown>
  body: unknown
  mutation: Mutation
}

const wrongValue = fc.oneof(
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.string({maxLength: 5}),
  fc.array(fc.integer(), {maxLength: 2}),
  fc.constant({}),
)
const oddPath = fc.constantFrom('', '..', '.', '%2F', '%2e%2e', '%FF', '%C3%28', '%', 'a'.repeat(300), '%C3%BC', '%00', '*', 'a%20b', '-')
const oddQuery = fc.constantFrom('%FF', '%', '%C3%28', 'x'.repeat(5000), '', 'true', '-1', '999999999', '%00', '[]')

function requestOf(op: Operation): fc.Arbitrary<Pick<Scenario, 'params' | 'body'>> {
  const params = fc.record(Object.fromEntries(op.params.map((p) => [p.name, valueOf(p.schema, p.name)])), {
    requiredKeys: op.params.filter((p) => p.in === 'path').map((p) => p.name),
  })
  return fc.record({params, body: op.body ? valueOf(op.body) : fc.constant(undefined)})
}

function mutationOf(op: Operation): fc.Arbitrary<Mutation> {
  const options: fc.Arbitrary<Mutation>[] = [fc.constant<Mutation>({kind: 'none'})]
  if (op.body) {
    options.push(
      fc.record({kind: fc.constant('wrong-type' as const), field: fc.nat(), value: wrongValue}),
      fc.record({kind: fc.constant('missing' as const), field: fc.nat()}),
      fc.record({
        kind: fc.constant('unknown-field' as const),
        name: fc.oneof(fc.constantFrom('bogus', '__proto__', 'constructor', 'revision'), fc.string({minLength: 1, maxLength: 8})),
        value: wrongValue,
      }),
      fc.record({kind: fc.constant('huge-string' as const), field: fc.nat(), size: fc.constantFrom(70_000, 300_000, 2 * 1024 * 1024)}),
      fc.record({
        kind: fc.constant('invalid-utf8' as const),
        bytes: fc.constantFrom([0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80]),
        at: fc.nat(),
      }),
      fc.record({
        kind: fc.constant('not-json' as const),
        text: fc.constantFrom('', '{', 'name=x', '[1,2', 'null', '"text"', '{"a":1}{"b":2}', '\uFEFF{}'),
        contentType: fc.constantFrom(
          'application/json',
          'text/plain',
          'application/x-www-form-urlencoded',
          'application/json; charset=latin1',
        ),
      }),
    )
  }
  const pathParams = op.params.filter((p) => p.in === 'path')
  if (pathParams.length > 0) options.push(fc.record({kind: fc.constant('odd-path' as const), param: fc.nat(), raw: oddPath}))
  const queryNames = op.params.filter((p) => p.in === 'query').map((p) => p.name)
  options.push(fc.record({kind: fc.constant('odd-query' as const), name: fc.constantFrom(...queryNames, 'bogus'), raw: oddQuery}))
  return fc.oneof({weight: options.length, arbitrary: options[0]!}, ...options.slice(1))
}

const callerArb = fc.oneof(
  {weight: 8, arbitrary: fc.constant<Caller>('admin')},
  {weight: 1, arbitrary: fc.constantFrom<Caller>('service', 'read', 'none', 'garbage')},
)

function scenarioOf(op: Operation): fc.Arbitrary<Scenario> {
  return fc
    .record({op: fc.constant(op), caller: callerArb, mutation: mutationOf(op)})
    .chain((s) => requestOf(op).map((r) => ({...s, ...r})))
}

// ---- sending -----------------------------------------------------------------------------------

interface Sent {
  method: string
  url: string
  contentType?: string
  body?: Buffer
}

function build(s: Scenario): Sent {
  let body: unknown = s.body
  const m = s.mutation
  const keys = body && typeof body === 'object' && !Array.isArray(body) ? Object.keys(body) : []
  const pick = (n: number) => (keys.length > 0 ? keys[n % keys.length] : undefined)
  if (m.kind === 'wrong-type' && pick(m.field)) body = {...(body as object), [pick(m.field)!]: m.value}
  if (m.kind === 'missing' && pick(m.field)) {
    const copy = {...(body as Record<string, unknown>)}
    delete copy[pick(m.field)!]
    body = copy
  }
  if (m.kind === 'unknown-field' && body && typeof body === 'object') body = {...(body as object), [m.name]: m.value}
  if (m.kind === 'huge-string' && body && typeof body === 'object')
    body = {...(body as object), [pick(m.field) ?? 'name']: 'x'.repeat(m.size)}
  let bytes = s.op.body ? Buffer.from(JSON.stringify(body ?? {})) : undefined
  let contentType = s.op.body ? 'application/json' : undefined
  if (m.kind === 'invalid-utf8' && bytes) {
    // Inside a string when there is one (after an opening quote), else anywhere.
    const quotes = [...bytes.entries()].filter(([, b]) => b === 0x22).map(([i]) => i + 1)
    const at = quotes.length > 0 ? quotes[m.at % quotes.length]! : m.at % (bytes.length + 1)
    bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(m.bytes), bytes.subarray(at)])
  }
  if (m.kind === 'not-json') {
    bytes = Buffer.from(m.text)
    contentType = m.contentType
  }
  let p = s.op.path
  const pathParams = s.op.params.filter((x) => x.in === 'path')
  for (const [i, param] of pathParams.entries()) {
    const raw = m.kind === 'odd-path' && m.param % pathParams.length === i ? m.raw : encodeURIComponent(String(s.params[param.name]))
    p = p.replace(`{${param.name}}`, raw)
  }
  const query: string[] = []
  for (const param of s.op.params.filter((x) => x.in === 'query')) {
    const v = s.params[param.name]
    if (v !== undefined) query.push(`${encodeURIComponent(param.name)}=${encodeURIComponent(String(v))}`)
  }
  const asksForStream = m.kind === 'odd-query' && m.name === s.op.stream?.parameter && s.op.stream.values.includes(m.raw)
  if (m.kind === 'odd-query' && !asksForStream) query.push(`${encodeURIComponent(m.name)}=${m.raw}`)
  return {method: s.op.method, url: `${p}${query.length ? `?${query.join('&')}` : ''}`, contentType, body: bytes}
}

function send(sent: Sent, caller: Caller): Promise<{status: number; contentType: string; text: string}> {
  const headers: Record<string, string> = {}
  const token = caller === 'garbage' ? 'not.a.token' : caller === 'none' ? undefined : tokens[caller]
  if (token) headers.authorization = `Bearer ${token}`
  if (sent.contentType) headers['content-type'] = sent.contentType
  if (sent.body) headers['content-length'] = String(sent.body.length)
  const url = new URL(serve.url)
  return new Promise((resolvePromise, reject) => {
    const req = request({host: url.hostname, port: url.port, method: sent.method, path: sent.url, headers}, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        resolvePromise({
          status: res.statusCode ?? 0,
          contentType: String(res.headers['content-type'] ?? ''),
          text: Buffer.concat(chunks).toString('utf8'),
        }),
      )
      res.on('error', reject)
    })
    // A server that refuses a large body may close the connection before reading it all.
    req.on('error', (error: NodeJS.ErrnoException) =>
      error.code === 'EPIPE' || error.code === 'ECONNRESET'
        ? resolvePromise({status: -1, contentType: '', text: error.code})
        : reject(error),
    )
    // An answer that never ends (a stream a generated parameter asked for) fails the scenario, naming it, instead of hanging the test.
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`no complete answer within ${REQUEST_TIMEOUT_MS} ms`)))
    req.end(sent.body)
  })
}

/** A read-only connection beside serve's own, open for the whole file (no route replaces the file). */
let reader: Database.Database | undefined
let revisionQuery: Database.Statement | undefined

/** The store's revision: raised by every transaction that writes (sqlite-store.ts); each read sees every write committed before it. */
function storeRevision(): number {
  reader ??= new Database(dbFile, {readonly: true, fileMustExist: true})
  revisionQuery ??= reader.prepare("SELECT value FROM meta WHERE name = 'revision'").pluck()
  return revisionQuery.get() as number
}

// ---- the contract ------------------------------------------------------------------------------

type Validate = ((data: unknown) => boolean) & {errors?: unknown}
let validators: Map<Schema, Validate>
/**
 * One Ajv for every answer's schema, holding the document's components: each Ajv compiles the
 * JSON Schema meta-schema when it is made, which cost more than all the answers' schemas.
 */
let ajv: {compile(schema: object): Validate} | undefined

function validatorFor(schema: Schema): Validate {
  let v = validators.get(schema)
  if (!v) {
    if (!ajv) {
      const Ajv = ((AjvModule as unknown as {default?: unknown}).default ?? AjvModule) as new (o: object) => {
        addSchema(schema: object, key: string): void
        compile(schema: object): Validate
      }
      const made = new Ajv({strict: false, allErrors: true})
      for (const [name, s] of Object.entries(doc.components.schemas)) made.addSchema(s, `#/components/schemas/${name}`)
      ajv = made
    }
    v = ajv.compile(schema)
    validators.set(schema, v)
  }
  return v
}

const counts = new Map<string, Map<number, number>>()

async function check(s: Scenario): Promise<void> {
  const sent = build(s)
  const before = storeRevision()
  const r = await send(sent, s.caller)
  const what = `${s.caller} ${sent.method} ${sent.url.slice(0, 300)} ${sent.body ? JSON.stringify(sent.body.toString('latin1').slice(0, 300)) : ''} (${s.mutation.kind}): ${r.status} ${r.text.slice(0, 400)}`
  const perOp = counts.get(s.op.key) ?? new Map<number, number>()
  perOp.set(r.status, (perOp.get(r.status) ?? 0) + 1)
  counts.set(s.op.key, perOp)
  // The server closed a connection whose body it refused; what it said is lost, but not what it stored.
  if (r.status === -1) {
    assert.equal(storeRevision(), before, `a request cut short changed the registry: ${what}`)
    return
  }
  assert.ok(r.status < 500, `answered ${r.status}: ${what}`)
  const documented = s.op.responses[String(r.status)] ?? s.op.responses[`${Math.floor(r.status / 100)}XX`] ?? s.op.responses.DEFAULT
  assert.ok(documented !== undefined, `status ${r.status} is not documented for ${s.op.key}: ${what}`)
  if (r.status >= 400) assert.equal(storeRevision(), before, `a refused request changed the registry: ${what}`)
  // An answer documented as another media type (a stream, a file) is not checked as JSON.
  if (!documented.json) return
  assert.match(r.contentType, /^application\/json/, `not JSON: ${what}`)
  const json = JSON.parse(r.text) as unknown
  const validate = validatorFor(documented.json)
  assert.ok(validate(json), `answer does not match its schema (${JSON.stringify(validate.errors)}): ${what}`)
  // Requests that must be refused whatever else they hold (a caller without a token may be refused first).
  const authRefusal = r.status === 401 || r.status === 403
  if (s.mutation.kind === 'invalid-utf8' && !authRefusal) {
    assert.equal(r.status, 400, `a body that is not UTF-8 was not refused: ${what}`)
    assert.match((json as {error: {message: string}}).error.message, /^body: invalid UTF-8 at byte \d+$/, what)
  }
  if (s.mutation.kind === 'huge-string' && s.mutation.size > DEFAULT_LIMITS.maxBodyBytes && !authRefusal) assert.equal(r.status, 413, what)
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'roster-fuzz-api-'))
  dbFile = path.join(dir, 'registry.db')
  const registry = `sqlite:${dbFile}`
  tokens.admin = await createToken(registry, {id: 'fuzz-admin', role: 'admin', namespaces: ['*']})
  tokens.service = await createToken(registry, {id: 'fuzz-service', role: 'service', namespaces: ['default']})
  tokens.read = await createToken(registry, {id: 'fuzz-read', role: 'read', namespaces: ['team-a']})
  for (const id of TOKEN_IDS) await createToken(registry, {id, role: 'read', namespaces: ['default']})
  serve = await startServe({registry})
  validators = new Map()
  const r = await send({method: 'GET', url: '/v1/openapi.json'}, 'none')
  assert.equal(r.status, 200, r.text)
  doc = JSON.parse(r.text) as OpenApiDocument
  operations = operationsOf(doc)
  await seedRegistry()
})

/** Something for reads, unregistrations and http_sd to find (idempotent: again after routes that delete). */
async function seedRegistry(): Promise<void> {
  for (const [method, url, body] of [
    ['PUT', '/v1/servers/prom1', {labels: {team: 'a'}}],
    ['PUT', '/v1/servers/prom2', {labels: {team: 'b'}}],
    ['PUT', '/v1/namespaces/team-a', {export: 'standard'}],
    ['PUT', '/v1/namespaces/team-b', {export: 'blackbox'}],
    ['POST', '/v1/services', {name: 'web', endpoints: ENDPOINTS.slice(0, 2), namespace: 'team-a'}],
  ] as const) {
    const w = await send({method, url, contentType: 'application/json', body: Buffer.from(JSON.stringify(body))}, 'admin')
    assert.equal(w.status, 200, w.text)
  }
}

after(async () => {
  reader?.close()
  await serve?.stop()
  if (dir) rmSync(dir, {recursive: true, force: true})
})

it('every route of the OpenAPI document accepts a request the generator makes (the generator is not all refusals)', async (t) => {
  assert.ok(operations.length >= 20, `the document lists ${operations.length} routes`)
  const refusedAll: string[] = []
  /** The revision the last seeding left: seeded again only after a route changed something (a delete, an unregistration). */
  let seeded = -1
  for (const op of operations) {
    if (storeRevision() !== seeded) {
      await seedRegistry()
      seeded = storeRevision()
    }
    const samples = fc.sample(requestOf(op), {seed: FUZZ.seed, numRuns: 100})
    let accepted = false
    for (const sample of samples) {
      const s: Scenario = {op, caller: 'admin', mutation: {kind: 'none'}, ...sample}
      await check(s)
      if ((counts.get(op.key)?.get(200) ?? 0) > 0) {
        accepted = true
        break
      }
    }
    if (!accepted) refusedAll.push(`${op.key}: ${JSON.stringify([...(counts.get(op.key) ?? [])])}`)
  }
  t.diagnostic(`${operations.length} routes`)
  assert.deepEqual(refusedAll, [], 'routes for which no generated request was accepted')
})

it(
  `serve keeps its contract under generated and mutated requests to every route (seed ${FUZZ.seed}, ${FUZZ.bound})`,
  {timeout: FUZZ.timeoutMs},
  async (t) => {
    t.diagnostic(`faults-fuzz-api: seed ${FUZZ.seed} (replay: ROSTER_FUZZ_SEED=${FUZZ.seed}), ${FUZZ.bound}`)
    counts.clear()
    let runs = 0
    const out = await fc.check(
      fc.asyncProperty(roundOf(operations, scenarioOf), async (round) => {
        for (const s of round) {
          runs++
          await check(s)
        }
      }),
      FUZZ.parameters(operations.length) as fc.Parameters<[Scenario[]]>,
    )
    assertNoCounterexample(out, FUZZ, 'serve broke its contract')
    const missed = operations.filter((op) => !counts.has(op.key)).map((op) => op.key)
    assert.deepEqual(missed, [], 'routes no scenario reached')
    const summary = [...counts].map(([key, byStatus]) => `${key} ${JSON.stringify(Object.fromEntries(byStatus))}`)
    t.diagnostic(`faults-fuzz-api: ${runs} scenarios; by route and status: ${summary.join('; ')}`)
  },
)
