/**
 * The pure plan of `kube discover` (external-dns's plan, for services): the desired services
 * (one per target pod) against the services of the roster namespace. Only services carrying this
 * discoverer's owner label are ever updated or removed; every other service — registered by
 * hand, or by another cluster's discoverer — is left alone, and a pod whose endpoint is already
 * such a service is reported as a conflict, not written.
 */
import {CommandExitError, ExitCode, setting} from '../errors.js'
import type {Revisioned, Service} from '../registry/model.js'
import {labelKeyProblem, labelValueProblem, validateEndpoint} from '../registry/validation.js'
import {serviceNameOf, type NameFrom, type PodTarget} from './pods.js'

/** The label that marks a service as registered by the discoverer with this owner id. */
export const OWNER_LABEL = 'roster_owner'
/** Labels roster sets on discovered services (a copied pod label of the same name is overridden). */
export const POD_LABEL = 'pod'
export const KUBE_NAMESPACE_LABEL = 'kube_namespace'
export const NODE_LABEL = 'node'
/** The empty-source guard refuses to remove all owned services when more than this many are owned. */
export const EMPTY_GUARD_MIN_OWNED = 10

export interface DesiredService {
  name: string
  endpoint: string
  labels: Record<string, string>
  description: string
  /** kube namespace/pod, for messages. */
  pod: string
}

export interface PlanIssue {
  pod: string
  endpoint?: string
  reason: string
}

export interface DiscoveryPlan {
  /** Each with the revision it is written at: the owned service's as read, 0 for a new one (only if still absent). */
  upsert: (DesiredService & {revision: number})[]
  /** Owned services whose pod is gone, with the revision they are removed at. */
  remove: Revisioned<Service>[]
  unchanged: number
  /** Services of this owner before the plan. */
  owned: number
  desired: number
  /** Pods whose endpoint is a service this discoverer does not own: never written. */
  conflicts: PlanIssue[]
  /** Pods left out: bad annotations, a duplicate endpoint, labels the registry would refuse. */
  skipped: PlanIssue[]
}

export interface PlanOptions {
  ownerId: string
  nameFrom: NameFrom
  force?: boolean
}

export class EmptySourceError extends CommandExitError {
  readonly rule = 'emptySource'
  constructor(message: string) {
    super(message, ExitCode.unsafePlan, 'unsafe_plan')
  }
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a)
  return ka.length === Object.keys(b).length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && a[k] === b[k])
}

/** The service a target pod should be, or the reason it cannot be one. */
export function desiredService(target: PodTarget, o: PlanOptions): DesiredService | PlanIssue {
  const pod = `${target.namespace}/${target.pod}`
  if (target.problem || !target.url) return {pod, reason: target.problem ?? 'no URL'}
  let endpoint: string
  try {
    endpoint = validateEndpoint('endpoint', target.url)
  } catch (error) {
    return {pod, endpoint: target.url, reason: (error as Error).message}
  }
  const labels: Record<string, string> = {}
  for (const [k, v] of Object.entries(target.labels)) {
    if (labelKeyProblem(k) === undefined && labelValueProblem(v) === undefined) labels[k] = v
  }
  const ours: Record<string, string> = {
    [OWNER_LABEL]: o.ownerId,
    [POD_LABEL]: target.pod,
    [KUBE_NAMESPACE_LABEL]: target.namespace,
    [NODE_LABEL]: target.node,
  }
  for (const [k, v] of Object.entries(ours)) {
    const problem = labelValueProblem(v)
    if (problem) return {pod, endpoint, reason: `label ${k}="${v}": ${problem}`}
    labels[k] = v
  }
  const sorted: Record<string, string> = {}
  for (const k of Object.keys(labels).sort()) sorted[k] = labels[k] as string
  const name = serviceNameOf(target, o.nameFrom)
  if (name === '') return {pod, endpoint, reason: 'no service name'}
  return {name, endpoint, labels: sorted, description: `kube pod ${pod}`, pod}
}

/**
 * Desired (from the target pods, in any order) against `current` (every service of the roster
 * namespace). Throws EmptySourceError when no pod is a target while more than
 * EMPTY_GUARD_MIN_OWNED services of this owner exist (unless `force`).
 */
export function planDiscovery(targets: Iterable<PodTarget>, current: Iterable<Revisioned<Service>>, o: PlanOptions): DiscoveryPlan {
  const owned = new Map<string, Revisioned<Service>>()
  const foreign = new Map<string, Service>()
  for (const s of current) (s.labels[OWNER_LABEL] === o.ownerId ? owned : foreign).set(s.endpoint, s)
  const plan: DiscoveryPlan = {upsert: [], remove: [], unchanged: 0, owned: owned.size, desired: 0, conflicts: [], skipped: []}
  const sorted = [...targets].sort((a, b) => (a.namespace === b.namespace ? cmp(a.pod, b.pod) : cmp(a.namespace, b.namespace)))
  const wanted = new Set<string>()
  for (const target of sorted) {
    const d = desiredService(target, o)
    if (!('name' in d)) {
      plan.skipped.push(d)
      continue
    }
    if (wanted.has(d.endpoint)) {
      plan.skipped.push({pod: d.pod, endpoint: d.endpoint, reason: 'another pod has the same endpoint'})
      continue
    }
    const other = foreign.get(d.endpoint)
    if (other) {
      const by = other.labels[OWNER_LABEL] ? `discoverer "${other.labels[OWNER_LABEL]}"` : 'hand (no owner label)'
      plan.conflicts.push({pod: d.pod, endpoint: d.endpoint, reason: `service ${other.id} was registered by ${by}; left alone`})
      continue
    }
    wanted.add(d.endpoint)
    plan.desired++
    const existing = owned.get(d.endpoint)
    if (
      existing &&
      existing.name === d.name &&
      existing.description === d.description &&
      existing.selector === '' &&
      sameLabels(existing.labels, d.labels)
    )
      plan.unchanged++
    else plan.upsert.push({...d, revision: existing?.revision ?? 0})
  }
  for (const [endpoint, service] of owned) if (!wanted.has(endpoint)) plan.remove.push(service)
  if (!o.force && plan.desired === 0 && plan.owned > EMPTY_GUARD_MIN_OWNED && plan.remove.length > 0) {
    throw new EmptySourceError(
      `refusing to remove all ${plan.owned} services owned by "${o.ownerId}": the cluster listed no target pods (use ${setting('force')} if that is intended)`,
    )
  }
  return plan
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
