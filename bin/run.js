#!/usr/bin/env node
import {accessSync, constants, existsSync, mkdirSync} from 'node:fs'
import module from 'node:module'
import {homedir} from 'node:os'
import {dirname, isAbsolute, join} from 'node:path'

// package.json's "engines" already states the Node.js versions roster runs on; oclif's own
// check at start-up loads semver on every call for nothing.
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1'

// Node >= 22.1 caches compiled code on disk (module.enableCompileCache): later calls skip parsing
// and compiling dist/. The cache lives in the user's cache directory ($XDG_CACHE_HOME/roster or
// ~/.cache/roster), never in the installation; Node checks each entry against the file's contents
// and its own version, so a stale entry (an upgrade of roster or of Node) is recompiled, not used.
// A directory that cannot be created or written means no cache, silently.
// NODE_COMPILE_CACHE (a directory) and NODE_DISABLE_COMPILE_CACHE=1 are Node's own overrides.
if (typeof module.enableCompileCache === 'function' && !process.env.NODE_COMPILE_CACHE) {
  const dir = writableCacheDir()
  if (dir) module.enableCompileCache(dir)
}

function writableCacheDir() {
  const xdg = process.env.XDG_CACHE_HOME
  const dir = join(xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.cache'), 'roster')
  try {
    // One level at a time: a recursive mkdir (Node's own, in enableCompileCache too) never returns
    // for some paths (under /proc).
    const missing = []
    for (let d = dir; !existsSync(d); d = dirname(d)) {
      if (dirname(d) === d) return undefined
      missing.unshift(d)
    }
    for (const d of missing) mkdirSync(d, {mode: 0o700})
    accessSync(dir, constants.W_OK)
    return dir
  } catch {
    return undefined
  }
}

const {execute} = await import('../dist/oclif.js')

await execute({dir: import.meta.url})
