/**
 * The store seam: a key-value store with revisions, on etcd's model. Two backends implement it
 * (sqlite: the embedded default; etcd: for a fleet) and pass one shared test suite
 * (test/support/store-suite.ts). The registry is written once, above this interface.
 *
 * Keys are logical ("servers/prom1"); a backend may add its own prefix (etcd: `/roster/`).
 * Revisions are store-wide and increase with every successful write transaction, as in etcd.
 */
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

export interface RangeOptions {
  /** Page size; backends cap it. Default 1000. */
  pageSize?: number
}

export type WatchEvent = {type: 'put'; kv: KeyValue} | {type: 'delete'; key: string; modRevision: number}

export interface Watch {
  close(): Promise<void>
}

/** The most operations one transaction holds (etcd's default --max-txn-ops is 128). */
export const MAX_TXN_OPS = 128

export interface Store {
  /** A name for messages: "sqlite:/path" or "etcd://h1:2379". Never contains credentials. */
  readonly description: string
  get(key: string): Promise<KeyValue | undefined>
  /**
   * Every key under `prefix`, in key order, page by page. Backends never read a prefix in one
   * unbounded request; all pages are read at the revision of the first.
   */
  range(prefix: string, options?: RangeOptions): AsyncIterable<RangePage>
  /**
   * Atomically: if every compare holds, apply `success`; otherwise apply nothing.
   * At most MAX_TXN_OPS operations (compares and operations counted separately, as etcd does).
   */
  txn(compares: Compare[], success: Operation[]): Promise<TxnResult>
  /** Optional: events under `prefix` after `fromRevision`. */
  watch?(prefix: string, fromRevision: number, onEvent: (event: WatchEvent) => void): Promise<Watch>
  /** Release connections, watchers and leases, so that the process can exit. */
  close(): Promise<void>
}

/** Collects a whole prefix; for small prefixes (servers, namespaces), never services at scale. */
export async function rangeAll(store: Store, prefix: string, options?: RangeOptions): Promise<KeyValue[]> {
  const all: KeyValue[] = []
  for await (const page of store.range(prefix, options)) all.push(...page.kvs)
  return all
}
