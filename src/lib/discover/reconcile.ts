/**
 * One reconcile of `kube discover`: read the roster namespace's services, plan (pure), then write
 * in batches through the RegistryClient (local or a remote `roster serve`): upserts as imports of
 * up to IMPORT_CHUNK entries (each is written in store transactions of up to 128), removals as
 * unregister calls of up to UNREGISTER_CHUNK service IDs. Each pod has its own labels (pod, node),
 * so upserts go through `importServices` (one entry per service, batched) rather than
 * `registerServices` (one label set per call).
 */
import {NotFoundError} from '../errors.js'
import type {RegistryClient} from '../registry/registry-client.js'
import type {Service} from '../registry/model.js'
import {planDiscovery, type DesiredService, type PlanIssue, type PlanOptions} from './plan.js'
import type {PodTarget} from './pods.js'

/** Entries per import call, and their JSON size: well under the 1 MiB request limit of `roster serve`. */
export const IMPORT_CHUNK = 1000
export const IMPORT_CHUNK_BYTES = 512 * 1024
export const UNREGISTER_CHUNK = 1000

export interface ReconcileOptions extends PlanOptions {
  /** The roster namespace the services live in. */
  namespace: string
  dryRun?: boolean
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
  /** Registry write calls made (imports + unregisters). */
  writeCalls: number
  dryRun: boolean
}

export async function requireNamespace(registry: RegistryClient, namespace: string): Promise<void> {
  if (!(await registry.getNamespace(namespace)))
    throw new NotFoundError(`namespace "${namespace}" is not registered; register it first (roster namespace register ${namespace})`)
}

export async function reconcile(registry: RegistryClient, targets: readonly PodTarget[], o: ReconcileOptions): Promise<ReconcileResult> {
  const current: Service[] = []
  for await (const s of registry.listServices({namespace: o.namespace})) current.push(s)
  const plan = planDiscovery(targets, current, o)
  const result: ReconcileResult = {
    namespace: o.namespace,
    pods: targets.length,
    desired: plan.desired,
    owned: plan.owned,
    created: 0,
    updated: 0,
    unchanged: plan.unchanged,
    removed: 0,
    conflicts: plan.conflicts,
    skipped: plan.skipped,
    writeCalls: 0,
    dryRun: o.dryRun === true,
  }
  if (o.dryRun) {
    const existing = new Set(current.map((s) => s.endpoint))
    for (const d of plan.upsert) {
      if (existing.has(d.endpoint)) result.updated++
      else result.created++
    }
    result.removed = plan.remove.length
    return result
  }
  for (const entries of importChunks(plan.upsert, o.namespace)) {
    const r = await registry.importServices({services: entries}, 'kube discover')
    result.writeCalls++
    result.created += r.created
    result.updated += r.updated
    result.unchanged += r.unchanged
  }
  for (let i = 0; i < plan.remove.length; i += UNREGISTER_CHUNK) {
    const ids = plan.remove.slice(i, i + UNREGISTER_CHUNK).map((s) => s.id)
    const r = await registry.unregisterServices(ids, o.namespace)
    result.writeCalls++
    result.removed += r.removed.length
  }
  return result
}

/** Import entries in chunks of at most IMPORT_CHUNK entries and about IMPORT_CHUNK_BYTES of JSON. */
function* importChunks(upsert: readonly DesiredService[], namespace: string): Generator<object[]> {
  let chunk: object[] = []
  let bytes = 0
  for (const d of upsert) {
    const entry = {name: d.name, endpoints: [d.endpoint], namespace, labels: d.labels, description: d.description}
    const size = JSON.stringify(entry).length + 1
    if (chunk.length > 0 && (chunk.length >= IMPORT_CHUNK || bytes + size > IMPORT_CHUNK_BYTES)) {
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
  ]
    .filter(Boolean)
    .join(', ')
  return `${what}: ${r.pods} target pods → ${r.created} created, ${r.updated} updated, ${r.unchanged} unchanged, ${r.removed} removed in namespace "${r.namespace}"${extra ? `; ${extra}` : ''}.`
}
