import assert from 'node:assert/strict'
import {mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {hostname, tmpdir} from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, it} from 'node:test'

import {ConflictError} from '../../src/lib/errors.js'
import {DirectoryLock, LOCK_FILE, removeLeftovers, writeFileIfChanged} from '../../src/lib/sd/file-sd.js'
import {deadPid} from '../support/dead-pid.js'

describe('file_sd writes and lock', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'roster-file-sd-'))
  })
  afterEach(() => rmSync(dir, {recursive: true, force: true}))

  it('writes only on change and leaves no temporary file', async () => {
    assert.equal(await writeFileIfChanged(dir, 'a.json', '[]\n'), 'written')
    const first = statSync(path.join(dir, 'a.json'), {bigint: true})
    assert.equal(await writeFileIfChanged(dir, 'a.json', '[]\n'), 'unchanged')
    const same = statSync(path.join(dir, 'a.json'), {bigint: true})
    assert.equal(same.ino, first.ino)
    assert.equal(same.mtimeNs, first.mtimeNs)
    assert.equal(await writeFileIfChanged(dir, 'a.json', '[ ]\n'), 'written')
    assert.equal(readFileSync(path.join(dir, 'a.json'), 'utf8'), '[ ]\n')
    assert.deepEqual(readdirSync(dir), ['a.json'])
  })

  it('removes only its own leftover temporary files', async () => {
    for (const name of ['.team-a.json.tmp-123', '..roster-sd-export.files.tmp-9', '.other.tmp', 'x.json.tmp-1', 'keep.json'])
      writeFileSync(path.join(dir, name), '')
    await removeLeftovers(dir)
    assert.deepEqual(readdirSync(dir).sort(), ['.other.tmp', 'keep.json', 'x.json.tmp-1'])
  })

  it('lets one of two exporters take the lock, then the other after release', async () => {
    const a = await DirectoryLock.acquire(dir)
    await assert.rejects(DirectoryLock.acquire(dir), (e: unknown) => e instanceof ConflictError && e.exitCode === 6)
    await a.verify()
    await a.release()
    const b = await DirectoryLock.acquire(dir)
    await assert.rejects(a.verify(), ConflictError, 'a released lock is no longer verified')
    await b.release()
    assert.deepEqual(readdirSync(dir), [])
  })

  it('breaks a stale lock once: of eight racing exporters exactly one wins', async () => {
    const stale = JSON.stringify({pid: await deadPid(), host: hostname(), startTicks: null, since: 'then', token: 'old'}) + '\n'
    for (let round = 0; round < 30; round++) {
      writeFileSync(path.join(dir, LOCK_FILE), stale)
      const results = await Promise.allSettled(Array.from({length: 8}, () => DirectoryLock.acquire(dir)))
      const won = results.filter((r) => r.status === 'fulfilled')
      const lost = results.filter((r) => r.status === 'rejected')
      assert.equal(won.length, 1, `round ${round}: ${JSON.stringify(lost.map((r) => String(r.reason)))}`)
      for (const r of lost) assert.ok(r.reason instanceof ConflictError, String(r.reason))
      const lock = won[0]!.value
      await lock.verify()
      await lock.release()
      assert.deepEqual(readdirSync(dir), [], 'no temporary or aside files left')
    }
  })

  it('treats a lock whose pid now belongs to another process as stale (start time differs)', async () => {
    const lock = {pid: process.pid, host: hostname(), startTicks: '1', since: 'then', token: 'old'}
    writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify(lock) + '\n')
    const mine = await DirectoryLock.acquire(dir)
    await mine.release()
  })
})
