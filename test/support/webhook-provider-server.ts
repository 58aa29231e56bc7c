/**
 * An external-dns webhook provider written for the tests from the published protocol (v1):
 * node:http on 127.0.0.1, records in memory, strict about the media type
 * (`application/external.dns.webhook+json;version=1`) in Accept and Content-Type, and a log of
 * every request so a test can assert, say, that no POST was made under --dry-run.
 *
 * Endpoints are stored as they arrive on the wire (TXT targets with the literal quotes
 * external-dns sends). Changes are read the way Go's encoding/json reads them: keys matched
 * case-insensitively, so `create` and `Create` both work.
 */
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'

export const MEDIA_TYPE = 'application/external.dns.webhook+json;version=1'

export interface WireEndpoint {
  dnsName: string
  targets?: string[]
  recordType: string
  setIdentifier?: string
  recordTTL?: number
  labels?: Record<string, string>
  providerSpecific?: {name: string; value: string}[]
}

export interface LoggedRequest {
  method: string
  path: string
  accept?: string
  contentType?: string
  status: number
  body?: unknown
}

export interface WebhookServerOptions {
  /** What `GET /` returns, e.g. {include: ['example.com'], exclude: []}. Default: no filter. */
  domainFilter?: Record<string, unknown>
  records?: WireEndpoint[]
  /** Override the Content-Type of the negotiation answer (to test a mismatch). */
  negotiateContentType?: string
  /** AdjustEndpoints: raise every TTL below this to it (default 60), as some providers do. */
  minTtl?: number
}

export interface StartedWebhookServer {
  url: string
  log: LoggedRequest[]
  /** The stored endpoints, sorted by name and type. */
  records(): WireEndpoint[]
  find(dnsName: string, recordType: string): WireEndpoint | undefined
  stop(): Promise<void>
}

function key(ep: {dnsName: string; recordType: string; setIdentifier?: string}): string {
  return `${ep.dnsName.toLowerCase().replace(/\.$/, '')} ${ep.recordType} ${ep.setIdentifier ?? ''}`
}

function field(obj: Record<string, unknown>, name: string): unknown {
  for (const [k, v] of Object.entries(obj)) if (k.toLowerCase() === name.toLowerCase()) return v
  return undefined
}

function endpointsOf(v: unknown): WireEndpoint[] {
  if (v === undefined || v === null) return []
  if (!Array.isArray(v)) throw new Error('not a list of endpoints')
  return v.map((item: unknown) => {
    const o = item as Record<string, unknown>
    const dnsName = field(o, 'dnsName')
    const recordType = field(o, 'recordType')
    if (typeof dnsName !== 'string' || typeof recordType !== 'string') throw new Error('endpoint without dnsName or recordType')
    const ep: WireEndpoint = {dnsName, recordType, targets: (field(o, 'targets') as string[] | undefined) ?? []}
    const ttl = field(o, 'recordTTL')
    if (typeof ttl === 'number') ep.recordTTL = ttl
    const labels = field(o, 'labels')
    if (labels && typeof labels === 'object') ep.labels = labels as Record<string, string>
    const sid = field(o, 'setIdentifier')
    if (typeof sid === 'string' && sid !== '') ep.setIdentifier = sid
    return ep
  })
}

/** Exact media type, as external-dns compares it (whitespace around ';' tolerated). */
function isMediaType(value: string | undefined): boolean {
  return (value ?? '').replace(/\s+/g, '').toLowerCase() === MEDIA_TYPE
}

function acceptsMediaType(value: string | undefined): boolean {
  return (value ?? '').split(',').some((v) => isMediaType(v))
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of req) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

export async function startWebhookServer(options: WebhookServerOptions = {}): Promise<StartedWebhookServer> {
  const store = new Map<string, WireEndpoint>()
  for (const ep of options.records ?? []) store.set(key(ep), ep)
  const log: LoggedRequest[] = []
  const minTtl = options.minTtl ?? 60

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    const entry: LoggedRequest = {method: req.method ?? '', path, status: 0}
    if (req.headers.accept !== undefined) entry.accept = req.headers.accept
    if (req.headers['content-type'] !== undefined) entry.contentType = req.headers['content-type']
    log.push(entry)
    const send = (status: number, body?: unknown, contentType = MEDIA_TYPE): void => {
      entry.status = status
      if (body === undefined) {
        res.writeHead(status).end()
        return
      }
      res.writeHead(status, {'Content-Type': contentType, Vary: 'Content-Type'}).end(JSON.stringify(body))
    }
    const text = await readBody(req)
    let parsed: unknown
    if (text !== '') {
      try {
        parsed = JSON.parse(text)
        entry.body = parsed
      } catch {
        send(400, {error: 'body is not JSON'}, 'application/json')
        return
      }
    }
    const needAccept = (): boolean => {
      if (acceptsMediaType(req.headers.accept)) return true
      send(406, {error: `Accept must be ${MEDIA_TYPE}`}, 'application/json')
      return false
    }
    const needContentType = (): boolean => {
      if (isMediaType(req.headers['content-type'])) return true
      send(415, {error: `Content-Type must be ${MEDIA_TYPE}`}, 'application/json')
      return false
    }

    if (req.method === 'GET' && path === '/') {
      if (!needAccept()) return
      send(200, options.domainFilter ?? {}, options.negotiateContentType ?? MEDIA_TYPE)
      return
    }
    if (req.method === 'GET' && path === '/healthz') {
      send(200, {status: 'ok'}, 'application/json')
      return
    }
    if (req.method === 'GET' && path === '/records') {
      if (!needAccept()) return
      send(200, [...store.values()])
      return
    }
    if (req.method === 'POST' && path === '/records') {
      if (!needContentType()) return
      try {
        const o = (parsed ?? {}) as Record<string, unknown>
        const create = endpointsOf(field(o, 'create'))
        const updateOld = endpointsOf(field(o, 'updateOld'))
        const updateNew = endpointsOf(field(o, 'updateNew'))
        const del = endpointsOf(field(o, 'delete'))
        if (updateOld.length !== updateNew.length) throw new Error('updateOld and updateNew differ in length')
        for (const ep of [...del, ...updateOld]) {
          if (!store.has(key(ep))) throw new Error(`no record ${key(ep)} to delete or update`)
        }
        for (const ep of create) if (store.has(key(ep))) throw new Error(`record ${key(ep)} exists`)
        for (const ep of [...del, ...updateOld]) store.delete(key(ep))
        for (const ep of [...updateNew, ...create]) store.set(key(ep), ep)
      } catch (error) {
        send(500, {error: (error as Error).message}, 'application/json')
        return
      }
      send(204)
      return
    }
    if (req.method === 'POST' && path === '/adjustendpoints') {
      if (!needContentType() || !needAccept()) return
      try {
        const eps = endpointsOf(parsed)
        send(
          200,
          eps.map((ep) => (ep.recordTTL !== undefined && ep.recordTTL > 0 && ep.recordTTL < minTtl ? {...ep, recordTTL: minTtl} : ep)),
        )
      } catch (error) {
        send(400, {error: (error as Error).message}, 'application/json')
      }
      return
    }
    send(404, {error: 'not found'}, 'application/json')
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(error))
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const addr = server.address()
  const port = typeof addr === 'object' && addr ? addr.port : 0

  return {
    url: `http://127.0.0.1:${port}`,
    log,
    records: () => [...store.values()].sort((a, b) => key(a).localeCompare(key(b))),
    find: (dnsName, recordType) => store.get(key({dnsName, recordType})),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
