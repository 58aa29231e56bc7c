/**
 * Every store failure maps to the contract (issue 10), through the built CLI:
 * - damaged pages of a real registry file: exit 2, "restore it from a backup", the file named;
 * - a registry file or directory the user may not read or write, an unwritable HOME: exit 4
 *   naming the path and what was tried (never exit 1, never "must name a file in an existing
 *   directory");
 * - read-only commands open the store read-only and never create it: a read-only directory still
 *   lists, a registry that does not exist yet lists as empty and is not created.
 * Root ignores file modes, so the permission cases run the CLI as `nobody`: each case's commands
 * one after another in one process of nobody's (test/support/cli.ts's runCliAs), since what they
 * show is the user the files are opened as, not the process.
 */
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {NOBODY, isolatedEnv, runCli, runCliAs, type CliResult} from '../support/cli.js'
import {needsRoot} from '../support/needs.js'

let dir: string
/** A registry file with 200 services, checkpointed (no -wal beside it). */
let seed: string

function sha(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex')
}

function oneLine(r: CliResult): void {
  const lines = r.stderr.trimEnd().split('\n')
  assert.equal(lines.length, 1, `one line on stderr: ${r.stderr}`)
  assert.doesNotMatch(r.stderr, /^\s+at /m)
}

/** Each of `commands`, in order, by the built CLI as `nobody`, with HOME `home`. */
function runAsNobody(commands: string[][], home: string): Promise<CliResult[]> {
  const env = {
    ...isolatedEnv(),
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    XDG_DATA_HOME: path.join(home, '.local', 'share'),
  }
  return runCliAs(
    NOBODY,
    commands.map((args) => ({args, options: {env}})),
  )
}

/** A directory for one case, searchable by everyone. */
function caseDir(name: string): string {
  const d = path.join(dir, name)
  mkdirSync(d)
  chmodSync(d, 0o755)
  return d
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'roster-faults-store-'))
  chmodSync(dir, 0o755)
  seed = path.join(dir, 'seed.db')
  const entries = Array.from({length: 200}, (_, i) => ({
    name: `svc${i}`,
    endpoints: [`http://127.0.0.1:${10_000 + i}/metrics`],
    labels: {team: `t${i % 7}`, filler: 'x'.repeat(50)},
  }))
  const file = path.join(dir, 'seed.json')
  writeFileSync(file, JSON.stringify(entries))
  const r = await runCli(['service', 'import', file, '--registry', `sqlite:${seed}`])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(existsSync(`${seed}-wal`), false, 'the registry is checkpointed on close')
})
after(() => rmSync(dir, {recursive: true, force: true}))

describe('a damaged registry file', () => {
  it('service list and register exit 2 with "restore it from a backup" naming the file, wherever the damage is', async () => {
    const pages = statSync(seed).size / 4096
    assert.ok(pages > 8, `a registry of several pages (${pages})`)
    // Garbage over whole pages (page 1 keeps its 100-byte header): the first pages, and the middle
    // and last of those that hold services (the others hold the history and indexes, which service list
    // does not read).
    const seedBytes = readFileSync(seed)
    const servicePages = Array.from({length: pages}, (_, p) => p).filter((p) =>
      seedBytes.subarray(p * 4096, (p + 1) * 4096).includes('services/default/'),
    )
    for (const page of [1, 2, servicePages[Math.floor(servicePages.length / 2)]!, servicePages.at(-1)!]) {
      const file = path.join(dir, `damaged-${page}.db`)
      copyFileSync(seed, file)
      const bytes = readFileSync(file)
      const start = page === 1 ? 100 : page * 4096
      for (let i = start; i < (page + 1) * 4096 && i < bytes.length; i++) bytes[i] = (i * 131 + 7) & 0xff
      writeFileSync(file, bytes)
      const list = await runCli(['service', 'list', '--registry', `sqlite:${file}`])
      assert.equal(list.code, 2, `page ${page}: ${list.stderr}`)
      assert.match(list.stderr, /restore it from a backup/)
      assert.ok(list.stderr.includes(file), list.stderr)
      oneLine(list)
    }
  })
})

describe('a registry that does not exist yet', () => {
  it('read-only commands list it as empty and do not create it (nor the default directory)', async () => {
    const d = caseDir('absent')
    const file = path.join(d, 'r.db')
    for (const args of [
      ['service', 'list', '-o', 'json'],
      ['server', 'list', '-o', 'json'],
      ['token', 'list', '-o', 'json'],
    ]) {
      const r = await runCli([...args, '--registry', `sqlite:${file}`])
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`)
      assert.deepEqual(JSON.parse(r.stdout), [], args.join(' '))
    }
    const namespaces = await runCli(['namespace', 'list', '-o', 'json', '--registry', `sqlite:${file}`])
    assert.equal(namespaces.code, 0, namespaces.stderr)
    assert.deepEqual(
      (JSON.parse(namespaces.stdout) as {name: string}[]).map((n) => n.name),
      ['default'],
      'only the built-in namespace',
    )
    const settings = await runCli(['registry', 'settings', '--json', '--registry', `sqlite:${file}`])
    assert.equal(settings.code, 0, settings.stderr)
    assert.equal(existsSync(file), false, 'not created by a read')
    const env = isolatedEnv()
    const r = await runCli(['service', 'list'], {env})
    assert.equal(r.code, 0, r.stderr)
    assert.equal(existsSync(path.join(env.XDG_DATA_HOME!, 'roster')), false, 'the default directory is not created by a read')
  })

  it('an explicit path in a directory that does not exist is exit 2 naming the directory', async () => {
    const r = await runCli(['service', 'list', '--registry', `sqlite:${path.join(dir, 'no-such-dir', 'r.db')}`])
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /directory does not exist \(.*no-such-dir\)/)
  })
})

describe('files and directories the user may not read or write', {skip: needsRoot('to run the CLI as nobody')}, () => {
  let home: string
  before(() => {
    home = caseDir('home-nobody')
    chownSync(home, NOBODY.uid, NOBODY.gid)
  })

  it('a registry file nobody may read: exit 4 naming the file and "tried to open it for reading", for reads and writes', async () => {
    const d = caseDir('unreadable')
    chownSync(d, NOBODY.uid, NOBODY.gid)
    const file = path.join(d, 'r.db')
    copyFileSync(seed, file)
    chmodSync(file, 0o600) // owned by root
    const before = sha(file)
    const [list, write] = await runAsNobody(
      [
        ['service', 'list', '--registry', `sqlite:${file}`],
        ['service', 'register', 'a', '-e', 'http://127.0.0.1:1/m', '--registry', `sqlite:${file}`],
      ],
      home,
    )
    assert.equal(list!.code, 4, list!.stderr)
    assert.match(list!.stderr, /not allowed to read the database file \(EACCES; tried to open it for reading\)/)
    assert.ok(list!.stderr.includes(file))
    assert.doesNotMatch(list!.stderr, /existing directory/)
    oneLine(list!)
    assert.equal(write!.code, 4, write!.stderr)
    assert.match(write!.stderr, /tried to open it for reading and writing/)
    oneLine(write!)
    assert.equal(sha(file), before)
  })

  it('a read-only directory and file: service list works (no "not allowed to write"), a write is exit 4, the file unchanged', async () => {
    const d = caseDir('readonly')
    const file = path.join(d, 'r.db')
    copyFileSync(seed, file)
    chmodSync(file, 0o644)
    const before = sha(file)
    const reads = [
      ['namespace', 'list'],
      ['server', 'list'],
      ['token', 'list'],
      ['registry', 'settings'],
      ['sd', 'export', '--server', 'prom1', '--dir', home],
    ]
    const registry = ['--registry', `sqlite:${file}`]
    const [list, ...results] = await runAsNobody(
      [
        ['service', 'list', '-o', 'json', ...registry],
        ...reads.map((args) => [...args, ...registry]),
        ['service', 'register', 'a', '-e', 'http://127.0.0.1:1/m', ...registry],
        ['registry', 'settings', '--replicas', '2', ...registry],
      ],
      home,
    )
    assert.equal(list!.code, 0, list!.stderr)
    assert.equal((JSON.parse(list!.stdout) as unknown[]).length, 200)
    reads.forEach((args, i) => {
      const r = results[i]!
      assert.notEqual(r.code, 4, `${args.join(' ')}: ${r.stderr}`)
      assert.notEqual(r.code, 1, `${args.join(' ')}: ${r.stderr}`)
    })
    const [write, settings] = results.slice(reads.length)
    assert.equal(write!.code, 4, write!.stderr)
    assert.ok(write!.stderr.includes(file), write!.stderr)
    oneLine(write!)
    assert.equal(settings!.code, 4, settings!.stderr)
    assert.equal(sha(file), before)
    assert.equal(existsSync(`${file}-wal`), false)
  })

  it('a new registry in a directory nobody may write: exit 4 naming the directory and "tried to create the database file"', async () => {
    const d = caseDir('nocreate')
    const file = path.join(d, 'r.db')
    const [r] = await runAsNobody([['service', 'register', 'a', '-e', 'http://127.0.0.1:1/m', '--registry', `sqlite:${file}`]], home)
    assert.equal(r!.code, 4, r!.stderr)
    assert.match(r!.stderr, /not allowed to create files in the directory .*nocreate \(EACCES; tried to create the database file\)/)
    oneLine(r!)
    assert.equal(existsSync(file), false)
  })

  it('an unwritable HOME: a write is exit 4 naming the directory it could not create; a list is empty, exit 0', async () => {
    const roHome = caseDir('home-readonly') // owned by root, 0755
    const [write, list] = await runAsNobody(
      [
        ['service', 'register', 'a', '-e', 'http://127.0.0.1:1/m'],
        ['service', 'list', '-o', 'json'],
      ],
      roHome,
    )
    assert.equal(write!.code, 4, write!.stderr)
    assert.match(
      write!.stderr,
      /cannot create the default registry's directory .*home-readonly.* \(EACCES\); check the permissions of HOME/,
    )
    oneLine(write!)
    assert.equal(list!.code, 0, list!.stderr)
    assert.deepEqual(JSON.parse(list!.stdout), [])
  })
})
