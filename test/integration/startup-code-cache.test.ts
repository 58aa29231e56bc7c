/**
 * bin/run.js's V8 code cache, through the built bin as a user runs it: written once, owner-only,
 * in $XDG_CACHE_HOME/roster (never in the installation), used as it is by the next call, rewritten
 * when it does not fit the build, skipped silently when its directory cannot be made or written,
 * whole when many calls start at once. And the bundle bin/run.js runs behaves as the ES module
 * build (dist/oclif.js, the entry before it) does: the same help, errors and exit codes as that
 * build run in-process (runCli, what most CLI tests run: so this also shows they see what the bin
 * prints), and, each run as a process, the same colours on a terminal and DEBUG output.
 */
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {appendFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {before, describe, it} from 'node:test'

import {BIN, isolatedEnv, processTempDir, ROOT, runBin, runCli} from '../support/cli.js'
import {needsRoot} from '../support/needs.js'

type Env = Record<string, string | undefined>
interface Run {
  code: number
  stdout: string
  stderr: string
}

/** `node <bin> ...args` (runBin), for any bin/run.js (or another entry script). */
const run = (bin: string, args: string[], env: Env): Promise<Run> => runBin(args, {bin, env})

/** A copy of the installation (bin, dist, package.json, the manifest; node_modules linked). */
function installCopy(): string {
  const dir = processTempDir('roster-install-')
  for (const entry of ['bin', 'dist', 'package.json', 'oclif.manifest.json'])
    cpSync(path.join(ROOT, entry), path.join(dir, entry), {recursive: true})
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'))
  return dir
}

/** Every file under `dir` (node_modules left out), with its size and time. */
function filesUnder(dir: string): string[] {
  // Not one recursive readdir of `dir`: it follows the node_modules link (30,000 entries, 0.3 s).
  const top = readdirSync(dir, {withFileTypes: true}).filter((e) => e.name !== 'node_modules')
  return top
    .flatMap((e) => (e.isDirectory() ? readdirSync(path.join(dir, e.name), {recursive: true, withFileTypes: true}) : [e]))
    .filter((e) => !e.isDirectory())
    .map((e) => {
      const file = path.join(e.parentPath, e.name)
      const s = statSync(file)
      return `${path.relative(dir, file)} ${s.size} ${s.mtimeMs}`
    })
    .sort()
}

/** A fresh HOME whose cache directory is its own ~/.cache, as a user's (isolatedEnv's is shared by the test process). */
const freshEnv = (extra: Env = {}): Env => isolatedEnv({XDG_CACHE_HOME: undefined, ...extra})

const cacheFiles = (dir: string): string[] => readdirSync(dir).filter((f) => f.endsWith('.v8cache'))
const VERSION = /^roster\/\d+\.\d+\.\d+\S* \S+ node-v\d+/

describe('the code cache', () => {
  it('is written once, owner-only, in $XDG_CACHE_HOME/roster, and the next calls use it as it is', async () => {
    const env = isolatedEnv()
    env.XDG_CACHE_HOME = path.join(env.HOME!, 'xdg-cache')
    const dir = path.join(env.XDG_CACHE_HOME, 'roster')

    const first = await run(BIN, ['--version'], env)
    assert.equal(first.code, 0, first.stderr)
    assert.match(first.stdout, VERSION)
    const [file, ...others] = cacheFiles(dir)
    assert.ok(file && others.length === 0, `one cache file: ${readdirSync(dir).join(', ')}`)
    assert.match(file, new RegExp(`^roster-${process.version}-${process.arch}-`))
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.endsWith('.tmp')),
      [],
    )
    assert.equal(statSync(path.join(dir, file)).mode & 0o777, 0o600)
    assert.equal(statSync(dir).mode & 0o777, 0o700)
    assert.ok(statSync(path.join(dir, file)).size > 10_000)

    // Accepted: not written again (a rewrite renames a new file into place).
    const inode = (): number => statSync(path.join(dir, file)).ino
    const written = inode()
    assert.equal((await run(BIN, ['--version'], env)).code, 0)
    assert.equal(inode(), written)
    // Made by a call that ran no command: the first call that runs one writes it again, with the
    // functions commands need; then it stays, for another command and for a call that runs none.
    assert.equal((await run(BIN, ['server', 'list'], env)).code, 0)
    const withCommand = inode()
    assert.notEqual(withCommand, written)
    for (const args of [['service', 'list'], ['--help']]) {
      const again = await run(BIN, args, env)
      assert.equal(again.code, 0, again.stderr)
    }
    assert.equal(inode(), withCommand)
    assert.deepEqual(cacheFiles(dir), [file])
  })

  it('defaults to ~/.cache/roster; a relative XDG_CACHE_HOME is ignored, as the XDG spec says', async () => {
    const env = isolatedEnv({XDG_CACHE_HOME: 'relative/cache'})
    const r = await run(BIN, ['--version'], env)
    assert.equal(r.code, 0, r.stderr)
    assert.equal(cacheFiles(path.join(env.HOME!, '.cache', 'roster')).length, 1)
    assert.equal(readdirSync(env.HOME!).includes('relative'), false)
  })

  it('is rewritten when it is not a V8 cache, or one made for another build', async () => {
    const install = installCopy()
    const bin = path.join(install, 'bin', 'run.js')
    const env = freshEnv()
    const dir = path.join(env.HOME!, '.cache', 'roster')

    assert.equal((await run(bin, ['--version'], env)).code, 0)
    const [built] = cacheFiles(dir)
    assert.ok(built)
    const buildCache = readFileSync(path.join(dir, built))

    // Garbage in place of the cache: refused, the call works, the cache is written anew.
    writeFileSync(path.join(dir, built), 'not a V8 code cache')
    const garbage = await run(bin, ['server', 'list', '-o', 'json'], env)
    assert.equal(garbage.code, 0, garbage.stderr)
    assert.deepEqual(JSON.parse(garbage.stdout), [])
    assert.ok(statSync(path.join(dir, built)).size > 10_000)

    // Another build (the bundle changed): its own cache file, the old one removed.
    appendFileSync(path.join(install, 'dist', 'roster.cjs'), '\n// another build\n')
    const changed = await run(bin, ['--version'], env)
    assert.equal(changed.code, 0, changed.stderr)
    const [current, ...rest] = cacheFiles(dir)
    assert.ok(current && rest.length === 0 && current !== built, cacheFiles(dir).join(', '))

    // The old build's cache under the new build's name: V8 rejects it (the code differs), the
    // call works, and the file is rewritten for this build.
    writeFileSync(path.join(dir, current), buildCache, {mode: 0o600})
    const stale = await run(bin, ['--version'], env)
    assert.equal(stale.code, 0, stale.stderr)
    assert.match(stale.stdout, VERSION)
    const rewritten = readFileSync(path.join(dir, current))
    assert.ok(!rewritten.equals(buildCache), 'the stale cache was not rewritten')
    const accepted = statSync(path.join(dir, current))
    assert.equal((await run(bin, ['--version'], env)).code, 0)
    assert.equal(statSync(path.join(dir, current)).ino, accepted.ino, 'the rewritten cache was not accepted')
  })

  /** A call that runs no command and one that runs one (and opens the registry): both work, and print nothing about the cache. */
  async function silentWithout(bin: string, env: Env, servers: string[]): Promise<void> {
    const version = await run(bin, ['--version'], env)
    assert.equal(version.code, 0, version.stderr)
    assert.match(version.stdout, VERSION)
    assert.equal(version.stderr, '')
    const list = await run(bin, ['server', 'list', '-o', 'json'], env)
    assert.equal(list.code, 0, list.stderr)
    assert.equal(list.stderr, '')
    assert.deepEqual(
      (JSON.parse(list.stdout) as {name: string}[]).map((s) => s.name),
      servers,
    )
  }

  // A directory that cannot be made: under a file here. Under /proc, where no directory can be
  // made, is the case of the installation below (the same two calls, asserted the same way).
  it('is skipped silently when its directory cannot be made or written', async () => {
    const home = isolatedEnv().HOME!
    const aFile = path.join(home, 'a-file')
    writeFileSync(aFile, '')
    await silentWithout(
      BIN,
      isolatedEnv({XDG_CACHE_HOME: path.join(aFile, 'cache'), ROSTER_REGISTRY: `sqlite:${path.join(home, 'a.db')}`}),
      [],
    )
  })

  it('is skipped silently on a read-only file system, as in a container with a read-only root', (t) => {
    // A read-only bind mount in a mount namespace of the call's own: that needs root (CI runs as root).
    const skip = needsRoot('to mount a read-only file system')
    if (skip) return t.skip(skip)
    const home = isolatedEnv().HOME!
    const readOnly = path.join(home, 'read-only')
    mkdirSync(path.join(readOnly, 'existing', 'roster'), {recursive: true})
    const inNamespace = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
    for (const cache of [path.join(readOnly, 'missing'), path.join(readOnly, 'existing')]) {
      const env = isolatedEnv({XDG_CACHE_HOME: cache, ROSTER_REGISTRY: `sqlite:${path.join(home, 'registry.db')}`})
      for (const args of [['--version'], ['server', 'list', '-o', 'json']]) {
        const r = spawnSync('unshare', ['--mount', 'sh', '-c', inNamespace, 'sh', readOnly, process.execPath, BIN, ...args], {
          env: env as NodeJS.ProcessEnv,
          encoding: 'utf8',
        })
        assert.equal(r.status, 0, r.stderr)
        assert.equal(r.stderr, '')
        assert.match(r.stdout.trim(), args[0] === '--version' ? VERSION : /^\[\]$/)
      }
    }
    assert.deepEqual(readdirSync(readOnly, {recursive: true}).sort(), ['existing', path.join('existing', 'roster')])
  })

  it('is not used with NODE_DISABLE_COMPILE_CACHE=1', async () => {
    const env = freshEnv({NODE_DISABLE_COMPILE_CACHE: '1'})
    const r = await run(BIN, ['--version'], env)
    assert.equal(r.code, 0, r.stderr)
    assert.equal(existsSync(path.join(env.HOME!, '.cache')), false)
  })

  it('never writes into the installation, whatever the cache directory', async () => {
    const install = installCopy()
    const bin = path.join(install, 'bin', 'run.js')
    const files = filesUnder(install)
    const home = isolatedEnv().HOME!
    const registry = `sqlite:${path.join(home, 'registry.db')}`
    // No command, a command that writes the registry, help, an unknown command (its hook).
    const env = freshEnv({ROSTER_REGISTRY: registry})
    for (const args of [['--version'], ['server', 'register', 'prom-a'], ['--help'], ['nope']]) {
      const r = await run(bin, args, env)
      assert.ok(r.code === 0 || args[0] === 'nope', `${args.join(' ')}: ${r.stderr}`)
    }
    // With no cache directory: /proc, where none can be made (a recursive mkdir under /proc never
    // returns on Node 22); the calls are skipped silently too.
    await silentWithout(bin, freshEnv({XDG_CACHE_HOME: '/proc/roster-cache-test', ROSTER_REGISTRY: registry}), ['prom-a'])
    assert.deepEqual(filesUnder(install), files)
  })

  it('is written whole when calls start at once: every call works, one file, nothing half-written', async () => {
    const env = freshEnv()
    const dir = path.join(env.HOME!, '.cache', 'roster')
    const runs = await Promise.all(Array.from({length: 6}, () => run(BIN, ['--version'], env)))
    for (const r of runs) {
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stdout, VERSION)
    }
    assert.equal(cacheFiles(dir).length, 1)
    assert.deepEqual(
      readdirSync(dir).filter((f) => !f.endsWith('.v8cache') && !/^v\d+\./.test(f)),
      [],
    )
    // The file the last writer left is one V8 takes: the next call does not write it again.
    const [file] = cacheFiles(dir)
    const before = statSync(path.join(dir, file!))
    assert.equal((await run(BIN, ['--version'], env)).code, 0)
    assert.equal(statSync(path.join(dir, file!)).ino, before.ino)
  })
})

describe('the bundle bin/run.js runs, beside the ES module build', () => {
  let esmEntry: string
  let env: Env

  before(async () => {
    // The entry before the bundle: dist/oclif.js, an ES module, as bin/run.js imported it.
    const dir = processTempDir('roster-esm-entry-')
    esmEntry = path.join(dir, 'esm-entry.mjs')
    writeFileSync(
      esmEntry,
      `import {execute} from ${JSON.stringify(pathToFileURL(path.join(ROOT, 'dist', 'oclif.js')).href)}\n` +
        `await execute({dir: ${JSON.stringify(ROOT)}, args: process.argv.slice(2)})\n`,
    )
    env = isolatedEnv({TERM: 'xterm'})
    env.ROSTER_REGISTRY = `sqlite:${path.join(env.HOME!, 'registry.db')}`
    const r = await run(BIN, ['server', 'register', 'prom-a', '-l', 'dc=a'], env)
    assert.equal(r.code, 0, r.stderr)
  })

  // The bundle as a process, the ES module build in this process (runCli).
  it('prints the same help, output, errors and exit codes as the ES module build in-process', async () => {
    for (const args of [
      ['--help'],
      ['server', 'list', '--help'],
      ['help', 'service'],
      ['autocomplete', '--help'],
      ['server'],
      ['--version'],
      ['server', 'list'],
      ['server', 'list', '-o', 'json', '--json'],
      ['server', 'list', '--bogus'],
      ['server', 'lst'],
      ['service', 'list', '-s', '!!'],
      ['autocomplete', 'script', 'bash'],
    ]) {
      const bundle = await run(BIN, args, env)
      const esm = await runCli(args, {env})
      assert.deepEqual(bundle, esm, `roster ${args.join(' ')}`)
    }
  })

  it('prints the same on a terminal, colours included', () => {
    const onTerminal = (entry: string, args: string[]): string => {
      const command = [process.execPath, entry, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')
      const r = spawnSync('script', ['-qec', command, '/dev/null'], {encoding: 'utf8', env: env as NodeJS.ProcessEnv})
      assert.equal(r.status, 0, r.stderr + r.stdout)
      return r.stdout
    }
    for (const args of [['server', 'list'], ['--help'], ['server', 'register', '--help']]) {
      const bundle = onTerminal(BIN, args)
      assert.equal(bundle, onTerminal(esmEntry, args), `roster ${args.join(' ')}`)
      if (args[1] === 'list') assert.ok(bundle.includes('\u001B[32mactive\u001B[39m'), JSON.stringify(bundle))
    }
  })

  it('prints the same DEBUG=* lines', async () => {
    // One entry a debug call (an object printed with %O spans lines), without its timestamp; the
    // entry's own path (process.argv) differs, and so does how a plugin's directory is found.
    const debugLines = (r: Run): string[] =>
      r.stderr
        .split(/\n(?=\d{4}-\d\d-\d\dT)/)
        .map((l) => l.replace(/^\S+Z /, '').trim())
        .filter((l) => l !== '' && !l.startsWith('oclif:main process.argv') && !l.startsWith('oclif:find-root'))
        .sort()
    const debugEnv = {...env, DEBUG: '*'}
    for (const args of [['--version'], ['server', 'list']]) {
      const bundle = await run(BIN, args, debugEnv)
      const esm = await run(esmEntry, args, debugEnv)
      assert.equal(bundle.code, 0, bundle.stderr)
      assert.equal(bundle.stdout, esm.stdout)
      assert.ok(debugLines(bundle).length > 20, bundle.stderr)
      assert.deepEqual(debugLines(bundle), debugLines(esm))
      assert.match(bundle.stderr, /oclif:find-root:@oclif\/plugin-help Found root at /)
    }
  })
})
