/**
 * Who is calling `roster serve`, and what they may do.
 *
 * A `Caller` comes from a verified machine token (TokenAuthority.verify), later from an OIDC
 * login, or is anonymous (no token: only the loopback health endpoints accept it).
 *
 * Roles:
 * - `admin`: everything (servers, settings, namespaces, services, tokens), in every namespace.
 * - `service`: read and write services, and read http_sd, in its namespaces only. Never servers,
 *   settings or tokens. What a host's systemd hook gets (`service register`/`unregister`).
 * - `read`: read services, http_sd, the server list and the settings, in its namespaces. What a
 *   Prometheus server gets.
 *
 * How `serve` calls this (routes of CONTRACT.md):
 * - namespaced read (GET /v1/services?namespace=N, GET /v1/sd/S/N, GET /v1/namespaces/N):
 *   `authorize(c, 'read', N)`
 * - namespaced write (POST /v1/services, unregister, DELETE /v1/services/{id}, import):
 *   `authorize(c, 'write', N)` for each namespace touched
 * - registry-wide read (GET /v1/servers, GET /v1/settings): `authorize(c, 'read')` with no
 *   namespace: admin and read pass, service is refused
 * - everything admin-only (PUT/DELETE servers, settings, namespaces, /v1/tokens):
 *   `authorize(c, 'admin')`
 * - lists across namespaces (GET /v1/namespaces, GET /v1/services without namespace=,
 *   GET /v1/sd/S): no authorize call; keep only what `mayAccessNamespace(c, ns)` allows.
 *
 * Refusals are NotAllowedError (HTTP 403, exit 4); an anonymous caller gets
 * NotAuthenticatedError (401). Messages name the caller's id and role, never a token.
 */
import {NotAllowedError, NotAuthenticatedError} from '../errors.js'

export type Role = 'admin' | 'service' | 'read'
export const ROLES: readonly Role[] = ['admin', 'service', 'read']

/** The namespace list entry that means "every namespace". */
export const ALL_NAMESPACES = '*'

export interface Caller {
  /** The token id (jti), or the OIDC subject; '' for anonymous. */
  subject: string
  role: Role
  /** The namespaces the caller may use; ['*'] = all. */
  namespaces: string[]
  kind: 'token' | 'oidc' | 'anonymous'
}

export type Action = 'read' | 'write' | 'admin'

/** The refusal of a request that carries no token: says how to send one (roster's own clients add how they take one). */
export const NO_TOKEN_MESSAGE = 'not authenticated: no token (send "Authorization: Bearer TOKEN")'

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value)
}

/** Whether the caller's namespaces include `namespace` (admins and '*' include all). */
export function mayAccessNamespace(caller: Caller, namespace: string): boolean {
  if (caller.kind === 'anonymous') return false
  if (caller.role === 'admin') return true
  return caller.namespaces.includes(ALL_NAMESPACES) || caller.namespaces.includes(namespace)
}

function who(caller: Caller): string {
  return `${caller.kind === 'oidc' ? 'user' : 'token'} ${JSON.stringify(caller.subject)} (role ${caller.role})`
}

/**
 * Throws NotAllowedError unless `caller` may do `action` (in `namespace`, when given).
 * Without a namespace, 'read' means a registry-wide read (servers, settings) and 'write'
 * a registry-wide write: only admin (and read, for 'read') pass.
 */
export function authorize(caller: Caller, action: Action, namespace?: string): void {
  if (caller.kind === 'anonymous') throw new NotAuthenticatedError(NO_TOKEN_MESSAGE)
  if (caller.role === 'admin') return
  if (action === 'admin') throw new NotAllowedError(`not allowed: ${who(caller)} may not do this (admin role required)`)
  if (action === 'write' && caller.role !== 'service') {
    throw new NotAllowedError(
      `not allowed: ${who(caller)} may not write${namespace === undefined ? '' : ` in namespace ${JSON.stringify(namespace)}`}`,
    )
  }
  if (namespace === undefined) {
    if (action === 'read' && caller.role === 'read') return
    throw new NotAllowedError(
      `not allowed: a ${caller.role} ${caller.kind === 'oidc' ? 'user' : 'token'} may not ${action === 'read' ? 'list servers or read registry settings' : 'change registry-wide objects'} (${who(caller)}: only services in its namespaces)`,
    )
  }
  if (!mayAccessNamespace(caller, namespace)) {
    throw new NotAllowedError(
      `not allowed: ${who(caller)} may not ${action} in namespace ${JSON.stringify(namespace)} (outside its namespaces)`,
    )
  }
}
