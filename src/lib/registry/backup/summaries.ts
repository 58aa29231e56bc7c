/** One-line summaries of backups, restores and migrations, for the commands' stderr. */
import {type BackupHeader, describeCounts} from './format.js'
import type {MigrateResult} from './migrate.js'
import type {RestoreResult} from './restore.js'

/** What a backup command reports, and returns as its JSON. */
export interface BackupResult {
  /** The file written, or "-" for standard output. */
  file: string
  source: BackupHeader['source']
  secrets: boolean
  counts: BackupHeader['counts']
  records: number
  bytes: number
  /** The SHA-256 its trailer carries. */
  sha256: string
  /** The registry has a token signing key the backup left out (known only for a local registry). */
  signingKeyLeftOut?: boolean
}

function size(bytes: number): string {
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}

/** `backup of sqlite:/x at revision 12 written to b.jsonl (1.2 MiB): 3 servers, 100 services, …`. */
export function backupSummary(r: BackupResult): string {
  const where = r.file === '-' ? 'standard output' : r.file
  const key = r.signingKeyLeftOut
    ? '; without the token signing key: tokens issued before do not verify after a restore of it (take one with the secrets to keep them)'
    : ''
  return `backup of ${r.source.description} at revision ${r.source.revision} written to ${where} (${size(r.bytes)}): ${describeCounts(r.counts)}${key}`
}

/** `restored 3 servers, 100 services, … into etcd://h:2379 (100 written, 0 deleted, 3 unchanged)`. */
export function restoreSummary(r: RestoreResult): string {
  const kept = r.kept > 0 ? `; kept the registry's own signing key, token records and revocations (${r.kept})` : ''
  return `restored ${describeCounts(r.header.counts)} into ${r.registry} (${r.written} written, ${r.deleted} deleted, ${r.unchanged} unchanged${kept})`
}

/** `moved sqlite:/x at revision 12 to etcd://h:2379; every object compared equal: …`. */
export function migrateSummary(r: MigrateResult): string {
  return `moved ${r.source} at revision ${r.revision} to ${r.target}; every object compared equal: ${describeCounts(r.counts.target)}`
}
