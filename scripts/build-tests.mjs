// Compiles src/ and test/ (TypeScript, file by file, with inline source maps) into .test-build/,
// which otherwise mirrors the repository through symbolic links (bin, dist, node_modules, the
// manifest, scripts, test fixtures…), so paths relative to a test file or to the root resolve as
// they do in the source tree. `npm test` runs the compiled files with plain `node --test`: a test
// file's process then starts without tsx's loader (its hooks thread and transform cache lookups),
// about 0.2 s of CPU per file. One test file still runs from source with
// `node --import tsx --test test/unit/x.test.ts`.
import {build} from 'esbuild'
import {mkdirSync, readdirSync, rmSync, statSync, symlinkSync} from 'node:fs'
import path from 'node:path'

const OUT = '.test-build'
const COMPILED = new Set(['src', 'test'])
const isTs = (file) => file.endsWith('.ts') && !file.endsWith('.d.ts')
const walk = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name)
    return statSync(file).isDirectory() ? walk(file) : [file]
  })

rmSync(OUT, {recursive: true, force: true})
const files = [...COMPILED].flatMap((dir) => walk(dir))
await build({
  entryPoints: files.filter(isTs),
  outdir: OUT,
  outbase: '.',
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'inline',
  logLevel: 'warning',
})
// Everything else in src/ and test/ (fixtures, declarations) and every other top-level entry.
const link = (rel) => {
  const to = path.join(OUT, rel)
  mkdirSync(path.dirname(to), {recursive: true})
  symlinkSync(path.relative(path.dirname(to), rel), to)
}
for (const file of files) if (!isTs(file)) link(file)
// dist/ by name: npm test's pretest runs this while scripts/bundle.mjs rebuilds it (a link may
// point at a directory not made yet).
for (const name of new Set([...readdirSync('.'), 'dist'])) if (!COMPILED.has(name) && name !== OUT && name !== '.git') link(name)
