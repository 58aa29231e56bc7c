/**
 * `roster sd export` as a user runs it (the built CLI, local SQLite registry): files written only
 * on change, mode/owner/group of a replaced file kept, files of gone namespaces removed (and only
 * files it wrote), the directory lock (a second exporter exits 6, a stale lock is broken,
 * SIGTERM ends the loop with exit 0 and frees the lock), and the error paths.
 */
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {hostname, tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, beforeEach, describe, it} from 'node:test'

import {BIN, type CliResult, isolatedEnv, runCli} from '../support/cli.js'
import {needsRoot} from '../support/needs.js'

function ok(r: CliResult): CliResult {
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stdout} ${r.stderr}`)
  return r
}

function fails(r: CliResult, code: number, message: RegExp): void {
  assert.equal(r.code, code, `expected exit ${code}, got ${r.code}: ${r.stdout} ${r.stderr}`)
  const lines = r.stderr.trim().split('\n')
  assert.equal(lines.length, 1, `one line expected: ${r.stderr}`)
  assert.match(lines[0]!, message)
}

interface Group {
  targets: string[]
  labels: Record<string, string>
}

/** A looping exporter in the background; waitFor resolves when its output matches (the positive signal). */
function startLoop(args: string[], env: Record<string, string | undefined>) {
  const child = spawn(process.execPath, [BIN, ...args], {env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe']})
  const out = {stdout: '', stderr: ''}
  const waiters: (() => void)[] = []
  for (const stream of ['stdout', 'stderr'] as const)
    child[stream].setEncoding('utf8').on('data', (d: string) => {
      out[stream] += d
      for (const w of [...waiters]) w()
    })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return {
    exited,
    stderr: () => out.stderr,
    kill: (signal: NodeJS.Signals) => child.kill(signal),
    waitFor: (stream: 'stdout' | 'stderr', pattern: RegExp) =>
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (pattern.test(out[stream])) {
            waiters.splice(waiters.indexOf(check), 1)
            resolve()
          }
        }
        waiters.push(check)
        check()
        void exited.then((code) => reject(new Error(`exporter exited ${code} before ${pattern}: ${out.stdout} ${out.stderr}`)))
      }),
  }
}

describe('roster sd export', () => {
  let dir: string
  let sd: string
  let env: Record<string, string | undefined>
  const cli = (...args: string[]): Promise<CliResult> => runCli(args, {env})
  const exportOnce = (...extra: string[]) => cli('sd', 'export', '--once', '--server', 'prom1', '--dir', sd, ...extra)
  const read = (name: string): Group[] => JSON.parse(readFileSync(path.join(sd, name), 'utf8')) as Group[]

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'roster-sd-export-'))
    env = isolatedEnv({ROSTER_REGISTRY: `sqlite:${path.join(dir, 'registry.db')}`})
    ok(await cli('server', 'register', 'prom1'))
    ok(await cli('namespace', 'register', 'team-a'))
    ok(await cli('namespace', 'register', 'team-b', '--export', 'blackbox'))
    ok(await cli('service', 'register', 'node', '-e', 'http://10.0.0.1:9100/metrics', '-n', 'team-a', '-l', 'env=prod'))
    ok(await cli('service', 'register', 'web', '-e', 'https://web.example.com/health', '-n', 'team-b'))
  })
  beforeEach(() => {
    sd = mkdtempSync(path.join(dir, 'sd-'))
  })
  after(() => {
    rmSync(dir, {recursive: true, force: true})
    if (env.HOME) rmSync(env.HOME, {recursive: true, force: true})
  })

  it('writes one file per namespace in the namespace export shape, then nothing when nothing changed', async () => {
    const first = ok(await exportOnce())
    assert.equal(first.stdout.trim(), `server prom1 → ${sd}: 3 written (default.json, team-a.json, team-b.json), 0 unchanged, 0 removed`)
    assert.deepEqual(read('default.json'), [])
    const [node] = read('team-a.json')
    assert.deepEqual(node?.targets, ['10.0.0.1:9100'])
    assert.equal(node?.labels.job, 'node')
    assert.equal(node?.labels.env, 'prod')
    assert.equal(node?.labels.__metrics_path__, '/metrics')
    assert.deepEqual(read('team-b.json')[0]?.targets, ['https://web.example.com/health'])

    const before = statSync(path.join(sd, 'team-a.json'), {bigint: true})
    const second = ok(await exportOnce('--json'))
    const result = JSON.parse(second.stdout) as {written: string[]; unchanged: string[]; removed: string[]}
    assert.deepEqual(result.written, [])
    assert.deepEqual(result.unchanged, ['default.json', 'team-a.json', 'team-b.json'])
    const afterStat = statSync(path.join(sd, 'team-a.json'), {bigint: true})
    assert.equal(afterStat.ino, before.ino)
    assert.equal(afterStat.mtimeNs, before.mtimeNs)

    ok(await cli('service', 'register', 'node', '-e', 'http://10.0.0.2:9100/metrics', '-n', 'team-a'))
    const third = ok(await exportOnce())
    assert.match(third.stdout, /1 written \(team-a\.json\), 2 unchanged/)
    assert.deepEqual(
      read('team-a.json').map((g) => g.targets[0]),
      ['10.0.0.1:9100', '10.0.0.2:9100'],
    )
    ok(await cli('service', 'unregister', 'http://10.0.0.2:9100/metrics', '-n', 'team-a'))
  })

  it('keeps the mode, owner and group of a file it replaces', {skip: needsRoot('to chown to another user')}, async () => {
    ok(await exportOnce())
    const file = path.join(sd, 'team-a.json')
    writeFileSync(file, '[]\n')
    chmodSync(file, 0o640)
    chownSync(file, 1234, 5678)
    const oldIno = statSync(file).ino
    assert.match(ok(await exportOnce()).stdout, /1 written \(team-a\.json\)/)
    const s = statSync(file)
    assert.notEqual(s.ino, oldIno, 'replaced by rename, not rewritten in place')
    assert.equal(s.mode & 0o7777, 0o640)
    assert.equal(s.uid, 1234)
    assert.equal(s.gid, 5678)
    assert.equal(read('team-a.json')[0]?.labels.job, 'node')
  })

  it('removes the files of gone and disabled namespaces, and never a file it did not write', async () => {
    ok(await cli('namespace', 'register', 'gone-soon'))
    ok(await cli('namespace', 'register', 'off-soon'))
    ok(await exportOnce())
    assert.ok(existsSync(path.join(sd, 'gone-soon.json')))
    writeFileSync(path.join(sd, 'other-tool.json'), '[{"targets": ["x:1"], "labels": {}}]\n')
    writeFileSync(path.join(sd, 'notes.txt'), 'keep me\n')

    ok(await cli('namespace', 'unregister', 'gone-soon'))
    ok(await cli('namespace', 'register', 'off-soon', '--export', 'disabled'))
    const r = ok(await exportOnce())
    assert.match(r.stdout, /2 removed \(gone-soon\.json, off-soon\.json\)$/m)
    assert.ok(!existsSync(path.join(sd, 'gone-soon.json')))
    assert.ok(!existsSync(path.join(sd, 'off-soon.json')))
    assert.ok(existsSync(path.join(sd, 'other-tool.json')), 'a file of another tool stays')
    assert.ok(existsSync(path.join(sd, 'notes.txt')))
    ok(await cli('namespace', 'unregister', 'off-soon'))
  })

  it('holds a lock: a second exporter exits 6; SIGTERM ends the loop with exit 0 and frees the lock', async () => {
    const child = spawn(process.execPath, [BIN, 'sd', 'export', '--server', 'prom1', '--dir', sd, '--interval', '1h'], {
      env: env as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    // The first pass's line is the positive signal that the loop holds the lock.
    await new Promise<void>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d
        if (stdout.includes('\n')) resolve()
      })
      child.on('exit', () => reject(new Error(`exporter exited early: ${stderr}`)))
    })
    assert.match(stdout, /3 written/)
    const lockFile = path.join(sd, '.roster-sd-export.lock')
    const holder = JSON.parse(readFileSync(lockFile, 'utf8')) as {pid: number; host: string}
    assert.equal(holder.pid, child.pid)
    assert.equal(holder.host, hostname())

    fails(
      await exportOnce(),
      6,
      new RegExp(`^roster: --dir ".*": another roster sd export holds \\.roster-sd-export\\.lock \\(pid ${child.pid} on `),
    )

    child.kill('SIGTERM')
    assert.equal(await exited, 0, stderr)
    assert.ok(!existsSync(lockFile), 'lock released')
    ok(await exportOnce())
  })

  it('with --watch, a registry change starts a pass long before --interval', async () => {
    // --interval 1h: the only thing that can start the second pass within the test is the change.
    const loop = startLoop(['sd', 'export', '--server', 'prom1', '--dir', sd, '--watch', '--interval', '1h'], env)
    await loop.waitFor('stdout', /written/)
    ok(await cli('service', 'register', 'node', '-e', 'http://10.0.0.4:9100/metrics', '-n', 'team-a'))
    await loop.waitFor('stdout', /1 written \(team-a\.json\)/)
    assert.ok(read('team-a.json').some((g) => g.targets[0] === '10.0.0.4:9100'))
    loop.kill('SIGTERM')
    assert.equal(await loop.exited, 0, loop.stderr())
    ok(await cli('service', 'unregister', 'http://10.0.0.4:9100/metrics', '-n', 'team-a'))
    ok(await exportOnce())
  })

  it('in a loop, writes what changed at the next pass, and goes on after a failed pass', async () => {
    const loop = startLoop(['sd', 'export', '--server', 'prom1', '--dir', sd, '--interval', '200ms'], env)
    await loop.waitFor('stdout', /3 written/)
    ok(await cli('service', 'register', 'node', '-e', 'http://10.0.0.3:9100/metrics', '-n', 'team-a'))
    await loop.waitFor('stdout', /1 written \(team-a\.json\), 2 unchanged/)
    assert.ok(read('team-a.json').some((g) => g.targets[0] === '10.0.0.3:9100'))
    loop.kill('SIGINT')
    assert.equal(await loop.exited, 0, loop.stderr())
    ok(await cli('service', 'unregister', 'http://10.0.0.3:9100/metrics', '-n', 'team-a'))

    // An unreachable registry: each pass fails with one line, the loop goes on until SIGTERM.
    const down = startLoop(
      ['sd', 'export', '--server', 'prom1', '--dir', sd, '--interval', '100ms', '--timeout', '300ms', '--registry', 'etcd://127.0.0.1:1'],
      env,
    )
    await down.waitFor('stderr', /export failed \(exit 3\)[^\n]*\n[^\n]*export failed \(exit 3\)/)
    down.kill('SIGTERM')
    assert.equal(await down.exited, 0, down.stderr())
    assert.ok(!existsSync(path.join(sd, '.roster-sd-export.lock')))
  })

  it('breaks a stale lock left by a dead exporter', async () => {
    const dead = spawn(process.execPath, ['-e', ''], {stdio: 'ignore'})
    await new Promise((resolve) => dead.on('exit', resolve))
    const lockFile = path.join(sd, '.roster-sd-export.lock')
    writeFileSync(
      lockFile,
      JSON.stringify({pid: dead.pid, host: hostname(), startTicks: null, since: '2026-01-01T00:00:00Z', token: 't'}) + '\n',
    )
    assert.match(ok(await exportOnce()).stdout, /3 written/)
    assert.ok(!existsSync(lockFile))
  })

  it('does not break a lock held from another host, nor an unreadable one', async () => {
    const lockFile = path.join(sd, '.roster-sd-export.lock')
    writeFileSync(lockFile, JSON.stringify({pid: 1, host: 'elsewhere', startTicks: null, since: 'x', token: 't'}) + '\n')
    fails(await exportOnce(), 6, /\(pid 1 on elsewhere since x\); stop it, or remove the file if none runs$/)
    writeFileSync(lockFile, 'garbage')
    fails(await exportOnce(), 6, /holds \.roster-sd-export\.lock \(an unreadable lock file\)/)
    assert.equal(readFileSync(lockFile, 'utf8'), 'garbage')
  })

  it('exits 5 for an unknown server and 2 for a missing directory, writing nothing', async () => {
    fails(await cli('sd', 'export', '--once', '--server', 'nope', '--dir', sd), 5, /^roster: server "nope" not found$/)
    const missing = path.join(dir, 'no-such-dir')
    fails(
      await cli('sd', 'export', '--once', '--server', 'prom1', '--dir', missing),
      2,
      /^roster: --dir ".*no-such-dir": no such directory/,
    )
    fails(
      await cli('sd', 'export', '--once', '--server', 'prom1', '--dir', path.join(dir, 'registry.db')),
      2,
      /: is a file, not a directory$/,
    )
    fails(
      await cli('sd', 'export', '--server', 'prom1', '--dir', sd, '--interval', 'soon'),
      2,
      /^roster: --interval "soon": expected a duration/,
    )
    assert.equal(existsSync(missing), false)
  })
})
