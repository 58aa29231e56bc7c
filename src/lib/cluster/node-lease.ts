/**
 * Node heartbeats from their Leases. Every kubelet renews a Lease named after its node in the
 * kube-node-lease namespace (every 10 s by default); the node controller marks a node Unknown
 * only after its grace period without a renewal. A Lease older than `staleMs` says, sooner, that
 * the node has stopped talking while its Ready condition may still read True.
 *
 * The age is measured against this machine's clock (a renewTime is the kubelet's clock): a clock
 * far off the cluster's makes every Lease look fresh or stale alike.
 */
import {formatDuration} from '../config/duration.js'
import {NotAllowedError, NotFoundError} from '../errors.js'
import type {ClusterClient} from './cluster-client.js'
import type {ObjectMeta} from './kube-types.js'

export const NODE_LEASE_NAMESPACE = 'kube-node-lease'
export const NODE_LEASE_PATH = `/apis/coordination.k8s.io/v1/namespaces/${NODE_LEASE_NAMESPACE}/leases`
/** The node controller's default grace period before it gives up on a node (node-monitor-grace-period). */
export const DEFAULT_LEASE_STALE_MS = 40_000

export interface KubeLease {
  metadata: ObjectMeta
  spec?: {holderIdentity?: string; leaseDurationSeconds?: number; renewTime?: string; acquireTime?: string}
}

/** A node's Lease as roster keeps it: the node's name (the Lease's) and when it was last renewed. */
export interface NodeLease {
  name: string
  renewTime?: string
}

/**
 * Leases per page: a Lease is about a twentieth of a Node on the wire, so a page of this many
 * weighs no more than kubectl's page of 500 nodes, and most clusters' Leases come in one request.
 */
export const LEASE_PAGE_SIZE = 5000

/** Lease fields never read: lists leave them out before parsing. */
export const LEASE_FIELDS_UNREAD: readonly string[] = ['metadata.managedFields', 'metadata.ownerReferences', 'metadata.annotations']

export function summarizeLease(lease: KubeLease): NodeLease {
  const renewTime = lease.spec?.renewTime
  return renewTime ? {name: lease.metadata.name, renewTime} : {name: lease.metadata.name}
}

/**
 * The node Leases by node name (one paginated list), or why they could not be read: a caller
 * that may not list Leases still gets its nodes, without heartbeat ages.
 */
export async function listNodeLeases(client: ClusterClient): Promise<{leases: Map<string, NodeLease>} | {unavailable: string}> {
  try {
    const listed = await client.listAll<KubeLease, NodeLease>(NODE_LEASE_PATH, summarizeLease, {
      drop: LEASE_FIELDS_UNREAD,
      limit: LEASE_PAGE_SIZE,
      action: `list leases in namespace "${NODE_LEASE_NAMESPACE}"`,
    })
    return {leases: new Map(listed.items.map((l) => [l.name, l]))}
  } catch (error) {
    if (error instanceof NotAllowedError || error instanceof NotFoundError) return {unavailable: error.message}
    throw error
  }
}

/** Seconds since the Lease was renewed; undefined without a renewTime. */
export function leaseAgeSeconds(lease: NodeLease | undefined, now: number): number | undefined {
  const t = lease?.renewTime ? Date.parse(lease.renewTime) : NaN
  return Number.isNaN(t) ? undefined : Math.max(0, (now - t) / 1000)
}

/** The nodes (of `names`, in their order) whose Lease was renewed longer than staleMs ago. */
export function staleLeaseNodes(names: Iterable<string>, leases: ReadonlyMap<string, NodeLease>, staleMs: number, now: number): string[] {
  const stale: string[] = []
  for (const name of names) {
    const age = leaseAgeSeconds(leases.get(name), now)
    if (age !== undefined && age * 1000 > staleMs) stale.push(name)
  }
  return stale
}

/** What a report says of the Leases: which nodes' are stale, or why none could be read. */
export interface LeaseReport {
  /** A Lease renewed longer ago than this is stale (the lease-stale setting). */
  staleAfterSeconds: number
  /** The nodes whose Lease is stale, sorted by name. */
  stale: string[]
  /** Why the Leases could not be read; the nodes are reported without them. */
  unavailable?: string
}

export function leaseReport(
  names: Iterable<string>,
  listed: {leases: ReadonlyMap<string, NodeLease>} | {unavailable: string},
  staleMs: number,
  now: number,
): LeaseReport {
  const staleAfterSeconds = staleMs / 1000
  if ('unavailable' in listed) return {staleAfterSeconds, stale: [], unavailable: listed.unavailable}
  return {staleAfterSeconds, stale: staleLeaseNodes([...names].sort(), listed.leases, staleMs, now)}
}

const MAX_NAMED = 10

/** What the summary line adds for stale Leases: "; no Lease renewal for over 40s: w-2, w-5" (or nothing). */
export function staleLeaseText(leases: LeaseReport | undefined): string {
  if (!leases || leases.stale.length === 0) return ''
  const named = leases.stale.slice(0, MAX_NAMED).join(', ')
  const more = leases.stale.length > MAX_NAMED ? ` and ${leases.stale.length - MAX_NAMED} more` : ''
  return `; no Lease renewal for over ${formatDuration(leases.staleAfterSeconds * 1000)}: ${named}${more}`
}
