/**
 * What `roster node-status` does, without printing: list the nodes once (paginated, each node
 * summarized as its page arrives), or follow them with a watch.
 */
import {createClusterClient, type ClusterClient, type ClusterClientOptions} from './cluster-client.js'
import {runInformer, type ChangeType, type InformerOptions} from './informer.js'
import type {KubeNode} from './kube-types.js'
import {countNodes, summarizeNode, type NodeSummary, type NodeTotals} from './node-readiness.js'

export interface NodeStatusOptions extends ClusterClientOptions {
  labelSelector?: string
}

export interface NodeStatusReport {
  context: string
  server: string
  totals: NodeTotals
  nodes: NodeSummary[]
}

/** The report of a set of nodes: sorted by name, with their totals. */
export function nodeReport(client: {kubeconfig: {contextName: string; server: string}}, nodes: Iterable<NodeSummary>): NodeStatusReport {
  const sorted = [...nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  return {context: client.kubeconfig.contextName, server: client.kubeconfig.server, totals: countNodes(sorted), nodes: sorted}
}

export async function getNodeStatus(options: NodeStatusOptions): Promise<NodeStatusReport & {requests: number}> {
  const client = await createClusterClient(options)
  try {
    const listed = await client.listNodes(summarizeNode, {labelSelector: options.labelSelector})
    return {...nodeReport(client, listed.items), requests: client.requestCount()}
  } finally {
    client.close()
  }
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

/** The informer of the nodes matching `labelSelector`, each summarized (node-status --watch and --serve). */
export function runNodeInformer(
  client: ClusterClient,
  labelSelector: string | undefined,
  o: Omit<InformerOptions<KubeNode, NodeSummary>, 'client' | 'path' | 'map' | 'list'>,
): Promise<void> {
  return runInformer<KubeNode, NodeSummary>({client, path: client.pathOf('nodes'), map: summarizeNode, list: {labelSelector}, ...o})
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
