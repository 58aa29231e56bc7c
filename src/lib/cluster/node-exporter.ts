/**
 * The node-status exporter: a Prometheus exporter kept current by ONE watch (list once, then
 * watch; no polling). /metrics serves the last known state; /healthz says whether the API
 * answered last time. A failed API call never ends it: the node series keep the last good state,
 * roster_node_status_last_error goes to 1, and the informer retries with backoff. A deleted
 * node's series disappear with it. It listens as every roster server does
 * (net/listen-address.ts): off loopback, TLS or, asked for, plain HTTP.
 */
import type {IncomingMessage, Server, ServerResponse} from 'node:http'

import {listenOn, listenTransport, listenUrl, parseListenAddress, type TransportSettings} from '../net/listen-address.js'
import {createClusterClient, type ClusterClientOptions} from './cluster-client.js'
import {formatHealthSeries, formatNodeSeries, PROMETHEUS_CONTENT_TYPE, type ExporterHealth} from './node-metrics.js'
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
  let nodeSeries: string | undefined
  let lastLogged = ''

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, {Allow: 'GET, HEAD'}).end()
      return
    }
    if (path === '/metrics') {
      nodeSeries ??= formatNodeSeries(state.values())
      const body = nodeSeries + formatHealthSeries(health)
      res.writeHead(200, {'Content-Type': PROMETHEUS_CONTENT_TYPE, 'Content-Length': Buffer.byteLength(body)})
      res.end(req.method === 'HEAD' ? undefined : body)
    } else if (path === '/healthz') {
      const ok = health.synced && !health.lastError
      const body = ok
        ? 'ok\n'
        : `${health.synced ? 'stale' : 'not synced'}: ${health.lastErrorMessage ?? 'waiting for the first list of nodes'}\n`
      res.writeHead(ok ? 200 : 503, {'Content-Type': 'text/plain; charset=utf-8'}).end(body)
    } else if (path === '/') {
      res.writeHead(200, {'Content-Type': 'text/plain; charset=utf-8'}).end('roster node-status exporter: /metrics, /healthz\n')
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
  const done = runNodeInformer(client, options.labelSelector, {
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
  }).finally(() => client.close())

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
