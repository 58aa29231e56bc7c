/**
 * The one lock-file implementation (src/lib/fs/lock-file.ts) as the credentials refresh uses it:
 * a stale lock is broken by its holder's death, not its age; a live holder is waited for, then
 * named; concurrent holders exclude each other. (sd export's use of it: sd-file-sd.test.ts.)
 */
import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync} from 'node:fs'
import {hostname, tmpdir} from 'node:os'
import path from 'node:path'
import {afterEach, beforeEach, describe, it} from 'node:test'

import {credentialsPath, withLoginLock} from '../../src/lib/auth/credentials.js'
import {BackendUnavailableError} from '../../src/lib/errors.js'
import {LockFile} from '../../src/lib/fs/lock-file.js'
import {deadPid} from '../support/dead-pid.js'

describe('the credentials lock', () => {
  let home: string
  let saved: string | undefined
  let lockPath: string
  beforeEach(() => {
    home = mkdtempSync(path.join(tmpdir(), 'roster-lock-'))
    saved = process.env.XDG_CONFIG_HOME
    process.env.XDG_CONFIG_HOME = home
    lockPath = `${credentialsPath()}.lock`
    mkdirSync(path.dirname(lockPath), {recursive: true, mode: 0o700})
  })
  afterEach(() => {
    if (saved === undefined) delete process.env.XDG_CONFIG_HOME
    else process.env.XDG_CONFIG_HOME = saved
    rmSync(home, {recursive: true, force: true})
  })

  it('breaks a fresh lock whose holder is dead at once, whatever its age', async () => {
    writeFileSync(lockPath, JSON.stringify({pid: await deadPid(), host: hostname(), startTicks: null, since: 'now', token: 't'}) + '\n')
    const started = Date.now()
    assert.equal(await withLoginLock(async () => 'ran', 5_000), 'ran')
    assert.ok(Date.now() - started < 4_000, 'did not wait for the lock to age')
    assert.deepEqual(readdirSync(path.dirname(lockPath)), [], 'the lock and its temporary files are gone')
  })

  it("breaks an earlier version's lock (a bare pid) when that process is dead", async () => {
    writeFileSync(lockPath, String(await deadPid()))
    assert.equal(await withLoginLock(async () => 'ran', 5_000), 'ran')
  })

  it('never breaks an old lock whose holder lives: waits, then names the holder (exit 3)', async () => {
    const live = await LockFile.acquire(lockPath, {held: () => new Error('held')})
    const old = new Date(Date.now() - 3600_000)
    utimesSync(lockPath, old, old)
    try {
      let ran = false
      await assert.rejects(
        withLoginLock(async () => (ran = true), 300),
        (e: unknown) =>
          e instanceof BackendUnavailableError && e.exitCode === 3 && e.message.includes(`pid ${process.pid} on ${hostname()}`),
      )
      assert.equal(ran, false)
      assert.equal(await live.isHeld(), true, 'the live lock was left alone')
    } finally {
      await live.release()
    }
  })

  it('lets one refresh run at a time; the lock file is 0600', async () => {
    let inside = 0
    let most = 0
    const order: number[] = []
    await Promise.all(
      Array.from({length: 6}, (_, i) =>
        withLoginLock(async () => {
          inside++
          most = Math.max(most, inside)
          assert.equal(statSync(lockPath).mode & 0o777, 0o600)
          await new Promise((resolve) => setTimeout(resolve, 5))
          order.push(i)
          inside--
        }),
      ),
    )
    assert.equal(most, 1)
    assert.equal(order.length, 6)
  })
})
