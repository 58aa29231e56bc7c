/**
 * The progress bar of `dns sync`: on a terminal (a real pseudo-terminal, through script(1)) while
 * many changes are applied, never when stderr is a pipe, and never in the JSON.
 */
import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {BIN, isolatedEnv, processTempDir, runCli} from '../support/cli.js'

const ZONE = 'example.test'

function fixture(records: number): {dir: string; args: string[]} {
  const dir = processTempDir('roster-progress-')
  writeFileSync(
    path.join(dir, 'zone.db'),
    `$ORIGIN ${ZONE}.\n$TTL 300\n@ IN SOA ns1 hostmaster ( 2024010101 7200 3600 1209600 300 )\n@ IN NS ns1\nns1 IN A 192.0.2.1\n`,
  )
  const endpoints = Array.from({length: records}, (_, i) => ({
    dnsName: `h${i}.${ZONE}`,
    recordType: 'A',
    targets: [`192.0.2.${(i % 250) + 2}`],
  }))
  writeFileSync(path.join(dir, 'records.json'), JSON.stringify(endpoints))
  const args = [
    'dns',
    'sync',
    '--once',
    '--policy',
    'sync',
    '--owner-id',
    'progress',
    '--source',
    'file',
    '--file',
    path.join(dir, 'records.json'),
  ]
  args.push('--provider', 'zonefile', '--zone-file', path.join(dir, 'zone.db'), '--zone', ZONE)
  return {dir, args}
}

/** Runs the CLI with stdin, stdout and stderr on a pseudo-terminal; returns what the terminal showed. */
function onTerminal(args: string[]): Promise<{code: number; screen: string}> {
  const quoted = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')
  return new Promise((resolve) => {
    execFile(
      'script',
      ['-qec', quoted, '/dev/null'],
      {env: isolatedEnv({TERM: 'xterm'}) as NodeJS.ProcessEnv, timeout: 60_000},
      (error, stdout) => {
        resolve({code: error ? Number((error as {code?: number}).code ?? 1) : 0, screen: stdout})
      },
    )
  })
}

describe('dns sync progress bar', () => {
  it('shows on a terminal while 60 changes are applied, and the changes land', async () => {
    const {dir, args} = fixture(60)
    const {code, screen} = await onTerminal(args)
    assert.equal(code, 0, screen)
    // 60 A records and their 60 ownership TXT records.
    assert.match(screen, /applying \[[^\]]*\] 120\/120 records/)
    assert.match(screen, /Applied: 60 to create/)
    const zone = readFileSync(path.join(dir, 'zone.db'), 'utf8')
    assert.equal(zone.split('\n').filter((line) => /^h\d+\.example\.test\.\s.*\sA\s/.test(line)).length, 60, zone)
  })

  it('stays off when stderr is not a terminal, and under --json', async () => {
    const {args} = fixture(60)
    const piped = await runCli(args)
    assert.equal(piped.code, 0, piped.stderr)
    assert.ok(!piped.stderr.includes('applying ['), piped.stderr)
    const json = await onTerminal([...fixture(60).args, '--json'])
    assert.equal(json.code, 0, json.screen)
    assert.ok(!json.screen.includes('applying ['))
    assert.equal((JSON.parse(json.screen.slice(json.screen.indexOf('{'))) as {summary: {create: number}}).summary.create, 60)
  })

  it('is not shown for a handful of changes', async () => {
    const {code, screen} = await onTerminal(fixture(5).args)
    assert.equal(code, 0, screen)
    assert.ok(!screen.includes('applying ['))
  })
})
