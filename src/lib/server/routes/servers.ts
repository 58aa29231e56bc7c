/**
 * Scrape servers: read by admin and read callers (ETag: the server's revision), registered and
 * unregistered by admins, conditionally with If-Match.
 */
import {NotFoundError} from '../../errors.js'
import type {AppContext, ServeApp} from '../app-context.js'
import {adminOnly, registryRead, withAccess} from '../authorization.js'
import {expectedRevision, sendEtag} from '../conditional.js'
import {routes} from '../schemas.js'

export function registerServerRoutes(app: ServeApp, {registry, view}: AppContext): void {
  app.get('/v1/servers', withAccess(routes.listServers, registryRead), async (request) => registry.listServers(request.query.selector))
  app.get('/v1/servers/:name', withAccess(routes.getServer, registryRead), async (request, reply) => {
    const name = request.params.name
    const server = await registry.getServer(name)
    if (!server) throw new NotFoundError(`server ${JSON.stringify(name)} is not registered`)
    sendEtag(reply, server.revision)
    return server
  })
  app.put('/v1/servers/:name', withAccess(routes.putServer, adminOnly), async (request, reply) => {
    const expectRevision = expectedRevision(request.headers['if-match'])
    const result = await registry.registerServer(request.params.name, request.body?.labels ?? {}, {expectRevision})
    await view.settle(() => view.server(result.server.name)?.modified === result.server.modified)
    sendEtag(reply, result.server.revision)
    return result
  })
  app.delete('/v1/servers/:name', withAccess(routes.deleteServer, adminOnly), async (request) => {
    const expectRevision = expectedRevision(request.headers['if-match'])
    const result = await registry.unregisterServer(request.params.name, {expectRevision})
    await view.settle(() => view.server(result.server) === undefined)
    return result
  })
}
