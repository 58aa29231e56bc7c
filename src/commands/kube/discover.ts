import {Flags} from '@oclif/core'

import {RosterCommand, registryFlags} from '../../command/base-command.js'
import {parseDuration, timerMs} from '../../lib/config/duration.js'
import type {ReconcileResult} from '../../lib/discover/reconcile.js'
import {InvalidInputError, RosterError, setting} from '../../lib/errors.js'
import {scrubSecrets} from '../../lib/config/secrets.js'

export default class KubeDiscover extends RosterCommand<typeof KubeDiscover> {
  static override description = `Register Kubernetes pods annotated prometheus.io/scrape: "true" (Running and Ready) as services, and unregister them when they stop, go unready, lose the annotation or vanish.
Only services carrying the label roster_owner=<--owner-id> are ever updated or removed; services registered by hand or by another owner are never touched (a pod whose endpoint is such a service is reported as a conflict). Refuses to remove everything when no target pod is listed while more than 10 services are owned (exit 9 with --once; --force overrides).
Without --once: watches the pods and reconciles on every change, at most every --min-interval, at least every --interval, until SIGTERM/SIGINT.`

  static override examples = [
    '<%= config.bin %> kube discover --once --owner-id prod-cluster -n k8s',
    '<%= config.bin %> kube discover --owner-id prod-cluster -n k8s --kube-namespace monitoring -l team=db --copy-labels app,app.kubernetes.io/*',
  ]

  static override flags = {
    namespace: Flags.string({
      char: 'n',
      description: 'Roster namespace the services are registered in (must be registered).',
      default: 'default',
    }),
    'owner-id': Flags.string({
      description: 'Owner id, kept in the roster_owner label of every service this discoverer registers. Required.',
      required: true,
    }),
    'kube-namespace': Flags.string({description: 'Only pods of this Kubernetes namespace (default: all namespaces).'}),
    selector: Flags.string({char: 'l', description: 'Only pods matching this Kubernetes label selector.'}),
    'name-from': Flags.string({
      description:
        'Service name: owner (the Deployment/StatefulSet/DaemonSet/… name, else the pod name), pod, label:KEY or annotation:KEY.',
      default: 'owner',
    }),
    'copy-labels': Flags.string({
      description: 'Pod labels copied onto the services: keys, or prefixes ending in * (comma separated; default none).',
      multiple: true,
      delimiter: ',',
    }),
    once: Flags.boolean({description: 'List once, reconcile once, exit (for CI and cron).'}),
    'min-interval': Flags.string({
      description: 'Watch mode: at most one reconcile per this interval (bursts are coalesced).',
      default: '1s',
    }),
    interval: Flags.string({description: 'Watch mode: at least one reconcile per this interval (a full resync).', default: '1m'}),
    'dry-run': Flags.boolean({description: 'Plan only: print what would change, write nothing.'}),
    force: Flags.boolean({description: 'Remove every owned service even when the cluster lists no target pod.'}),
    kubeconfig: Flags.string({
      description: 'Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then the in-cluster service account).',
    }),
    context: Flags.string({description: 'Kubeconfig context to use (default: its current-context).'}),
    ...registryFlags,
  }

  async run(): Promise<ReconcileResult | {syncs: number}> {
    const f = this.flags
    const ownerId = f['owner-id'].trim()
    const {labelValueProblem} = await import('../../lib/registry/validation.js')
    const problem = ownerId === '' ? 'must not be empty' : labelValueProblem(ownerId)
    if (problem) throw InvalidInputError.forField('owner-id', f['owner-id'], problem)
    const {parseNameFrom} = await import('../../lib/discover/pods.js')
    const nameFrom = parseNameFrom(f['name-from'])
    const minIntervalMs = timerMs(parseDuration(f['min-interval'], 'min-interval'))
    const maxIntervalMs = timerMs(parseDuration(f.interval, 'interval'))
    if (maxIntervalMs < minIntervalMs)
      throw InvalidInputError.forField('interval', f.interval, `must not be shorter than ${setting('min-interval')} (${f['min-interval']})`)
    const options = {
      kubeconfig: f.kubeconfig,
      context: f.context,
      timeoutMs: this.timeoutMs,
      kubeNamespace: f['kube-namespace'],
      labelSelector: f.selector,
      namespace: f.namespace,
      ownerId,
      nameFrom,
      force: f.force,
      dryRun: f['dry-run'],
      pods: {
        copyLabels: f['copy-labels'] ?? [],
        keepLabels: nameFrom.kind === 'label' ? [nameFrom.key] : [],
        keepAnnotations: nameFrom.kind === 'annotation' ? [nameFrom.key] : [],
      },
    }
    const registry = await this.registry()
    const {reconcileLine} = await import('../../lib/discover/reconcile.js')
    const report = (r: ReconcileResult): void => {
      for (const c of r.conflicts) this.logToStderr(`roster: warning: ${c.pod} (${c.endpoint}): ${c.reason}`)
      for (const s of r.skipped) this.logToStderr(`roster: warning: skipped ${s.pod}: ${s.reason}`)
    }
    if (f.once) {
      const {discoverOnce} = await import('../../lib/discover/discover.js')
      const {requests: _requests, ...result} = await discoverOnce(registry, options)
      report(result)
      if (!this.jsonEnabled()) this.log(reconcileLine(result))
      return result
    }
    const {runDiscoverLoop} = await import('../../lib/discover/discover.js')
    const {runUntilSignal} = await import('../../lib/loop/run-until-signal.js')
    let last = ''
    let lastError = ''
    return runUntilSignal((signal) =>
      runDiscoverLoop(registry, {
        ...options,
        minIntervalMs,
        maxIntervalMs,
        signal,
        onResult: (r) => {
          lastError = ''
          const changed = r.created + r.updated + r.removed > 0
          const line = reconcileLine(r)
          if (!changed && line === last) return
          last = line
          report(r)
          if (this.jsonEnabled()) this.log(JSON.stringify({time: new Date().toISOString(), ...r}))
          else this.log(`${new Date().toISOString()} ${line}`)
        },
        onError: (error) => {
          this.nameSettings(error)
          const message = error instanceof Error ? error.message : String(error)
          if (message === lastError) return
          lastError = message
          const code = error instanceof RosterError ? ` (exit ${error.exitCode})` : ''
          this.logToStderr(`roster: ${new Date().toISOString()} ${scrubSecrets(message, this.secretValues())}${code}`)
        },
        onHealthy: () => {
          if (lastError) this.logToStderr('roster: the cluster answers again')
          lastError = ''
        },
      }),
    )
  }
}
