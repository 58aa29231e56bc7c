/**
 * fastify's schema compilers for serve, with the validators and serializers made at build time.
 *
 * Compiling the routes' schemas (Ajv for the validators, fast-json-stringify for the serializers)
 * is most of what serve's start-up costs beyond loading its code. fastify's documented way out is
 * "standalone" code: the compilers' output as source, generated once and restored at run time
 * through `schemaController.compilersFactory`. scripts/serve-schemas.mjs builds the app with the
 * recording compilers below (@fastify/ajv-compiler's and @fastify/fast-json-stringify-compiler's
 * standalone modes) and writes what they made into dist/serve-schemas.cjs; serve restores from it.
 *
 * Each piece of code is keyed by a hash of everything its compiler was given (the schema, the
 * shared schemas it may refer to, the compiler's options): a schema changed without a rebuild has
 * another key, finds nothing, and is compiled at run time as it would be without the file, so
 * stale code is never used. So is anything the build did not see.
 */
import {createHash} from 'node:crypto'
import {existsSync} from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'

/** Where the build writes the generated code (scripts/serve-schemas.mjs), relative to roster's root. */
export const SCHEMA_CODE_FILE = 'dist/serve-schemas.cjs'

/** What fastify hands a compiler for one part of one route. */
interface RouteSchema {
  schema: unknown
  method: string
  url: string
  httpPart?: string
  httpStatus?: string
}
type Compile = (route: RouteSchema) => unknown
/** fastify's `schemaController.compilersFactory`. */
export interface SchemaCompilers {
  buildValidator: (externalSchemas: Record<string, unknown>, options?: unknown) => Compile
  buildSerializer: (externalSchemas: Record<string, unknown>, options?: unknown) => Compile
}

/** Generated code by key: each a CommonJS module body whose module.exports is the validator or serializer. */
export interface SchemaCode {
  validators: Record<string, ModuleBody>
  serializers: Record<string, ModuleBody>
}
type ModuleBody = (module: {exports: unknown}, exports: unknown) => void

/**
 * The keys of one compiler's compilations: a hash of its inputs, the compiler's (its kind, options
 * and the shared schemas, written out once) and each schema's.
 */
export function schemaKeys(kind: 'validator' | 'serializer', externalSchemas: unknown, options: unknown): (schema: unknown) => string {
  const compiler = JSON.stringify([kind, options ?? null, externalSchemas])
  return (schema) => createHash('sha256').update(compiler).update(JSON.stringify(schema)).digest('base64url').slice(0, 22)
}

/**
 * fastify hands a custom validator compiler the headers' schema as written, where its own
 * lowercases the names first (headers arrive lowercased): a name with a capital would never match.
 */
function checkHeaderNames(route: RouteSchema): void {
  if (route.httpPart !== 'headers') return
  const properties = (route.schema as {properties?: Record<string, unknown>}).properties ?? {}
  for (const name of Object.keys(properties)) {
    if (name !== name.toLowerCase()) throw new Error(`${route.method} ${route.url}: header ${name} must be lowercase in its schema`)
  }
}

/** What the restoring compilers did: code restored, and schemas compiled at run time for want of it. */
export interface SchemaCompilerCounts {
  restored: number
  compiled: number
}

/**
 * Compilers that restore the code in `file` (dist/serve-schemas.cjs) and compile at run time what
 * it lacks (everything, when there is no such file) with fastify's own compilers, loaded then.
 * `counts` tells which happened.
 */
export function restoringCompilers(file: string): SchemaCompilers & {counts: SchemaCompilerCounts} {
  const require = createRequire(file)
  let code: SchemaCode | undefined
  try {
    code = require(file) as SchemaCode
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw error
  }
  // fastify's own compilers, from dist/serve-deps.cjs beside the file (scripts/bundle.mjs); where
  // nothing was built (src/ run through bin/dev.js), those fastify requires from node_modules.
  const fastifyCompilers = (): {
    ajvCompiler: () => SchemaCompilers['buildValidator']
    fastJsonStringifyCompiler: {SerializerSelector: () => SchemaCompilers['buildSerializer']}
  } => {
    if (existsSync(path.join(path.dirname(file), 'serve-deps.cjs'))) return require('./serve-deps.cjs')
    const fastifys = createRequire(require.resolve('fastify'))
    return {ajvCompiler: fastifys('@fastify/ajv-compiler'), fastJsonStringifyCompiler: fastifys('@fastify/fast-json-stringify-compiler')}
  }
  const counts = {restored: 0, compiled: 0}
  const restore = (body: ModuleBody | undefined): unknown => {
    if (!body) return undefined
    const module = {exports: {} as unknown}
    body(module, module.exports)
    counts.restored++
    return module.exports
  }
  return {
    counts,
    buildValidator(externalSchemas, options) {
      const customOptions = (options as {customOptions?: unknown} | undefined)?.customOptions
      const key = schemaKeys('validator', externalSchemas, customOptions)
      let fallback: Compile | undefined
      return (route) => {
        checkHeaderNames(route)
        const restored = restore(code?.validators[key(route.schema)])
        if (restored) return restored
        counts.compiled++
        fallback ??= fastifyCompilers().ajvCompiler()(externalSchemas, options)
        return fallback(route)
      }
    },
    buildSerializer(externalSchemas, options) {
      const key = schemaKeys('serializer', externalSchemas, options)
      let fallback: Compile | undefined
      return (route) => {
        const restored = restore(code?.serializers[key(route.schema)])
        if (restored) return restored
        counts.compiled++
        fallback ??= fastifyCompilers().fastJsonStringifyCompiler.SerializerSelector()(externalSchemas, options)
        return fallback(route)
      }
    },
  }
}
