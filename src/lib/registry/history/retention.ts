/**
 * History retention: the registry setting `history-retention` (default 30d: DEFAULT_SETTINGS), enforced as writes
 * happen. After a write that recorded an event, the registry deletes the events older than the
 * retention from the front of the history (its keys sort by time): one range of at most
 * SWEEP_MAX_BATCHES × MAX_TXN_OPS keys, deleted MAX_TXN_OPS a transaction, then it rests
 * SWEEP_INTERVAL_MS (by the registry's clock) unless it left expired events behind.
 *
 * Why not an etcd lease: SQLite has none (the store seam would need one on both backends), a
 * lease fixes an event's lifetime when it is written (a changed retention would not reach the
 * events already there), and a lease per event or per time bucket is state etcd keeps for every
 * one of them. Deleting by key range costs one bounded range read per sweep, the same on both stores.
 */
import {parseDuration} from '../../config/duration.js'
import {MAX_TXN_OPS, PAGE_BYTES, type Store} from '../../store/store.js'
import type {RegistryContext} from '../context.js'
import {SETTINGS_KEY} from '../keys.js'
import {DEFAULT_SETTINGS, settingsOf} from '../topology.js'
import {HISTORY_PREFIX, historyTimeKey} from './event.js'

/** Transactions of deletes one sweep sends at most. */
export const SWEEP_MAX_BATCHES = 8
/** The characters of expired events one sweep reads at most: two pages' worth. */
const SWEEP_MAX_BYTES = 2 * PAGE_BYTES
/** How long a sweep that left nothing expired behind rests. */
export const SWEEP_INTERVAL_MS = 60_000

/** What the registries of one process share about their history (serve makes one registry per caller). */
export interface HistoryState {
  /** Events recorded by this process: a write that recorded one is followed by a sweep. */
  written: number
  /** The registry clock's time (epoch ms) before which no sweep runs. */
  nextSweepAt: number
  /** The sweep under way, if any: one at a time. */
  sweeping?: Promise<number>
}

export function newHistoryState(): HistoryState {
  return {written: 0, nextSweepAt: 0}
}

/** The retention as typed (`30d`, `12h`) → milliseconds, in the one duration grammar and range; InvalidInputError naming `field`. */
export function parseRetention(value: unknown, field = 'history-retention'): number {
  return parseDuration(value, field)
}

/** The retention as stored: the text typed, checked. */
export function validateRetention(value: unknown): string {
  parseRetention(value)
  return String(value).trim()
}

/**
 * Deletes events older than the retention, bounded (see the file header). Returns how many it
 * deleted. Runs at most once at a time per process, and not before `nextSweepAt`.
 */
export function sweepHistory(ctx: RegistryContext): Promise<number> {
  const state = ctx.history
  if (state.sweeping) return state.sweeping
  if (ctx.now().getTime() < state.nextSweepAt) return Promise.resolve(0)
  state.sweeping = sweep(ctx).finally(() => (state.sweeping = undefined))
  return state.sweeping
}

/** The first history key the retention keeps at `now`: every key before it has expired. */
export async function retentionStart(store: Store, now: Date): Promise<string> {
  const settings = settingsOf(await store.get(SETTINGS_KEY))
  return historyTimeKey(new Date(now.getTime() - parseRetention(settings.historyRetention ?? DEFAULT_SETTINGS.historyRetention)))
}

async function sweep(ctx: RegistryContext): Promise<number> {
  const now = ctx.now().getTime()
  const end = await retentionStart(ctx.store, new Date(now))
  // One range for the whole bound: etcd counts every key of a range's span (here: every expired
  // record) to answer it, so reading the bound a transaction's worth at a time would pay that count
  // once per transaction.
  // A page may hold fewer keys than asked for (etcd sizes pages by bytes), so the bounds are
  // counted here: keys, and bytes read (events are large). Only a range that ended within them
  // means nothing expired is left.
  const limit = SWEEP_MAX_BATCHES * MAX_TXN_OPS
  const keys: string[] = []
  let bytes = 0
  let left = false
  for await (const page of ctx.store.range(HISTORY_PREFIX, {end, pageSize: limit})) {
    for (const kv of page.kvs.slice(0, limit - keys.length)) {
      keys.push(kv.key)
      bytes += kv.value.length
    }
    left = keys.length >= limit || bytes >= SWEEP_MAX_BYTES
    if (left) break
  }
  for (let i = 0; i < keys.length; i += MAX_TXN_OPS)
    await ctx.store.txn(
      [],
      keys.slice(i, i + MAX_TXN_OPS).map((key) => ({type: 'delete', key})),
    )
  if (!left) {
    ctx.history.nextSweepAt = now + SWEEP_INTERVAL_MS
    return keys.length
  }
  // Expired events are left: the next write sweeps again.
  ctx.history.nextSweepAt = now
  return keys.length
}
