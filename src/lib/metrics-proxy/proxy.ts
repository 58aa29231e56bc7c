/**
 * `roster kube metrics-proxy`: one static target for scrapers that take only static targets. An
 * informer keeps the annotated, ready pods current (list, then watch; relist on 410); each GET
 * /metrics asks all of them (a bounded number at a time until each starts answering) and streams
 * their samples on as they arrive, with `pod` and `namespace` labels and each family together
 * (merge.ts), then `up{pod,namespace}` 0/1 — a slow or failing pod costs only its own `up 0`, and
 * the answer comes within the scrape timeout. HEAD answers the headers without asking any pod.
 *
 * Server rules: the listen address and its TLS rule of net/listen-address.ts (an exporter: plain
 * HTTP off loopback only when insecure-plaintext is set); with an auth token file every request
 * needs that bearer token.
 */
import {timingSafeEqual} from 'node:crypto'
import type {IncomingMessage, Server, ServerResponse} from 'node:http'
import {setFlagsFromString} from 'node:v8'
import {runInNewContext} from 'node:vm'

import {InvalidInputError} from '../errors.js'
import {readInputFileSync} from '../fs/input-file.js'
import {listenOn, listenTransport, listenUrl, parseListenAddress} from '../net/listen-address.js'
import type {ClusterClientOptions} from '../cluster/cluster-client.js'
import type {PodSelection} from '../discover/discover.js'
import type {KubePod, PodTarget} from '../discover/pods.js'
import type {PodSink} from './merge.js'

export interface MetricsProxyOptions extends ClusterClientOptions, PodSelection {
  listen: string
  scrapeTimeoutMs: number
  concurrency?: number
  tlsCert?: string
  tlsKey?: string
  insecurePlaintext?: boolean
  authTokenFile?: string
  onLog?: (line: string) => void
}

/**
 * Received bytes between two full garbage collections. Pods' answers arrive in buffers Node
 * allocates (the socket's read, then the HTTP parser's copy of the body); the merge holds them
 * until every family in them is written, so they outlive the young generation and only a full
 * collection frees them, which V8 starts on its own only once such memory has grown by tens of
 * MiB, several times what is live. Collecting every few MiB received keeps a scrape's peak near
 * what it holds, for the price of a short pause each time (figures: docs/benchmarks.md).
 */
export const COLLECT_EVERY_BYTES = 2 * 1024 * 1024

/**
 * A full garbage collection, asked for by the code (V8 exposes one to a context created after
 * the flag is set; the flag changes nothing else). Undefined when the runtime refuses.
 */
export function fullCollection(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc')
    const gc: unknown = runInNewContext('gc')
    return typeof gc === 'function' ? () => (gc as () => void)() : undefined
  } catch {
    return undefined
  }
}

export interface MetricsProxy {
  url: string
  /** Resolves when the proxy has stopped (after close(), or on a fatal informer error: rejects). */
  done: Promise<void>
  close(): Promise<void>
  stats(): {requests: number; pods: number}
}

export async function startMetricsProxy(o: MetricsProxyOptions): Promise<MetricsProxy> {
  const address = parseListenAddress(o.listen)
  const tls = listenTransport(address, o, 'when-asked')
  let token: Buffer | undefined
  if (o.authTokenFile) {
    token = Buffer.from(readInputFileSync(o.authTokenFile, {field: 'auth-token-file', maxBytes: 64 * 1024}).trim())
    if (token.length === 0) throw InvalidInputError.forField('auth-token-file', o.authTokenFile, 'is empty')
  }

  const {createClusterClient} = await import('../cluster/cluster-client.js')
  const {runInformer} = await import('../cluster/informer.js')
  const {podTarget} = await import('../discover/pods.js')
  const {podsPath} = await import('../discover/discover.js')
  const {createScraper} = await import('./scrape.js')
  const {mergePods} = await import('./merge.js')

  const client = await createClusterClient(o)
  const scraper = createScraper()
  const collect = fullCollection()
  let received = 0
  /** Counts a pod's bytes toward the next full collection, made once a request has settled or enough has arrived. */
  const counted = (sink: PodSink): PodSink => ({
    ...sink,
    data: (chunk) => {
      sink.data(chunk)
      received += chunk.length
      if (received >= COLLECT_EVERY_BYTES) {
        received = 0
        collect?.()
      }
    },
  })
  const controller = new AbortController()
  let state: ReadonlyMap<string, PodTarget | null> = new Map()
  let synced = false
  let requests = 0
  const targets = (): PodTarget[] =>
    [...state.values()]
      .filter((t): t is PodTarget => t !== null && t.url !== '')
      .sort((a, b) => (a.namespace === b.namespace ? (a.pod < b.pod ? -1 : 1) : a.namespace < b.namespace ? -1 : 1))

  /** Streams the pods' merged metrics (merge.ts), each family together, `up` last. */
  async function sendMetrics(res: ServerResponse): Promise<void> {
    const pods = targets()
    res.writeHead(200, {'content-type': 'text/plain; version=0.0.4; charset=utf-8'})
    await mergePods({
      pods,
      open: (pod, sink, timeoutMs) => scraper.open(pod, counted(sink), timeoutMs),
      out: res,
      timeoutMs: o.scrapeTimeoutMs,
      concurrency: o.concurrency ?? 32,
    })
    // What this answer held is garbage now: freed before the next scrape rather than left to grow.
    if (received > 0) {
      received = 0
      collect?.()
    }
  }

  const authorized = (req: IncomingMessage): boolean => {
    if (!token) return true
    const header = req.headers.authorization ?? ''
    const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7).trim() : '')
    return given.length === token.length && timingSafeEqual(given, token)
  }

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, {allow: 'GET, HEAD', 'content-type': 'text/plain'}).end('method not allowed\n')
      return
    }
    if (!authorized(req)) {
      res.writeHead(401, {'www-authenticate': 'Bearer', 'content-type': 'text/plain'}).end('a valid bearer token is required\n')
      return
    }
    if (path === '/healthz') {
      res.writeHead(synced ? 200 : 503, {'content-type': 'text/plain'}).end(synced ? 'ok\n' : 'pods not listed yet\n')
      return
    }
    if (path !== '/metrics') {
      res.writeHead(404, {'content-type': 'text/plain'}).end('roster kube metrics-proxy: /metrics, /healthz\n')
      return
    }
    if (req.method === 'HEAD') {
      res.writeHead(200, {'content-type': 'text/plain; version=0.0.4; charset=utf-8'}).end()
      return
    }
    requests++
    sendMetrics(res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, {'content-type': 'text/plain'}).end(`${(error as Error).message}\n`)
      else res.destroy()
    })
  }

  const server: Server = tls ? (await import('node:https')).createServer(tls, handle) : (await import('node:http')).createServer(handle)
  const boundPort = await listenOn(server, address).catch((error: unknown) => {
    client.close()
    scraper.close()
    throw error
  })
  const url = listenUrl(address, boundPort, tls !== undefined)
  o.onLog?.(`serving ${url}/metrics`)
  let lastError = ''
  const informer = runInformer<KubePod, PodTarget | null>({
    client,
    path: podsPath(client, o.kubeNamespace),
    map: (pod) => podTarget(pod),
    list: {labelSelector: o.labelSelector},
    signal: controller.signal,
    onSynced: (items) => {
      state = items
      synced = true
    },
    onError: (error, retryInMs) => {
      if (error.message !== lastError) o.onLog?.(`${error.message} (retrying in ${retryInMs} ms)`)
      lastError = error.message
    },
    onHealthy: () => {
      if (lastError) o.onLog?.('the cluster answers again')
      lastError = ''
    },
  })

  let closing: Promise<void> | undefined
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      controller.abort()
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections?.()
      })
      await informer.catch(() => undefined)
      scraper.close()
      client.close()
    })())
  const done = informer.then(
    () => closing ?? Promise.resolve(),
    async (error: unknown) => {
      await close()
      throw error
    },
  )
  return {url, done, close, stats: () => ({requests, pods: targets().length})}
}
