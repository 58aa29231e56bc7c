/**
 * The HTTP client of `roster serve`: the RegistryClient for an https:// registry (http:// only
 * for a loopback host, so that a bearer token never crosses a network in clear). Built on the one
 * JSON client (src/lib/http/json-client.ts): a timeout on every request, bounded retries of
 * idempotent calls, and the server's statuses mapped to the same exit codes as local mode
 * (400→2, 401/403→4, 404→5, 409→6, 412→6 as PreconditionFailedError, unreachable or 5xx→3).
 * Messages are the server's, which are the registry library's own.
 *
 * Conditional writes send the expected revision as If-Match (`"<revision>"`), or, for a bulk
 * unregister, as the body's `revisions`. Like every write they are retried when the server is
 * unreachable; a retry whose first attempt did apply answers 412 (the object moved: by that
 * attempt), so a caller that gets 412 reads the object again before it decides.
 *
 * Registering and unregistering services are idempotent (service IDs derive from namespace and
 * endpoint), so they are retried like GET/PUT/DELETE: a systemd hook rides out a restarting server.
 *
 * What it sends and reads is typed from the server's own route schemas (ApiBody, ApiQuery,
 * ApiReply of server/schemas.ts, types only: nothing of the server is loaded), so that a change
 * to a route that this client does not follow fails the build.
 */

import {BackendUnavailableError, InvalidInputError, PreconditionFailedError, setting} from '../errors.js'
import {readPemFile} from '../fs/input-file.js'
import {isLoopbackHost} from '../net/loopback.js'
import {type JsonHttpClient, serverMessage} from '../http/json-client.js'
import type {ApiBody, ApiQuery, ApiReply, ApiRoute} from '../server/schemas.js'
import type {HistoryEvent} from './history/event.js'
import type {HistoryFilter, HistoryFollow} from './history/read.js'
import {validateRetention} from './history/retention.js'
import type {Namespace, RegistrySettings, Revisioned, Server, Service} from './model.js'
import type {RegistryClient} from './registry-client.js'
import {validateRevision} from './revisions.js'
import {validateExport, validateName, validateReplicas} from './validation.js'
import type {
  ImportResult,
  RegisterServicesResult,
  ServerChangeResult,
  ServiceFilter,
  ServiceInput,
  SettingsChangeResult,
  SettingsUpdate,
  UnregisterNamespaceResult,
  UnregisterOptions,
  UnregisterServerResult,
  UnregisterServicesResult,
  WriteCondition,
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
      `must not hold credentials; give the token with ${setting('token')}`,
    )
  }
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
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
          authField: 'token',
          ca: this.ca,
        }),
    )
    return this.client
  }

  /**
   * One request to `route` (the schemas.ts name of the route at `method path`): its body and query
   * as the route takes them, and the If-Match of a conditional write.
   */
  private async call<R extends ApiRoute>(
    route: R,
    method: 'GET' | 'PUT' | 'POST' | 'DELETE',
    path: string,
    options: {body?: ApiBody<R>; query?: ApiQuery<R>; idempotent?: boolean; accept?: number[]; condition?: WriteCondition} = {},
  ): Promise<{status: number; body: ApiReply<R>}> {
    const http = await this.http()
    const token = await this.options.tokenProvider?.()
    const {condition, ...request} = options
    const headers: Record<string, string> = {}
    if (token) headers.authorization = `Bearer ${token}`
    if (condition?.expectRevision !== undefined) headers['if-match'] = `"${validateRevision('revision', condition.expectRevision)}"`
    const response = await http.request<ApiReply<R>>(method, path, {...request, headers, describeError: preconditionFailed})
    return {status: response.status, body: response.body}
  }

  async getSettings(): Promise<Revisioned<RegistrySettings>> {
    return (await this.call('getSettings', 'GET', '/v1/settings')).body
  }

  async updateSettings(update: SettingsUpdate, condition?: WriteCondition): Promise<SettingsChangeResult> {
    const body = dropUndefined({
      replicas: update.replicas === undefined ? undefined : validateReplicas('replicas', update.replicas),
      historyRetention: update.historyRetention === undefined ? undefined : validateRetention(update.historyRetention),
    })
    return (await this.call('putSettings', 'PUT', '/v1/settings', {body, condition})).body
  }

  async getServer(name: string): Promise<Revisioned<Server> | undefined> {
    const r = await this.call('getServer', 'GET', `/v1/servers/${seg(name)}`, {accept: [404]})
    return r.status === 404 ? undefined : r.body
  }

  async listServers(selector?: string): Promise<Revisioned<Server>[]> {
    return (await this.call('listServers', 'GET', '/v1/servers', {query: {selector}})).body
  }

  async registerServer(name: string, labels: Record<string, string> = {}, condition?: WriteCondition): Promise<ServerChangeResult> {
    return (await this.call('putServer', 'PUT', `/v1/servers/${seg(name)}`, {body: {labels}, condition})).body
  }

  async unregisterServer(name: string, condition?: WriteCondition): Promise<UnregisterServerResult> {
    return (await this.call('deleteServer', 'DELETE', `/v1/servers/${seg(name)}`, {condition})).body
  }

  async getNamespace(name: string): Promise<Revisioned<Namespace> | undefined> {
    const r = await this.call('getNamespace', 'GET', `/v1/namespaces/${seg(name, 'namespace')}`, {accept: [404]})
    return r.status === 404 ? undefined : r.body
  }

  async listNamespaces(): Promise<Revisioned<Namespace>[]> {
    return (await this.call('listNamespaces', 'GET', '/v1/namespaces')).body
  }

  async registerNamespace(name: string, exportConfig?: unknown, condition?: WriteCondition): Promise<Revisioned<Namespace>> {
    const body = exportConfig === undefined ? {} : {export: validateExport('export', exportConfig)}
    return (await this.call('putNamespace', 'PUT', `/v1/namespaces/${seg(name, 'namespace')}`, {body, condition})).body
  }

  async unregisterNamespace(name: string, force = false, condition?: WriteCondition): Promise<UnregisterNamespaceResult> {
    const query = {force: force ? ('true' as const) : undefined}
    return (await this.call('deleteNamespace', 'DELETE', `/v1/namespaces/${seg(name, 'namespace')}`, {query, condition})).body
  }

  async registerServices(input: ServiceInput, condition?: WriteCondition): Promise<RegisterServicesResult> {
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
    return (await this.call('registerServices', 'POST', '/v1/services', {body: dropUndefined(body), idempotent: true, condition})).body
  }

  async unregisterServices(
    refs: readonly string[],
    namespace?: string,
    options: UnregisterOptions = {},
  ): Promise<UnregisterServicesResult> {
    const revisions = options.expectRevisions
    const body = dropUndefined({
      refs: [...refs],
      namespace,
      revisions: revisions === undefined ? undefined : [...revisions],
      action: options.action,
    })
    return (await this.call('unregisterServices', 'POST', '/v1/services/unregister', {body, idempotent: true})).body
  }

  listServices(filter: ServiceFilter = {}): AsyncIterable<Revisioned<Service>> {
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
    let last: string | undefined
    const stream = http.streamLines('/v1/events', {query, headers: token ? {authorization: `Bearer ${token}`} : undefined}, (line) => {
      const event = JSON.parse(line) as HistoryEvent
      last = event.time
      return onEvent(event)
    })
    let closing = false
    const ended = stream.ended.then(
      // The server ends a follow only when it stops or this client fell too far behind: not an end the user asked for.
      () =>
        closing
          ? undefined
          : new BackendUnavailableError(
              `${this.options.url} ended the history follow (it stopped, or this client read too slowly)${last ? `; the last event was at ${last}: follow again with ${setting('since')} ${last} (which prints the events of that time again)` : ''}`,
            ),
      (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
    )
    return {
      ended,
      close: async () => {
        closing = true
        stream.close()
        await ended
      },
    }
  }
}

/** 412: the object moved since the caller read it (exit 6); nothing was changed. */
function preconditionFailed(status: number, body: unknown): PreconditionFailedError | undefined {
  if (status !== 412) return undefined
  return new PreconditionFailedError(serverMessage(body).message ?? 'the object moved since it was read (HTTP 412); nothing was changed')
}

/** Fails the build, naming them, if a ServiceInput has fields that POST /v1/services does not take (registerServices sends them all). */
type _EveryServiceFieldSent = NoneOf<Exclude<keyof ServiceInput, keyof ApiBody<'registerServices'>>>
type NoneOf<T extends never> = T

/** A name as one path segment; validated here as the registry would, so that "" or "a/b" never changes the route. */
function seg(value: string, field = 'name'): string {
  return encodeURIComponent(validateName(field, value))
}

/** The CA certificate file of the registry-ca setting, checked as every user path is. */
export function readCa(path: string): Buffer {
  return readPemFile(path, {field: 'registry-ca'})
}

function dropUndefined<T extends Record<string, unknown>>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T
}
