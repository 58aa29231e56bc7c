/**
 * Where roster's servers listen (`serve`, `kube metrics-proxy`, the node-status exporter), and
 * the one rule for plaintext.
 *
 * The address: `PORT` and `:PORT` listen on 127.0.0.1; `HOST:PORT` on that host (an IPv4 address
 * or a name); `[v6]:PORT` on that IPv6 address; `0.0.0.0:PORT` or `[::]:PORT` on every
 * interface. An empty host means loopback, never "everywhere": reaching the network is asked
 * for by name. Port 0 picks a free port.
 *
 * The rule: on loopback (see loopback.ts) plain HTTP is fine. Off loopback, TLS (a certificate
 * and its key) is required. The exporters, whose answers are metrics and carry no credentials,
 * may serve plain HTTP off loopback when insecure-plaintext is set, node_exporter's convention;
 * `serve` never does, since bearer tokens would cross the network in clear.
 */
import {isIP, type Server} from 'node:net'

import {InvalidInputError, setting} from '../errors.js'
import {readPemFile} from '../fs/input-file.js'
import {isLoopbackHost} from './loopback.js'

/** The setting every server's address is, as the config file names it. */
export const LISTEN_SETTING = 'listen'

const LISTEN_FORMS = 'expected PORT, :PORT, HOST:PORT or [IPv6]:PORT (0.0.0.0:PORT or [::]:PORT for every interface)'

export interface ListenAddress {
  /** What to bind: an IP address (IPv6 without brackets) or a name. */
  host: string
  /** 0 picks a free port. */
  port: number
  loopback: boolean
  /** As given, for messages. */
  text: string
}

/** Parses a listen address; InvalidInputError naming the listen setting when it is not one. */
export function parseListenAddress(value: string): ListenAddress {
  const text = value.trim()
  const m = /^(?:(?:\[([^\]]*)\]|([^:[\]]*)):)?(\d{1,5})$/.exec(text)
  const port = Number(m?.[3])
  if (!m || !(port <= 65535)) throw InvalidInputError.forField(LISTEN_SETTING, value, LISTEN_FORMS)
  const [, v6, name] = m
  if (v6 !== undefined && isIP(v6) !== 6) throw InvalidInputError.forField(LISTEN_SETTING, value, 'brackets hold an IPv6 address')
  if (name !== undefined && name !== '' && isIP(name) !== 4 && !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(name)) {
    throw InvalidInputError.forField(LISTEN_SETTING, value, `the host is not an IPv4 address or a host name; ${LISTEN_FORMS}`)
  }
  const host = v6 ?? (name || '127.0.0.1')
  return {host, port, loopback: isLoopbackHost(host), text: value}
}

export interface TransportSettings {
  /** PEM certificate (chain) file. */
  tlsCert?: string
  /** PEM private key file. */
  tlsKey?: string
  /** Plain HTTP off loopback, for the exporters that allow it. */
  insecurePlaintext?: boolean
}

export interface Tls {
  cert: Buffer
  key: Buffer
}

/**
 * The rule above: the TLS files to serve with, or undefined for plain HTTP. `plaintext` says
 * whether this server may serve plain HTTP off loopback when insecure-plaintext is set.
 * InvalidInputError naming the setting at fault (listen, tls-cert or tls-key) otherwise.
 */
export function listenTransport(address: ListenAddress, o: TransportSettings, plaintext: 'never' | 'when-asked'): Tls | undefined {
  if (Boolean(o.tlsCert) !== Boolean(o.tlsKey)) {
    const [missing, given] = o.tlsCert ? ['tls-key', 'tls-cert'] : ['tls-cert', 'tls-key']
    throw new InvalidInputError(`${missing}: required with ${setting(given)}`, {field: missing})
  }
  const tls =
    o.tlsCert && o.tlsKey ? {cert: readPemFile(o.tlsCert, {field: 'tls-cert'}), key: readPemFile(o.tlsKey, {field: 'tls-key'})} : undefined
  if (address.loopback || tls) return tls
  if (plaintext === 'when-asked' && o.insecurePlaintext) return undefined
  const tlsFiles = `${setting('tls-cert')} and ${setting('tls-key')}`
  const reason =
    plaintext === 'when-asked'
      ? `is not a loopback address: serve TLS (${tlsFiles}), or set ${setting('insecure-plaintext')} to serve plain HTTP to the network`
      : `is not a loopback address: serve HTTPS (${tlsFiles}), so that bearer tokens never cross a network in clear`
  throw InvalidInputError.forField(LISTEN_SETTING, address.text, reason)
}

/** The error for a server that could not bind: the address is taken, not ours, or not allowed. */
export function listenError(error: unknown, address: ListenAddress): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') {
    return InvalidInputError.forField(LISTEN_SETTING, address.text, `cannot listen there (${code})`)
  }
  return error
}

/** Binds a Node server to `address`; the port it listens on (the one picked, for port 0). */
export async function listenOn(server: Server, address: ListenAddress): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => reject(listenError(error, address))
    server.once('error', onError)
    server.listen(address.port, address.host, () => {
      server.off('error', onError)
      resolve()
    })
  })
  const bound = server.address()
  return typeof bound === 'object' && bound ? bound.port : address.port
}

/** `http://127.0.0.1:3002`, `https://[::1]:9443`: the URL of a server listening on `address`. */
export function listenUrl(address: ListenAddress, boundPort: number, tls: boolean): string {
  const host = address.host.includes(':') ? `[${address.host}]` : address.host
  return `${tls ? 'https' : 'http'}://${host}:${boundPort}`
}
