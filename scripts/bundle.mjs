// Builds dist/ with esbuild: one entry per command (oclif finds them in dist/commands) and hook, and
// src/oclif.ts for bin/run.js, with code splitting so @oclif/core and shared code load once.
// Bundling @oclif/core (its ~150 small files) into one chunk roughly halves start-up: module
// resolution, not execution, dominated it. Type checking is tsc's job (npm run build runs it).
import {build} from 'esbuild'
import {readFileSync, readdirSync, rmSync, statSync} from 'node:fs'
import path from 'node:path'

const walk = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name)
    if (statSync(file).isDirectory()) return walk(file)
    return file.endsWith('.ts') && !file.endsWith('.d.ts') ? [file] : []
  })

// Native modules, the two heavy clients that carry their own protocol stacks (gRPC, the
// Kubernetes API), and the CommonJS libraries the code imports by name (esbuild gives a bundled
// CommonJS module only a default export) stay in node_modules and are imported lazily.
// @oclif/core, cli-table3 and uuid are bundled: fewer files to resolve and read at start-up.
const external = [
  'better-sqlite3',
  'keytar',
  'etcd3',
  '@kubernetes/client-node',
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
for (const name of external.slice(0, 7)) {
  if (!(name in {...pkg.dependencies, ...pkg.optionalDependencies})) throw new Error(`${name} is not a dependency`)
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
