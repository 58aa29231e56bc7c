/**
 * Pods as `kube discover` and `kube metrics-proxy` see them: the scrape target a pod offers
 * (Prometheus' annotations), or none. An informer keeps these summaries, never the raw pods.
 *
 * A pod is a target when it is Running, Ready, not being deleted, has an IP, and carries
 * `prometheus.io/scrape: "true"`. `prometheus.io/port` (default 80), `prometheus.io/path`
 * (default /metrics) and `prometheus.io/scheme` (http or https, default http) make the URL.
 */
import {InvalidInputError} from '../errors.js'
import type {ObjectMeta} from '../cluster/kube-types.js'

export interface OwnerReference {
  apiVersion?: string
  kind: string
  name: string
  uid?: string
  controller?: boolean
}

export interface KubePod {
  apiVersion?: string
  kind?: string
  metadata: ObjectMeta & {ownerReferences?: OwnerReference[]}
  spec?: {nodeName?: string}
  status?: {
    phase?: string
    podIP?: string
    conditions?: Array<{type: string; status: string}>
  }
}

export const SCRAPE_ANNOTATION = 'prometheus.io/scrape'
export const PORT_ANNOTATION = 'prometheus.io/port'
export const PATH_ANNOTATION = 'prometheus.io/path'
export const SCHEME_ANNOTATION = 'prometheus.io/scheme'

/** The scrape target of one pod. */
export interface PodTarget {
  /** Kubernetes namespace. */
  namespace: string
  pod: string
  node: string
  ip: string
  /** The pod's URL, e.g. http://10.1.2.3:9100/metrics. */
  url: string
  /** Name of the controller owning the pod (Deployment, StatefulSet, DaemonSet…), else the pod's name. */
  owner: string
  labels: Record<string, string>
  annotations: Record<string, string>
  /** Why the pod's annotations make no valid target (the pod is then skipped, never guessed). */
  problem?: string
}

export interface PodSummaryOptions {
  /** Pod label keys to keep (exact keys, or a prefix ending in `*`); none by default. */
  copyLabels?: readonly string[]
  /** `label:KEY` / `annotation:KEY` name sources need those kept. */
  keepLabels?: readonly string[]
  keepAnnotations?: readonly string[]
}

/** True when a label key matches one of the patterns (exact, or `prefix*`). */
export function matchesKeyPattern(key: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => (p.endsWith('*') ? key.startsWith(p.slice(0, -1)) : key === p))
}

/**
 * The controller's name without an API call: a ReplicaSet created by a Deployment is named
 * `<deployment>-<pod-template-hash>` and its pods carry the `pod-template-hash` label, so the
 * suffix is stripped (as kubectl's and Prometheus' relabelling conventions do). Other
 * controllers (StatefulSet, DaemonSet, Job, ReplicationController…) give their own name.
 */
export function ownerName(meta: KubePod['metadata']): string {
  const refs = meta.ownerReferences ?? []
  const ref = refs.find((r) => r.controller) ?? refs[0]
  if (!ref) return meta.name
  if (ref.kind === 'ReplicaSet') {
    const hash = meta.labels?.['pod-template-hash']
    if (hash && ref.name.endsWith(`-${hash}`)) return ref.name.slice(0, -(hash.length + 1))
  }
  return ref.name
}

function isReady(pod: KubePod): boolean {
  return (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
}

function hostOf(ip: string): string {
  return ip.includes(':') ? `[${ip}]` : ip
}

/** The target a pod offers, or null when it is not a (ready, annotated) target. */
export function podTarget(pod: KubePod, o: PodSummaryOptions = {}): PodTarget | null {
  const meta = pod.metadata
  const annotations = meta.annotations ?? {}
  if (annotations[SCRAPE_ANNOTATION] !== 'true') return null
  if (meta.deletionTimestamp) return null
  if (pod.status?.phase !== 'Running' || !isReady(pod)) return null
  const ip = pod.status?.podIP
  if (!ip) return null
  const namespace = meta.namespace ?? 'default'
  const labels: Record<string, string> = {}
  const keep = [...(o.copyLabels ?? []), ...(o.keepLabels ?? [])]
  for (const [k, v] of Object.entries(meta.labels ?? {})) if (matchesKeyPattern(k, keep)) labels[k] = v
  const kept: Record<string, string> = {}
  for (const k of o.keepAnnotations ?? []) if (annotations[k] !== undefined) kept[k] = annotations[k]
  const target: PodTarget = {
    namespace,
    pod: meta.name,
    node: pod.spec?.nodeName ?? '',
    ip,
    url: '',
    owner: ownerName(meta),
    labels,
    annotations: kept,
  }
  const portText = annotations[PORT_ANNOTATION] ?? '80'
  const port = Number(portText)
  const scheme = annotations[SCHEME_ANNOTATION] ?? 'http'
  let path = annotations[PATH_ANNOTATION] ?? '/metrics'
  if (!path.startsWith('/')) path = `/${path}`
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) target.problem = `annotation ${PORT_ANNOTATION}="${portText}" is not a port`
  else if (scheme !== 'http' && scheme !== 'https') target.problem = `annotation ${SCHEME_ANNOTATION}="${scheme}" is not http or https`
  else target.url = `${scheme}://${hostOf(ip)}:${port}${path}`
  return target
}

/** The name-from setting: owner (default), pod, label:KEY, annotation:KEY. */
export type NameFrom = {kind: 'owner'} | {kind: 'pod'} | {kind: 'label'; key: string} | {kind: 'annotation'; key: string}

export function parseNameFrom(text: string | undefined): NameFrom {
  const value = (text ?? 'owner').trim()
  if (value === 'owner' || value === '') return {kind: 'owner'}
  if (value === 'pod') return {kind: 'pod'}
  const m = /^(label|annotation):(.+)$/.exec(value)
  if (m) return {kind: m[1] as 'label' | 'annotation', key: m[2] as string}
  throw InvalidInputError.forField('name-from', value, 'must be owner, pod, label:KEY or annotation:KEY')
}

const MAX_NAME = 63

/** A registry service name from a Kubernetes name: letters, digits, "_" and "-" (others become "_"), at most 63. */
export function serviceNameOf(target: PodTarget, nameFrom: NameFrom): string {
  let raw: string | undefined
  if (nameFrom.kind === 'pod') raw = target.pod
  else if (nameFrom.kind === 'label') raw = target.labels[nameFrom.key]
  else if (nameFrom.kind === 'annotation') raw = target.annotations[nameFrom.key]
  if (!raw) raw = target.owner
  return raw.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, MAX_NAME)
}
