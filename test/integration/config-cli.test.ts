/**
 * Config files, flags and messages as a user meets them: unknown keys and mistyped flags name the
 * nearest known one, a YAML error keeps its reason and line, a readable secret warns once,
 * `config show` names the effective registry, long values and long lists are cut in the one-line
 * error, and a large --json error reaches a slow pipe whole.
 */
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {BIN, isolatedEnv, runBin, runCli} from '../support/cli.js'

/** An isolated environment with `text` as its user config file (mode 0600 unless given). */
function withUserConfig(text: string, mode = 0o600): {env: Record<string, string | undefined>; file: string} {
  const env = isolatedEnv()
  const dir = path.join(env.HOME!, '.config', 'roster')
  mkdirSync(dir, {recursive: true})
  const file = path.join(dir, 'config.yaml')
  writeFileSync(file, text, {mode})
  return {env, file}
}

const oneLine = (stderr: string): string => {
  const lines = stderr.trim().split('\n')
  assert.equal(lines.length, 1, stderr)
  return lines[0]!
}

describe('config files and flags', () => {
  it('an unknown config-file key exits 2 naming the key, the file and the nearest known key', async () => {
    const {env, file} = withUserConfig('regsitry: sqlite:/tmp/x.db\n')
    const r = await runCli(['service', 'list'], {env})
    assert.equal(r.code, 2, r.stderr)
    assert.equal(oneLine(r.stderr), `roster: config ${file}: unknown key "regsitry"; did you mean registry?`)
    // The same for config show: it never lists the unknown key as a setting.
    const show = await runCli(['config', 'show', '--json'], {env})
    assert.equal(show.code, 2)
    assert.equal(show.stdout.includes('"name": "regsitry"'), false)
  })

  it("another command's flag is a known key; a key near nothing gets no hint", async () => {
    const known = withUserConfig('pdnsApiKey: k3y-for-dns-sync\nregistry: sqlite:/tmp/unused.db\n')
    const show = await runCli(['config', 'show', '--json'], {env: known.env})
    assert.equal(show.code, 0, show.stdout + show.stderr)
    const report = JSON.parse(show.stdout) as {values: {name: string; value: unknown; source: string}[]}
    assert.deepEqual(
      report.values.find((v) => v.name === 'pdns-api-key'),
      {name: 'pdns-api-key', value: '<redacted>', source: `file ${known.file}`},
    )
    const far = withUserConfig('zzzzzzzzzzzz: 1\n')
    const r = await runCli(['config', 'show'], {env: far.env})
    assert.equal(r.code, 2)
    assert.equal(oneLine(r.stderr), `roster: config ${far.file}: unknown key "zzzzzzzzzzzz"`)
  })

  it('config show lists only settings: a ROSTER_ variable that is no flag is not one', async () => {
    const env = isolatedEnv({ROSTER_ENDPOINTS: 'http://a:1/', ROSTER_TIMEOUT: '9s'})
    const r = await runCli(['config', 'show', '--json'], {env})
    assert.equal(r.code, 0, r.stderr)
    const names = (JSON.parse(r.stdout) as {values: {name: string}[]}).values.map((v) => v.name)
    assert.ok(names.includes('timeout'))
    assert.equal(names.includes('endpoints'), false, names.join(','))
  })

  it('a mistyped flag exits 2 with the nearest flag', async () => {
    const r = await runCli(['service', 'list', '--regsitry', 'sqlite::memory:'])
    assert.equal(r.code, 2)
    assert.match(oneLine(r.stderr), /^roster: unknown flag "--regsitry"; did you mean --registry\? \(see --help\)$/)
    const far = await runCli(['service', 'list', '--qqqqqqqqqqqq'])
    assert.equal(far.code, 2)
    assert.match(oneLine(far.stderr), /^roster: unknown flag "--qqqqqqqqqqqq" \(see --help\)$/)
  })

  it('a YAML syntax error keeps its reason and line in the one-line message (exit 2)', async () => {
    const {env, file} = withUserConfig('timeout: 5s\nregistry: [sqlite:/x.db\netcd-prefix: /p/\n')
    const r = await runCli(['config', 'show'], {env})
    assert.equal(r.code, 2)
    const line = oneLine(r.stderr)
    assert.ok(line.startsWith(`roster: config ${JSON.stringify(file)}: cannot be read or parsed: `), line)
    assert.match(line, /\(line \d+, column \d+\)$/)
  })

  it('a config file with secrets that others can read warns once, however many secrets it holds', async () => {
    const {env, file} = withUserConfig('etcd-password: pw-in-file\ntoken: tok-in-file\npdns-api-key: key-in-file\n', 0o644)
    const r = await runCli(['config', 'show', '-o', 'json'], {env})
    assert.equal(r.code, 0, r.stderr)
    const warnings = r.stderr.split('\n').filter((l) => l.startsWith('roster: warning:'))
    assert.deepEqual(warnings, [
      `roster: warning: ${file} holds etcd-password, token, pdns-api-key and is readable by other users: chmod 600 ${file}`,
    ])
    for (const secret of ['pw-in-file', 'tok-in-file', 'key-in-file']) assert.equal(r.stdout.includes(secret), false)
  })

  it('config show names the effective registry and where it came from', async () => {
    const env = isolatedEnv()
    const byDefault = await runCli(['config', 'show'], {env})
    assert.equal(byDefault.code, 0, byDefault.stderr)
    const expected = path.join(env.XDG_DATA_HOME!, 'roster', 'registry.db')
    assert.match(byDefault.stderr, new RegExp(`^registry: sqlite:${expected.replace(/[.]/g, '\\.')} \\(from default\\)$`, 'm'))

    const fromEnv = await runCli(['config', 'show', '--json'], {env: {...env, ROSTER_REGISTRY: 'sqlite:relative/r.db'}})
    const report = JSON.parse(fromEnv.stdout) as {registry: {location: string; source: string}}
    assert.deepEqual(report.registry, {location: `sqlite:${path.join(env.HOME!, 'relative', 'r.db')}`, source: 'env ROSTER_REGISTRY'})

    const remote = await runCli(['config', 'show', '--json', '--registry', 'https://registry.example:8443'], {env})
    assert.deepEqual((JSON.parse(remote.stdout) as typeof report).registry, {location: 'https://registry.example:8443', source: 'flag'})
  })

  it('a long value is shortened in the message, the same way everywhere', async () => {
    const long = `${'9'.repeat(500)}x`
    const r = await runCli(['config', 'show', '--timeout', long])
    assert.equal(r.code, 2)
    const line = oneLine(r.stderr)
    assert.match(line, /^roster: --timeout "9{119}…\(383 more characters\): expected a duration/)
  })
})

describe('terminal output, simulated in-process', () => {
  it('a table is aligned on a terminal and tab-separated under a pipe', async () => {
    const env = isolatedEnv()
    const terminal = await runCli(['config', 'show'], {env, tty: true})
    assert.equal(terminal.code, 0, terminal.stderr)
    assert.match(terminal.stdout, /^NAME {2,}VALUE {2,}SOURCE$/m)
    assert.equal(terminal.stdout.includes('\t'), false)
    const piped = await runCli(['config', 'show'], {env})
    assert.match(piped.stdout, /^NAME\tVALUE\tSOURCE$/m)
  })
})

describe('the built bin, end to end', () => {
  it('exits with the code the in-process runner reports: 0, 2 for a usage error, 2 for an unknown command', async () => {
    const env = isolatedEnv()
    for (const [args, code] of [
      [['config', 'show', '--json'], 0],
      [['service', 'list', '--registry', 'mysql://db/roster'], 2],
      [['service', 'lst'], 2],
    ] as const) {
      const [inProcess, bin] = [await runCli([...args], {env}), await runBin([...args], {env})]
      assert.equal(bin.code, code, bin.stderr)
      assert.equal(inProcess.code, code, inProcess.stderr)
      assert.equal(bin.stderr, inProcess.stderr)
    }
  })
})

describe('errors with many problems', () => {
  const badImport = (count: number) => {
    const env = isolatedEnv({ROSTER_REGISTRY: 'sqlite::memory:'})
    const file = path.join(env.HOME!, 'bad.json')
    writeFileSync(file, JSON.stringify(Array.from({length: count}, (_, i) => ({name: 'x', endpoint: `ftp://host${i}/`}))))
    return {env, file}
  }

  it('the one-line error lists the first problems and how many more; --json has all of them', async () => {
    const {env, file} = badImport(12)
    const r = await runCli(['service', 'import', file], {env})
    assert.equal(r.code, 2)
    const line = oneLine(r.stderr)
    assert.match(line, /: 12 of 12 entries are invalid, nothing was imported: entry 1: endpoint "ftp:\/\/host0\/": .*; and 7 more$/)
    assert.ok(line.includes('entry 5: ') && !line.includes('entry 6: '), line)
    const json = await runCli(['service', 'import', file, '--json'], {env})
    const error = (JSON.parse(json.stdout) as {error: {problems: string[]; exitCode: number}}).error
    assert.equal(error.exitCode, 2)
    assert.equal(error.problems.length, 12)
  })

  it('a --json error of over a megabyte reaches a slow pipe whole, with its exit code', async () => {
    // About 100 bytes a problem: over 1 MiB, more than any pipe holds (Linux's pipe-max-size).
    const count = 12_000
    const {env, file} = badImport(count)
    const child = spawn(process.execPath, [BIN, 'service', 'import', file, '--json'], {
      env: env as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    // Read nothing until the child has written a pipe-full and is waiting on it, then slowly.
    child.stdout.pause()
    const chunks: Buffer[] = []
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
    await new Promise<void>((resolve) => child.stdout.once('readable', () => resolve()))
    child.stdout.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      child.stdout.pause()
      setImmediate(() => child.stdout.resume())
    })
    child.stdout.resume()
    const code = await exited
    const text = Buffer.concat(chunks).toString('utf8')
    assert.equal(code, 2)
    assert.ok(text.length > 1_000_000, `${text.length} bytes`)
    const error = (JSON.parse(text) as {error: {problems: string[]}}).error
    assert.equal(error.problems.length, count)
  })
})
