/**
 * The HTTP client of `roster serve`: the RegistryClient for an https:// --registry (http:// only
 * for a loopback host, so that a bearer token never crosses a network in clear). Built on the one
 * JSON client (src/lib/http/json-client.ts): a timeout on every request, bounded retries of
 * idempotent calls, and the server's statuses mapped to the same exit codes as local mode
 * (400→2, 401/403→4, 404→5, 409→6, unreachable or 5xx→3). Messages are the server's, which are
 * the registry library's own.
 *
 * Registering and unregistering services are idempotent (service IDs derive from namespace and
 * endpoint), so they are retried like GET/PUT/DELETE: a systemd hook rides out a restarting server.
 *
 * What it sends and reads is typed from the server's own route schemas (ApiBody, ApiQuery,
 * ApiReply of server/schemas.ts, types only: nothing of the server is loaded), so that a change
 * to a route that this client does not follow fails the build.
 */
import {readFileSync} from 'node:fs'
import {isIP} from 'node:net'

import {InvalidInputError} from '../errors.js'
import type {JsonHttpClient} from '../http/json-client.js'
import type {ApiBody, ApiQuery, ApiReply, ApiRoute} from '../server/schemas.js'
import type {HistoryEvent} from './history/event.js'
import type {HistoryFilter, HistoryFollow} from './history/read.js'
import type {Namespace, RegistrySettings, Server, Service} from './model.js'
import type {RegistryClient} from './registry-client.js'
import {validateRetention} from './history/retention.js'
import {validateExport, validateName, validateReplicas} from './validation.js'
import type {
  ImportResult,
  RedistributionResult,
  RegisterServicesResult,
  ServerChangeResult,
  ServiceFilter,
  ServiceInput,
  SettingsUpdate,
  UnregisterNamespaceResult,
  UnregisterOptions,
  UnregisterServerResult,
  UnregisterServicesResult,
} from './registry.js'

export interface RemoteRegistryOptions {
  url: string
  token?: string
  /** Called before each request when set (roster login: refreshed before it expires); its token replaces `token`. */
  tokenProvider?: () => Promise<string | undefined>
  caFile?: string
  timeoutMs: number
}

/** Services per page of a remote listing. */
export const REMOTE_PAGE_SIZE = 1000

function isLoopbackHostname(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, '')
  if (h === 'localhost' || h === '::1') return true
  return isIP(h) === 4 && h.startsWith('127.')
}

/** Checks the URL (https://, or http:// on loopback) and the CA file; throws InvalidInputError (exit 2). */
export function remoteBaseUrl(value: string): URL {
  let url: URL
  try {
    url = new URL(value.trim())
  } catch {
    throw InvalidInputError.forField('registry', value.replace(/(\/\/)[^/@]*@/, '$1***@'), 'is not a URL')
  }
  if (url.username || url.password) {
    throw InvalidInputError.forField(
      'registry',
      `${url.protocol}//***@${url.host}`,
      'must not hold credentials; use --token or ROSTER_TOKEN',
    )
  }
  if (url.protocol === 'http:' && !isLoopbackHostname(url.hostname)) {
    throw InvalidInputError.forField(
      'registry',
      url.origin,
      'http:// is allowed only for a loopback host; use https:// so the token is not sent in clear',
    )
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw InvalidInputError.forField('registry', url.origin, 'expected https://HOST:PORT')
  }
  if (url.search || url.hash) throw InvalidInputError.forField('registry', url.origin + url.pathname, 'must not have a query or fragment')
  return url
}

export function openRemoteRegistry(options: RemoteRegistryOptions): RegistryClient {
  return new RemoteRegistry(options)
}

class RemoteRegistry implements RegistryClient {
  readonly description: string
  private client?: Promise<JsonHttpClient>

  constructor(private readonly options: RemoteRegistryOptions) {
    const url = remoteBaseUrl(options.url)
    this.description = url.origin + url.pathname.replace(/\/+$/, '')
    // The CA file is read now, so that a missing file is exit 2 before any request.
    if (options.caFile !== undefined) this.ca = readCa(options.caFile)
  }

  private readonly ca?: Buffer

  private http(): Promise<JsonHttpClient> {
    this.client ??= import('../http/json-client.js').then(
      ({JsonHttpClient}) =>
        new JsonHttpClient({
          baseUrl: this.description,
          what: 'roster serve',
          timeoutMs: this.options.timeoutMs,
          headers: this.options.token ? {authorization: `Bearer ${this.options.token}`} : undefined,
          ca: this.ca,
        }),
    )
    return this.client
  }

  /** One request to `route` (the schemas.ts name of the route at `method path`): its body and query as the route takes them. */
  private async call<R extends ApiRoute>(
    route: R,
    method: 'GET' | 'PUT' | 'POST' | 'DELETE',
    path: string,
    options: {body?: ApiBody<R>; query?: ApiQuery<R>; idempotent?: boolean; accept?: number[]} = {},
  ): Promise<{status: number; body: ApiReply<R>}> {
    const http = await this.http()
    const token = await this.options.tokenProvider?.()
    const response = await http.request<ApiReply<R>>(
      method,
      path,
      token ? {...options, headers: {authorization: `Bearer ${token}`}} : options,
    )
    return {status: response.status, body: response.body}
  }

  async getSettings(): Promise<RegistrySettings> {
    return (await this.call('getSettings', 'GET', '/v1/settings')).body
  }

  async updateSettings(update: SettingsUpdate): Promise<{settings: RegistrySettings} & RedistributionResult> {
    const body = dropUndefined({
      replicas: update.replicas === undefined ? undefined : validateReplicas('replicas', update.replicas),
      historyRetention: update.historyRetention === undefined ? undefined : validateRetention(update.historyRetention),
    })
    return (await this.call('putSettings', 'PUT', '/v1/settings', {body})).body
  }

  async getServer(name: string): Promise<Server | undefined> {
    const r = await this.call('getServer', 'GET', `/v1/servers/${seg(name)}`, {accept: [404]})
    return r.status === 404 ? undefined : r.body
  }

  async listServers(selector?: string): Promise<Server[]> {
    return (await this.call('listServers', 'GET', '/v1/servers', {query: {selector}})).body
  }

  async registerServer(name: string, labels: Record<string, string> = {}): Promise<ServerChangeResult> {
    return (await this.call('putServer', 'PUT', `/v1/servers/${seg(name)}`, {body: {labels}})).body
  }

  async unregisterServer(name: string): Promise<UnregisterServerResult> {
    return (await this.call('deleteServer', 'DELETE', `/v1/servers/${seg(name)}`)).body
  }

  async getNamespace(name: string): Promise<Namespace | undefined> {
    const r = await this.call('getNamespace', 'GET', `/v1/namespaces/${seg(name, 'namespace')}`, {accept: [404]})
    return r.status === 404 ? undefined : r.body
  }

  async listNamespaces(): Promise<Namespace[]> {
    return (await this.call('listNamespaces', 'GET', '/v1/namespaces')).body
  }

  async registerNamespace(name: string, exportConfig?: unknown): Promise<Namespace> {
    const body = exportConfig === undefined ? {} : {export: validateExport('export', exportConfig)}
    return (await this.call('putNamespace', 'PUT', `/v1/namespaces/${seg(name, 'namespace')}`, {body})).body
  }

  async unregisterNamespace(name: string, force = false): Promise<UnregisterNamespaceResult> {
    const query = {force: force ? ('true' as const) : undefined}
    return (await this.call('deleteNamespace', 'DELETE', `/v1/namespaces/${seg(name, 'namespace')}`, {query})).body
  }

  async registerServices(input: ServiceInput): Promise<RegisterServicesResult> {
    // Each field by name (the input may carry others): a ServiceInput field left out here, or one
    // the route does not take (_EveryServiceFieldSent below), fails the build.
    const body = {
      name: input.name,
      endpoints: [...input.endpoints],
      namespace: input.namespace,
      labels: input.labels,
      selector: input.selector,
      description: input.description,
      ttl: input.ttl,
      expiresAt: input.expiresAt,
    } satisfies Record<keyof ServiceInput, unknown> & ApiBody<'registerServices'>
    return (await this.call('registerServices', 'POST', '/v1/services', {body: dropUndefined(body), idempotent: true})).body
  }

  async unregisterServices(
    refs: readonly string[],
    namespace?: string,
    options: UnregisterOptions = {},
  ): Promise<UnregisterServicesResult> {
    const body = dropUndefined({refs: [...refs], namespace, action: options.action})
    return (await this.call('unregisterServices', 'POST', '/v1/services/unregister', {body, idempotent: true})).body
  }

  listServices(filter: ServiceFilter = {}): AsyncIterable<Service> {
    return this.pages('listServices', '/v1/services', filter)
  }

  async importServices(document: unknown, source?: string): Promise<ImportResult> {
    const body = dropUndefined({document, source})
    return (await this.call('importServices', 'POST', '/v1/services/import', {body, idempotent: true})).body
  }

  listEvents(filter: HistoryFilter = {}): AsyncIterable<HistoryEvent> {
    return this.pages('listEvents', '/v1/events', filter)
  }

  /** The items of a paged list route, REMOTE_PAGE_SIZE a page, following `continue`. */
  private async *pages<R extends 'listServices' | 'listEvents'>(
    route: R,
    path: string,
    filter: Omit<ApiQuery<R>, 'limit' | 'continue'>,
  ): AsyncIterable<ApiReply<R>['items'][number]> {
    let next: string | undefined
    do {
      const query = {...filter, limit: String(REMOTE_PAGE_SIZE), continue: next} as ApiQuery<R>
      const page = (await this.call(route, 'GET', path, {query})).body
      yield* page.items
      next = page.continue
    } while (next)
  }

  async followEvents(filter: HistoryFilter, onEvent: (event: HistoryEvent) => void | Promise<void>): Promise<HistoryFollow> {
    const http = await this.http()
    const token = await this.options.tokenProvider?.()
    const query: ApiQuery<'listEvents'> = {...filter, follow: '1'}
    const stream = http.streamLines('/v1/events', {query, headers: token ? {authorization: `Bearer ${token}`} : undefined}, (line) =>
      onEvent(JSON.parse(line) as HistoryEvent),
    )
    const ended = stream.ended.then(
      () => undefined,
      (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
    )
    return {
      ended,
      close: async () => {
        stream.close()
        await ended
      },
    }
  }
}

/** Fails the build, naming them, if a ServiceInput has fields that POST /v1/services does not take (registerServices sends them all). */
type _EveryServiceFieldSent = NoneOf<Exclude<keyof ServiceInput, keyof ApiBody<'registerServices'>>>
type NoneOf<T extends never> = T

/** A name as one path segment; validated here as the registry would, so that "" or "a/b" never changes the route. */
function seg(value: string, field = 'name'): string {
  return encodeURIComponent(validateName(field, value))
}

function readCa(path: string): Buffer {
  try {
    return readFileSync(path)
  } catch (error) {
    throw InvalidInputError.forField('registry-ca', path, `cannot read it (${(error as NodeJS.ErrnoException).code ?? 'error'})`)
  }
}

function dropUndefined<T extends Record<string, unknown>>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T
}
