/**
 * The PowerDNS provider: PowerDNS Authoritative's HTTP API (v1).
 *
 * - Reads each zone once: `GET /api/v1/servers/{id}/zones/{zone}` returns every RRset.
 *   Without `zones`, the zones are listed first (`GET /api/v1/servers/{id}/zones`).
 * - Writes with one `PATCH /api/v1/servers/{id}/zones/{zone}` per zone, every RRset in it
 *   (`changetype: REPLACE` with the full RRset for creates and updates, `DELETE` for deletes):
 *   PowerDNS applies one PATCH in one transaction. The body is split, at RRset boundaries, only
 *   where it would exceed the webserver's limit (`webserver-max-bodysize`, 2 MB by default,
 *   counted as 2 × 1024 × 1024 bytes); a server configured lower is detected (it resets the
 *   connection or answers 400) and the chunk is halved. REPLACE and DELETE are idempotent, so a
 *   resent chunk does no harm.
 * - Wire format: names are canonical with a trailing dot; TXT content is one or more quoted
 *   character-strings (`"..."`, `\"`, `\\`, `\DDD`, at most 255 bytes each); CNAME/NS/PTR, and
 *   the host of SRV/MX, end with a dot. Endpoints keep roster's conventions (endpoint.ts).
 * - The API key goes in the `X-API-Key` header and nowhere else: never in an error message.
 */
import type {Changes, Endpoint, Provider, ProviderStats} from '../endpoint.js'
import {endpointKey, normalizeEndpoint, normalizeName} from '../endpoint.js'
import {BackendUnavailableError, InvalidInputError, NotAllowedError, NotFoundError, RosterError} from '../../errors.js'

export interface PdnsProviderOptions {
  /** Base URL of the API, e.g. http://127.0.0.1:8081 (the `/api/v1` part is added). */
  server: string
  apiKey: string
  /** Almost always "localhost". */
  serverId: string
  /** Zones to manage; default: every zone the server lists. */
  zones?: string[]
  timeoutMs: number
  /** TTL for a new RRset whose endpoint has none (default 300). */
  defaultTtl?: number
  /** The server's request body limit in bytes (default 2 MiB, PowerDNS's `webserver-max-bodysize=2`). */
  maxBodyBytes?: number
}

/** PowerDNS's default `webserver-max-bodysize` is 2 (megabytes), enforced as 2 × 1024 × 1024 bytes. */
export const PDNS_DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024
export const PDNS_DEFAULT_TTL = 300
/** `webserver-max-bodysize` is a whole number of megabytes, so no server accepts less than this. */
const PDNS_SMALLEST_BODY_LIMIT = 1024 * 1024

interface PdnsRecord {
  content: string
  disabled: boolean
}

export interface PdnsRRSet {
  name: string
  type: string
  ttl?: number
  changetype?: 'REPLACE' | 'DELETE'
  records?: PdnsRecord[]
  comments?: unknown[]
}

interface PdnsZone {
  id: string
  name: string
  rrsets?: PdnsRRSet[]
}

interface ZoneRef {
  /** Normalized name, no trailing dot. */
  name: string
  /** The server's opaque zone id, used in URLs. */
  id: string
}

interface HttpResult {
  status: number
  text: string
}

const HOST_TYPES = new Set(['CNAME', 'NS', 'PTR', 'DNAME', 'ALIAS'])
const HOST_LAST_TYPES = new Set(['SRV', 'MX'])

export class PdnsProvider implements Provider {
  readonly name = 'pdns'
  readonly stats: ProviderStats = {readCalls: 0, writeCalls: 0}

  private readonly server: string
  private readonly apiBase: string
  private readonly apiKey: string
  private readonly serverId: string
  private readonly timeoutMs: number
  private readonly defaultTtl: number
  private readonly maxBodyBytes: number
  private readonly configuredZones?: string[]
  private zones?: ZoneRef[]
  /** TTL of every RRset read, so an update without a TTL keeps the one it had. */
  private readonly knownTtl = new Map<string, number>()

  constructor(options: PdnsProviderOptions) {
    let url: URL
    try {
      url = new URL(options.server)
    } catch {
      throw InvalidInputError.forField('--pdns-server', options.server, 'is not a URL; use http://HOST:8081')
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw InvalidInputError.forField('--pdns-server', options.server, 'must be an http:// or https:// URL')
    }
    if (!options.apiKey) throw new InvalidInputError('--pdns-api-key is required for the pdns provider', {field: 'pdns-api-key'})
    if (!options.serverId) throw InvalidInputError.forField('--pdns-server-id', options.serverId, 'must not be empty')
    this.server = url.origin + url.pathname.replace(/\/+$/, '')
    this.apiBase = `${this.server}/api/v1/servers/${encodeURIComponent(options.serverId)}`
    this.apiKey = options.apiKey
    this.serverId = options.serverId
    this.timeoutMs = options.timeoutMs
    this.defaultTtl = options.defaultTtl ?? PDNS_DEFAULT_TTL
    this.maxBodyBytes = options.maxBodyBytes ?? PDNS_DEFAULT_MAX_BODY_BYTES
    if (options.zones && options.zones.length > 0) this.configuredZones = options.zones.map((z) => normalizeName(z))
  }

  async records(): Promise<Endpoint[]> {
    const zones = await this.resolveZones()
    const out: Endpoint[] = []
    for (const zone of zones) {
      const res = await this.request('GET', `/zones/${encodeURIComponent(zone.id)}`, undefined, zone.name)
      this.stats.readCalls++
      const body = this.parseJson<PdnsZone>(res.text, `zone "${zone.name}"`)
      for (const rrset of body.rrsets ?? []) {
        const ep = rrsetToEndpoint(rrset)
        if (!ep) continue
        this.knownTtl.set(endpointKey(ep), rrset.ttl ?? this.defaultTtl)
        out.push(ep)
      }
    }
    return out
  }

  async applyChanges(changes: Changes, onProgress?: (done: number, total: number) => void): Promise<void> {
    const byKey = new Map<string, {ep: Endpoint; action: 'REPLACE' | 'DELETE'}>()
    for (const ep of changes.delete) {
      const n = normalizeEndpoint(ep)
      byKey.set(endpointKey(n), {ep: n, action: 'DELETE'})
    }
    changes.updateOld.forEach((old, i) => {
      const n = normalizeEndpoint(old)
      const next = changes.updateNew[i]
      // An update that moves a record set to another name or type removes the old one.
      if (next && endpointKey(normalizeEndpoint(next)) !== endpointKey(n)) byKey.set(endpointKey(n), {ep: n, action: 'DELETE'})
    })
    for (const ep of [...changes.create, ...changes.updateNew]) {
      const n = normalizeEndpoint(ep)
      const key = endpointKey(n)
      const prev = byKey.get(key)
      if (prev && prev.action === 'REPLACE') {
        prev.ep = {...prev.ep, targets: [...new Set([...prev.ep.targets, ...n.targets])].sort()}
        if (n.recordTTL !== undefined) prev.ep.recordTTL = n.recordTTL
      } else {
        byKey.delete(key) // a delete then a create of the same set is one REPLACE
        byKey.set(key, {ep: n, action: 'REPLACE'})
      }
    }
    if (byKey.size === 0) return

    const zones = await this.resolveZones()
    // Group per zone (the longest zone suffix holding the name), DELETEs before REPLACEs so that,
    // inside PowerDNS's transaction, a removed A makes room for a CNAME at the same name.
    const perZone = new Map<string, {zone: ZoneRef; deletes: PdnsRRSet[]; replaces: PdnsRRSet[]}>()
    for (const [key, {ep, action}] of byKey) {
      const zone = zoneFor(ep.dnsName, zones)
      if (!zone) {
        throw new NotFoundError(
          `no zone on PowerDNS server ${this.server} holds "${ep.dnsName}" (zones: ${zones.map((z) => z.name).join(', ') || 'none'})`,
        )
      }
      let group = perZone.get(zone.name)
      if (!group) perZone.set(zone.name, (group = {zone, deletes: [], replaces: []}))
      if (action === 'DELETE') {
        group.deletes.push({name: toFqdn(ep.dnsName), type: ep.recordType, changetype: 'DELETE'})
      } else {
        group.replaces.push({
          name: toFqdn(ep.dnsName),
          type: ep.recordType,
          ttl: ep.recordTTL ?? this.knownTtl.get(key) ?? this.defaultTtl,
          changetype: 'REPLACE',
          records: ep.targets.map((t) => ({content: toPdnsContent(ep.recordType, t), disabled: false})),
        })
      }
    }

    const total = byKey.size
    let done = 0
    for (const {zone, deletes, replaces} of perZone.values()) {
      for (const chunk of splitByBodySize([...deletes, ...replaces], this.maxBodyBytes)) {
        await this.patchZone(zone, chunk, (n) => {
          done += n
          onProgress?.(done, total)
          for (const r of chunk)
            if (r.changetype === 'REPLACE' && r.ttl !== undefined) this.knownTtl.set(`${normalizeName(r.name)} ${r.type}`, r.ttl)
        })
      }
    }
  }

  /** The zones this provider manages, listing them once if none were given. */
  async resolveZones(): Promise<ZoneRef[]> {
    if (this.zones) return this.zones
    if (this.configuredZones) {
      this.zones = this.configuredZones.map((name) => ({name, id: toFqdn(name)}))
      return this.zones
    }
    const res = await this.request('GET', '/zones')
    this.stats.readCalls++
    const list = this.parseJson<PdnsZone[]>(res.text, 'zone list')
    this.zones = list.map((z) => ({name: normalizeName(z.name), id: z.id || z.name}))
    return this.zones
  }

  private async patchZone(zone: ZoneRef, rrsets: PdnsRRSet[], onDone: (n: number) => void): Promise<void> {
    const body = JSON.stringify({rrsets})
    const size = Buffer.byteLength(body)
    let res: HttpResult
    try {
      this.stats.writeCalls++
      res = await this.request('PATCH', `/zones/${encodeURIComponent(zone.id)}`, body, zone.name)
    } catch (error) {
      // A body over the server's limit: PowerDNS resets the connection while reading it.
      if (rrsets.length > 1 && size > PDNS_SMALLEST_BODY_LIMIT && isBodyTooLargeSymptom(error)) {
        return this.patchHalves(zone, rrsets, onDone)
      }
      throw error
    }
    if (res.status === 400 && rrsets.length > 1 && size > PDNS_SMALLEST_BODY_LIMIT) {
      // ...or answers a bare 400 when the excess is small.
      return this.patchHalves(zone, rrsets, onDone)
    }
    if (res.status < 200 || res.status >= 300) throw this.httpError(res, zone.name)
    onDone(rrsets.length)
  }

  private async patchHalves(zone: ZoneRef, rrsets: PdnsRRSet[], onDone: (n: number) => void): Promise<void> {
    const mid = Math.ceil(rrsets.length / 2)
    await this.patchZone(zone, rrsets.slice(0, mid), onDone)
    await this.patchZone(zone, rrsets.slice(mid), onDone)
  }

  private async request(method: string, path: string, body?: string, zone?: string): Promise<HttpResult> {
    const headers: Record<string, string> = {'X-API-Key': this.apiKey, Accept: 'application/json'}
    if (body !== undefined) headers['Content-Type'] = 'application/json'
    let status: number
    let text: string
    try {
      const res = await fetch(this.apiBase + path, {method, headers, body, signal: AbortSignal.timeout(this.timeoutMs)})
      status = res.status
      text = await res.text()
    } catch (error) {
      throw this.unavailable(error)
    }
    if (method === 'GET' && (status < 200 || status >= 300)) throw this.httpError({status, text}, zone)
    return {status, text}
  }

  private httpError(res: HttpResult, zone?: string): RosterError {
    const detail = this.redact(pdnsErrorText(res.text))
    if (res.status === 401 || res.status === 403) {
      return new NotAllowedError(
        `PowerDNS API at ${this.server} refused the API key (HTTP ${res.status}); check --pdns-api-key and the server's api-key`,
      )
    }
    if (res.status === 404) {
      if (zone !== undefined) {
        return new NotFoundError(`zone "${zone}" not found on PowerDNS server ${this.server} (server id "${this.serverId}")`)
      }
      return new NotFoundError(`PowerDNS server id "${this.serverId}" not found at ${this.server}; check --pdns-server-id`)
    }
    if (res.status === 422 || res.status === 400) {
      return new InvalidInputError(`PowerDNS rejected the change${zone ? ` to zone "${zone}"` : ''}: ${detail}`)
    }
    if (res.status >= 500) {
      return new BackendUnavailableError(`PowerDNS API at ${this.server} failed with HTTP ${res.status}: ${detail}`)
    }
    return new RosterError(`PowerDNS API at ${this.server} answered HTTP ${res.status}: ${detail}`)
  }

  private unavailable(error: unknown): BackendUnavailableError {
    const e = error as {name?: string; cause?: {code?: string; name?: string; message?: string}} | undefined
    if (e?.name === 'TimeoutError' || e?.cause?.name === 'TimeoutError') {
      return new BackendUnavailableError(`PowerDNS API at ${this.server} did not answer within ${this.timeoutMs} ms`)
    }
    const code = e?.cause?.code ?? e?.cause?.message ?? (error instanceof Error ? error.message : String(error))
    return new BackendUnavailableError(`PowerDNS API at ${this.server} is unreachable (${this.redact(code)}); check --pdns-server`)
  }

  private parseJson<T>(text: string, what: string): T {
    try {
      return JSON.parse(text) as T
    } catch {
      throw new RosterError(`PowerDNS API at ${this.server} sent a ${what} that is not JSON`)
    }
  }

  private redact(text: string): string {
    return this.apiKey ? text.split(this.apiKey).join('***') : text
  }
}

function isBodyTooLargeSymptom(error: unknown): boolean {
  if (!(error instanceof BackendUnavailableError)) return false
  return /ECONNRESET|EPIPE|UND_ERR_SOCKET|other side closed/.test(error.message)
}

function pdnsErrorText(text: string): string {
  try {
    const parsed = JSON.parse(text) as {error?: unknown; errors?: unknown}
    if (typeof parsed.error === 'string') return parsed.error
  } catch {
    // not JSON: PowerDNS answers plain text for some statuses
  }
  const t = text.trim()
  return t.length > 300 ? `${t.slice(0, 300)}...` : t || '(empty answer)'
}

/** The zone holding `name`: the longest zone that is the name or one of its suffixes. */
function zoneFor(name: string, zones: ZoneRef[]): ZoneRef | undefined {
  let best: ZoneRef | undefined
  for (const z of zones) {
    if (name === z.name || name.endsWith(`.${z.name}`) || z.name === '') {
      if (!best || z.name.length > best.name.length) best = z
    }
  }
  return best
}

/** Split RRsets into bodies of at most `maxBytes` (`{"rrsets":[...]}`), at RRset boundaries. */
export function splitByBodySize(rrsets: PdnsRRSet[], maxBytes: number): PdnsRRSet[][] {
  const envelope = Buffer.byteLength('{"rrsets":[]}')
  const chunks: PdnsRRSet[][] = []
  let current: PdnsRRSet[] = []
  let size = envelope
  for (const r of rrsets) {
    const s = Buffer.byteLength(JSON.stringify(r)) + (current.length > 0 ? 1 : 0)
    if (current.length > 0 && size + s > maxBytes) {
      chunks.push(current)
      current = []
      size = envelope
      size += s - 1
    } else {
      size += s
    }
    current.push(r)
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}

function rrsetToEndpoint(rrset: PdnsRRSet): Endpoint | undefined {
  const type = rrset.type.toUpperCase()
  const targets = (rrset.records ?? []).filter((r) => !r.disabled).map((r) => fromPdnsContent(type, r.content))
  if (targets.length === 0) return undefined
  const ep: Endpoint = {dnsName: normalizeName(rrset.name), recordType: type, targets}
  if (rrset.ttl !== undefined) ep.recordTTL = rrset.ttl
  return normalizeEndpoint(ep)
}

export function toFqdn(name: string): string {
  if (name === '' || name === '.') return '.'
  return name.endsWith('.') ? name : `${name}.`
}

/** roster's target → PowerDNS record content. */
export function toPdnsContent(type: string, target: string): string {
  const t = type.toUpperCase()
  if (t === 'TXT' || t === 'SPF') return quoteTxt(target)
  if (HOST_TYPES.has(t)) return toFqdn(target.trim())
  if (HOST_LAST_TYPES.has(t)) {
    const parts = target.trim().split(/\s+/)
    const last = parts.length - 1
    if (last >= 0) parts[last] = toFqdn(parts[last] ?? '')
    return parts.join(' ')
  }
  return target
}

/** PowerDNS record content → roster's target. */
export function fromPdnsContent(type: string, content: string): string {
  const t = type.toUpperCase()
  if (t === 'TXT' || t === 'SPF') return unquoteTxt(content)
  if (HOST_TYPES.has(t)) return normalizeName(content)
  if (HOST_LAST_TYPES.has(t)) {
    const parts = content.trim().split(/\s+/)
    const last = parts.length - 1
    if (last >= 0) parts[last] = normalizeName(parts[last] ?? '')
    return parts.join(' ')
  }
  return content
}

/**
 * Text → one or more DNS character-strings in presentation format: `"..."`, with `"` and `\`
 * escaped, bytes outside printable ASCII as `\DDD`, split every 255 bytes.
 */
export function quoteTxt(text: string): string {
  const bytes = Buffer.from(text, 'utf8')
  if (bytes.length === 0) return '""'
  const parts: string[] = []
  for (let start = 0; start < bytes.length; start += 255) {
    let s = '"'
    for (const b of bytes.subarray(start, start + 255)) {
      if (b === 0x22) s += '\\"'
      else if (b === 0x5c) s += '\\\\'
      else if (b < 0x20 || b > 0x7e) s += `\\${String(b).padStart(3, '0')}`
      else s += String.fromCharCode(b)
    }
    parts.push(`${s}"`)
  }
  return parts.join(' ')
}

/** The inverse of `quoteTxt`: character-strings are decoded and concatenated. Unquoted text is kept. */
export function unquoteTxt(content: string): string {
  const s = content.trim()
  if (!s.startsWith('"')) return content
  // The common case, one string without escapes, without the byte-wise walk.
  if (s.length >= 2 && s.endsWith('"') && s.indexOf('"', 1) === s.length - 1 && !s.includes('\\')) return s.slice(1, -1)
  const bytes: number[] = []
  let i = 0
  while (i < s.length) {
    const c = s[i]
    if (c === ' ' || c === '\t') {
      i++
      continue
    }
    const quoted = c === '"'
    if (quoted) i++
    while (i < s.length) {
      const ch = s[i] as string
      if (quoted && ch === '"') {
        i++
        break
      }
      if (!quoted && (ch === ' ' || ch === '\t')) break
      if (ch === '\\' && i + 1 < s.length) {
        const d = s.slice(i + 1, i + 4)
        if (/^\d{3}$/.test(d)) {
          bytes.push(Number(d) & 0xff)
          i += 4
        } else {
          bytes.push(...Buffer.from(s[i + 1] as string, 'utf8'))
          i += 2
        }
        continue
      }
      const whole = String.fromCodePoint(s.codePointAt(i) ?? 0xfffd)
      bytes.push(...Buffer.from(whole, 'utf8'))
      i += whole.length
    }
  }
  return Buffer.from(bytes).toString('utf8')
}
