import {Flags} from '@oclif/core'

import {RosterCommand, outputFlags} from '../command/base-command.js'
import type {NodeExporterOptions} from '../lib/cluster/node-exporter.js'
import type {NodeStatusReport} from '../lib/cluster/node-status.js'
import type {NodeRow, NodeSummary, NodeTotals} from '../lib/cluster/node-readiness.js'
import {CommandExitError, ExitCode, InvalidInputError} from '../lib/errors.js'

/** Under --json (and -o json/yaml/wide/prometheus) every node's summary; the default table's rows otherwise. */
export type NodeStatusResult = NodeStatusReport | NodeStatusReport<NodeRow>

export default class NodeStatus extends RosterCommand<typeof NodeStatus> {
  static override description = [
    'Report Kubernetes node readiness: a table like kubectl get nodes, JSON/YAML, Prometheus text,',
    'a CI gate (--fail-if-not-ready, exit 7), a live view (--watch) or an exporter (--serve).',
  ].join(' ')

  static override examples = [
    '<%= config.bin %> node-status',
    '<%= config.bin %> node-status -o wide -l node-role.kubernetes.io/worker',
    '<%= config.bin %> node-status --context prod --fail-if-not-ready 10%',
    '<%= config.bin %> node-status -o prometheus',
    '<%= config.bin %> node-status --watch',
    '<%= config.bin %> node-status --serve 127.0.0.1:2112',
  ]

  static override flags = {
    ...outputFlags(['table', 'wide', 'json', 'yaml', 'prometheus'] as const),
    kubeconfig: Flags.string({
      description: 'Kubeconfig file (default: $KUBECONFIG, merged, then ~/.kube/config, then the in-cluster service account).',
    }),
    context: Flags.string({description: 'Kubeconfig context to use (default: its current-context).'}),
    selector: Flags.string({
      char: 'l',
      description: 'Only nodes matching this label selector (node-role.kubernetes.io/worker, zone in (a,b)).',
    }),
    'fail-if-not-ready': Flags.string({
      description: 'Exit 7 when more than N nodes, or more than P% of them, are not Ready (after printing).',
      helpValue: 'N|P%',
    }),
    watch: Flags.boolean({
      char: 'w',
      description: 'After the list, print changes as they happen (watch API) until interrupted.',
      exclusive: ['serve'],
    }),
    'lease-stale': Flags.string({
      description:
        'Name, in the summary line, every node whose Lease in kube-node-lease (its kubelet heartbeat) is older than this, even while its Ready condition still says True.',
      default: '40s',
      helpValue: 'DURATION',
    }),
    serve: Flags.string({
      description:
        'Serve Prometheus metrics (/metrics, /healthz), kept current by a watch, until interrupted, on PORT or :PORT (127.0.0.1), HOST:PORT or [IPv6]:PORT; 0.0.0.0:PORT or [::]:PORT for every interface (needs --tls-cert/--tls-key or --insecure-plaintext).',
      helpValue: 'HOST:PORT',
      exclusive: ['watch'],
    }),
    'tls-cert': Flags.string({description: 'With --serve: serve HTTPS with this certificate (PEM).', dependsOn: ['serve']}),
    'tls-key': Flags.string({description: 'Private key of --tls-cert (PEM).', dependsOn: ['serve']}),
    'insecure-plaintext': Flags.boolean({description: 'With --serve: allow plain HTTP off loopback.', dependsOn: ['serve']}),
  }

  async run(): Promise<NodeStatusResult> {
    const f = this.flags
    const {parseNotReadyThreshold, checkNotReady} = await import('../lib/cluster/node-readiness.js')
    const threshold = f['fail-if-not-ready'] ? parseNotReadyThreshold(f['fail-if-not-ready']) : undefined
    if (threshold && (f.watch || f.serve)) {
      throw new InvalidInputError('--fail-if-not-ready checks one listing; it cannot be combined with --watch or --serve', {
        field: 'fail-if-not-ready',
      })
    }
    const {parseDuration} = await import('../lib/config/duration.js')
    const leaseStaleMs = parseDuration(f['lease-stale'], 'lease-stale')
    const clusterOptions = {kubeconfig: f.kubeconfig, context: f.context, timeoutMs: this.timeoutMs, labelSelector: f.selector}

    if (f.serve) {
      return this.serve({
        ...clusterOptions,
        listen: f.serve,
        tlsCert: f['tls-cert'],
        tlsKey: f['tls-key'],
        insecurePlaintext: f['insecure-plaintext'],
      })
    }
    if (f.watch) return this.watch(clusterOptions)

    const {getNodeStatus, getNodeTable} = await import('../lib/cluster/node-status.js')
    // The default table needs what the server prints (kubectl's Table); everything else, the nodes.
    const tableOnly = !this.jsonEnabled() && f.output === 'table'
    const options = {...clusterOptions, leaseStaleMs}
    const {requests: _requests, ...report} = tableOnly ? await getNodeTable(options) : await getNodeStatus(options)
    if (report.leases?.unavailable && !this.jsonEnabled())
      this.logToStderr(`roster: warning: ${report.leases.unavailable}: node heartbeats (Leases) are left out`)
    await this.printReport(report)
    if (threshold) {
      const failure = checkNotReady(report.totals, threshold)
      if (failure) throw new CommandExitError(failure, ExitCode.notReady, 'not_ready')
    }
    return report
  }

  private async printReport(report: NodeStatusResult): Promise<void> {
    if (this.jsonEnabled()) return
    const output = this.flags.output
    const {nodeColumns} = await import('../lib/cluster/node-format.js')
    const full = () => report as NodeStatusReport
    if (output === 'json' || output === 'yaml') {
      await this.printRows(full().nodes, nodeColumns(false), report)
    } else if (output === 'prometheus') {
      const {formatNodeMetrics} = await import('../lib/cluster/node-metrics.js')
      const nodes = full().nodes
      const leases = report.leases?.unavailable
        ? undefined
        : new Map(nodes.flatMap((n) => (n.leaseRenewTime ? [[n.name, {name: n.name, renewTime: n.leaseRenewTime}] as const] : [])))
      process.stdout.write(formatNodeMetrics(nodes, {leases}))
    } else {
      const {summaryLine} = await import('../lib/cluster/node-readiness.js')
      const {staleLeaseText} = await import('../lib/cluster/node-lease.js')
      if (report.nodes.length > 0) {
        if (output === 'wide') await this.printRows(full().nodes, nodeColumns(true))
        else await this.printRows<NodeRow>(report.nodes, nodeColumns(false))
      }
      const line =
        report.nodes.length === 0 && this.flags.selector
          ? `0 nodes match ${JSON.stringify(this.flags.selector)}`
          : summaryLine(report.totals) + staleLeaseText(report.leases)
      // After the table on stdout, as a person expects; to stderr under --no-headers so scripts reading rows get only rows.
      if (this.flags['no-headers']) this.logToStderr(line)
      else this.log(line)
    }
  }

  private async watch(options: {
    kubeconfig?: string
    context?: string
    timeoutMs: number
    labelSelector?: string
  }): Promise<NodeStatusResult> {
    const {watchNodeStatus} = await import('../lib/cluster/node-status.js')
    const {watchChangeLine} = await import('../lib/cluster/node-format.js')
    const output = this.flags.output
    const {runUntilSignal} = await import('../lib/loop/run-until-signal.js')
    let lastError = ''
    // Output in event order: the first table is printed asynchronously, changes queue behind it.
    let printing = Promise.resolve()
    const print = (fn: () => void | Promise<void>) => {
      printing = printing.then(fn).catch(() => undefined)
    }
    const report = await runUntilSignal((signal) =>
      watchNodeStatus({
        ...options,
        signal,
        onSynced: (r, info) => {
          if (info.relist) {
            if (!this.jsonEnabled()) this.logToStderr('roster: relisted nodes (the watch fell too far behind)')
            return
          }
          print(() => this.printReport(r))
        },
        onChange: (type, node: NodeSummary, totals: NodeTotals) => {
          if (this.jsonEnabled()) return
          const line =
            output === 'json' || output === 'yaml' || output === 'prometheus'
              ? JSON.stringify({type, node, totals})
              : watchChangeLine(type, node, totals, output === 'wide')
          print(() => this.log(line))
        },
        onError: (error, retryInMs) => {
          if (error.message !== lastError) this.logToStderr(`roster: ${error.message} (retrying in ${retryInMs} ms)`)
          lastError = error.message
        },
        onHealthy: () => {
          if (lastError) this.logToStderr('roster: the cluster answers again')
          lastError = ''
        },
      }),
    )
    await printing
    return report
  }

  private async serve(options: Omit<NodeExporterOptions, 'onLog'>): Promise<NodeStatusResult> {
    const {startNodeExporter} = await import('../lib/cluster/node-exporter.js')
    const {runUntilSignal, untilAborted} = await import('../lib/loop/run-until-signal.js')
    const exporter = await startNodeExporter({...options, onLog: (line) => this.logToStderr(`roster: ${line}`)})
    return runUntilSignal(async (signal) => {
      await Promise.race([untilAborted(signal), exporter.done])
      await exporter.close()
      await exporter.done
      return exporter.report()
    })
  }
}
