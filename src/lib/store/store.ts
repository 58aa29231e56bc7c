/**
 * The store seam: a key-value store with revisions, on etcd's model. Two backends implement it
 * (sqlite: the embedded default; etcd: for a fleet) and pass one shared test suite
 * (test/support/store-suite.ts). The registry is written once, above this interface.
 *
 * Keys are logical ("servers/prom1"); a backend may add its own prefix (etcd: `/roster/`).
 * Revisions are store-wide and increase with every successful write transaction, as in etcd.
 */
import {BackendUnavailableError, InvalidInputError} from '../errors.js'

export interface KeyValue {
  key: string
  value: string
  /** Revision of the write that created the key. */
  createRevision: number
  /** Revision of the last write to the key. */
  modRevision: number
  /** Number of writes since the key was created (1 after creation). */
  version: number
}

/**
 * A condition of a transaction: the key's mod revision equals `modRevision`. A `modRevision` of
 * 0 means "the key does not exist" (etcd: compare create revision = 0).
 */
export interface Compare {
  key: string
  modRevision: number
}

export type Operation = {type: 'put'; key: string; value: string} | {type: 'delete'; key: string}

export interface TxnResult {
  succeeded: boolean
  /** The store revision after the transaction (the revision read, when it did not succeed). */
  revision: number
}

export interface RangePage {
  kvs: KeyValue[]
  /** Revision the page was read at. All pages of one `range()` are read at the same revision. */
  revision: number
}

/**
 * What a page of a range may weigh (keys and values): half of etcd's 4 MiB gRPC response limit,
 * so that a page whose records run larger than the previous page's still arrives. etcd's pages
 * after the first ask for as many keys as fit, judged from the bytes per key of the page before.
 */
export const PAGE_BYTES = 2 * 1024 * 1024

/** Keys a page of a range holds when the caller names no size, and the most a caller may ask for. */
export const DEFAULT_PAGE_SIZE = 1000
export const MAX_PAGE_SIZE = 10_000

/** The keys a page may hold: the caller's page size (DEFAULT_PAGE_SIZE without one), within 1 and MAX_PAGE_SIZE. */
export function pageSizeOf(options: RangeOptions | undefined): number {
  return Math.max(1, Math.min(MAX_PAGE_SIZE, Math.floor(options?.pageSize ?? DEFAULT_PAGE_SIZE)))
}

export interface RangeOptions {
  /** Keys a page holds at most (pageSizeOf); a backend may hand fewer (etcd sizes its pages by bytes). */
  pageSize?: number
  /** Only the keys from this one on (default: from the prefix). */
  start?: string
  /** Only the keys before this one (default: to the end of the prefix). */
  end?: string
  /**
   * Leaves out the keys under this longer prefix: the rest is read in two spans at one revision
   * (serve's view lists the whole store but the history).
   */
  skip?: string
}

/** One stretch of keys a range reads: from `from` (inclusive) to `to` (exclusive; undefined: the end of the key space). */
export interface KeySpan {
  from: string
  to?: string
}

/** Orders keys as both backends do: by UTF-8 bytes. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}

/**
 * The least string greater than every string that starts with `prefix` (code-point order, which
 * is UTF-8 byte order), or undefined when there is none (empty prefix, or only U+10FFFF).
 */
export function prefixUpperBound(prefix: string): string | undefined {
  const points = Array.from(prefix)
  while (points.length > 0) {
    const last = points.pop()!.codePointAt(0)!
    let next = last + 1
    if (next === 0xd800) next = 0xe000 // skip the surrogates: no string holds them
    if (next <= 0x10ffff) return points.join('') + String.fromCodePoint(next)
  }
  return undefined
}

/** The spans, in key order, that `range(prefix, options)` reads: none, one, or two around `skip`. */
export function rangeSpans(prefix: string, options: RangeOptions = {}): KeySpan[] {
  const min = (a: string | undefined, b: string | undefined): string | undefined =>
    a === undefined ? b : b === undefined ? a : compareKeys(a, b) <= 0 ? a : b
  const from = options.start !== undefined && compareKeys(options.start, prefix) > 0 ? options.start : prefix
  const to = min(prefixUpperBound(prefix), options.end)
  const spans: KeySpan[] = []
  const add = (a: string, b: string | undefined): void => {
    if (b === undefined || compareKeys(a, b) < 0) spans.push(b === undefined ? {from: a} : {from: a, to: b})
  }
  if (options.skip === undefined || !options.skip.startsWith(prefix)) {
    add(from, to)
    return spans
  }
  add(from, min(to, options.skip))
  const afterSkip = prefixUpperBound(options.skip)
  if (afterSkip !== undefined) add(compareKeys(afterSkip, from) > 0 ? afterSkip : from, to)
  return spans
}

/**
 * The whole store as it was at one revision, for reads that must agree with each other across
 * prefixes and passes: a backup counts every kind of record, then reads them, all at one
 * revision. SQLite: one read transaction on a connection of its own, held until close() (writers
 * go on meanwhile; the WAL keeps the pages the snapshot reads, so close it soon); etcd: every
 * range at the snapshot's revision, until etcd compacts it (then CompactedError).
 */
export interface Snapshot {
  readonly revision: number
  /** Every key under `prefix` at the snapshot's revision, in key order, page by page (as Store.range). */
  range(prefix: string, options?: RangeOptions): AsyncIterable<RangePage>
  /** How many keys are under `prefix` at the snapshot's revision. */
  count(prefix: string): Promise<number>
  /** Releases the snapshot; its ranges then fail. Idempotent. */
  close(): Promise<void>
}

/**
 * A change under a watched prefix. Every event carries the revision of the write that made it.
 * A watch may coalesce the puts to one key between two of its reads into the last one (SQLite
 * does; etcd sends each), so a consumer applies events as "the key is now this", never "add one".
 */
export type WatchEvent = {type: 'put'; kv: KeyValue} | {type: 'delete'; key: string; modRevision: number}

export interface Watch {
  /**
   * Resolves when the watch ends by itself, with why: a CompactedError when the history it had to
   * replay is gone, another error when the backend broke it off. A watch that ended delivers no
   * more events; its follower lists again (follower.ts). Resolves with undefined after close().
   */
  readonly ended: Promise<Error | undefined>
  /**
   * The store revision up to which this watch has delivered every event under its prefix, and
   * when it last confirmed that (epoch ms): SQLite at every poll, etcd with every response of
   * the watch stream (events and etcd's progress notifications).
   */
  progress(): {revision: number; confirmedAt: number}
  /**
   * Resolves once the events committed before the call are delivered, as far as the backend can
   * make sure without waiting: SQLite reads the changes at once instead of at its next poll;
   * etcd has already pushed them down the watch stream, so it resolves at once.
   */
  sync(): Promise<void>
  /** Stops the events (none is delivered after it resolves) and releases the watch. */
  close(): Promise<void>
}

/**
 * A watch from a revision whose history the store no longer keeps (etcd: ErrCompacted, "mvcc:
 * required revision has been compacted"; SQLite: older than the kept tombstones), and a range at
 * such a revision. Retryable: list again at the current revision, then watch from there.
 */
export class CompactedError extends BackendUnavailableError {
  override readonly code: string = 'compacted'
  constructor(
    message: string,
    /** The revision asked for, whose history is gone. */
    readonly revision: number,
    options?: {cause?: unknown},
  ) {
    super(message, options)
  }
}

/** The most operations one transaction holds (etcd's default max-txn-ops is 128). */
export const MAX_TXN_OPS = 128

/**
 * The largest transaction, counted as `txnSizeBytes` counts it: etcd refuses a request over its
 * default max-request-bytes of 1.5 MiB (1,572,864), so both backends refuse a transaction over
 * this smaller figure, and a caller splits batches by it.
 */
export const MAX_TXN_BYTES = 1_500_000

/** Per-operation overhead of the etcd request encoding, generously counted. */
const TXN_OP_OVERHEAD_BYTES = 32

/**
 * The size a transaction counts against MAX_TXN_BYTES: UTF-8 bytes of keys (plus the backend's
 * key prefix) and values, plus a fixed overhead per compare and operation.
 */
export function txnSizeBytes(compares: Compare[], success: Operation[], keyPrefixBytes = 0): number {
  let size = 0
  for (const c of compares) size += keyPrefixBytes + Buffer.byteLength(c.key) + TXN_OP_OVERHEAD_BYTES
  for (const op of success) {
    size += keyPrefixBytes + Buffer.byteLength(op.key) + TXN_OP_OVERHEAD_BYTES
    if (op.type === 'put') size += Buffer.byteLength(op.value)
  }
  return size
}

/**
 * The checks both backends make before a transaction, so that a caller that passes on SQLite
 * passes on etcd: at most MAX_TXN_OPS compares and MAX_TXN_OPS operations, no key twice among
 * the operations (etcd refuses it), no empty key, at most MAX_TXN_BYTES. These are programming
 * errors of the caller (the registry splits its batches), thrown as InvalidInputError (field "txn").
 */
export function checkTxnLimits(compares: Compare[], success: Operation[], keyPrefixBytes = 0): void {
  if (compares.length > MAX_TXN_OPS || success.length > MAX_TXN_OPS) {
    throw new InvalidInputError(
      `txn: ${Math.max(compares.length, success.length)} operations in one transaction, at most ${MAX_TXN_OPS} allowed (split the batch)`,
      {field: 'txn'},
    )
  }
  const seen = new Set<string>()
  for (const op of success) {
    if (op.key === '') throw new InvalidInputError('txn: empty key', {field: 'txn'})
    if (seen.has(op.key)) {
      throw new InvalidInputError(`txn: key ${JSON.stringify(op.key)} written twice in one transaction`, {field: 'txn'})
    }
    seen.add(op.key)
  }
  for (const c of compares) {
    if (c.key === '') throw new InvalidInputError('txn: empty key in a compare', {field: 'txn'})
    if (!Number.isSafeInteger(c.modRevision) || c.modRevision < 0) {
      throw new InvalidInputError(`txn: compare on ${JSON.stringify(c.key)} has invalid modRevision ${c.modRevision}`, {field: 'txn'})
    }
  }
  const size = txnSizeBytes(compares, success, keyPrefixBytes)
  if (size > MAX_TXN_BYTES) {
    throw new InvalidInputError(
      `txn: transaction of ${size} bytes exceeds the ${MAX_TXN_BYTES}-byte limit (etcd's request limit is 1.5 MiB; split the batch or shorten the values)`,
      {field: 'txn'},
    )
  }
}

export interface Store {
  /** A name for messages: "sqlite:/path" or "etcd://h1:2379". Never contains credentials. */
  readonly description: string
  get(key: string): Promise<KeyValue | undefined>
  /**
   * Each of `keys` (index-aligned; undefined: absent), read in as few requests as the backend
   * allows: etcd, one read-only transaction per MAX_TXN_OPS keys (each at its own revision, as
   * that many gets would be); SQLite, one read transaction. For a bulk write that must learn the
   * state of its own keys without reading everything around them.
   */
  getMany(keys: readonly string[]): Promise<(KeyValue | undefined)[]>
  /**
   * Every key under `prefix` (within `start`, `end` and `skip`: rangeSpans), in key order, page by
   * page. Backends never read a prefix in one unbounded request; all pages are read at the
   * revision of the first. At least one page comes, empty for an empty prefix, so the caller always
   * learns the revision it read at.
   */
  range(prefix: string, options?: RangeOptions): AsyncIterable<RangePage>
  /**
   * A snapshot at the current revision, or at `revision` where the backend keeps history (etcd,
   * until compaction). A revision the store cannot read at (compacted, or on SQLite any but the
   * current one, since it keeps no history) is a CompactedError; a future one an InvalidInputError.
   * The caller must close() it.
   */
  snapshot(revision?: number): Promise<Snapshot>
  /**
   * Atomically: if every compare holds, apply `success`; otherwise apply nothing.
   * At most MAX_TXN_OPS operations (compares and operations counted separately, as etcd does).
   */
  txn(compares: Compare[], success: Operation[]): Promise<TxnResult>
  /**
   * Calls `onEvent` with every change under `prefix` after `fromRevision`, in revision order,
   * first those already made (replayed from the store's history), then each new one, until
   * close() or until the watch ends by itself (`Watch.ended`: a CompactedError when
   * `fromRevision` is older than the history kept). Consumers do not call it directly: the one
   * follower (follower.ts) lists, watches and lists again when a watch ends.
   */
  watch(prefix: string, fromRevision: number, onEvent: (event: WatchEvent) => void): Promise<Watch>
  /** Release connections, watchers and leases, so that the process can exit. */
  close(): Promise<void>
}

/** The store revision now (one read of at most one key). */
export async function storeRevision(store: Store): Promise<number> {
  for await (const page of store.range('', {pageSize: 1})) return page.revision
  return 0
}

/** Collects a whole prefix; for small prefixes (servers, namespaces), never services at scale. */
export async function rangeAll(store: Store, prefix: string, options?: RangeOptions): Promise<KeyValue[]> {
  const all: KeyValue[] = []
  for await (const page of store.range(prefix, options)) all.push(...page.kvs)
  return all
}
