/**
 * What src/lib/fs/path-check.ts and input-file.ts say of a path that is not what a command wants:
 * each kind named in one line with the setting and the path, the exit code of its class, and
 * nothing that waits (a FIFO with no writer, /dev/zero). Permission and read-only file systems are
 * in the CLI's table (test/integration/faults-paths.test.ts), where they run as another user and
 * on a real read-only mount.
 */
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, describe, it} from 'node:test'

import {InvalidInputError, RosterError} from '../../src/lib/errors.js'
import {readInputFileSync, readPemFile} from '../../src/lib/fs/input-file.js'
import {checkDirectory, checkFile, pathError} from '../../src/lib/fs/path-check.js'

const dir = mkdtempSync(path.join(tmpdir(), 'roster-path-check-'))
after(() => rmSync(dir, {recursive: true, force: true}))
const at = (name: string) => path.join(dir, name)

const file = at('file.txt')
writeFileSync(file, 'text\n')
mkdirSync(at('dir'))
execFileSync('mkfifo', [at('fifo')])
symlinkSync(at('nowhere'), at('dangling'))
symlinkSync(at('loop-b'), at('loop-a'))
symlinkSync(at('loop-a'), at('loop-b'))
const tooLong = at('x'.repeat(300))

function refused(fn: () => unknown, exitCode: number, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof RosterError, String(e))
    assert.equal(e.exitCode, exitCode, e.message)
    assert.equal(e.field, 'kubeconfig')
    assert.match(e.message, message)
    assert.equal(e.message.includes('\n'), false)
    return true
  })
}

describe('a path that is not a readable file', () => {
  const o = {field: 'kubeconfig'}
  const cases: [string, string, RegExp][] = [
    ['a directory', at('dir'), /^kubeconfig ".*\/dir": is a directory, not a file$/],
    ['a FIFO (read without waiting for a writer)', at('fifo'), /^kubeconfig ".*\/fifo": is a FIFO \(named pipe\), not a file$/],
    ['a character device (/dev/zero never ends)', '/dev/zero', /^kubeconfig "\/dev\/zero": is a character device, not a file$/],
    [
      'a dangling symbolic link',
      at('dangling'),
      /^kubeconfig ".*\/dangling": is a dangling symbolic link \(to ".*\/nowhere", which does not exist\)$/,
    ],
    ['a loop of links', at('loop-a'), /: is a loop of symbolic links$/],
    ['a file in place of a directory', path.join(file, 'x'), /: one of the directories on its path is a file$/],
    ['a name too long', tooLong, /^kubeconfig ".*…\(\d+ more characters\): the path is too long/],
    ['a missing file', at('missing'), /^kubeconfig ".*\/missing": no such file$/],
  ]
  for (const [what, p, message] of cases) {
    it(`${what}: exit 2, one line naming it`, () => {
      refused(() => readInputFileSync(p, o), 2, message)
      refused(() => checkFile(p, o), 2, message)
    })
  }

  it('a missing file is fine to checkFile with missingOk; a dangling link never is', () => {
    assert.equal(checkFile(at('missing'), {...o, missingOk: true}), undefined)
    refused(() => checkFile(at('dangling'), {...o, missingOk: true}), 2, /dangling symbolic link/)
  })

  it('a regular file is read; its bytes must be UTF-8 (the offset named)', () => {
    assert.equal(readInputFileSync(file, o), 'text\n')
    const bad = at('bad.yaml')
    writeFileSync(bad, Buffer.from([0x61, 0x3a, 0x20, 0xc3, 0x28]))
    refused(() => readInputFileSync(bad, o), 2, /^kubeconfig ".*\/bad\.yaml": invalid UTF-8 at byte 3$/)
  })

  it('the value shown can differ from the path (sqlite:PATH)', () => {
    assert.throws(
      () => checkFile(at('dir'), {field: 'registry', shown: `sqlite:${at('dir')}`}),
      (e: unknown) => e instanceof InvalidInputError && e.message.startsWith(`registry "sqlite:${at('dir')}": is a directory`),
    )
  })

  it('a PEM file must hold a -----BEGIN block', () => {
    writeFileSync(at('ca.der'), 'not pem\n')
    refused(() => readPemFile(at('ca.der'), o), 2, /: not a PEM file \(no -----BEGIN line\)$/)
    writeFileSync(at('ca.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')
    assert.match(readPemFile(at('ca.pem'), o).toString(), /BEGIN CERTIFICATE/)
  })
})

describe('a path that is not a usable directory', () => {
  const o = {field: 'kubeconfig'}
  it('a file, a FIFO, a device, a dangling link: exit 2 naming what it is', () => {
    refused(() => checkDirectory(file, o), 2, /: is a file, not a directory$/)
    refused(() => checkDirectory(at('fifo'), o), 2, /: is a FIFO \(named pipe\), not a directory$/)
    refused(() => checkDirectory('/dev/null', o), 2, /: is a character device, not a directory$/)
    refused(() => checkDirectory(at('dangling'), o), 2, /: is a dangling symbolic link/)
    refused(() => checkDirectory(at('missing'), o), 2, /: no such directory$/)
    checkDirectory(at('dir'), {...o, access: 'write'})
  })
})

describe('pathError', () => {
  it('maps permission and read-only file systems to exit 4, and leaves roster errors alone', () => {
    const eacces = Object.assign(new Error('EACCES'), {code: 'EACCES'})
    const erofs = Object.assign(new Error('EROFS'), {code: 'EROFS'})
    const a = pathError(eacces, '/x', {field: 'zone-file', access: 'write'}) as RosterError
    assert.equal(a.exitCode, 4)
    assert.match(a.message, /^zone-file "\/x": permission denied: user \d+ may not write it/)
    const r = pathError(erofs, '/x', {field: 'zone-file', access: 'write'}) as RosterError
    assert.equal(r.exitCode, 4)
    assert.match(r.message, /^zone-file "\/x": is on a read-only file system; cannot write it$/)
    const own = new InvalidInputError('x')
    assert.equal(pathError(own, '/x', {field: 'f'}), own)
    const plain = new Error('no code')
    assert.equal(pathError(plain, '/x', {field: 'f'}), plain)
  })
})
