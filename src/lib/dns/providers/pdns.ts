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
import {BackendUnavailableError, InvalidInputError, NotAllowedError, NotFoundError, RosterError} from '../../errors.js'
import {JsonHttpClient} from '../../http/json-client.js'
import type {Changes, Endpoint, Provider, ProviderStats} from '../endpoint.js'
import {endpointKey, normalizeEndpoint, normalizeName} from '../endpoint.js'
import {DEFAULT_PDNS_SERVER_ID, DEFAULT_TTL} from '../options.js'

export interface PdnsProviderOptions {
  /** Base URL of the API, e.g. http://127.0.0.1:8081 (the `/api/v1` part is added). */
  server: string
  apiKey: string
  /** Almost always "localhost" (the default). */
  serverId?: string
  /** Zones to manage; default: every zone the server lists. */
  zones?: string[]
  timeoutMs: number
  /** TTL for a new RRset whose endpoint has none (default DEFAULT_TTL). */
  defaultTtl?: number
  /** The server's request body limit in bytes (default 2 MiB, PowerDNS's `webserver-max-bodysize=2`). */
  maxBodyBytes?: number
}

/** PowerDNS's default `webserver-max-bodysize` is 2 (megabytes), enforced as 2 × 1024 × 1024 bytes. */
export const PDNS_DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024
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

const HOST_TYPES = new Set(['CNAME', 'NS', 'PTR', 'DNAME', 'ALIAS'])
const HOST_LAST_TYPES = new Set(['SRV', 'MX'])

export class PdnsProvider implements Provider {
  readonly name = 'pdns'
  readonly stats: ProviderStats = {readCalls: 0, writeCalls: 0}

  private readonly http: JsonHttpClient
  private readonly serverId: string
  private readonly defaultTtl: number
  private readonly maxBodyBytes: number
  private readonly configuredZones?: string[]
  private zones?: ZoneRef[]
  /** TTL of every RRset read, so an update without a TTL keeps the one it had. */
  private readonly knownTtl = new Map<string, number>()

  constructor(options: PdnsProviderOptions) {
    if (!options.apiKey) throw new InvalidInputError('pdns-api-key is required: the PowerDNS API key', {field: 'pdns-api-key'})
    this.serverId = options.serverId ?? DEFAULT_PDNS_SERVER_ID
    if (this.serverId.trim() === '') throw InvalidInputError.forField('pdns-server-id', this.serverId, 'must not be empty')
    this.http = new JsonHttpClient({
      baseUrl: options.server,
      basePath: `/api/v1/servers/${encodeURIComponent(this.serverId)}`,
      urlField: 'pdns-server',
      what: 'PowerDNS API',
      timeoutMs: options.timeoutMs,
      headers: {'x-api-key': options.apiKey},
    })
    this.defaultTtl = options.defaultTtl ?? DEFAULT_TTL
    this.maxBodyBytes = options.maxBodyBytes ?? PDNS_DEFAULT_MAX_BODY_BYTES
    if (options.zones && options.zones.length > 0) this.configuredZones = options.zones.map((z) => normalizeName(z))
  }

  async records(): Promise<Endpoint[]> {
    const zones = await this.resolveZones()
    const out: Endpoint[] = []
    for (const zone of zones) {
      this.stats.readCalls++
      const body = await this.getJson<PdnsZone>(`/zones/${encodeURIComponent(zone.id)}`, `zone "${zone.name}"`, zone.name)
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
          `no zone on ${this.http.where} holds "${ep.dnsName}" (zones: ${zones.map((z) => z.name).join(', ') || 'none'})`,
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
    this.stats.readCalls++
    const list = await this.getJson<PdnsZone[]>('/zones', 'zone list')
    this.zones = list.map((z) => ({name: normalizeName(z.name), id: z.id || z.name}))
    return this.zones
  }

  private async patchZone(zone: ZoneRef, rrsets: PdnsRRSet[], onDone: (n: number) => void): Promise<void> {
    const body = JSON.stringify({rrsets})
    // A body over the server's limit: PowerDNS resets the connection while reading it, or answers
    // a bare 400 when the excess is small. Only a body that could be over any limit is halved.
    const mayBeTooLarge = rrsets.length > 1 && Buffer.byteLength(body) > PDNS_SMALLEST_BODY_LIMIT
    let status: number
    try {
      this.stats.writeCalls++
      // REPLACE and DELETE are idempotent, but a resent over-large body would only fail again: no retries.
      const res = await this.http.request('PATCH', `/zones/${encodeURIComponent(zone.id)}`, {
        body,
        idempotent: false,
        accept: mayBeTooLarge ? [400] : [],
        describeError: (s, b) => this.describeError(s, b, zone.name),
      })
      status = res.status
    } catch (error) {
      if (mayBeTooLarge && isBodyTooLargeSymptom(error)) return this.patchHalves(zone, rrsets, onDone)
      throw error
    }
    if (status === 400) return this.patchHalves(zone, rrsets, onDone)
    onDone(rrsets.length)
  }

  private async patchHalves(zone: ZoneRef, rrsets: PdnsRRSet[], onDone: (n: number) => void): Promise<void> {
    const mid = Math.ceil(rrsets.length / 2)
    await this.patchZone(zone, rrsets.slice(0, mid), onDone)
    await this.patchZone(zone, rrsets.slice(mid), onDone)
  }

  private async getJson<T extends object>(path: string, what: string, zone?: string): Promise<T> {
    const res = await this.http.get<unknown>(path, {describeError: (s, b) => this.describeError(s, b, zone)})
    if (res.body === null || typeof res.body !== 'object') throw new RosterError(`${this.http.where} sent a ${what} that is not JSON`)
    return res.body as T
  }

  /** PowerDNS's statuses, in its terms; others fall back to the client's mapping. */
  private describeError(status: number, body: unknown, zone?: string): RosterError | undefined {
    const where = this.http.where
    if (status === 401 || status === 403) {
      return new NotAllowedError(`${where} refused the API key (HTTP ${status}); check it against the server's api-key setting`)
    }
    if (status === 404) {
      if (zone !== undefined) return new NotFoundError(`zone "${zone}" not found on ${where} (server id "${this.serverId}")`)
      return new NotFoundError(`PowerDNS server id "${this.serverId}" not found at ${this.http.origin}`)
    }
    if (status === 422 || status === 400) {
      return new InvalidInputError(`PowerDNS rejected the change${zone ? ` to zone "${zone}"` : ''}: ${pdnsErrorText(body)}`)
    }
    if (status >= 500) return new BackendUnavailableError(`${where} failed with HTTP ${status}: ${pdnsErrorText(body)}`)
    return undefined
  }
}

function isBodyTooLargeSymptom(error: unknown): boolean {
  if (!(error instanceof BackendUnavailableError)) return false
  return /ECONNRESET|EPIPE|UND_ERR_SOCKET|other side closed/.test(error.message)
}

/** PowerDNS's `{"error": "..."}`, or the start of a plain-text answer. */
function pdnsErrorText(body: unknown): string {
  const error = (body as {error?: unknown} | undefined)?.error
  if (typeof error === 'string') return error
  const t = (typeof body === 'string' ? body : body === undefined ? '' : JSON.stringify(body)).trim()
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

/** roster's target → PowerDNS record content (host names fully qualified, TXT quoted). */
export function toPdnsContent(type: string, target: string): string {
  return mapContent(type, target, quoteTxt, toFqdn)
}

/** PowerDNS record content → roster's target. */
export function fromPdnsContent(type: string, content: string): string {
  return mapContent(type, content, unquoteTxt, normalizeName)
}

/** Applies `txt` to TXT/SPF text and `host` to the host names in CNAME-like data and in the last field of SRV/MX. */
function mapContent(type: string, value: string, txt: (text: string) => string, host: (name: string) => string): string {
  const t = type.toUpperCase()
  if (t === 'TXT' || t === 'SPF') return txt(value)
  if (HOST_TYPES.has(t)) return host(value.trim())
  if (HOST_LAST_TYPES.has(t)) {
    const parts = value.trim().split(/\s+/)
    const last = parts.length - 1
    if (last >= 0) parts[last] = host(parts[last] ?? '')
    return parts.join(' ')
  }
  return value
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
