/** Machine tokens, for admins: issue, list, revoke (answered once this instance refuses the token) and inspect. */
import type {TokenAuthority} from '../../auth/tokens.js'
import {InvalidInputError} from '../../errors.js'
import type {AppContext, ServeApp} from '../app-context.js'
import {adminOnly, withAccess} from '../authorization.js'
import {routes} from '../schemas.js'

export function registerTokenRoutes(app: ServeApp, ctx: AppContext): void {
  const {view} = ctx
  const authority = (): TokenAuthority => {
    if (!ctx.tokens)
      throw new InvalidInputError('tokens: this server runs without authentication (auth none); manage tokens against the store directly')
    return ctx.tokens
  }
  app.post('/v1/tokens', withAccess(routes.createToken, adminOnly), async (request) => {
    const b = request.body
    return authority().create({id: b.id, role: b.role, namespaces: b.namespaces, expiresIn: b.expires})
  })
  app.get('/v1/tokens', withAccess(routes.listTokens, adminOnly), async () => authority().list())
  app.delete('/v1/tokens/:id', withAccess(routes.revokeToken, adminOnly), async (request) => {
    const result = await authority().revoke(request.params.id)
    await view.settle(() => view.isRevoked(result.id))
    return result
  })
  app.post('/v1/tokens/inspect', withAccess(routes.inspectToken, adminOnly), async (request) => authority().inspect(request.body.token))
}
