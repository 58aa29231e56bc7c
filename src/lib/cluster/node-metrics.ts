/**
 * The Prometheus text exposition format (version 0.0.4) for node readiness: kube-node-status's
 * series, kube-state-metrics' kube_node_status_condition, and the exporter's own health.
 * Hand-written (no prom-client): a handful of gauges, HELP/TYPE lines, label values escaped
 * (backslash, double quote, line feed), HELP text escaped (backslash, line feed).
 */
import {leaseAgeSeconds, type NodeLease} from './node-lease.js'
import {countNodes, type NodeSummary} from './node-readiness.js'

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

export interface ExporterHealth {
  /** 1 while the most recent API call failed. */
  lastError: boolean
  lastErrorMessage?: string
  lastErrorTime?: number
  /** When the state was last confirmed by the API (list or watch event/bookmark/open). */
  lastSuccessTime?: number
  errorsTotal: number
  /** Whether the initial list has completed. */
  synced: boolean
}

export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (v === Infinity) return '+Inf'
  if (v === -Infinity) return '-Inf'
  return String(v)
}

class Exposition {
  private readonly lines: string[] = []
  family(name: string, type: 'gauge' | 'counter', help: string): this {
    this.lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`)
    return this
  }
  sample(name: string, labels: Record<string, string>, value: number): this {
    const entries = Object.entries(labels)
    const l = entries.length === 0 ? '' : `{${entries.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}`
    this.lines.push(`${name}${l} ${formatValue(value)}`)
    return this
  }
  toString(): string {
    return this.lines.join('\n') + '\n'
  }
}

/**
 * Node readiness series; `leases` adds each node's heartbeat age (at `now`), `health` the
 * exporter's roster_node_status_* series.
 */
export function formatNodeMetrics(
  nodes: Iterable<NodeSummary>,
  o: {health?: ExporterHealth; leases?: ReadonlyMap<string, NodeLease>; now?: number} = {},
): string {
  const list = [...nodes]
  let text = formatNodeSeries(list)
  if (o.leases) text += formatLeaseSeries(list, o.leases, o.now ?? Date.now())
  if (o.health) text += formatHealthSeries(o.health)
  return text
}

/** The kube_node_status* series. */
export function formatNodeSeries(nodes: Iterable<NodeSummary>): string {
  const list = [...nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  const totals = countNodes(list)
  const out = new Exposition()

  out.family('kube_node_status', 'gauge', 'Whether the node is Ready (1) or not (0): its Ready condition, read by type.')
  for (const n of list) out.sample('kube_node_status', {node: n.name}, n.ready === 'True' ? 1 : 0)

  out.family('kube_node_status_nodes_total', 'gauge', 'Number of nodes.')
  out.sample('kube_node_status_nodes_total', {}, totals.total)
  out.family('kube_node_status_nodes_ready', 'gauge', 'Number of nodes whose Ready condition is True.')
  out.sample('kube_node_status_nodes_ready', {}, totals.ready)
  out.family('kube_node_status_nodes_not_ready', 'gauge', 'Number of nodes whose Ready condition is False or Unknown, or missing.')
  out.sample('kube_node_status_nodes_not_ready', {}, totals.notReady)
  out.family(
    'kube_node_status_nodes_unknown',
    'gauge',
    'Number of nodes whose Ready condition is Unknown or missing (included in not_ready).',
  )
  out.sample('kube_node_status_nodes_unknown', {}, totals.unknown)
  out.family('kube_node_status_nodes_not_ready_ratio', 'gauge', 'Fraction of nodes that are not Ready, 0..1 (0 when there are no nodes).')
  out.sample('kube_node_status_nodes_not_ready_ratio', {}, totals.total === 0 ? 0 : totals.notReady / totals.total)

  out.family('kube_node_status_condition', 'gauge', 'The condition of a cluster node (as kube-state-metrics reports it).')
  for (const n of list) {
    for (const c of n.conditions) {
      const s = c.status.toLowerCase()
      for (const status of ['true', 'false', 'unknown']) {
        out.sample('kube_node_status_condition', {node: n.name, condition: c.type, status}, s === status ? 1 : 0)
      }
    }
  }

  out.family('kube_node_spec_unschedulable', 'gauge', 'Whether the node is cordoned (spec.unschedulable): 1, or 0.')
  for (const n of list) out.sample('kube_node_spec_unschedulable', {node: n.name}, n.unschedulable ? 1 : 0)

  out.family('kube_node_spec_taint', 'gauge', 'A taint of a cluster node (as kube-state-metrics reports it): 1 per taint.')
  for (const n of list) {
    for (const t of n.taints) out.sample('kube_node_spec_taint', {node: n.name, key: t.key, value: t.value ?? '', effect: t.effect}, 1)
  }

  out.family(
    'roster_node_status_condition_last_transition_timestamp_seconds',
    'gauge',
    'When the condition last changed status (Unix time), from its lastTransitionTime.',
  )
  for (const n of list) {
    for (const c of n.conditions) {
      const t = c.lastTransitionTime ? Date.parse(c.lastTransitionTime) : NaN
      if (!Number.isNaN(t))
        out.sample('roster_node_status_condition_last_transition_timestamp_seconds', {node: n.name, condition: c.type}, t / 1000)
    }
  }

  return out.toString()
}

/** Each node's heartbeat age from its Lease in kube-node-lease (nodes without one have no series). */
export function formatLeaseSeries(nodes: Iterable<Pick<NodeSummary, 'name'>>, leases: ReadonlyMap<string, NodeLease>, now: number): string {
  const out = new Exposition()
  out.family(
    'roster_node_lease_renew_age_seconds',
    'gauge',
    'Seconds since the node last renewed its Lease in kube-node-lease (its kubelet heartbeat).',
  )
  const names = [...nodes].map((n) => n.name).sort()
  for (const name of names) {
    const age = leaseAgeSeconds(leases.get(name), now)
    if (age !== undefined) out.sample('roster_node_lease_renew_age_seconds', {node: name}, Math.round(age * 1000) / 1000)
  }
  return out.toString()
}

/** The exporter's own series: API health and staleness. */
export function formatHealthSeries(health: ExporterHealth): string {
  const out = new Exposition()
  {
    out.family('roster_node_status_up', 'gauge', 'Whether the last call to the Kubernetes API succeeded (1) or failed (0).')
    out.sample('roster_node_status_up', {}, health.lastError ? 0 : 1)
    out.family(
      'roster_node_status_last_error',
      'gauge',
      'Whether the last call to the Kubernetes API failed (1); the series above then keep the last good state.',
    )
    out.sample('roster_node_status_last_error', {}, health.lastError ? 1 : 0)
    out.family(
      'roster_node_status_last_error_timestamp_seconds',
      'gauge',
      'When a call to the Kubernetes API last failed (Unix time; 0 if never).',
    )
    out.sample('roster_node_status_last_error_timestamp_seconds', {}, health.lastErrorTime ? health.lastErrorTime / 1000 : 0)
    out.family(
      'roster_node_status_last_success_timestamp_seconds',
      'gauge',
      'When the Kubernetes API last confirmed the state (Unix time; 0 if never).',
    )
    out.sample('roster_node_status_last_success_timestamp_seconds', {}, health.lastSuccessTime ? health.lastSuccessTime / 1000 : 0)
    out.family('roster_node_status_api_errors_total', 'counter', 'Failed calls to the Kubernetes API since start.')
    out.sample('roster_node_status_api_errors_total', {}, health.errorsTotal)
    out.family('roster_node_status_synced', 'gauge', 'Whether the initial list of nodes has completed (1).')
    out.sample('roster_node_status_synced', {}, health.synced ? 1 : 0)
  }
  return out.toString()
}
