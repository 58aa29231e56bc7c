/**
 * Taking a backup: every record the registry holds, read at one store revision (a snapshot:
 * SQLite's read transaction, etcd's MVCC revision), written as the lines of format.ts.
 *
 * Two passes over the one snapshot: the first counts each kind (the header carries the counts,
 * so it comes first), the second reads and checks every record and writes it. Memory holds one
 * page of records and one chunk of text, whatever the size of the registry.
 *
 * A registry that holds the marker of an interrupted restore is refused: its content is no
 * backup's, and a copy of it would pass for one.
 */
import {createHash} from 'node:crypto'

import {ConflictError, RosterError} from '../../errors.js'
import type {Snapshot, Store} from '../../store/store.js'
import {RESTORE_MARKER_KEY} from '../keys.js'
import {type BackupHeader, FORMAT_NAME, FORMAT_VERSION, type KindCounts, encodeLine, storeKindOf, zeroCounts} from './format.js'
import {KINDS, type KindSpec, RecordContext, kindSpec} from './records.js'

export interface BackupOptions {
  /** Include the token signing key (a secret: whoever holds it can sign tokens). */
  includeSecrets: boolean
  /** The version of roster writing the file, for its header. */
  rosterVersion: string
  now?: () => Date
}

/** Text is handed out in chunks of about this many characters. */
const CHUNK_CHARS = 64 * 1024

/** The marker of a restore that did not finish: the registry's content is not yet a backup's. */
export class InterruptedRestoreError extends ConflictError {
  constructor(
    readonly registry: string,
    readonly marker: string,
  ) {
    super(
      `registry ${registry} holds a restore that did not finish (${describeMarker(marker)}): its content is part of a backup, not all of it`,
    )
  }
}

/** What a restore's marker says (restore.ts writes it), for messages. */
export function describeMarker(value: string): string {
  try {
    const marker = JSON.parse(value) as {source?: {description?: string; revision?: number}; started?: string}
    return `of a backup of ${marker.source?.description ?? 'an unknown registry'} at revision ${marker.source?.revision ?? '?'}, started ${marker.started ?? 'at an unknown time'}`
  } catch {
    return 'of an unknown backup'
  }
}

/** The keys of one kind in a snapshot: a single-key kind's key only, not others that share its prefix. */
export async function* kindKeyValues(snapshot: Snapshot, spec: KindSpec, pageSize = 1000) {
  for await (const page of snapshot.range(spec.prefix, {pageSize})) {
    for (const kv of page.kvs) if (!spec.single || kv.key === spec.prefix) yield kv
  }
}

/** How many records of each kind the snapshot holds. */
export async function countRecords(snapshot: Snapshot): Promise<KindCounts> {
  const counts = zeroCounts()
  for (const spec of KINDS) {
    if (!spec.single) counts[spec.kind] = await snapshot.count(spec.prefix)
    else for await (const kv of kindKeyValues(snapshot, spec, 1)) if (kv) counts[spec.kind]++
  }
  return counts
}

/** Refuses a snapshot that holds an interrupted restore's marker. */
export async function refuseInterruptedRestore(snapshot: Snapshot, description: string): Promise<void> {
  for await (const page of snapshot.range(RESTORE_MARKER_KEY, {pageSize: 1})) {
    const marker = page.kvs.find((kv) => kv.key === RESTORE_MARKER_KEY)
    if (marker) throw new InterruptedRestoreError(description, marker.value)
  }
}

/** The header of a backup of `snapshot`: the counts read at its revision. */
export async function backupHeader(snapshot: Snapshot, description: string, options: BackupOptions): Promise<BackupHeader> {
  await refuseInterruptedRestore(snapshot, description)
  const counts = await countRecords(snapshot)
  if (!options.includeSecrets) counts['signing-key'] = 0
  return {
    format: FORMAT_NAME,
    version: FORMAT_VERSION,
    roster: options.rosterVersion,
    created: (options.now?.() ?? new Date()).toISOString(),
    source: {kind: storeKindOf(description), description, revision: snapshot.revision},
    secrets: options.includeSecrets === true,
    counts,
  }
}

/**
 * The file's text in chunks: the header, every record (checked as a restore checks it), the
 * trailer. Runs again on the same snapshot as often as asked (a migration reads it three times).
 */
export async function* backupChunks(snapshot: Snapshot, header: BackupHeader, tally?: BackupTally): AsyncGenerator<string> {
  const hash = createHash('sha256')
  const context = new RecordContext()
  const written = zeroCounts()
  let chunk = ''
  let records = 0
  const add = (line: string): void => {
    hash.update(line)
    chunk += line
  }
  add(encodeLine(header))
  for (const spec of KINDS) {
    if (spec.kind === 'signing-key' && !header.secrets) continue
    for await (const kv of kindKeyValues(snapshot, spec)) {
      let object: Record<string, unknown>
      let key: string
      try {
        object = JSON.parse(kv.value) as Record<string, unknown>
        key = spec.check(object, context)
      } catch (error) {
        throw unreadableRecord(header.source.description, kv.key, error)
      }
      if (key !== kv.key) throw unreadableRecord(header.source.description, kv.key, new Error(`it holds the record of key "${key}"`))
      add(encodeLine({kind: spec.kind, object}))
      written[spec.kind]++
      records++
      if (chunk.length >= CHUNK_CHARS) {
        yield chunk
        chunk = ''
      }
    }
  }
  for (const kind of Object.keys(written) as (keyof KindCounts)[]) {
    // A snapshot reads what it counted; a difference is a store that broke its promise.
    if (written[kind] !== header.counts[kind]) {
      throw new RosterError(
        `registry ${header.source.description}: counted ${header.counts[kind]} records of kind ${kind} at revision ${header.source.revision}, then read ${written[kind]}`,
      )
    }
  }
  const sha256 = hash.digest('hex')
  if (tally) Object.assign(tally, {records, sha256})
  chunk += encodeLine({end: true, records, sha256})
  yield chunk
}

/** What a backup wrote, known once its last chunk has been read. */
export interface BackupTally {
  records: number
  /** The SHA-256 in its trailer. */
  sha256: string
}

function unreadableRecord(registry: string, key: string, error: unknown): RosterError {
  const reason = error instanceof Error ? error.message : String(error)
  return new RosterError(
    `registry ${registry}: store key "${key}" holds a record a backup cannot carry (${reason}); correct or remove it, then back up again`,
    {cause: error},
  )
}

export interface Backup {
  header: BackupHeader
  /** The file's text; closes the snapshot when it ends or is abandoned. */
  chunks: AsyncIterable<string>
  /** Filled in when `chunks` has been read to its end. */
  tally: BackupTally
  /** The registry has a token signing key, and the backup is without secrets. */
  signingKeyLeftOut: boolean
  /** Closes the snapshot (when `chunks` is never read to its end). */
  close(): Promise<void>
}

/** A backup of the store at its current revision, read as `chunks` is read. */
export async function takeBackup(store: Store, options: BackupOptions): Promise<Backup> {
  const snapshot = await store.snapshot()
  try {
    const header = await backupHeader(snapshot, store.description, options)
    let signingKeyLeftOut = false
    if (!options.includeSecrets)
      for await (const kv of kindKeyValues(snapshot, kindSpec('signing-key'), 1)) signingKeyLeftOut = kv !== undefined
    const tally: BackupTally = {records: 0, sha256: ''}
    return {
      header,
      chunks: (async function* () {
        try {
          yield* backupChunks(snapshot, header, tally)
        } finally {
          await snapshot.close()
        }
      })(),
      tally,
      signingKeyLeftOut,
      close: () => snapshot.close(),
    }
  } catch (error) {
    await snapshot.close()
    throw error
  }
}
