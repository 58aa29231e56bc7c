// Builds dist/ with esbuild: one entry per command (oclif finds them in dist/commands) and hook, and
// src/oclif.ts for bin/run.js, with code splitting so @oclif/core and shared code load once.
// Bundling @oclif/core (its ~150 small files) into one chunk roughly halves start-up: module
// resolution, not execution, dominated it. Type checking is tsc's job (npm run build runs it).
import {build} from 'esbuild'
import {readFileSync, readdirSync, rmSync, statSync} from 'node:fs'
import path from 'node:path'
import {etcdPrecompiledProto} from './bundle-etcd.mjs'

const walk = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name)
    if (statSync(file).isDirectory()) return walk(file)
    return file.endsWith('.ts') && !file.endsWith('.d.ts') ? [file] : []
  })

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
  // roster serve's HTTP framework and metrics (CommonJS, with their own lazy requires): loaded
  // from node_modules by `serve` alone, so no other command's start-up grows.
  'fastify',
  '@fastify/swagger',
  'prom-client',
]
const pkg = JSON.parse(readFileSync('package.json', 'utf8'))
for (const name of [...external.slice(0, 5), 'etcd3', '@kubernetes/client-node']) {
  if (!(name in {...pkg.dependencies, ...pkg.optionalDependencies})) throw new Error(`${name} is not a dependency`)
}

// @kubernetes/client-node: roster uses only its KubeConfig (kubeconfig semantics, token files, exec
// plugins, auth providers), imported as `@kubernetes/client-node/dist/config.js`. That module
// imports the whole generated API (gen/index.js: ~400 ms to load) for makeApiClient, which roster
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
      if (args.path === 'node-fetch') return {contents: 'export const Headers = globalThis.Headers', loader: 'js'}
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
  target: 'node20',
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
