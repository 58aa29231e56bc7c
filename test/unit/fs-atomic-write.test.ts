import assert from 'node:assert/strict'
import {chmodSync, chownSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {writeFileAtomic} from '../../src/lib/fs/atomic-write.js'
import {needsRoot} from '../support/needs.js'

describe('writeFileAtomic', () => {
  let dir: string
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'roster-atomic-'))
  })
  after(() => rmSync(dir, {recursive: true, force: true}))

  it('creates a new file with the mode asked for, and leaves no temporary file', async () => {
    const file = path.join(dir, 'new.json')
    const result = await writeFileAtomic(file, '{"a":1}\n', {mode: 0o600})
    assert.deepEqual(result, {path: file, ownerKept: true})
    assert.equal(readFileSync(file, 'utf8'), '{"a":1}\n')
    assert.equal(statSync(file).mode & 0o777, 0o600)
    assert.deepEqual(readdirSync(dir), ['new.json'])
  })

  it('replaces an existing file, keeping its mode (set-gid bit included)', async () => {
    const file = path.join(dir, 'kept-mode')
    writeFileSync(file, 'old')
    chmodSync(file, 0o2640)
    await writeFileAtomic(file, 'new', {mode: 0o600})
    assert.equal(readFileSync(file, 'utf8'), 'new')
    assert.equal(statSync(file).mode & 0o7777, 0o2640)
  })

  it('keeps the owner and group of the file it replaces', {skip: needsRoot('to chown')}, async () => {
    const file = path.join(dir, 'kept-owner')
    writeFileSync(file, 'old')
    chownSync(file, 4242, 4343)
    chmodSync(file, 0o640)
    const result = await writeFileAtomic(file, 'new')
    assert.equal(result.ownerKept, true)
    const s = statSync(file)
    assert.deepEqual([s.uid, s.gid, s.mode & 0o7777], [4242, 4343, 0o640])
    assert.equal(readFileSync(file, 'utf8'), 'new')
  })
})
