/**
 * A registry moved to another store (SQLite to etcd, one etcd to another): a backup with the
 * signing key, so machine tokens keep working, restored as it is read. No file: the source is
 * read at one revision (a snapshot held for the whole move) as often as the restore reads its
 * backup, and the restore's last pass compares the target with it object by object.
 *
 * The source is only read; writes to it meanwhile are not part of the move (they come after the
 * revision the move copies: stop writers first, or move again with `replace`).
 */
import type {Store} from '../../store/store.js'
import type {KindCounts} from './format.js'
import {type RestoreResult, restoreBackup} from './restore.js'
import {backupChunks, backupHeader} from './write-backup.js'
import type {Actor} from '../history/event.js'

export interface MigrateOptions {
  /** Replace what the target holds (an interrupted move, or another registry). */
  replace: boolean
  rosterVersion: string
  now?: () => Date
  /** Who the target's "restore" history event is recorded as. */
  actor?: Actor
}

export interface MigrateResult {
  source: string
  target: string
  /** The source revision the move copied. */
  revision: number
  /** Records of each kind in the source at that revision, and in the target after the move. */
  counts: {source: KindCounts; target: KindCounts}
  restore: RestoreResult
}

export async function migrateRegistry(source: Store, target: Store, options: MigrateOptions): Promise<MigrateResult> {
  const snapshot = await source.snapshot()
  try {
    const header = await backupHeader(snapshot, source.description, {
      includeSecrets: true,
      rosterVersion: options.rosterVersion,
      now: options.now,
    })
    const restore = await restoreBackup(target, () => backupChunks(snapshot, header), {
      replace: options.replace,
      name: `the backup of ${source.description} at revision ${snapshot.revision}`,
      now: options.now,
      actor: options.actor,
    })
    return {
      source: source.description,
      target: target.description,
      revision: snapshot.revision,
      counts: {source: header.counts, target: restore.counts},
      restore,
    }
  } finally {
    await snapshot.close()
  }
}
