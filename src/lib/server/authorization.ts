/**
 * What a caller may do, route by route. Every route that is not `unauthenticated` declares its
 * rule as its preHandler, `access(rule)`: checked after the request is validated (so a rule reads
 * a typed body) and before the handler runs. A route registered without one makes the app fail
 * to build (requireAccessRules), so a new route cannot forget authorization.
 *
 * The rules are auth/caller.ts's: admin-only changes, registry-wide reads (admin and read roles),
 * reads and writes in the namespaces a request touches, and lists across namespaces, open to every
 * signed-in caller and filtered by the route with mayAccessNamespace.
 */
import type {FastifyRequest} from 'fastify'

import {type Caller, NO_TOKEN_MESSAGE, authorize} from '../auth/caller.js'
import {NotAuthenticatedError} from '../errors.js'
import {callerActor} from '../registry/history/actor.js'
import type {Actor} from '../registry/history/event.js'
import {DEFAULT_NAMESPACE} from '../registry/model.js'
import {isServiceId} from '../registry/service-id.js'
import {validateName} from '../registry/validation.js'
import type {ServeApp} from './app-context.js'
import type {RequestParts, RouteSchema} from './schemas.js'
import type {RegistryView} from './view.js'

/** Throws NotAllowedError (403) or NotAuthenticatedError (401) when `caller` may not make `request`. */
export type AccessRule<Request> = (caller: Caller, request: Request) => void

const ACCESS_RULE = Symbol('roster access rule')

/**
 * The options of a route that needs a token: its schema, and the preHandler that applies `rule`
 * to the caller and the request (validated against `schema` by then, hence typed from it).
 */
export function withAccess<S extends RouteSchema>(schema: S, rule: AccessRule<RequestParts<S>>) {
  const preHandler = async (request: FastifyRequest) => rule(callerOf(request), request as unknown as RequestParts<S>)
  return {schema, preHandler: Object.assign(preHandler, {[ACCESS_RULE]: schema})}
}

/** Makes the app fail to build if a route that needs a token was not given withAccess()'s options. */
export function requireAccessRules(app: ServeApp): void {
  app.addHook('onRoute', (route) => {
    if (route.config?.unauthenticated) return
    const handlers = [route.preHandler ?? []].flat() as Partial<Record<typeof ACCESS_RULE, unknown>>[]
    if (!handlers.some((handler) => handler[ACCESS_RULE] === route.schema)) {
      throw new Error(`${String(route.method)} ${route.url}: a route that needs a token takes its schema and access rule from withAccess()`)
    }
  })
}

/** The authenticated caller of a request. */
export function callerOf(request: FastifyRequest): Caller {
  if (!request.caller) throw new NotAuthenticatedError(NO_TOKEN_MESSAGE)
  return request.caller
}

/** Who a request's writes are recorded as in the registry's history. */
export function actorOf(request: FastifyRequest): Actor {
  return callerActor(callerOf(request))
}

/** Admin only: changes to servers, settings and namespaces, and tokens. */
export const adminOnly: AccessRule<unknown> = (caller) => authorize(caller, 'admin')

/** Registry-wide reads, the server list and the settings: admin and read roles. */
export const registryRead: AccessRule<unknown> = (caller) => authorize(caller, 'read')

/** Any signed-in caller: lists across namespaces, which the route filters with mayAccessNamespace. */
export const signedIn: AccessRule<unknown> = (caller) => {
  if (caller.kind === 'anonymous') authorize(caller, 'read')
}

/** `action` in each namespace the request touches, as `namespaces` names them (validated there). */
export function inNamespaces<Request>(action: 'read' | 'write', namespaces: (request: Request) => Iterable<string>): AccessRule<Request> {
  return (caller, request) => {
    signedIn(caller, request)
    for (const namespace of namespaces(request)) authorize(caller, action, namespace)
  }
}

/**
 * The namespaces an unregister touches: the one it names; else, for each service ID, the
 * namespaces holding it, and "default" for endpoint URLs (looked up there) and unknown IDs.
 */
export function unregisterNamespaces(view: RegistryView, refs: readonly string[], namespace: string | undefined): string[] {
  if (namespace !== undefined) return [validateName('namespace', namespace)]
  const namespaces: string[] = []
  for (const ref of refs) {
    const text = ref.trim()
    const holders = isServiceId(text) ? view.namespacesHolding(text.toLowerCase()) : []
    namespaces.push(...(holders.length > 0 ? holders : [DEFAULT_NAMESPACE]))
  }
  return namespaces
}

/** The namespaces an import document writes to (entries without one: "default"). */
export function importNamespaces(document: unknown): Set<string> {
  const list = Array.isArray(document) ? document : (document as {services?: unknown} | null)?.services
  const namespaces = new Set<string>()
  if (!Array.isArray(list)) return namespaces
  for (const entry of list) {
    const ns = (entry as {namespace?: unknown} | null)?.namespace
    namespaces.add(typeof ns === 'string' ? ns : DEFAULT_NAMESPACE)
  }
  return namespaces
}
