/**
 * Prometheus http_sd: the target groups of a server, for one namespace or for every exported
 * one, from the view. The answers are kept as bytes and patched change by change (sd-answers.ts),
 * and gzipped on first demand for clients that ask (Prometheus's http_sd client does not: it
 * turns compression off), so that many Prometheus servers polling an unchanged registry cost a
 * lookup, and a change costs the groups it touches.
 *
 * Rendering an answer that is not kept yet takes the event loop, so at most max-sd-renders run at
 * once, each starting on a turn of the event loop of its own and yielding between batches of
 * groups, letting every other request through in between: a burst of distinct answers (many
 * servers or namespaces at once) cannot hold up the kept answers, the API or /metrics. Requests
 * for the same answer share one render. One that waits longer than sd-render-wait for its turn is
 * answered 503 with Retry-After; Prometheus then keeps its last targets and asks again at its
 * next refresh.
 */
import {promisify} from 'node:util'
import {gzip} from 'node:zlib'

import type {FastifyReply, FastifyRequest} from 'fastify'

import {mayAccessNamespace} from '../auth/caller.js'
import {NotFoundError} from '../errors.js'
import {sdConfigOf} from '../sd/targets.js'
import type {AppContext, ServeApp} from './app-context.js'
import {callerOf, inNamespaces, signedIn, withAccess} from './authorization.js'
import {DEFAULT_LIMITS} from './limits.js'
import type {ServeMetrics} from './metrics.js'
import {routes} from './schemas.js'
import {IDLE_MS, type PartKey, SdAnswers} from './sd-answers.js'

export function registerHttpSdRoutes(app: ServeApp, {view, metrics, limits = DEFAULT_LIMITS}: AppContext): void {
  const answers = new SdAnswers(view)
  const sweep = setInterval(() => answers.forgetUnused(Date.now() - IDLE_MS), IDLE_MS / 10).unref()
  app.addHook('onClose', async () => {
    clearInterval(sweep)
    answers.close()
  })
  const sender = new AnswerSender(answers, metrics, new RenderSlots(limits.maxSdRenders, limits.sdRenderWaitMs, metrics))
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
      return sender.send(request, reply, server, config === 'disabled' ? [] : [{namespace, config}])
    },
  )
  app.get('/v1/sd/:server', withAccess(routes.sdServer, signedIn), async (request, reply) => {
    const caller = callerOf(request)
    const {server} = request.params
    requireServer(server)
    const parts: PartKey[] = []
    for (const ns of view.namespaceList()) {
      if (ns.export === 'disabled' || !mayAccessNamespace(caller, ns.name)) continue
      const config = sdConfigOf(ns.export)
      if (config !== 'disabled') parts.push({namespace: ns.name, config})
    }
    return sender.send(request, reply, server, parts)
  })
}

const gzipAsync = promisify(gzip)

/** Sends kept answers at once, renders the others in their turn, and gzips on demand. */
class AnswerSender {
  /** Renders under way, by answer: requests for the same answer wait for the same one. */
  private readonly rendering = new Map<string, Promise<Buffer | undefined>>()
  /** Compressed on the thread pool, once per answer's bytes, on first demand. */
  private readonly gzipped = new WeakMap<Buffer, Promise<Buffer>>()

  constructor(
    private readonly answers: SdAnswers,
    private readonly metrics: ServeMetrics,
    private readonly slots: RenderSlots,
  ) {}

  async send(request: FastifyRequest, reply: FastifyReply, server: string, parts: PartKey[]): Promise<FastifyReply> {
    const body = this.answers.kept(server, parts) ?? (await this.render(server, parts))
    if (!body) {
      this.metrics.sdRendersRefused.inc()
      return reply
        .code(503)
        .header('retry-after', '1')
        .send({error: {code: 'unavailable', message: 'too many http_sd answers are being rendered; retry shortly'}})
    }
    reply.type('application/json; charset=utf-8').header('vary', 'accept-encoding')
    if (body.length > 1024 && /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''))) {
      let compressed = this.gzipped.get(body)
      if (!compressed) this.gzipped.set(body, (compressed = gzipAsync(body, {level: 1})))
      return reply.header('content-encoding', 'gzip').send(await compressed)
    }
    return reply.send(body)
  }

  /** The answer, rendered in its turn; undefined when its turn did not come in time. */
  private render(server: string, parts: PartKey[]): Promise<Buffer | undefined> {
    const key = JSON.stringify([server, parts])
    let pending = this.rendering.get(key)
    if (pending) return pending
    pending = this.slots.run(() => this.answers.render(server, parts))
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
  async run<T>(render: () => Promise<T>): Promise<T | undefined> {
    if (!(await this.acquire())) return undefined
    this.metrics.sdRendersInFlight.inc()
    try {
      await new Promise((resolve) => setImmediate(resolve))
      return await render()
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
