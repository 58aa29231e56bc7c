import {Flags} from '@oclif/core'

import {RosterCommand, outputFlags, registryFlags} from '../../command/base-command.js'
import {parseDuration, timerMs} from '../../lib/config/duration.js'
import {InvalidInputError} from '../../lib/errors.js'
import type {Column} from '../../lib/output/print-rows.js'
import type {PruneEntry, PruneResult} from '../../lib/registry/prune.js'
import {count} from '../../lib/registry/summaries.js'

const PRUNE_COLUMNS: Column<PruneEntry>[] = [
  {header: 'NAMESPACE', get: (e) => e.namespace},
  {header: 'NAME', get: (e) => e.name},
  {header: 'ENDPOINT', get: (e) => e.endpoint},
  {header: 'REASON', get: (e) => e.reason ?? ''},
  {header: 'ID', get: (e) => e.id},
]

export default class ServicePrune extends RosterCommand<typeof ServicePrune> {
  static override description = `Unregister stale services: those whose registration expired (--expired; see service register --ttl) and those whose endpoint host no longer exists in DNS (--unresolvable).
--unresolvable resolves every matching service's host once (A, then AAAA), with the system's resolver (getaddrinfo: /etc/hosts and search domains count) or, with --resolver, by asking those DNS servers directly; lookups run --concurrency at a time, each within --resolve-timeout. A host that does not exist (NXDOMAIN) or has no address is stale; an IP address always counts as resolvable. A temporary failure (timeout, SERVFAIL, refused) never removes anything: such services are kept and reported.
A service renewed or registered again between the listing and its removal is kept (each removal expects the revision the service was listed at) and reported as changed; the next prune decides again.
Safety, as in dns sync: a prune that would remove more than --max-percent of the matching services (when at least 10 match) is refused with exit 9 and nothing is removed, unless --force; --dry-run prints what would go (and still exits 9 when the real run would be refused).
Prints the removed services (under --dry-run, those that would go); --json prints {matched, removed, kept, failed, changed, dryRun}, where failed lists the services kept after a DNS failure and changed those kept because they changed after they were listed. Works on a local or a remote registry (an admin token, or a service token for its namespaces, with -n).`

  static override examples = [
    '<%= config.bin %> service prune --expired',
    '<%= config.bin %> service prune --unresolvable -n team-a --dry-run',
    '<%= config.bin %> service prune --unresolvable --resolver 10.0.0.53 --resolver 10.0.1.53:5353 -s "app=node" --json',
    '<%= config.bin %> service prune --expired --unresolvable --max-percent 50',
  ]

  static override flags = {
    ...outputFlags(['table', 'json', 'yaml', 'csv'] as const),
    expired: Flags.boolean({description: 'Remove services whose registration expired (registered with --ttl and not renewed).'}),
    unresolvable: Flags.boolean({description: 'Remove services whose endpoint host does not exist in DNS (NXDOMAIN or no address).'}),
    namespace: Flags.string({char: 'n', description: 'Only this namespace.'}),
    selector: Flags.string({char: 's', description: 'Only services whose labels match this Kubernetes label selector.'}),
    resolver: Flags.string({
      description: 'DNS server to ask, IP[:PORT] ([IPv6]:PORT); repeat for several (default: the system resolver).',
      multiple: true,
    }),
    'resolve-timeout': Flags.string({description: 'Time limit of one host lookup.', default: '5s'}),
    concurrency: Flags.integer({description: 'Host lookups in flight at once.', default: 16, min: 1, max: 256}),
    'dry-run': Flags.boolean({description: 'Print what would be removed; remove nothing.'}),
    'max-percent': Flags.integer({
      description: 'Refuse (exit 9) to remove more than this percent of the matching services, when at least 10 match.',
      default: 30,
      min: 0,
      max: 100,
    }),
    force: Flags.boolean({description: 'Remove even when the --max-percent guard refuses.'}),
    ...registryFlags,
  }

  async run(): Promise<PruneResult> {
    const f = this.flags
    if (!f.expired && !f.unresolvable) throw new InvalidInputError('give --expired, --unresolvable or both', {field: 'expired'})
    const timeoutMs = timerMs(parseDuration(f['resolve-timeout'], 'resolve-timeout'))
    const registry = await this.registry()
    const {pruneServices, UnsafePruneError} = await import('../../lib/registry/prune.js')
    const result = await pruneServices(registry, {
      expired: f.expired,
      unresolvable: f.unresolvable,
      namespace: f.namespace,
      selector: f.selector,
      resolvers: f.resolver,
      timeoutMs,
      concurrency: f.concurrency,
      dryRun: f['dry-run'],
      maxPercent: f['max-percent'],
      force: f.force,
      onPlan: async (plan) => {
        if (plan.dryRun) await this.report(plan)
      },
    }).catch((error: unknown) => {
      if (error instanceof UnsafePruneError)
        throw new UnsafePruneError(`${error.message}; review it with --dry-run, then use --force or a higher --max-percent`)
      throw error
    })
    if (!result.dryRun) await this.report(result)
    return result
  }

  /** The removed services on stdout; the kept-after-failure ones and a summary on stderr. */
  private async report(result: PruneResult): Promise<void> {
    if (this.jsonEnabled()) return
    await this.printRows(result.removed, PRUNE_COLUMNS)
    for (const e of result.failed)
      this.logToStderr(`kept ${e.namespace}/${e.name} ${e.endpoint}: looking up ${e.host || 'its host'} failed (${e.reason ?? 'error'})`)
    for (const e of result.changed)
      this.logToStderr(`kept ${e.namespace}/${e.name} ${e.endpoint}: renewed or registered again after it was listed`)
    this.logToStderr(pruneSummary(result))
  }
}

/** `removed 2 of 14 services (1 expired, 1 not found); 1 kept after a DNS failure; 1 kept: changed since it was listed`. */
function pruneSummary(r: PruneResult): string {
  const failed =
    (r.failed.length === 0 ? '' : `; ${count(r.failed.length, 'service')} kept after a DNS failure`) +
    (r.changed.length === 0 ? '' : `; ${count(r.changed.length, 'service')} kept: changed since it was listed`)
  if (r.matched === 0) return 'no services match'
  if (r.removed.length === 0) return `no services to remove (${r.matched} checked)${failed}`
  const reasons = new Map<string, number>()
  for (const e of r.removed) reasons.set(e.reason ?? '', (reasons.get(e.reason ?? '') ?? 0) + 1)
  const why = [...reasons].map(([reason, n]) => `${n} ${reason}`).join(', ')
  return `${r.dryRun ? 'would remove' : 'removed'} ${r.removed.length} of ${count(r.matched, 'service')} (${why})${failed}`
}
