/**
 * One duration grammar, as a user meets it: each input of one table is accepted by all of
 * `service register --ttl`, `token create --expires`, `sd export --interval` and `--timeout`, or
 * refused by all of them, exit 2, with the same reason after the flag's name.
 */
import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {isolatedEnv, runCli, type CliResult} from '../support/cli.js'

let dir: string
let env: Record<string, string | undefined>
let registry: string
let sd: string

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'roster-durations-'))
  env = isolatedEnv()
  registry = `sqlite:${path.join(dir, 'registry.db')}`
  sd = path.join(dir, 'sd')
  mkdirSync(sd)
  const server = await runCli(['server', 'register', 'prom1', '--registry', registry], {env})
  assert.equal(server.code, 0, server.stderr)
})
after(() => rmSync(dir, {recursive: true, force: true}))

let n = 0
/** The four places a duration is typed, each in a command that then does its work and exits. */
const places: Record<string, (value: string) => Promise<CliResult>> = {
  '--ttl': (value) =>
    runCli(['service', 'register', `svc${n++}`, '-e', `http://h${n}:9100/metrics`, '--ttl', value, '--registry', registry], {env}),
  '--expires': (value) => runCli(['token', 'create', `t${n++}`, '-n', 'default', '--expires', value, '--registry', registry], {env}),
  '--interval': (value) =>
    runCli(['sd', 'export', '--once', '--server', 'prom1', '--dir', sd, '--interval', value, '--registry', registry], {env}),
  '--timeout': (value) => runCli(['config', 'show', '--timeout', value], {env}),
}

/** The reason after `roster: --FLAG "VALUE": `, or undefined when the command succeeded. */
async function verdict(flag: string, value: string): Promise<string | undefined> {
  const r = await places[flag]!(value)
  if (r.code === 0) return undefined
  assert.equal(r.code, 2, `${flag} ${JSON.stringify(value)}: exit ${r.code}: ${r.stderr}`)
  const prefix = `roster: ${flag} ${JSON.stringify(value)}: `
  const line = r.stderr.trimEnd()
  assert.ok(line.startsWith(prefix) && !line.includes('\n'), `${flag} ${JSON.stringify(value)}: ${line}`)
  return line.slice(prefix.length)
}

const EXPECTED = 'expected a duration such as 500ms, 30s, 1h30m or 7d (a whole number and a unit: ms, s, m, h, d, w, y)'

const table: Array<[string, string | undefined]> = [
  ['1ms', undefined],
  ['30s', undefined],
  ['90m', undefined],
  ['1h30m', undefined],
  ['7d', undefined],
  ['2w', undefined],
  ['1y', undefined],
  ['10y', undefined],
  ['30', EXPECTED],
  ['1.5h', EXPECTED],
  ['1H', EXPECTED],
  ['30m1h', EXPECTED],
  ['3months', EXPECTED],
  ['', EXPECTED],
  ['0', 'must be longer than 0'],
  ['0s', 'must be longer than 0'],
  ['3651d', 'must be at most 10y'],
  ['11y', 'must be at most 10y'],
]

describe('one duration grammar for --ttl, --expires, --interval and --timeout', () => {
  for (const [value, reason] of table) {
    it(`${JSON.stringify(value)}: ${reason === undefined ? 'accepted' : 'refused'} alike by all four`, async () => {
      const verdicts: Record<string, string | undefined> = {}
      for (const flag of Object.keys(places)) verdicts[flag] = await verdict(flag, value)
      assert.deepEqual(verdicts, {'--ttl': reason, '--expires': reason, '--interval': reason, '--timeout': reason})
    })
  }

  it('"never" is a lifetime for --expires only', async () => {
    assert.equal(await verdict('--expires', 'never'), undefined)
    for (const flag of ['--ttl', '--interval', '--timeout']) assert.equal(await verdict(flag, 'never'), EXPECTED, flag)
  })
})
