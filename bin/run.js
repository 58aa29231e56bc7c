#!/usr/bin/env node
// roster's entry point. It runs dist/roster.cjs, the whole CLI as one CommonJS file (see
// scripts/bundle.mjs), compiled through a V8 code cache: a later call skips parsing and compiling
// it, and the functions the first call ran come compiled.
//
// Why not Node's own compile cache (module.enableCompileCache) for the bundle: Node writes a
// file's cache as V8 compiled it, before it ran, so it holds the top level and none of the
// functions a call compiles while it runs (V8 compiles a function on its first call); every call
// would compile those again. This cache is written when the call ends (script.createCachedData),
// with all of them. docs/benchmarks.md has the two measured side by side. Node's cache is still
// enabled, in the same directory, for what the bundle leaves in node_modules (the server's
// framework, keytar's JavaScript).
//
// The cache lives in the user's cache directory ($XDG_CACHE_HOME/roster, else ~/.cache/roster),
// never in the installation. Its file is named after roster's version, the bundle's hash (written
// into the bundle's first line at build time), the bundle's size and time, Node's version and the
// CPU: a new build or another Node uses a file of its own, and V8 rejects a cache that does not fit
// the code or the V8 in hand anyway (then it is written again). A directory that cannot be created
// or written (a read-only root file system, no HOME) means no cache, silently. The file is written
// whole (a temporary file renamed, so two calls at once never see half a file), readable by its
// owner only. NODE_DISABLE_COMPILE_CACHE=1 turns it off, as it turns off Node's.
//
// This file is CommonJS (bin/package.json says so): an ES module entry costs Node its ES module
// loader's set-up before the first line runs.
/* global require, __dirname, Buffer */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS file (bin/package.json) */
const Module = require('node:module')
const fs = require('node:fs')
const path = require('node:path')

// package.json's "engines" already states the Node.js versions roster runs on; oclif's own
// check at start-up loads semver on every call for nothing.
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1'

const cacheDir = process.env.NODE_DISABLE_COMPILE_CACHE ? undefined : writableCacheDir()
// Node's own cache for the modules loaded from node_modules (from Node 22.1); NODE_COMPILE_CACHE
// (a directory) is Node's override, and is then in effect already.
if (cacheDir && !process.env.NODE_COMPILE_CACHE) Module.enableCompileCache?.(cacheDir)

const root = path.join(__dirname, '..')
// oclif finds the rest (package.json, the manifest) from the root directory.
runBundle(path.join(root, 'dist', 'roster.cjs')).execute({dir: root})

/** Compiles and runs the bundle (with its code cache when there is a directory for it); returns its exports. */
function runBundle(file) {
  const vm = require('node:vm')
  // ASCII (scripts/bundle.mjs makes it so): latin1 is a plain copy, UTF-8 a decoding.
  const source = fs.readFileSync(file, 'latin1')
  const cacheFile = cacheDir && cacheFileName(file, source)
  // The file: one byte, 1 when the call that wrote it ran a command (not only --version or
  // --help), then V8's data.
  let cache
  try {
    if (cacheFile) cache = fs.readFileSync(path.join(cacheDir, cacheFile))
  } catch {
    // no cache yet
  }
  const cachedData = cache && cache.length > 1 ? cache.subarray(1) : undefined
  const script = new vm.Script(Module.wrap(source), {
    filename: file,
    cachedData,
    // the bundle's import() of a module outside it (a plugin oclif did not find in it)
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  })
  const bundle = {exports: {}}
  // Written when the call ends, so that it holds the functions this call compiled as it ran: when
  // there was none, when V8 rejected it, or when it came from a call that ran no command (a first
  // `roster --help`) and this one ran one, whose functions it lacks.
  if (cacheFile) {
    process.once('exit', () => {
      const ranCommand = bundle.exports.ranCommand?.() === true
      if (cachedData && !script.cachedDataRejected && (cache[0] === 1 || !ranCommand)) return
      writeCache(script, cacheFile, ranCommand)
    })
  }
  script.runInThisContext()(bundle.exports, Module.createRequire(file), bundle, file, path.dirname(file))
  return bundle.exports
}

/** `roster-<node>-<arch>-<key>.v8cache`, the key from the bundle's first line and its file's size and time; undefined without that line. */
function cacheFileName(file, source) {
  const header = /^\/\*! roster (\S+) bundle (\w+) \*\//.exec(source)
  if (!header) return undefined
  const stat = fs.statSync(file)
  return `roster-${process.version}-${process.arch}-${header[1]}-${header[2]}-${stat.size}-${Math.trunc(stat.mtimeMs)}.v8cache`
}

/** Writes the code cache whole, owner-only, and removes this Node's caches of other builds. Any failure: no cache. */
function writeCache(script, name, ranCommand) {
  try {
    const data = Buffer.concat([Buffer.from([ranCommand ? 1 : 0]), script.createCachedData()])
    const tmp = path.join(cacheDir, `.${name}.${process.pid}.${Date.now()}.tmp`)
    try {
      fs.writeFileSync(tmp, data, {mode: 0o600, flag: 'wx'})
      fs.renameSync(tmp, path.join(cacheDir, name))
    } catch {
      fs.rmSync(tmp, {force: true})
      return
    }
    const prefix = `roster-${process.version}-${process.arch}-`
    for (const entry of fs.readdirSync(cacheDir)) {
      if (entry !== name && entry.startsWith(prefix) && entry.endsWith('.v8cache')) fs.rmSync(path.join(cacheDir, entry), {force: true})
    }
  } catch {
    // a cache is an optimisation: never an error
  }
}

function writableCacheDir() {
  const {homedir} = require('node:os')
  const xdg = process.env.XDG_CACHE_HOME
  const dir = path.join(xdg && path.isAbsolute(xdg) ? xdg : path.join(homedir(), '.cache'), 'roster')
  try {
    // One level at a time: a recursive mkdir (Node's own, in enableCompileCache too) never returns
    // for some paths (under /proc).
    const missing = []
    for (let d = dir; !fs.existsSync(d); d = path.dirname(d)) {
      if (path.dirname(d) === d) return undefined
      missing.unshift(d)
    }
    for (const d of missing) fs.mkdirSync(d, {mode: 0o700})
    fs.accessSync(dir, fs.constants.W_OK)
    return dir
  } catch {
    return undefined
  }
}
