/**
 * The token commands' one interface, local or remote (as RegistryClient is for the registry):
 *
 * - local (registry `sqlite:…` / `etcd://…`): TokenAuthority over the store. Whoever can open
 *   the store is the registry's owner: this is how the first admin token is made.
 * - remote (registry `https://…`, http:// on loopback only): the `roster serve` API
 *   (POST/GET /v1/tokens, DELETE /v1/tokens/{id}, POST /v1/tokens/inspect), admin tokens only.
 *
 * `openTokenClient()` chooses by the registry setting, as the base command's registry() does.
 */
import {InvalidInputError, NotAuthenticatedError} from '../errors.js'
import {readPemFile} from '../fs/input-file.js'
import {isLoopbackHost} from '../net/loopback.js'
import type {Store} from '../store/store.js'
import type {CreateTokenInput, TokenInfo} from './tokens.js'

/** A token record as listed; `revoked` when the source knows it. */
export type TokenListEntry = TokenInfo & {revoked?: boolean}

/** What `token info` shows. `valid`/`problem` are verify()'s verdict (when the source gives it). */
export type TokenInspection = TokenInfo & {signatureValid: boolean; revoked: boolean; valid?: boolean; problem?: string}

export interface TokenClient {
  create(input: CreateTokenInput): Promise<{token: string; info: TokenInfo}>
  list(): Promise<TokenListEntry[]>
  revoke(id: string): Promise<{id: string; revoked: true}>
  inspect(token: string): Promise<TokenInspection>
}

/** The local implementation: the token authority over the registry's store (opened by the caller). */
export async function localTokenClient(store: Store): Promise<TokenClient> {
  const {TokenAuthority} = await import('./tokens.js')
  const authority = await TokenAuthority.open(store)
  return {
    create: (input) => authority.create(input),
    list: () => authority.list(),
    revoke: (id) => authority.revoke(id),
    inspect: (token) => authority.inspect(token),
  }
}

export interface RemoteTokenClientOptions {
  /** The `roster serve` URL (https://…, or http:// on loopback). */
  url: string
  /** An admin token. */
  token?: string
  /** PEM file of a CA to trust. */
  caFile?: string
  timeoutMs: number
}

/** The remote implementation over the serve API. */
export async function remoteTokenClient(o: RemoteTokenClientOptions): Promise<TokenClient> {
  let url: URL
  try {
    url = new URL(o.url)
  } catch {
    throw InvalidInputError.forField('registry', o.url.replace(/(\/\/)[^/@]*@/g, '$1***@'), 'is not a URL')
  }
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    throw InvalidInputError.forField('registry', url.origin, 'http:// only on loopback; use https:// (tokens must not travel in clear)')
  }
  if (!o.token) {
    throw new NotAuthenticatedError(`not authenticated: ${url.origin} needs a token`, {field: 'token'})
  }
  const ca = o.caFile ? readPemFile(o.caFile, {field: 'registry-ca'}) : undefined
  const {JsonHttpClient} = await import('../http/json-client.js')
  const http = new JsonHttpClient({
    baseUrl: url.href,
    what: 'roster serve',
    timeoutMs: o.timeoutMs,
    headers: {authorization: `Bearer ${o.token}`},
    authField: 'token',
    ca,
    maxResponseBytes: 64 * 1024 * 1024,
  })
  return {
    async create(input) {
      const body = {id: input.id, role: input.role, namespaces: input.namespaces, ...(input.expiresIn ? {expires: input.expiresIn} : {})}
      return (await http.request<{token: string; info: TokenInfo}>('POST', '/v1/tokens', {body})).body
    },
    async list() {
      return (await http.get<TokenListEntry[]>('/v1/tokens')).body
    },
    async revoke(id) {
      return (await http.request<{id: string; revoked: true}>('DELETE', `/v1/tokens/${encodeURIComponent(id)}`)).body
    },
    async inspect(token) {
      // Not a change, so it is safe to retry.
      return (await http.request<TokenInspection>('POST', '/v1/tokens/inspect', {body: {token}, idempotent: true})).body
    },
  }
}

export interface OpenTokenClientOptions {
  registry?: string
  token?: string
  registryCa?: string
  timeoutMs: number
  /** Opens the local store (the base command's openStore, which also closes it). */
  openStore: () => Promise<Store>
}

/** Local for sqlite:/etcd:// (and the default), remote for http(s)://. */
export async function openTokenClient(o: OpenTokenClientOptions): Promise<TokenClient> {
  const {isRemoteRegistry} = await import('../store/open-store.js')
  if (isRemoteRegistry(o.registry)) {
    return remoteTokenClient({url: (o.registry ?? '').trim(), token: o.token, caFile: o.registryCa, timeoutMs: o.timeoutMs})
  }
  return localTokenClient(await o.openStore())
}
