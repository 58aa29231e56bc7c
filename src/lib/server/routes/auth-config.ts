/** GET /v1/auth/config: how to sign in (`roster login` reads it), answered to anyone. */
import type {AppContext, ServeApp} from '../app-context.js'
import {routes} from '../schemas.js'

export function registerAuthConfigRoute(app: ServeApp, {oidc}: AppContext): void {
  app.get('/v1/auth/config', {schema: routes.authConfig, config: {unauthenticated: 'public'}}, async () => oidc?.config() ?? {})
}
