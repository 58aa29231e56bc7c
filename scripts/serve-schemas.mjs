// Generates dist/serve-schemas.cjs: the validators and serializers of `roster serve`'s routes as
// code, made at build time by fastify's documented standalone compilers
// (@fastify/ajv-compiler/standalone, @fastify/fast-json-stringify-compiler's StandaloneSerializer)
// and restored at run time by src/lib/server/schema-compilers.ts, which keys each by a hash of what
// its compiler is given (so a schema changed without a rebuild is compiled at run time, never
// served stale code). The app is built here as serve builds it, with every optional part on (the
// console), so that every route's schemas are seen; nothing listens and no handler runs.
//
// Run by scripts/bundle.mjs after dist/ is built (the console's assets are read by its routes).
import {build} from 'esbuild'
import {rmSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'
import {pathToFileURL} from 'node:url'

const nodeRequire = createRequire(import.meta.url)
export async function buildServeSchemas() {
  // serve's app as an ES module of its own, next to dist/ so that its packages resolve from node_modules.
  const entry = path.resolve('dist', '.serve-schemas-entry.mjs')
  const generated = path.resolve('dist', '.serve-schemas-generated.cjs')
  await build({
    stdin: {
      contents: [
        "export {buildApp} from './src/lib/server/app.ts'",
        "export {SCHEMA_CODE_FILE, schemaKeys} from './src/lib/server/schema-compilers.ts'",
      ].join('\n'),
      resolveDir: process.cwd(),
      sourcefile: 'serve-schemas-entry.ts',
      loader: 'ts',
    },
    outfile: entry,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    packages: 'external',
    banner: {
      js: "import {createRequire as __rosterCreateRequire} from 'node:module'; const require = __rosterCreateRequire(import.meta.url);",
    },
    logLevel: 'warning',
  })
  let app
  try {
    const {buildApp, schemaKeys, SCHEMA_CODE_FILE} = await import(pathToFileURL(entry).href)
    const recorded = {validators: new Map(), serializers: new Map()}
    const {StandaloneValidator} = nodeRequire('@fastify/ajv-compiler')
    const {StandaloneSerializer} = nodeRequire('@fastify/fast-json-stringify-compiler')
    const compilers = {
      buildValidator(externalSchemas, options) {
        // The key is of the options as fastify gives them: the standalone compiler adds code.source
        // to the object it is given, here a copy (fastify gives each context the same object).
        const key = schemaKeys('validator', externalSchemas, options?.customOptions)
        return StandaloneValidator({
          readMode: false,
          storeFunction: (route, code) => recorded.validators.set(key(route.schema), code),
        })(externalSchemas, {...options})
      },
      buildSerializer(externalSchemas, options) {
        const key = schemaKeys('serializer', externalSchemas, options)
        return StandaloneSerializer({
          readMode: false,
          storeFunction: (route, code) => recorded.serializers.set(key(route.schema), code),
        })(externalSchemas, options === undefined ? undefined : {...options})
      },
    }
    // What building the routes never touches: anything that does fails here, loudly.
    const untouched = (name) =>
      new Proxy(
        {},
        {
          get: (_, key) => {
            throw new Error(`serve-schemas: building the app read ${name}.${String(key)}`)
          },
        },
      )
    app = await buildApp({
      store: untouched('store'),
      registry: untouched('registry'),
      // http_sd's answers listen to the view's changes from the start.
      view: {listen: () => () => undefined},
      metrics: untouched('metrics'),
      loopback: true,
      log: () => undefined,
      version: '0.0.0',
      console: {assetsDir: path.resolve('dist', 'console')},
      schemaCompilers: compilers,
    })
    await app.ready()
    if (recorded.validators.size === 0 || recorded.serializers.size === 0) throw new Error('serve-schemas: no schema was compiled')
    checkRequires(recorded, SCHEMA_CODE_FILE)
    // Bundled, so that the run-time helpers the code requires come with it: serve's packages are
    // in dist/serve-deps.cjs, not in node_modules, where the image has none of them.
    writeFileSync(generated, moduleText(recorded))
    await build({
      entryPoints: [generated],
      outfile: SCHEMA_CODE_FILE,
      bundle: true,
      format: 'cjs',
      platform: 'node',
      target: 'node22',
      legalComments: 'none',
      logLevel: 'warning',
    })
    return {validators: recorded.validators.size, serializers: recorded.serializers.size}
  } finally {
    await app?.close()
    rmSync(entry, {force: true})
    rmSync(generated, {force: true})
  }
}

function moduleText(recorded) {
  // Equal code under several keys (the same schema in another context) is written once.
  const bodies = [...new Set([...recorded.validators.values(), ...recorded.serializers.values()])]
  const index = new Map(bodies.map((code, i) => [code, i]))
  const table = (map) => [...map].map(([key, code]) => `  ${JSON.stringify(key)}: code[${index.get(code)}],`).join('\n')
  return [
    '// Generated by scripts/serve-schemas.mjs: the validators and serializers of roster serve, each keyed',
    "// by a hash of its compiler's inputs (src/lib/server/schema-compilers.ts restores them).",
    "'use strict'",
    'const code = [',
    ...bodies.map((code) => `function (module, exports) {\n${code}\n},`),
    ']',
    `exports.validators = {\n${table(recorded.validators)}\n}`,
    `exports.serializers = {\n${table(recorded.serializers)}\n}`,
    '',
  ].join('\n')
}

// The generated code requires the compilers' run-time helpers (Ajv's, fast-json-stringify's) by
// name, bundled from dist/: they must be the very files the compilers that wrote it would use.
function checkRequires(recorded, file) {
  const fromDist = createRequire(path.resolve(file))
  const owners = {ajv: '@fastify/ajv-compiler', 'fast-json-stringify': '@fastify/fast-json-stringify-compiler'}
  const code = [...recorded.validators.values(), ...recorded.serializers.values()].join('\n')
  for (const [, specifier] of code.matchAll(/\brequire\(\s*["']([^"']+)["']\s*\)/g)) {
    const owner = owners[specifier.split('/')[0]]
    if (!owner) throw new Error(`serve-schemas: the generated code requires ${specifier}, from no known compiler`)
    const expected = createRequire(nodeRequire.resolve(owner)).resolve(specifier)
    if (fromDist.resolve(specifier) !== expected)
      throw new Error(`serve-schemas: ${specifier} from dist/ is not the one ${owner} uses (${expected})`)
  }
}
