/**
 * Services: listed from the view a page at a time (each with its revision); registered,
 * unregistered (by endpoint URL or service ID) and imported through the Registry, each write
 * answered once the view shows it, so that a client reads its own writes. Registering one service
 * and unregistering take If-Match (unregister also a `revisions` list); an import is conditional
 * through its entries' `revision`.
 */
import type {FastifyRequest} from 'fastify'

import {mayAccessNamespace} from '../../auth/caller.js'
import {InvalidInputError, NotFoundError} from '../../errors.js'
import {DEFAULT_NAMESPACE, type Service} from '../../registry/model.js'
import type {UnregisterOptions} from '../../registry/types.js'
import {validateName} from '../../registry/validation.js'
import type {AppContext, ServeApp} from '../app-context.js'
import {actorOf, callerOf, importNamespaces, inNamespaces, unregisterNamespaces, withAccess} from '../authorization.js'
import {expectedRevision, sendEtag, unregisterRevisions} from '../conditional.js'
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
  app.get(
    '/v1/services/:id',
    withAccess(
      routes.getService,
      inNamespaces('read', ({params, query}) => unregisterNamespaces(view, [params.id], query.namespace)),
    ),
    async (request) => {
      await view.fresh()
      const id = request.params.id.trim().toLowerCase()
      const holders = request.query.namespace === undefined ? view.namespacesHolding(id) : [request.query.namespace]
      if (holders.length > 1)
        throw InvalidInputError.forField('namespace', '', `service ${id} is in namespaces ${holders.join(', ')}: name one with namespace=`)
      const service = holders[0] === undefined ? undefined : view.service(holders[0], id)
      if (!service) throw new NotFoundError(`service ${JSON.stringify(id)} is not registered`)
      return service
    },
  )
  app.post(
    '/v1/services',
    withAccess(
      routes.registerServices,
      inNamespaces('write', ({body}) => [validateName('namespace', body.namespace ?? DEFAULT_NAMESPACE)]),
    ),
    async (request, reply) => {
      const expectRevision = expectedRevision(request.headers['if-match'])
      const result = await registry.withActor(actorOf(request)).registerServices(request.body, {expectRevision})
      await view.settle(() => result.services.every((s) => sameInView(view, s)))
      const only = result.services.length === 1 ? result.services[0] : undefined
      if (only) sendEtag(reply, only.revision)
      return result
    },
  )

  const unregister = async (request: FastifyRequest, refs: string[], namespace: string | undefined, options: UnregisterOptions) => {
    const result = await registry.withActor(actorOf(request)).unregisterServices(refs, namespace, options)
    await view.settle(() => result.removed.every((s) => !view.service(s.namespace, s.id)))
    return result
  }
  app.post(
    '/v1/services/unregister',
    withAccess(
      routes.unregisterServices,
      inNamespaces('write', ({body}) => unregisterNamespaces(view, body.refs, body.namespace)),
    ),
    async (request) =>
      unregister(request, request.body.refs, request.body.namespace, {
        expectRevisions: unregisterRevisions(request, request.body.refs, request.body.revisions),
        action: request.body.action,
      }),
  )
  app.delete(
    '/v1/services/:id',
    withAccess(
      routes.deleteService,
      inNamespaces('write', ({params, query}) => unregisterNamespaces(view, [params.id], query.namespace)),
    ),
    async (request) =>
      unregister(request, [request.params.id], request.query.namespace, {
        expectRevisions: unregisterRevisions(request, [request.params.id], undefined),
      }),
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
  return view.service(s.namespace, s.id)?.modified === s.modified
}
