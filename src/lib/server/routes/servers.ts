/** Scrape servers: read by admin and read callers, registered and unregistered by admins. */
import {NotFoundError} from '../../errors.js'
import type {AppContext, ServeApp} from '../app-context.js'
import {actorOf, adminOnly, registryRead, withAccess} from '../authorization.js'
import {routes} from '../schemas.js'

export function registerServerRoutes(app: ServeApp, {registry, view}: AppContext): void {
  app.get('/v1/servers', withAccess(routes.listServers, registryRead), async (request) => registry.listServers(request.query.selector))
  app.get('/v1/servers/:name', withAccess(routes.getServer, registryRead), async (request) => {
    const name = request.params.name
    const server = await registry.getServer(name)
    if (!server) throw new NotFoundError(`server ${JSON.stringify(name)} is not registered`)
    return server
  })
  app.put('/v1/servers/:name', withAccess(routes.putServer, adminOnly), async (request) => {
    const result = await registry.withActor(actorOf(request)).registerServer(request.params.name, request.body?.labels ?? {})
    await view.settle(() => view.server(result.server.name)?.modified === result.server.modified)
    return result
  })
  app.delete('/v1/servers/:name', withAccess(routes.deleteServer, adminOnly), async (request) => {
    const result = await registry.withActor(actorOf(request)).unregisterServer(request.params.name)
    await view.settle(() => view.server(result.server) === undefined)
    return result
  })
}
