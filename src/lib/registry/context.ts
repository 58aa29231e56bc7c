/**
 * What every registry module shares: the store, the clock, the page size, the one
 * compare-and-swap loop, and reading, comparing and deleting stored JSON records.
 */
import {type Retry, compareAndSwap} from '../store/cas.js'
import {type KeyValue, MAX_TXN_OPS, type Store} from '../store/store.js'
import {sameServers} from './distribution.js'
import type {Service} from './model.js'

export interface RegistryContext {
  readonly store: Store
  /** Page size for ranges over services. */
  readonly pageSize: number
  /** The registry's clock, as an RFC 3339 timestamp. */
  timestamp(): string
  now(): Date
  /** Runs one compare-and-swap step until it does not return RETRY (see store/cas.ts). */
  cas<T>(what: string, step: (attempt: number) => Promise<T | Retry>): Promise<T>
}

export function createContext(store: Store, o: {now: () => Date; maxAttempts: number; pageSize: number}): RegistryContext {
  return {
    store,
    pageSize: o.pageSize,
    now: o.now,
    timestamp: () => o.now().toISOString(),
    cas: (what, step) => compareAndSwap(step, {what, maxAttempts: o.maxAttempts}),
  }
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
 * Deletes keys unconditionally, MAX_TXN_OPS per transaction: a delete has nothing to compare (a
 * key already gone is fine), so it never conflicts and needs no retry. Returns how many it sent.
 */
export async function deleteKeys(store: Store, keys: readonly string[]): Promise<number> {
  for (let i = 0; i < keys.length; i += MAX_TXN_OPS) {
    const chunk = keys.slice(i, i + MAX_TXN_OPS)
    await store.txn(
      [],
      chunk.map((key) => ({type: 'delete', key})),
    )
  }
  return keys.length
}
