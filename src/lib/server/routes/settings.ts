/** The registry settings: read by admin and read callers, changed by admins (services are redistributed). */
import type {AppContext, ServeApp} from '../app-context.js'
import {actorOf, adminOnly, registryRead, withAccess} from '../authorization.js'
import {routes} from '../schemas.js'

export function registerSettingsRoutes(app: ServeApp, {registry}: AppContext): void {
  app.get('/v1/settings', withAccess(routes.getSettings, registryRead), async () => registry.getSettings())
  app.put('/v1/settings', withAccess(routes.putSettings, adminOnly), async (request) =>
    registry.withActor(actorOf(request)).updateSettings({replicas: request.body.replicas, historyRetention: request.body.historyRetention}),
  )
}
