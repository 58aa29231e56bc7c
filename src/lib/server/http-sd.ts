/**
 * Prometheus http_sd: the target groups of a server, for one namespace or for every exported
 * one, from the view. The serialized answers are kept per view generation, as bytes, and gzipped
 * on first demand for clients that ask (Prometheus's http_sd client does not: it turns
 * compression off), so that many Prometheus servers polling an unchanged registry cost a lookup.
 *
 * Rendering an answer that is not kept yet takes the event loop for as long as it serializes, so
 * at most max-sd-renders run at once and each waits its turn on the event loop, letting every
 * other request through in between: a burst of distinct answers (after a change, many servers or
 * namespaces at once) cannot hold up the kept answers, the API or /metrics. Requests for the same
 * answer share one render. One that waits longer than sd-render-wait for its turn is answered 503
 * with Retry-After; Prometheus then keeps its last targets and asks again at its next refresh.
 */
import {promisify} from 'node:util'
import {gzip} from 'node:zlib'

import type {FastifyReply, FastifyRequest} from 'fastify'

import {mayAccessNamespace} from '../auth/caller.js'
import {NotFoundError} from '../errors.js'
import type {Service} from '../registry/model.js'
import {type TargetGroup, sdConfigOf, serializeTargetGroups, targetGroups} from '../sd/targets.js'
import type {AppContext, ServeApp} from './app-context.js'
import {callerOf, inNamespaces, signedIn, withAccess} from './authorization.js'
import {DEFAULT_LIMITS} from './limits.js'
import type {ServeMetrics} from './metrics.js'
import {routes} from './schemas.js'
import type {RegistryView} from './view.js'

export function registerHttpSdRoutes(app: ServeApp, {view, metrics, limits = DEFAULT_LIMITS}: AppContext): void {
  const answers = new SdAnswers(view, metrics, new RenderSlots(limits.maxSdRenders, limits.sdRenderWaitMs, metrics))
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

const gzipAsync = promisify(gzip)

interface Answer {
  body: Buffer
  /** Compressed on the thread pool, once, on first demand. */
  gzip?: Promise<Buffer>
}

/** The serialized answers of one app, for the view generation they were built from. */
class SdAnswers {
  private readonly cache = new Map<string, Answer>()
  /** Renders under way, by key: requests for the same answer wait for the same one. */
  private readonly rendering = new Map<string, Promise<Answer | undefined>>()
  private generation = -1

  constructor(
    private readonly view: RegistryView,
    private readonly metrics: ServeMetrics,
    private readonly slots: RenderSlots,
  ) {}

  async send(request: FastifyRequest, reply: FastifyReply, key: string, build: () => string): Promise<FastifyReply> {
    this.forget()
    const entry = this.cache.get(key) ?? (await this.render(key, build))
    if (!entry) {
      this.metrics.sdRendersRefused.inc()
      return reply
        .code(503)
        .header('retry-after', '1')
        .send({error: {code: 'unavailable', message: 'too many http_sd answers are being rendered; retry shortly'}})
    }
    reply.type('application/json; charset=utf-8').header('vary', 'accept-encoding')
    if (entry.body.length > 1024 && /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''))) {
      entry.gzip ??= gzipAsync(entry.body, {level: 1})
      return reply.header('content-encoding', 'gzip').send(await entry.gzip)
    }
    return reply.send(entry.body)
  }

  /** Drops the answers of an older view generation. */
  private forget(): void {
    if (this.generation === this.view.generation) return
    this.cache.clear()
    this.rendering.clear()
    this.generation = this.view.generation
  }

  /** The answer for `key`, rendered in its turn; undefined when its turn did not come in time. */
  private render(key: string, build: () => string): Promise<Answer | undefined> {
    let pending = this.rendering.get(key)
    if (pending) return pending
    pending = this.slots.run(() => {
      this.forget()
      const generation = this.view.generation
      const entry: Answer = {body: Buffer.from(build())}
      if (this.generation === generation) this.cache.set(key, entry)
      return entry
    })
    this.rendering.set(key, pending)
    const done = (): void => {
      if (this.rendering.get(key) === pending) this.rendering.delete(key)
    }
    pending.then(done, done)
    return pending
  }
}

/**
 * At most `limit` renders at once, each started on a turn of its own of the event loop (after the
 * I/O that came meanwhile); the others wait, first come first served, for at most `waitMs`.
 */
class RenderSlots {
  private running = 0
  private readonly queue = new Set<() => void>()

  constructor(
    private readonly limit: number,
    private readonly waitMs: number,
    private readonly metrics: ServeMetrics,
  ) {}

  /** `render`'s result, or undefined when no slot was free within waitMs. */
  async run<T>(render: () => T): Promise<T | undefined> {
    if (!(await this.acquire())) return undefined
    this.metrics.sdRendersInFlight.inc()
    try {
      await new Promise((resolve) => setImmediate(resolve))
      return render()
    } finally {
      this.metrics.sdRendersInFlight.dec()
      this.release()
    }
  }

  private acquire(): Promise<boolean> {
    if (this.running < this.limit) {
      this.running++
      return Promise.resolve(true)
    }
    this.metrics.sdRendersWaiting.inc()
    return new Promise((resolve) => {
      const granted = (): void => {
        clearTimeout(timer)
        this.queue.delete(granted)
        this.metrics.sdRendersWaiting.dec()
        resolve(true)
      }
      const timer = setTimeout(() => {
        this.queue.delete(granted)
        this.metrics.sdRendersWaiting.dec()
        resolve(false)
      }, this.waitMs)
      this.queue.add(granted)
    })
  }

  /** Hands the slot to the request waiting longest, or frees it. */
  private release(): void {
    const next = this.queue.values().next().value
    if (next) next()
    else this.running--
  }
}

/** The services of `namespace` assigned to `server` (targetGroups selects them too; this skips the rest early). */
function* assignedTo(view: RegistryView, namespace: string, server: string): Iterable<Service> {
  for (const s of view.servicesIn(namespace)) if (s.servers.includes(server)) yield s
}
