/**
 * The webhook provider: external-dns's webhook provider protocol, version 1, so any external-dns
 * webhook provider (a sidecar on localhost) plugs in.
 *
 * - Media type `application/external.dns.webhook+json;version=1` in Accept and Content-Type.
 * - `GET /` negotiates: the answer must carry that media type; its body is the provider's domain
 *   filter (`{include, exclude}` or `{regexInclude, regexExclude}`, or the older `{filters}`).
 * - `GET /records` → endpoints; `POST /records` with the changes, answered 204;
 *   `POST /adjustendpoints` → the endpoints as the provider wants them.
 * - JSON as external-dns marshals it: endpoints `{dnsName, targets, recordType, setIdentifier,
 *   recordTTL, labels, providerSpecific}`; changes `{create, updateOld, updateNew, delete}` — the
 *   names of current external-dns and of the published OpenAPI spec. external-dns before v0.16
 *   marshalled them without tags (`Create`, `UpdateOld`, ...); Go providers read either, and
 *   `changesKeyCase: 'pascal'` sends those for a provider that insists.
 * - TXT targets travel as external-dns's TXT registry sends them, wrapped in literal quotes
 *   (`"\"heritage=external-dns,...\""`); the quotes are removed on the way back.
 * - Records outside the negotiated domain filter are never sent, and not returned.
 */
import {InvalidInputError, RosterError} from '../../errors.js'
import {type JsonResponse, JsonHttpClient, type RequestOptions} from '../../http/json-client.js'
import type {Changes, Endpoint, Provider, ProviderStats} from '../endpoint.js'
import {normalizeEndpoint, normalizeName} from '../endpoint.js'
import {compileRegex, loadRegexEngine, RegexSyntaxError, type Pattern} from '../../text/regex.js'

export const WEBHOOK_MEDIA_TYPE = 'application/external.dns.webhook+json;version=1'
const MEDIA_TYPE_NAME = 'application/external.dns.webhook+json'
const SUPPORTED_VERSION = '1'

export interface WebhookProviderOptions {
  /** The provider's base URL, e.g. http://127.0.0.1:8888 */
  url: string
  timeoutMs: number
  /** Key case of the POST /records body; default 'camel' (`create`, `updateOld`, ...). */
  changesKeyCase?: 'camel' | 'pascal'
}

/** An endpoint as external-dns marshals it. */
export interface WebhookEndpoint {
  dnsName: string
  targets?: string[]
  recordType: string
  setIdentifier?: string
  recordTTL?: number
  labels?: Record<string, string>
  providerSpecific?: {name: string; value: string}[]
}

export interface WebhookDomainFilter {
  include: string[]
  exclude: string[]
  regexInclude?: string
  regexExclude?: string
}

export class WebhookProvider implements Provider {
  readonly name = 'webhook'
  readonly stats: ProviderStats = {readCalls: 0, writeCalls: 0}
  /** Endpoints left out because the provider's domain filter does not match them. */
  skippedOutsideDomainFilter = 0

  private readonly http: JsonHttpClient
  private readonly url: string
  private readonly pascal: boolean
  private filter?: WebhookDomainFilter
  private matcher?: (name: string) => boolean

  constructor(options: WebhookProviderOptions) {
    this.http = new JsonHttpClient({baseUrl: options.url, urlField: 'webhook-url', what: 'webhook provider', timeoutMs: options.timeoutMs})
    this.url = this.http.origin
    this.pascal = options.changesKeyCase === 'pascal'
  }

  /** `GET /`: checks the media type and version, and returns the provider's domain filter. */
  async negotiate(): Promise<WebhookDomainFilter> {
    if (this.filter) return this.filter
    this.stats.readCalls++
    const res = await this.call('GET', '/')
    checkMediaType(res.headers['content-type'] ?? '', this.url)
    const body = this.json(res, 'GET /')
    const filter = parseDomainFilter(body, this.url)
    await loadRegexEngine()
    this.matcher = domainFilterMatcher(filter, this.url)
    this.filter = filter
    return filter
  }

  /** True when the negotiated domain filter lets roster manage `name` (negotiate first). */
  handles(name: string): boolean {
    return this.matcher ? this.matcher(name) : true
  }

  async records(): Promise<Endpoint[]> {
    await this.negotiate()
    this.stats.readCalls++
    const body = this.list(await this.call('GET', '/records'), 'GET /records')
    const out: Endpoint[] = []
    for (const item of body) {
      const ep = fromWire(item)
      if (ep && this.handles(ep.dnsName)) out.push(ep)
    }
    return out
  }

  async applyChanges(changes: Changes, onProgress?: (done: number, total: number) => void): Promise<void> {
    await this.negotiate()
    const keep = (ep: Endpoint): boolean => {
      const ok = this.handles(normalizeName(ep.dnsName))
      if (!ok) this.skippedOutsideDomainFilter++
      return ok
    }
    const create = changes.create.filter(keep)
    const del = changes.delete.filter(keep)
    const updateOld: Endpoint[] = []
    const updateNew: Endpoint[] = []
    changes.updateNew.forEach((next, i) => {
      const old = changes.updateOld[i]
      if (!old) return
      if (keep(next) && this.handles(normalizeName(old.dnsName))) {
        updateOld.push(old)
        updateNew.push(next)
      }
    })
    const total = create.length + updateNew.length + del.length
    if (total === 0) return
    const k = this.pascal
      ? {create: 'Create', updateOld: 'UpdateOld', updateNew: 'UpdateNew', delete: 'Delete'}
      : {create: 'create', updateOld: 'updateOld', updateNew: 'updateNew', delete: 'delete'}
    const body: Record<string, WebhookEndpoint[]> = {}
    // external-dns omits empty lists (omitempty)
    if (create.length > 0) body[k.create] = create.map(toWire)
    if (updateOld.length > 0) body[k.updateOld] = updateOld.map(toWire)
    if (updateNew.length > 0) body[k.updateNew] = updateNew.map(toWire)
    if (del.length > 0) body[k.delete] = del.map(toWire)
    this.stats.writeCalls++
    await this.call('POST', '/records', {body: JSON.stringify(body)})
    onProgress?.(total, total)
  }

  async adjustEndpoints(endpoints: Endpoint[]): Promise<Endpoint[]> {
    await this.negotiate()
    const inside = endpoints.filter((ep) => {
      const ok = this.handles(normalizeName(ep.dnsName))
      if (!ok) this.skippedOutsideDomainFilter++
      return ok
    })
    if (inside.length === 0) return []
    this.stats.readCalls++
    // A pure computation on the provider's side: safe to retry.
    const res = await this.call('POST', '/adjustendpoints', {body: JSON.stringify(inside.map(toWire)), idempotent: true}, true)
    const body = this.list(res, 'POST /adjustendpoints')
    // Providers that drop labels would lose the ownership resource: restore them by name and type.
    const labelsByKey = new Map(
      inside.filter((e) => e.labels).map((e) => [`${normalizeName(e.dnsName)} ${e.recordType.toUpperCase()}`, e.labels]),
    )
    const out: Endpoint[] = []
    for (const item of body) {
      const ep = fromWire(item, true)
      if (!ep || !this.handles(ep.dnsName)) continue
      const labels = labelsByKey.get(`${ep.dnsName} ${ep.recordType}`)
      if (ep.labels === undefined && labels !== undefined) ep.labels = {...labels}
      out.push(ep)
    }
    return out
  }

  /** One call in protocol v1: the webhook media type in Accept (when an answer is read) and Content-Type. */
  private call(
    method: 'GET' | 'POST',
    path: string,
    options: RequestOptions = {},
    wantJson = method === 'GET',
  ): Promise<JsonResponse<unknown>> {
    const headers: Record<string, string> = {}
    if (options.body !== undefined) headers['content-type'] = WEBHOOK_MEDIA_TYPE
    headers.accept = wantJson ? WEBHOOK_MEDIA_TYPE : '*/*'
    return this.http.request(method, path, {
      ...options,
      headers,
      describeError: (status, body, where) => {
        if (status !== 406 && status !== 415) return undefined
        return new InvalidInputError(
          `${where} refused ${method} ${path} with HTTP ${status} (media type ${WEBHOOK_MEDIA_TYPE}): ${detailOf(body)}`,
          {field: 'webhook-url'},
        )
      },
    })
  }

  private json(res: JsonResponse<unknown>, call: string): unknown {
    if (typeof res.body !== 'object' || res.body === null)
      throw new RosterError(`${this.http.where} answered ${call} with a body that is not JSON`)
    return res.body
  }

  private list(res: JsonResponse<unknown>, call: string): unknown[] {
    const body = this.json(res, call)
    if (!Array.isArray(body)) throw new RosterError(`${this.http.where} answered ${call} with something other than a list`)
    return body
  }
}

function detailOf(body: unknown): string {
  const text = typeof body === 'string' ? body : body === undefined ? '' : JSON.stringify(body)
  return text.trim().slice(0, 300) || '(empty answer)'
}

/** Fails unless the Content-Type is the webhook media type at a version roster speaks. */
export function checkMediaType(contentType: string, url: string): void {
  const [type = '', ...params] = contentType.split(';').map((s) => s.trim())
  if (type.toLowerCase() !== MEDIA_TYPE_NAME) {
    throw new InvalidInputError(
      `webhook provider at ${url} answered the negotiation with Content-Type "${contentType || '(none)'}", not ${WEBHOOK_MEDIA_TYPE}: is it an external-dns webhook provider?`,
      {field: 'webhook-url'},
    )
  }
  const version = params
    .map((p) => p.split('='))
    .find(([k]) => k?.trim().toLowerCase() === 'version')?.[1]
    ?.trim()
    .replace(/^"|"$/g, '')
  if (version !== SUPPORTED_VERSION) {
    throw new InvalidInputError(
      `webhook provider at ${url} speaks protocol version ${version ?? '(none)'}; roster supports version ${SUPPORTED_VERSION} (${WEBHOOK_MEDIA_TYPE})`,
      {field: 'webhook-url'},
    )
  }
}

/** Go's encoding/json matches keys case-insensitively; so does this. */
function field(obj: Record<string, unknown>, name: string): unknown {
  if (name in obj) return obj[name]
  const lower = name.toLowerCase()
  for (const [k, v] of Object.entries(obj)) if (k.toLowerCase() === lower) return v
  return undefined
}

function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []
}

export function parseDomainFilter(body: unknown, url = 'the webhook provider'): WebhookDomainFilter {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new RosterError(`webhook provider at ${url} answered the negotiation with something other than a domain filter object`)
  }
  const o = body as Record<string, unknown>
  const prep = (list: string[]): string[] => list.map((s) => normalizeName(s)).filter((s) => s !== '')
  const filter: WebhookDomainFilter = {
    include: prep([...stringList(field(o, 'include')), ...stringList(field(o, 'filters'))]),
    exclude: prep(stringList(field(o, 'exclude'))),
  }
  const ri = field(o, 'regexInclude')
  const re = field(o, 'regexExclude')
  if (typeof ri === 'string' && ri !== '') filter.regexInclude = ri
  if (typeof re === 'string' && re !== '') filter.regexExclude = re
  return filter
}

function matchFilters(filters: string[], domain: string, emptyValue: boolean): boolean {
  if (filters.length === 0) return emptyValue
  const dots = (s: string): number => s.split('.').length - 1
  for (const f of filters) {
    if (f.startsWith('.')) {
      if (domain.endsWith(f)) return true
    } else if (dots(domain) === dots(f)) {
      if (domain === f) return true
    } else if (domain.endsWith(`.${f}`)) {
      return true
    }
  }
  return false
}

/** external-dns's DomainFilter.Match: regexes when given (the exclusion wins), else include/exclude lists. */
export function domainFilterMatcher(filter: WebhookDomainFilter, url = 'the webhook provider'): (name: string) => boolean {
  const compile = (src: string): Pattern => {
    try {
      return compileRegex(src)
    } catch (error) {
      if (!(error instanceof RegexSyntaxError)) throw error
      throw new RosterError(`webhook provider at ${url} sent a domain filter regex roster cannot use: ${src}`)
    }
  }
  if (filter.regexInclude !== undefined || filter.regexExclude !== undefined) {
    const inc = filter.regexInclude !== undefined ? compile(filter.regexInclude) : undefined
    const exc = filter.regexExclude !== undefined ? compile(filter.regexExclude) : undefined
    return (name) => {
      const d = normalizeName(name)
      if (exc) return !exc.test(d)
      return inc ? inc.test(d) : true
    }
  }
  return (name) => {
    const d = normalizeName(name)
    return matchFilters(filter.include, d, true) && !matchFilters(filter.exclude, d, false)
  }
}

/** roster's endpoint → external-dns's JSON; TXT targets get the literal quotes external-dns sends. */
export function toWire(ep: Endpoint): WebhookEndpoint {
  const type = ep.recordType.toUpperCase()
  const out: WebhookEndpoint = {
    dnsName: normalizeName(ep.dnsName),
    targets: ep.targets.map((t) => (type === 'TXT' ? `"${t}"` : t)),
    recordType: type,
  }
  if (ep.recordTTL !== undefined && ep.recordTTL > 0) out.recordTTL = ep.recordTTL
  if (ep.labels !== undefined && Object.keys(ep.labels).length > 0) out.labels = {...ep.labels}
  return out
}

/** external-dns's JSON → roster's endpoint (labels dropped unless asked: ownership comes from TXT records). */
export function fromWire(item: unknown, keepLabels = false): Endpoint | undefined {
  if (item === null || typeof item !== 'object') return undefined
  const o = item as Record<string, unknown>
  const dnsName = field(o, 'dnsName')
  const recordType = field(o, 'recordType')
  if (typeof dnsName !== 'string' || typeof recordType !== 'string' || dnsName === '') return undefined
  const type = recordType.toUpperCase()
  const targets = stringList(field(o, 'targets')).map((t) => (type === 'TXT' ? unwrapQuotes(t) : t))
  const ep: Endpoint = {dnsName, recordType: type, targets}
  const ttl = field(o, 'recordTTL')
  if (typeof ttl === 'number' && ttl > 0) ep.recordTTL = ttl
  const labels = field(o, 'labels')
  if (keepLabels && labels && typeof labels === 'object' && Object.keys(labels).length > 0) {
    ep.labels = Object.fromEntries(
      Object.entries(labels as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string'),
    )
  }
  return normalizeEndpoint(ep)
}

function unwrapQuotes(t: string): string {
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1) : t
}
