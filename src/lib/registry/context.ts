/**
 * What every registry module shares: the store, the clock, the page size, who is writing (the
 * actor its history records), the one compare-and-swap loop, and reading, comparing and deleting
 * stored JSON records.
 */
import {RETRY, type Retry, compareAndSwap} from '../store/cas.js'
import {type KeyValue, MAX_TXN_OPS, type Store} from '../store/store.js'
import {BATCH_BYTES} from './batches.js'
import {sameServers} from './distribution.js'
import type {Actor, ObjectChange} from './history/event.js'
import {changeBytes, historyOp} from './history/record.js'
import {type HistoryState, sweepHistory} from './history/retention.js'
import type {Service} from './model.js'
import type {Topology} from './topology.js'

export interface RegistryContext {
  readonly store: Store
  /** Page size for ranges over services. */
  readonly pageSize: number
  /** The registry's clock, as an RFC 3339 timestamp. */
  timestamp(): string
  now(): Date
  /**
   * Runs one compare-and-swap step until it does not return RETRY (see store/cas.ts); when the
   * step recorded history, sweeps what is past the retention (history/retention.ts).
   */
  cas<T>(what: string, step: (attempt: number) => Promise<T | Retry>): Promise<T>
  /** Who the writes are recorded as. */
  readonly actor: Actor
  /** Shared by the registries of one process. */
  readonly history: HistoryState
  /** The last topology read, shared by the registries of one process (topology.ts). */
  readonly topology: {last?: Topology}
}

export function createContext(
  store: Store,
  o: {now: () => Date; maxAttempts: number; pageSize: number; actor: Actor; history: HistoryState; topology: {last?: Topology}},
): RegistryContext {
  const ctx: RegistryContext = {
    store,
    pageSize: o.pageSize,
    now: o.now,
    timestamp: () => o.now().toISOString(),
    actor: o.actor,
    history: o.history,
    topology: o.topology,
    cas: async (what, step) => {
      const written = o.history.written
      const result = await compareAndSwap(step, {what, maxAttempts: o.maxAttempts})
      // A failed sweep leaves the events for the next write; the write itself succeeded.
      if (o.history.written !== written) await sweepHistory(ctx).catch(() => 0)
      return result
    },
  }
  return ctx
}

export function parseJson<T>(kv: Pick<KeyValue, 'key' | 'value'>): T {
  try {
    return JSON.parse(kv.value) as T
  } catch (error) {
    throw new Error(`store key "${kv.key}" does not hold valid JSON`, {cause: error})
  }
}

export function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a)
  if (ka.length !== Object.keys(b).length) return false
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && a[k] === b[k])
}

/** Whether two records of a service are the same but for `modified`. */
export function sameService(a: Service, b: Service): boolean {
  return (
    a.id === b.id &&
    a.name === b.name &&
    a.namespace === b.namespace &&
    a.endpoint === b.endpoint &&
    a.selector === b.selector &&
    a.description === b.description &&
    a.expires === b.expires &&
    sameLabels(a.labels, b.labels) &&
    sameServers(a.servers, b.servers)
  )
}

/**
 * Deletes stored records, each compared on its mod revision, with the history of each (`change`
 * of the record as read), MAX_TXN_OPS - 1 keys and BATCH_BYTES of history per transaction. A
 * record that changed since it was read is read again and deleted as it is now; one already
 * gone is left out (another writer deleted it, and recorded that). Returns the records it deleted.
 */
export async function deleteRecords(
  ctx: RegistryContext,
  kvs: readonly KeyValue[],
  change: (kv: KeyValue) => ObjectChange,
): Promise<KeyValue[]> {
  const deleted: KeyValue[] = []
  const described = (kv: KeyValue) => ({kv, change: change(kv)})
  let i = 0
  while (i < kvs.length) {
    let chunk: {kv: KeyValue; change: ObjectChange}[] = []
    let bytes = 0
    for (; i < kvs.length && chunk.length < MAX_TXN_OPS - 1; i++) {
      const item = described(kvs[i]!)
      const size = changeBytes(item.change)
      if (chunk.length > 0 && bytes + size > BATCH_BYTES) break
      chunk.push(item)
      bytes += size
    }
    await ctx.cas(`delete of "${chunk[0]?.kv.key}"`, async (attempt) => {
      if (attempt > 1) {
        const now = await Promise.all(chunk.map(({kv}) => ctx.store.get(kv.key)))
        chunk = now.filter((kv): kv is KeyValue => kv !== undefined).map(described)
      }
      if (chunk.length === 0) return
      const result = await ctx.store.txn(
        chunk.map(({kv}) => ({key: kv.key, modRevision: kv.modRevision})),
        [...chunk.map(({kv}) => ({type: 'delete' as const, key: kv.key})), historyOp(ctx, ...chunk.map((item) => item.change))],
      )
      if (!result.succeeded) return RETRY
      deleted.push(...chunk.map(({kv}) => kv))
    })
  }
  return deleted
}
