/**
 * Services: listed from the view a page at a time; registered, unregistered (by endpoint URL or
 * service ID) and imported through the Registry, each write answered once the view shows it, so
 * that a client reads its own writes.
 */
import type {FastifyRequest} from 'fastify'

import {mayAccessNamespace} from '../../auth/caller.js'
import type {UnregisterOptions} from '../../registry/types.js'
import {DEFAULT_NAMESPACE, type Service} from '../../registry/model.js'
import {validateName} from '../../registry/validation.js'
import type {AppContext, ServeApp} from '../app-context.js'
import {actorOf, callerOf, importNamespaces, inNamespaces, unregisterNamespaces, withAccess} from '../authorization.js'
import {routes} from '../schemas.js'
import {queryServices} from '../service-query.js'
import type {RegistryView} from '../view.js'

export function registerServiceRoutes(app: ServeApp, {registry, view}: AppContext): void {
  app.get(
    '/v1/services',
    withAccess(
      routes.listServices,
      inNamespaces('read', ({query}) => (query.namespace === undefined ? [] : [validateName('namespace', query.namespace)])),
    ),
    async (request) => {
      const caller = callerOf(request)
      const {limit, continue: next, ...filter} = request.query
      await view.fresh()
      return queryServices(view, filter, {limit, continue: next}, (ns) => mayAccessNamespace(caller, ns))
    },
  )
  app.post(
    '/v1/services',
    withAccess(
      routes.registerServices,
      inNamespaces('write', ({body}) => [validateName('namespace', body.namespace ?? DEFAULT_NAMESPACE)]),
    ),
    async (request) => {
      const result = await registry.withActor(actorOf(request)).registerServices(request.body)
      await view.settle(() => result.services.every((s) => sameInView(view, s)))
      return result
    },
  )

  const unregister = async (
    request: FastifyRequest,
    refs: string[],
    namespace: string | undefined,
    action?: UnregisterOptions['action'],
  ) => {
    const result = await registry.withActor(actorOf(request)).unregisterServices(refs, namespace, {action})
    await view.settle(() => result.removed.every((s) => !view.services.get(s.namespace)?.has(s.id)))
    return result
  }
  app.post(
    '/v1/services/unregister',
    withAccess(
      routes.unregisterServices,
      inNamespaces('write', ({body}) => unregisterNamespaces(view, body.refs, body.namespace)),
    ),
    async (request) => unregister(request, request.body.refs, request.body.namespace, request.body.action),
  )
  app.delete(
    '/v1/services/:id',
    withAccess(
      routes.deleteService,
      inNamespaces('write', ({params, query}) => unregisterNamespaces(view, [params.id], query.namespace)),
    ),
    async (request) => unregister(request, [request.params.id], request.query.namespace),
  )

  app.post(
    '/v1/services/import',
    withAccess(
      routes.importServices,
      inNamespaces('write', ({body}) => importNamespaces(body.document)),
    ),
    async (request) => {
      const result = await registry.withActor(actorOf(request)).importServices(request.body.document, request.body.source ?? 'document')
      await view.fresh()
      return result
    },
  )
}

function sameInView(view: RegistryView, s: Service): boolean {
  return view.services.get(s.namespace)?.get(s.id)?.value.modified === s.modified
}
