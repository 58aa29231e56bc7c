/**
 * Reads derived from the whole view, for the console and for anyone with a read or admin token:
 * GET /v1/status (the view's revision and lag, and its counts) and GET /v1/servers/{name}/moves
 * (what would move if a server left). Both count only the namespaces the caller may read. The
 * counts are the view's, kept as services come and go; the moves are computed once per view
 * generation: a page viewed again on an unchanged registry costs a lookup, not a pass over every
 * service.
 */
import {mayAccessNamespace} from '../../auth/caller.js'
import {InvalidInputError, NotFoundError} from '../../errors.js'
import type {Server} from '../../registry/model.js'
import {SelectorCache} from '../../registry/selector.js'
import {type Move, serversGained} from '../../registry/server-departure.js'
import type {AppContext, ServeApp} from '../app-context.js'
import {callerOf, registryRead, withAccess} from '../authorization.js'
import {routes} from '../schemas.js'
import type {RegistryView} from '../view.js'

const DEFAULT_MOVES = 100
const MAX_MOVES = 1000

export function registerStatusRoutes(app: ServeApp, {view}: AppContext): void {
  const moves = perGeneration(view, () => new Map<string, Move[]>())
  const gained = new GainedServers()
  app.get('/v1/status', withAccess(routes.status, registryRead), async (request) => {
    const caller = callerOf(request)
    const c = view.serviceCounts()
    const readable = (ns: string) => mayAccessNamespace(caller, ns)
    const servicesByNamespace: Record<string, number> = {}
    let services = 0
    for (const ns of view.namespaceList()) {
      if (!readable(ns.name)) continue
      const n = view.serviceCountIn(ns.name)
      servicesByNamespace[ns.name] = n
      services += n
    }
    const servicesByServer: Record<string, number> = {}
    for (const name of [...view.servers.keys()].sort()) servicesByServer[name] = sumReadable(c.byServer.get(name), readable)
    return {
      revision: view.storeRevision,
      lagSeconds: view.lastSyncedAt === 0 ? 0 : Math.max(0, (Date.now() - view.lastSyncedAt) / 1000),
      servers: view.servers.size,
      namespaces: Object.keys(servicesByNamespace).length,
      services,
      unassigned: sumReadable(c.unassigned, readable),
      servicesByServer,
      servicesByNamespace,
    }
  })

  app.get('/v1/servers/:name/moves', withAccess(routes.serverMoves, registryRead), async (request) => {
    const caller = callerOf(request)
    const {name} = request.params
    const limit = request.query.limit === undefined ? DEFAULT_MOVES : Number(request.query.limit)
    if (limit > MAX_MOVES) throw InvalidInputError.forField('limit', request.query.limit, `must be from 0 to ${MAX_MOVES}`)
    if (!view.server(name)) throw new NotFoundError(`server ${JSON.stringify(name)} is not registered`)
    const cache = moves()
    let all = cache.get(name)
    if (!all) {
      all = gained.movesOf(name, view)
      all.sort((a, b) => compare(a.service.name, b.service.name) || compare(a.service.endpoint, b.service.endpoint))
      cache.set(name, all)
    }
    const visible = all.filter((m) => mayAccessNamespace(caller, m.service.namespace))
    const destinations: Record<string, number> = {}
    let unassigned = 0
    for (const m of visible) {
      if (m.to.length === 0) unassigned++
      for (const to of m.to) destinations[to] = (destinations[to] ?? 0) + 1
    }
    return {server: name, services: visible.length, unassigned, destinations: sortedKeys(destinations), moves: visible.slice(0, limit)}
  })
}

const MAX_REMEMBERED = 500_000

/**
 * What each service would gain if one server left, remembered across view generations: it
 * depends only on the service's endpoint, selector and servers, and on the servers and replicas,
 * whose change forgets it all. A write of one service then costs one assignment, not one per
 * service the server holds.
 */
class GainedServers {
  private readonly remembered = new Map<string, string[]>()
  private signature = ''
  private selectors = new SelectorCache()

  movesOf(server: string, view: RegistryView): Move[] {
    const servers: Server[] = [...view.servers.values()].map((e) => e.value)
    const signature = JSON.stringify([view.settings.replicas, servers.map((s) => [s.name, s.state, s.labels])])
    if (signature !== this.signature || this.remembered.size > MAX_REMEMBERED) {
      this.remembered.clear()
      this.selectors = new SelectorCache()
      this.signature = signature
    }
    const staying = servers.filter((s) => s.name !== server)
    const moves: Move[] = []
    for (const service of view.allServices()) {
      if (!service.servers.includes(server)) continue
      const key = `${server}\0${service.endpoint}\0${service.selector}\0${service.servers.join(',')}`
      let to = this.remembered.get(key)
      if (!to) this.remembered.set(key, (to = serversGained(service, staying, view.settings.replicas, this.selectors)))
      moves.push({service, to})
    }
    return moves
  }
}

function sumReadable(perNamespace: ReadonlyMap<string, number> | undefined, readable: (ns: string) => boolean): number {
  let n = 0
  for (const [ns, count] of perNamespace ?? []) if (readable(ns)) n += count
  return n
}

/** A value computed at most once per view generation. */
function perGeneration<T>(view: RegistryView, compute: () => T): () => T {
  let generation = -1
  let value: T | undefined
  return () => {
    if (generation !== view.generation || value === undefined) {
      value = compute()
      generation = view.generation
    }
    return value
  }
}

function sortedKeys(record: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => compare(a, b)))
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
