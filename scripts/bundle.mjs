// Builds dist/ with esbuild, twice over:
// - ES modules: one entry per command (oclif finds them in dist/commands, `oclif manifest` reads
//   them) and hook, and src/oclif.ts, with code splitting so @oclif/core and shared code load
//   once. The in-process tests (test/support/cli.ts) run these.
// - dist/roster.cjs: the whole CLI in one CommonJS file, what bin/run.js runs through a V8 code
//   cache (see below and bin/run.js).
// Bundling @oclif/core (its ~150 small files) roughly halved start-up: module resolution, not
// execution, dominated it. Type checking is tsc's job (npm run build runs it).
import {build} from 'esbuild'
import {createHash} from 'node:crypto'
import {readFileSync, readdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'
import {etcdPrecompiledProto} from './bundle-etcd.mjs'
import {bundleConsole} from './bundle-console.mjs'
import {buildServeSchemas} from './serve-schemas.mjs'

const nodeRequire = createRequire(import.meta.url)

const walk = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name)
    if (statSync(file).isDirectory()) return walk(file)
    return file.endsWith('.ts') && !file.endsWith('.d.ts') ? [file] : []
  })

// roster serve's HTTP framework, metrics and fastify's own schema compilers (CommonJS, with their
// own lazy requires), by the name dist/serve-deps.cjs exports each under: loaded by `serve` alone,
// so no other command's start-up grows. dist/serve-deps.cjs holds them in one CommonJS file of its
// own, which dist/roster.cjs requires when serve imports one of them: one file to read and compile
// (Node's compile cache keeps it, as bin/run.js sets up) in place of some 200 in node_modules, each
// resolved, its real path taken, read and compiled, which took more CPU than serve's own start.
// Each package is evaluated on first use. The compilers are there for what dist/serve-schemas.cjs
// does not hold (src/lib/server/schema-compilers.ts).
const SERVE_PACKAGES = {
  fastify: 'fastify',
  '@fastify/swagger': 'swagger',
  'prom-client': 'promClient',
  '@fastify/ajv-compiler': 'ajvCompiler',
  '@fastify/fast-json-stringify-compiler': 'fastJsonStringifyCompiler',
}
// Native modules and the CommonJS libraries the code imports by name (esbuild gives a bundled
// CommonJS module only a default export) stay in node_modules and are imported lazily.
// @oclif/core, cli-table3 and uuid are bundled: fewer files to resolve and read at start-up.
const external = [
  'better-sqlite3',
  'keytar',
  'cosmiconfig',
  'yaml',
  'cli-progress',
  // @oclif/core's optional TypeScript support for development mode; never used from dist.
  'typescript',
  'ts-node',
  'tsx',
  // roster serve's packages (above).
  ...Object.keys(SERVE_PACKAGES),
]
const pkg = JSON.parse(readFileSync('package.json', 'utf8'))
for (const name of [...external.slice(0, 5), ...Object.keys(SERVE_PACKAGES), 'etcd3', '@kubernetes/client-node']) {
  if (!(name in {...pkg.dependencies, ...pkg.optionalDependencies})) throw new Error(`${name} is not a dependency`)
}

// @kubernetes/client-node: roster uses only its KubeConfig (kubeconfig semantics, token files, exec
// plugins, auth providers), imported as `@kubernetes/client-node/dist/config.js`. That module
// imports the whole generated API (gen/index.js, slow to load) for makeApiClient, which roster
// never calls, and builds proxy agents (hpagent, socks-proxy-agent) in createAgent, which roster
// never calls either (cluster-client.ts connects, proxies included, itself). Those imports are
// replaced by stubs that throw if ever called; the rest (js-yaml, openid-client, jsonpath-plus…)
// is bundled, tree-shaken, into the lazily loaded chunk.
const CLIENT_NODE = /[\\/]node_modules[\\/]@kubernetes[\\/]client-node[\\/]dist[\\/]/
const stubbed = {
  './gen/index.js': ['createConfiguration', 'ServerConfiguration'],
  hpagent: ['HttpProxyAgent', 'HttpsProxyAgent'],
  'socks-proxy-agent': ['SocksProxyAgent'],
}
const kubeConfigOnly = {
  name: 'kube-config-only',
  setup(b) {
    b.onResolve({filter: /^(\.\/gen\/index\.js|hpagent|socks-proxy-agent)$/}, (args) =>
      CLIENT_NODE.test(args.importer) ? {path: args.path, namespace: 'roster-stub'} : undefined,
    )
    b.onResolve({filter: /^(node-fetch|openid-client)$/}, (args) =>
      CLIENT_NODE.test(args.importer) ? {path: args.path, namespace: 'roster-stub'} : undefined,
    )
    b.onLoad({filter: /.*/, namespace: 'roster-stub'}, (args) => {
      // KubeConfig.applyToFetchOptions builds node-fetch Headers; the global Headers is the same API.
      // A function, not the class itself: reading globalThis.Headers loads Node's undici, so
      // it is read only when a kubeconfig with headers to apply is used.
      if (args.path === 'node-fetch')
        return {contents: 'export function Headers(init) { return new globalThis.Headers(init) }', loader: 'js'}
      // OIDC (openid-client and its jose) is loaded when a kubeconfig user has an oidc auth provider,
      // not on every start: oidc_auth.js awaits these two functions, so async wrappers are equivalent.
      if (args.path === 'openid-client') {
        const lazy = (n) => `export async function ${n}(...args) { return (await import('openid-client')).${n}(...args) }`
        return {contents: ['discovery', 'refreshTokenGrant'].map(lazy).join('\n'), loader: 'js', resolveDir: process.cwd()}
      }
      const names = stubbed[args.path]
      const body = names
        .map(
          (n) =>
            `export const ${n} = function () { throw new Error('${n} (${args.path}) is left out of the bundle of @kubernetes/client-node') }`,
        )
        .join('\n')
      return {contents: body, loader: 'js'}
    })
  },
}

rmSync('dist', {recursive: true, force: true})
await build({
  entryPoints: ['src/oclif.ts', ...walk('src/commands'), ...walk('src/hooks')],
  outdir: 'dist',
  outbase: 'src',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  external,
  plugins: [kubeConfigOnly, etcdPrecompiledProto()],
  chunkNames: 'chunks/[name]-[hash]',
  // CommonJS code inside an ESM bundle calls require() for Node's built-ins.
  banner: {
    js: "import {createRequire as __rosterCreateRequire} from 'node:module'; const require = __rosterCreateRequire(import.meta.url);",
  },
  minify: process.env.ROSTER_BUNDLE_MINIFY !== '0',
  keepNames: true,
  legalComments: 'none',
  logLevel: 'warning',
})

// dist/roster.cjs: the same program as ONE CommonJS file, what bin/run.js runs. One file is one
// compilation that V8 can cache, with the functions a call ran (vm.Script cachedData, see
// bin/run.js), and no module graph to resolve and link. Commands and
// hooks, roster's and its plugins', are bundled in, each evaluated only when oclif asks for it
// (useBundledModules in src/oclif.ts); dist/ above stays what oclif's manifest and the in-process
// tests load.
const posix = (p) => p.split(path.sep).join('/')
const bundledModules = [...walk('src/commands'), ...walk('src/hooks')].map((file) => [
  `${pkg.name}/dist/${posix(path.relative('src', file)).replace(/\.ts$/, '.js')}`,
  `./${posix(file)}`,
])
for (const plugin of pkg.oclif.plugins) {
  const root = path.join('node_modules', plugin)
  const manifest = JSON.parse(readFileSync(path.join(root, 'oclif.manifest.json'), 'utf8'))
  for (const command of Object.values(manifest.commands)) {
    bundledModules.push([`${plugin}/${command.relativePath.join('/')}`, path.resolve(root, ...command.relativePath)])
  }
}
// Bundled here, unlike in dist/ (where they stay in node_modules): the pure-JavaScript packages
// loaded lazily (cosmiconfig, yaml, cli-progress) and better-sqlite3's JavaScript, so they come
// from the code cache too; etcd3 and its gRPC stack too, with bundle-etcd.mjs's build-time package
// definition. Native addons, the server's framework and TypeScript stay out.
const cjsExternal = external.filter((name) => !['cosmiconfig', 'yaml', 'cli-progress', 'better-sqlite3'].includes(name))
const isExternal = (name) => name.startsWith('node:') || cjsExternal.some((e) => name === e || name.startsWith(`${e}/`))
// A package that `importer` requires at its top but uses only on rare paths: a module object
// that requires it on first use.
const lazyPackage = (name, importer) => ({
  name: `roster-lazy-${name}`,
  setup(b) {
    b.onResolve({filter: new RegExp(`^${name.replace(/[/.]/g, '\\$&')}$`)}, async (args) => {
      if (args.pluginData?.direct || !importer.test(args.importer)) return undefined
      const resolved = await b.resolve(args.path, {resolveDir: args.resolveDir, kind: args.kind, pluginData: {direct: true}})
      return {path: resolved.path, namespace: 'roster-lazy-package'}
    })
    b.onLoad({filter: /.*/, namespace: 'roster-lazy-package'}, (args) => ({
      contents: `let m
const load = () => (m ??= require(${JSON.stringify(args.path)}))
module.exports = new Proxy({}, {get: (_, key) => load()[key], has: (_, key) => key in load()})`,
      loader: 'js',
      resolveDir: path.dirname(args.path),
    }))
  },
})
const OCLIF = /[\\/]@oclif[\\/]core[\\/]/
// oclif requires at its top, for what roster never does, tinyglobby (and its fdir, costly to set
// up: finding commands without a manifest) and lilconfig (which loads fs/promises: an oclif
// config outside package.json).
const oclifLazy = [lazyPackage('tinyglobby', OCLIF), lazyPackage('lilconfig', OCLIF)]
// Node's built-ins that some bundled module requires at its top but uses only in rare paths
// (oclif: child_process for the Windows shell, readline for stdin, perf_hooks for its timings,
// fs/promises for file flags; cosmiconfig: crypto for TypeScript configs, fs/promises, read
// synchronously below): a module object that requires the built-in on first use. Loading them is
// a cost on every call otherwise. (__esModule, which CommonJS interop code asks for, a built-in
// never has: answered without loading it.)
const LAZY_BUILTINS = /^(node:)?(child_process|readline|perf_hooks|crypto|fs\/promises)$/
const cjsPlugin = {
  name: 'roster-cjs',
  setup(b) {
    b.onResolve({filter: /^\.\/serve-deps\.cjs$/}, (args) =>
      args.namespace === 'roster-require' ? {path: args.path, external: true} : undefined,
    )
    b.onResolve({filter: /^[^./]/}, (args) => {
      if (args.namespace === 'roster-require') return {path: args.path, external: true}
      if (args.namespace === 'roster-lazy') return {path: args.path, external: true}
      if (LAZY_BUILTINS.test(args.path) && args.kind !== 'dynamic-import') return {path: args.path, namespace: 'roster-lazy'}
      // oclif asks wsl-utils whether this is WSL on every start; wsl-utils' own top level builds
      // child_process helpers for its PowerShell functions, which oclif calls only on Windows.
      if (args.path === 'wsl-utils' && /[\\/]@oclif[\\/]core[\\/]/.test(args.importer)) return {path: args.path, namespace: 'roster-wsl'}
      // A dynamic import() of an external package or a built-in becomes a require() when it runs:
      // CommonJS packages need no trip through the ESM loader, and code in a vm.Script can
      // import() only through a callback. The module is evaluated at that moment, as before.
      if (args.kind === 'dynamic-import' && isExternal(args.path)) return {path: args.path, namespace: 'roster-require'}
      // better-sqlite3 finds its addon with `bindings`, which searches a dozen paths from the
      // caller's stack; the bundle loads it from better-sqlite3's build/Release, as bindings would.
      if (args.path === 'bindings' && /[\\/]better-sqlite3[\\/]/.test(args.importer)) return {path: args.path, namespace: 'roster-bindings'}
      return undefined
    })
    b.onLoad({filter: /.*/, namespace: 'roster-require'}, (args) => ({
      contents:
        args.path in SERVE_PACKAGES
          ? `module.exports = require('./serve-deps.cjs').${SERVE_PACKAGES[args.path]}`
          : `module.exports = require(${JSON.stringify(args.path)})`,
      loader: 'js',
    }))
    // An ES module's import of it becomes __toESM(require(...)), which lists the module's names:
    // they are those of the Node that builds (a name another version lacks reads as undefined,
    // as it would there), so listing them loads nothing; reading one loads the built-in.
    b.onLoad({filter: /.*/, namespace: 'roster-lazy'}, (args) => ({
      contents: `let m
const load = () => (m ??= require(${JSON.stringify(args.path)}))
const names = ${JSON.stringify(Object.getOwnPropertyNames(nodeRequire(args.path)))}
module.exports = new Proxy({}, {
  get: (_, key) => (key === '__esModule' && !m ? undefined : load()[key]),
  has: (_, key) => key in load(),
  ownKeys: () => (m ? Reflect.ownKeys(m) : names),
  getOwnPropertyDescriptor: (_, key) => {
    if (!m && names.includes(key)) return {value: undefined, writable: true, enumerable: true, configurable: true}
    const d = Reflect.getOwnPropertyDescriptor(load(), key)
    return d && {...d, configurable: true}
  },
})`,
      loader: 'js',
    }))
    b.onLoad({filter: /.*/, namespace: 'roster-wsl'}, () => ({
      contents: `export {default as isWsl} from 'is-wsl'
export async function powerShellPath(...args) {
  return (await import(${JSON.stringify(path.resolve('node_modules/wsl-utils/index.js'))})).powerShellPath(...args)
}`,
      loader: 'js',
      resolveDir: path.resolve('node_modules/wsl-utils'),
    }))
    b.onLoad({filter: /.*/, namespace: 'roster-bindings'}, () => ({
      contents: `const path = require('node:path')
module.exports = function bindings(name) {
  // roster's own node_modules (the bundle is in dist/), where require.resolve, whose first call
  // is slow, would look first; else wherever require.resolve finds it
  const own = path.join(__dirname, '..', 'node_modules', 'better-sqlite3')
  const root = require('node:fs').existsSync(path.join(own, 'package.json'))
    ? own
    : path.dirname(require.resolve(['better-sqlite3', 'package.json'].join('/')))
  try {
    return require(path.join(root, 'build', 'Release', name))
  } catch (error) {
    if (error.code !== 'MODULE_NOT_FOUND') throw error
    return require('bindings')({bindings: name, module_root: root})
  }
}`,
      loader: 'js',
      resolveDir: process.cwd(),
    }))
  },
}
// Edits to @oclif/core's and cosmiconfig's code in this bundle, each for a cost paid on every
// call; the build fails if the code an edit replaces is not found (a new version: check it holds),
// and test/integration/startup-edits.test.ts fails if the work an edit removes is done anyway.
const NODE_MODULES = path.resolve('node_modules')
const edits = {
  // Plugin.load sorts each plugin's commands with localeCompare: the first call sets up ICU's
  // collator, a cost on every call. compareCommandIds gives the same order (src/command-order.ts).
  '@oclif/core/lib/config/plugin.js': [
    [
      '.sort((a, b) => a.id.localeCompare(b.id));',
      `.sort((a, b) => require(${JSON.stringify(path.resolve('src/command-order.ts'))}).compareCommandIds(a.id, b.id));`,
    ],
  ],
  // Reading package.json files and manifests: synchronously, as nothing runs beside it at
  // start-up; each asynchronous read is four trips through libuv's thread pool.
  '@oclif/core/lib/util/fs.js': [
    ["const contents = await (0, promises_1.readFile)(path, 'utf8');", "const contents = (0, node_fs_1.readFileSync)(path, 'utf8');"],
  ],
  // A plugin's directory: oclif asks require.resolve, whose first call is slow. The plugin in
  // the root's own node_modules, where require.resolve looks first, is taken as it is (its real
  // path, as require.resolve gives); anything else goes the way it went.
  '@oclif/core/lib/util/find-root.js': [
    [
      'async function findRoot(name, root) {\n    if (name) {',
      `async function findRoot(name, root) {
    if (name) {
        try {
            const dir = (0, node_path_1.join)(root, 'node_modules', name);
            if (require('node:fs').existsSync((0, node_path_1.join)(dir, 'package.json'))) {
                const found = require('node:fs').realpathSync(dir);
                debug(name)(\`Found root at \${found} (in \${root}'s node_modules)\`);
                return found;
            }
        } catch {}`,
    ],
  ],
  // The core plugins are found by matching package.json's dependencies against the plugin names
  // with minimatch: 32 patterns compiled on every call. A name without glob syntax matches itself.
  '@oclif/core/lib/config/plugin-loader.js': [
    [
      'patterns.some((w) => (0, minimatch_1.minimatch)(p, w))',
      'patterns.some((w) => (/^(@[\\w.-]+\\/)?[\\w.-]+$/.test(w) ? p === w : (0, minimatch_1.minimatch)(p, w)))',
    ],
  ],
  // cosmiconfig's search for the project's rc files tries a dozen names in every directory up to
  // the project's root, each an asynchronous read or stat that fails: synchronous ones, as above.
  'cosmiconfig/dist/Explorer.js': [
    [
      "const contents = await promises_1.default.readFile(filepath, { encoding: 'utf-8' });",
      "const contents = require('node:fs').readFileSync(filepath, { encoding: 'utf-8' });",
    ],
    ['await promises_1.default.stat(path);', "require('node:fs').statSync(path);"],
  ],
  'cosmiconfig/dist/util.js': [['const stat = await fs_1.promises.stat(path);', 'const stat = fs_1.statSync(path);']],
}
const editsPlugin = {
  name: 'roster-edits',
  setup(b) {
    b.onLoad({filter: /[\\/]node_modules[\\/](@oclif[\\/]core|cosmiconfig)[\\/].*\.js$/}, (args) => {
      const fileEdits = edits[posix(path.relative(NODE_MODULES, args.path))]
      if (!fileEdits) return undefined
      let contents = readFileSync(args.path, 'utf8')
      for (const [from, to] of fileEdits) {
        if (!contents.includes(from)) throw new Error(`${args.path} no longer holds: ${from}`)
        contents = contents.replace(from, to)
      }
      return {contents, loader: 'js'}
    })
  },
}
await build({
  stdin: {
    contents: [
      "import {useBundledModules} from './src/oclif.ts'",
      'useBundledModules({',
      ...bundledModules.map(([key, file]) => `  ${JSON.stringify(key)}: () => import(${JSON.stringify(file)}),`),
      '})',
      "export * from './src/oclif.ts'",
    ].join('\n'),
    resolveDir: process.cwd(),
    sourcefile: 'roster-bundle.ts',
    loader: 'ts',
  },
  outfile: 'dist/roster.cjs',
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node22',
  external: cjsExternal,
  plugins: [...oclifLazy, cjsPlugin, editsPlugin, kubeConfigOnly, etcdPrecompiledProto()],
  minify: process.env.ROSTER_BUNDLE_MINIFY !== '0',
  keepNames: true,
  legalComments: 'none',
  logLevel: 'warning',
})
// ASCII only (a character esbuild left as it is, in a regular expression, becomes a \u escape),
// so that bin/run.js reads it as latin1: a copy, where decoding the bundle as UTF-8 is not. The
// first line names the build: bin/run.js keys its code cache by it.
const cjs = readFileSync('dist/roster.cjs', 'utf8').replace(/[^\0-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
const hash = createHash('sha256').update(cjs).digest('hex').slice(0, 16)
writeFileSync('dist/roster.cjs', `/*! roster ${pkg.version} bundle ${hash} */\n${cjs}`)
await build({
  stdin: {
    contents: [
      'module.exports = {',
      ...Object.entries(SERVE_PACKAGES).map(([name, key]) => `  get ${key}() { return require(${JSON.stringify(name)}) },`),
      '}',
    ].join('\n'),
    resolveDir: process.cwd(),
    sourcefile: 'serve-deps.cjs',
    loader: 'js',
  },
  outfile: 'dist/serve-deps.cjs',
  // @fastify/swagger's YAML (the document is served as JSON), prom-client's OpenTelemetry
  // (exemplars, which serve does not record) and fastify's node:http2 (its http2 option, which
  // serve does not set; the costliest of Node's built-ins to load): on first use.
  plugins: [
    lazyPackage('yaml', /[\\/]@fastify[\\/]swagger[\\/]/),
    lazyPackage('@opentelemetry/api', /[\\/]prom-client[\\/]/),
    lazyPackage('node:http2', /[\\/]fastify[\\/]lib[\\/]server\.js$/),
  ],
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node22',
  minify: process.env.ROSTER_BUNDLE_MINIFY !== '0',
  keepNames: true,
  legalComments: 'none',
  logLevel: 'warning',
})
// The web console's stylesheet, script and icon (dist/console/), which serve reads at start.
await bundleConsole()
// serve's validators and serializers as code (scripts/serve-schemas.mjs), made from the app the
// bundle runs; after the console, whose routes read its assets.
await buildServeSchemas()
