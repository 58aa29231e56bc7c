// An esbuild plugin for scripts/bundle.mjs: etcd3 and its gRPC stack (@grpc/grpc-js, protobufjs,
// cockatiel…) are bundled into the lazily loaded chunk that the etcd store imports, and the
// `loadSync(rpc.proto)` that etcd3's lib/connection-pool.js runs when it is loaded is replaced by a
// package definition prepared here, at build time.
//
// Why: loading etcd3 from node_modules cost several times `node -e 0` on every command that opens
// an etcd registry: resolving and reading ~150 files, loading @grpc/proto-loader with all of
// protobufjs (the .proto parser, the descriptor extension), parsing rpc.proto, then building a
// reflection descriptor (toDescriptor) of every message of every method, which a gRPC client never
// reads.
//
// What replaces loadSync: a module holding, per service method, the fields proto-loader computes
// (path, streaming flags, originalName, options), taken from proto-loader's own output at build
// time, and the protobufjs JSON (toJSON() of the very root proto-loader builds, with etcd3's
// options) of the types the method's messages reach. At run time it loads protobufjs/light (no
// parser) and, on a method's first call, builds a Root of its types (Root.fromJSON) and the
// serializers exactly as proto-loader's createSerializer/createDeserializer do (same code, same
// options). Left out: the message and enum entries of the package definition and each method's
// requestType/responseType (reflection descriptors for gRPC reflection and servers; grpc-js's
// client and etcd3 never read them). test/unit/etcd-package-definition.test.ts compares the result
// with proto-loader's loadSync, method by method and message by message.
//
// etcd3's source is checked, not assumed: if the loadSync call, its options or the proto-loader
// require are not exactly where this plugin expects them (an etcd3 upgrade), or a bundled module of
// that stack uses __dirname/__filename (not its own directory once bundled), the build fails naming the
// file. test/integration/etcd-bundle.test.ts runs the built CLI on etcd and checks that it neither
// reads a .proto file nor loads etcd3's stack from node_modules. Nothing generated is written to disk.
import {readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {isDeepStrictEqual} from 'node:util'
import path from 'node:path'

/** The loadSync call in etcd3's lib/connection-pool.js (1.1.x), with the options it passes. */
const LOAD_CALL = /\(0, proto_loader_1\.loadSync\)\(`\$\{__dirname\}\/\.\.\/proto\/rpc\.proto`, (\{[^{}]*\})\)/g
const LOADER_REQUIRE = 'const proto_loader_1 = require("@grpc/proto-loader");'
const EXPECTED_OPTIONS = '{ keepCase: true, longs: String, enums: String, defaults: true, oneofs: true, }'
const LOAD_OPTIONS = {keepCase: true, longs: String, enums: String, defaults: true, oneofs: true}

const VIRTUAL = 'roster-etcd3-package-definition'
const SEP = String.raw`[\\/]`
const CONNECTION_POOL = new RegExp(`${SEP}node_modules${SEP}etcd3${SEP}lib${SEP}connection-pool\\.js$`)
/** The modules of etcd3's stack; none may rely on __dirname or __filename, except as patched below. */
const STACK = new RegExp(
  `${SEP}node_modules${SEP}(etcd3|@grpc${SEP}grpc-js|protobufjs|@protobufjs${SEP}[^\\\\/]+|cockatiel|long|bignumber\\.js|@js-sdsl${SEP}[^\\\\/]+)${SEP}.*\\.js$`,
)
/**
 * grpc-js loads @grpc/proto-loader and .proto files beside itself (`${__dirname}/../../proto`) only
 * for channelz's admin service and ORCA (gRPC servers and the weighted_round_robin policy; etcd3's
 * client uses neither). In the bundle those two lazy paths throw an error that says so.
 */
const GRPC_LAZY_PROTO = new RegExp(`${SEP}@grpc${SEP}grpc-js${SEP}build${SEP}src${SEP}(channelz|orca)\\.js$`)
const GRPC_LAZY_LOADER = "require('@grpc/proto-loader')"
const GRPC_NO_LOADER = `
function __rosterNoProtoLoader() {
  throw new Error("gRPC channelz and ORCA services are left out of roster's bundle of @grpc/grpc-js (scripts/bundle-etcd.mjs)")
}
`

const fail = (file, what) => {
  throw new Error(
    `scripts/bundle-etcd.mjs: ${file}: ${what}. etcd3 or its gRPC stack changed; update the plugin (or put etcd3 back in bundle.mjs's external list).`,
  )
}

/** etcd3's files and the proto-loader it uses, as node resolves them from this project. */
export function etcd3Paths(root = process.cwd()) {
  const fromRoot = createRequire(path.join(root, 'package.json'))
  const connectionPool = fromRoot.resolve('etcd3/lib/connection-pool.js')
  const fromEtcd3 = createRequire(connectionPool)
  const protoLoader = fromEtcd3.resolve('@grpc/proto-loader')
  return {
    connectionPool,
    rpcProto: path.join(path.dirname(connectionPool), '..', 'proto', 'rpc.proto'),
    protoLoader,
    protoLoaderDir: path.dirname(protoLoader),
  }
}

/** connection-pool.js with the loadSync call replaced by `require(VIRTUAL)(options)`; throws if it is not as expected. */
export function rewriteConnectionPool(source, file) {
  const calls = [...source.matchAll(LOAD_CALL)]
  if (calls.length !== 1) fail(file, `expected one loadSync(\`\${__dirname}/../proto/rpc.proto\`, {...}) call, found ${calls.length}`)
  const options = calls[0][1].replace(/\s+/g, ' ')
  if (options !== EXPECTED_OPTIONS) fail(file, `loadSync options are ${options}, expected ${EXPECTED_OPTIONS}`)
  if (source.split(LOADER_REQUIRE).length !== 2) fail(file, `expected the line ${LOADER_REQUIRE} once`)
  const out = source.replace(LOADER_REQUIRE, '').replace(LOAD_CALL, `require(${JSON.stringify(VIRTUAL)})($1)`)
  if (/proto_loader_1|__dirname|__filename/.test(out)) fail(file, 'proto_loader_1, __dirname or __filename is still used after the rewrite')
  return out
}

/**
 * The CommonJS source of the module that stands for `loadSync(rpc.proto, options)`: built from
 * what proto-loader itself loads and returns for etcd3's rpc.proto, with etcd3's options.
 *
 * Each method gets the protobufjs JSON of just the types its request and response reach (each
 * top-level message or enum of a package, with what it nests, stored once), and builds a Root of
 * them on its first call: a command makes two or three kinds of call (Authenticate, Range, Txn),
 * and a Root of all of rpc.proto's ~100 types is slow to build.
 */
export function packageDefinitionModule(paths = etcd3Paths()) {
  const fromLoader = createRequire(paths.protoLoader)
  const protoLoader = fromLoader(paths.protoLoader)
  const {loadProtosWithOptionsSync} = fromLoader('./util.js')
  const protobuf = fromLoader('protobufjs')
  const root = loadProtosWithOptionsSync(paths.rpcProto, LOAD_OPTIONS)
  const reference = protoLoader.loadSync(paths.rpcProto, LOAD_OPTIONS)

  // A unit: a message or enum whose parent is a package (not a message), with everything it nests.
  const unitOf = (object) => {
    while (object.parent instanceof protobuf.Type) object = object.parent
    return object
  }
  const units = new Map() // full name without the leading dot → the unit's JSON
  const reach = (types) => {
    const reached = new Set()
    const visit = (type) => {
      const unit = unitOf(type)
      const name = unit.fullName.slice(1)
      if (reached.has(name)) return
      reached.add(name)
      if (!units.has(name)) units.set(name, unit.toJSON())
      const walk = (object) => {
        if (!(object instanceof protobuf.Type)) return
        for (const field of object.fieldsArray) {
          field.resolve()
          if (field.resolvedType) visit(field.resolvedType)
        }
        object.nestedArray.forEach(walk)
      }
      walk(unit)
    }
    types.forEach(visit)
    return [...reached].sort()
  }
  // The packages (namespaces) the units sit in, with their options if any.
  const packages = {}
  const packageOf = (name) => {
    const parts = name.split('.').slice(0, -1)
    for (let i = 1; i <= parts.length; i++) {
      const ns = root.lookup(parts.slice(0, i).join('.'))
      if (!(ns instanceof protobuf.Namespace) || ns instanceof protobuf.Type)
        fail(paths.rpcProto, `${name}: ${parts.slice(0, i).join('.')} is not a package`)
      const json = ns.toJSON()
      delete json.nested
      packages[parts.slice(0, i).join('.')] = json
    }
  }

  const services = []
  for (const [name, entry] of Object.entries(reference)) {
    if ('format' in entry) continue // a message or enum: reflection only
    const service = root.lookup(name)
    if (!(service instanceof protobuf.Service)) fail(paths.rpcProto, `${name} is not a service in protobufjs's root`)
    const methods = Object.entries(entry).map(([methodName, m]) => {
      const method = service.methods[methodName]
      if (!method) fail(paths.rpcProto, `no method ${name}.${methodName} in protobufjs's root`)
      const options = JSON.parse(JSON.stringify(m.options))
      if (!isDeepStrictEqual(options, m.options)) fail(paths.rpcProto, `the options of ${name}.${methodName} are not plain JSON`)
      const types = reach([method.resolvedRequestType, method.resolvedResponseType])
      types.forEach(packageOf)
      return {
        name: methodName,
        path: m.path,
        requestStream: m.requestStream,
        responseStream: m.responseStream,
        originalName: m.originalName,
        options,
        requestType: method.resolvedRequestType.fullName,
        responseType: method.resolvedResponseType.fullName,
        types,
      }
    })
    services.push({name, methods})
  }
  if (!services.some((s) => s.name === 'etcdserverpb.KV')) fail(paths.rpcProto, 'no etcdserverpb.KV service')

  // Each unit's JSON as a string literal, parsed when a method first needs it: cheaper to load than an object literal.
  const unitSource = [...units].map(([name, json]) => `  ${JSON.stringify(name)}: ${JSON.stringify(JSON.stringify(json))}`).join(',\n')
  return `"use strict";
// Generated by scripts/bundle-etcd.mjs from ${path.basename(paths.rpcProto)} (etcd3) with @grpc/proto-loader's loadSync.
var Root = require("protobufjs/light").Root;
var packages = ${JSON.stringify(packages)};
var units = {
${unitSource}
};
var services = ${JSON.stringify(services)};
// The protobufjs JSON of the named units, in their packages.
function rootOf(names) {
  var json = {nested: {}};
  names.forEach(function (name) {
    var parts = name.split(".");
    var node = json;
    for (var i = 1; i < parts.length; i++) {
      var ns = parts.slice(0, i).join(".");
      node = node.nested[parts[i - 1]] || (node.nested[parts[i - 1]] = Object.assign({}, packages[ns], {nested: {}}));
    }
    node.nested[parts[parts.length - 1]] = JSON.parse(units[name]);
  });
  var root = Root.fromJSON(json);
  root.resolveAll();
  return root;
}
// proto-loader's createDeserializer and createSerializer (build/src/index.js), with the type looked up on first use.
function createDeserializer(type, options) {
  return function deserialize(argBuf) {
    var cls = type();
    return cls.toObject(cls.decode(argBuf), options);
  };
}
function createSerializer(type) {
  return function serialize(arg) {
    var cls = type();
    if (Array.isArray(arg)) {
      throw new Error("Failed to serialize message: expected object with " + cls.name + " structure, got array instead");
    }
    var message = cls.fromObject(arg);
    return cls.encode(message).finish();
  };
}
module.exports = function loadPackageDefinition(options) {
  var definition = {};
  services.forEach(function (service) {
    var methods = (definition[service.name] = {});
    service.methods.forEach(function (m) {
      var root = null;
      var lookup = function (name) {
        var type = null;
        return function () {
          return type || (type = (root || (root = rootOf(m.types))).lookupType(name));
        };
      };
      var requestType = lookup(m.requestType);
      var responseType = lookup(m.responseType);
      methods[m.name] = {
        path: m.path,
        requestStream: m.requestStream,
        responseStream: m.responseStream,
        requestSerialize: createSerializer(requestType),
        requestDeserialize: createDeserializer(requestType, options),
        responseSerialize: createSerializer(responseType),
        responseDeserialize: createDeserializer(responseType, options),
        originalName: m.originalName,
        options: m.options,
      };
    });
  });
  return definition;
};
`
}

/** The plugin: etcd3 must not be in esbuild's `external` list for it to apply. */
export function etcdPrecompiledProto({root = process.cwd()} = {}) {
  return {
    name: 'etcd3-precompiled-proto',
    setup(b) {
      const paths = etcd3Paths(root)
      let rewritten = false
      b.onResolve({filter: new RegExp(`^${VIRTUAL}$`)}, () => ({path: VIRTUAL, namespace: VIRTUAL}))
      b.onLoad({filter: /.*/, namespace: VIRTUAL}, () => ({
        contents: packageDefinitionModule(paths),
        loader: 'js',
        resolveDir: paths.protoLoaderDir, // protobufjs/light: the copy proto-loader uses
      }))
      b.onLoad({filter: STACK}, (args) => {
        let source = readFileSync(args.path, 'utf8')
        if (CONNECTION_POOL.test(args.path)) {
          source = rewriteConnectionPool(source, args.path)
          rewritten = true
        } else if (GRPC_LAZY_PROTO.test(args.path)) {
          if (source.split(GRPC_LAZY_LOADER).length !== 2) fail(args.path, `expected one lazy ${GRPC_LAZY_LOADER}`)
          // __dirname only serves the proto path after that require, which now throws first.
          source = source.replace(GRPC_LAZY_LOADER, '__rosterNoProtoLoader()').replaceAll('__dirname', '"(bundled)"') + GRPC_NO_LOADER
        }
        if (/\b(__dirname|__filename)\b/.test(source))
          fail(args.path, 'uses __dirname or __filename, which in the bundle are not its own directory')
        return {contents: source, loader: 'js'}
      })
      b.onEnd((result) => {
        if (result.errors.length === 0 && !rewritten) {
          throw new Error(`scripts/bundle-etcd.mjs: ${paths.connectionPool} was never bundled: is etcd3 still in external?`)
        }
      })
    },
  }
}

export default etcdPrecompiledProto

/** The options etcd3 passes to loadSync (checked against its source by rewriteConnectionPool). */
export {LOAD_OPTIONS}
