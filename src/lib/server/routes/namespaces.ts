/**
 * Namespaces: listed (each caller sees its own), read in a caller's namespaces (ETag: the
 * namespace's revision), changed by admins, conditionally with If-Match.
 */
import {mayAccessNamespace} from '../../auth/caller.js'
import {NotFoundError} from '../../errors.js'
import {validateName} from '../../registry/validation.js'
import type {AppContext, ServeApp} from '../app-context.js'
import {actorOf, adminOnly, callerOf, inNamespaces, signedIn, withAccess} from '../authorization.js'
import {expectedRevision, sendEtag} from '../conditional.js'
import {routes} from '../schemas.js'

export function registerNamespaceRoutes(app: ServeApp, {registry, view}: AppContext): void {
  app.get('/v1/namespaces', withAccess(routes.listNamespaces, signedIn), async (request) => {
    const caller = callerOf(request)
    return (await registry.listNamespaces()).filter((n) => mayAccessNamespace(caller, n.name))
  })
  app.get(
    '/v1/namespaces/:name',
    withAccess(
      routes.getNamespace,
      inNamespaces('read', ({params}) => [validateName('namespace', params.name)]),
    ),
    async (request, reply) => {
      const name = request.params.name
      const namespace = await registry.getNamespace(name)
      if (!namespace) throw new NotFoundError(`namespace ${JSON.stringify(name)} is not registered`)
      sendEtag(reply, namespace.revision)
      return namespace
    },
  )
  app.put('/v1/namespaces/:name', withAccess(routes.putNamespace, adminOnly), async (request, reply) => {
    const expectRevision = expectedRevision(request.headers['if-match'])
    const namespace = await registry
      .withActor(actorOf(request))
      .registerNamespace(request.params.name, request.body?.export, {expectRevision})
    await view.settle(() => view.namespace(namespace.name)?.export === namespace.export)
    sendEtag(reply, namespace.revision)
    return namespace
  })
  app.delete('/v1/namespaces/:name', withAccess(routes.deleteNamespace, adminOnly), async (request) => {
    const expectRevision = expectedRevision(request.headers['if-match'])
    const result = await registry
      .withActor(actorOf(request))
      .unregisterNamespace(request.params.name, request.query.force === 'true', {expectRevision})
    await view.settle(() => !view.namespaces.has(result.namespace) && view.serviceCountIn(result.namespace) === 0)
    return result
  })
}
