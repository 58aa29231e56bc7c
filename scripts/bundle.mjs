// Builds dist/ with esbuild: one entry per command (oclif finds them in dist/commands) and
// src/oclif.ts for bin/run.js, with code splitting so @oclif/core and shared code load once.
// Bundling @oclif/core (its ~150 small files) into one chunk roughly halves start-up: module
// resolution, not execution, dominated it. Every other npm dependency stays external and is
// imported lazily by the code that needs it. Type checking is tsc's job (npm run build runs it).
import {build} from 'esbuild'
import {readFileSync, readdirSync, rmSync, statSync} from 'node:fs'
import path from 'node:path'

const walk = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name)
    if (statSync(file).isDirectory()) return walk(file)
    return file.endsWith('.ts') && !file.endsWith('.d.ts') ? [file] : []
  })

const pkg = JSON.parse(readFileSync('package.json', 'utf8'))
const external = [
  ...Object.keys(pkg.dependencies ?? {}),
  ...Object.keys(pkg.optionalDependencies ?? {}),
  // @oclif/core's optional TypeScript support for development mode; never used from dist.
  'typescript',
  'ts-node',
  'tsx',
].filter((name) => name !== '@oclif/core')

rmSync('dist', {recursive: true, force: true})
await build({
  entryPoints: ['src/oclif.ts', ...walk('src/commands')],
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
  banner: {js: "import {createRequire as __rosterCreateRequire} from 'node:module'; const require = __rosterCreateRequire(import.meta.url);"},
  minify: true,
  keepNames: true,
  legalComments: 'none',
  logLevel: 'warning',
})
