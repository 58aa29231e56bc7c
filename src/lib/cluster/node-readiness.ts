/**
 * Node readiness, pure: a node object → a small summary (what roster prints and exports, nothing
 * more), kubectl's STATUS / ROLES / AGE text, totals, and the fail-if-not-ready gate.
 *
 * - The Ready condition is found by type, never by position in status.conditions.
 * - `ready` is the Ready condition's status: True, False, or Unknown (the node controller sets
 *   Unknown when the kubelet stops posting status; a node with no Ready condition is Unknown too).
 * - STATUS is kubectl's: Ready / NotReady (Ready False or Unknown) / Unknown (no Ready condition),
 *   plus ",SchedulingDisabled" when cordoned — so roster's table agrees with `kubectl get nodes`.
 */
import {InvalidInputError, setting} from '../errors.js'
import type {KubeNode, NodeAddress} from './kube-types.js'

export type ReadyStatus = 'True' | 'False' | 'Unknown'

export interface NodeConditionSummary {
  type: string
  status: string
  reason?: string
  message?: string
  lastTransitionTime?: string
}

export interface NodeSummary {
  name: string
  /** The Ready condition's status; Unknown when the node has none. */
  ready: ReadyStatus
  /** kubectl's STATUS column. */
  status: string
  roles: string[]
  version: string
  createdAt?: string
  unschedulable: boolean
  internalIP?: string
  externalIP?: string
  osImage?: string
  kernelVersion?: string
  containerRuntime?: string
  addresses: NodeAddress[]
  taints: Array<{key: string; value?: string; effect: string}>
  /** Every condition (heartbeat times left out: they change without anything changing). */
  conditions: NodeConditionSummary[]
  /** Conditions other than Ready that are True (MemoryPressure, DiskPressure, PIDPressure, NetworkUnavailable…). */
  problems: string[]
  /** When the node last renewed its Lease in kube-node-lease (its kubelet's heartbeat), when known. */
  leaseRenewTime?: string
}

/** What the default table shows of a node (NAME STATUS ROLES AGE VERSION) and what the totals count. */
export type NodeRow = Pick<NodeSummary, 'name' | 'ready' | 'status' | 'roles' | 'version' | 'createdAt'>

export interface NodeTotals {
  total: number
  ready: number
  /** Not Ready: Ready False, Unknown, or missing. ready + notReady = total. */
  notReady: number
  /** Of the not-ready nodes, those whose Ready is Unknown or missing. */
  unknown: number
}

const ROLE_PREFIX = 'node-role.kubernetes.io/'
const LEGACY_ROLE_LABEL = 'kubernetes.io/role'

/** kubectl's findNodeRoles: `node-role.kubernetes.io/<role>` keys and a `kubernetes.io/role` value, sorted, unique. */
export function nodeRoles(labels: Record<string, string> | undefined): string[] {
  const roles = new Set<string>()
  for (const [key, value] of Object.entries(labels ?? {})) {
    if (key.startsWith(ROLE_PREFIX)) {
      const role = key.slice(ROLE_PREFIX.length)
      if (role !== '') roles.add(role)
    } else if (key === LEGACY_ROLE_LABEL && value !== '') roles.add(value)
  }
  return [...roles].sort()
}

/**
 * Node fields (objects and arrays) summarizeNode never reads: lists leave them out before parsing.
 * They are most of a node on the wire: the images it holds, its volumes, the server-side-apply
 * bookkeeping, annotations that network plugins fill.
 */
export const NODE_FIELDS_UNREAD: readonly string[] = [
  'metadata.managedFields',
  'metadata.annotations',
  'metadata.ownerReferences',
  'spec.podCIDRs',
  'spec.configSource',
  'status.images',
  'status.volumesInUse',
  'status.volumesAttached',
  'status.capacity',
  'status.allocatable',
  'status.daemonEndpoints',
  'status.config',
  'status.runtimeHandlers',
  'status.features',
]

export function summarizeNode(node: KubeNode): NodeSummary {
  const conditions = node.status?.conditions ?? []
  const readyCondition = conditions.find((c) => c.type === 'Ready')
  const ready: ReadyStatus = readyCondition?.status === 'True' ? 'True' : readyCondition?.status === 'False' ? 'False' : 'Unknown'
  const unschedulable = node.spec?.unschedulable === true
  const status = [readyCondition ? (readyCondition.status === 'True' ? 'Ready' : 'NotReady') : 'Unknown']
  if (unschedulable) status.push('SchedulingDisabled')
  const addresses = (node.status?.addresses ?? []).map((a) => ({type: a.type, address: a.address}))
  const info = node.status?.nodeInfo ?? {}
  const summary: NodeSummary = {
    name: node.metadata.name,
    ready,
    status: status.join(','),
    roles: nodeRoles(node.metadata.labels),
    version: info.kubeletVersion ?? '',
    unschedulable,
    addresses,
    taints: (node.spec?.taints ?? []).map((t) => ({key: t.key, ...(t.value ? {value: t.value} : {}), effect: t.effect})),
    conditions: conditions.map((c) => ({
      type: c.type,
      status: c.status,
      ...(c.reason ? {reason: c.reason} : {}),
      ...(c.message ? {message: c.message} : {}),
      ...(c.lastTransitionTime ? {lastTransitionTime: c.lastTransitionTime} : {}),
    })),
    problems: conditions.filter((c) => c.type !== 'Ready' && c.status === 'True').map((c) => c.type),
  }
  if (node.metadata.creationTimestamp) summary.createdAt = node.metadata.creationTimestamp
  const internal = addresses.find((a) => a.type === 'InternalIP')?.address
  const external = addresses.find((a) => a.type === 'ExternalIP')?.address
  if (internal) summary.internalIP = internal
  if (external) summary.externalIP = external
  if (info.osImage) summary.osImage = info.osImage
  if (info.kernelVersion) summary.kernelVersion = info.kernelVersion
  if (info.containerRuntimeVersion) summary.containerRuntime = info.containerRuntimeVersion
  return summary
}

export function countNodes(nodes: Iterable<Pick<NodeSummary, 'ready'>>): NodeTotals {
  const totals: NodeTotals = {total: 0, ready: 0, notReady: 0, unknown: 0}
  for (const n of nodes) {
    totals.total++
    if (n.ready === 'True') totals.ready++
    else {
      totals.notReady++
      if (n.ready === 'Unknown') totals.unknown++
    }
  }
  return totals
}

/** "3/4 nodes ready", with the not-ready count and how many of them are Unknown. */
export function summaryLine(t: NodeTotals): string {
  let line = `${t.ready}/${t.total} nodes ready`
  if (t.notReady > 0) line += `, ${t.notReady} not ready${t.unknown > 0 ? ` (${t.unknown} unknown)` : ''}`
  return line
}

/** kubectl's AGE: apimachinery's duration.HumanDuration of now − creationTimestamp; "<unknown>" without one. */
export function nodeAge(createdAt: string | undefined, now: number = Date.now()): string {
  if (!createdAt) return '<unknown>'
  const t = Date.parse(createdAt)
  return Number.isNaN(t) ? '<unknown>' : humanDuration(now - t)
}

/** apimachinery's duration.HumanDuration: ~2-3 significant figures (45s, 5m30s, 3h, 5d4h, 400d, 3y120d, 9y). */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000)
  if (seconds < -1) return '<invalid>'
  if (seconds < 0) return '0s'
  if (seconds < 60 * 2) return `${seconds}s`
  const minutes = Math.trunc(seconds / 60)
  if (minutes < 10) {
    const s = seconds % 60
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`
  }
  if (minutes < 60 * 3) return `${minutes}m`
  const hours = Math.trunc(minutes / 60)
  if (hours < 8) {
    const m = minutes % 60
    return m === 0 ? `${hours}h` : `${hours}h${m}m`
  }
  if (hours < 48) return `${hours}h`
  if (hours < 24 * 8) {
    const h = hours % 24
    return h === 0 ? `${Math.trunc(hours / 24)}d` : `${Math.trunc(hours / 24)}d${h}h`
  }
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24)}d`
  if (hours < 24 * 365 * 8) {
    const dy = Math.trunc(hours / 24) % 365
    const y = Math.trunc(hours / 24 / 365)
    return dy === 0 ? `${y}y` : `${y}y${dy}d`
  }
  return `${Math.trunc(hours / 24 / 365)}y`
}

export type NotReadyThreshold = {kind: 'count'; value: number; text: string} | {kind: 'percent'; value: number; text: string}

/** The fail-if-not-ready gate: `N` (a count) or `P%` (a percentage of the listed nodes, 0–100). */
export function parseNotReadyThreshold(text: string): NotReadyThreshold {
  const t = text.trim()
  let m = /^(\d+)$/.exec(t)
  if (m) return {kind: 'count', value: Number(m[1]), text: t}
  m = /^(\d+(?:\.\d+)?)%$/.exec(t)
  if (m && Number(m[1]) <= 100) return {kind: 'percent', value: Number(m[1]), text: t}
  throw InvalidInputError.forField('fail-if-not-ready', text, 'expected a node count (2) or a percentage of the nodes (10%)')
}

/** The gate's verdict: undefined when it passes, else the one-line reason. */
export function checkNotReady(totals: NodeTotals, threshold: NotReadyThreshold): string | undefined {
  const {notReady, total} = totals
  if (threshold.kind === 'count') {
    if (notReady <= threshold.value) return undefined
    return `${notReady} of ${total} nodes are not Ready, more than the ${threshold.value} allowed by ${setting('fail-if-not-ready')} ${threshold.text}`
  }
  const percent = total === 0 ? 0 : (notReady * 100) / total
  if (percent <= threshold.value) return undefined
  return `${formatPercent(percent)} of nodes are not Ready (${notReady} of ${total}), more than the ${threshold.text} allowed by ${setting('fail-if-not-ready')}`
}

function formatPercent(p: number): string {
  return `${Number.isInteger(p) ? p : p.toFixed(1)}%`
}
