/**
 * `roster serve`: opens the view of the registry, the token authority and the HTTP server, and
 * runs until SIGTERM or SIGINT (loop/run-until-signal.ts); then stops accepting connections,
 * finishes the requests in flight, stops following the store, and returns (the command closes
 * the store).
 *
 * Refusals before anything listens (exit 2): an address off loopback without TLS (the listen
 * rule of net/listen-address.ts: serve never serves plaintext off loopback); auth none off
 * loopback; half a TLS pair; unreadable TLS files; a limit (limits.ts) that is malformed or out of
 * range.
 */
import {readFileSync} from 'node:fs'

import {InvalidInputError} from '../errors.js'
import {listenError, listenTransport, listenUrl, parseListenAddress} from '../net/listen-address.js'
import {runUntilSignal, untilAborted} from '../loop/run-until-signal.js'
import type {Store} from '../store/store.js'
import {type LimitSettings, parseLimits} from './limits.js'

export interface ServeOptions {
  /** Opened after the options are checked, so that a refused listen address never touches the store. */
  openStore: () => Promise<Store>
  /** A listen address: `PORT`, `:PORT`, `HOST:PORT`, `[v6]:PORT` (see net/listen-address.ts). */
  listen: string
  tlsCert?: string
  tlsKey?: string
  auth: 'token' | 'none'
  /** People signing in with an OpenID Provider; with auth token only. */
  oidc?: import('../auth/oidc-verifier.js').OidcOptions
  version: string
  /** Lines for stderr (never a token). */
  log: (line: string) => void
  /** Resolves to stop the server (tests); signals stop it too. */
  stop?: Promise<void>
  /** Called with the address once listening. */
  onListening?: (url: string) => void
  /** The web console under /ui/; absent: none. */
  console?: import('./ui/options.js').ConsoleOptions
  /** The limits as typed, by setting (limits.ts); a missing one takes its default. */
  limits?: LimitSettings
  /**
   * dist/serve-schemas.cjs, the routes' validators and serializers made at build time
   * (schema-compilers.ts); absent, or missing a route's: compiled at start.
   */
  schemaCode?: string
}

export async function serve(options: ServeOptions): Promise<void> {
  const address = parseListenAddress(options.listen)
  const https = listenTransport(address, {tlsCert: options.tlsCert, tlsKey: options.tlsKey}, 'never')
  const loopback = address.loopback
  if (options.auth === 'none' && !loopback) {
    throw InvalidInputError.forField('auth', 'none', `only on a loopback listen address (not ${options.listen}); use tokens`)
  }
  const limits = parseLimits(options.limits)
  const files = openFileLimit()
  if (files !== undefined && limits.maxConnections + limits.probeConnections + FILES_BESIDES_CONNECTIONS > files) {
    options.log(
      `warning: max-connections (${limits.maxConnections}) and probe-connections (${limits.probeConnections}) need more open files than this process may have (${files}, ulimit -n): raise it (systemd: LimitNOFILE=) or lower them`,
    )
  }

  const store = await options.openStore()
  // GET /v1/services compiles its filters synchronously, from the view.
  await (await import('../text/regex.js')).loadRegexEngine()
  const {RegistryView} = await import('./view.js')
  const {createMetrics} = await import('./metrics.js')
  const {Registry} = await import('../registry/registry.js')
  let tokens: import('../auth/tokens.js').TokenAuthority | undefined
  if (options.auth === 'token') {
    const {TokenAuthority} = await import('../auth/tokens.js')
    // Revocations are answered from the view (below), which the store follower keeps current.
    tokens = await TokenAuthority.open(store, {isRevoked: (id) => view.isRevoked(id)})
  }
  const oidc =
    options.oidc && options.auth === 'token' ? new (await import('../auth/oidc-verifier.js')).OidcVerifier(options.oidc) : undefined
  const late: {metrics?: Awaited<ReturnType<typeof createMetrics>>} = {}
  const view = new RegistryView(store, {
    onError: (error) => {
      late.metrics?.storeErrors.inc({source: 'view'})
      options.log(`warning: following the registry: ${(error as Error).message?.split('\n')[0]}`)
    },
    onChange: (keys) => {
      if (!tokens || !keys.some((k) => k.startsWith('auth/'))) return
      void tokens.reload().catch(() => late.metrics?.storeErrors.inc({source: 'tokens'}))
    },
  })
  const metrics = await createMetrics(view, limits)
  late.metrics = metrics
  await view.start()

  const {buildApp} = await import('./app.js')
  const schemaCompilers = options.schemaCode ? (await import('./schema-compilers.js')).restoringCompilers(options.schemaCode) : undefined
  const app = await buildApp({
    store,
    registry: new Registry(store),
    view,
    tokens,
    oidc,
    loopback,
    metrics,
    log: options.log,
    https,
    version: options.version,
    console: options.console,
    limits,
    schemaCompilers,
  })

  try {
    await runUntilSignal(
      async (signal) => {
        try {
          // The kernel queues as many connections as serve may hold (up to net.core.somaxconn), so
          // that a burst of them waits to be accepted instead of having its SYNs dropped (a
          // client then retries after a second).
          await app.listen({host: address.host, port: address.port, backlog: limits.maxConnections + limits.probeConnections})
        } catch (error) {
          throw listenError(error, address)
        }
        const bound = app.server.address()
        const url = listenUrl(address, typeof bound === 'object' && bound ? bound.port : address.port, https !== undefined)
        options.log(`listening on ${url} (registry ${store.description}, auth ${options.auth})`)
        options.onListening?.(url)
        await untilAborted(signal)
      },
      {
        stop: options.stop,
        onSignal: (signal, first) =>
          options.log(first ? `${signal}: finishing requests in flight, then stopping` : `${signal}: already stopping`),
      },
    )
  } finally {
    await app.close().catch(() => undefined)
    await view.close()
  }
  options.log('stopped')
}

/** Files serve holds besides its connections: the store's, the listening socket, stdio, and a margin. */
const FILES_BESIDES_CONNECTIONS = 64

/** The process's open-file limit (Node raises its soft limit to the hard one at start), where /proc tells it. */
function openFileLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))
    return m ? Number(m[1]) : undefined
  } catch {
    return undefined
  }
}
