/**
 * The registry settings: read by admin and read callers (ETag: their revision), changed by admins
 * (services are redistributed), conditionally with If-Match.
 */
import type {AppContext, ServeApp} from '../app-context.js'
import {adminOnly, registryRead, withAccess} from '../authorization.js'
import {expectedRevision, sendEtag} from '../conditional.js'
import {routes} from '../schemas.js'

export function registerSettingsRoutes(app: ServeApp, {registry}: AppContext): void {
  app.get('/v1/settings', withAccess(routes.getSettings, registryRead), async (_request, reply) => {
    const settings = await registry.getSettings()
    sendEtag(reply, settings.revision)
    return settings
  })
  app.put('/v1/settings', withAccess(routes.putSettings, adminOnly), async (request, reply) => {
    const expectRevision = expectedRevision(request.headers['if-match'])
    const result = await registry.updateSettings({replicas: request.body.replicas}, {expectRevision})
    sendEtag(reply, result.settings.revision)
    return result
  })
}
