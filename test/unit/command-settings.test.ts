/**
 * The boundary between src/lib and the commands: library errors name settings, the command layer
 * names what the user typed. Fails when a file under src/lib imports oclif or names a `--flag`
 * again, in code or in a comment.
 */
import assert from 'node:assert/strict'
import {readFileSync, readdirSync, statSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {nameSettings, typedName} from '../../src/command/settings.js'
import {ConflictError, InvalidInputError, NotAuthenticatedError, setting} from '../../src/lib/errors.js'
import {ROOT} from '../support/cli.js'

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name)
    return statSync(file).isDirectory() ? filesUnder(file) : file.endsWith('.ts') ? [file] : []
  })
}

describe('src/lib speaks in settings', () => {
  const lib = filesUnder(path.join(ROOT, 'src', 'lib'))

  it('no file under src/lib imports oclif', () => {
    const offenders = lib.filter((file) => /from ['"]@oclif\/|import\(['"]@oclif\//.test(readFileSync(file, 'utf8')))
    assert.deepEqual(
      offenders.map((f) => path.relative(ROOT, f)),
      [],
    )
  })

  it('no file under src/lib names a --flag (the command layer does, from the setting)', () => {
    const found: string[] = []
    for (const file of lib) {
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          // V8's own options (v8.setFlagsFromString) are not roster's flags.
          if (/(^|[^\w-])--[a-z][a-z0-9-]*/.test(line) && !/setFlagsFromString\('--/.test(line))
            found.push(`${path.relative(ROOT, file)}:${i + 1}: ${line.trim()}`)
        })
    }
    assert.deepEqual(found, [])
  })
})

describe('nameSettings', () => {
  const flags = new Set(['listen', 'serve', 'registry', 'token', 'tls-cert', 'tls-key', 'owner-id', 'timeout'])
  /** The command, every flag's value typed (the base command records each flag's source once parsed), or as `sources` says. */
  const command = (sources: Record<string, string> = {}) => ({
    flags,
    sources: new Map([...flags].map((flag) => [flag, sources[flag] ?? 'flag'])) as never,
  })

  it('names the field as the user gave it: flag, default, ROSTER_ variable or config key', () => {
    const bad = () => InvalidInputError.forField('owner-id', ' ', 'must not be empty')
    assert.equal(nameSettings(bad(), command({'owner-id': 'flag'})).message, '--owner-id " ": must not be empty')
    assert.equal(nameSettings(bad(), command({'owner-id': 'default'})).message, '--owner-id " ": must not be empty')
    assert.equal(nameSettings(bad(), command({'owner-id': 'env ROSTER_OWNER_ID'})).message, 'ROSTER_OWNER_ID " ": must not be empty')
    assert.equal(
      nameSettings(bad(), command({'owner-id': 'file /etc/roster/config.yaml'})).message,
      'owner-id (in /etc/roster/config.yaml) " ": must not be empty',
    )
    assert.equal(typedName('token', 'env ROSTER_TOKEN (keychain)'), 'ROSTER_TOKEN')
  })

  it('finds the flag of a setting whose flag has another name (node-status --serve sets listen)', () => {
    const onlyServe = {flags: new Set(['serve']), sources: new Map([['serve', 'flag' as const]])}
    assert.equal(nameSettings(InvalidInputError.forField('listen', 'x', 'bad'), onlyServe).message, '--serve "x": bad')
    assert.equal(nameSettings(InvalidInputError.forField('listen', 'x', 'bad'), command()).message, '--listen "x": bad')
  })

  it('turns the settings a message marks into flags, and leaves unknown ones bare', () => {
    const e = new InvalidInputError(`tls-key: required with ${setting('tls-cert')}; see ${setting('oidc-issuer')}`, {field: 'tls-key'})
    assert.equal(e.message, 'tls-key: required with tls-cert; see oidc-issuer', 'read bare outside the command layer')
    assert.equal(nameSettings(e, command()).message, '--tls-key: required with --tls-cert; see oidc-issuer')
  })

  it('adds the hint of the setting, once', () => {
    const e = new NotAuthenticatedError('not authenticated: https://r.example needs a token', {field: 'token'})
    nameSettings(e, command())
    nameSettings(e, command())
    assert.equal(
      e.message,
      'not authenticated: https://r.example needs a token; pass --token (or ROSTER_TOKEN, or token: in a config file), or run roster login',
    )
  })

  it('leaves a field named like an argument, and one whose source is not known yet (the flags were not parsed)', () => {
    const arg = InvalidInputError.forField('token', 'x', 'not a JWT')
    assert.equal(nameSettings(arg, {...command(), args: new Set(['token'])}).message, 'token "x": not a JWT')
    const early = InvalidInputError.forField('config', '/etc/roster/config.yaml', 'cannot be read')
    assert.equal(
      nameSettings(early, {flags: new Set(['config']), sources: new Map()}).message,
      'config "/etc/roster/config.yaml": cannot be read',
    )
  })

  it('leaves fields that are no flag of the command, and errors that are not roster errors', () => {
    const data = InvalidInputError.forField('dnsName', 'x', 'bad')
    assert.equal(nameSettings(data, command()).message, 'dnsName "x": bad')
    const conflict = new ConflictError('dir "/x": held', {field: 'dir'})
    assert.equal(nameSettings(conflict, command()).message, 'dir "/x": held')
    const plain = new Error('listen "x": bad')
    assert.equal(nameSettings(plain, command()).message, 'listen "x": bad')
  })
})
