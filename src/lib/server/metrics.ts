/**
 * The server's own Prometheus series (prom-client, on a registry of its own, not the global one):
 * requests by route, method and status code, a latency histogram per route, the registry's sizes,
 * store errors, how far the in-memory view is behind the store, and what each of serve's limits
 * (limits.ts) did: connections open, refused and reused, timeouts by kind, requests refused by
 * the limit they broke, http_sd renders in flight, waiting and refused, history follows open and
 * closed for falling behind, and
 * the limits themselves.
 */
import type {Counter, Gauge, Histogram, Registry as PromRegistry} from 'prom-client'

import {LIMITS, type ServeLimits} from './limits.js'
import type {RegistryView} from './view.js'

/** Why a connection was refused or reused: the limit it hit (the probe pool's connections are reused too). */
export type ConnectionLimit = 'max-connections' | 'max-connections-per-address' | 'probe-connections'
export type TimeoutKind = 'headers' | 'request' | 'keep-alive' | 'tls-handshake' | 'send'
/** The limit a request was refused by. */
export type RequestLimit = 'probe-connections' | 'max-body-size' | 'max-header-size' | 'max-follows'

export interface ServeMetrics {
  registry: PromRegistry
  requests: Counter<'route' | 'method' | 'code'>
  duration: Histogram<'route'>
  storeErrors: Counter<'source'>
  connections: Gauge
  connectionsRefused: Counter<'reason'>
  connectionsReused: Counter<'reason'>
  timeouts: Counter<'kind'>
  requestsRefused: Counter<'reason'>
  sdRendersInFlight: Gauge
  sdRendersWaiting: Gauge
  sdRendersRefused: Counter
  follows: Gauge
  followsBehind: Counter
}

export async function createMetrics(view: RegistryView, limits: ServeLimits): Promise<ServeMetrics> {
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
  const counter = <L extends string>(name: string, help: string, label: L, values: readonly string[]): Counter<L> => {
    const c = new prom.Counter({name, help, labelNames: [label] as const, registers: [registry]})
    // Every series from the start, so that a rate() or an alert sees 0 rather than nothing.
    for (const value of values) c.inc({[label]: value} as Record<L, string>, 0)
    return c
  }
  const gauge = (name: string, help: string): Gauge => new prom.Gauge({name, help, registers: [registry]})
  const connections = gauge('roster_serve_connections', 'Client connections open now (TLS handshakes included).')
  const connectionsRefused = counter(
    'roster_serve_connections_refused_total',
    'Connections closed as soon as they were accepted, by the limit they hit (the probe pool being full too).',
    'reason',
    ['max-connections', 'max-connections-per-address'] satisfies ConnectionLimit[],
  )
  const connectionsReused = counter(
    'roster_serve_connections_reused_total',
    'Idle connections closed to make room for a new one at a limit, by that limit.',
    'reason',
    ['max-connections', 'max-connections-per-address', 'probe-connections'] satisfies ConnectionLimit[],
  )
  const timeouts = counter('roster_serve_timeouts_total', 'Connections closed by a timeout, by kind.', 'kind', [
    'headers',
    'request',
    'keep-alive',
    'tls-handshake',
    'send',
  ] satisfies TimeoutKind[])
  const requestsRefused = counter('roster_serve_requests_refused_total', 'Requests refused by a limit, by that limit.', 'reason', [
    'probe-connections',
    'max-body-size',
    'max-header-size',
    'max-follows',
  ] satisfies RequestLimit[])
  const sdRendersInFlight = gauge('roster_serve_sd_renders_in_flight', 'http_sd answers being rendered now.')
  const sdRendersWaiting = gauge(
    'roster_serve_sd_renders_waiting',
    'http_sd renders waiting for a slot now (requests for the same answer wait for one render).',
  )
  const sdRendersRefused = new prom.Counter({
    name: 'roster_serve_sd_renders_refused_total',
    help: 'http_sd requests answered 503 after waiting sd-render-wait for a render slot.',
    registers: [registry],
  })
  const follows = gauge('roster_serve_follows', 'History follows (GET /v1/events?follow=1) open now.')
  const followsBehind = new prom.Counter({
    name: 'roster_serve_follows_behind_total',
    help: 'History follows closed because their client fell max-follow-backlog records behind.',
    registers: [registry],
  })
  const limit = new prom.Gauge({
    name: 'roster_serve_limit',
    help: "serve's limits as configured: durations in seconds, sizes in bytes, counts as counts.",
    labelNames: ['limit'] as const,
    registers: [registry],
  })
  for (const spec of LIMITS) limit.set({limit: spec.setting}, spec.kind === 'duration' ? limits[spec.key] / 1000 : limits[spec.key])
  return {
    registry,
    requests,
    duration,
    storeErrors,
    connections,
    connectionsRefused,
    connectionsReused,
    timeouts,
    requestsRefused,
    sdRendersInFlight,
    sdRendersWaiting,
    sdRendersRefused,
    follows,
    followsBehind,
  }
}
