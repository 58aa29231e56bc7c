/**
 * Colours through the built CLI: on a real terminal (a pseudo-terminal from util-linux `script`)
 * server states are coloured; NO_COLOR, --no-color and a pipe turn them off.
 */
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {before, describe, it} from 'node:test'

import {BIN, isolatedEnv, runCli} from '../support/cli.js'

const ESC = '\u001B['
const env = isolatedEnv({TERM: 'xterm'})

/** Runs the CLI with stdout on a pseudo-terminal; returns what the terminal received. */
function onTerminal(args: string[], extraEnv: Record<string, string> = {}): string {
  const command = [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')
  const r = spawnSync('script', ['-qec', command, '/dev/null'], {encoding: 'utf8', env: {...env, ...extraEnv} as NodeJS.ProcessEnv})
  assert.equal(r.status, 0, r.stderr + r.stdout)
  return r.stdout
}

describe('colours on a terminal', () => {
  before(async () => {
    const r = await runCli(['server', 'register', 'prom-a'], {env})
    assert.equal(r.code, 0, r.stderr)
  })

  it('colour a server state on a terminal', () => {
    const out = onTerminal(['server', 'list'])
    assert.match(out, /prom-a/)
    assert.ok(out.includes(`${ESC}32mactive${ESC}39m`), JSON.stringify(out))
  })

  it('are off with NO_COLOR, with --no-color, and in a pipe', async () => {
    const noColorEnv = onTerminal(['server', 'list'], {NO_COLOR: '1'})
    assert.match(noColorEnv, /active/)
    assert.ok(!noColorEnv.includes(ESC), JSON.stringify(noColorEnv))
    const noColorFlag = onTerminal(['server', 'list', '--no-color'])
    assert.match(noColorFlag, /active/)
    assert.ok(!noColorFlag.includes(ESC), JSON.stringify(noColorFlag))
    const piped = await runCli(['server', 'list'], {env})
    assert.equal(piped.code, 0, piped.stderr)
    assert.match(piped.stdout, /^prom-a\tactive\t/m)
    assert.ok(!piped.stdout.includes(ESC))
  })
})
