/**
 * Stale registrations: finds the services whose registration expired or whose endpoint host no
 * longer exists in DNS, and unregisters them through any RegistryClient (local or remote),
 * unless that would remove more than the allowed share of the matching services.
 *
 * Each removal is conditional on the revision the service was listed at: a service renewed,
 * registered again or otherwise changed between the listing and the removal is kept and reported
 * in `changed` (the next prune decides again), never removed on a stale decision.
 */
import {isIP} from 'node:net'

import {CommandExitError, ExitCode, InvalidInputError, PreconditionFailedError} from '../errors.js'
import type {Revisioned, Service} from './model.js'
import type {RegistryClient} from './registry-client.js'
import {MAX_CONDITIONAL_SERVICES} from './revisions.js'

/** Below this many matching services the percentage guard does not apply (as in `dns sync`). */
export const PRUNE_GUARD_MIN_SERVICES = 10
export const DEFAULT_PRUNE_MAX_PERCENT = 30
export const DEFAULT_RESOLVE_TIMEOUT_MS = 5000
export const DEFAULT_RESOLVE_CONCURRENCY = 16
/** Why a service planned for removal was kept: its revision moved after it was listed. */
export const CHANGED_SINCE_LISTED = 'changed since it was listed'

export interface PruneOptions {
  /** Remove services past their `expires`. */
  expired?: boolean
  /** Remove services whose endpoint host does not exist (NXDOMAIN, or a name with no address). */
  unresolvable?: boolean
  namespace?: string
  /** Label selector over the services' labels. */
  selector?: string
  /** Report what would be removed; remove nothing. The guard still refuses. */
  dryRun?: boolean
  /** Remove even what the guard refuses. */
  force?: boolean
  /** Refuse to remove more than this percent of the matching services (when there are at least PRUNE_GUARD_MIN_SERVICES). Default 30. */
  maxPercent?: number
  /** DNS servers, "IP" or "IP:PORT" ("[IPv6]:PORT"); default: the system's resolver (getaddrinfo, /etc/hosts included). */
  resolvers?: readonly string[]
  /** Per lookup. Default 5 s. */
  timeoutMs?: number
  /** Lookups in flight at once. Default 16. */
  concurrency?: number
  now?: () => Date
  /** Called with the plan before the guard and before anything is removed (to print a dry run). */
  onPlan?: (plan: PruneResult) => void | Promise<void>
  /**
   * Test seam, never set by a command: awaited after the services are listed and the plan made,
   * before the first removal, so that a test can change the registry in that window.
   */
  beforeWrite?: () => Promise<void>
}

/** One service in a prune report. */
export interface PruneEntry {
  id: string
  namespace: string
  name: string
  endpoint: string
  host: string
  expires?: string
  /** The revision the service was listed at; its removal expects it. */
  revision: number
  /**
   * removed: "expired", "not found" (NXDOMAIN) or "no address"; failed: the DNS error code
   * (ETIMEOUT, ESERVFAIL, ...); changed: CHANGED_SINCE_LISTED.
   */
  reason?: string
}

export interface PruneResult {
  /** Services matching the namespace and selector. */
  matched: number
  /** Removed (under dryRun: would be removed). */
  removed: PruneEntry[]
  /** Checked and kept: not expired, and resolvable (or not checked for resolution). */
  kept: PruneEntry[]
  /** Kept because DNS failed temporarily (timeout, SERVFAIL, refused): never a reason to remove. */
  failed: PruneEntry[]
  /** Planned for removal but kept: renewed, registered again or changed after they were listed. */
  changed: PruneEntry[]
  dryRun: boolean
}

/** A prune the guard refused: exit 9 (unsafe_plan); nothing was removed. */
export class UnsafePruneError extends CommandExitError {
  constructor(message: string) {
    super(message, ExitCode.unsafePlan, 'unsafe_plan')
  }
}

/** What DNS says of a host. */
export type HostStatus = {status: 'exists'} | {status: 'gone'; reason: string} | {status: 'failed'; reason: string}

/** The host of an endpoint URL, without IPv6 brackets. */
export function endpointHost(endpoint: string): string {
  return new URL(endpoint).hostname.replace(/^\[(.*)\]$/, '$1')
}

/**
 * Resolves hosts. With `resolvers`: node's DNS resolver asking those servers for A, then AAAA.
 * Without: the system's getaddrinfo (so /etc/hosts and search domains count, as for any other
 * program on the machine). NXDOMAIN (ENOTFOUND) and no address (ENODATA) are "gone"; anything
 * else (ETIMEOUT, ESERVFAIL, ECONNREFUSED, EAI_AGAIN, ...) is "failed". IP literals always exist.
 */
export async function hostResolver(
  o: {resolvers?: readonly string[]; timeoutMs?: number} = {},
): Promise<{resolve(host: string): Promise<HostStatus>; close(): void}> {
  const timeoutMs = o.timeoutMs ?? DEFAULT_RESOLVE_TIMEOUT_MS
  const dns = await import('node:dns/promises')
  const gone = (code: string | undefined): string | undefined =>
    code === 'ENOTFOUND' ? 'not found' : code === 'ENODATA' ? 'no address' : undefined
  const failed = (error: unknown): HostStatus => ({status: 'failed', reason: (error as {code?: string}).code ?? String(error)})
  let query: (host: string) => Promise<HostStatus>
  let close = (): void => undefined
  let limitMs = timeoutMs
  if (o.resolvers && o.resolvers.length > 0) {
    const resolver = new dns.Resolver({timeout: timeoutMs, tries: 1})
    for (const server of o.resolvers) {
      try {
        new dns.Resolver().setServers([server])
      } catch {
        throw InvalidInputError.forField(
          'resolver',
          server,
          'must be an IP address with an optional port, such as 127.0.0.1:5353 or [::1]:53',
        )
      }
    }
    resolver.setServers([...o.resolvers])
    limitMs = timeoutMs * o.resolvers.length + 1000
    close = () => resolver.cancel()
    query = async (host) => {
      let first: unknown
      try {
        await resolver.resolve4(host)
        return {status: 'exists'}
      } catch (error) {
        const reason = gone((error as {code?: string}).code)
        if (reason === 'not found') return {status: 'gone', reason} // NXDOMAIN: no other type exists either
        first = error
      }
      try {
        await resolver.resolve6(host)
        return {status: 'exists'}
      } catch (error) {
        const a = gone((first as {code?: string}).code)
        const aaaa = gone((error as {code?: string}).code)
        if (a && aaaa) return {status: 'gone', reason: aaaa === 'not found' ? aaaa : a}
        return failed(a ? error : first)
      }
    }
  } else {
    query = async (host) => {
      try {
        await dns.lookup(host, {all: true})
        return {status: 'exists'}
      } catch (error) {
        const reason = gone((error as {code?: string}).code)
        return reason ? {status: 'gone', reason} : failed(error)
      }
    }
  }
  return {
    async resolve(host) {
      if (isIP(host)) return {status: 'exists'}
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<HostStatus>((resolve) => {
        timer = setTimeout(() => resolve({status: 'failed', reason: 'ETIMEOUT'}), limitMs)
      })
      try {
        return await Promise.race([query(host), timeout])
      } finally {
        clearTimeout(timer)
      }
    },
    close,
  }
}

/** Runs `fn` over `items`, at most `concurrency` at a time. */
async function eachLimited<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T)
  }
  await Promise.all(Array.from({length: Math.max(1, Math.min(concurrency, items.length))}, worker))
}

function entryOf(s: Revisioned<Service>, reason?: string): PruneEntry {
  let host = ''
  try {
    host = endpointHost(s.endpoint)
  } catch {
    // a stored endpoint that no longer parses: no host to resolve
  }
  return {
    id: s.id,
    namespace: s.namespace,
    name: s.name,
    endpoint: s.endpoint,
    host,
    ...(s.expires ? {expires: s.expires} : {}),
    revision: s.revision,
    ...(reason ? {reason} : {}),
  }
}

/**
 * Prunes stale services: lists those matching `namespace` and `selector`, removes the expired
 * ones (with `expired`) and those whose host is gone from DNS (with `unresolvable`); a
 * temporary DNS failure keeps the service and reports it. Refuses (UnsafePruneError, nothing
 * removed) when it would remove more than `maxPercent` of at least PRUNE_GUARD_MIN_SERVICES
 * matching services, unless `force`.
 */
export async function pruneServices(registry: RegistryClient, options: PruneOptions): Promise<PruneResult> {
  if (!options.expired && !options.unresolvable)
    throw new InvalidInputError('prune: choose what to prune: unresolvable services, expired services, or both', {field: 'criteria'})
  const maxPercent = options.maxPercent ?? DEFAULT_PRUNE_MAX_PERCENT
  if (!Number.isFinite(maxPercent) || maxPercent < 0 || maxPercent > 100)
    throw InvalidInputError.forField('max-percent', maxPercent, 'must be a number from 0 to 100')
  const now = (options.now ?? (() => new Date()))().getTime()
  const result: PruneResult = {matched: 0, removed: [], kept: [], failed: [], changed: [], dryRun: options.dryRun === true}

  // 1. Expiry, decided on the listing; the rest wait for DNS, one lookup per host.
  const byHost = new Map<string, Revisioned<Service>[]>()
  for await (const s of registry.listServices({namespace: options.namespace, selector: options.selector})) {
    result.matched++
    if (options.expired && s.expires !== undefined && Date.parse(s.expires) <= now) result.removed.push(entryOf(s, 'expired'))
    else if (options.unresolvable) {
      const host = entryOf(s).host
      const same = byHost.get(host)
      if (same) same.push(s)
      else byHost.set(host, [s])
    } else result.kept.push(entryOf(s))
  }

  // 2. DNS.
  if (byHost.size > 0) {
    const dns = await hostResolver({resolvers: options.resolvers, timeoutMs: options.timeoutMs})
    try {
      await eachLimited([...byHost.keys()], options.concurrency ?? DEFAULT_RESOLVE_CONCURRENCY, async (host) => {
        const status: HostStatus = host === '' ? {status: 'failed', reason: 'no host'} : await dns.resolve(host)
        for (const s of byHost.get(host) ?? []) {
          if (status.status === 'exists') result.kept.push(entryOf(s))
          else if (status.status === 'gone') result.removed.push(entryOf(s, status.reason))
          else result.failed.push(entryOf(s, status.reason))
        }
      })
    } finally {
      dns.close()
    }
  }
  const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
  const order = (a: PruneEntry, b: PruneEntry): number =>
    compare(a.namespace, b.namespace) || compare(a.name, b.name) || compare(a.endpoint, b.endpoint)
  for (const list of [result.removed, result.kept, result.failed]) list.sort(order)
  await options.onPlan?.(result)

  // 3. The guard, under dry-run too: it tells what the real run would do.
  const share = result.matched === 0 ? 0 : (result.removed.length * 100) / result.matched
  if (!options.force && result.matched >= PRUNE_GUARD_MIN_SERVICES && share > maxPercent)
    throw new UnsafePruneError(
      `refusing to remove ${result.removed.length} of ${result.matched} matching services (${share.toFixed(1)}%, more than the ${maxPercent}% allowed); nothing was removed`,
    )

  // 4. Remove, by ID within each namespace, each at the revision it was listed at.
  if (!result.dryRun) {
    await options.beforeWrite?.()
    const byNamespace = new Map<string, PruneEntry[]>()
    for (const e of result.removed) {
      const entries = byNamespace.get(e.namespace)
      if (entries) entries.push(e)
      else byNamespace.set(e.namespace, [e])
    }
    const changed = new Set<PruneEntry>()
    for (const [namespace, entries] of byNamespace)
      for (let i = 0; i < entries.length; i += MAX_CONDITIONAL_SERVICES)
        for (const e of await removeListed(registry, namespace, entries.slice(i, i + MAX_CONDITIONAL_SERVICES))) changed.add(e)
    if (changed.size > 0) {
      result.removed = result.removed.filter((e) => !changed.has(e))
      result.changed = [...changed].map((e) => ({...e, reason: CHANGED_SINCE_LISTED}))
    }
  }
  return result
}

/**
 * Unregisters `entries` of one namespace, each only at the revision it was listed at, in one
 * call; when one of them moved (the call removed nothing), one call each. Returns the entries
 * that moved, which were not removed.
 */
async function removeListed(registry: RegistryClient, namespace: string, entries: PruneEntry[]): Promise<PruneEntry[]> {
  const unregister = (chunk: PruneEntry[]) =>
    registry.unregisterServices(
      chunk.map((e) => e.id),
      namespace,
      {expectRevisions: chunk.map((e) => e.revision)},
    )
  try {
    await unregister(entries)
    return []
  } catch (error) {
    if (!(error instanceof PreconditionFailedError)) throw error
    if (entries.length === 1) return entries
  }
  const moved: PruneEntry[] = []
  for (const e of entries) {
    try {
      await unregister([e])
    } catch (error) {
      if (!(error instanceof PreconditionFailedError)) throw error
      moved.push(e)
    }
  }
  return moved
}
