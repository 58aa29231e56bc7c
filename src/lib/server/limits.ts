/**
 * serve's limits against clients that misbehave: how long a client may take, how many
 * connections it may hold, how big its request may be, how many http_sd answers are
 * rendered at once, and how many history follows stay open and how far behind. This table is the one place each limit is named: its setting (the flag, the
 * ROSTER_ variable and the config key have this name), its default, what it bounds, and the
 * /metrics series that counts it. serve's command builds its flags from it; docs/serve.md shows
 * it (a test keeps the two alike).
 *
 * Where each is enforced: the Node server and its connections in connections.ts (the timeouts,
 * the connection limits, the header size), fastify's body limit in app.ts, the render bound in
 * http-sd.ts, the follows in routes/events.ts.
 */
import {parseByteSize} from '../config/byte-size.js'
import {durationText, parseDuration} from '../config/duration.js'
import {InvalidInputError, setting} from '../errors.js'

export interface ServeLimits {
  /** From a connection's first byte (or the end of its last answer) until its request's headers are in. */
  headersTimeoutMs: number
  /** From the start of a request until its body is in. */
  requestTimeoutMs: number
  /** How long a connection may wait idle for its next request after an answer. */
  keepAliveTimeoutMs: number
  /** From a TLS connection's accept until its handshake is done. */
  tlsHandshakeTimeoutMs: number
  /** How long an answer may sit unsent because its client takes none of it. */
  sendTimeoutMs: number
  maxConnections: number
  /** 0: none. An IPv6 client's address is its /64. */
  maxConnectionsPerAddress: number
  /** Connections kept beyond the limits for /healthz, /readyz and /metrics; 0: none. */
  probeConnections: number
  maxBodyBytes: number
  maxHeaderBytes: number
  /** http_sd answers rendered at once. */
  maxSdRenders: number
  /** How long an http_sd request waits for a render before it is answered 503. */
  sdRenderWaitMs: number
  /** `GET /v1/events?follow=1` streams open at once. */
  maxFollows: number
  /** History records a follow may fall behind before it is closed. */
  maxFollowBacklog: number
}

export interface LimitSpec {
  /** The setting's name (flag, ROSTER_ variable and config key). */
  setting: string
  key: keyof ServeLimits
  kind: 'duration' | 'count' | 'size'
  /** As a user writes it. */
  default: string
  /** Counts: the range; `0` may be allowed and then means "no limit". */
  min?: number
  max?: number
  /** Durations and sizes: the largest value. */
  maxMs?: number
  maxBytes?: number
  minBytes?: number
  description: string
  /** The /metrics series that counts it (with its label), as docs/serve.md shows it. */
  counter: string
}

/** The limits, in the order serve's help and docs/serve.md give them. */
export const LIMITS: readonly LimitSpec[] = [
  {
    setting: 'headers-timeout',
    key: 'headersTimeoutMs',
    kind: 'duration',
    default: '10s',
    maxMs: 3_600_000,
    description:
      'Close a connection whose request headers are not all in this long after it was accepted (after its TLS handshake) or after its last answer (408).',
    counter: 'roster_serve_timeouts_total{kind="headers"}',
  },
  {
    setting: 'request-timeout',
    key: 'requestTimeoutMs',
    kind: 'duration',
    default: '30s',
    maxMs: 3_600_000,
    description: 'Close a connection whose request (headers and body) is not all in this long after it started (408).',
    counter: 'roster_serve_timeouts_total{kind="request"}',
  },
  {
    setting: 'keep-alive-timeout',
    key: 'keepAliveTimeoutMs',
    kind: 'duration',
    default: '72s',
    maxMs: 3_600_000,
    description: 'Close a connection left idle this long after an answer.',
    counter: 'roster_serve_timeouts_total{kind="keep-alive"}',
  },
  {
    setting: 'tls-handshake-timeout',
    key: 'tlsHandshakeTimeoutMs',
    kind: 'duration',
    default: '10s',
    maxMs: 3_600_000,
    description: 'Close a TLS connection whose handshake is not done this long after it was accepted.',
    counter: 'roster_serve_timeouts_total{kind="tls-handshake"}',
  },
  {
    setting: 'send-timeout',
    key: 'sendTimeoutMs',
    kind: 'duration',
    default: '60s',
    maxMs: 3_600_000,
    description:
      'Close a connection whose client has taken nothing of an answer for this long (the kernel accepts no more of it): a stalled reader of a backup, a history stream or a large answer.',
    counter: 'roster_serve_timeouts_total{kind="send"}',
  },
  {
    setting: 'max-connections',
    key: 'maxConnections',
    kind: 'count',
    default: '1024',
    min: 1,
    max: 1_000_000,
    description:
      'Connections open at once. At the limit, a new connection takes the place of the one idle longest (no request in flight), else it goes to the probe pool, else it is closed at once.',
    counter: 'roster_serve_connections_refused_total{reason="max-connections"}',
  },
  {
    setting: 'max-connections-per-address',
    key: 'maxConnectionsPerAddress',
    kind: 'count',
    default: '128',
    min: 0,
    max: 1_000_000,
    description:
      'Connections open at once from one client address (an IPv6 /64), with the same reuse; 0: no such limit (behind a proxy every client has its address).',
    counter: 'roster_serve_connections_refused_total{reason="max-connections-per-address"}',
  },
  {
    setting: 'probe-connections',
    key: 'probeConnections',
    kind: 'count',
    default: '16',
    min: 0,
    max: 10_000,
    description:
      'Connections kept beyond those limits for /healthz, /readyz and /metrics: any other request on them is answered 503 with Retry-After.',
    counter: 'roster_serve_requests_refused_total{reason="probe-connections"}',
  },
  {
    setting: 'max-body-size',
    key: 'maxBodyBytes',
    kind: 'size',
    default: '1MiB',
    minBytes: 1024,
    maxBytes: 64 * 1024 ** 2,
    description: 'Largest request body (413).',
    counter: 'roster_serve_requests_refused_total{reason="max-body-size"}',
  },
  {
    setting: 'max-header-size',
    key: 'maxHeaderBytes',
    kind: 'size',
    default: '16KiB',
    minBytes: 1024,
    maxBytes: 1024 ** 2,
    description: 'Largest request head: request line and headers (431).',
    counter: 'roster_serve_requests_refused_total{reason="max-header-size"}',
  },
  {
    setting: 'max-sd-renders',
    key: 'maxSdRenders',
    kind: 'count',
    default: '1',
    min: 1,
    max: 64,
    description: 'http_sd answers rendered at once; an answer already rendered for the current registry is sent without waiting.',
    counter: 'roster_serve_sd_renders_waiting',
  },
  {
    setting: 'sd-render-wait',
    key: 'sdRenderWaitMs',
    kind: 'duration',
    default: '5s',
    maxMs: 60_000,
    description: 'How long an http_sd request waits for its turn to render before it is answered 503 with Retry-After.',
    counter: 'roster_serve_sd_renders_refused_total',
  },
  {
    setting: 'max-follows',
    key: 'maxFollows',
    kind: 'count',
    default: '64',
    min: 1,
    max: 10_000,
    description:
      'History follows (GET /v1/events?follow=1) open at once; each holds its connection and a store watch until its client goes. One more is answered 503 with Retry-After.',
    counter: 'roster_serve_requests_refused_total{reason="max-follows"}',
  },
  {
    setting: 'max-follow-backlog',
    key: 'maxFollowBacklog',
    kind: 'count',
    default: '10000',
    min: 1,
    max: 1_000_000,
    description:
      'History records written that a follow has not yet sent (one write is one record, an import a record per transaction): its client reads slower than the registry changes, past what the kernel buffers. Beyond it the stream is ended; the client follows again from its last event (since=).',
    counter: 'roster_serve_follows_behind_total',
  },
]

/** The settings of LIMITS, by name. */
export type LimitSettings = Readonly<Partial<Record<string, string | undefined>>>

/**
 * The limits from settings as typed (a missing one takes its default). InvalidInputError naming
 * the setting at fault when one is malformed, out of range, or at odds with another.
 */
export function parseLimits(settings: LimitSettings = {}): ServeLimits {
  const limits = {} as Record<keyof ServeLimits, number>
  for (const spec of LIMITS) limits[spec.key] = parseLimit(spec, settings[spec.setting] ?? spec.default)
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    throw InvalidInputError.forField(
      'headers-timeout',
      durationText(limits.headersTimeoutMs),
      `must be at most ${setting('request-timeout')} (${durationText(limits.requestTimeoutMs)}): the headers are part of the request`,
    )
  }
  return limits
}

function parseLimit(spec: LimitSpec, value: string): number {
  if (spec.kind === 'duration') return parseDuration(value, spec.setting, {maxMs: spec.maxMs})
  if (spec.kind === 'size') return parseByteSize(value, spec.setting, {minBytes: spec.minBytes ?? 1, maxBytes: spec.maxBytes ?? Infinity})
  const text = value.trim()
  const n = /^\d+$/.test(text) ? Number(text) : NaN
  if (!Number.isSafeInteger(n)) throw InvalidInputError.forField(spec.setting, value, 'expected a whole number')
  const min = spec.min ?? 1
  const max = spec.max ?? Number.MAX_SAFE_INTEGER
  if (n < min || n > max) throw InvalidInputError.forField(spec.setting, value, `must be between ${min} and ${max}`)
  return n
}

export const DEFAULT_LIMITS: ServeLimits = parseLimits()
