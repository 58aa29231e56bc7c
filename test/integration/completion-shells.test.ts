/**
 * The static completion scripts the .deb installs (scripts/package-completions.mjs), in the real
 * shells: bash runs the completion function as readline would (COMP_WORDS/COMP_CWORD → COMPREPLY);
 * zsh completes a typed line in an interactive shell on a pseudo-terminal (zsh/zpty) after
 * compinit, so the listing is what a user sees after pressing TAB twice.
 */
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {ROOT} from '../support/cli.js'

let dir = ''

function generate(shell: 'bash' | 'zsh'): string {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'package-completions.mjs'), shell, ROOT], {encoding: 'utf8'})
  assert.equal(r.status, 0, r.stderr)
  return r.stdout
}

/** The candidates bash offers for a command line (the last word is the one being completed). */
function bashComplete(...words: string[]): string[] {
  const script = [
    `source ${path.join(dir, 'roster.bash')}`,
    `COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')})`,
    `COMP_CWORD=${words.length - 1}`,
    '_roster',
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join('\n')
  const r = spawnSync('bash', ['--norc', '--noprofile', '-c', script], {encoding: 'utf8'})
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stderr, '')
  return r.stdout.split('\n').filter((l) => l !== '')
}

/**
 * Types `line` and TAB twice into an interactive zsh that loaded the generated _roster, and
 * returns the screen text up to where `until` (plain text) appears on it (ANSI sequences removed).
 */
function zshComplete(line: string, until: string): string {
  const harness = `
zmodload zsh/zpty
zpty z 'zsh -f -i'
zpty -w z "fpath=(${dir} \\$fpath); autoload -U compinit; compinit -u -D; roster() { :; }"
zpty -w z "LISTMAX=10000; setopt nobeep; PROMPT='>'; print READY"
zpty -r z out '*READY*'
zpty -w -n z ${JSON.stringify(line)}$'\\t\\t'
until=${JSON.stringify(until)}
zpty -r z out "*\${(b)until}*"
zpty -d z
print -r -- "$out"
`
  const r = spawnSync('zsh', ['-f', '-c', harness], {encoding: 'utf8', timeout: 120_000, env: {...process.env, TERM: 'xterm'}})
  assert.equal(r.status, 0, `zsh: ${r.stderr}`)
  // eslint-disable-next-line no-control-regex
  return r.stdout.replace(/\u001B\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '')
}

describe('completion scripts', () => {
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'roster-completion-'))
    writeFileSync(path.join(dir, 'roster.bash'), generate('bash'))
    writeFileSync(path.join(dir, '_roster'), generate('zsh'))
  })
  after(() => rmSync(dir, {recursive: true, force: true}))

  it('bash: topics, commands, flags and fixed flag values', () => {
    // The issue's example predates `roster serve`: "ser" now completes to all three.
    assert.deepEqual(bashComplete('roster', 'ser'), ['serve', 'server', 'service'])
    assert.deepEqual(bashComplete('roster', 'serv'), ['serve', 'server', 'service'])
    assert.deepEqual(bashComplete('roster', 'servi'), ['service'])
    assert.deepEqual(bashComplete('roster', 'server', ''), ['list', 'register', 'unregister'])
    assert.deepEqual(bashComplete('roster', 'server', 'list', '-o', ''), ['table', 'json', 'yaml', 'csv'])
    assert.deepEqual(bashComplete('roster', 'server', 'list', '--output', '=', 'y'), ['yaml'])
    assert.deepEqual(bashComplete('roster', 'server', 'list', '--no-h'), ['--no-headers'])
    assert.deepEqual(bashComplete('roster', 'node-status', '--fail'), ['--fail-if-not-ready'])
    assert.deepEqual(bashComplete('roster', 'server', 'list', '-h'), ['-h'])
    // After a flag that takes a free value, no command words: bash falls back to file names.
    assert.deepEqual(bashComplete('roster', 'server', 'list', '--registry', ''), [])
  })

  it('bash: every command of the manifest is reachable, with every one of its flags', () => {
    const manifest = JSON.parse(readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8')) as {
      commands: Record<string, {flags: Record<string, {name: string}>}>
    }
    for (const [id, command] of Object.entries(manifest.commands)) {
      const words = id.split(':')
      const last = words.at(-1) ?? ''
      assert.ok(bashComplete('roster', ...words.slice(0, -1), '').includes(last), `${id}: "${last}" is offered`)
      const flags = bashComplete('roster', ...words, '--')
      for (const flag of Object.values(command.flags)) assert.ok(flags.includes(`--${flag.name}`), `${id}: --${flag.name}`)
    }
  })

  it('zsh: commands with their descriptions, and fixed flag values', () => {
    const topics = zshComplete('roster ser', 'targets) in the registry')
    assert.match(topics, /server +-- Scrape servers that receive targets from the registry/)
    assert.match(topics, /service +-- Services \(scrape targets\) in the registry/)
    const formats = zshComplete('roster server list -o ', 'yaml')
    assert.match(formats, /csv +json +table +yaml/)
  })
})
