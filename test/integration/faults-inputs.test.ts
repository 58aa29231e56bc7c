/**
 * Input limits through the built CLI (issue 10): nesting depth, size and UTF-8 are checked
 * before any work, exit 2 naming the field, one line without a stack, the registry unchanged.
 * Invalid bytes reach argv and the environment through a real shell (printf), as a user's would.
 */
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {before, describe, it} from 'node:test'

import {BIN, isolatedEnv, runCli, type CliResult} from '../support/cli.js'

const env = isolatedEnv()
const home = env.HOME!
const registryFile = path.join(home, 'r.db')
const registry = `sqlite:${registryFile}`

function sha(): string {
  return createHash('sha256').update(readFileSync(registryFile)).digest('hex')
}

function refused(r: CliResult, pattern: RegExp): void {
  assert.equal(r.code, 2, r.stderr)
  assert.match(r.stderr, pattern)
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr)
  assert.doesNotMatch(r.stderr, /^\s+at /m)
}

/** `roster ...` through sh, so that `$(printf '\xff')` puts raw bytes into argv or the environment. */
function runShell(script: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', script], {cwd: home, env: {...env, ROSTER: `${process.execPath} ${BIN}`} as NodeJS.ProcessEnv})
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => resolve({code: code ?? 1, stdout, stderr}))
  })
}

/** `dns sync --once` of a record file into a fresh zone file (example.com) at `zone`. */
async function syncRecordFile(records: string, zone: string): Promise<{r: CliResult; zone: string; zoneBefore: string}> {
  writeFileSync(
    zone,
    '$ORIGIN example.com.\n@ 3600 IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ 3600 IN NS ns1\nns1 3600 IN A 192.0.2.53\n',
  )
  const zoneBefore = readFileSync(zone, 'utf8')
  const args = ['dns', 'sync', '--once', '--policy', 'sync', '--owner-id', 'ci', '--source', 'file', '--file', records]
  const r = await runCli([...args, '--provider', 'zonefile', '--zone-file', zone, '--zone', 'example.com'], {env})
  return {r, zone, zoneBefore}
}

before(async () => {
  const r = await runCli(['service', 'register', 'web', '-e', 'http://127.0.0.1:9100/metrics', '--registry', registry], {env})
  assert.equal(r.code, 0, r.stderr)
})

describe('unknown keys', () => {
  it('an import entry with a mistyped key: exit 2 naming the key and the nearest known one, nothing written', async () => {
    const file = path.join(home, 'typo.yaml')
    writeFileSync(file, '- name: web\n  endpoint: http://127.0.0.1:9101/metrics\n  lables: {team: db}\n')
    const before = sha()
    refused(
      await runCli(['service', 'import', file, '--registry', registry], {env}),
      /entry 1: unknown key "lables" \(did you mean "labels"\?\)/,
    )
    assert.equal(sha(), before)
  })
})

describe('nesting depth', () => {
  const depth = 50_000
  it('a 50,000-deep labels object in a JSON import file: exit 2 naming the file, nothing written', async () => {
    const file = path.join(home, 'deep.json')
    writeFileSync(file, `[{"name":"a","endpoints":["http://127.0.0.1:1/m"],"labels":${'{"x":'.repeat(depth)}1${'}'.repeat(depth)}}]`)
    const before = sha()
    refused(
      await runCli(['service', 'import', file, '--registry', registry], {env}),
      /file ".*deep\.json": nested more than 64 levels deep/,
    )
    assert.equal(sha(), before)
  })

  it('the same in YAML, and on standard input', async () => {
    const text = `- name: a\n  endpoints: [http://127.0.0.1:1/m]\n  labels: ${'{x: '.repeat(depth)}1${'}'.repeat(depth)}\n`
    const file = path.join(home, 'deep.yaml')
    writeFileSync(file, text)
    const before = sha()
    refused(await runCli(['service', 'import', file, '--registry', registry], {env}), /deep\.yaml": nested more than 64 levels/)
    refused(await runCli(['service', 'import', '-', '--registry', registry], {env, input: text}), /file "-": nested more than 64 levels/)
    assert.equal(sha(), before)
  })

  it('block-style nesting (indentation) deeper than the limit is refused too', async () => {
    let text = '- name: a\n  endpoints: [http://127.0.0.1:1/m]\n  labels:\n'
    for (let i = 0; i < 200; i++) text += `${' '.repeat(4 + i)}x:\n`
    const file = path.join(home, 'block.yaml')
    writeFileSync(file, text)
    refused(await runCli(['service', 'import', file, '--registry', registry], {env}), /nested more than 64 levels/)
  })

  it('a deep DNS record file: exit 2 naming the file', async () => {
    const records = path.join(home, 'records.yaml')
    writeFileSync(records, `- dnsName: www.example.com\n  recordType: A\n  targets: ${'['.repeat(depth)}${']'.repeat(depth)}\n`)
    const {r, zone, zoneBefore} = await syncRecordFile(records, path.join(home, 'db.example.com'))
    refused(r, /records\.yaml": nested more than 64 levels/)
    assert.equal(readFileSync(zone, 'utf8'), zoneBefore)
  })
})

describe('UTF-8', () => {
  it('a description with a byte that is not UTF-8, in argv: exit 2 naming --description, nothing stored', async () => {
    const before = sha()
    const r = await runShell(
      `$ROSTER service register b -e http://127.0.0.1:2/m --registry ${registry} --description "$(printf 'ab\\377cd')"`,
    )
    refused(r, /^roster: --description: not valid UTF-8/)
    assert.equal(sha(), before)
  })

  it('the same in the environment names the variable', async () => {
    const r = await runShell(
      `ROSTER_DESCRIPTION="$(printf 'ab\\377cd')" $ROSTER service register b -e http://127.0.0.1:2/m --registry ${registry}`,
    )
    refused(r, /^roster: ROSTER_DESCRIPTION: not valid UTF-8/)
  })

  it('in a config file names the file and the byte offset', async () => {
    const config = path.join(home, 'bad-config.yaml')
    writeFileSync(config, Buffer.concat([Buffer.from('description: "ab'), Buffer.from([0xff]), Buffer.from('cd"\n')]))
    const r = await runCli(['service', 'register', 'b', '-e', 'http://127.0.0.1:2/m', '--registry', registry, '--config', config], {env})
    refused(r, /^roster: --config ".*bad-config\.yaml": invalid UTF-8 at byte 16$/m)
  })

  it('in an import file names the file and the byte offset, nothing written', async () => {
    const file = path.join(home, 'bad.yaml')
    const head = '- name: x\n  endpoints: [http://127.0.0.1:5/m]\n  description: "a'
    writeFileSync(file, Buffer.concat([Buffer.from(head), Buffer.from([0xff]), Buffer.from('b"\n')]))
    const before = sha()
    refused(
      await runCli(['service', 'import', file, '--registry', registry], {env}),
      new RegExp(`bad\\.yaml": invalid UTF-8 at byte ${head.length}$`, 'm'),
    )
    assert.equal(sha(), before)
  })

  it('in a DNS record file', async () => {
    mkdirSync(path.join(home, 'dns'), {recursive: true})
    const records = path.join(home, 'dns', 'records.yaml')
    writeFileSync(
      records,
      Buffer.concat([
        Buffer.from('- dnsName: www.example.com\n  recordType: TXT\n  targets: ["a'),
        Buffer.from([0xc3]),
        Buffer.from('"]\n'),
      ]),
    )
    const {r} = await syncRecordFile(records, path.join(home, 'dns', 'db.example.com'))
    refused(r, /records\.yaml": invalid UTF-8 at byte 59$/m)
  })

  it('valid non-ASCII text is kept as given', async () => {
    const r = await runCli(
      ['service', 'register', 'c', '-e', 'http://127.0.0.1:3/m', '--registry', registry, '--description', 'Grüße, 東京'],
      {env},
    )
    assert.equal(r.code, 0, r.stderr)
    const list = await runCli(['service', 'list', '-o', 'json', '--name', '^c$', '--registry', registry], {env})
    assert.equal((JSON.parse(list.stdout) as {description: string}[])[0]?.description, 'Grüße, 東京')
  })
})
