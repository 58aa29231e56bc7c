/**
 * The SQLite store's watch: one poller per process per database, shared by every watch on it.
 *
 * The poller reads the store-wide revision (one indexed read of one row) every
 * WATCH_POLL_INTERVAL_MS. When it moved, one read transaction gives the keys written since the
 * revision of the watch furthest behind (through the index on `kv.mod_revision`) and the
 * deletions since then (the `tombstone` table, written in the transaction of each delete), and
 * every watch gets the events after its own revision under its own prefix. A poll never reads
 * the keys that did not change. The poller reads through a connection of its own, so writes by
 * every connection and every process on the file show alike.
 *
 * Puts are coalesced: between two polls a watch sees each key's last value (etcd would send
 * every version), and a key created and deleted between two polls shows as a delete alone.
 *
 * Deletions older than the tombstones kept (see sqlite-store.ts, "Tombstones") are unknown: a
 * watch whose revision is older than the store's compact revision ends with a CompactedError,
 * as an etcd watch does, and its follower lists again. A database of the first schema (no
 * tombstones: opened read-only, not yet upgraded by a writer) counts as compacted up to its
 * current revision, so every change there makes the follower list again.
 */
import type BetterSqlite3 from 'better-sqlite3'

import {CompactedError, type KeyValue, type Watch, type WatchEvent} from './store.js'

type Database = BetterSqlite3.Database
type Statement = BetterSqlite3.Statement<unknown[], unknown>

/** The one poll interval: the longest a change by another process waits before a watch sees it. */
export const WATCH_POLL_INTERVAL_MS = 100
/** The poller's own busy wait per read; a busy poll is skipped and the next one tries again. */
export const POLL_BUSY_TIMEOUT_MS = 20

export interface PollerSource {
  /** "sqlite:/path", for messages. */
  description: string
  /** Opens the connection the poller reads through (or hands over the store's, see ownsConnection). */
  connect(): Database
  /** Whether the poller closes that connection when its last watch ends (false: the store's own). */
  ownsConnection: boolean
  isBusy(error: unknown): boolean
  /** The error a user should see for a SQLite error. */
  mapError(error: unknown): unknown
}

/** Runs synchronous SQLite work with the store's busy retry and error mapping. */
export type BusyRetry = <T>(what: string, fn: () => T) => Promise<T>

/** A row of the `kv` table. */
export interface Row {
  key: string
  value: string
  create_revision: number
  mod_revision: number
  version: number
}

interface Tombstone {
  revision: number
  key: string
}

const pollers = new Map<unknown, SqlitePoller>()

/**
 * A watch on the database `key` names (a file's path, or the connection of a database in
 * memory), served by that database's poller, created on the first watch.
 */
export function watchSqlite(
  key: unknown,
  source: PollerSource,
  retry: BusyRetry,
  prefix: string,
  fromRevision: number,
  onEvent: (event: WatchEvent) => void,
): PolledWatch {
  let poller = pollers.get(key)
  if (!poller) {
    poller = new SqlitePoller(key, source)
    pollers.set(key, poller)
  }
  return poller.add(prefix, fromRevision, onEvent, retry)
}

/** The pollers running in this process (tests, bench). */
export function pollerCount(): number {
  return pollers.size
}

export class PolledWatch implements Watch {
  active = true
  confirmedAt = 0
  readonly ended: Promise<Error | undefined>
  private resolveEnded!: (error: Error | undefined) => void

  constructor(
    private readonly poller: SqlitePoller,
    readonly prefix: string,
    /** Every event up to this revision has been delivered. */
    public revision: number,
    private readonly onEvent: (event: WatchEvent) => void,
    private readonly retry: BusyRetry,
  ) {
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve))
  }

  progress(): {revision: number; confirmedAt: number} {
    return {revision: this.revision, confirmedAt: this.confirmedAt}
  }

  async sync(): Promise<void> {
    if (this.active) await this.retry('a watch', () => this.poller.pollNow())
  }

  async close(): Promise<void> {
    this.finish(undefined)
  }

  /** Delivers one event; a consumer that throws ends its watch with that error. */
  deliver(event: WatchEvent): void {
    try {
      this.onEvent(event)
    } catch (error) {
      this.finish(error instanceof Error ? error : new Error(String(error)))
    }
  }

  confirm(revision: number, at: number): void {
    if (revision > this.revision) this.revision = revision
    this.confirmedAt = at
  }

  finish(error: Error | undefined): void {
    if (!this.active) return
    this.active = false
    this.poller.remove(this)
    this.resolveEnded(error)
  }
}

class SqlitePoller {
  private db?: Database
  private stmts?: {revision: Statement; compactRevision: Statement; puts: Statement}
  private tombstones?: Statement
  private timer?: NodeJS.Timeout
  private scheduled = false
  private readonly watches = new Set<PolledWatch>()

  constructor(
    private readonly key: unknown,
    private readonly source: PollerSource,
  ) {}

  add(prefix: string, fromRevision: number, onEvent: (event: WatchEvent) => void, retry: BusyRetry): PolledWatch {
    if (!this.db) {
      try {
        this.open()
      } catch (error) {
        pollers.delete(this.key)
        throw this.source.mapError(error)
      }
    }
    const watch = new PolledWatch(this, prefix, Math.max(0, fromRevision), onEvent, retry)
    this.watches.add(watch)
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), WATCH_POLL_INTERVAL_MS)
      this.timer.unref()
    }
    // The replay of a watch from an older revision (or its CompactedError) comes at once, not
    // at the next interval; after watch() has returned it, so that its caller holds the Watch.
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(() => {
        this.scheduled = false
        this.tick()
      })
    }
    return watch
  }

  remove(watch: PolledWatch): void {
    if (!this.watches.delete(watch) || this.watches.size > 0) return
    clearInterval(this.timer)
    this.timer = undefined
    if (this.db && this.source.ownsConnection && this.db.open) this.db.close()
    this.db = undefined
    this.stmts = undefined
    this.tombstones = undefined
    if (pollers.get(this.key) === this) pollers.delete(this.key)
  }

  private open(): void {
    const db = this.source.connect()
    this.db = db
    this.stmts = {
      revision: db.prepare("SELECT value FROM meta WHERE name = 'revision'").pluck(),
      compactRevision: db.prepare("SELECT value FROM meta WHERE name = 'compact_revision'").pluck(),
      puts: db.prepare('SELECT key, value, create_revision, mod_revision, version FROM kv WHERE mod_revision > ? ORDER BY mod_revision'),
    }
  }

  /** A timer's poll: a busy database waits for the next one; any other failure ends every watch. */
  private tick(): void {
    if (this.watches.size === 0) return
    try {
      this.pollNow()
    } catch (error) {
      if (this.source.isBusy(error)) return
      const mapped = this.source.mapError(error)
      for (const watch of [...this.watches]) watch.finish(mapped instanceof Error ? mapped : new Error(String(mapped)))
    }
  }

  /** Reads the changes since the watch furthest behind and hands each watch its events. */
  pollNow(): void {
    const db = this.db
    const s = this.stmts
    if (!db || !s || this.watches.size === 0) return
    const at = Date.now()
    const current = s.revision.get() as number
    let behind = false
    for (const watch of this.watches) if (watch.revision < current) behind = true
    if (!behind) {
      for (const watch of this.watches) watch.confirm(current, at)
      return
    }
    const {revision, compactRevision, events} = db.transaction(() => {
      const revision = s.revision.get() as number
      const compactRevision = (s.compactRevision.get() as number | undefined) ?? revision + 1
      let from = Number.POSITIVE_INFINITY
      for (const watch of this.watches) {
        if (watch.revision < revision && watch.revision + 1 >= compactRevision) from = Math.min(from, watch.revision)
      }
      return {revision, compactRevision, events: from === Number.POSITIVE_INFINITY ? [] : this.changesAfter(db, s.puts, from)}
    })()
    for (const watch of [...this.watches]) {
      if (watch.revision >= revision) {
        watch.confirm(revision, at)
      } else if (watch.revision + 1 < compactRevision) {
        watch.finish(
          new CompactedError(
            `${this.source.description}: cannot watch from revision ${watch.revision}: the deletions before revision ${compactRevision} are no longer kept; list again`,
            watch.revision,
          ),
        )
      } else {
        // One transaction's events share a revision: the watch's revision moves after the batch.
        const after = watch.revision
        for (const {event, revision: eventRevision} of events) {
          if (!watch.active) break
          if (eventRevision > after && keyOf(event).startsWith(watch.prefix)) watch.deliver(event)
        }
        if (watch.active) watch.confirm(revision, at)
      }
    }
  }

  /** Puts and deletions after `from`, in revision order (a delete before a re-create of its key). */
  private changesAfter(db: Database, puts: Statement, from: number): {event: WatchEvent; revision: number}[] {
    this.tombstones ??= db.prepare('SELECT revision, key FROM tombstone WHERE revision > ? ORDER BY revision')
    const rows = puts.all(from) as Row[]
    const deletes = this.tombstones.all(from) as Tombstone[]
    const events: {event: WatchEvent; revision: number}[] = []
    let i = 0
    let j = 0
    while (i < rows.length || j < deletes.length) {
      const row = rows[i]
      const del = deletes[j]
      if (del && (!row || del.revision <= row.mod_revision)) {
        events.push({event: {type: 'delete', key: del.key, modRevision: del.revision}, revision: del.revision})
        j++
      } else if (row) {
        events.push({event: {type: 'put', kv: toKeyValue(row)}, revision: row.mod_revision})
        i++
      }
    }
    return events
  }
}

function keyOf(event: WatchEvent): string {
  return event.type === 'put' ? event.kv.key : event.key
}

export function toKeyValue(row: Row): KeyValue {
  return {
    key: row.key,
    value: row.value,
    createRevision: row.create_revision,
    modRevision: row.mod_revision,
    version: row.version,
  }
}
