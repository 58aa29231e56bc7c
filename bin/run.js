#!/usr/bin/env node
import module from 'node:module'
import {homedir} from 'node:os'
import {isAbsolute, join} from 'node:path'

// package.json's "engines" already states the Node.js versions roster runs on; oclif's own
// check at start-up loads semver on every call for nothing.
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1'

// Node >= 22.1 caches compiled code on disk (module.enableCompileCache): later calls skip parsing
// and compiling dist/. The cache lives in the user's cache directory, never in the installation;
// Node checks each entry against the file's contents and its own version, so a stale entry (an
// upgrade of roster or of Node) is recompiled, not used. If the directory cannot be created or
// written, Node reports it in the return value and runs without a cache: nothing is printed.
// NODE_COMPILE_CACHE (a directory) and NODE_DISABLE_COMPILE_CACHE=1 are Node's own overrides.
if (typeof module.enableCompileCache === 'function' && !process.env.NODE_COMPILE_CACHE) {
  const xdg = process.env.XDG_CACHE_HOME
  try {
    module.enableCompileCache(join(xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.cache'), 'roster'))
  } catch {
    // no usable cache directory: run without one
  }
}

const {execute} = await import('../dist/oclif.js')

await execute({dir: import.meta.url})
