/**
 * serve's Node server, and which connections it keeps (the limits of limits.ts).
 *
 * Node enforces the header size and the headers and request timeouts (checked every
 * CHECK_INTERVAL_MS, so one fires up to that much late), and closes a connection idle past the
 * keep-alive timeout. Node's own TLS handshake timeout restarts with every byte, so a client
 * that trickles its handshake is never cut off by it: here a timer runs from the accept to the
 * end of the handshake instead.
 *
 * The connection limits, in total and per client address, are counted here. A connection is idle
 * when no request of it is in flight: before its first request (TLS handshake and headers
 * included) and between requests. At a limit, a new connection takes the place of the one idle
 * longest (nginx reuses its idle keep-alive connections the same way when it runs out), so that
 * clients holding connections they do not use cannot lock others out: a client that sends its
 * request promptly gets in, however many connections others hold. When none is idle (every
 * connection has a request in flight), the new connection goes to the probe pool, whose
 * connections answer only /healthz, /readyz and /metrics, so that monitoring still sees a full
 * server; when that pool is full of busy connections too, the connection is closed at once.
 *
 * Node has no timeout for an answer the client stops taking: the send timeout is checked here, by
 * one sweep over the connections with a request in flight. A connection is stalled while bytes
 * wait to be sent and the kernel has taken none since the sweep that first saw it so; a client
 * that reads, however slowly, makes room for some between sweeps and is never cut off.
 */
import {createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import {createServer as createHttpsServer} from 'node:https'
import type {Socket} from 'node:net'

import type {ServeLimits} from './limits.js'
import type {ConnectionLimit, ServeMetrics} from './metrics.js'

/** How often Node checks the headers and request timeouts; a timeout fires up to this much late. */
const CHECK_INTERVAL_MS = 500

const CONNECTION = Symbol('roster.connection')

interface Connection {
  raw: Socket
  address: string
  inFlight: number
  /** The request whose body is still coming, if any. */
  reading?: IncomingMessage
  /** Until its TLS handshake is done. */
  handshakeTimer?: NodeJS.Timeout
  /** In the probe pool: it may ask for /healthz, /readyz and /metrics only. */
  probesOnly: boolean
  closed: boolean
  /** The socket the HTTP layer writes to (the TLS socket, or the raw one), once known. */
  socket?: Socket
  /** Since when the socket has held unsent bytes and sent none (as of the last sweep). */
  stalledSince?: number
  /** Bytes the kernel had taken from the connection at that sweep. */
  sentAtStall?: number
}

/** Connections counted against one limit, the idle ones in the order they became idle. */
class Pool {
  open = 0
  readonly idle = new Set<Connection>()

  constructor(readonly limit: number) {}

  get full(): boolean {
    return this.limit > 0 && this.open >= this.limit
  }

  /** The connection idle longest. */
  oldestIdle(): Connection | undefined {
    return this.idle.values().next().value
  }
}

type SocketWithConnection = Socket & {[CONNECTION]?: Connection}

/** Keeps the connection limits of one server (see the file comment). */
export class ConnectionGuard {
  private readonly all: Pool
  private readonly probes: Pool
  private readonly byAddress = new Map<string, Pool>()
  /** TLS connections still in their handshake, by peer, to find them again when it is done. */
  private readonly handshaking = new Map<string, Connection>()
  /** Connections with a request in flight: those the send timeout watches. */
  private readonly busy = new Set<Connection>()

  constructor(
    private readonly limits: ServeLimits,
    private readonly metrics: ServeMetrics,
  ) {
    this.all = new Pool(limits.maxConnections)
    this.probes = new Pool(limits.probeConnections)
  }

  /** Connections open now, the probe pool's included. */
  get open(): number {
    return this.all.open + this.probes.open
  }

  /** Whether the request's connection is in the probe pool. */
  probesOnly(socket: Socket): boolean {
    return (socket as SocketWithConnection)[CONNECTION]?.probesOnly ?? false
  }

  attach(server: Server, tls: boolean): void {
    server.on('connection', (raw: Socket) => this.accept(raw, tls))
    const sweep = setInterval(() => this.sweepStalled(Date.now()), Math.min(1000, Math.max(50, this.limits.sendTimeoutMs / 4))).unref()
    server.once('close', () => clearInterval(sweep))
    if (tls) {
      server.on('secureConnection', (socket: Socket) => {
        const conn = this.handshaking.get(peerOf(socket))
        if (!conn) return
        this.handshaking.delete(peerOf(socket))
        clearTimeout(conn.handshakeTimer)
        conn.handshakeTimer = undefined
        this.follow(socket, conn)
      })
    }
    server.prependListener('request', (request: IncomingMessage, response: ServerResponse) => this.started(request, response))
    server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
      const conn = (socket as SocketWithConnection)[CONNECTION]
      if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
        this.metrics.timeouts.inc({kind: conn?.reading && !conn.reading.complete ? 'request' : 'headers'})
      } else if (error.code === 'HPE_HEADER_OVERFLOW') {
        this.metrics.requestsRefused.inc({reason: 'max-header-size'})
      }
    })
  }

  private accept(raw: Socket, tls: boolean): void {
    const address = clientAddress(raw.remoteAddress)
    const pool = this.byAddress.get(address) ?? new Pool(this.limits.maxConnectionsPerAddress)
    let refusedBy: ConnectionLimit | undefined
    if (pool.full && !this.reuse(pool, 'max-connections-per-address')) refusedBy = 'max-connections-per-address'
    else if (this.all.full && !this.reuse(this.all, 'max-connections')) refusedBy = 'max-connections'
    let probesOnly = false
    if (refusedBy) {
      if (this.limits.probeConnections === 0 || (this.probes.full && !this.reuse(this.probes, 'probe-connections'))) {
        this.metrics.connectionsRefused.inc({reason: refusedBy})
        raw.destroy()
        return
      }
      probesOnly = true
    }
    const conn: Connection = {raw, address, inFlight: 0, probesOnly, closed: false}
    // Set again: reusing its last connection may have dropped the address's pool.
    if (!probesOnly) this.byAddress.set(address, pool)
    for (const p of this.poolsOf(conn)) {
      p.open++
      p.idle.add(conn)
    }
    this.metrics.connections.inc()
    raw.once('close', () => this.closed(conn))
    if (tls) {
      const peer = peerOf(raw)
      this.handshaking.set(peer, conn)
      conn.handshakeTimer = setTimeout(() => {
        this.metrics.timeouts.inc({kind: 'tls-handshake'})
        raw.destroy()
      }, this.limits.tlsHandshakeTimeoutMs).unref()
    } else {
      this.follow(raw, conn)
    }
  }

  /** The socket the HTTP layer reads from (the TLS socket, or the raw one) is the connection's. */
  private follow(socket: Socket, conn: Connection): void {
    ;(socket as SocketWithConnection)[CONNECTION] = conn
    conn.socket = socket
    // Node sets the socket's timeout between requests only (the keep-alive timeout); it then closes it.
    socket.on('timeout', () => {
      if (conn.inFlight === 0) this.metrics.timeouts.inc({kind: 'keep-alive'})
    })
  }

  private started(request: IncomingMessage, response: ServerResponse): void {
    const conn = (request.socket as SocketWithConnection)[CONNECTION]
    if (!conn || conn.closed) return
    if (conn.inFlight++ === 0) for (const p of this.poolsOf(conn)) p.idle.delete(conn)
    this.busy.add(conn)
    conn.reading = request
    request.once('end', () => {
      if (conn.reading === request) conn.reading = undefined
    })
    response.once('close', () => {
      conn.inFlight--
      if (conn.inFlight === 0) {
        this.busy.delete(conn)
        conn.stalledSince = undefined
      }
      if (conn.closed || conn.inFlight > 0) return
      for (const p of this.poolsOf(conn)) p.idle.add(conn)
    })
  }

  /** Closes every busy connection whose client has taken nothing for the send timeout. */
  private sweepStalled(now: number): void {
    for (const conn of this.busy) {
      const {socket, raw} = conn
      // What waits in the process: in the HTTP layer's socket (TLS or not), in the TCP socket's
      // stream, and in libuv's write queue of the TCP handle. One large write (a whole answer)
      // leaves the first two unchanged until the kernel has taken all of it, so a client's
      // progress is read from the handle's queue. Node documents no public way to read it; if
      // that field went away, a slow reader of one large answer would be cut off after the
      // timeout (serve-hostile-limits.test.ts checks it is not).
      const queued = (raw as Socket & {_handle?: {writeQueueSize?: number}})._handle?.writeQueueSize ?? 0
      const waiting = (socket && socket !== raw ? socket.writableLength : 0) + raw.writableLength + queued
      const sent = raw.bytesWritten - raw.writableLength - queued
      if (!socket || waiting === 0) {
        conn.stalledSince = undefined
      } else if (conn.stalledSince === undefined || sent !== conn.sentAtStall) {
        conn.stalledSince = now
        conn.sentAtStall = sent
      } else if (now - conn.stalledSince >= this.limits.sendTimeoutMs) {
        this.metrics.timeouts.inc({kind: 'send'})
        this.busy.delete(conn)
        socket.destroy()
        raw.destroy()
      }
    }
  }

  /**
   * Closes every connection with no request in flight: in its TLS handshake, with its request's
   * headers coming in, or between requests. For a server that stops: Node's own
   * closeIdleConnections leaves a connection that has not yet sent a whole request, which would
   * hold the stop until its headers or request timeout.
   */
  closeIdle(): void {
    for (const pool of [this.all, this.probes])
      for (const conn of [...pool.idle]) {
        this.closed(conn)
        conn.raw.destroy()
      }
  }

  /** Closes the connection of `pool` idle longest, if one is idle; whether it did. */
  private reuse(pool: Pool, limit: ConnectionLimit): boolean {
    const conn = pool.oldestIdle()
    if (!conn) return false
    this.metrics.connectionsReused.inc({reason: limit})
    this.closed(conn)
    conn.raw.destroy()
    return true
  }

  private closed(conn: Connection): void {
    if (conn.closed) return
    conn.closed = true
    this.busy.delete(conn)
    clearTimeout(conn.handshakeTimer)
    if (conn.handshakeTimer) this.handshaking.delete(peerOf(conn.raw))
    for (const p of this.poolsOf(conn)) {
      p.open--
      p.idle.delete(conn)
    }
    const pool = this.byAddress.get(conn.address)
    if (pool && pool.open === 0) this.byAddress.delete(conn.address)
    this.metrics.connections.dec()
  }

  private poolsOf(conn: Connection): Pool[] {
    return conn.probesOnly ? [this.probes] : [this.all, this.byAddress.get(conn.address)!]
  }
}

function peerOf(socket: Socket): string {
  return `${socket.remoteAddress}\u0000${socket.remotePort}`
}

/**
 * The address a client's connections are counted under: an IPv4 address (also when it reaches an
 * IPv6 socket as ::ffff:a.b.c.d), or the /64 of an IPv6 address, which one host or one site holds
 * as a whole.
 */
export function clientAddress(remote: string | undefined): string {
  if (!remote) return ''
  const address = remote.replace(/%.*$/, '').toLowerCase()
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(address)
  if (mapped) return mapped[1]!
  if (!address.includes(':')) return address
  const [head = '', tail] = address.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`
}

/** serve's Node server: HTTP or HTTPS with the limits, and the guard that keeps its connection limits. */
export function createLimitedServer(
  handler: (request: IncomingMessage, response: ServerResponse) => void,
  options: {limits: ServeLimits; metrics: ServeMetrics; https?: {cert: Buffer; key: Buffer}},
): {server: Server; guard: ConnectionGuard} {
  const {limits} = options
  const httpOptions = {
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    connectionsCheckingInterval: CHECK_INTERVAL_MS,
  }
  const server: Server = options.https
    ? createHttpsServer({...httpOptions, cert: options.https.cert, key: options.https.key}, handler)
    : createHttpServer(httpOptions, handler)
  server.keepAliveTimeout = limits.keepAliveTimeoutMs
  const guard = new ConnectionGuard(limits, options.metrics)
  guard.attach(server, options.https !== undefined)
  // fastify calls this as the server stops (forceCloseConnections: 'idle').
  const closeIdleConnections = server.closeIdleConnections.bind(server)
  server.closeIdleConnections = () => {
    closeIdleConnections()
    guard.closeIdle()
  }
  return {server, guard}
}
