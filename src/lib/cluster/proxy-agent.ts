/**
 * A kubeconfig's `proxy-url`, the way kubectl uses it (checked against kubectl 1.32 with the test
 * proxy in test/support/kube-http-proxy.ts):
 *   - https:// servers: one `CONNECT host:port` per connection, then TLS to the server through the
 *     tunnel (the server's certificate is verified as without a proxy);
 *   - http:// servers: absolute-form requests to the proxy (`GET http://host:port/path`, Host the
 *     server's), which `proxyRequestOptions` builds.
 * A user:password in the proxy URL becomes a Proxy-Authorization (Basic) header, as in Go's client.
 * Loaded only when a cluster has a proxy-url.
 */
import {request as httpRequest, type IncomingMessage} from 'node:http'
import {Agent as HttpsAgent, type AgentOptions} from 'node:https'
import type {Duplex} from 'node:stream'

/** The proxy refused the tunnel or the request (its status, e.g. 403 or 407). */
export class ProxyRefusedError extends Error {
  readonly code = 'EPROXY'
}

export function proxyAuthorization(proxy: URL): Record<string, string> {
  if (!proxy.username && !proxy.password) return {}
  const userPass = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`
  return {'Proxy-Authorization': `Basic ${Buffer.from(userPass).toString('base64')}`}
}

const proxyPort = (proxy: URL) => Number(proxy.port || 80)

type ConnectionCallback = (error: Error | null, socket?: Duplex) => void

/** An https.Agent whose connections are tunnels through an HTTP proxy (CONNECT). */
export class ConnectProxyAgent extends HttpsAgent {
  constructor(
    private readonly proxy: URL,
    options: AgentOptions,
  ) {
    super(options)
  }

  // Node's Agent accepts an asynchronous createConnection (result through the callback).
  override createConnection(options: Record<string, unknown> & {host?: string; port?: number}, callback: ConnectionCallback): undefined {
    const target = `${String(options.host).includes(':') ? `[${options.host}]` : options.host}:${options.port}`
    const req = httpRequest({
      host: this.proxy.hostname.replace(/^\[|\]$/g, ''),
      port: proxyPort(this.proxy),
      method: 'CONNECT',
      path: target,
      setHost: false,
      headers: {Host: target, ...proxyAuthorization(this.proxy)},
      agent: false,
    })
    req.once('connect', (res: IncomingMessage, socket: Duplex) => {
      req.removeAllListeners('error')
      if (res.statusCode !== 200) {
        socket.destroy()
        callback(
          new ProxyRefusedError(
            `proxy ${this.proxy.host} answered ${res.statusCode} ${res.statusMessage ?? ''} to CONNECT ${target}`.trim(),
          ),
        )
        return
      }
      const base = HttpsAgent.prototype as unknown as {createConnection: (o: Record<string, unknown>) => Duplex}
      callback(null, base.createConnection.call(this, {...options, socket}))
    })
    req.once('error', (error) => callback(error))
    req.end()
    return undefined
  }
}

/** Request options for an http:// server through the proxy: the absolute URL as the request target. */
export function proxyRequestOptions(proxy: URL, url: URL): {host: string; port: number; path: string; headers: Record<string, string>} {
  return {
    host: proxy.hostname.replace(/^\[|\]$/g, ''),
    port: proxyPort(proxy),
    path: url.href,
    headers: {Host: url.host, ...proxyAuthorization(proxy)},
  }
}
