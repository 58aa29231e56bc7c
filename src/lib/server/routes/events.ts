/**
 * The registry history: `GET /v1/events`, pages of events read from the store (the view does not
 * hold the history), and with `follow=1` a stream of newline-delimited events kept open until the
 * client goes or the server stops. Admins see every event; a read token (or a person without the
 * admin role) sees the events of objects in its namespaces only, never the registry-wide ones
 * (servers, settings, tokens, restores). Service tokens write; they do not read the history.
 * At most `max-follows` follows are open at once (limits.ts); one more is answered 503. A follow
 * whose client falls `max-follow-backlog` records behind is closed (the stream ends).
 */
import {PassThrough} from 'node:stream'

import {authorize, mayAccessNamespace} from '../../auth/caller.js'
import type {HistoryEvent} from '../../registry/history/event.js'
import {FollowBehindError, compileHistoryFilter, followHistory, readHistory} from '../../registry/history/read.js'
import {validateName} from '../../registry/validation.js'
import type {AppContext, ServeApp} from '../app-context.js'
import {callerOf, withAccess} from '../authorization.js'
import {DEFAULT_LIMITS} from '../limits.js'
import {routes} from '../schemas.js'

export function registerEventRoutes(app: ServeApp, {store, metrics, limits = DEFAULT_LIMITS}: AppContext): void {
  /** The open follows, ended when the server stops (it waits for open connections otherwise). */
  const streams = new Set<PassThrough>()
  /** Follows open or starting: counted before the listing a follow starts with, so that requests arriving together cannot pass the limit. */
  let following = 0
  app.addHook('preClose', async () => {
    for (const stream of streams) stream.end()
  })

  app.get(
    '/v1/events',
    withAccess(routes.listEvents, (caller, {query}) => {
      authorize(caller, 'read')
      if (query.namespace !== undefined) authorize(caller, 'read', validateName('namespace', query.namespace))
    }),
    async (request, reply) => {
      const caller = callerOf(request)
      const {limit, continue: next, follow, ...filter} = request.query
      const mayRead =
        caller.role === 'admin'
          ? undefined
          : (e: HistoryEvent) => e.object.namespace !== undefined && mayAccessNamespace(caller, e.object.namespace)
      const compiled = await compileHistoryFilter(filter, new Date(), mayRead)
      if (follow !== '1' && follow !== 'true')
        return readHistory(store, compiled, {limit: limit === undefined ? undefined : Number(limit), continue: next})

      if (following >= limits.maxFollows) {
        metrics.requestsRefused.inc({reason: 'max-follows'})
        return reply
          .code(503)
          .header('retry-after', '1')
          .send({
            error: {code: 'unavailable', message: `too many history follows are open (max-follows ${limits.maxFollows}); retry shortly`},
          })
      }
      following++
      metrics.follows.inc()
      let released = false
      const release = (): void => {
        if (released) return
        released = true
        following--
        metrics.follows.dec()
      }
      const stream = new PassThrough()
      let opened: Awaited<ReturnType<typeof followHistory>>
      try {
        opened = await followHistory(
          store,
          compiled,
          async (event) => {
            if (!stream.write(`${JSON.stringify(event)}\n`)) await new Promise((resolve) => stream.once('drain', resolve))
          },
          {maxBacklog: limits.maxFollowBacklog},
        )
      } catch (error) {
        release()
        throw error
      }
      streams.add(stream)
      const stop = (): void => {
        release()
        streams.delete(stream)
        void opened.close()
        stream.end()
      }
      request.raw.once('close', stop)
      stream.once('close', stop)
      void opened.ended.then((error) => {
        if (error instanceof FollowBehindError) metrics.followsBehind.inc()
        stop()
      })
      // A stream, not the page the schema types: fastify sends it as it is written, past the serializer.
      return reply.type('application/x-ndjson; charset=utf-8').send(stream as never)
    },
  )
}
