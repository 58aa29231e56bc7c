/**
 * restoreBackup's protocol in one process, where a test can write between its passes: another
 * writer during a restore leaves the marker and an error, never a success; and what a restore
 * does with the tokens of the registry it replaces (a file without the signing key keeps the
 * registry's own key and revocations: a revoked token stays revoked).
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {TokenAuthority} from '../../src/lib/auth/tokens.js'
import {RestoreIncompleteError, restoreBackup} from '../../src/lib/registry/backup/restore.js'
import {takeBackup} from '../../src/lib/registry/backup/write-backup.js'
import {RESTORE_MARKER_KEY, SIGNING_KEY_KEY} from '../../src/lib/registry/keys.js'
import {Registry} from '../../src/lib/registry/registry.js'
import {openStore} from '../../src/lib/store/open-store.js'
import type {Store} from '../../src/lib/store/store.js'
import {assertSameRecords, fillRegistry, registryRecords, tokenVerifies} from '../support/backup-fixtures.js'

const memory = () => openStore({registry: 'sqlite::memory:', timeoutMs: 10_000})

async function backupText(store: Store, includeSecrets: boolean): Promise<string> {
  const backup = await takeBackup(store, {includeSecrets, rosterVersion: 'test'})
  let text = ''
  for await (const chunk of backup.chunks) text += chunk
  return text
}

describe('restoreBackup', () => {
  it('another writer during the restore: an error naming the difference, the marker kept; --replace then finishes', async () => {
    const source = await memory()
    const target = await memory()
    try {
      await fillRegistry(source, 30)
      const file = await backupText(source, true)
      // The third snapshot is the check after writing: a service registered just before it.
      let snapshots = 0
      const meddled = Object.create(target) as Store
      meddled.snapshot = async (revision?: number) => {
        if (++snapshots === 3) await new Registry(target).registerServices({name: 'late', endpoints: ['http://late:1/']})
        return target.snapshot(revision)
      }
      await assert.rejects(
        restoreBackup(meddled, () => [file], {replace: false, name: 'file'}),
        (error: unknown) =>
          error instanceof RestoreIncompleteError &&
          /1 difference: services\/default\/[0-9a-f-]+ is not in the backup\): another process wrote to it meanwhile/.test(error.message),
      )
      assert.ok(await target.get(RESTORE_MARKER_KEY), 'the marker stays')
      const result = await restoreBackup(target, () => [file], {replace: true, name: 'file'})
      assert.equal(result.deleted, 1)
      assert.equal(await target.get(RESTORE_MARKER_KEY), undefined)
      assertSameRecords(await registryRecords(target), await registryRecords(source), 'after --replace')
    } finally {
      await source.close()
      await target.close()
    }
  })

  it('a file without secrets over a registry with a signing key keeps that key, its tokens and its revocations', async () => {
    const source = await memory()
    const target = await memory()
    try {
      const {tokens} = await fillRegistry(source, 10)
      const file = await backupText(source, false)
      const authority = await TokenAuthority.open(target)
      const own = (await authority.create({id: 'own', role: 'read', namespaces: ['*']})).token
      const revoked = (await authority.create({id: 'own-revoked', role: 'admin', namespaces: []})).token
      await authority.revoke('own-revoked')
      const key = (await target.get(SIGNING_KEY_KEY))!.value

      const result = await restoreBackup(target, () => [file], {replace: true, name: 'file'})
      assert.equal(result.kept, 4, 'the key, two token records, one revocation')
      assert.equal((await target.get(SIGNING_KEY_KEY))!.value, key)
      assert.equal(await tokenVerifies(target, own), true)
      assert.equal(await tokenVerifies(target, revoked), false, 'a revoked token stays revoked')
      assert.equal(await tokenVerifies(target, tokens.service), false, 'the source key is not there')
      // The file's token records and revocation are there too.
      assert.ok(await target.get('auth/tokens/host-1'))
      assert.ok(await target.get('auth/revoked/old-admin'))
    } finally {
      await source.close()
      await target.close()
    }
  })

  it('a file with secrets replaces the signing key, the token records and the revocations', async () => {
    const source = await memory()
    const target = await memory()
    try {
      const {tokens} = await fillRegistry(source, 10)
      const file = await backupText(source, true)
      const own = (await (await TokenAuthority.open(target)).create({id: 'own', role: 'read', namespaces: ['*']})).token
      await restoreBackup(target, () => [file], {replace: true, name: 'file'})
      assert.equal(await tokenVerifies(target, own), false)
      assert.equal(await tokenVerifies(target, tokens.service), true)
      assert.equal(await target.get('auth/tokens/own'), undefined)
      assertSameRecords(await registryRecords(target), await registryRecords(source), 'replaced')
    } finally {
      await source.close()
      await target.close()
    }
  })
})
