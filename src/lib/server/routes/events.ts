/**
 * The registry history: `GET /v1/events`, pages of events read from the store (the view does not
 * hold the history), and with `follow=1` a stream of newline-delimited events kept open until the
 * client goes or the server stops. Admins see every event; a read token (or a person without the
 * admin role) sees the events of objects in its namespaces only, never the registry-wide ones
 * (servers, settings, tokens, restores). Service tokens write; they do not read the history.
 */
import {PassThrough} from 'node:stream'

import {authorize, mayAccessNamespace} from '../../auth/caller.js'
import type {HistoryEvent} from '../../registry/history/event.js'
import {compileHistoryFilter, followHistory, readHistory} from '../../registry/history/read.js'
import {validateName} from '../../registry/validation.js'
import type {AppContext, ServeApp} from '../app-context.js'
import {callerOf, withAccess} from '../authorization.js'
import {routes} from '../schemas.js'

export function registerEventRoutes(app: ServeApp, {store}: AppContext): void {
  /** The open follows, ended when the server stops (it waits for open connections otherwise). */
  const streams = new Set<PassThrough>()
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
      const compiled = compileHistoryFilter(filter, new Date(), mayRead)
      if (follow !== '1' && follow !== 'true')
        return readHistory(store, compiled, {limit: limit === undefined ? undefined : Number(limit), continue: next})

      const stream = new PassThrough()
      const following = await followHistory(store, compiled, async (event) => {
        if (!stream.write(`${JSON.stringify(event)}\n`)) await new Promise((resolve) => stream.once('drain', resolve))
      })
      streams.add(stream)
      const stop = (): void => {
        streams.delete(stream)
        void following.close()
        stream.end()
      }
      request.raw.once('close', stop)
      stream.once('close', stop)
      void following.ended.then(stop)
      // A stream, not the page the schema types: fastify sends it as it is written, past the serializer.
      return reply.type('application/x-ndjson; charset=utf-8').send(stream as never)
    },
  )
}
