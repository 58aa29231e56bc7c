/**
 * `roster serve`: opens the view of the registry, the token authority and the HTTP server, and
 * runs until SIGTERM or SIGINT; then stops accepting connections, finishes the requests in
 * flight, stops following the store, and returns (the command closes the store).
 *
 * Refusals before anything listens (exit 2): a non-loopback --listen without TLS unless
 * --insecure-plaintext; --auth none off loopback; half a TLS pair; unreadable TLS files.
 */
import {readFileSync} from 'node:fs'
import {isIP} from 'node:net'

import {InvalidInputError} from '../errors.js'
import type {Store} from '../store/store.js'

export interface ServeOptions {
  /** Opened after the options are checked, so that a refused --listen never touches the store. */
  openStore: () => Promise<Store>
  /** `host:port`, `[v6]:port`, or `:port` (loopback). */
  listen: string
  tlsCert?: string
  tlsKey?: string
  insecurePlaintext?: boolean
  auth: 'token' | 'none'
  /** People signing in with an OpenID Provider (issue 9); with --auth token only. */
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
}

export interface ListenAddress {
  host: string
  port: number
}

export function parseListen(value: string): ListenAddress {
  const text = value.trim()
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text)
  const port = m ? Number(m[3]) : NaN
  if (!m || port > 65535) throw InvalidInputError.forField('listen', value, 'expected HOST:PORT, e.g. 127.0.0.1:3002 or [::1]:3002')
  const host = m[1] ?? (m[2] || '127.0.0.1')
  if (m[1] !== undefined && isIP(m[1]) !== 6) throw InvalidInputError.forField('listen', value, 'brackets hold an IPv6 address')
  return {host, port}
}

export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '')
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true
  if (isIP(h) === 4) return h.startsWith('127.')
  if (h.startsWith('::ffff:')) return h.slice(7).startsWith('127.')
  return false
}

function readPem(field: string, path: string): Buffer {
  try {
    return readFileSync(path)
  } catch (error) {
    throw InvalidInputError.forField(field, path, `cannot read it (${(error as NodeJS.ErrnoException).code ?? 'error'})`)
  }
}

export async function serve(options: ServeOptions): Promise<void> {
  const address = parseListen(options.listen)
  const loopback = isLoopbackHost(address.host)
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) {
    throw InvalidInputError.forField(options.tlsCert ? 'tls-key' : 'tls-cert', '', 'give both --tls-cert and --tls-key')
  }
  const https =
    options.tlsCert && options.tlsKey ? {cert: readPem('tls-cert', options.tlsCert), key: readPem('tls-key', options.tlsKey)} : undefined
  if (!loopback && !https && !options.insecurePlaintext) {
    throw InvalidInputError.forField(
      'listen',
      options.listen,
      'is not a loopback address: serve HTTPS (--tls-cert, --tls-key) so that bearer tokens never cross a network in clear, or pass --insecure-plaintext',
    )
  }
  if (options.auth === 'none' && !loopback) {
    throw InvalidInputError.forField('auth', 'none', `only with a loopback --listen (not ${options.listen}); use tokens`)
  }

  const store = await options.openStore()
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
  const metrics = await createMetrics(view)
  late.metrics = metrics
  await view.start()

  const {buildApp} = await import('./app.js')
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
  })

  let stopping = false
  // The handlers stay until the server has stopped: a second signal while draining is ignored
  // (SIGKILL ends a server that does not drain).
  let onSignal: (signal: NodeJS.Signals) => void = () => undefined
  const stopped = new Promise<string>((resolve) => {
    onSignal = (signal: NodeJS.Signals) => {
      if (stopping) options.log(`${signal}: already stopping`)
      resolve(signal)
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
    void options.stop?.then(() => onSignal('SIGTERM'))
  })
  try {
    try {
      await app.listen({host: address.host, port: address.port})
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
        throw InvalidInputError.forField('listen', options.listen, `cannot listen there (${code})`)
      }
      throw error
    }
    const bound = app.server.address()
    const port = typeof bound === 'object' && bound ? bound.port : address.port
    const host = address.host.includes(':') ? `[${address.host}]` : address.host
    const url = `${https ? 'https' : 'http'}://${host}:${port}`
    options.log(`listening on ${url} (registry ${store.description}, auth ${options.auth})`)
    options.onListening?.(url)
    const signal = await stopped
    stopping = true
    options.log(`${signal}: finishing requests in flight, then stopping`)
    await app.close()
  } finally {
    if (!stopping) await app.close().catch(() => undefined)
    await view.close()
    process.off('SIGTERM', onSignal)
    process.off('SIGINT', onSignal)
  }
  options.log('stopped')
}
