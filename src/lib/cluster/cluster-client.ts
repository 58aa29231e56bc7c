/**
 * The Kubernetes client roster uses: kubeconfig from `loadKubeconfig` (kubectl's rules, client-node's
 * credential handling), requests over one keep-alive agent, and typed helpers for what roster
 * reads — paginated lists (limit 500 + continue, restarted on 410 Expired) and watch streams.
 *
 * Lists map every item to a caller-chosen summary as it arrives (list-body.ts: one raw item in
 * memory at a time, fields the caller never reads left out before parsing), and ask for the next
 * page as soon as the current one's metadata names it. Errors are roster's classes:
 *   unreachable / timed out / 429 / 5xx → BackendUnavailableError (exit 3)
 *   401 / 403                           → NotAllowedError (exit 4), naming the user and the verb
 *   bad kubeconfig / CA / TLS mismatch  → InvalidInputError (exit 2)
 *   404                                 → NotFoundError (exit 5)
 */
import type {Agent as HttpAgent, ClientRequest, IncomingMessage} from 'node:http'

import {BackendUnavailableError, InvalidInputError, NotAllowedError, NotFoundError, RosterError, firstLineOf} from '../errors.js'
import {formatDuration} from '../config/duration.js'
import type {KubeIngress, KubeNode, KubeService, KubeStatus, ListMeta, TableColumn, TableRow, WatchEvent} from './kube-types.js'
import {loadKubeconfig, type KubeconfigOptions, type LoadedKubeconfig} from './kubeconfig.js'
import {ListBodyReader} from './list-body.js'

/** A 410 Gone / Expired: a continue token or a watch resourceVersion is too old. Relist. */
export class ResourceExpiredError extends BackendUnavailableError {
  override readonly code: string = 'expired'
}

/** A 406 Not Acceptable: the server cannot answer in the format asked for (e.g. a Table). */
export class NotAcceptableError extends RosterError {
  override readonly code: string = 'not_acceptable'
}

export interface ClusterClientOptions extends KubeconfigOptions {
  /** Per request: connect + response for lists and gets; connect + headers for watches. Default 30 s. */
  timeoutMs?: number
}

export interface ListOptions {
  labelSelector?: string
  fieldSelector?: string
  /** Page size; default 500 (kubectl's). */
  limit?: number
  /** How many times a list is restarted after its continue token expired (410). Default 3. */
  maxRestarts?: number
  /** Item fields the map never reads, left out before parsing ("status.images"): see list-body.ts. */
  drop?: readonly string[]
}

export interface NamespacedListOptions extends ListOptions {
  /** Only this namespace; all namespaces when unset. */
  namespace?: string
}

export interface ListResult<S> {
  items: S[]
  /** The list's resourceVersion: where a watch continues from. */
  resourceVersion: string
  pages: number
  /** Times the list started over because its continue token expired. */
  restarts: number
}

export interface WatchOptions<T> {
  resourceVersion: string
  labelSelector?: string
  fieldSelector?: string
  /** Ask for BOOKMARK events (default true). */
  allowWatchBookmarks?: boolean
  /** Ask the server to end the stream after this long (the caller then resumes). */
  timeoutSeconds?: number
  signal?: AbortSignal
  /** The stream is open (200 received). */
  onOpen?: () => void
  onEvent: (event: WatchEvent<T>) => void
}

export type ResourceKind = 'nodes' | 'services' | 'ingresses'

export interface ClusterClient {
  readonly kubeconfig: LoadedKubeconfig
  /** The server URL, context and kubeconfig user, for messages. */
  describe(): string
  /** Requests sent so far (lists count one per page). */
  requestCount(): number
  getJson<T>(path: string, query?: Record<string, string | undefined>, action?: string): Promise<T>
  listAll<T, S>(path: string, map: (item: T) => S, options?: ListOptions & {action?: string}): Promise<ListResult<S>>
  /**
   * A list as the server prints it (a meta.k8s.io/v1 Table, what kubectl get asks for): each row's
   * cells and object metadata, mapped with the page's column definitions. A 406 means the server
   * cannot print this resource. With firstPage, the first page is the objects themselves (items,
   * mapped by firstPage): a list that fits in one page costs one request and no Table.
   */
  listTable<S, T = never>(
    path: string,
    map: (row: TableRow, columns: readonly TableColumn[]) => S,
    options?: ListOptions & {action?: string; firstPage?: (item: T) => S},
  ): Promise<ListResult<S>>
  listNodes<S>(map: (node: KubeNode) => S, options?: ListOptions): Promise<ListResult<S>>
  listServices<S>(map: (service: KubeService) => S, options?: NamespacedListOptions): Promise<ListResult<S>>
  listIngresses<S>(map: (ingress: KubeIngress) => S, options?: NamespacedListOptions): Promise<ListResult<S>>
  getNode(name: string): Promise<KubeNode>
  /** Runs one watch stream until it ends (resolves) or fails (rejects; ResourceExpiredError on 410). */
  watch<T>(path: string, options: WatchOptions<T>, action?: string): Promise<void>
  /** The collection path of a resource kind, e.g. /api/v1/nodes. */
  pathOf(kind: ResourceKind, namespace?: string): string
  close(): void
}

const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
  'ECONNABORTED',
  'EHOSTDOWN',
  'ENETDOWN',
  'ERR_SOCKET_CLOSED',
  'ERR_STREAM_PREMATURE_CLOSE',
])

const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'EPROTO',
])

class RequestTimeoutError extends Error {}

/** Server-side printing, as kubectl get asks for it (meta.k8s.io/v1 only: every API server since 1.15). */
export const TABLE_ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io'

interface RequestSettings {
  agent: HttpAgent
  transport: typeof import('node:https') | typeof import('node:http')
  proxied?: typeof import('./proxy-agent.js').proxyRequestOptions
}

export async function createClusterClient(options: ClusterClientOptions = {}): Promise<ClusterClient> {
  const loaded = await loadKubeconfig(options)
  const timeoutMs = options.timeoutMs ?? 30_000
  const base = new URL(loaded.server)
  const isHttps = base.protocol === 'https:'
  const where = `cluster ${loaded.server} (context "${loaded.contextName}"${loaded.proxyUrl ? `, proxy ${new URL(loaded.proxyUrl).host}` : ''})`
  const who = loaded.userName ? `kubeconfig user "${loaded.userName}"` : 'no kubeconfig user'
  let requests = 0
  let settings: RequestSettings | undefined

  const proxy = loaded.proxyUrl ? new URL(loaded.proxyUrl) : undefined

  /**
   * TLS material and auth headers from client-node's KubeConfig (token files, exec plugins, OIDC…):
   * its applyOptions, which applyToHTTPSOptions calls before building an agent roster does not use
   * (client-node's agents refuse http:// servers and ignore how kubectl proxies them). A private
   * method: startup-edits.test.ts checks through the built CLI that the credentials still arrive.
   * Over plain HTTP (e.g. `kubectl proxy`, which adds its own credentials) no credentials are sent,
   * as kubectl sends none: no token, no exec plugin run.
   */
  async function authOptions(): Promise<{headers: Record<string, string>; tls: Record<string, unknown>}> {
    if (!isHttps) return {headers: {}, tls: {}}
    const opts: Record<string, unknown> & {headers?: Record<string, unknown>} = {}
    const kc = loaded.kubeConfig as unknown as {applyOptions(o: object): Promise<void>}
    try {
      await kc.applyOptions(opts)
    } catch (error) {
      const e = error as NodeJS.ErrnoException
      if (e.code === 'ENOENT' || e.code === 'EACCES' || e.code === 'EISDIR') {
        throw new InvalidInputError(
          `kubeconfig ${loaded.source}: cannot read ${e.path ?? 'a file it names'} (${e.code}) for context "${loaded.contextName}"`,
          {field: 'kubeconfig'},
        )
      }
      throw new NotAllowedError(`cannot get credentials for ${who} (context "${loaded.contextName}"): ${firstLineOf(e)}`)
    }
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(opts.headers ?? {}))
      if (typeof v === 'string' || typeof v === 'number') headers[k] = String(v).trim()
    const user = loaded.kubeConfig.getCurrentUser()
    if (user?.username) headers.Authorization = `Basic ${Buffer.from(`${user.username}:${user.password ?? ''}`).toString('base64')}`
    const tls: Record<string, unknown> = {}
    for (const k of ['ca', 'cert', 'key', 'pfx', 'passphrase', 'servername', 'rejectUnauthorized'])
      if (opts[k] !== undefined) tls[k] = opts[k]
    if (loaded.skipTlsVerify) tls.rejectUnauthorized = false
    return {headers, tls}
  }

  async function send(
    method: string,
    path: string,
    query: Record<string, string | undefined>,
    accept: string,
    stream: boolean,
  ): Promise<{res: IncomingMessage; req: ClientRequest}> {
    const {headers, tls} = await authOptions()
    if (!settings) {
      const transport = isHttps ? await import('node:https') : await import('node:http')
      let agent: HttpAgent
      if (isHttps && proxy) {
        const {ConnectProxyAgent} = await import('./proxy-agent.js')
        agent = new ConnectProxyAgent(proxy, {keepAlive: true, maxSockets: 8, ...tls})
      } else if (isHttps) agent = new (transport as typeof import('node:https')).Agent({keepAlive: true, maxSockets: 8, ...tls})
      else agent = new (transport as typeof import('node:http')).Agent({keepAlive: true, maxSockets: 8})
      settings = {agent, transport, proxied: !isHttps && proxy ? (await import('./proxy-agent.js')).proxyRequestOptions : undefined}
    }
    const url = new URL(base.pathname.replace(/\/+$/, '') + path, base)
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') url.searchParams.set(k, v)
    requests++
    const {agent, transport, proxied} = settings
    // http:// through the proxy: an absolute-form request to the proxy, as kubectl sends it.
    const target = proxied && proxy ? proxied(proxy, url) : undefined
    return new Promise((resolve, reject) => {
      const requestHeaders = {Accept: accept, 'User-Agent': 'roster', ...headers}
      const req = target
        ? transport.request({...target, method, agent, headers: {...target.headers, ...requestHeaders}})
        : transport.request(url, {method, agent, headers: requestHeaders})
      const timer = setTimeout(() => req.destroy(new RequestTimeoutError(`no answer within ${formatDuration(timeoutMs)}`)), timeoutMs)
      req.on('socket', (socket) => {
        if (stream) socket.setKeepAlive(true, 30_000)
      })
      req.on('response', (res) => {
        if (stream) clearTimeout(timer)
        else res.on('end', () => clearTimeout(timer)).on('close', () => clearTimeout(timer))
        resolve({res, req})
      })
      req.on('error', (error) => {
        clearTimeout(timer)
        reject(error)
      })
      req.end()
    })
  }

  function transportError(error: unknown, action: string): RosterError {
    if (error instanceof RosterError) return error
    const e = error as NodeJS.ErrnoException
    if (error instanceof RequestTimeoutError)
      return new BackendUnavailableError(`${where} did not answer (${action}): ${e.message}`, {cause: error})
    const code = e.code ?? ''
    if (TLS_CODES.has(code) || /certificate|SSL|TLS/i.test(e.message)) {
      return new InvalidInputError(
        `TLS with ${where} failed: ${firstLineOf(e)}; check the cluster's certificate-authority in ${loaded.source} (or insecure-skip-tls-verify)`,
        {field: 'kubeconfig', cause: error},
      )
    }
    if (UNREACHABLE_CODES.has(code) || code.startsWith('E')) {
      return new BackendUnavailableError(`${where} is unreachable (${action}): ${firstLineOf(e) || code}`, {cause: error})
    }
    return new BackendUnavailableError(`${where} failed (${action}): ${firstLineOf(e)}`, {cause: error})
  }

  function statusError(code: number, body: string, action: string): RosterError {
    let status: KubeStatus | undefined
    try {
      const parsed = JSON.parse(body) as KubeStatus
      if (parsed && parsed.kind === 'Status') status = parsed
    } catch {
      // not a Status document
    }
    const message = status?.message || body.trim().slice(0, 200) || `HTTP ${code}`
    switch (code) {
      case 401:
        return new NotAllowedError(
          `${where} rejected the credentials of ${who} to ${action}: Unauthorized (401); check the token or client certificate in ${loaded.source}`,
        )
      case 403:
        return new NotAllowedError(`${who} (context "${loaded.contextName}") may not ${action}: ${message} (403)`)
      case 404:
        return new NotFoundError(`${action}: ${message} (404 from ${loaded.server})`)
      case 407:
        if (proxy)
          return new NotAllowedError(
            `proxy ${proxy.host} refused to ${action}: Proxy Authentication Required (407); check proxy-url in ${loaded.source}`,
          )
        return new RosterError(`${where} answered 407 to ${action}: ${message}`)
      case 406:
        return new NotAcceptableError(`${where} answered 406 to ${action}: ${message}`)
      case 410:
        return new ResourceExpiredError(`${action}: ${message} (410)`)
      case 400:
      case 422:
        return new InvalidInputError(`${action}: the server refused the request: ${message} (${code})`)
      default:
        if (code === 429 || code >= 500) return new BackendUnavailableError(`${where} answered ${code} to ${action}: ${message}`)
        return new RosterError(`${where} answered ${code} to ${action}: ${message}`)
    }
  }

  async function readBody(res: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = []
    for await (const chunk of res) chunks.push(chunk as Buffer)
    return Buffer.concat(chunks).toString('utf8')
  }

  async function getJson<T>(path: string, query: Record<string, string | undefined> = {}, action = `get ${path}`): Promise<T> {
    let body: string
    let status: number
    try {
      const {res} = await send('GET', path, query, 'application/json', false)
      status = res.statusCode ?? 0
      body = await readBody(res)
    } catch (error) {
      throw transportError(error, action)
    }
    if (status < 200 || status >= 300) throw statusError(status, body, action)
    try {
      return JSON.parse(body) as T
    } catch {
      throw new BackendUnavailableError(`${where} sent a response that is not JSON to ${action}`)
    }
  }

  /** A list page's request and its answer, before its body is read. */
  interface PendingPage {
    answer: Promise<{res: IncomingMessage; req: ClientRequest}>
    abort(): void
  }

  function requestPage(path: string, query: Record<string, string | undefined>, accept: string): PendingPage {
    let request: ClientRequest | undefined
    let aborted = false
    // Its clock covers connect + headers here; reading the body gets its own (readPage): a page
    // asked for early may wait, answered, while the page before it is read.
    const answer = send('GET', path, query, accept, true).then((sent) => {
      request = sent.req
      if (aborted) sent.req.destroy()
      return sent
    })
    // Awaited later (or never, when the page before it fails): never an unhandled rejection.
    answer.catch(() => undefined)
    return {
      answer,
      abort() {
        aborted = true
        request?.destroy()
      },
    }
  }

  interface PageHandlers {
    collection?: string
    drop?: readonly string[]
    onField: (key: string, value: unknown) => void
    onItem: (item: unknown) => void
  }

  /** Reads one list page as it arrives (list-body.ts): its top-level fields and items, in order. */
  async function readPage(page: PendingPage, action: string, handlers: PageHandlers): Promise<void> {
    let res: IncomingMessage
    try {
      ;({res} = await page.answer)
    } catch (error) {
      throw transportError(error, action)
    }
    const timer = setTimeout(() => res.destroy(new RequestTimeoutError(`no answer within ${formatDuration(timeoutMs)}`)), timeoutMs)
    try {
      const status = res.statusCode ?? 0
      if (status < 200 || status >= 300) {
        let body = ''
        try {
          body = await readBody(res)
        } catch (error) {
          throw transportError(error, action)
        }
        throw statusError(status, body, action)
      }
      const reader = new ListBodyReader(handlers)
      try {
        for await (const chunk of res) reader.write(chunk as Buffer)
        reader.finish()
      } catch (error) {
        res.destroy()
        if (error instanceof RosterError) throw error
        if (error instanceof SyntaxError) throw new BackendUnavailableError(`${where} sent a response that is not JSON to ${action}`)
        throw transportError(error, action)
      }
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * Every page of a list (limit + continue), each read as it arrives; the next page is asked for
   * as soon as this one's metadata (which the server sends first) names it, so the server prepares
   * it while this process reads the rest of this one. Restarts after a 410 on a continue token.
   */
  async function listPages(
    path: string,
    options: ListOptions & {action: string; accept?: string; collection?: string; firstPageAsList?: boolean},
    handlers: {onStart: () => void; onField?: (key: string, value: unknown) => void; onItem: (item: unknown, page: number) => void},
  ): Promise<{resourceVersion: string; pages: number; restarts: number}> {
    const limit = options.limit ?? 500
    const maxRestarts = options.maxRestarts ?? 3
    const accept = options.accept ?? 'application/json'
    // The first page as a plain list (items), the next ones as asked: see listTable's firstPage.
    const firstAccept = options.firstPageAsList ? 'application/json' : accept
    const firstCollection = options.firstPageAsList ? 'items' : options.collection
    const query = (token: string | undefined) => ({
      labelSelector: options.labelSelector,
      fieldSelector: options.fieldSelector,
      limit: limit > 0 ? String(limit) : undefined,
      continue: token,
    })
    let restarts = 0
    for (;;) {
      handlers.onStart()
      let pages = 0
      let resourceVersion = ''
      let token: string | undefined
      const next: {page?: PendingPage} = {page: requestPage(path, query(undefined), firstAccept)}
      try {
        while (next.page) {
          const current = next.page
          next.page = undefined
          let sawMetadata = false
          await readPage(current, options.action, {
            collection: pages === 0 ? firstCollection : options.collection,
            drop: options.drop,
            onField: (key, value) => {
              if (key === 'metadata' && !sawMetadata) {
                sawMetadata = true
                const metadata = value as ListMeta
                if (pages === 0 || !resourceVersion) resourceVersion = metadata.resourceVersion ?? ''
                token = metadata.continue || undefined
                if (token) next.page = requestPage(path, query(token), accept)
              }
              handlers.onField?.(key, value)
            },
            onItem: (item) => handlers.onItem(item, pages),
          })
          pages++
        }
        return {resourceVersion, pages, restarts}
      } catch (error) {
        next.page?.abort()
        if (error instanceof ResourceExpiredError && token && restarts < maxRestarts) {
          restarts++
          continue
        }
        throw error
      }
    }
  }

  async function listAll<T, S>(path: string, map: (item: T) => S, options: ListOptions & {action?: string} = {}): Promise<ListResult<S>> {
    let items: S[] = []
    const listed = await listPages(
      path,
      {...options, action: options.action ?? `list ${path}`},
      {onStart: () => (items = []), onItem: (item) => items.push(map(item as T))},
    )
    return {items, ...listed}
  }

  async function listTable<S, T = never>(
    path: string,
    map: (row: TableRow, columns: readonly TableColumn[]) => S,
    options: ListOptions & {action?: string; firstPage?: (item: T) => S} = {},
  ): Promise<ListResult<S>> {
    let items: S[] = []
    let columns: TableColumn[] = []
    const {firstPage} = options
    const listed = await listPages(
      path,
      {...options, action: options.action ?? `list ${path}`, accept: TABLE_ACCEPT, collection: 'rows', firstPageAsList: Boolean(firstPage)},
      {
        onStart: () => (items = []),
        onField: (key, value) => {
          if (key === 'columnDefinitions' && Array.isArray(value)) columns = value as TableColumn[]
        },
        onItem: (item, page) => items.push(page === 0 && firstPage ? firstPage(item as T) : map(item as TableRow, columns)),
      },
    )
    return {items, ...listed}
  }

  async function watch<T>(path: string, options: WatchOptions<T>, action = `watch ${path}`): Promise<void> {
    if (options.signal?.aborted) return
    const query = {
      watch: '1',
      resourceVersion: options.resourceVersion,
      allowWatchBookmarks: options.allowWatchBookmarks === false ? undefined : 'true',
      labelSelector: options.labelSelector,
      fieldSelector: options.fieldSelector,
      timeoutSeconds: options.timeoutSeconds ? String(options.timeoutSeconds) : undefined,
    }
    let res: IncomingMessage
    let req: ClientRequest
    try {
      ;({res, req} = await send('GET', path, query, 'application/json', true))
    } catch (error) {
      throw transportError(error, action)
    }
    const status = res.statusCode ?? 0
    if (status !== 200) {
      const body = await readBody(res).catch(() => '')
      throw statusError(status, body, action)
    }
    const abort = () => req.destroy()
    options.signal?.addEventListener('abort', abort, {once: true})
    // Aborted while the request was on its way: the listener above will never fire, and the
    // stream would otherwise run on (bookmarks keep it alive) with nobody reading it.
    if (options.signal?.aborted) {
      options.signal.removeEventListener('abort', abort)
      req.destroy()
      return
    }
    options.onOpen?.()
    let pending = ''
    try {
      for await (const chunk of res) {
        pending += (chunk as Buffer).toString('utf8')
        let nl: number
        while ((nl = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, nl).trim()
          pending = pending.slice(nl + 1)
          if (line === '') continue
          const event = JSON.parse(line) as {type: string; object: unknown}
          if (event.type === 'ERROR') {
            const s = event.object as KubeStatus
            if (s.code === 410) throw new ResourceExpiredError(`${action}: ${s.message ?? 'resourceVersion too old'} (410)`)
            throw statusError(s.code ?? 500, JSON.stringify(s), action)
          }
          options.onEvent(event as WatchEvent<T>)
        }
      }
    } catch (error) {
      if (options.signal?.aborted) return
      if (error instanceof RosterError) throw error
      if (error instanceof SyntaxError) throw new BackendUnavailableError(`${where} sent a watch event that is not JSON (${action})`)
      throw transportError(error, action)
    } finally {
      options.signal?.removeEventListener('abort', abort)
      req.destroy()
    }
  }

  function pathOf(kind: ResourceKind, namespace?: string): string {
    const ns = namespace ? `/namespaces/${encodeURIComponent(namespace)}` : ''
    switch (kind) {
      case 'nodes':
        return '/api/v1/nodes'
      case 'services':
        return `/api/v1${ns}/services`
      case 'ingresses':
        return `/apis/networking.k8s.io/v1${ns}/ingresses`
    }
  }

  const inNamespace = (what: string, ns?: string) => (ns ? `list ${what} in namespace "${ns}"` : `list ${what}`)

  return {
    kubeconfig: loaded,
    describe: () => `${where} as ${who}`,
    requestCount: () => requests,
    getJson,
    listAll,
    listTable,
    listNodes: (map, o = {}) => listAll('/api/v1/nodes', map, {...o, action: 'list nodes'}),
    listServices: (map, o = {}) => listAll(pathOf('services', o.namespace), map, {...o, action: inNamespace('services', o.namespace)}),
    listIngresses: (map, o = {}) => listAll(pathOf('ingresses', o.namespace), map, {...o, action: inNamespace('ingresses', o.namespace)}),
    getNode: (name) => getJson<KubeNode>(`/api/v1/nodes/${encodeURIComponent(name)}`, {}, `get node "${name}"`),
    watch,
    pathOf,
    close() {
      settings?.agent.destroy()
      settings = undefined
    },
  }
}
