/**
 * The server's own Prometheus series (prom-client, on a registry of its own, not the global one):
 * requests by route, method and status code, a latency histogram per route, the registry's sizes,
 * store errors, and how far the in-memory view is behind the store.
 */
import type {Counter, Gauge, Histogram, Registry as PromRegistry} from 'prom-client'

import type {RegistryView} from './view.js'

export interface ServeMetrics {
  registry: PromRegistry
  requests: Counter<'route' | 'method' | 'code'>
  duration: Histogram<'route'>
  storeErrors: Counter<'source'>
}

export async function createMetrics(view: RegistryView): Promise<ServeMetrics> {
  const prom = await import('prom-client')
  const registry = new prom.Registry()
  prom.collectDefaultMetrics({register: registry, prefix: 'roster_serve_process_'})
  const requests = new prom.Counter({
    name: 'roster_serve_requests_total',
    help: 'HTTP requests answered, by route, method and status code.',
    labelNames: ['route', 'method', 'code'] as const,
    registers: [registry],
  })
  const duration = new prom.Histogram({
    name: 'roster_serve_request_duration_seconds',
    help: 'Time to answer an HTTP request, by route.',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  })
  const storeErrors = new prom.Counter({
    name: 'roster_serve_store_errors_total',
    help: 'Errors of the registry store: failed requests (503) and failed watch or change checks.',
    labelNames: ['source'] as const,
    registers: [registry],
  })
  new prom.Gauge({
    name: 'roster_serve_registry_objects',
    help: 'Objects in the in-memory view of the registry, by kind.',
    labelNames: ['kind'] as const,
    registers: [registry],
    collect(this: Gauge<'kind'>) {
      const c = view.counts
      this.set({kind: 'servers'}, c.servers)
      this.set({kind: 'namespaces'}, c.namespaces)
      this.set({kind: 'services'}, c.services)
    },
  })
  new prom.Gauge({
    name: 'roster_serve_view_revision',
    help: 'Store revision the in-memory view reflects.',
    registers: [registry],
    collect(this: Gauge) {
      this.set(view.storeRevision)
    },
  })
  new prom.Gauge({
    name: 'roster_serve_watch_lag_seconds',
    help: 'Seconds since the view last confirmed it is current (a watch event or a change check).',
    registers: [registry],
    collect(this: Gauge) {
      this.set(view.lastSyncedAt === 0 ? 0 : Math.max(0, (Date.now() - view.lastSyncedAt) / 1000))
    },
  })
  return {registry, requests, duration, storeErrors}
}
