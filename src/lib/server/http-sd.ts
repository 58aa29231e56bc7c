/**
 * Prometheus http_sd: the target groups of a server, for one namespace or for every exported
 * one, from the view. The serialized answers are kept per view generation, as bytes and gzipped
 * on first demand (Prometheus's HTTP client asks for gzip; 10,000 targets are about 4 MB,
 * 0.35 MB gzipped), so that many Prometheus servers polling an unchanged registry cost a lookup.
 */
import type {FastifyReply, FastifyRequest} from 'fastify'

import {mayAccessNamespace} from '../auth/caller.js'
import {NotFoundError} from '../errors.js'
import type {Service} from '../registry/model.js'
import {type TargetGroup, sdConfigOf, serializeTargetGroups, targetGroups} from '../sd/targets.js'
import type {AppContext, ServeApp} from './app-context.js'
import {callerOf, inNamespaces, signedIn, withAccess} from './authorization.js'
import {routes} from './schemas.js'
import type {RegistryView} from './view.js'

export function registerHttpSdRoutes(app: ServeApp, {view}: AppContext): void {
  const answers = new SdAnswers(view)
  const requireServer = (name: string) => {
    if (!view.server(name)) throw new NotFoundError(`server ${JSON.stringify(name)} is not registered`)
  }
  app.get(
    '/v1/sd/:server/:namespace',
    withAccess(
      routes.sdNamespace,
      inNamespaces('read', ({params}) => [params.namespace]),
    ),
    async (request, reply) => {
      const {server, namespace} = request.params
      const override = request.query.config ?? request.query['export-config']
      requireServer(server)
      const ns = view.namespace(namespace)
      if (!ns) throw new NotFoundError(`namespace ${JSON.stringify(namespace)} is not registered`)
      const config = sdConfigOf(ns.export, override)
      return answers.send(request, reply, `${server}\u0000${namespace}\u0000${config}`, () =>
        serializeTargetGroups(config === 'disabled' ? [] : targetGroups(assignedTo(view, namespace, server), {server, namespace, config})),
      )
    },
  )
  app.get('/v1/sd/:server', withAccess(routes.sdServer, signedIn), async (request, reply) => {
    const caller = callerOf(request)
    const {server} = request.params
    requireServer(server)
    const namespaces = view.namespaceList().filter((n) => n.export !== 'disabled' && mayAccessNamespace(caller, n.name))
    const key = `${server}\u0000*\u0000${namespaces.map((n) => n.name).join(',')}`
    return answers.send(request, reply, key, () => {
      const groups: TargetGroup[] = []
      for (const ns of namespaces) {
        const config = sdConfigOf(ns.export)
        if (config !== 'disabled') groups.push(...targetGroups(assignedTo(view, ns.name, server), {server, namespace: ns.name, config}))
      }
      return serializeTargetGroups(groups)
    })
  })
}

/** The serialized answers of one app, for the view generation they were built from. */
class SdAnswers {
  private readonly cache = new Map<string, {body: Buffer; gzip?: Buffer}>()
  private generation = -1

  constructor(private readonly view: RegistryView) {}

  async send(request: FastifyRequest, reply: FastifyReply, key: string, build: () => string): Promise<FastifyReply> {
    if (this.generation !== this.view.generation) {
      this.cache.clear()
      this.generation = this.view.generation
    }
    let entry = this.cache.get(key)
    if (!entry) {
      entry = {body: Buffer.from(build())}
      this.cache.set(key, entry)
    }
    reply.type('application/json; charset=utf-8').header('vary', 'accept-encoding')
    if (entry.body.length > 1024 && /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''))) {
      if (!entry.gzip) {
        const {gzipSync} = await import('node:zlib')
        entry.gzip = gzipSync(entry.body, {level: 1})
      }
      return reply.header('content-encoding', 'gzip').send(entry.gzip)
    }
    return reply.send(entry.body)
  }
}

/** The services of `namespace` assigned to `server` (targetGroups selects them too; this skips the rest early). */
function* assignedTo(view: RegistryView, namespace: string, server: string): Iterable<Service> {
  for (const s of view.servicesIn(namespace)) if (s.servers.includes(server)) yield s
}
