/**
 * The HTTP client of `roster serve`: the RegistryClient for an https:// registry (http:// only
 * for a loopback host, so that a bearer token never crosses a network in clear). Built on the one
 * JSON client (src/lib/http/json-client.ts): a timeout on every request, bounded retries of
 * idempotent calls, and the server's statuses mapped to the same exit codes as local mode
 * (400→2, 401/403→4, 404→5, 409→6, unreachable or 5xx→3). Messages are the server's, which are
 * the registry library's own.
 *
 * Registering and unregistering services are idempotent (service IDs derive from namespace and
 * endpoint), so they are retried like GET/PUT/DELETE: a systemd hook rides out a restarting server.
 */
import {readFileSync} from 'node:fs'

import {InvalidInputError, setting} from '../errors.js'
import {isLoopbackHost} from '../net/loopback.js'
import type {JsonHttpClient} from '../http/json-client.js'
import type {Namespace, RegistrySettings, Server, Service} from './model.js'
import type {RegistryClient} from './registry-client.js'
import {validateName} from './validation.js'
import type {
  ImportResult,
  RedistributionResult,
  RegisterServicesResult,
  ServerChangeResult,
  ServiceFilter,
  ServiceInput,
  UnregisterNamespaceResult,
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

  private async call<T>(
    method: 'GET' | 'PUT' | 'POST' | 'DELETE',
    path: string,
    options: {body?: unknown; query?: Record<string, string | number | boolean | undefined>; idempotent?: boolean; accept?: number[]} = {},
  ): Promise<{status: number; body: T}> {
    const http = await this.http()
    const token = await this.options.tokenProvider?.()
    const response = await http.request<T>(method, path, token ? {...options, headers: {authorization: `Bearer ${token}`}} : options)
    return {status: response.status, body: response.body}
  }

  async getSettings(): Promise<RegistrySettings> {
    return (await this.call<RegistrySettings>('GET', '/v1/settings')).body
  }

  async updateSettings(update: {replicas?: unknown}): Promise<{settings: RegistrySettings} & RedistributionResult> {
    return (await this.call<{settings: RegistrySettings} & RedistributionResult>('PUT', '/v1/settings', {body: update})).body
  }

  async getServer(name: string): Promise<Server | undefined> {
    const r = await this.call<Server>('GET', `/v1/servers/${seg(name)}`, {accept: [404]})
    return r.status === 404 ? undefined : r.body
  }

  async listServers(selector?: string): Promise<Server[]> {
    return (await this.call<Server[]>('GET', '/v1/servers', {query: {selector}})).body
  }

  async registerServer(name: string, labels: Record<string, string> = {}): Promise<ServerChangeResult> {
    return (await this.call<ServerChangeResult>('PUT', `/v1/servers/${seg(name)}`, {body: {labels}})).body
  }

  async unregisterServer(name: string): Promise<UnregisterServerResult> {
    return (await this.call<UnregisterServerResult>('DELETE', `/v1/servers/${seg(name)}`)).body
  }

  async getNamespace(name: string): Promise<Namespace | undefined> {
    const r = await this.call<Namespace>('GET', `/v1/namespaces/${seg(name, 'namespace')}`, {accept: [404]})
    return r.status === 404 ? undefined : r.body
  }

  async listNamespaces(): Promise<Namespace[]> {
    return (await this.call<Namespace[]>('GET', '/v1/namespaces')).body
  }

  async registerNamespace(name: string, exportConfig?: unknown): Promise<Namespace> {
    return (
      await this.call<Namespace>('PUT', `/v1/namespaces/${seg(name, 'namespace')}`, {
        body: exportConfig === undefined ? {} : {export: exportConfig},
      })
    ).body
  }

  async unregisterNamespace(name: string, force = false): Promise<UnregisterNamespaceResult> {
    return (
      await this.call<UnregisterNamespaceResult>('DELETE', `/v1/namespaces/${seg(name, 'namespace')}`, {
        query: {force: force ? 'true' : undefined},
      })
    ).body
  }

  async registerServices(input: ServiceInput): Promise<RegisterServicesResult> {
    const body = {
      name: input.name,
      endpoints: [...input.endpoints],
      namespace: input.namespace,
      labels: input.labels,
      selector: input.selector,
      description: input.description,
      ttl: input.ttl,
      expiresAt: input.expiresAt,
    }
    return (await this.call<RegisterServicesResult>('POST', '/v1/services', {body: dropUndefined(body), idempotent: true})).body
  }

  async unregisterServices(refs: readonly string[], namespace?: string): Promise<UnregisterServicesResult> {
    return (
      await this.call<UnregisterServicesResult>('POST', '/v1/services/unregister', {
        body: dropUndefined({refs: [...refs], namespace}),
        idempotent: true,
      })
    ).body
  }

  async *listServices(filter: ServiceFilter = {}): AsyncIterable<Service> {
    let next: string | undefined
    do {
      const page: {items: Service[]; continue?: string} = (
        await this.call<{items: Service[]; continue?: string}>('GET', '/v1/services', {
          query: {...filter, limit: REMOTE_PAGE_SIZE, continue: next},
        })
      ).body
      yield* page.items
      next = page.continue
    } while (next)
  }

  async importServices(document: unknown, source?: string): Promise<ImportResult> {
    return (await this.call<ImportResult>('POST', '/v1/services/import', {body: dropUndefined({document, source}), idempotent: true})).body
  }
}

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
