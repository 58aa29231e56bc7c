/**
 * A test Kubernetes API server: HTTPS with its own CA, speaking the real protocol for what roster
 * and kubectl use. Not a mock — real kubectl runs against it (test/integration/kube-fidelity.test.ts).
 *
 *   /version, /healthz                       open to anyone (as system:public-info-viewer allows)
 *   /api, /api/v1, /apis, /apis/G, /apis/G/V legacy discovery documents (kubectl falls back to
 *                                            them from aggregated discovery: we answer
 *                                            application/json, never the apidiscovery types)
 *   nodes, services, ingresses               list (labelSelector, limit/continue, 410 Expired for
 *                                            an expired continue token), get, watch (chunked JSON
 *                                            lines, BOOKMARK events, ERROR 410 for a too-old
 *                                            resourceVersion), Table output for nodes
 *   auth                                     bearer tokens and client certificates; 401 without
 *                                            valid credentials, 403 Status with the real message
 *
 * Tests change objects at runtime (addNode/updateNode/deleteNode… produce watch events), count
 * requests by verb/resource/path, expire continue tokens, compact the watch history, close open
 * watches, and make the whole server go away and come back (suspend/resume).
 */
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse} from 'node:http'
import {createServer, type Server} from 'node:https'
import type {Socket} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type {TLSSocket} from 'node:tls'

import type {KubeObject} from './kube-objects.js'
import {serviceAccountGroups, type Decision, type RequestAttributes} from './kube-rbac.js'
import {parseLabelSelector} from './kube-selector.js'
import {issueCert, makeCa, type TestCa} from './test-pki.js'

export type ResourceName = 'nodes' | 'services' | 'ingresses' | 'pods' | 'leases'
export type Verb = 'list' | 'watch' | 'get' | 'discovery' | 'other'

export interface RequestRecord {
  method: string
  path: string
  query: URLSearchParams
  verb: Verb
  resource?: ResourceName
  user?: string
  status: number
  accept: string
  /** The request carried an Authorization header. */
  authorization: boolean
}

export interface KubeApiServerOptions {
  nodes?: KubeObject[]
  services?: KubeObject[]
  ingresses?: KubeObject[]
  pods?: KubeObject[]
  /** Leases (coordination.k8s.io/v1): node heartbeats live in kube-node-lease. */
  leases?: KubeObject[]
  /** Bearer token → user name. Default: admin-token → admin, viewer-token → viewer. */
  tokens?: Record<string, string>
  /**
   * User → the resources that user may get/list/watch. Users not listed may do everything.
   * Default: viewer may do nothing (every resource request is 403).
   */
  permissions?: Record<string, ResourceName[]>
  /**
   * RBAC for the users it knows (kube-rbac.ts: the service accounts of rendered manifests, whose
   * tokens are added to `tokens`): every request of theirs, discovery included, is authorized by
   * it and refused as kube-apiserver refuses (403, a Forbidden Status). Other users keep
   * `permissions`.
   */
  authorizer?: {tokens(): Record<string, string>; knows(user: string): boolean; authorize(a: RequestAttributes): Decision}
  /** How many change events the watch history keeps (older resourceVersions get 410). */
  historyLimit?: number
  /** How often open watches that asked for bookmarks get one. Default 60 s, like the real server. */
  bookmarkIntervalMs?: number
  /** Port to listen on (default: a free one). */
  port?: number
  /**
   * Plain HTTP instead of HTTPS, the way `kubectl proxy` serves the API: requests without
   * credentials act as this user (the proxy adds its own). Bearer tokens still work.
   */
  plainHttpUser?: string
  /**
   * false: the server prints no Tables (as a server without a printer for the resource): a request
   * that accepts only Tables gets 406 Not Acceptable, one that also accepts application/json gets JSON.
   */
  tables?: boolean
}

export interface KubeconfigOptions {
  /** User name in the kubeconfig and for the credentials; default "admin". */
  user?: string
  /** Bearer token; default: the token mapped to `user`. */
  token?: string
  /** 'token' (default), 'cert' (a client certificate with CN=user) or 'none'. */
  auth?: 'token' | 'cert' | 'none'
  context?: string
  cluster?: string
  /** Override the server URL (e.g. a closed port). */
  server?: string
  /** insecure-skip-tls-verify instead of the CA. */
  insecure?: boolean
  /** certificate-authority-data inline instead of a certificate-authority file path. */
  inlineCa?: boolean
  /** Write to this file instead of a fresh one in the server's directory. */
  file?: string
  /** The cluster's proxy-url. */
  proxyUrl?: string
}

export interface KubeApiServer {
  url: string
  port: number
  /** The CA certificate file (PEM) that signed the server certificate. */
  caFile: string
  caPem: string
  /** The temp directory holding certificates and kubeconfigs; removed by stop(). */
  dir: string
  kubeconfigYaml(options?: KubeconfigOptions): string
  kubeconfigPath(options?: KubeconfigOptions): string
  addNode(node: KubeObject): void
  updateNode(name: string, change: (node: KubeObject) => void): void
  deleteNode(name: string): void
  getNode(name: string): KubeObject | undefined
  addService(service: KubeObject): void
  updateService(namespace: string, name: string, change: (service: KubeObject) => void): void
  deleteService(namespace: string, name: string): void
  addIngress(ingress: KubeObject): void
  updateIngress(namespace: string, name: string, change: (ingress: KubeObject) => void): void
  deleteIngress(namespace: string, name: string): void
  addPod(pod: KubeObject): void
  updatePod(namespace: string, name: string, change: (pod: KubeObject) => void): void
  deletePod(namespace: string, name: string): void
  addLease(lease: KubeObject): void
  updateLease(namespace: string, name: string, change: (lease: KubeObject) => void): void
  deleteLease(namespace: string, name: string): void
  getLease(namespace: string, name: string): KubeObject | undefined
  /** Accept this bearer token for this user from now on. */
  addToken(token: string, user: string): void
  /** Refuse this bearer token from now on (401), as kube-apiserver refuses an expired or revoked one. */
  revokeToken(token: string): void
  /** The current (latest) resourceVersion. */
  resourceVersion(): number
  readonly requests: RequestRecord[]
  requestCount(filter?: {verb?: Verb; resource?: ResourceName; path?: string; method?: string; status?: number}): number
  resetRequests(): void
  /** The next `count` requests that carry a continue token get 410 Expired. */
  failNextContinue(count?: number): void
  /** Drop the watch history: watches from any older resourceVersion, and continue tokens issued before, get 410. */
  compactHistory(): void
  /** End every open watch stream (clients should resume from their last resourceVersion). */
  closeWatches(): void
  openWatchCount(): number
  /** Bookmarks written to open watches so far: a positive signal that time passed on a watch. */
  bookmarksSent(): number
  /** The server goes away: stops listening, drops connections. State is kept. */
  suspend(): Promise<void>
  /** Comes back on the same port. */
  resume(): Promise<void>
  stop(): Promise<void>
}

interface Entry {
  obj: KubeObject
  json: string
}

interface HistoryEvent {
  rv: number
  resource: ResourceName
  type: 'ADDED' | 'MODIFIED' | 'DELETED'
  obj: KubeObject
  prev?: KubeObject
}

interface Watcher {
  resource: ResourceName
  namespace?: string
  matches: (obj: KubeObject) => boolean
  res: ServerResponse
  timer?: NodeJS.Timeout
  close: () => void
}

interface ResourceInfo {
  name: ResourceName
  kind: string
  listKind: string
  apiVersion: string
  group: string
  namespaced: boolean
  singular: string
  shortNames: string[]
}

const RESOURCES: Record<ResourceName, ResourceInfo> = {
  nodes: {
    name: 'nodes',
    kind: 'Node',
    listKind: 'NodeList',
    apiVersion: 'v1',
    group: '',
    namespaced: false,
    singular: 'node',
    shortNames: ['no'],
  },
  services: {
    name: 'services',
    kind: 'Service',
    listKind: 'ServiceList',
    apiVersion: 'v1',
    group: '',
    namespaced: true,
    singular: 'service',
    shortNames: ['svc'],
  },
  ingresses: {
    name: 'ingresses',
    kind: 'Ingress',
    listKind: 'IngressList',
    apiVersion: 'networking.k8s.io/v1',
    group: 'networking.k8s.io',
    namespaced: true,
    singular: 'ingress',
    shortNames: ['ing'],
  },
  pods: {
    name: 'pods',
    kind: 'Pod',
    listKind: 'PodList',
    apiVersion: 'v1',
    group: '',
    namespaced: true,
    singular: 'pod',
    shortNames: ['po'],
  },
  leases: {
    name: 'leases',
    kind: 'Lease',
    listKind: 'LeaseList',
    apiVersion: 'coordination.k8s.io/v1',
    group: 'coordination.k8s.io',
    namespaced: true,
    singular: 'lease',
    shortNames: [],
  },
}

const FIELD_LABELS = ['metadata.name', 'metadata.namespace', 'spec.nodeName', 'status.phase']

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']

export async function startKubeApiServer(options: KubeApiServerOptions = {}): Promise<KubeApiServer> {
  const dir = mkdtempSync(join(tmpdir(), 'roster-kube-api-'))
  const pki = makePki(dir)
  const tokens: Record<string, string> = {
    ...(options.tokens ?? {'admin-token': 'admin', 'viewer-token': 'viewer'}),
    ...options.authorizer?.tokens(),
  }
  const authorizer = options.authorizer
  const permissions = options.permissions ?? {viewer: []}
  const historyLimit = options.historyLimit ?? 1000
  const bookmarkIntervalMs = options.bookmarkIntervalMs ?? 60_000

  let rv = 100
  let compactedRv = 0
  let failContinue = 0
  let bookmarks = 0
  const stores: Record<ResourceName, Map<string, Entry>> = {
    nodes: new Map(),
    services: new Map(),
    ingresses: new Map(),
    pods: new Map(),
    leases: new Map(),
  }
  const sortedKeys: Partial<Record<ResourceName, string[]>> = {}
  const history: HistoryEvent[] = []
  const watchers = new Set<Watcher>()
  const requests: RequestRecord[] = []
  const sockets = new Set<Socket>()

  const keyOf = (resource: ResourceName, obj: KubeObject): string =>
    RESOURCES[resource].namespaced ? `${obj.metadata.namespace ?? 'default'}/${obj.metadata.name}` : obj.metadata.name

  function store(resource: ResourceName, obj: KubeObject): Entry {
    const info = RESOURCES[resource]
    obj.apiVersion = info.apiVersion
    obj.kind = info.kind
    if (info.namespaced) obj.metadata.namespace ??= 'default'
    obj.metadata.resourceVersion = String(rv)
    obj.metadata.uid ??= globalThis.crypto.randomUUID()
    obj.metadata.creationTimestamp ??= new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')
    const entry = {obj, json: JSON.stringify(obj)}
    const key = keyOf(resource, obj)
    if (!stores[resource].has(key)) delete sortedKeys[resource]
    stores[resource].set(key, entry)
    return entry
  }

  function record(event: HistoryEvent): void {
    history.push(event)
    if (history.length > historyLimit) {
      const dropped = history.splice(0, history.length - historyLimit)
      compactedRv = Math.max(compactedRv, dropped[dropped.length - 1]?.rv ?? 0)
    }
    for (const w of watchers) deliver(w, event)
  }

  function deliver(w: Watcher, event: HistoryEvent): void {
    if (event.resource !== w.resource) return
    if (w.namespace && event.obj.metadata.namespace !== w.namespace) return
    const now = w.matches(event.obj)
    const before = event.prev ? w.matches(event.prev) : false
    let type: string | undefined
    if (event.type === 'ADDED') type = now ? 'ADDED' : undefined
    else if (event.type === 'DELETED') type = now ? 'DELETED' : undefined
    else if (now && before) type = 'MODIFIED'
    else if (now) type = 'ADDED'
    else if (before) type = 'DELETED'
    if (type) w.res.write(`{"type":"${type}","object":${JSON.stringify(event.obj)}}\n`)
  }

  function put(resource: ResourceName, obj: KubeObject): void {
    const key = keyOf(resource, obj)
    const prev = stores[resource].get(key)
    rv++
    const entry = store(resource, structuredClone(obj))
    record({rv, resource, type: prev ? 'MODIFIED' : 'ADDED', obj: entry.obj, prev: prev?.obj})
  }

  function update(resource: ResourceName, key: string, change: (obj: KubeObject) => void): void {
    const prev = stores[resource].get(key)
    if (!prev) throw new Error(`test kube api server: no ${resource} ${key}`)
    const next = structuredClone(prev.obj)
    change(next)
    rv++
    const entry = store(resource, next)
    record({rv, resource, type: 'MODIFIED', obj: entry.obj, prev: prev.obj})
  }

  function remove(resource: ResourceName, key: string): void {
    const prev = stores[resource].get(key)
    if (!prev) throw new Error(`test kube api server: no ${resource} ${key}`)
    stores[resource].delete(key)
    delete sortedKeys[resource]
    rv++
    const obj = structuredClone(prev.obj)
    obj.metadata.resourceVersion = String(rv)
    record({rv, resource, type: 'DELETED', obj, prev: prev.obj})
  }

  for (const n of options.nodes ?? []) {
    rv++
    store('nodes', structuredClone(n))
  }
  for (const s of options.services ?? []) {
    rv++
    store('services', structuredClone(s))
  }
  for (const i of options.ingresses ?? []) {
    rv++
    store('ingresses', structuredClone(i))
  }
  for (const p of options.pods ?? []) {
    rv++
    store('pods', structuredClone(p))
  }
  for (const l of options.leases ?? []) {
    rv++
    store('leases', structuredClone(l))
  }
  compactedRv = rv

  function keys(resource: ResourceName): string[] {
    let k = sortedKeys[resource]
    if (!k) {
      k = [...stores[resource].keys()].sort()
      sortedKeys[resource] = k
    }
    return k
  }

  // ---- HTTP ----

  function send(res: ServerResponse, status: number, body: string, contentType = 'application/json'): void {
    res.writeHead(status, {'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-cache, private'})
    res.end(body)
  }

  function status(
    res: ServerResponse,
    code: number,
    reason: string,
    message: string,
    details?: Record<string, unknown>,
    extraMeta?: Record<string, unknown>,
  ): void {
    send(
      res,
      code,
      JSON.stringify({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: extraMeta ?? {},
        status: 'Failure',
        message,
        reason,
        ...(details ? {details} : {}),
        code,
      }),
    )
  }

  function authenticate(req: IncomingMessage): string | undefined {
    const header = req.headers.authorization
    if (header) {
      const m = /^Bearer\s+(.+)$/i.exec(header)
      const token = m?.[1]?.trim() ?? ''
      return m && Object.hasOwn(tokens, token) ? tokens[token] : undefined
    }
    if (options.plainHttpUser) return options.plainHttpUser
    const socket = req.socket as TLSSocket
    if (socket.authorized) {
      const cert = socket.getPeerCertificate()
      const cn = cert?.subject?.CN
      if (typeof cn === 'string') return cn
    }
    return undefined
  }

  function allowed(user: string, resource: ResourceName): boolean {
    const list = permissions[user]
    return list === undefined || list.includes(resource)
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'https://localhost')
    const path = url.pathname.replace(/\/+$/, '') || '/'
    const rec: RequestRecord = {
      method: req.method ?? 'GET',
      path,
      query: url.searchParams,
      verb: 'other',
      status: 0,
      accept: String(req.headers.accept ?? ''),
      authorization: req.headers.authorization !== undefined,
    }
    requests.push(rec)
    res.on('finish', () => undefined)
    const origWriteHead = res.writeHead.bind(res)
    res.writeHead = ((code: number, ...rest: unknown[]) => {
      rec.status = code
      return (origWriteHead as (...a: unknown[]) => ServerResponse)(code, ...rest)
    }) as typeof res.writeHead

    if (['/version', '/healthz', '/livez', '/readyz'].includes(path)) {
      rec.verb = 'discovery'
      if (path === '/version') {
        send(
          res,
          200,
          JSON.stringify({
            major: '1',
            minor: '32',
            gitVersion: 'v1.32.2',
            gitCommit: '67a30c0adcf52bd3f56ff0893ce19966be12991f',
            gitTreeState: 'clean',
            buildDate: '2025-02-12T21:19:47Z',
            goVersion: 'go1.23.6',
            compiler: 'gc',
            platform: 'linux/amd64',
          }),
        )
      } else send(res, 200, 'ok', 'text/plain; charset=utf-8')
      return
    }
    const user = authenticate(req)
    rec.user = user
    if (!user) {
      status(res, 401, 'Unauthorized', 'Unauthorized')
      return
    }
    if (req.method !== 'GET') {
      status(res, 405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`)
      return
    }
    const decides = authorizer?.knows(user) === true
    const attributes = {user, groups: serviceAccountGroups(user), path}
    if (decides && isDiscoveryPath(path)) {
      const decision = authorizer.authorize({...attributes, verb: 'get', resourceRequest: false, apiGroup: '', resource: ''})
      if (!decision.allowed) {
        status(
          res,
          403,
          'Forbidden',
          `forbidden: User "${user}" cannot get path "${path}"${decision.reason ? `: ${decision.reason}` : ''}`,
          {},
        )
        return
      }
    }
    if (discovery(path, res)) {
      rec.verb = 'discovery'
      return
    }
    const route = matchResource(path)
    if (!route) {
      status(res, 404, 'NotFound', 'the server could not find the requested resource', {})
      return
    }
    const info = RESOURCES[route.resource]
    rec.resource = route.resource
    const watch = ['1', 'true'].includes(url.searchParams.get('watch') ?? '')
    const verb: Verb = route.name ? 'get' : watch ? 'watch' : 'list'
    rec.verb = verb
    // A list or watch of one object by name (fieldSelector metadata.name=NAME) is authorized as
    // that name, as kube-apiserver's request info has it.
    const name =
      route.name ?? (verb === 'get' ? undefined : /^metadata\.name==?([^,]+)$/.exec(url.searchParams.get('fieldSelector') ?? '')?.[1])
    const decision = decides
      ? authorizer.authorize({
          ...attributes,
          verb,
          resourceRequest: true,
          apiGroup: info.group,
          resource: info.name,
          ...(route.namespace ? {namespace: route.namespace} : {}),
          ...(name ? {name} : {}),
        })
      : {allowed: allowed(user, route.resource)}
    if (!decision.allowed) {
      // kube-apiserver's responsewriters.Forbidden: NewForbidden(group resource, name, forbiddenMessage[: reason]).
      const scope = route.namespace ? `in the namespace "${route.namespace}"` : 'at the cluster scope'
      const qualified = info.group ? `${info.name}.${info.group}` : info.name
      const what = name ? `${qualified} "${name}"` : qualified
      const reason = decision.reason ? `: ${decision.reason}` : ''
      status(
        res,
        403,
        'Forbidden',
        `${what} is forbidden: User "${user}" cannot ${verb} resource "${info.name}" in API group "${info.group}" ${scope}${reason}`,
        {
          ...(name ? {name} : {}),
          ...(info.group ? {group: info.group} : {}),
          kind: info.name,
        },
      )
      return
    }
    if (options.tables === false && !acceptsPlainJson(req)) {
      status(
        res,
        406,
        'NotAcceptable',
        'only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf',
      )
      return
    }
    if (route.name) {
      const entry = stores[route.resource].get(route.namespace ? `${route.namespace}/${route.name}` : route.name)
      if (!entry) {
        status(res, 404, 'NotFound', `${info.name}${info.group ? `.${info.group}` : ''} "${route.name}" not found`, {
          name: route.name,
          ...(info.group ? {group: info.group} : {}),
          kind: info.name,
        })
        return
      }
      if (wantsTable(req) && route.resource === 'nodes') send(res, 200, JSON.stringify(nodeTable([entry.obj], String(rv), undefined)))
      else send(res, 200, entry.json)
      return
    }
    let matches: (obj: KubeObject) => boolean
    try {
      const selector = parseLabelSelector(url.searchParams.get('labelSelector') ?? '')
      const field = parseFieldSelector(url.searchParams.get('fieldSelector') ?? '')
      matches = (obj) => selector(obj.metadata.labels) && field(obj)
    } catch (error) {
      status(res, 400, 'BadRequest', `unable to parse requirement: ${(error as Error).message}`)
      return
    }
    if (watch) startWatch(req, res, url, route.resource, route.namespace, matches)
    else list(req, res, url, route.resource, route.namespace, matches)
  }

  function parseFieldSelector(text: string): (obj: KubeObject) => boolean {
    if (text === '') return () => true
    const checks = text.split(',').map((part) => {
      const m = /^([^=!]+)(==|=|!=)(.*)$/.exec(part.trim())
      if (!m) throw new Error(`invalid field selector: ${part}`)
      const [, field, op, value] = m
      // The field labels the real server supports for the resources here (pods add spec.nodeName
      // and status.phase, which kubectl describe node uses).
      if (!FIELD_LABELS.includes(field as string)) throw new Error(`field label not supported: ${field}`)
      const get = (obj: KubeObject): string =>
        String((field as string).split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], obj) ?? '')
      return op === '!=' ? (obj: KubeObject) => get(obj) !== value : (obj: KubeObject) => get(obj) === value
    })
    return (obj) => checks.every((c) => c(obj))
  }

  /** The Accept header lists a media type other than a Table that JSON satisfies (or none at all). */
  function acceptsPlainJson(req: IncomingMessage): boolean {
    const accept = String(req.headers.accept ?? '')
    if (accept.trim() === '') return true
    return accept.split(',').some((t) => !/as=Table/.test(t) && /^\s*(application\/json|\*\/\*|application\/\*)/.test(t))
  }

  function wantsTable(req: IncomingMessage): boolean {
    if (options.tables === false) return false
    const accept = String(req.headers.accept ?? '')
    const first = accept.split(',')[0] ?? ''
    return /as=Table/.test(first) && /g=meta\.k8s\.io/.test(first)
  }

  function list(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    resource: ResourceName,
    namespace: string | undefined,
    matches: (o: KubeObject) => boolean,
  ): void {
    const info = RESOURCES[resource]
    const limit = Number(url.searchParams.get('limit') ?? '0') || 0
    const token = url.searchParams.get('continue')
    let start = 0
    let listRv = rv
    const all = keys(resource)
    if (token) {
      let decoded: {v?: string; rv?: number; start?: string}
      try {
        decoded = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as typeof decoded
        if (decoded.v !== 'meta.k8s.io/v1' || typeof decoded.rv !== 'number' || typeof decoded.start !== 'string')
          throw new Error('bad token')
      } catch {
        status(res, 400, 'BadRequest', 'continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)')
        return
      }
      if (failContinue > 0 || decoded.rv < compactedRv) {
        if (failContinue > 0) failContinue--
        status(
          res,
          410,
          'Expired',
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
        )
        return
      }
      listRv = decoded.rv
      start = lowerBound(all, decoded.start)
    }
    const items: Entry[] = []
    let i = start
    let next: string | undefined
    for (; i < all.length; i++) {
      const key = all[i] as string
      if (namespace && !key.startsWith(`${namespace}/`)) continue
      const entry = stores[resource].get(key)
      if (!entry || !matches(entry.obj)) continue
      if (limit > 0 && items.length === limit) {
        next = Buffer.from(JSON.stringify({v: 'meta.k8s.io/v1', rv: listRv, start: key})).toString('base64url')
        break
      }
      items.push(entry)
    }
    const meta: Record<string, unknown> = {resourceVersion: String(listRv)}
    if (next) {
      meta.continue = next
      if (!url.searchParams.get('labelSelector')) meta.remainingItemCount = all.length - i
    }
    if (wantsTable(req) && resource === 'nodes') {
      send(
        res,
        200,
        JSON.stringify(
          nodeTable(
            items.map((e) => e.obj),
            String(listRv),
            next,
          ),
        ),
      )
      return
    }
    const body = `{"kind":"${info.listKind}","apiVersion":"${info.apiVersion}","metadata":${JSON.stringify(meta)},"items":[${items.map((e) => e.json).join(',')}]}`
    send(res, 200, body)
  }

  function startWatch(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    resource: ResourceName,
    namespace: string | undefined,
    matches: (o: KubeObject) => boolean,
  ): void {
    const fromText = url.searchParams.get('resourceVersion') ?? ''
    res.writeHead(200, {'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked'})
    res.flushHeaders()
    const from = Number(fromText)
    if (fromText !== '' && fromText !== '0' && (!Number.isFinite(from) || from < compactedRv)) {
      res.end(
        `{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: ${fromText} (${compactedRv})","reason":"Expired","code":410}}\n`,
      )
      return
    }
    const w: Watcher = {
      resource,
      namespace,
      matches,
      res,
      close: () => {
        if (w.timer) clearInterval(w.timer)
        watchers.delete(w)
        if (!res.writableEnded) res.end()
      },
    }
    if (fromText === '' || fromText === '0') {
      for (const key of keys(resource)) {
        const entry = stores[resource].get(key)
        if (!entry || (namespace && entry.obj.metadata.namespace !== namespace) || !matches(entry.obj)) continue
        res.write(`{"type":"ADDED","object":${entry.json}}\n`)
      }
    } else {
      for (const event of history) if (event.rv > from) deliver(w, event)
    }
    watchers.add(w)
    if (['1', 'true'].includes(url.searchParams.get('allowWatchBookmarks') ?? '')) {
      const info = RESOURCES[resource]
      w.timer = setInterval(() => {
        bookmarks++
        res.write(
          `{"type":"BOOKMARK","object":{"kind":"${info.kind}","apiVersion":"${info.apiVersion}","metadata":{"resourceVersion":"${rv}","creationTimestamp":null}}}\n`,
        )
      }, bookmarkIntervalMs)
      w.timer.unref()
    }
    const timeoutSeconds = Number(url.searchParams.get('timeoutSeconds') ?? '0')
    if (timeoutSeconds > 0) setTimeout(w.close, timeoutSeconds * 1000).unref()
    req.on('close', w.close)
  }

  function discovery(path: string, res: ServerResponse): boolean {
    const resourceList = (groupVersion: string, names: ResourceName[]) => ({
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion,
      resources: names
        .flatMap((n): Array<Record<string, unknown>> => {
          const info = RESOURCES[n]
          return [
            {
              name: info.name,
              singularName: info.singular,
              namespaced: info.namespaced,
              kind: info.kind,
              verbs: ALL_VERBS,
              shortNames: info.shortNames,
              storageVersionHash: 'XwShjMxG9Fs=',
            },
            {
              name: `${info.name}/status`,
              singularName: '',
              namespaced: info.namespaced,
              kind: info.kind,
              verbs: ['get', 'patch', 'update'],
            },
          ]
        })
        .concat(
          groupVersion === 'v1'
            ? [
                {
                  name: 'namespaces',
                  singularName: 'namespace',
                  namespaced: false,
                  kind: 'Namespace',
                  verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
                  shortNames: ['ns'],
                  storageVersionHash: 'Q3oi5N2YM8M=',
                },
              ]
            : [],
        ),
    })
    const networking = {
      name: 'networking.k8s.io',
      versions: [{groupVersion: 'networking.k8s.io/v1', version: 'v1'}],
      preferredVersion: {groupVersion: 'networking.k8s.io/v1', version: 'v1'},
    }
    const coordination = {
      name: 'coordination.k8s.io',
      versions: [{groupVersion: 'coordination.k8s.io/v1', version: 'v1'}],
      preferredVersion: {groupVersion: 'coordination.k8s.io/v1', version: 'v1'},
    }
    let body: unknown
    switch (path) {
      case '/api':
        body = {
          kind: 'APIVersions',
          versions: ['v1'],
          serverAddressByClientCIDRs: [{clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${port}`}],
        }
        break
      case '/api/v1':
        body = resourceList('v1', ['nodes', 'services', 'pods'])
        break
      case '/apis':
        body = {kind: 'APIGroupList', apiVersion: 'v1', groups: [networking, coordination]}
        break
      case '/apis/networking.k8s.io':
        body = {kind: 'APIGroup', apiVersion: 'v1', ...networking}
        break
      case '/apis/networking.k8s.io/v1':
        body = resourceList('networking.k8s.io/v1', ['ingresses'])
        break
      case '/apis/coordination.k8s.io':
        body = {kind: 'APIGroup', apiVersion: 'v1', ...coordination}
        break
      case '/apis/coordination.k8s.io/v1':
        body = resourceList('coordination.k8s.io/v1', ['leases'])
        break
      default:
        return false
    }
    send(res, 200, JSON.stringify(body))
    return true
  }

  // ---- lifecycle ----

  const server: Server | HttpServer = options.plainHttpUser
    ? createHttpServer(handle)
    : createServer({key: pki.serverKey, cert: pki.serverCert, ca: pki.caPem, requestCert: true, rejectUnauthorized: false}, handle)
  server.on(options.plainHttpUser ? 'connection' : 'secureConnection', (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  server.on('tlsClientError', () => undefined)
  server.keepAliveTimeout = 60_000

  let port = options.port ?? 0
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject)
        const address = server.address()
        if (address && typeof address === 'object') port = address.port
        resolve()
      })
    })
  await listen()
  const url = `${options.plainHttpUser ? 'http' : 'https'}://127.0.0.1:${port}`

  const closeWatches = () => {
    for (const w of [...watchers]) w.close()
  }
  const shutdown = () =>
    new Promise<void>((resolve) => {
      closeWatches()
      for (const s of sockets) s.destroy()
      if (!server.listening) return resolve()
      server.close(() => resolve())
      server.closeAllConnections()
    })

  const kubeconfigYaml = (o: KubeconfigOptions = {}): string => {
    const user = o.user ?? 'admin'
    const context = o.context ?? 'test'
    const cluster = o.cluster ?? 'test-cluster'
    const auth = o.auth ?? 'token'
    const clusterLines = [`    server: ${o.server ?? url}`]
    if (o.proxyUrl) clusterLines.push(`    proxy-url: ${o.proxyUrl}`)
    if (options.plainHttpUser) {
      // no TLS settings: a plain-HTTP server, as kubectl proxy's kubeconfig has
    } else if (o.insecure) clusterLines.push('    insecure-skip-tls-verify: true')
    else if (o.inlineCa) clusterLines.push(`    certificate-authority-data: ${Buffer.from(pki.caPem).toString('base64')}`)
    else clusterLines.push(`    certificate-authority: ${pki.caFile}`)
    let userLines: string[]
    if (auth === 'token') {
      const token = o.token ?? Object.entries(tokens).find(([, u]) => u === user)?.[0] ?? `${user}-token`
      userLines = [`    token: ${token}`]
    } else if (auth === 'cert') {
      const {certFile, keyFile} = clientCert(pki, user)
      userLines = [`    client-certificate: ${certFile}`, `    client-key: ${keyFile}`]
    } else userLines = ['    {}']
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      `- name: ${cluster}`,
      '  cluster:',
      ...clusterLines,
      'contexts:',
      `- name: ${context}`,
      '  context:',
      `    cluster: ${cluster}`,
      `    user: ${user}`,
      `current-context: ${context}`,
      'preferences: {}',
      'users:',
      `- name: ${user}`,
      '  user:',
      ...userLines,
      '',
    ].join('\n')
  }

  let kubeconfigCounter = 0
  return {
    url,
    port,
    caFile: pki.caFile,
    caPem: pki.caPem,
    dir,
    kubeconfigYaml,
    kubeconfigPath(o = {}) {
      const file = o.file ?? join(dir, `kubeconfig-${++kubeconfigCounter}.yaml`)
      writeFileSync(file, kubeconfigYaml(o), {mode: 0o600})
      return file
    },
    addNode: (node) => put('nodes', node),
    updateNode: (name, change) => update('nodes', name, change),
    deleteNode: (name) => remove('nodes', name),
    getNode: (name) => {
      const e = stores.nodes.get(name)
      return e ? structuredClone(e.obj) : undefined
    },
    addService: (s) => put('services', s),
    updateService: (ns, name, change) => update('services', `${ns}/${name}`, change),
    deleteService: (ns, name) => remove('services', `${ns}/${name}`),
    addIngress: (i) => put('ingresses', i),
    updateIngress: (ns, name, change) => update('ingresses', `${ns}/${name}`, change),
    deleteIngress: (ns, name) => remove('ingresses', `${ns}/${name}`),
    addPod: (p) => put('pods', p),
    updatePod: (ns, name, change) => update('pods', `${ns}/${name}`, change),
    deletePod: (ns, name) => remove('pods', `${ns}/${name}`),
    addLease: (l) => put('leases', l),
    updateLease: (ns, name, change) => update('leases', `${ns}/${name}`, change),
    deleteLease: (ns, name) => remove('leases', `${ns}/${name}`),
    getLease: (ns, name) => {
      const e = stores.leases.get(`${ns}/${name}`)
      return e ? structuredClone(e.obj) : undefined
    },
    addToken(token, user) {
      tokens[token] = user
    },
    revokeToken(token) {
      delete tokens[token]
    },
    resourceVersion: () => rv,
    requests,
    requestCount(filter = {}) {
      return requests.filter(
        (r) =>
          (filter.verb === undefined || r.verb === filter.verb) &&
          (filter.resource === undefined || r.resource === filter.resource) &&
          (filter.path === undefined || r.path === filter.path) &&
          (filter.method === undefined || r.method === filter.method) &&
          (filter.status === undefined || r.status === filter.status),
      ).length
    },
    resetRequests() {
      requests.length = 0
    },
    failNextContinue(count = 1) {
      failContinue += count
    },
    compactHistory() {
      history.length = 0
      compactedRv = rv
    },
    closeWatches,
    openWatchCount: () => watchers.size,
    bookmarksSent: () => bookmarks,
    suspend: shutdown,
    async resume() {
      if (!server.listening) await listen()
    },
    async stop() {
      await shutdown()
      rmSync(dir, {recursive: true, force: true})
    },
  }
}

/** The paths `discovery` answers (and /openapi), which RBAC checks as non-resource requests. */
function isDiscoveryPath(path: string): boolean {
  return /^\/(api|apis)$|^\/api\/[^/]+$|^\/apis\/[^/]+(\/[^/]+)?$|^\/openapi\//.test(path)
}

function lowerBound(sorted: string[], key: string): number {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if ((sorted[mid] as string) < key) lo = mid + 1
    else hi = mid
  }
  return lo
}

// ---- the node printer, as the real API server's Table handler prints nodes ----

function nodeTable(nodes: KubeObject[], resourceVersion: string, next: string | undefined): unknown {
  const columns = [
    ['Name', 'string', 'name', 0],
    ['Status', 'string', '', 0],
    ['Roles', 'string', '', 0],
    ['Age', 'string', '', 0],
    ['Version', 'string', '', 0],
    ['Internal-IP', 'string', '', 1],
    ['External-IP', 'string', '', 1],
    ['OS-Image', 'string', '', 1],
    ['Kernel-Version', 'string', '', 1],
    ['Container-Runtime', 'string', '', 1],
  ] as const
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: {resourceVersion, ...(next ? {continue: next} : {})},
    columnDefinitions: columns.map(([name, type, format, priority]) => ({name, type, format, description: '', priority})),
    rows: nodes.map((node) => ({
      cells: nodeCells(node),
      object: {kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: node.metadata},
    })),
  }
}

function nodeCells(node: KubeObject): string[] {
  const status = (node.status ?? {}) as {
    conditions?: Array<{type: string; status: string}>
    addresses?: Array<{type: string; address: string}>
    nodeInfo?: Record<string, string>
  }
  const spec = (node.spec ?? {}) as {unschedulable?: boolean}
  const parts: string[] = []
  const ready = status.conditions?.find((c) => c.type === 'Ready')
  if (ready) parts.push(ready.status === 'True' ? 'Ready' : 'NotReady')
  else parts.push('Unknown')
  if (spec.unschedulable) parts.push('SchedulingDisabled')
  const roles = new Set<string>()
  for (const [k, v] of Object.entries(node.metadata.labels ?? {})) {
    if (k.startsWith('node-role.kubernetes.io/') && k.length > 'node-role.kubernetes.io/'.length)
      roles.add(k.slice('node-role.kubernetes.io/'.length))
    else if (k === 'kubernetes.io/role' && v !== '') roles.add(v)
  }
  const info = status.nodeInfo ?? {}
  const addr = (type: string) => status.addresses?.find((a) => a.type === type)?.address ?? '<none>'
  const created = node.metadata.creationTimestamp ? Date.parse(node.metadata.creationTimestamp) : NaN
  return [
    node.metadata.name,
    parts.join(','),
    [...roles].sort().join(',') || '<none>',
    Number.isNaN(created) ? '<unknown>' : serverHumanDuration(Date.now() - created),
    info.kubeletVersion ?? '',
    addr('InternalIP'),
    addr('ExternalIP'),
    info.osImage || '<unknown>',
    info.kernelVersion || '<unknown>',
    info.containerRuntimeVersion || '<unknown>',
  ]
}

/** apimachinery's duration.HumanDuration, written independently of roster's. */
function serverHumanDuration(ms: number): string {
  const s = Math.trunc(ms / 1000)
  if (s < -1) return '<invalid>'
  if (s < 0) return '0s'
  if (s < 120) return `${s}s`
  const m = Math.trunc(s / 60)
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`
  if (m < 180) return `${m}m`
  const h = Math.trunc(m / 60)
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`
  if (h < 48) return `${h}h`
  if (h < 192) return h % 24 === 0 ? `${Math.trunc(h / 24)}d` : `${Math.trunc(h / 24)}d${h % 24}h`
  if (h < 24 * 365 * 2) return `${Math.trunc(h / 24)}d`
  if (h < 24 * 365 * 8) {
    const dy = Math.trunc(h / 24) % 365
    return dy === 0 ? `${Math.trunc(h / 24 / 365)}y` : `${Math.trunc(h / 24 / 365)}y${dy}d`
  }
  return `${Math.trunc(h / 24 / 365)}y`
}

// ---- routing ----

function matchResource(path: string): {resource: ResourceName; namespace?: string; name?: string} | undefined {
  let m = /^\/api\/v1\/nodes(?:\/([^/]+))?$/.exec(path)
  if (m) return {resource: 'nodes', name: m[1] ? decodeURIComponent(m[1]) : undefined}
  m = /^\/api\/v1\/(?:namespaces\/([^/]+)\/)?(services|pods)(?:\/([^/]+))?$/.exec(path)
  if (m) {
    if (m[3] && !m[1]) return undefined
    return {resource: m[2] as 'services' | 'pods', namespace: m[1], name: m[3] ? decodeURIComponent(m[3]) : undefined}
  }
  m = /^\/apis\/(networking|coordination)\.k8s\.io\/v1\/(?:namespaces\/([^/]+)\/)?(ingresses|leases)(?:\/([^/]+))?$/.exec(path)
  if (m && (m[1] === 'networking') === (m[3] === 'ingresses')) {
    if (m[4] && !m[2]) return undefined
    return {resource: m[3] as 'ingresses' | 'leases', namespace: m[2], name: m[4] ? decodeURIComponent(m[4]) : undefined}
  }
  return undefined
}

// ---- PKI (test/support/test-pki.ts) ----

interface Pki extends TestCa {
  caPem: string
  serverCert: string
  serverKey: string
}

function makePki(dir: string): Pki {
  const ca = makeCa(dir, 'roster-test-kubernetes-ca')
  const server = issueCert(ca, {
    name: 'server',
    subject: '/CN=kube-apiserver',
    extensions:
      'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment',
  })
  return {
    ...ca,
    caPem: readFileSync(ca.caFile, 'utf8'),
    serverCert: readFileSync(server.certFile, 'utf8'),
    serverKey: readFileSync(server.keyFile, 'utf8'),
  }
}

/** A client certificate for `user`, in the group system:masters. */
function clientCert(pki: Pki, user: string): {certFile: string; keyFile: string} {
  return issueCert(pki, {
    name: `client-${user.replace(/[^A-Za-z0-9_.-]/g, '_')}`,
    subject: `/CN=${user}/O=system:masters`,
    extensions: 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature',
  })
}
