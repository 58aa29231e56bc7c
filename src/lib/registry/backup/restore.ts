/**
 * Restoring a backup into a registry: all or nothing, although a store transaction holds at most
 * MAX_TXN_OPS operations and a registry has a million services.
 *
 * The protocol. A process killed at any point leaves the registry either as it was, or holding
 * the marker `restoring` (keys.ts), which says that what it holds is part of a backup:
 *
 *  1. Read and check the whole file (read-backup.ts). Nothing is written before it passed. The
 *     later passes read it again, each block of lines matched against this pass's fingerprints.
 *  2. The registry must hold no record a backup carries, and no marker: else
 *     RegistryNotEmptyError or InterruptedRestoreError (exit 6), unless `replace`.
 *  3. Write the marker (compared with what step 2 read, so two restores cannot both start).
 *  4. Walk the file and the registry side by side, in key order (the file is in key order; a
 *     store range is too), and put each record that is missing or different and delete each key
 *     the file does not hold, in transactions that each compare the marker: a second restore
 *     that took over stops this one. Unchanged records are not written, so a service that was
 *     already there never leaves Prometheus's targets.
 *  5. Walk both again: every record of the file must be there, equal, and nothing else; then
 *     the registry's counts are the header's. A difference (another process wrote meanwhile)
 *     fails with the marker still in place.
 *  6. One transaction deletes the marker, marks the topology changed (keys.ts: writers that
 *     computed an assignment before the restore re-read) and records the restore in the history.
 *
 * Restore after a kill: the marker makes a plain restore, a backup or a migration refuse the
 * registry (InterruptedRestoreError); a restore with `replace` (of this file or another) runs
 * the whole protocol again and finishes it.
 *
 * Service records are written as they are in the file: their IDs, and the servers they are
 * assigned to (no redistribution), so no Prometheus target moves.
 *
 * Tokens: a file with secrets replaces the signing key, the token records and the revocations.
 * A file without them, restored over a registry that has a signing key, keeps that key and the
 * registry's own token records and revocations beside the file's: a revocation is never dropped
 * while the key that signed the token is still there.
 */
import {isDeepStrictEqual} from 'node:util'

import {ConflictError} from '../../errors.js'
import {type Compare, type KeyValue, MAX_TXN_OPS, type Operation, type Snapshot, type Store, txnSizeBytes} from '../../store/store.js'
import {BATCH_BYTES} from '../batches.js'
import {RESTORE_MARKER_KEY, TOPOLOGY_KEY} from '../keys.js'
import {type BackupHeader, type KindCounts, RECORD_KINDS, type RecordKind, describeCounts, zeroCounts} from './format.js'
import {type BackupBytes, BackupParser, type BackupRecord, readBackup, verifyBackup} from './read-backup.js'
import {KINDS, type KindSpec} from './records.js'
import {InterruptedRestoreError, countRecords, kindKeyValues} from './write-backup.js'
import {UNKNOWN_ACTOR} from '../history/actor.js'
import type {Actor} from '../history/event.js'
import {restoreEventOp} from '../history/record.js'

export interface RestoreOptions {
  /** Restore into a registry that holds records, or an interrupted restore, replacing what it holds. */
  replace: boolean
  /** The backup as messages name it: a path, "stdin", or the registry it is read from. */
  name: string
  now?: () => Date
  /** Who the restore's history event is recorded as (as a Registry's writes are). */
  actor?: Actor
}

export interface RestoreResult {
  registry: string
  header: BackupHeader
  /** What the registry holds after the restore, by kind. */
  counts: KindCounts
  /** Records put (missing or different). */
  written: number
  /** Keys deleted (the registry held them, the backup does not). */
  deleted: number
  /** Records already there as the backup holds them. */
  unchanged: number
  /** Token records and revocations of the registry kept beside the file's, with its signing key. */
  kept: number
  /** The store revision of the restore's last transaction. */
  revision: number
}

/** A restore into a registry that holds records, without `replace` (exit 6). */
export class RegistryNotEmptyError extends ConflictError {
  constructor(
    readonly registry: string,
    readonly counts: KindCounts,
  ) {
    super(`registry ${registry} is not empty (${describeCounts(counts)}); a restore goes into an empty registry`)
  }
}

/** The registry is not what the backup holds after the restore wrote it, or another restore took over (exit 6). */
export class RestoreIncompleteError extends ConflictError {
  constructor(
    readonly registry: string,
    reason: string,
  ) {
    super(`registry ${registry}: ${reason}; the registry holds the marker of an unfinished restore`)
  }
}

const AUTH_KINDS: readonly RecordKind[] = ['revocation', 'signing-key', 'token']

/** A store key of a kind a backup carries. */
interface StoredRecord {
  key: string
  kv: KeyValue
  spec: KindSpec
}

/** Every key of every kind a backup carries, in key order (the order of KINDS is the order of their keys). */
async function* storedRecords(snapshot: Snapshot): AsyncGenerator<StoredRecord> {
  for (const spec of KINDS) for await (const kv of kindKeyValues(snapshot, spec)) yield {key: kv.key, kv, spec}
}

/** Two streams sorted by key, side by side: each key once, with what each stream holds for it. */
async function* byKey<A extends {key: string}, B extends {key: string}>(
  a: AsyncIterable<A>,
  b: AsyncIterable<B>,
): AsyncGenerator<{key: string; a?: A; b?: B}> {
  const ia = a[Symbol.asyncIterator]()
  const ib = b[Symbol.asyncIterator]()
  try {
    let na = await ia.next()
    let nb = await ib.next()
    while (!na.done || !nb.done) {
      if (nb.done || (!na.done && na.value.key < nb.value.key)) {
        yield {key: na.value.key, a: na.value}
        na = await ia.next()
      } else if (na.done || nb.value.key < na.value.key) {
        yield {key: nb.value.key, b: nb.value}
        nb = await ib.next()
      } else {
        yield {key: na.value.key, a: na.value, b: nb.value}
        na = await ia.next()
        nb = await ib.next()
      }
    }
  } finally {
    await ia.return?.()
    await ib.return?.()
  }
}

/**
 * Writes operations in transactions of at most MAX_TXN_OPS and BATCH_BYTES, each guarded by
 * `guard`, up to IN_FLIGHT of them at once: the keys of a restore are distinct and each
 * transaction stands alone, so their order does not matter, and etcd answers each after a
 * round trip and a disk write that the next need not wait for.
 */
class GuardedBatches {
  private ops: Operation[] = []
  private bytes = 0
  private readonly inFlight = new Set<Promise<void>>()
  private failure?: unknown

  constructor(
    private readonly store: Store,
    private readonly guard: Compare[],
    private readonly lost: () => Error,
  ) {}

  async add(op: Operation): Promise<void> {
    const size = txnSizeBytes([], [op])
    if (this.ops.length >= MAX_TXN_OPS || (this.ops.length > 0 && this.bytes + size > BATCH_BYTES)) await this.send()
    this.ops.push(op)
    this.bytes += size
  }

  /** Sends what is pending and waits for every transaction; throws the first failure. */
  async flush(): Promise<void> {
    await this.send()
    await Promise.all(this.inFlight)
    if (this.failure !== undefined) throw this.failure
  }

  private async send(): Promise<void> {
    if (this.failure !== undefined) throw this.failure
    if (this.ops.length === 0) return
    const ops = this.ops
    this.ops = []
    this.bytes = 0
    const sent: Promise<void> = this.store.txn(this.guard, ops).then(
      (result) => {
        if (!result.succeeded) this.failure ??= this.lost()
      },
      (error: unknown) => {
        this.failure ??= error
      },
    )
    const tracked = sent.finally(() => this.inFlight.delete(tracked))
    this.inFlight.add(tracked)
    if (this.inFlight.size >= IN_FLIGHT) await Promise.race(this.inFlight)
  }
}

/** Restore transactions sent before the first is answered. */
const IN_FLIGHT = 4

/** What the passes over the file and the registry share. */
interface Pass {
  store: Store
  open: () => BackupBytes
  name: string
  /** The first pass's fingerprints and trailer: the later passes read the same bytes. */
  blocks: string[]
  sha256: string
  /** Kinds of which the registry keeps its own records beside the file's. */
  kept: (kind: RecordKind) => boolean
  guard: Compare[]
  lost: () => Error
}

/**
 * Restores the backup that `open()` reads (called once per pass: three times) into `store`.
 * See the file header for the protocol.
 */
export async function restoreBackup(store: Store, open: () => BackupBytes, options: RestoreOptions): Promise<RestoreResult> {
  const now = options.now ?? (() => new Date())
  const {header, trailer, blocks} = await verifyBackup(open(), options.name)
  const {markerRevision, keepAuth} = await claimRegistry(store, header, trailer.sha256, options.replace, now)
  const registry = store.description
  const pass: Pass = {
    store,
    open,
    name: options.name,
    blocks,
    sha256: trailer.sha256,
    kept: (kind) => keepAuth && AUTH_KINDS.includes(kind),
    guard: [{key: RESTORE_MARKER_KEY, modRevision: markerRevision}],
    lost: () =>
      new RestoreIncompleteError(
        registry,
        'another restore took over while this one was writing (its marker changed), so this one stopped',
      ),
  }
  const stats = await writeRecords(pass)
  const counts = await checkRecords(pass, header)
  const final = await store.txn(pass.guard, [
    {type: 'delete', key: RESTORE_MARKER_KEY},
    {type: 'put', key: TOPOLOGY_KEY, value: JSON.stringify({changed: now().toISOString()})},
    // The history of the registry it replaced stays (it belongs to this store); the restore is its next event.
    restoreEventOp({actor: options.actor ?? UNKNOWN_ACTOR, time: now(), source: options.name, counts}),
  ])
  if (!final.succeeded) throw pass.lost()
  return {registry, header, counts, ...stats, revision: final.revision}
}

/**
 * Steps 2 and 3: refuses a registry that holds records or an interrupted restore (unless
 * `replace`), then writes the marker. Returns its revision, and whether the registry keeps its
 * own signing key, token records and revocations (a file without secrets over a registry with a key).
 */
async function claimRegistry(
  store: Store,
  header: BackupHeader,
  sha256: string,
  replace: boolean,
  now: () => Date,
): Promise<{markerRevision: number; keepAuth: boolean}> {
  const registry = store.description
  const before = await store.snapshot()
  try {
    let marker: KeyValue | undefined
    for await (const page of before.range(RESTORE_MARKER_KEY, {pageSize: 1})) marker = page.kvs.find((kv) => kv.key === RESTORE_MARKER_KEY)
    const counts = await countRecords(before)
    if (!replace) {
      if (marker) throw new InterruptedRestoreError(registry, marker.value)
      if (RECORD_KINDS.some((kind) => counts[kind] > 0)) throw new RegistryNotEmptyError(registry, counts)
    }
    const value = JSON.stringify({backup: sha256, source: header.source, started: now().toISOString()})
    const result = await store.txn(
      [{key: RESTORE_MARKER_KEY, modRevision: marker?.modRevision ?? 0}],
      [{type: 'put', key: RESTORE_MARKER_KEY, value}],
    )
    if (!result.succeeded) {
      throw new ConflictError(`registry ${registry}: another restore into it started at the same time; nothing was written`)
    }
    return {markerRevision: result.revision, keepAuth: !header.secrets && counts['signing-key'] > 0}
  } finally {
    await before.close()
  }
}

/** Walks the file and a snapshot of the registry side by side, in key order. */
async function* fileBesideRegistry(
  pass: Pass,
  snapshot: Snapshot,
): AsyncGenerator<{key: string; record?: BackupRecord; stored?: StoredRecord}> {
  const parser = new BackupParser(pass.name, {trusted: pass.blocks})
  for await (const {key, a, b} of byKey<BackupRecord, StoredRecord>(readBackup(pass.open(), parser), storedRecords(snapshot))) {
    yield {key, record: a, stored: b}
  }
  if (parser.trailer?.sha256 !== pass.sha256) {
    throw new RestoreIncompleteError(pass.store.description, `${pass.name} changed while it was being restored`)
  }
}

/** Step 4: puts each record that is missing or different, deletes each key the file does not hold. */
async function writeRecords(pass: Pass): Promise<{written: number; deleted: number; unchanged: number; kept: number}> {
  const stats = {written: 0, deleted: 0, unchanged: 0, kept: 0}
  const snapshot = await pass.store.snapshot()
  try {
    const batches = new GuardedBatches(pass.store, pass.guard, pass.lost)
    for await (const {key, record, stored} of fileBesideRegistry(pass, snapshot)) {
      if (record) {
        if (stored?.kv.value === record.value) stats.unchanged++
        else {
          await batches.add({type: 'put', key, value: record.value})
          stats.written++
        }
      } else if (pass.kept(stored!.spec.kind)) stats.kept++
      else {
        await batches.add({type: 'delete', key})
        stats.deleted++
      }
    }
    await batches.flush()
  } finally {
    await snapshot.close()
  }
  return stats
}

/** Step 5: every record there, equal, and nothing else; returns what the registry holds, by kind. */
async function checkRecords(pass: Pass, header: BackupHeader): Promise<KindCounts> {
  const registry = pass.store.description
  const counts = zeroCounts()
  const differences: string[] = []
  let different = 0
  const snapshot = await pass.store.snapshot()
  try {
    for await (const {key, record, stored} of fileBesideRegistry(pass, snapshot)) {
      if (stored) counts[stored.spec.kind]++
      let problem: string | undefined
      if (record && !stored) problem = `${key} is missing`
      else if (record && stored && !sameRecord(record, stored.kv.value)) problem = `${key} differs`
      else if (!record && !pass.kept(stored!.spec.kind)) problem = `${key} is not in the backup`
      if (problem && ++different <= 3) differences.push(problem)
    }
  } finally {
    await snapshot.close()
  }
  if (different > 0) {
    const listed = `${differences.join('; ')}${different > 3 ? '; …' : ''}`
    throw new RestoreIncompleteError(
      registry,
      `after writing, it does not hold what the backup holds (${different} difference${different === 1 ? '' : 's'}: ${listed}): another process wrote to it meanwhile`,
    )
  }
  for (const kind of RECORD_KINDS) {
    if (pass.kept(kind) ? counts[kind] < header.counts[kind] : counts[kind] !== header.counts[kind]) {
      throw new RestoreIncompleteError(
        registry,
        `after writing, it holds ${counts[kind]} records of kind ${kind}, the header counts ${header.counts[kind]}`,
      )
    }
  }
  return counts
}

function sameRecord(record: BackupRecord, stored: string): boolean {
  if (record.value === stored) return true
  try {
    return isDeepStrictEqual(record.object, JSON.parse(stored))
  } catch {
    return false
  }
}
