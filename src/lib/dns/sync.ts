/**
 * The DNS sync pipeline (external-dns's controller loop, run once): sources → desired endpoints;
 * provider (through the ownership layer) → current records; the pure plan; the safety checks;
 * then, unless it is a dry run, the provider applies. Nothing is written when a source fails,
 * when a check refuses the plan, or under dry-run — enforced here, not left to providers.
 */
import {CommandExitError, ExitCode, RosterError, setting} from '../errors.js'
import {type Changes, type Endpoint, type Provider, type Source, normalizeEndpoint} from './endpoint.js'
import {DEFAULT_MAX_CHANGE_PERCENT, MIN_OWNED_FOR_PERCENT_RULE} from './options.js'
import {OwnershipProvider} from './ownership.js'
import {type PlanConflict, type Policy, calculatePlan, changeCount, domainMatcher} from './plan.js'

/** A plan the safety checks refuse (exit 9); `force` applies it anyway. `rule` names the check. */
export class UnsafePlanError extends CommandExitError {
  constructor(
    message: string,
    readonly rule: 'emptySource' | 'maxChangePercent',
  ) {
    super(message, ExitCode.unsafePlan, 'unsafe_plan')
  }
}

export interface SyncOptions {
  sources: Source[]
  /** The plain provider; the pipeline wraps it in the ownership layer. */
  provider: Provider
  policy: Policy
  ownerId: string
  txtPrefix?: string
  txtSuffix?: string
  domainFilter?: string[]
  excludeDomains?: string[]
  dryRun?: boolean
  /** Default DEFAULT_MAX_CHANGE_PERCENT. */
  maxChangePercent?: number
  force?: boolean
  onProgress?: (done: number, total: number) => void
  /** Called after the plan, before anything is written (for printing the plan first). */
  onPlan?: (plan: {changes: Changes; conflicts: PlanConflict[]}) => void | Promise<void>
}

export interface SyncSummary {
  create: number
  update: number
  delete: number
}

export interface SyncResult {
  changes: Changes
  summary: SyncSummary
  /** True when the provider applied the changes (false under dry-run and when there was nothing to do). */
  applied: boolean
  dryRun: boolean
  /** Records roster wanted but may not touch (owned by another id, or unowned). */
  conflicts: PlanConflict[]
  /** Record sets in scope owned by this owner id before the run. */
  owned: number
  providerCalls: {read: number; write: number}
}

/** Strips labels other than owner/resource from output endpoints; keeps JSON small and stable. */
function publicEndpoint(ep: Endpoint): Endpoint {
  const out: Endpoint = {dnsName: ep.dnsName, recordType: ep.recordType, targets: ep.targets}
  if (ep.recordTTL !== undefined) out.recordTTL = ep.recordTTL
  if (ep.labels !== undefined && Object.keys(ep.labels).length > 0) out.labels = ep.labels
  return out
}

async function collectDesired(sources: Source[]): Promise<{endpoints: Endpoint[]; emptySources: string[]}> {
  const results = await Promise.all(
    sources.map(async (source) => {
      try {
        return {source, endpoints: await source.endpoints()}
      } catch (error) {
        if (error instanceof RosterError) throw error
        const message = error instanceof Error ? error.message : String(error)
        throw new RosterError(`source ${source.name}: ${message}`, {cause: error})
      }
    }),
  )
  const endpoints: Endpoint[] = []
  const emptySources: string[] = []
  for (const r of results) {
    if (r.endpoints.length === 0) emptySources.push(r.source.name)
    for (const ep of r.endpoints) endpoints.push(normalizeEndpoint(ep))
  }
  return {endpoints, emptySources}
}

export async function runSync(options: SyncOptions): Promise<SyncResult> {
  const {policy, ownerId} = options
  const maxChangePercent = options.maxChangePercent ?? DEFAULT_MAX_CHANGE_PERCENT
  const dryRun = options.dryRun === true
  const ownership = new OwnershipProvider(options.provider, {ownerId, txtPrefix: options.txtPrefix, txtSuffix: options.txtSuffix})

  // 1. Sources first: a failing source aborts before the provider is even read.
  const desiredAll = await collectDesired(options.sources)
  const inDomain = domainMatcher(options.domainFilter, options.excludeDomains)
  let desired = desiredAll.endpoints.filter((ep) => inDomain(ep.dnsName))
  if (options.provider.adjustEndpoints !== undefined) {
    desired = (await ownership.adjustEndpoints(desired)).map(normalizeEndpoint)
  }

  // 2. Current records, with ownership labels attached.
  const current = await ownership.records()

  // 3. The plan.
  const plan = calculatePlan(current, desired, policy, ownerId, {
    domainFilter: options.domainFilter,
    excludeDomains: options.excludeDomains,
    claims: ownership.claims(),
  })
  const {changes} = plan
  const summary: SyncSummary = {create: changes.create.length, update: changes.updateNew.length, delete: changes.delete.length}
  const result: SyncResult = {
    changes: {
      create: changes.create.map(publicEndpoint),
      updateOld: changes.updateOld.map(publicEndpoint),
      updateNew: changes.updateNew.map(publicEndpoint),
      delete: changes.delete.map(publicEndpoint),
    },
    summary,
    applied: false,
    dryRun,
    conflicts: plan.conflicts,
    owned: plan.ownedCount,
    providerCalls: {read: 0, write: 0},
  }
  const countCalls = (): void => {
    result.providerCalls = {read: options.provider.stats.readCalls, write: options.provider.stats.writeCalls}
  }
  await options.onPlan?.({changes: result.changes, conflicts: plan.conflicts})

  // 4. Safety checks (skipped only by force); under dry-run they still report.
  if (!options.force) {
    if (summary.delete > 0 && summary.delete >= plan.ownedCount && desiredAll.emptySources.length > 0) {
      countCalls()
      throw new UnsafePlanError(
        `refusing to delete all ${plan.ownedCount} records owned by "${ownerId}": source ${desiredAll.emptySources.join(', ')} returned no endpoints (use ${setting('force')} if that is intended)`,
        'emptySource',
      )
    }
    const touched = summary.update + summary.delete
    if (plan.ownedCount >= MIN_OWNED_FOR_PERCENT_RULE && (touched * 100) / plan.ownedCount > maxChangePercent) {
      countCalls()
      const percent = ((touched * 100) / plan.ownedCount).toFixed(1)
      throw new UnsafePlanError(
        `refusing a plan that updates or deletes ${touched} of ${plan.ownedCount} owned records (${percent}% > the limit of ${maxChangePercent}%); review it with ${setting('dry-run')}, then use ${setting('force')} (limit: ${setting('max-change-percent')} ${maxChangePercent})`,
        'maxChangePercent',
      )
    }
  }

  // 5. Apply, unless dry-run or nothing to do.
  if (!dryRun && changeCount(changes) > 0) {
    await ownership.applyChanges(changes, options.onProgress)
    result.applied = true
  }
  countCalls()
  return result
}

/** True when the result holds changes (applied, or pending under dry-run): the detailed exit code 8. */
export function hasChanges(result: Pick<SyncResult, 'summary'>): boolean {
  return result.summary.create + result.summary.update + result.summary.delete > 0
}

export interface SyncLoopOptions {
  intervalMs: number
  /** Aborting stops the loop after the current run (an apply in progress finishes). */
  signal: AbortSignal
  onResult: (result: SyncResult) => void
  /** Errors of one run are reported and the loop goes on (a daemon outlives a flaky source). */
  onError: (error: unknown) => void
}

/** Loop mode (an interval): one run, then a wait, until the signal aborts. */
export async function runSyncLoop(makeOptions: () => SyncOptions | Promise<SyncOptions>, loop: SyncLoopOptions): Promise<number> {
  let runs = 0
  while (!loop.signal.aborted) {
    try {
      loop.onResult(await runSync(await makeOptions()))
    } catch (error) {
      loop.onError(error)
    }
    runs++
    if (loop.signal.aborted) break
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, loop.intervalMs)
      function done(): void {
        clearTimeout(timer)
        loop.signal.removeEventListener('abort', done)
        resolve()
      }
      loop.signal.addEventListener('abort', done, {once: true})
    })
  }
  return runs
}
