/**
 * One reconcile of `kube discover`: read the roster namespace's services, plan (pure), then write
 * in batches through the RegistryClient (local or a remote `roster serve`): upserts as imports of
 * up to MAX_CONDITIONAL_SERVICES entries, removals as unregister calls of as many service IDs.
 * Each pod has its own labels (pod, node), so upserts go through `importServices` (one entry per
 * service, batched) rather than `registerServices` (one label set per call).
 *
 * Every write is conditional on what the plan read: a new service only if still absent, an owned
 * one only at the revision it was read at. A service registered by hand (or changed in any way)
 * between the read and the write makes that call fail with nothing written (412); the reconcile
 * then reads and plans again, where the service is no longer ours: left alone, reported as a
 * conflict. Calls already made stay made (each is whole), and come out unchanged in the new plan.
 */
import {NotFoundError, PreconditionFailedError} from '../errors.js'
import type {RegistryClient} from '../registry/registry-client.js'
import type {Revisioned, Service} from '../registry/model.js'
import {MAX_CONDITIONAL_SERVICES} from '../registry/revisions.js'
import {RETRY, compareAndSwap} from '../store/cas.js'
import {planDiscovery, type DiscoveryPlan, type PlanIssue, type PlanOptions} from './plan.js'
import type {PodTarget} from './pods.js'

/** The JSON size of one import call's entries: well under the 1 MiB request limit of `roster serve`. */
export const IMPORT_CHUNK_BYTES = 512 * 1024
/** Reads and plans of one reconcile, when services keep moving under it, before it gives up (exit 6). */
export const MAX_PLANS = 5

export interface ReconcileOptions extends PlanOptions {
  /** The roster namespace the services live in. */
  namespace: string
  dryRun?: boolean
  /**
   * Test seam, never set by a command: awaited after the services are read and the plan made,
   * before the first write (at every plan), so that a test can change the registry in that window.
   */
  beforeWrite?: () => Promise<void>
}

export interface ReconcileResult {
  namespace: string
  /** Target pods seen (ready, annotated). */
  pods: number
  desired: number
  owned: number
  created: number
  updated: number
  unchanged: number
  removed: number
  conflicts: PlanIssue[]
  skipped: PlanIssue[]
  /** Registry write calls made (imports + unregisters), refused ones included. */
  writeCalls: number
  /** Times a write was refused because a service moved after it was read, and the reconcile read and planned again. */
  replanned: number
  dryRun: boolean
}

export async function requireNamespace(registry: RegistryClient, namespace: string): Promise<void> {
  if (!(await registry.getNamespace(namespace)))
    throw new NotFoundError(`namespace "${namespace}" is not registered; register it first (roster namespace register ${namespace})`)
}

export async function reconcile(registry: RegistryClient, targets: readonly PodTarget[], o: ReconcileOptions): Promise<ReconcileResult> {
  const total: Writes = {created: 0, updated: 0, unchanged: 0, removed: 0, calls: 0}
  // Services created or updated by plans refused part-way: the next plan finds them unchanged.
  let writtenBefore = 0
  let replanned = 0
  const {plan, current, writes} = await compareAndSwap(
    async (attempt) => {
      if (attempt > 1) replanned++
      const current: Revisioned<Service>[] = []
      for await (const s of registry.listServices({namespace: o.namespace})) current.push(s)
      const plan = planDiscovery(targets, current, o)
      const writes: Writes = {created: 0, updated: 0, unchanged: 0, removed: 0, calls: 0}
      if (o.dryRun) return {plan, current, writes}
      await o.beforeWrite?.()
      try {
        await writePlan(registry, plan, o.namespace, writes)
      } catch (error) {
        if (!(error instanceof PreconditionFailedError)) throw error
        addWrites(total, writes)
        writtenBefore += writes.created + writes.updated
        return RETRY
      }
      addWrites(total, writes)
      return {plan, current, writes}
    },
    {what: `kube discover in namespace "${o.namespace}"`, maxAttempts: MAX_PLANS},
  )
  const result: ReconcileResult = {
    namespace: o.namespace,
    pods: targets.length,
    desired: plan.desired,
    owned: plan.owned,
    created: total.created,
    updated: total.updated,
    unchanged: Math.max(0, plan.unchanged + writes.unchanged - writtenBefore),
    removed: total.removed,
    conflicts: plan.conflicts,
    skipped: plan.skipped,
    writeCalls: total.calls,
    replanned,
    dryRun: o.dryRun === true,
  }
  if (o.dryRun) {
    const existing = new Set(current.map((s) => s.endpoint))
    for (const d of plan.upsert) {
      if (existing.has(d.endpoint)) result.updated++
      else result.created++
    }
    result.removed = plan.remove.length
  }
  return result
}

/** What the write calls of one plan did. */
interface Writes {
  created: number
  updated: number
  /** Upserts the registry found already as planned. */
  unchanged: number
  removed: number
  calls: number
}

function addWrites(to: Writes, from: Writes): void {
  to.created += from.created
  to.updated += from.updated
  to.unchanged += from.unchanged
  to.removed += from.removed
  to.calls += from.calls
}

/** Writes a plan's upserts, then its removals, each call conditional on what the plan read; counts into `writes`. */
async function writePlan(registry: RegistryClient, plan: DiscoveryPlan, namespace: string, writes: Writes): Promise<void> {
  for (const entries of importChunks(plan.upsert, namespace)) {
    writes.calls++
    const r = await registry.importServices({services: entries}, 'kube discover')
    writes.created += r.created
    writes.updated += r.updated
    writes.unchanged += r.unchanged
  }
  for (let i = 0; i < plan.remove.length; i += MAX_CONDITIONAL_SERVICES) {
    const chunk = plan.remove.slice(i, i + MAX_CONDITIONAL_SERVICES)
    writes.calls++
    const r = await registry.unregisterServices(
      chunk.map((s) => s.id),
      namespace,
      {expectRevisions: chunk.map((s) => s.revision)},
    )
    writes.removed += r.removed.length
  }
}

/**
 * Import entries, each with the revision it expects, in chunks of at most MAX_CONDITIONAL_SERVICES
 * entries and about IMPORT_CHUNK_BYTES of JSON.
 */
function* importChunks(upsert: DiscoveryPlan['upsert'], namespace: string): Generator<object[]> {
  let chunk: object[] = []
  let bytes = 0
  for (const d of upsert) {
    const entry = {name: d.name, endpoints: [d.endpoint], namespace, labels: d.labels, description: d.description, revision: d.revision}
    const size = JSON.stringify(entry).length + 1
    if (chunk.length > 0 && (chunk.length >= MAX_CONDITIONAL_SERVICES || bytes + size > IMPORT_CHUNK_BYTES)) {
      yield chunk
      chunk = []
      bytes = 0
    }
    chunk.push(entry)
    bytes += size
  }
  if (chunk.length > 0) yield chunk
}

/** One line for people: what the reconcile did. */
export function reconcileLine(r: ReconcileResult): string {
  const what = r.dryRun ? 'Plan' : 'Reconciled'
  const extra = [
    r.conflicts.length > 0 ? `${r.conflicts.length} conflicting (not owned, left alone)` : '',
    r.skipped.length > 0 ? `${r.skipped.length} pods skipped` : '',
    r.replanned > 0 ? `planned again ${r.replanned}× (services changed between read and write)` : '',
  ]
    .filter(Boolean)
    .join(', ')
  return `${what}: ${r.pods} target pods → ${r.created} created, ${r.updated} updated, ${r.unchanged} unchanged, ${r.removed} removed in namespace "${r.namespace}"${extra ? `; ${extra}` : ''}.`
}
