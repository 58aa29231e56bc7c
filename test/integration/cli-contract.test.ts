/** The command contract every command shares, checked through the built CLI with `config show`. */
import assert from 'node:assert/strict'
import {mkdirSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {isolatedEnv, runCli} from '../support/cli.js'

interface Report {
  values: {name: string; value: unknown; source: string}[]
  parsed: string[]
}

const valueOf = (report: Report, name: string) => report.values.find((v) => v.name === name)

describe('command contract', () => {
  it('takes a flag over ROSTER_* over the config file over the default', async () => {
    const env = isolatedEnv()
    const home = env.HOME!
    mkdirSync(path.join(home, '.config', 'roster'), {recursive: true})
    const file = path.join(home, '.config', 'roster', 'config.yaml')
    writeFileSync(file, 'timeout: 7s\netcd-prefix: /from-file/\nregistry: sqlite:/from-file.db\n', {mode: 0o600})
    env.ROSTER_ETCD_PREFIX = '/from-env/'
    env.ROSTER_REGISTRY = 'sqlite:/from-env.db'
    const result = await runCli(['config', 'show', '--json', '--registry', 'sqlite:/from-flag.db'], {env})
    assert.equal(result.code, 0, result.stderr)
    const report = JSON.parse(result.stdout) as Report
    assert.deepEqual(valueOf(report, 'registry'), {name: 'registry', value: 'sqlite:/from-flag.db', source: 'flag'})
    assert.deepEqual(valueOf(report, 'etcd-prefix'), {name: 'etcd-prefix', value: '/from-env/', source: 'env ROSTER_ETCD_PREFIX'})
    assert.deepEqual(valueOf(report, 'timeout'), {name: 'timeout', value: '7s', source: `file ${file}`})
    assert.deepEqual(report.parsed, [file])
  })

  it('never prints a secret, from a flag, the environment or a file', async () => {
    const env = isolatedEnv({ROSTER_PDNS_API_KEY: 'api-key-from-env'})
    writeFileSync(path.join(env.HOME!, '.rosterrc.yaml'), 'rfc2136-tsig-secret: c2VjcmV0LWZyb20tZmlsZQ==\n', {mode: 0o600})
    for (const output of ['table', 'json', 'yaml', 'csv']) {
      const result = await runCli(['config', 'show', '-o', output, '--etcd-password', 'pw-from-flag'], {env})
      assert.equal(result.code, 0, result.stderr)
      for (const secret of ['pw-from-flag', 'api-key-from-env', 'c2VjcmV0LWZyb20tZmlsZQ==']) {
        assert.ok(!result.stdout.includes(secret) && !result.stderr.includes(secret), `${secret} leaked in -o ${output}`)
      }
      assert.match(result.stdout, /<redacted>/)
    }
  })

  it('exits 2 with one line naming the bad value: unknown flag, bad env value, malformed file', async () => {
    const unknown = await runCli(['config', 'show', '--bogus'])
    assert.equal(unknown.code, 2)
    assert.equal(unknown.stderr.trim().split('\n').length, 1)
    assert.match(unknown.stderr, /--bogus/)

    const badEnv = await runCli(['config', 'show'], {env: isolatedEnv({ROSTER_TIMEOUT: 'soon'})})
    assert.equal(badEnv.code, 2)
    assert.equal(
      badEnv.stderr.trim(),
      'roster: ROSTER_TIMEOUT "soon": expected a duration such as 500ms, 30s, 1h30m or 7d (a whole number and a unit: ms, s, m, h, d, w, y)',
    )

    const badOption = await runCli(['config', 'show'], {env: isolatedEnv({ROSTER_OUTPUT: 'xml'})})
    assert.equal(badOption.code, 2)
    assert.match(badOption.stderr, /^roster: ROSTER_OUTPUT "xml": expected one of table, json, yaml, csv\n$/)

    const env = isolatedEnv()
    const file = path.join(env.HOME!, 'broken.yaml')
    writeFileSync(file, 'timeout: [1,\n')
    const malformed = await runCli(['config', 'show', '--config', file], {env})
    assert.equal(malformed.code, 2)
    assert.equal(malformed.stderr.trim().split('\n').length, 1)
    assert.ok(malformed.stderr.includes(file))
    assert.ok(!/\bat .*\.js:\d+/.test(malformed.stderr), 'no stack trace without --debug')

    const withDebug = await runCli(['config', 'show', '--config', file, '--debug'], {env})
    assert.equal(withDebug.code, 2)
    assert.match(withDebug.stderr, /\bat .*:\d+/, 'the stack with --debug')
  })

  it('answers an unknown command with one line, the nearest command, and exit 2', async () => {
    const typo = await runCli(['service', 'lst'])
    assert.equal(typo.code, 2)
    assert.equal(typo.stderr, 'roster: unknown command "service lst"; did you mean "service list"? run roster --help for the commands\n')
    const unknown = await runCli(['frobnicate'])
    assert.equal(unknown.code, 2)
    assert.equal(unknown.stderr, 'roster: unknown command "frobnicate"; run roster --help for the commands\n')
  })

  it('keeps the exit code under --json and prints the error as JSON', async () => {
    const result = await runCli(['config', 'show', '--json'], {env: isolatedEnv({ROSTER_TIMEOUT: 'never'})})
    assert.equal(result.code, 2)
    const body = JSON.parse(result.stdout) as {error: {code: string; exitCode: number; message: string}}
    assert.equal(body.error.code, 'invalid_input')
    assert.equal(body.error.exitCode, 2)
    assert.match(body.error.message, /^ROSTER_TIMEOUT "never"/)
  })

  it('prints a tab-separated table when stdout is not a terminal, and honours --no-headers', async () => {
    const withHeaders = await runCli(['config', 'show'])
    assert.equal(withHeaders.stdout.split('\n')[0], 'NAME\tVALUE\tSOURCE')
    const without = await runCli(['config', 'show', '--no-headers'])
    assert.ok(!without.stdout.includes('NAME\tVALUE'))
    assert.match(without.stdout, /^timeout\t30s\tdefault$/m)
  })
})
