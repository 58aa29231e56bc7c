/**
 * The embedded Store backend: one SQLite file (better-sqlite3), etcd's model in two tables.
 *
 * - `kv(key, value, create_revision, mod_revision, version)`, WITHOUT ROWID, keys in byte order
 *   (SQLite's BINARY collation compares UTF-8 bytes, as etcd compares keys);
 * - `meta('revision')`: the store-wide revision, raised by one by every transaction that writes;
 * - `tombstone(revision, key)`: the deletions, written in the transaction of each delete, so that
 *   a watch learns of them (sqlite-watch.ts); `meta('compact_revision')` is the oldest revision a
 *   watch may start at, `meta('tombstones')` their count.
 *
 * Tombstones: the newest `keepTombstones` (default 10,000) are kept; a deleting transaction that
 * finds more than a tenth over that removes the oldest, down to the bound, and raises the compact
 * revision past them (etcd's compaction, for deletions only: the keys themselves are always
 * current). Past that many deletions a list is cheaper than their replay, and a watcher in this
 * process is never more than a poll behind. A count, not an age: the table only grows with
 * deletions, and a count needs no clock.
 *
 * Watch: one poller per process per database over the revision column (sqlite-watch.ts).
 *
 * Concurrency: WAL mode, so readers never block the writer; every write transaction starts with
 * `BEGIN IMMEDIATE` (a deferred transaction that upgrades to a writer fails with SQLITE_BUSY
 * under many processes whatever the busy timeout); a busy timeout, then retries with backoff
 * until the operation's timeout, then BackendUnavailableError naming the file (exit 3).
 *
 * `range()` reads every page inside one read transaction on a connection of its own, so all
 * pages reflect the revision of the first, and writes made while iterating (on the main
 * connection) neither block nor show. `snapshot()` holds such a transaction across many ranges
 * until it is closed. An in-memory store (`sqlite::memory:`, for tests) cannot open a second
 * connection; it reads the whole range (or, for a snapshot, every key) at once and then hands it
 * out in pages.
 *
 * A path that cannot hold a store (missing directory, a directory, a file that is not a SQLite
 * database or whose pages are damaged, a newer schema) is InvalidInputError on field "registry"
 * (exit 2): retrying does not help; a damaged file says "restore it from a backup". A file or
 * directory the user may not read or write is NotAllowedError (exit 4) naming the path and what
 * was tried (found out with access(2) after SQLite's bare "unable to open database file").
 *
 * Read-only opening (`readOnly`, for list/get/show commands): never creates the file, never
 * writes (not even the WAL switch or the schema); a file that does not exist yet, in a directory
 * that does, is an empty registry. A WAL database in a directory the user may not write (SQLite
 * cannot create the -shm file it reads through) is read from a snapshot of the file when no
 * -wal file holds changes beside it.
 *
 * The database file is created with mode 0600; SQLite gives its -wal and -shm files the mode of
 * the database file.
 */
import type BetterSqlite3 from 'better-sqlite3'
import {accessSync, closeSync, constants as fsConstants, openSync, readFileSync, realpathSync, statSync} from 'node:fs'
import {dirname} from 'node:path'

import {BackendUnavailableError, InvalidInputError, NotAllowedError, RosterError} from '../errors.js'
import {formatDuration} from '../config/duration.js'
import {retryWithBackoff} from './retry.js'
import {POLL_BUSY_TIMEOUT_MS, toKeyValue, watchSqlite, type PolledWatch, type Row} from './sqlite-watch.js'
import {
  checkTxnLimits,
  CompactedError,
  pageSizeOf,
  prefixUpperBound,
  rangeSpans,
  type Compare,
  type KeySpan,
  type KeyValue,
  type Operation,
  type RangeOptions,
  type RangePage,
  type Snapshot,
  type Store,
  type TxnResult,
  type Watch,
  type WatchEvent,
} from './store.js'

type Database = BetterSqlite3.Database
type Statement = BetterSqlite3.Statement<unknown[], unknown>

export interface SqliteStoreOptions {
  /** Absolute path, or ':memory:'. */
  path: string
  /** Bound on each operation, retries included. */
  timeoutMs: number
  /** Open for reading only: never create or write the file (see the header). */
  readOnly?: boolean
  /** With readOnly: a missing directory is an empty registry too (the default path), not exit 2. */
  missingDirectoryIsEmpty?: boolean
  /** Tombstones kept (see "Tombstones" in the header). Default DEFAULT_KEEP_TOMBSTONES. */
  keepTombstones?: number
}

/** 2: tombstones and the index on mod_revision, for the watch (a file of schema 1 is upgraded on open). */
export const SCHEMA_VERSION = 2
export const DEFAULT_KEEP_TOMBSTONES = 10_000
/** SQLite's own busy wait, per attempt; beyond it roster retries with backoff until the timeout. */
const MAX_BUSY_TIMEOUT_MS = 2000

const SCHEMA = `
CREATE TABLE IF NOT EXISTS kv (
  key TEXT NOT NULL PRIMARY KEY,
  value TEXT NOT NULL,
  create_revision INTEGER NOT NULL,
  mod_revision INTEGER NOT NULL,
  version INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
  name TEXT NOT NULL PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tombstone (
  revision INTEGER NOT NULL,
  key TEXT NOT NULL,
  PRIMARY KEY (revision, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_mod_revision ON kv (mod_revision);
INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 0);
-- A file of schema 1 deleted without tombstones: a watch may start at its current revision, no earlier.
INSERT OR IGNORE INTO meta (name, value) SELECT 'compact_revision', value + 1 FROM meta WHERE name = 'revision';
INSERT OR IGNORE INTO meta (name, value) VALUES ('tombstones', 0);
`

export {prefixUpperBound} from './store.js'

function sqliteCode(error: unknown): string | undefined {
  const code = (error as {code?: unknown} | undefined)?.code
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined
}

function isBusy(error: unknown): boolean {
  const code = sqliteCode(error)
  return code !== undefined && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'))
}

/**
 * The one busy retry of the SQLite store: runs `fn` (synchronous SQLite work), and while it fails
 * with SQLITE_BUSY (beyond the connection's own busy timeout) runs it again with backoff, until
 * `timeoutMs`; then BackendUnavailableError naming the file and `what` was tried. Other errors
 * pass through as `fn` threw them.
 */
function retryBusy<T>(path: string, what: string, timeoutMs: number, fn: () => T): Promise<T> {
  return retryWithBackoff(fn, {
    deadline: Date.now() + timeoutMs,
    isRetryable: isBusy,
    onExhausted: (error, attempts, elapsed) =>
      new BackendUnavailableError(
        `registry "sqlite:${path}" is busy: ${what} did not get the database within ${formatDuration(elapsed)} (${attempts} attempts; ${(error as Error).message}); another process holds it`,
        {cause: error},
      ),
  })
}

function registryError(path: string, reason: string, cause?: unknown): InvalidInputError {
  const error = InvalidInputError.forField('registry', `sqlite:${path}`, reason)
  if (cause !== undefined) Object.defineProperty(error, 'cause', {value: cause})
  return error
}

function notAllowed(path: string, what: string, cause: unknown): NotAllowedError {
  return new NotAllowedError(`registry "sqlite:${path}": ${what}; check the owner and mode of the file and its directory (ls -l)`, {
    cause,
    field: 'registry',
  })
}

function errnoOf(error: unknown): string {
  return (error as NodeJS.ErrnoException | undefined)?.code ?? 'error'
}

/**
 * Why SQLite could not open `path` ("unable to open database file" says nothing): a missing or
 * unreachable directory, a directory in place of the file, a file or directory the user may not
 * read or write. Checked with stat(2) and access(2), which speak for the effective user.
 */
function diagnoseOpenFailure(path: string, readOnly: boolean, error: unknown): unknown {
  const message = error instanceof Error ? error.message : String(error)
  const dir = dirname(path)
  try {
    if (!statSync(dir).isDirectory())
      return registryError(path, `${dir} is not a directory; the registry must be a file in an existing directory`, error)
  } catch (e) {
    if (errnoOf(e) === 'ENOENT')
      return registryError(path, `the directory does not exist (${dir}); create it or choose another registry`, error)
    return notAllowed(path, `not allowed to reach the directory ${dir} (${errnoOf(e)})`, error)
  }
  let exists = true
  try {
    if (statSync(path).isDirectory())
      return registryError(
        path,
        'cannot open the database file: it is a directory; the registry must be a file in an existing directory',
        error,
      )
  } catch (e) {
    if (errnoOf(e) !== 'ENOENT') return notAllowed(path, `not allowed to reach the file (${errnoOf(e)})`, error)
    exists = false
  }
  if (exists) {
    try {
      accessSync(path, fsConstants.R_OK)
    } catch (e) {
      return notAllowed(
        path,
        `not allowed to read the database file (${errnoOf(e)}; tried to open it for ${readOnly ? 'reading' : 'reading and writing'})`,
        error,
      )
    }
    if (!readOnly) {
      try {
        accessSync(path, fsConstants.W_OK)
      } catch (e) {
        return notAllowed(path, `not allowed to write the database file (${errnoOf(e)}; tried to open it for reading and writing)`, error)
      }
    }
  }
  if (!readOnly || !exists) {
    try {
      accessSync(dir, fsConstants.W_OK | fsConstants.X_OK)
    } catch (e) {
      const what = exists ? `SQLite keeps ${path}-wal and ${path}-shm beside the database` : 'tried to create the database file'
      return notAllowed(path, `not allowed to create files in the directory ${dir} (${errnoOf(e)}; ${what})`, error)
    }
  }
  return registryError(path, `cannot open the database file (${message}); the registry must be a file in an existing directory`, error)
}

/** Turns a SQLite or file-system error into the roster error a user should see. */
function mapError(path: string, error: unknown, readOnly = false): unknown {
  if (error instanceof RosterError) return error
  const code = sqliteCode(error) ?? (error as NodeJS.ErrnoException | undefined)?.code
  const message = error instanceof Error ? error.message : String(error)
  switch (code?.replace(/^(SQLITE_[A-Z]+)_.*$/, '$1')) {
    case 'SQLITE_NOTADB':
      return registryError(path, `not a usable SQLite database (${message}); restore it from a backup or choose another registry`, error)
    case 'SQLITE_CORRUPT':
      return registryError(path, `the database file is damaged (${message}); restore it from a backup or choose another registry`, error)
    case 'SQLITE_CANTOPEN':
    case 'EISDIR':
    case 'ENOTDIR':
    case 'ENOENT':
    case 'EACCES':
    case 'EPERM':
      return diagnoseOpenFailure(path, readOnly, error)
    case 'SQLITE_READONLY':
      if (code === 'SQLITE_READONLY_DIRECTORY') {
        return notAllowed(path, `not allowed to create ${path}-wal and ${path}-shm in the directory ${dirname(path)} (${message})`, error)
      }
      return notAllowed(path, `not allowed to write the database (${message})`, error)
    case 'SQLITE_PERM':
    case 'SQLITE_AUTH':
    case 'EROFS':
      return notAllowed(path, `not allowed to write the database (${message})`, error)
    case 'SQLITE_FULL':
    case 'ENOSPC':
      return new BackendUnavailableError(`registry "sqlite:${path}": disk full (${message})`, {cause: error})
    default:
      if (error instanceof TypeError && /directory does not exist/.test(message)) {
        return registryError(path, 'the directory does not exist; create it or choose another registry', error)
      }
      return error
  }
}

interface WriteStatements {
  revision: Statement
  setRevision: Statement
  modRevision: Statement
  upsert: Statement
  delete: Statement
  tombstone: Statement
  meta: Statement
  setMeta: Statement
  oldestKept: Statement
  compact: Statement
}

class SqliteStore implements Store {
  readonly description: string
  private readonly idleReaders: Database[] = []
  private readonly readers = new Set<Database>()
  private readonly watches = new Set<PolledWatch>()
  private closed = false
  private readonly stmts: {get: Statement; revision: Statement}
  /** Prepared on the first write: a file of schema 1 opened read-only has no tombstone table. */
  private writes?: {stmts: WriteStatements; txn: BetterSqlite3.Transaction<(compares: Compare[], success: Operation[]) => TxnResult>}

  constructor(
    private readonly DatabaseClass: typeof BetterSqlite3,
    private readonly db: Database,
    private readonly path: string,
    private readonly timeoutMs: number,
    private readonly readOnly = false,
    private readonly keepTombstones = DEFAULT_KEEP_TOMBSTONES,
  ) {
    this.description = `sqlite:${path}`
    this.stmts = {
      get: db.prepare('SELECT key, value, create_revision, mod_revision, version FROM kv WHERE key = ?'),
      revision: db.prepare("SELECT value FROM meta WHERE name = 'revision'").pluck(),
    }
  }

  private writer(): NonNullable<SqliteStore['writes']> {
    if (this.writes) return this.writes
    const db = this.db
    const s: WriteStatements = {
      revision: this.stmts.revision,
      setRevision: db.prepare("UPDATE meta SET value = ? WHERE name = 'revision'"),
      modRevision: db.prepare('SELECT mod_revision FROM kv WHERE key = ?').pluck(),
      upsert: db.prepare(
        `INSERT INTO kv (key, value, create_revision, mod_revision, version) VALUES (?, ?, ?, ?, 1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, mod_revision = excluded.mod_revision, version = version + 1`,
      ),
      delete: db.prepare('DELETE FROM kv WHERE key = ?'),
      tombstone: db.prepare('INSERT INTO tombstone (revision, key) VALUES (?, ?)'),
      meta: db.prepare('SELECT value FROM meta WHERE name = ?').pluck(),
      setMeta: db.prepare('UPDATE meta SET value = ? WHERE name = ?'),
      oldestKept: db.prepare('SELECT revision FROM tombstone ORDER BY revision LIMIT 1 OFFSET ?').pluck(),
      compact: db.prepare('DELETE FROM tombstone WHERE revision < ?'),
    }
    const txn = db.transaction((compares: Compare[], success: Operation[]): TxnResult => {
      const revision = s.revision.get() as number
      for (const c of compares) {
        const actual = (s.modRevision.get(c.key) as number | undefined) ?? 0
        if (actual !== c.modRevision) return {succeeded: false, revision}
      }
      const next = revision + 1
      let changed = false
      let deleted = 0
      for (const op of success) {
        if (op.type === 'put') {
          s.upsert.run(op.key, op.value, next, next)
          changed = true
        } else if (s.delete.run(op.key).changes > 0) {
          s.tombstone.run(next, op.key)
          deleted++
          changed = true
        }
      }
      if (!changed) return {succeeded: true, revision}
      s.setRevision.run(next)
      if (deleted > 0) {
        const count = (s.meta.get('tombstones') as number) + deleted
        s.setMeta.run(count, 'tombstones')
        if (count > this.keepTombstones + Math.ceil(this.keepTombstones / 10)) {
          // The revision of the oldest tombstone to keep: those before it go.
          const keepFrom = s.oldestKept.get(count - this.keepTombstones) as number
          this.compactTombstones(s, keepFrom)
        }
      }
      return {succeeded: true, revision: next}
    })
    this.writes = {stmts: s, txn}
    return this.writes
  }

  /** Removes the tombstones before `revision`; a watch may then start at `revision - 1`, no earlier. */
  private compactTombstones(s: WriteStatements, revision: number): void {
    const removed = s.compact.run(revision).changes
    s.setMeta.run((s.meta.get('tombstones') as number) - removed, 'tombstones')
    if (revision > (s.meta.get('compact_revision') as number)) s.setMeta.run(revision, 'compact_revision')
  }

  /**
   * etcd's compaction, for the tombstones: forgets the deletions before `revision` (at most the
   * current revision), so that a watch from before `revision - 1` fails with CompactedError.
   * The automatic bound does the same (header); tests and the bench call it to get there at once.
   */
  async compact(revision: number): Promise<void> {
    await this.run('a compaction', () => {
      const {stmts} = this.writer()
      this.db
        .transaction(() => {
          const current = stmts.revision.get() as number
          if (revision > current)
            throw new Error(`${this.description}: cannot compact at revision ${revision}, after the current ${current}`)
          this.compactTombstones(stmts, revision)
        })
        .immediate()
    })
  }

  /** Runs `fn` with the store's busy retry, its errors mapped for the user. */
  private run<T>(what: string, fn: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`${this.description}: store is closed`))
    return retryBusy(this.path, what, this.timeoutMs, () => this.mapped(fn))
  }

  async get(key: string): Promise<KeyValue | undefined> {
    return this.run('get', () => {
      const row = this.stmts.get.get(key) as Row | undefined
      return row ? toKeyValue(row) : undefined
    })
  }

  async getMany(keys: readonly string[]): Promise<(KeyValue | undefined)[]> {
    return this.run('get', () =>
      this.db.transaction(() =>
        keys.map((key) => {
          const row = this.stmts.get.get(key) as Row | undefined
          return row ? toKeyValue(row) : undefined
        }),
      )(),
    )
  }

  async txn(compares: Compare[], success: Operation[]): Promise<TxnResult> {
    checkTxnLimits(compares, success)
    // A command that declared itself read-only and writes is a bug in roster, not the user's doing.
    if (this.readOnly && success.length > 0) throw new Error(`${this.description}: opened read-only, but a write was attempted`)
    return this.run('a write', () => this.writer().txn.immediate(compares, success))
  }

  /**
   * Through the poller of this database (sqlite-watch.ts): a file's poller reads through a
   * connection of its own and serves every store of this process on that file; a database in
   * memory (or a read-only snapshot) has its own.
   */
  async watch(prefix: string, fromRevision: number, onEvent: (event: WatchEvent) => void): Promise<Watch> {
    const own = !this.db.memory
    const key = own ? realPath(this.path) : this.db
    const source = {
      description: this.description,
      ownsConnection: own,
      connect: () =>
        own ? new this.DatabaseClass(this.path, {readonly: true, fileMustExist: true, timeout: POLL_BUSY_TIMEOUT_MS}) : this.db,
      isBusy,
      mapError: (error: unknown) => mapError(this.path, error, true),
    }
    const watch = await this.run('a watch', () => watchSqlite(key, source, (what, fn) => this.run(what, fn), prefix, fromRevision, onEvent))
    this.watches.add(watch)
    void watch.ended.then(() => this.watches.delete(watch))
    return watch
  }

  async *range(prefix: string, options?: RangeOptions): AsyncIterable<RangePage> {
    if (this.db.memory) {
      yield* this.rangeAtOnce(rangeSpans(prefix, options), pageSizeOf(options))
      return
    }
    const snapshot = await this.snapshot()
    try {
      yield* snapshot.range(prefix, options)
    } finally {
      await snapshot.close()
    }
  }

  /**
   * A read transaction on a reader connection of its own: BEGIN and the first read fix the
   * snapshot every later page reads, while writes on the main connection neither block nor show.
   */
  async snapshot(revision?: number): Promise<Snapshot> {
    if (this.db.memory) return this.snapshotAtOnce(revision)
    const reader = await this.run('open a reader', () => this.acquireReader())
    let current: number
    try {
      current = await this.run('a read', () => {
        if (reader.inTransaction) reader.exec('ROLLBACK')
        reader.exec('BEGIN')
        try {
          return reader.prepare("SELECT value FROM meta WHERE name = 'revision'").pluck().get() as number
        } catch (error) {
          reader.exec('ROLLBACK')
          throw error
        }
      })
    } catch (error) {
      this.releaseReader(reader)
      throw error
    }
    let open = true
    const close = async (): Promise<void> => {
      if (!open) return
      open = false
      // A damaged page can fail the COMMIT too: that error must not replace the (mapped) first one.
      try {
        if (reader.open && reader.inTransaction) reader.exec('COMMIT')
      } catch {
        if (reader.open) reader.close()
      }
      this.releaseReader(reader)
    }
    const openReader = (): Database => {
      if (!open) throw new Error(`${this.description}: the snapshot at revision ${current} is closed`)
      return reader
    }
    try {
      checkSnapshotRevision(this.description, current, revision)
    } catch (error) {
      await close()
      throw error
    }
    return {
      revision: current,
      range: (prefix, options) => this.pages(openReader, prefix, options, current),
      count: async (prefix) => {
        const end = prefixUpperBound(prefix)
        const s = this.mapped(() => prepareRangeStatements(openReader(), end !== undefined))
        return this.mapped(() => (end === undefined ? s.count.get(prefix) : s.count.get(prefix, end)) as number)
      },
      close,
    }
  }

  /** The pages of one range over the snapshot `reader()` holds (it throws once the snapshot is closed). */
  private async *pages(
    reader: () => Database,
    prefix: string,
    options: RangeOptions | undefined,
    revision: number,
  ): AsyncIterable<RangePage> {
    const pageSize = pageSizeOf(options)
    // The first page comes even when empty: it carries the revision.
    let yielded = false
    for (const {from, to} of rangeSpans(prefix, options)) {
      const s = this.mapped(() => prepareRangeStatements(reader(), to !== undefined))
      let rows = this.readPage(s, true, from, to, pageSize)
      for (;;) {
        const last = rows[rows.length - 1]?.key
        const full = rows.length === pageSize
        if (rows.length > 0 || !yielded) yield {kvs: rows.map(toKeyValue), revision}
        yielded = true
        if (!full || last === undefined) break
        reader()
        rows = this.readPage(s, false, last, to, pageSize)
        if (rows.length === 0) break
      }
    }
    if (!yielded) yield {kvs: [], revision}
  }

  private mapped<T>(fn: () => T): T {
    try {
      return fn()
    } catch (error) {
      throw mapError(this.path, error, this.readOnly)
    }
  }

  private readPage(s: RangeStatements, first: boolean, from: string, end: string | undefined, pageSize: number): Row[] {
    try {
      const stmt = first ? s.first : s.next
      return (end === undefined ? stmt.all(from, pageSize) : stmt.all(from, end, pageSize)) as Row[]
    } catch (error) {
      throw mapError(this.path, error, this.readOnly)
    }
  }

  private async *rangeAtOnce(spans: KeySpan[], pageSize: number): AsyncIterable<RangePage> {
    const {rows, revision} = await this.run('a read', () =>
      this.db.transaction(() => ({
        rows: spans.flatMap(({from, to}) => {
          const s = prepareRangeStatements(this.db, to !== undefined)
          return (to === undefined ? s.first.all(from, -1) : s.first.all(from, to, -1)) as Row[]
        }),
        revision: this.stmts.revision.get() as number,
      }))(),
    )
    yield* pagesOfRows(rows, revision, pageSize)
  }

  /**
   * An in-memory database (tests) cannot open a second connection to hold a read transaction on:
   * its snapshot is a copy of every row, read in one transaction.
   */
  private async snapshotAtOnce(revision?: number): Promise<Snapshot> {
    const s = prepareRangeStatements(this.db, false)
    const {rows, current} = await this.run('a read', () =>
      this.db.transaction(() => ({rows: s.first.all('', -1) as Row[], current: this.stmts.revision.get() as number}))(),
    )
    checkSnapshotRevision(this.description, current, revision)
    let open = true
    const within = (spans: KeySpan[]): Row[] => {
      if (!open) throw new Error(`${this.description}: the snapshot at revision ${current} is closed`)
      return spans.flatMap(({from, to}) => rows.filter((row) => row.key >= from && (to === undefined || row.key < to)))
    }
    const under = (prefix: string): Row[] => within(rangeSpans(prefix))
    return {
      revision: current,
      range: async function* (prefix, options) {
        yield* pagesOfRows(within(rangeSpans(prefix, options)), current, pageSizeOf(options))
      },
      count: async (prefix) => under(prefix).length,
      close: async () => {
        open = false
      },
    }
  }

  private acquireReader(): Database {
    const idle = this.idleReaders.pop()
    if (idle) return idle
    const reader = new this.DatabaseClass(this.path, {
      timeout: this.db.pragma('busy_timeout', {simple: true}) as number,
      readonly: this.readOnly,
      fileMustExist: true,
    })
    this.readers.add(reader)
    return reader
  }

  private releaseReader(reader: Database): void {
    if (this.closed || !reader.open) {
      this.readers.delete(reader)
      if (reader.open) reader.close()
      return
    }
    this.idleReaders.push(reader)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const watch of [...this.watches]) await watch.close()
    for (const reader of this.readers) if (reader.open) reader.close()
    this.readers.clear()
    this.idleReaders.length = 0
    if (this.db.open) this.db.close()
  }
}

/** SqliteStore.compact on a store openStore opened (tests, bench); a store of another backend is refused. */
export async function compactSqliteStore(store: Store, revision: number): Promise<void> {
  if (!(store instanceof SqliteStore)) throw new Error(`${store.description}: not a SQLite store`)
  await store.compact(revision)
}

/** The file's real path, so that every spelling of one file shares its poller. */
function realPath(path: string): string {
  try {
    return realpathSync(path)
  } catch {
    return path
  }
}

interface RangeStatements {
  first: Statement
  next: Statement
  count: Statement
}

const rangeStatementCache = new WeakMap<Database, Map<boolean, RangeStatements>>()

function prepareRangeStatements(db: Database, bounded: boolean): RangeStatements {
  let byBound = rangeStatementCache.get(db)
  if (!byBound) rangeStatementCache.set(db, (byBound = new Map()))
  let s = byBound.get(bounded)
  if (!s) {
    const cols = 'SELECT key, value, create_revision, mod_revision, version FROM kv'
    const upper = bounded ? ' AND key < ?' : ''
    s = {
      first: db.prepare(`${cols} WHERE key >= ?${upper} ORDER BY key LIMIT ?`),
      next: db.prepare(`${cols} WHERE key > ?${upper} ORDER BY key LIMIT ?`),
      count: db.prepare(`SELECT count(*) FROM kv WHERE key >= ?${upper}`).pluck(),
    }
    byBound.set(bounded, s)
  }
  return s
}

/** Rows already read, handed out in pages; the first page comes even when empty (it carries the revision). */
async function* pagesOfRows(rows: Row[], revision: number, pageSize: number): AsyncGenerator<RangePage> {
  if (rows.length === 0) yield {kvs: [], revision}
  for (let i = 0; i < rows.length; i += pageSize) yield {kvs: rows.slice(i, i + pageSize).map(toKeyValue), revision}
}

/** SQLite keeps no history: a snapshot is at the current revision, and no other. */
function checkSnapshotRevision(description: string, current: number, wanted: number | undefined): void {
  if (wanted === undefined || wanted === current) return
  if (wanted > current) {
    throw new InvalidInputError(`${description}: revision ${wanted} is after the current revision ${current}`, {field: 'revision'})
  }
  throw new CompactedError(
    `${description}: cannot read at revision ${wanted}: SQLite keeps no history, only the current revision ${current}`,
    wanted,
  )
}

/** Opens (creating if needed) the SQLite store at `options.path`. */
export async function openSqliteStore(options: SqliteStoreOptions): Promise<Store> {
  const {path, timeoutMs} = options
  const memory = path === ':memory:'
  if (options.readOnly && !memory) return openReadOnly(options)
  if (!memory) {
    // Create the file ourselves, so that it (and the -wal/-shm files SQLite derives from it) is 0600.
    try {
      closeSync(openSync(path, 'wx', 0o600))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw mapError(path, error)
    }
  }
  const {default: DatabaseClass} = await import('better-sqlite3')
  let db: Database
  try {
    db = new DatabaseClass(path, {timeout: Math.min(timeoutMs, MAX_BUSY_TIMEOUT_MS)})
  } catch (error) {
    throw mapError(path, error)
  }
  try {
    await retryBusy(path, 'opening it', timeoutMs, () => {
      try {
        initialize(db, path)
      } catch (error) {
        throw mapError(path, error)
      }
    })
    return new SqliteStore(DatabaseClass, db, memory ? ':memory:' : path, timeoutMs, false, options.keepTombstones)
  } catch (error) {
    db.close()
    throw error
  }
}

function initialize(db: Database, path: string): void {
  // A no-op when the file is already in WAL mode (persistent); in-memory databases stay "memory".
  if (!db.memory && db.pragma('journal_mode', {simple: true}) !== 'wal') db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  const version = db.pragma('user_version', {simple: true}) as number
  if (version === SCHEMA_VERSION) return
  if (version > SCHEMA_VERSION) {
    throw registryError(path, `written by a newer roster (schema ${version}, this one knows ${SCHEMA_VERSION}); upgrade roster`)
  }
  db.transaction(() => {
    const current = db.pragma('user_version', {simple: true}) as number
    if (current === SCHEMA_VERSION) return
    const tables = db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table'").pluck().get() as number
    if (current === 0 && tables > 0) {
      throw registryError(path, 'a SQLite database, but not a roster registry; choose another registry')
    }
    // A new file, or one of schema 1: the statements only add what is missing.
    db.exec(SCHEMA)
    db.pragma(`user_version = ${SCHEMA_VERSION}`)
  }).immediate()
}

/** An empty registry that refuses writes: what a read-only command sees before the file exists. */
function emptyDatabase(DatabaseClass: typeof BetterSqlite3): Database {
  const db = new DatabaseClass(':memory:')
  db.exec(SCHEMA)
  db.pragma(`user_version = ${SCHEMA_VERSION}`)
  db.pragma('query_only = 1')
  return db
}

/** See "Read-only opening" in the header. */
async function openReadOnly(options: SqliteStoreOptions): Promise<Store> {
  const {path, timeoutMs} = options
  const {default: DatabaseClass} = await import('better-sqlite3')
  let exists = true
  try {
    statSync(path)
  } catch (error) {
    if (errnoOf(error) !== 'ENOENT') throw mapError(path, error, true)
    exists = false
  }
  if (!exists) {
    let dirExists = true
    try {
      dirExists = statSync(dirname(path)).isDirectory()
    } catch (error) {
      if (errnoOf(error) !== 'ENOENT') throw mapError(path, error, true)
      dirExists = false
    }
    if (!dirExists && !options.missingDirectoryIsEmpty) {
      throw registryError(path, `the directory does not exist (${dirname(path)}); create it or choose another registry`)
    }
    return new SqliteStore(DatabaseClass, emptyDatabase(DatabaseClass), path, timeoutMs, true)
  }
  let db: Database | undefined
  try {
    db = new DatabaseClass(path, {readonly: true, fileMustExist: true, timeout: Math.min(timeoutMs, MAX_BUSY_TIMEOUT_MS)})
    const opened = db
    const empty = await retryBusy(path, 'reading it', timeoutMs, () => checkReadOnly(opened, path))
    if (empty) {
      db.close()
      return new SqliteStore(DatabaseClass, emptyDatabase(DatabaseClass), path, timeoutMs, true)
    }
    return new SqliteStore(DatabaseClass, db, path, timeoutMs, true)
  } catch (error) {
    if (db?.open) db.close()
    const code = sqliteCode(error) ?? ''
    if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_CANTOPEN')) {
      const snapshot = readSnapshot(path, error)
      if (snapshot) {
        const copy = new DatabaseClass(snapshot, {readonly: true})
        try {
          if (checkReadOnly(copy, path)) {
            copy.close()
            return new SqliteStore(DatabaseClass, emptyDatabase(DatabaseClass), path, timeoutMs, true)
          }
        } catch (e) {
          copy.close()
          throw mapError(path, e, true)
        }
        return new SqliteStore(DatabaseClass, copy, path, timeoutMs, true)
      }
    }
    throw mapError(path, error, true)
  }
}

/**
 * The file's bytes, as a rollback-journal database, when SQLite cannot open the WAL file
 * read-only (no -shm, and no right to create one) and no -wal file holds newer pages; otherwise
 * undefined (the caller reports the first error).
 */
function readSnapshot(path: string, error: unknown): Buffer | undefined {
  try {
    accessSync(path, fsConstants.R_OK)
  } catch {
    return undefined
  }
  let walSize = 0
  try {
    walSize = statSync(`${path}-wal`).size
  } catch {
    walSize = 0
  }
  if (walSize > 0) {
    throw notAllowed(
      path,
      `not allowed to create ${path}-shm in ${dirname(path)}, which SQLite needs to read the changes ${path}-wal holds (${(error as Error).message})`,
      error,
    )
  }
  let bytes: Buffer
  try {
    bytes = readFileSync(path)
  } catch {
    return undefined
  }
  // Bytes 18 and 19 of the header are 2 in WAL mode; 1 (legacy) lets SQLite read the copy alone.
  if (bytes.length >= 100 && bytes[18] === 2 && bytes[19] === 2) {
    bytes[18] = 1
    bytes[19] = 1
  }
  return bytes
}

/** Checks a read-only database: true when it holds no roster schema yet (an empty file). */
function checkReadOnly(db: Database, path: string): boolean {
  const version = db.pragma('user_version', {simple: true}) as number
  if (version > SCHEMA_VERSION) {
    throw registryError(path, `written by a newer roster (schema ${version}, this one knows ${SCHEMA_VERSION}); upgrade roster`)
  }
  const tables = db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table'").pluck().get() as number
  if (version === 0) {
    if (tables > 0) throw registryError(path, 'a SQLite database, but not a roster registry; choose another registry')
    return true
  }
  db.prepare("SELECT value FROM meta WHERE name = 'revision'").pluck().get()
  return false
}
