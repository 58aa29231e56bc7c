/**
 * Runs the built CLI (`node bin/run.js`, through runBin) with a preload that records what the
 * process did, and V8's coverage of the bundle it ran: the tests of roster's edits to third-party
 * code (test/integration/startup-edits.test.ts, etcd-bundle.test.ts) assert that the work each edit
 * removes was not done, so that they fail when an edit stops taking effect, not only when the code
 * it replaces moves (which fails the build).
 */
import {readFileSync, readdirSync, writeFileSync} from 'node:fs'
import Module from 'node:module'
import path from 'node:path'

import {BIN, processTempDir, runBin} from './cli.js'

export interface Observed {
  code: number
  stdout: string
  stderr: string
  /** Calls of String.prototype.localeCompare. */
  localeCompare: number
  /** fs.promises calls (readFile, stat, lstat, access, readdir, open), as "name path". */
  asyncFs: string[]
  /** Paths read with fs.readFileSync. */
  syncReads: string[]
  /** What require() and require.resolve() were asked for (CommonJS resolution). */
  resolved: string[]
  /** Node's built-in modules loaded, internal ones included ("child_process", "internal/deps/undici/undici"). */
  builtins: string[]
  /**
   * How many times the innermost function of the bundle (dist/roster.cjs) that holds `needle` ran,
   * from V8's coverage. `needle` must occur in the bundle exactly once.
   */
  calls(needle: string): number
}

const PRELOAD = `
const fs = require('node:fs')
const Module = require('node:module')
const seen = {localeCompare: 0, asyncFs: [], syncReads: [], resolved: []}
const localeCompare = String.prototype.localeCompare
String.prototype.localeCompare = function (...args) {
  seen.localeCompare++
  return localeCompare.apply(this, args)
}
for (const name of ['readFile', 'stat', 'lstat', 'access', 'readdir', 'open']) {
  const original = fs.promises[name]
  fs.promises[name] = function (p, ...rest) {
    seen.asyncFs.push(name + ' ' + String(p))
    return original.call(this, p, ...rest)
  }
}
const readFileSync = fs.readFileSync
fs.readFileSync = function (p, ...rest) {
  seen.syncReads.push(String(p))
  return readFileSync.call(this, p, ...rest)
}
const resolveFilename = Module._resolveFilename
Module._resolveFilename = function (request, ...rest) {
  seen.resolved.push(request)
  return resolveFilename.call(this, request, ...rest)
}
process.on('exit', () => {
  seen.builtins = process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice('NativeModule '.length))
  fs.writeFileSync(process.env.ROSTER_TEST_OBSERVED, JSON.stringify(seen))
})
`

let preload: string | undefined

/** `node bin/run.js ...args` (runBin) with the preload and V8's coverage; resolves when it exits. */
export async function observeBin(
  args: string[],
  options: {env: Record<string, string | undefined>; bin?: string; cwd?: string},
): Promise<Observed> {
  const work = processTempDir('roster-observe-')
  if (!preload) {
    preload = path.join(work, 'preload.cjs')
    writeFileSync(preload, PRELOAD)
  }
  const bin = options.bin ?? BIN
  const observed = path.join(work, 'observed.json')
  const coverage = path.join(work, 'coverage')
  const env = {...options.env, NODE_OPTIONS: `--require=${preload}`, ROSTER_TEST_OBSERVED: observed, NODE_V8_COVERAGE: coverage}
  const run = await runBin(args, {env, bin, cwd: options.cwd})
  const seen = JSON.parse(readFileSync(observed, 'utf8')) as Omit<Observed, 'code' | 'stdout' | 'stderr' | 'calls'>
  const bundle = path.join(path.dirname(path.dirname(bin)), 'dist', 'roster.cjs')
  return {...run, ...seen, calls: (needle) => callsOf(coverage, bundle, needle)}
}

interface ScriptCoverage {
  url: string
  functions: {functionName: string; ranges: {startOffset: number; endOffset: number; count: number}[]}[]
}

function callsOf(coverageDir: string, bundle: string, needle: string): number {
  const source = readFileSync(bundle, 'latin1')
  const at = source.indexOf(needle)
  if (at < 0 || source.indexOf(needle, at + 1) >= 0) {
    throw new Error(`${JSON.stringify(needle)} occurs ${at < 0 ? 'nowhere' : 'more than once'} in ${bundle}: the test needs another needle`)
  }
  // bin/run.js compiles the bundle wrapped as a CommonJS module: V8's offsets count the wrapper too.
  const offset = Module.wrap('\0').indexOf('\0') + at
  const scripts = readdirSync(coverageDir).flatMap(
    (file) => (JSON.parse(readFileSync(path.join(coverageDir, file), 'utf8')) as {result: ScriptCoverage[]}).result,
  )
  const script = scripts.find((s) => s.url.endsWith(bundle) || s.url === bundle)
  if (!script) throw new Error(`no coverage of ${bundle} (scripts: ${scripts.map((s) => s.url).join(', ')})`)
  let innermost: {size: number; count: number} | undefined
  for (const fn of script.functions) {
    const [range] = fn.ranges
    if (!range || range.startOffset > offset || offset >= range.endOffset) continue
    const size = range.endOffset - range.startOffset
    if (!innermost || size < innermost.size) innermost = {size, count: range.count}
  }
  if (!innermost) throw new Error(`no function of ${bundle} holds offset ${offset}`)
  return innermost.count
}
