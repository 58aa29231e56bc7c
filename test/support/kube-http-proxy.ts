/**
 * A small HTTP forward proxy for the kubeconfig `proxy-url` tests, speaking what kubectl sends:
 *   - `CONNECT host:port` for https:// servers: a TCP tunnel;
 *   - absolute-form requests (`GET http://host:port/path`) for http:// servers: forwarded.
 * Loopback targets only. It records every request line and its headers, so tests can check what
 * went through it (and what did not: no Authorization header to an http:// server). With
 * `auth`, requests without that Proxy-Authorization (Basic user:password) get 407.
 */
import {createServer, request as httpRequest, type IncomingHttpHeaders} from 'node:http'
import {connect, type Socket} from 'node:net'

export interface ProxiedRequest {
  method: string
  /** The request target as sent: `host:port` for CONNECT, the absolute URL otherwise. */
  target: string
  headers: IncomingHttpHeaders
  /** The status the proxy answered (200 for a tunnel it opened). */
  status: number
}

export interface KubeHttpProxy {
  url: string
  port: number
  readonly requests: ProxiedRequest[]
  stop(): Promise<void>
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1'])

export async function startKubeHttpProxy(options: {auth?: {user: string; password: string}} = {}): Promise<KubeHttpProxy> {
  const requests: ProxiedRequest[] = []
  const sockets = new Set<Socket>()
  const expected = options.auth ? `Basic ${Buffer.from(`${options.auth.user}:${options.auth.password}`).toString('base64')}` : undefined
  const authorized = (headers: IncomingHttpHeaders) => !expected || headers['proxy-authorization'] === expected

  const server = createServer((req, res) => {
    const rec: ProxiedRequest = {method: req.method ?? 'GET', target: req.url ?? '', headers: req.headers, status: 0}
    requests.push(rec)
    const answer = (status: number, text: string) => {
      rec.status = status
      res.writeHead(status, {'Content-Type': 'text/plain', ...(status === 407 ? {'Proxy-Authenticate': 'Basic'} : {})})
      res.end(text)
    }
    if (!authorized(req.headers)) return answer(407, 'proxy authentication required')
    let target: URL
    try {
      target = new URL(req.url ?? '')
    } catch {
      return answer(400, 'not an absolute-form request')
    }
    if (target.protocol !== 'http:' || !LOOPBACK.has(target.hostname)) return answer(403, 'loopback http targets only')
    const headers = {...req.headers}
    delete headers['proxy-authorization']
    delete headers['proxy-connection']
    const upstream = httpRequest(target, {method: req.method, headers}, (up) => {
      rec.status = up.statusCode ?? 0
      res.writeHead(up.statusCode ?? 502, up.headers)
      up.pipe(res)
    })
    upstream.on('error', () => answer(502, 'upstream unreachable'))
    req.pipe(upstream)
  })
  server.on('connection', (s: Socket) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  server.on('connect', (req, client: Socket, head: Buffer) => {
    const rec: ProxiedRequest = {method: 'CONNECT', target: req.url ?? '', headers: req.headers, status: 0}
    requests.push(rec)
    const refuse = (status: number, reason: string) => {
      rec.status = status
      client.end(`HTTP/1.1 ${status} ${reason}\r\n${status === 407 ? 'Proxy-Authenticate: Basic\r\n' : ''}\r\n`)
    }
    if (!authorized(req.headers)) return refuse(407, 'Proxy Authentication Required')
    const m = /^(.+):(\d+)$/.exec(req.url ?? '')
    if (!m || !LOOPBACK.has(m[1] as string)) return refuse(403, 'Forbidden')
    const upstream = connect(Number(m[2]), (m[1] as string).replace(/^\[|\]$/g, ''), () => {
      rec.status = 200
      client.write('HTTP/1.1 200 Connection established\r\n\r\n')
      if (head.length > 0) upstream.write(head)
      upstream.pipe(client)
      client.pipe(upstream)
    })
    sockets.add(upstream)
    upstream.on('close', () => {
      sockets.delete(upstream)
      client.destroy()
    })
    upstream.on('error', () => (rec.status === 0 ? refuse(502, 'Bad Gateway') : client.destroy()))
    client.on('error', () => upstream.destroy())
    client.on('close', () => upstream.destroy())
  })

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = address && typeof address === 'object' ? address.port : 0
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
