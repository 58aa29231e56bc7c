/**
 * The node-status exporter: a Prometheus exporter kept current by watches (list once, then watch;
 * no polling): one on the nodes, one on their Leases in kube-node-lease (heartbeat ages, computed
 * at each scrape). /metrics serves the last known state; /healthz says whether the API answered
 * last time; /readyz whether the first list of nodes is in; /livez that the process answers.
 * A failed API call never ends it: the node series keep the last good state,
 * roster_node_status_last_error goes to 1, and the informer retries with backoff. A deleted
 * node's series disappear with it. Leases that cannot be read (not allowed) leave the node
 * series as they are: their errors are logged, and retried, apart. It listens as every roster
 * server does (net/listen-address.ts): off loopback, TLS or, asked for, plain HTTP.
 */
import type {IncomingMessage, Server, ServerResponse} from 'node:http'

import {listenOn, listenTransport, listenUrl, parseListenAddress, type TransportSettings} from '../net/listen-address.js'
import {createClusterClient, type ClusterClientOptions} from './cluster-client.js'
import {runInformer} from './informer.js'
import {LEASE_FIELDS_UNREAD, LEASE_PAGE_SIZE, NODE_LEASE_PATH, summarizeLease, type KubeLease, type NodeLease} from './node-lease.js'
import {formatHealthSeries, formatLeaseSeries, formatNodeSeries, PROMETHEUS_CONTENT_TYPE, type ExporterHealth} from './node-metrics.js'
import type {NodeSummary} from './node-readiness.js'
import {nodeReport, runNodeInformer, type NodeStatusReport} from './node-status.js'

export interface NodeExporterOptions extends ClusterClientOptions, TransportSettings {
  /** A listen address (net/listen-address.ts). Port 0 picks a free one. */
  listen: string
  labelSelector?: string
  /** Progress and errors, one line each (the command writes them to stderr). */
  onLog?: (line: string) => void
  backoff?: {initialMs?: number; maxMs?: number}
}

export interface NodeExporter {
  /** http://HOST:PORT, or https:// */
  url: string
  /** Resolves when the informer stops (after close()); rejects on a fatal error. */
  done: Promise<void>
  health(): ExporterHealth
  /** The last known state. */
  report(): NodeStatusReport
  close(): Promise<void>
}

export async function startNodeExporter(options: NodeExporterOptions): Promise<NodeExporter> {
  const address = parseListenAddress(options.listen)
  const tls = listenTransport(address, options, 'when-asked')
  const client = await createClusterClient(options)
  const log = options.onLog ?? (() => undefined)
  const health: ExporterHealth = {lastError: false, errorsTotal: 0, synced: false}
  let state: ReadonlyMap<string, NodeSummary> = new Map()
  /** Node name → its Lease. */
  const leases = new Map<string, NodeLease>()
  let nodeSeries: Buffer | undefined
  let lastLogged = ''

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, {Allow: 'GET, HEAD'}).end()
      return
    }
    if (path === '/metrics') {
      // The node series change only with the nodes: kept as bytes. Lease ages grow with time:
      // written at each scrape.
      nodeSeries ??= Buffer.from(formatNodeSeries(state.values()))
      const rest = Buffer.from(formatLeaseSeries(state.values(), leases, Date.now()) + formatHealthSeries(health))
      res.writeHead(200, {'Content-Type': PROMETHEUS_CONTENT_TYPE, 'Content-Length': nodeSeries.length + rest.length})
      if (req.method === 'HEAD') res.end()
      else {
        res.write(nodeSeries)
        res.end(rest)
      }
    } else if (path === '/healthz') {
      const ok = health.synced && !health.lastError
      const body = ok
        ? 'ok\n'
        : `${health.synced ? 'stale' : 'not synced'}: ${health.lastErrorMessage ?? 'waiting for the first list of nodes'}\n`
      res.writeHead(ok ? 200 : 503, {'Content-Type': 'text/plain; charset=utf-8'}).end(body)
    } else if (path === '/readyz') {
      // Ready once the nodes are listed: an API outage after that keeps it ready, so that the
      // last state and roster_node_status_up 0 are still scraped.
      res.writeHead(health.synced ? 200 : 503, {'Content-Type': 'text/plain; charset=utf-8'})
      res.end(health.synced ? 'ok\n' : 'not synced: waiting for the first list of nodes\n')
    } else if (path === '/livez') {
      res.writeHead(200, {'Content-Type': 'text/plain; charset=utf-8'}).end('ok\n')
    } else if (path === '/') {
      res
        .writeHead(200, {'Content-Type': 'text/plain; charset=utf-8'})
        .end('roster node-status exporter: /metrics, /healthz, /readyz, /livez\n')
    } else {
      res.writeHead(404, {'Content-Type': 'text/plain; charset=utf-8'}).end('not found\n')
    }
  }
  const server: Server = tls ? (await import('node:https')).createServer(tls, handle) : (await import('node:http')).createServer(handle)
  const boundPort = await listenOn(server, address).catch((error: unknown) => {
    client.close()
    throw error
  })
  const url = listenUrl(address, boundPort, tls !== undefined)
  log(`serving node readiness of ${client.describe()} on ${url}/metrics`)

  const controller = new AbortController()
  const nodeInformer = runNodeInformer(client, options.labelSelector, {
    signal: controller.signal,
    backoff: options.backoff,
    onSynced: (items, info) => {
      state = items
      nodeSeries = undefined
      health.synced = true
      log(`${info.relist ? 'relisted' : 'listed'} ${items.size} nodes`)
    },
    onChange: () => {
      nodeSeries = undefined
    },
    onHealthy: () => {
      health.lastSuccessTime = Date.now()
      if (health.lastError) log('the API answers again')
      health.lastError = false
      health.lastErrorMessage = undefined
      lastLogged = ''
    },
    onError: (error, retryInMs) => {
      health.lastError = true
      health.lastErrorMessage = error.message
      health.lastErrorTime = Date.now()
      health.errorsTotal++
      if (error.message !== lastLogged) log(`${error.message} (keeping the last state; retrying in ${retryInMs} ms, then with backoff)`)
      lastLogged = error.message
    },
  })
  let lastLeaseError = ''
  const leaseInformer = runInformer<KubeLease, NodeLease>({
    client,
    path: NODE_LEASE_PATH,
    map: summarizeLease,
    list: {drop: LEASE_FIELDS_UNREAD, limit: LEASE_PAGE_SIZE},
    signal: controller.signal,
    backoff: options.backoff,
    isFatal: () => false,
    onSynced: (items) => {
      leases.clear()
      for (const lease of items.values()) leases.set(lease.name, lease)
      if (lastLeaseError) log('the Leases are read again')
      lastLeaseError = ''
    },
    onChange: (_type, _key, item, previous) => {
      if (item) leases.set(item.name, item)
      else if (previous) leases.delete(previous.name)
    },
    onError: (error, retryInMs) => {
      if (error.message !== lastLeaseError)
        log(`${error.message} (node heartbeat ages are not exported meanwhile; retrying in ${retryInMs} ms, then with backoff)`)
      lastLeaseError = error.message
    },
  })
  const done = Promise.all([nodeInformer, leaseInformer.catch(() => undefined)])
    .then(() => undefined)
    .finally(() => client.close())

  return {
    url,
    done,
    health: () => ({...health}),
    report() {
      return nodeReport(client, state.values())
    },
    async close() {
      controller.abort()
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
      await done.catch(() => undefined)
    },
  }
}
