/**
 * What monitoring calls: /healthz (the process answers) and /readyz (the view is loaded and the
 * store answers), without a token wherever serve listens (a kubelet's probes send none), and
 * /metrics (Prometheus exposition), without a token on loopback only. Left out of the OpenAPI
 * document and of the request log. Off loopback, /readyz says why it is not ready in the log, not
 * to the unauthenticated caller (the store's address stays private).
 */
import {BackendUnavailableError, firstLineOf} from '../../errors.js'
import type {AppContext, ServeApp} from '../app-context.js'

/** How long /readyz waits for the store. */
const READY_TIMEOUT_MS = 2000

export function registerProbeRoutes(app: ServeApp, {view, store, metrics, loopback, log}: AppContext): void {
  const health = {schema: {hide: true}, config: {unauthenticated: 'health'}} as const
  const probe = {schema: {hide: true}, config: {unauthenticated: 'probe'}} as const
  app.get('/healthz', health, async () => ({ok: true}))
  app.get('/readyz', health, async (_request, reply) => {
    if (!view.synced) return reply.code(503).send({error: {code: 'unavailable', message: 'the registry view is not loaded yet'}})
    try {
      await withTimeout(
        store.get('settings'),
        READY_TIMEOUT_MS,
        `registry ${store.description} did not answer within ${READY_TIMEOUT_MS / 1000} s`,
      )
    } catch (error) {
      metrics.storeErrors.inc({source: 'readyz'})
      const reason = firstLineOf(error)
      if (!loopback) log(`not ready: ${reason}`)
      return reply.code(503).send({error: {code: 'unavailable', message: loopback ? reason : 'the registry store does not answer'}})
    }
    return {ready: true, revision: view.storeRevision}
  })
  app.get('/metrics', probe, async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()))
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new BackendUnavailableError(message)), ms)
    }),
  ])
}
