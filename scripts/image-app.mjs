// Copies what `roster` needs at run time from a built tree (SOURCE: bin/, dist/, node_modules
// with its native modules built for the image's Node) into DEST, the image's /usr/lib/roster:
//   node scripts/image-app.mjs SOURCE DEST
//
// bin/run.js runs dist/roster.cjs, the whole CLI in one file (scripts/bundle.mjs); what that file
// leaves out is found from the file itself, so a package moved in or out of the bundle needs no
// edit here:
// - the packages it requires by name (the server's framework, its metrics) that are production
//   dependencies, with everything they depend on. Optional ones (keytar: roster keeps credentials
//   in a file without it) and development ones (typescript, which only @oclif/core's development
//   mode asks for) stay out;
// - native addons (a production dependency with a binding.gyp): package.json and the compiled
//   build/Release/*.node, stripped; their JavaScript is in the bundle;
// - oclif's plugins: package.json and oclif.manifest.json, which oclif reads to find their
//   commands (the commands themselves are in the bundle).
// Documentation, type declarations, source maps and tests inside packages are left behind.
import {execFileSync} from 'node:child_process'
import {chmodSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, realpathSync} from 'node:fs'
import {isBuiltin} from 'node:module'
import path from 'node:path'

const [source, dest] = process.argv.slice(2)
if (!source || !dest) {
  console.error('usage: node scripts/image-app.mjs SOURCE DEST')
  process.exit(2)
}
const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'))
const pkg = readJson(path.join(source, 'package.json'))
const dependencies = new Set(Object.keys(pkg.dependencies ?? {}))

const copy = (rel, filter) => {
  mkdirSync(path.dirname(path.join(dest, rel)), {recursive: true})
  cpSync(path.join(source, rel), path.join(dest, rel), {recursive: true, dereference: true, filter})
}
// dist/console: the web console's stylesheet, script and icon, which serve reads from disk;
// dist/serve-deps.cjs: serve's packages, bundled (scripts/bundle.mjs); dist/serve-schemas.cjs:
// its validators and serializers, made at build time (scripts/serve-schemas.mjs).
for (const rel of [
  'bin/run.js',
  'bin/package.json',
  'dist/roster.cjs',
  'dist/console',
  'dist/serve-deps.cjs',
  'dist/serve-schemas.cjs',
  'package.json',
  'oclif.manifest.json',
])
  copy(rel)

// `require("x")` and `import("x")` of a bare name in the bundle (minified: always double quotes).
const bundle = readFileSync(path.join(source, 'dist', 'roster.cjs'), 'latin1')
const packageOf = (specifier) =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/')
const required = new Set(
  [...bundle.matchAll(/\b(?:require|import)\("([^".][^"]*)"\)/g)]
    .map((m) => m[1])
    .filter((s) => !isBuiltin(s))
    .map(packageOf),
)

// Node's resolution: the package in the nearest node_modules at or above `from`.
const sourceRoot = realpathSync(source)
function resolvePackage(from, name) {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name)
    if (existsSync(path.join(candidate, 'package.json'))) return realpathSync(candidate)
    if (dir === sourceRoot || path.dirname(dir) === dir) return undefined
  }
}

// Relative to the package's own directory: what is never loaded at run time. A package's own
// node_modules is not copied with it: what it holds that is needed is in `packages` itself.
const LEFT_OUT_DIRS = new Set([
  'node_modules',
  'test',
  'tests',
  '__tests__',
  'docs',
  'doc',
  'example',
  'examples',
  'benchmark',
  'benchmarks',
  'coverage',
  '.github',
])
const LEFT_OUT_FILE =
  /(\.md|\.markdown|\.d\.[cm]?ts|\.ts|\.map|\.tsbuildinfo)$|^\.(npmignore|eslintrc.*|travis\.yml|gitattributes|gitignore|editorconfig|prettierrc.*)$/i
const packages = new Map()
function addWithDependencies(dir) {
  if (packages.has(dir)) return
  const manifest = readJson(path.join(dir, 'package.json'))
  packages.set(dir, manifest)
  for (const name of Object.keys(manifest.dependencies ?? {})) {
    const found = resolvePackage(dir, name)
    if (!found) throw new Error(`${manifest.name} depends on ${name}, which is not installed under ${source}`)
    addWithDependencies(found)
  }
  // Optional dependencies and peers come along when they are installed: the package decides at
  // run time whether to use them.
  for (const name of Object.keys({...manifest.optionalDependencies, ...manifest.peerDependencies})) {
    const found = resolvePackage(dir, name)
    if (found) addWithDependencies(found)
  }
}
const leftOut = []
for (const name of required) {
  if (!dependencies.has(name)) {
    leftOut.push(name)
    continue
  }
  const found = resolvePackage(sourceRoot, name)
  if (!found) throw new Error(`the bundle requires ${name}, which is not installed under ${source}`)
  addWithDependencies(found)
}
for (const [dir] of packages) {
  const rel = path.relative(sourceRoot, dir)
  copy(rel, (file) => {
    const inside = path.relative(dir, file)
    if (inside === '') return true
    if (LEFT_OUT_DIRS.has(inside.split(path.sep)[0])) return false
    return !LEFT_OUT_FILE.test(path.basename(file))
  })
}

// Native addons: the compiled module (stripped: a shared object is loaded, never run) and package.json.
const addons = []
for (const name of dependencies) {
  const dir = resolvePackage(sourceRoot, name)
  if (!dir || !existsSync(path.join(dir, 'binding.gyp'))) continue
  const release = path.join(dir, 'build', 'Release')
  const built = existsSync(release) ? readdirSync(release).filter((f) => f.endsWith('.node') && f !== 'test_extension.node') : []
  if (built.length === 0) throw new Error(`${name} is not built: ${release} holds no .node file`)
  const rel = path.relative(sourceRoot, dir)
  copy(path.join(rel, 'package.json'))
  for (const file of built) {
    const target = path.join(dest, rel, 'build', 'Release', file)
    copy(path.join(rel, 'build', 'Release', file))
    execFileSync('strip', ['--strip-unneeded', target])
    chmodSync(target, 0o644)
  }
  addons.push(name)
}

const plugins = pkg.oclif?.plugins ?? []
for (const name of plugins) {
  const dir = resolvePackage(sourceRoot, name)
  if (!dir) throw new Error(`oclif plugin ${name} is not installed under ${source}`)
  const rel = path.relative(sourceRoot, dir)
  for (const file of ['package.json', 'oclif.manifest.json']) copy(path.join(rel, file))
}

console.log(
  `image-app: ${packages.size} packages for ${[...required].filter((n) => !leftOut.includes(n)).join(', ') || 'nothing'}; ` +
    `native: ${addons.join(', ') || 'none'}; plugins: ${plugins.join(', ') || 'none'}; left out: ${leftOut.join(', ') || 'nothing'}`,
)
