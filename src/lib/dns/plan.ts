/**
 * The plan: a pure function from (current records, desired endpoints, policy, owner id) to the
 * Changes to apply, in the manner of external-dns's plan/plan.go. Linear in the number of
 * records (record sets are matched through maps keyed by name and type); only the output is
 * sorted, for a stable order.
 *
 * Rules:
 * - Only managed types (A, AAAA, CNAME, SRV, TXT by default) inside the domain filter and outside
 *   the excluded domains are considered, on both sides. Everything else is never touched.
 * - A record set is roster's when its `labels.owner` equals the owner id (the ownership layer
 *   attaches the label from the TXT ownership records). roster updates or deletes only its own.
 * - Creating on a name+type that exists (unowned or owned by another id), or that another owner
 *   claims through an orphan ownership record, is a conflict: skipped and reported.
 * - A CNAME cannot share its name with other data: creating a CNAME where other records exist
 *   (or other records where a CNAME exists) is a conflict, unless the blocking record is roster's
 *   and is deleted by the same plan.
 * - Policies: `sync` creates, updates and deletes; `upsert-only` creates and updates;
 *   `create-only` only creates.
 * - An update happens when the target set differs, or when the desired TTL is set and differs
 *   (an unset desired TTL never causes an update, as in external-dns).
 */
import {type Changes, type Endpoint, MANAGED_RECORD_TYPES, emptyChanges, endpointKey, normalizeEndpoint, normalizeName} from './endpoint.js'

import type {Policy} from './options.js'

export type {Policy} from './options.js'

export interface PlanOptions {
  /** Names equal to or under one of these domains; empty or undefined means every name. */
  domainFilter?: readonly string[]
  /** Names equal to or under one of these domains are never considered. */
  excludeDomains?: readonly string[]
  /** Record types the plan manages. Default MANAGED_RECORD_TYPES. */
  managedTypes?: readonly string[]
  /**
   * Ownership claims without a record (an ownership TXT whose record is gone): endpointKey → owner.
   * Creating on a key another owner claims is a conflict.
   */
  claims?: ReadonlyMap<string, string>
}

export interface PlanConflict {
  dnsName: string
  recordType: string
  /** The owner id holding the name, or undefined when the existing record has no ownership record. */
  owner?: string
  reason: string
}

export interface PlanResult {
  changes: Changes
  conflicts: PlanConflict[]
  /** Record sets in scope (managed type, inside the filters) whose owner is this owner id. */
  ownedCount: number
}

/** Returns a matcher for the domain filter and excluded domains (suffix match on label boundaries). */
export function domainMatcher(domainFilter: readonly string[] = [], excludeDomains: readonly string[] = []): (name: string) => boolean {
  const include = domainFilter.map(normalizeName).filter((d) => d !== '')
  const exclude = excludeDomains.map(normalizeName).filter((d) => d !== '')
  const under = (name: string, domain: string): boolean => name === domain || name.endsWith('.' + domain)
  return (name: string): boolean => {
    if (include.length > 0 && !include.some((d) => under(name, d))) return false
    return !exclude.some((d) => under(name, d))
  }
}

function sameTargets(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

function byNameType(a: Endpoint, b: Endpoint): number {
  if (a.dnsName !== b.dnsName) return a.dnsName < b.dnsName ? -1 : 1
  if (a.recordType !== b.recordType) return a.recordType < b.recordType ? -1 : 1
  return 0
}

/** Merges endpoints sharing name and type (target union; the first TTL and labels set win). */
function indexByKey(endpoints: readonly Endpoint[], inScope: (ep: Endpoint) => boolean): Map<string, Endpoint> {
  const map = new Map<string, Endpoint>()
  for (const raw of endpoints) {
    const ep = normalizeEndpoint(raw)
    if (!inScope(ep)) continue
    const key = endpointKey(ep)
    const seen = map.get(key)
    if (seen === undefined) {
      map.set(key, ep)
      continue
    }
    seen.targets = [...new Set([...seen.targets, ...ep.targets])].sort()
    if (seen.recordTTL === undefined && ep.recordTTL !== undefined) seen.recordTTL = ep.recordTTL
    if (seen.labels === undefined && ep.labels !== undefined) seen.labels = {...ep.labels}
  }
  return map
}

export function calculatePlan(
  current: readonly Endpoint[],
  desired: readonly Endpoint[],
  policy: Policy,
  ownerId: string,
  options: PlanOptions = {},
): PlanResult {
  const managed = new Set((options.managedTypes ?? MANAGED_RECORD_TYPES).map((t) => t.toUpperCase()))
  const inDomain = domainMatcher(options.domainFilter, options.excludeDomains)
  const inScope = (ep: Endpoint): boolean => managed.has(ep.recordType) && inDomain(ep.dnsName)

  const currentByKey = indexByKey(current, inScope)
  const desiredByKey = indexByKey(desired, inScope)
  const changes = emptyChanges()
  const conflicts: PlanConflict[] = []
  const mayUpdate = policy === 'sync' || policy === 'upsert-only'
  const mayDelete = policy === 'sync'
  const isOwned = (ep: Endpoint): boolean => ep.labels?.owner === ownerId

  // Every current record by name (any type, in the domain filter): for CNAME exclusivity. Built
  // only when some desired record is a create that could collide (a CNAME, or a name holding one).
  let typesByName: Map<string, Array<{recordType: string; owner?: string}>> | undefined
  const recordsAt = (name: string): Array<{recordType: string; owner?: string}> => {
    if (typesByName === undefined) {
      typesByName = new Map()
      for (const raw of current) {
        const n = normalizeName(raw.dnsName)
        if (!inDomain(n)) continue
        const entry = {recordType: raw.recordType.toUpperCase(), ...(raw.labels?.owner === undefined ? {} : {owner: raw.labels.owner})}
        const list = typesByName.get(n)
        if (list === undefined) typesByName.set(n, [entry])
        else list.push(entry)
      }
    }
    return typesByName.get(name) ?? []
  }

  let ownedCount = 0
  for (const [key, cur] of currentByKey) {
    if (!isOwned(cur)) continue
    ownedCount++
    if (mayDelete && !desiredByKey.has(key)) changes.delete.push(cur)
  }
  const deletedKeys = new Set(changes.delete.map(endpointKey))

  for (const [key, want] of desiredByKey) {
    const cur = currentByKey.get(key)
    if (cur === undefined) {
      const claimedBy = options.claims?.get(key)
      if (claimedBy !== undefined && claimedBy !== ownerId) {
        conflicts.push({dnsName: want.dnsName, recordType: want.recordType, owner: claimedBy, reason: `claimed by owner "${claimedBy}"`})
        continue
      }
      const blocker = recordsAt(want.dnsName).find(
        (other) =>
          other.recordType !== want.recordType &&
          (other.recordType === 'CNAME' || want.recordType === 'CNAME') &&
          !deletedKeys.has(endpointKey({dnsName: want.dnsName, recordType: other.recordType})),
      )
      if (blocker !== undefined) {
        const owner = blocker.owner
        conflicts.push({
          dnsName: want.dnsName,
          recordType: want.recordType,
          ...(owner === undefined ? {} : {owner}),
          reason: `a CNAME cannot share its name: ${blocker.recordType} record exists`,
        })
        continue
      }
      changes.create.push({...want, labels: {...want.labels, owner: ownerId}})
      continue
    }
    if (!isOwned(cur)) {
      const owner = cur.labels?.owner
      conflicts.push({
        dnsName: want.dnsName,
        recordType: want.recordType,
        ...(owner === undefined || owner === '' ? {} : {owner}),
        reason: owner === undefined || owner === '' ? 'exists without an ownership record' : `owned by "${owner}"`,
      })
      continue
    }
    const ttlChanged = want.recordTTL !== undefined && want.recordTTL !== cur.recordTTL
    if (!ttlChanged && sameTargets(want.targets, cur.targets)) continue
    if (!mayUpdate) continue
    changes.updateOld.push(cur)
    const next: Endpoint = {...want, labels: {...cur.labels, ...want.labels, owner: ownerId}}
    if (want.recordTTL === undefined && cur.recordTTL !== undefined) next.recordTTL = cur.recordTTL
    changes.updateNew.push(next)
  }

  changes.create.sort(byNameType)
  changes.delete.sort(byNameType)
  // Keep updateOld[i] paired with updateNew[i] while sorting.
  const pairs = changes.updateOld.map((old, i) => [old, changes.updateNew[i] as Endpoint] as const)
  pairs.sort((a, b) => byNameType(a[0], b[0]))
  changes.updateOld = pairs.map((p) => p[0])
  changes.updateNew = pairs.map((p) => p[1])
  conflicts.sort((a, b) =>
    byNameType({dnsName: a.dnsName, recordType: a.recordType, targets: []}, {dnsName: b.dnsName, recordType: b.recordType, targets: []}),
  )
  return {changes, conflicts, ownedCount}
}

export function changeCount(changes: Changes): number {
  return changes.create.length + changes.updateNew.length + changes.delete.length
}
