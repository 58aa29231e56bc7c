/**
 * How service writes are cut into transactions: at most MAX_TXN_OPS compares and a budget of
 * bytes well under the store's request limit.
 */
import {MAX_TXN_OPS} from '../store/store.js'
import type {ServiceSpec} from './types.js'

/** A batch's budget of value bytes, well under the store's MAX_TXN_BYTES (etcd's 1.5 MiB request limit). */
export const BATCH_BYTES = 1_000_000

/**
 * A service's share of its batch's bytes, as a multiple of its estimated record: the record, and
 * its history event, which holds every field twice at most (before and after).
 */
const BYTES_PER_SPEC = 3

/**
 * The limits of one service batch: at most MAX_TXN_OPS compares (topology + namespaces +
 * services; so at most MAX_TXN_OPS - 2 puts in one namespace, which leaves room among the
 * operations for the batch's one history record) and BATCH_BYTES of records and history.
 */
export class BatchBudget {
  private namespaces = new Set<string>()
  private count = 0
  private bytes = 0

  fits(spec: ServiceSpec): boolean {
    if (this.count === 0) return true
    const extraNs = this.namespaces.has(spec.namespace) ? 0 : 1
    return 1 + this.namespaces.size + extraNs + this.count + 1 <= MAX_TXN_OPS && this.bytes + estimateBytes(spec) <= BATCH_BYTES
  }

  add(spec: ServiceSpec): void {
    this.namespaces.add(spec.namespace)
    this.count++
    this.bytes += estimateBytes(spec)
  }

  reset(): void {
    this.namespaces = new Set()
    this.count = 0
    this.bytes = 0
  }
}

/** Splits specs into batches within BatchBudget's limits. */
export function* chunkSpecs(specs: ServiceSpec[]): Generator<ServiceSpec[]> {
  let chunk: ServiceSpec[] = []
  const budget = new BatchBudget()
  for (const spec of specs) {
    if (!budget.fits(spec)) {
      yield chunk
      chunk = []
      budget.reset()
    }
    budget.add(spec)
    chunk.push(spec)
  }
  if (chunk.length > 0) yield chunk
}

function estimateBytes(spec: ServiceSpec): number {
  let n = 512 + spec.endpoint.length * 2 + spec.name.length + spec.description.length * 2 + spec.selector.length
  for (const [k, v] of Object.entries(spec.labels)) n += k.length + v.length + 8
  return n * BYTES_PER_SPEC
}
