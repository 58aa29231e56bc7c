/**
 * The package definition that the build puts in place of etcd3's `loadSync(rpc.proto)`
 * (scripts/bundle-etcd.mjs) against @grpc/proto-loader's own, both for etcd3's rpc.proto with
 * etcd3's options: the same services and methods with the same paths, streaming flags, names and
 * options, and serializers that give the same bytes and objects for a message with every field
 * set, and for an empty one. The bundled copy is built here with esbuild and the plugin, as
 * `npm run build` builds it. Also: the build refuses an etcd3 whose source is not what the plugin
 * expects.
 */
import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {pathToFileURL} from 'node:url'

import {build} from 'esbuild'

import {ROOT} from '../support/cli.js'

interface MethodDefinition {
  path: string
  requestStream: boolean
  responseStream: boolean
  requestSerialize(value: unknown): Buffer
  requestDeserialize(bytes: Buffer): unknown
  responseSerialize(value: unknown): Buffer
  responseDeserialize(bytes: Buffer): unknown
  originalName?: string
  options?: unknown
}
type PackageDefinition = Record<string, Record<string, MethodDefinition> | {format: string}>

interface BundleEtcd {
  etcd3Paths(root?: string): {connectionPool: string; rpcProto: string; protoLoader: string}
  rewriteConnectionPool(source: string, file: string): string
  etcdPrecompiledProto(options?: {root?: string}): import('esbuild').Plugin
  LOAD_OPTIONS: Record<string, unknown>
}

/** protobufjs reflection, as much of it as building sample messages needs. */
interface PbField {
  name: string
  type: string
  repeated: boolean
  map: boolean
  keyType?: string
  partOf: unknown
  resolve(): PbField
  resolvedType: PbType | PbEnum | null
}
interface PbType {
  fullName: string
  fieldsArray: PbField[]
}
interface PbEnum {
  values: Record<string, number>
}

let plugin: BundleEtcd
let reference: PackageDefinition
let bundled: PackageDefinition
let protobuf: {Type: new (...args: never[]) => PbType; Enum: new (...args: never[]) => PbEnum}
let methodType: (service: string, method: string, side: 'request' | 'response') => PbType
let dir: string

before(async () => {
  plugin = (await import(pathToFileURL(path.join(ROOT, 'scripts', 'bundle-etcd.mjs')).href)) as BundleEtcd
  const paths = plugin.etcd3Paths(ROOT)
  const fromLoader = createRequire(paths.protoLoader)
  const protoLoader = fromLoader(paths.protoLoader) as {loadSync(file: string, options: unknown): PackageDefinition}
  reference = protoLoader.loadSync(paths.rpcProto, plugin.LOAD_OPTIONS)
  protobuf = fromLoader('protobufjs') as typeof protobuf
  const {loadProtosWithOptionsSync} = fromLoader('./util.js') as {
    loadProtosWithOptionsSync(
      file: string,
      options: unknown,
    ): {lookupService(name: string): {methods: Record<string, {resolvedRequestType: PbType; resolvedResponseType: PbType}>}}
  }
  const root = loadProtosWithOptionsSync(paths.rpcProto, plugin.LOAD_OPTIONS)
  methodType = (service, method, side) => {
    const m = root.lookupService(service).methods[method]!
    return side === 'request' ? m.resolvedRequestType : m.resolvedResponseType
  }

  // The generated module, bundled with the plugin as npm run build bundles it (CommonJS here, so it runs from a temp dir).
  const result = await build({
    // etcd3 comes along (not run) because the plugin checks that connection-pool.js was rewritten.
    stdin: {
      contents: "exports.load = require('roster-etcd3-package-definition'); exports.etcd3 = () => require('etcd3')",
      resolveDir: ROOT,
    },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    write: false,
    logLevel: 'silent',
    plugins: [plugin.etcdPrecompiledProto({root: ROOT})],
  })
  dir = mkdtempSync(path.join(tmpdir(), 'roster-etcd-pkgdef-'))
  const file = path.join(dir, 'package-definition.cjs')
  writeFileSync(file, result.outputFiles[0]!.text)
  const {load} = createRequire(file)(file) as {load: (options: unknown) => PackageDefinition}
  bundled = load(plugin.LOAD_OPTIONS)
})
after(() => {
  if (dir) rmSync(dir, {recursive: true, force: true})
})

const services = (def: PackageDefinition) =>
  Object.entries(def).filter((entry): entry is [string, Record<string, MethodDefinition>] => !('format' in entry[1]))

/** A message of `type` with every field set (repeated fields twice, one field per oneof), `depth` levels of nesting. */
function sample(type: PbType, depth: number, seed: number): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  const oneofsSeen = new Set<unknown>()
  type.fieldsArray.forEach((f, i) => {
    const field = f.resolve()
    if (field.partOf) {
      if (oneofsSeen.has(field.partOf)) return
      oneofsSeen.add(field.partOf)
    }
    const value = (k: number): unknown => {
      const n = seed + i + k
      const resolved = field.resolvedType
      if (resolved instanceof protobuf.Type) return depth > 0 ? sample(resolved, depth - 1, n) : {}
      if (resolved instanceof protobuf.Enum) {
        const names = Object.keys(resolved.values)
        return names[n % names.length]
      }
      switch (field.type) {
        case 'string':
          return `${field.name}-${n}`
        case 'bytes':
          return Buffer.from(`${field.name}\u0000\u00ff${n}`, 'latin1')
        case 'bool':
          return n % 2 === 0
        case 'double':
        case 'float':
          return n + 0.5
        case 'int64':
        case 'sint64':
        case 'sfixed64':
          return String(-(2n ** 53n) - BigInt(n)) // beyond a double's integers, negative
        case 'uint64':
        case 'fixed64':
          return String(2n ** 63n + BigInt(n))
        case 'int32':
        case 'sint32':
        case 'sfixed32':
          return -n - 1
        default:
          return n + 1
      }
    }
    if (field.map) out[field.name] = {[field.keyType === 'string' ? 'k' : '1']: value(0)}
    else if (field.repeated) out[field.name] = [value(0), value(1)]
    else out[field.name] = value(0)
  })
  return out
}

describe("etcd3's package definition, prepared at build time", () => {
  it('has the services and methods proto-loader gives, with the same paths, flags, names and options', () => {
    const expected = services(reference)
    assert.ok(expected.length >= 6, `only ${expected.length} services in rpc.proto`)
    assert.deepEqual(
      Object.keys(bundled),
      expected.map(([name]) => name),
    )
    for (const [name, methods] of expected) {
      const actual = bundled[name] as Record<string, MethodDefinition>
      assert.deepEqual(Object.keys(actual), Object.keys(methods), name)
      for (const [methodName, m] of Object.entries(methods)) {
        const b = actual[methodName]!
        const fields = (d: MethodDefinition) => ({
          path: d.path,
          requestStream: d.requestStream,
          responseStream: d.responseStream,
          originalName: d.originalName,
          options: d.options,
        })
        assert.deepEqual(fields(b), fields(m), `${name}.${methodName}`)
      }
    }
  })

  it('serializes and deserializes every request and response exactly as proto-loader does', () => {
    let checked = 0
    for (const [name, methods] of services(reference)) {
      for (const [methodName, m] of Object.entries(methods)) {
        const b = (bundled[name] as Record<string, MethodDefinition>)[methodName]!
        for (const side of ['request', 'response'] as const) {
          const type = methodType(name, methodName, side)
          const [refSer, refDe, ser, de] =
            side === 'request'
              ? [m.requestSerialize, m.requestDeserialize, b.requestSerialize, b.requestDeserialize]
              : [m.responseSerialize, m.responseDeserialize, b.responseSerialize, b.responseDeserialize]
          const where = `${name}.${methodName} ${side} (${type.fullName})`
          for (const message of [sample(type, 3, checked), {}]) {
            const bytes = refSer(message)
            assert.deepEqual(ser(message), bytes, where)
            assert.deepEqual(de(bytes), refDe(bytes), where)
          }
          assert.throws(() => ser([]), /got array instead/, where)
          checked++
        }
      }
    }
    assert.ok(checked > 80, `only ${checked} message types checked`)
  })

  it("a message's 64-bit integers and bytes survive the round trip as etcd3 expects them (strings, Buffers)", () => {
    const kv = (bundled['etcdserverpb.KV'] as Record<string, MethodDefinition>)['Range']!
    const request = {key: Buffer.from('/roster/a'), range_end: Buffer.from('/roster/b'), limit: '9007199254740993', revision: '-1'}
    const decoded = kv.requestDeserialize(kv.requestSerialize(request)) as Record<string, unknown>
    assert.equal(decoded.limit, '9007199254740993')
    assert.equal(decoded.revision, '-1')
    assert.deepEqual(decoded.key, Buffer.from('/roster/a'))
    assert.equal(decoded.sort_order, 'None') // enums as strings, defaults filled in
  })
})

describe("the build checks etcd3's source", () => {
  const file = () => plugin.etcd3Paths(ROOT).connectionPool
  const source = () => readFileSync(file(), 'utf8')

  it('replaces the loadSync call and the proto-loader require in connection-pool.js', () => {
    const out = plugin.rewriteConnectionPool(source(), file())
    assert.match(out, /require\("roster-etcd3-package-definition"\)\(\{/)
    assert.doesNotMatch(out, /proto-loader|loadSync|__dirname/)
  })

  it('fails naming the file when the loadSync call is not there', () => {
    const changed = source().replace('proto_loader_1.loadSync)(', 'proto_loader_1.load)(')
    assert.throws(
      () => plugin.rewriteConnectionPool(changed, file()),
      (error: Error) => {
        assert.match(error.message, /connection-pool\.js: expected one loadSync/)
        assert.match(error.message, /update the plugin/)
        return true
      },
    )
  })

  it('fails when etcd3 passes other loadSync options', () => {
    const changed = source().replace('longs: String,', 'longs: Number,')
    assert.throws(() => plugin.rewriteConnectionPool(changed, file()), /loadSync options are .*longs: Number/)
  })

  it('fails when proto-loader is still needed elsewhere in connection-pool.js', () => {
    const changed = `${source()}\nconst again = proto_loader_1.fromJSON;\n`
    assert.throws(() => plugin.rewriteConnectionPool(changed, file()), /still used after the rewrite/)
  })
})
