/**
 * What `roster node-status` does, without printing: list the nodes once (paginated, each node
 * summarized as its page arrives), or follow them with a watch.
 */
import {createClusterClient, NotAcceptableError, type ClusterClient, type ClusterClientOptions} from './cluster-client.js'
import {runInformer, type ChangeType, type InformerOptions} from './informer.js'
import type {KubeNode, TableColumn, TableRow} from './kube-types.js'
import {DEFAULT_LEASE_STALE_MS, leaseReport, listNodeLeases, type LeaseReport} from './node-lease.js'
import {NODE_FIELDS_UNREAD, countNodes, summarizeNode, type NodeRow, type NodeSummary, type NodeTotals} from './node-readiness.js'

export interface NodeStatusOptions extends ClusterClientOptions {
  labelSelector?: string
  /** A node whose Lease was renewed longer ago than this is named as stale (default 40 s). */
  leaseStaleMs?: number
}

export interface NodeStatusReport<N extends NodeRow = NodeSummary> {
  context: string
  server: string
  totals: NodeTotals
  nodes: N[]
  /** The nodes' Leases: which are stale. Absent where Leases are not read (a watch). */
  leases?: LeaseReport
}

/** The report of a set of nodes: sorted by name, with their totals. */
export function nodeReport<N extends NodeRow>(
  client: {kubeconfig: {contextName: string; server: string}},
  nodes: Iterable<N>,
): NodeStatusReport<N> {
  const sorted = [...nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  return {context: client.kubeconfig.contextName, server: client.kubeconfig.server, totals: countNodes(sorted), nodes: sorted}
}

/** The nodes and, listed beside them (one more paginated list), their Leases. */
export async function getNodeStatus(options: NodeStatusOptions): Promise<NodeStatusReport & {requests: number}> {
  const client = await createClusterClient(options)
  try {
    const [listed, leases] = await Promise.all([
      client.listNodes(summarizeNode, {labelSelector: options.labelSelector, drop: NODE_FIELDS_UNREAD}),
      listNodeLeases(client),
    ])
    if ('leases' in leases) {
      for (const node of listed.items) {
        const renewTime = leases.leases.get(node.name)?.renewTime
        if (renewTime) node.leaseRenewTime = renewTime
      }
    }
    return {...withLeases(nodeReport(client, listed.items), leases, options), requests: client.requestCount()}
  } finally {
    client.close()
  }
}

function withLeases<N extends NodeRow>(
  report: NodeStatusReport<N>,
  leases: Awaited<ReturnType<typeof listNodeLeases>>,
  options: NodeStatusOptions,
): NodeStatusReport<N> {
  const staleMs = options.leaseStaleMs ?? DEFAULT_LEASE_STALE_MS
  return {
    ...report,
    leases: leaseReport(
      report.nodes.map((n) => n.name),
      leases,
      staleMs,
      Date.now(),
    ),
  }
}

/** The label every kubelet sets on its node: how the not-ready rows of a Table are looked up again. */
const HOSTNAME_LABEL = 'kubernetes.io/hostname'
/** At most this many not-ready nodes are looked up in the one extra request (the selector stays short). */
const MAX_LOOKUP = 100

/**
 * The default table's report, the way kubectl gets it: the server prints the nodes (a Table: name,
 * status, roles, version and metadata per row, a fifth of the bytes of the nodes themselves).
 * The first page is the nodes themselves: most clusters fit in it, in one request.
 * The Table's STATUS says NotReady for a Ready condition that is False and for one that is
 * Unknown; roster counts Unknown apart, so the not-ready rows (usually few) are listed again as
 * nodes, in one request, by their kubernetes.io/hostname labels: the same requests as kubectl
 * (which sends one to /version besides its pages). When that cannot be exact (more than
 * MAX_LOOKUP not-ready nodes, one without the label, one gone by then, a server that cannot
 * print Tables), the nodes are listed in full instead.
 */
export async function getNodeTable(options: NodeStatusOptions): Promise<NodeStatusReport<NodeRow> & {requests: number}> {
  const client = await createClusterClient(options)
  try {
    const [nodes, leases] = await Promise.all([tableNodes(client, options.labelSelector), listNodeLeases(client)])
    const report = nodeReport(client, nodes ?? (await listNodeSummaries(client, options.labelSelector)))
    return {...withLeases(report, leases, options), requests: client.requestCount()}
  } finally {
    client.close()
  }
}

async function listNodeSummaries(client: ClusterClient, labelSelector: string | undefined): Promise<NodeSummary[]> {
  return (await client.listNodes(summarizeNode, {labelSelector, drop: NODE_FIELDS_UNREAD})).items
}

/** The nodes from a Table, their not-ready ones looked up; undefined when that cannot be exact. */
async function tableNodes(client: ClusterClient, labelSelector: string | undefined): Promise<NodeRow[] | undefined> {
  let rows: Array<{node: NodeRow; hostname?: string; exact?: boolean} | undefined>
  try {
    rows = (
      await client.listTable<{node: NodeRow; hostname?: string; exact?: boolean} | undefined, KubeNode>('/api/v1/nodes', tableRowNode, {
        labelSelector,
        action: 'list nodes',
        drop: NODE_FIELDS_UNREAD,
        firstPage: (node) => ({node: summarizeNode(node), exact: true}),
      })
    ).items
  } catch (error) {
    if (error instanceof NotAcceptableError) return undefined
    throw error
  }
  const nodes: NodeRow[] = []
  const notReady = new Map<string, NodeRow>()
  const hostnames = new Set<string>()
  for (const row of rows) {
    if (!row) return undefined
    nodes.push(row.node)
    if (row.exact || row.node.ready !== 'False') continue
    if (!row.hostname || notReady.size >= MAX_LOOKUP) return undefined
    notReady.set(row.node.name, row.node)
    hostnames.add(row.hostname)
  }
  if (notReady.size === 0) return nodes
  const selector = [labelSelector, `${HOSTNAME_LABEL} in (${[...hostnames].join(',')})`].filter(Boolean).join(',')
  const found = new Map((await listNodeSummaries(client, selector)).map((n) => [n.name, n]))
  for (const [name, row] of notReady) {
    const node = found.get(name)
    if (!node) return undefined
    // The node as it is now: its STATUS and its Ready condition from the same object.
    Object.assign(row, {ready: node.ready, status: node.status, roles: node.roles, version: node.version})
  }
  return nodes
}

/**
 * A Table row as a NodeRow; `ready` is False for every NotReady row until it is looked up.
 * Undefined when the Table is not the node printer's (a column missing, a status it never prints).
 */
export function tableRowNode(row: TableRow, columns: readonly TableColumn[]): {node: NodeRow; hostname?: string} | undefined {
  const cell = (name: string): string | undefined => {
    const i = columns.findIndex((c) => c.name === name)
    const value = i >= 0 ? row.cells[i] : undefined
    return typeof value === 'string' ? value : undefined
  }
  const name = cell('Name')
  const status = cell('Status')
  const roles = cell('Roles')
  const version = cell('Version')
  const metadata = row.object?.metadata
  if (!name || !status || roles === undefined || version === undefined || !metadata) return undefined
  const first = status.split(',')[0]
  const ready = first === 'Ready' ? 'True' : first === 'NotReady' ? 'False' : first === 'Unknown' ? 'Unknown' : undefined
  if (!ready) return undefined
  const node: NodeRow = {name, ready, status, roles: roles === '<none>' || roles === '' ? [] : roles.split(','), version}
  if (metadata.creationTimestamp) node.createdAt = metadata.creationTimestamp
  const hostname = metadata.labels?.[HOSTNAME_LABEL]
  return hostname ? {node, hostname} : {node}
}

export interface WatchNodeStatusOptions extends NodeStatusOptions {
  signal: AbortSignal
  /** The first list (and every relist after a 410), sorted by name. */
  onSynced: (report: NodeStatusReport, info: {relist: boolean}) => void
  onChange: (type: ChangeType, node: NodeSummary, totals: NodeTotals) => void
  onError?: (error: Error, retryInMs: number) => void
  onHealthy?: () => void
  backoff?: {initialMs?: number; maxMs?: number}
}

/** The informer of the nodes matching `labelSelector`, each summarized (node-status watching or serving). */
export function runNodeInformer(
  client: ClusterClient,
  labelSelector: string | undefined,
  o: Omit<InformerOptions<KubeNode, NodeSummary>, 'client' | 'path' | 'map' | 'list'>,
): Promise<void> {
  return runInformer<KubeNode, NodeSummary>({
    client,
    path: client.pathOf('nodes'),
    map: summarizeNode,
    list: {labelSelector, drop: NODE_FIELDS_UNREAD},
    ...o,
  })
}

/** Follows the nodes until the signal aborts; returns the last state. */
export async function watchNodeStatus(options: WatchNodeStatusOptions): Promise<NodeStatusReport> {
  const client = await createClusterClient(options)
  let state: ReadonlyMap<string, NodeSummary> = new Map()
  const report = (): NodeStatusReport => nodeReport(client, state.values())
  try {
    await runNodeInformer(client, options.labelSelector, {
      signal: options.signal,
      backoff: options.backoff,
      onSynced: (items, info) => {
        state = items
        options.onSynced(report(), info)
      },
      onChange: (type, _key, item, previous) => {
        const node = item ?? previous
        if (node) options.onChange(type, node, countNodes(state.values()))
      },
      onError: options.onError,
      onHealthy: options.onHealthy,
    })
    return report()
  } finally {
    client.close()
  }
}
