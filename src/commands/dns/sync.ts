import {Flags} from '@oclif/core'

import {RosterCommand, registryFlags} from '../../command/base-command.js'
import {parseDuration, timerMs} from '../../lib/config/duration.js'
import {scrubSecrets} from '../../lib/config/secrets.js'
import type {Endpoint, Provider, Source} from '../../lib/dns/endpoint.js'
import {
  DEFAULT_DNS_PORT,
  DEFAULT_MAX_CHANGE_PERCENT,
  DEFAULT_PDNS_SERVER_ID,
  DEFAULT_PROVIDER,
  DEFAULT_TSIG_ALGORITHM,
  MIN_OWNED_FOR_PERCENT_RULE,
  POLICIES,
  PROVIDERS,
  SOURCES,
  TSIG_ALGORITHMS,
} from '../../lib/dns/options.js'
import type {PlanConflict} from '../../lib/dns/plan.js'
import type {SyncOptions, SyncResult} from '../../lib/dns/sync.js'
import {InvalidInputError, RosterError, setting} from '../../lib/errors.js'

/** A row of the plan table. */
interface PlanRow {
  action: string
  name: string
  type: string
  targets: string
  ttl: string
}

const PLAN_COLUMNS = [
  {header: 'ACTION', get: (r: PlanRow) => r.action},
  {header: 'NAME', get: (r: PlanRow) => r.name},
  {header: 'TYPE', get: (r: PlanRow) => r.type},
  {header: 'TARGETS (OLD → NEW)', get: (r: PlanRow) => r.targets},
  {header: 'TTL', get: (r: PlanRow) => r.ttl},
]

/** Progress bar threshold: below this many changes a bar is noise. */
const PROGRESS_MIN_CHANGES = 50

export default class DnsSync extends RosterCommand<typeof DnsSync> {
  /** Reads the registry only (--source registry): opened read-only, never created. */
  static readOnly = true

  static override description =
    'Make DNS match the registry, the cluster and record files, safely: plan, check, then apply (external-dns as a one-shot step).'

  static override examples = [
    '<%= config.bin %> dns sync --once --policy sync --owner-id ci --source file --file records.yaml --provider zonefile --zone-file /etc/bind/db.example.com --zone example.com --dry-run',
    '<%= config.bin %> dns sync --policy upsert-only --owner-id prod --source registry --registry-zone sd.example.com --provider pdns --pdns-server http://127.0.0.1:8081 --pdns-api-key "$KEY"',
    '<%= config.bin %> dns sync --interval 1m --policy sync --owner-id k8s-prod --source kubernetes --provider rfc2136 --rfc2136-host ns1 --rfc2136-zone example.com --rfc2136-tsig-keyname roster --rfc2136-tsig-secret "$TSIG"',
  ]

  static override flags = {
    once: Flags.boolean({description: 'Sync once and exit (the default; conflicts with --interval).', exclusive: ['interval']}),
    interval: Flags.string({
      description: 'Loop mode: sync, wait this long (30s, 1m, 1h), repeat. SIGTERM/SIGINT finish the current apply and exit 0.',
    }),
    watch: Flags.boolean({
      description:
        'Watch mode: sync when the registry (registry source) or the cluster (kubernetes source) changes, at most every second, and at least every --interval (default 1m).',
      exclusive: ['once'],
    }),
    policy: Flags.option({
      description:
        'sync: create, update and delete; upsert-only: create and update; create-only: create. Required: no default that deletes.',
      options: POLICIES,
      required: true,
    })(),
    'owner-id': Flags.string({
      description: 'Owner id written in the ownership TXT records; roster touches only records with this owner. Required.',
      required: true,
    }),
    source: Flags.option({
      description: 'Where desired records come from (repeatable).',
      options: SOURCES,
      multiple: true,
      required: true,
    })(),
    file: Flags.string({description: 'YAML/JSON file of endpoints for --source file (repeatable).', multiple: true}),
    provider: Flags.option({
      description: 'Where records are written.',
      options: PROVIDERS,
      default: DEFAULT_PROVIDER,
    })(),
    'zone-file': Flags.string({description: 'zonefile: path of the RFC 1035 master file.', helpGroup: 'ZONEFILE'}),
    zone: Flags.string({description: 'zonefile: the zone (origin) of --zone-file.', helpGroup: 'ZONEFILE'}),
    'pdns-server': Flags.string({description: 'pdns: API base URL (http://HOST:8081).', helpGroup: 'PDNS'}),
    'pdns-api-key': Flags.string({description: 'pdns: API key (prefer ROSTER_PDNS_API_KEY).', helpGroup: 'PDNS'}),
    'pdns-server-id': Flags.string({description: 'pdns: server id.', default: DEFAULT_PDNS_SERVER_ID, helpGroup: 'PDNS'}),
    'pdns-zone': Flags.string({
      description: 'pdns: zone to manage (repeatable; default: every zone).',
      multiple: true,
      delimiter: ',',
      helpGroup: 'PDNS',
    }),
    'rfc2136-host': Flags.string({description: 'rfc2136: DNS server host.', helpGroup: 'RFC2136'}),
    'rfc2136-port': Flags.integer({
      description: 'rfc2136: DNS server port.',
      default: DEFAULT_DNS_PORT,
      min: 1,
      max: 65535,
      helpGroup: 'RFC2136',
    }),
    'rfc2136-zone': Flags.string({description: 'rfc2136: zone to update.', helpGroup: 'RFC2136'}),
    'rfc2136-tsig-keyname': Flags.string({description: 'rfc2136: TSIG key name.', helpGroup: 'RFC2136'}),
    'rfc2136-tsig-secret': Flags.string({
      description: 'rfc2136: TSIG secret, base64 (prefer ROSTER_RFC2136_TSIG_SECRET).',
      helpGroup: 'RFC2136',
    }),
    'rfc2136-tsig-alg': Flags.option({
      description: 'rfc2136: TSIG algorithm.',
      options: TSIG_ALGORITHMS,
      default: DEFAULT_TSIG_ALGORITHM,
      helpGroup: 'RFC2136',
    })(),
    'webhook-url': Flags.string({
      description: 'webhook: URL of an external-dns webhook provider (http://127.0.0.1:8888).',
      helpGroup: 'WEBHOOK',
    }),
    'txt-prefix': Flags.string({
      description: 'Prefix of ownership TXT names (may contain %{record_type}); exclusive with --txt-suffix.',
      exclusive: ['txt-suffix'],
    }),
    'txt-suffix': Flags.string({description: 'Suffix of ownership TXT names, after the first label (may contain %{record_type}).'}),
    'domain-filter': Flags.string({description: 'Only names equal to or under this domain (repeatable).', multiple: true, delimiter: ','}),
    'exclude-domains': Flags.string({
      description: 'Never names equal to or under this domain (repeatable).',
      multiple: true,
      delimiter: ',',
    }),
    'dry-run': Flags.boolean({description: 'Print the plan; write nothing.'}),
    'max-change-percent': Flags.integer({
      description: `Refuse (exit 9) a plan updating+deleting more than this percent of the owned records, in a zone holding at least ${MIN_OWNED_FOR_PERCENT_RULE}.`,
      default: DEFAULT_MAX_CHANGE_PERCENT,
      min: 0,
      max: 100,
    }),
    force: Flags.boolean({description: 'Apply a plan the safety checks refuse.'}),
    'detailed-exitcode': Flags.boolean({
      description: 'Exit 0 when there was nothing to change, 8 when changes were applied (or are pending, under --dry-run).',
    }),
    'registry-zone': Flags.string({
      description: 'registry source: the zone DNS-SD names are built under (_NAME._tcp.NS.ZONE, NAME.NS.ZONE).',
      helpGroup: 'REGISTRY',
    }),
    kubeconfig: Flags.string({
      description: 'kubernetes source: kubeconfig file (default: KUBECONFIG, ~/.kube/config, in-cluster).',
      helpGroup: 'KUBERNETES',
    }),
    context: Flags.string({description: 'kubernetes source: kubeconfig context.', helpGroup: 'KUBERNETES'}),
    'kube-namespace': Flags.string({
      description: 'kubernetes source: only this Kubernetes namespace (default: all). --namespace is a deprecated alias.',
      aliases: ['namespace'],
      helpGroup: 'KUBERNETES',
    }),
    'label-filter': Flags.string({description: 'kubernetes source: label selector for Services and Ingresses.', helpGroup: 'KUBERNETES'}),
    'annotation-prefix': Flags.string({
      description:
        'kubernetes source: annotation prefix (default: both external-dns.alpha.kubernetes.io/ and external-dns.kubernetes.io/).',
      helpGroup: 'KUBERNETES',
    }),
    ...registryFlags,
  }

  private intervalMs(): number | undefined {
    const value = this.flags.interval
    if (value === undefined || value === '') return undefined
    return timerMs(parseDuration(value, 'interval'))
  }

  private async buildSources(): Promise<Source[]> {
    const f = this.flags
    const kinds = [...new Set(f.source)]
    const sources: Source[] = []
    for (const kind of kinds) {
      if (kind === 'file') {
        if (!f.file || f.file.length === 0) throw new InvalidInputError(`file is required with ${setting('source')} file`, {field: 'file'})
        const {FileSource} = await import('../../lib/dns/sources/file-source.js')
        sources.push(new FileSource(f.file))
      } else if (kind === 'registry') {
        const zone = f['registry-zone'] ?? f.zone ?? f['rfc2136-zone']
        if (!zone) throw new InvalidInputError(`registry-zone is required with ${setting('source')} registry`, {field: 'registry-zone'})
        const {RegistrySource} = await import('../../lib/dns/sources/registry-source.js')
        sources.push(new RegistrySource(await this.registry(), zone))
      } else {
        const {KubernetesSource} = await import('../../lib/dns/sources/kubernetes-source.js')
        sources.push(
          new KubernetesSource({
            kubeconfig: f.kubeconfig,
            context: f.context,
            namespace: f['kube-namespace'],
            labelSelector: f['label-filter'],
            annotationPrefix: f['annotation-prefix'],
            timeoutMs: this.timeoutMs,
          }),
        )
      }
    }
    return sources
  }

  private async buildProvider(): Promise<Provider> {
    const f = this.flags
    const {createProvider} = await import('../../lib/dns/providers/create-provider.js')
    return createProvider({
      provider: f.provider,
      timeoutMs: this.timeoutMs,
      zoneFile: f['zone-file'],
      zone: f.zone,
      pdnsServer: f['pdns-server'],
      pdnsApiKey: f['pdns-api-key'],
      pdnsServerId: f['pdns-server-id'],
      pdnsZone: f['pdns-zone'],
      rfc2136Host: f['rfc2136-host'],
      rfc2136Port: f['rfc2136-port'],
      rfc2136Zone: f['rfc2136-zone'],
      rfc2136TsigKeyName: f['rfc2136-tsig-keyname'],
      rfc2136TsigSecret: f['rfc2136-tsig-secret'],
      rfc2136TsigAlg: f['rfc2136-tsig-alg'],
      webhookUrl: f['webhook-url'],
    })
  }

  private async printPlan(changes: SyncResult['changes'], conflicts: PlanConflict[]): Promise<void> {
    if (this.jsonEnabled()) return
    const targets = (ep: Endpoint): string => ep.targets.join(', ')
    const ttl = (ep: Endpoint): string => (ep.recordTTL === undefined ? '' : String(ep.recordTTL))
    const rows: PlanRow[] = [
      ...changes.create.map((ep) => ({action: 'create', name: ep.dnsName, type: ep.recordType, targets: targets(ep), ttl: ttl(ep)})),
      ...changes.updateNew.map((ep, i) => {
        const old = changes.updateOld[i] as Endpoint
        const oldTtl = ttl(old)
        const newTtl = ttl(ep)
        return {
          action: 'update',
          name: ep.dnsName,
          type: ep.recordType,
          targets: `${targets(old)} → ${targets(ep)}`,
          ttl: oldTtl === newTtl ? newTtl : `${oldTtl || '-'} → ${newTtl || '-'}`,
        }
      }),
      ...changes.delete.map((ep) => ({action: 'delete', name: ep.dnsName, type: ep.recordType, targets: targets(ep), ttl: ttl(ep)})),
    ]
    if (rows.length > 0) await this.printRows(rows, PLAN_COLUMNS)
    for (const c of conflicts) this.logToStderr(`roster: warning: skipped ${c.dnsName} ${c.recordType}: ${c.reason}`)
  }

  private summaryLine(result: SyncResult): string {
    const {create, update, delete: del} = result.summary
    const total = create + update + del
    const counts = `${create} to create, ${update} to update, ${del} to delete`
    const conflicts = result.conflicts.length > 0 ? `; ${result.conflicts.length} skipped (not owned by "${this.flags['owner-id']}")` : ''
    if (total === 0)
      return `No changes: DNS matches the sources (${result.owned} records owned by "${this.flags['owner-id']}"${conflicts}).`
    if (result.dryRun) return `Plan: ${counts}${conflicts}. Dry run: nothing written.`
    return `Applied: ${counts}${conflicts}.`
  }

  private async progress(): Promise<{onProgress?: (done: number, total: number) => void; stop: () => void}> {
    if (!process.stderr.isTTY || this.jsonEnabled()) return {stop: () => undefined}
    const {SingleBar, Presets} = await import('cli-progress')
    let bar: InstanceType<typeof SingleBar> | undefined
    return {
      onProgress: (done, total) => {
        if (total < PROGRESS_MIN_CHANGES) return
        if (bar === undefined) {
          bar = new SingleBar(
            {stream: process.stderr, format: 'applying [{bar}] {value}/{total} records', hideCursor: true},
            Presets.shades_classic,
          )
          bar.start(total, 0)
        }
        bar.update(done)
      },
      stop: () => bar?.stop(),
    }
  }

  private async syncOptions(sources: Source[], provider: Provider): Promise<SyncOptions> {
    const f = this.flags
    return {
      sources,
      provider,
      policy: f.policy,
      ownerId: f['owner-id'],
      txtPrefix: f['txt-prefix'],
      txtSuffix: f['txt-suffix'],
      domainFilter: f['domain-filter'],
      excludeDomains: f['exclude-domains'],
      dryRun: f['dry-run'],
      maxChangePercent: f['max-change-percent'],
      force: f.force,
      onPlan: ({changes, conflicts}) => this.printPlan(changes, conflicts),
    }
  }

  /** --watch: runs started by registry and cluster changes (src/lib/loop/sync-watch.ts). */
  private async watchLoop(): Promise<ReturnType<typeof import('../../lib/loop/sync-watch.js').syncWatchLoop>> {
    const f = this.flags
    const {dnsSyncTriggers, syncWatchLoop} = await import('../../lib/loop/sync-watch.js')
    const {isRemoteRegistry} = await import('../../lib/store/open-store.js')
    const store = f.source.includes('registry') && !isRemoteRegistry(f.registry) ? await this.openStore() : undefined
    const cluster = {
      kubeconfig: f.kubeconfig,
      context: f.context,
      timeoutMs: this.timeoutMs,
      namespace: f['kube-namespace'],
      labelSelector: f['label-filter'],
    }
    return syncWatchLoop(dnsSyncTriggers({sources: f.source, store, cluster}))
  }

  async run(): Promise<SyncResult | {runs: number}> {
    // -n/--namespace is roster's namespace in every other command; here it once meant Kubernetes'.
    if (this.argv.some((a) => a === '--namespace' || a.startsWith('--namespace='))) {
      this.logToStderr('roster: warning: --namespace is deprecated in dns sync: use --kube-namespace (a Kubernetes namespace)')
    }
    const f = this.flags
    if (f['owner-id'].trim() === '') throw InvalidInputError.forField('owner-id', f['owner-id'], 'must not be empty')
    const intervalMs = this.intervalMs()
    const sources = await this.buildSources()
    const provider = await this.buildProvider()
    const {runSync, runSyncLoop, hasChanges} = await import('../../lib/dns/sync.js')
    try {
      if (intervalMs === undefined && !f.watch) {
        const bar = await this.progress()
        let result: SyncResult
        try {
          result = await runSync({...(await this.syncOptions(sources, provider)), ...(bar.onProgress ? {onProgress: bar.onProgress} : {})})
        } finally {
          bar.stop()
        }
        if (!this.jsonEnabled()) this.log(this.summaryLine(result))
        if (f['detailed-exitcode'] && hasChanges(result)) process.exitCode = 8
        return result
      }
      const {runUntilSignal} = await import('../../lib/loop/run-until-signal.js')
      const loop = f.watch ? await this.watchLoop() : runSyncLoop
      const runs = await runUntilSignal((signal) =>
        loop(async () => this.syncOptions(sources, provider), {
          intervalMs: intervalMs ?? 60_000,
          signal,
          onResult: (result) => {
            if (this.jsonEnabled()) this.log(JSON.stringify(result))
            else this.log(`${new Date().toISOString()} ${this.summaryLine(result)}`)
          },
          onError: (error) => {
            this.nameSettings(error)
            const message = error instanceof Error ? error.message : String(error)
            const code = error instanceof RosterError ? ` (exit ${error.exitCode})` : ''
            this.logToStderr(`roster: ${new Date().toISOString()} sync failed${code}: ${scrubSecrets(message, this.secretValues())}`)
          },
        }),
      )
      return {runs}
    } finally {
      await provider.close?.()
    }
  }
}
