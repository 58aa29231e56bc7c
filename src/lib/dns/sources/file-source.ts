/**
 * The `file` source: records as code. YAML or JSON files holding endpoints in the shape of
 * external-dns's DNSEndpoint `spec.endpoints` (`dnsName`, `recordType`, `targets`, `recordTTL`).
 * Accepted layouts, per file (YAML files may hold several documents):
 * - a bare list of endpoints;
 * - `{endpoints: [...]}`;
 * - a DNSEndpoint object (`{apiVersion, kind: DNSEndpoint, spec: {endpoints: [...]}}`), or a
 *   list of them, or a Kubernetes `List` with `items`.
 * A bad entry is InvalidInputError naming the file, the position and the field; a key roster does
 * not know (a typo such as `recordTtl`, or an external-dns field roster does not implement such as
 * `setIdentifier`) is one too, naming the nearest known key.
 */
import {InvalidInputError, firstLineOf} from '../../errors.js'
import {readInputFile} from '../../fs/input-file.js'
import {checkNestingDepth, checkTextNestingDepth} from '../../text/input-limits.js'
import {unknownKeyMessage} from '../../text/nearest.js'
import {type Endpoint, type Source, MANAGED_RECORD_TYPES, normalizeName} from '../endpoint.js'

const MANAGED = new Set<string>(MANAGED_RECORD_TYPES)

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function bad(file: string, where: string, field: string, value: unknown, reason: string): InvalidInputError {
  return new InvalidInputError(`${file}: ${where}: ${field} ${JSON.stringify(value)}: ${reason}`, {field})
}

/** The keys each shape may hold. */
const ENDPOINT_KEYS = ['dnsName', 'recordType', 'targets', 'recordTTL'] as const
const DNSENDPOINT_KEYS = ['apiVersion', 'kind', 'metadata', 'spec', 'status'] as const
const SPEC_KEYS = ['endpoints'] as const
const LIST_KEYS = ['apiVersion', 'kind', 'metadata', 'items'] as const

function checkKeys(obj: Record<string, unknown>, known: readonly string[], file: string, where: string): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) throw new InvalidInputError(`${file}: ${where}: ${unknownKeyMessage(key, known)}`, {field: key})
  }
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/
const HOSTNAME = /^(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.?$/i

export function validateTarget(type: string, target: string): string | undefined {
  switch (type) {
    case 'A':
      return IPV4.test(target) ? undefined : 'not an IPv4 address'
    case 'AAAA':
      return target.includes(':') && /^[0-9a-f:.]+$/i.test(target) ? undefined : 'not an IPv6 address'
    case 'CNAME':
      return HOSTNAME.test(target) ? undefined : 'not a host name'
    case 'SRV': {
      const parts = target.trim().split(/\s+/)
      if (parts.length !== 4) return 'an SRV target is "priority weight port host"'
      if (!parts.slice(0, 3).every((p) => /^\d+$/.test(p) && Number(p) <= 65535)) return 'priority, weight and port are 0..65535'
      return HOSTNAME.test(parts[3] as string) ? undefined : 'the SRV host is not a host name'
    }
    case 'TXT':
      return target.startsWith('heritage=') ? 'values starting with "heritage=" are reserved for ownership records' : undefined
    default:
      return undefined
  }
}

function toEndpoint(raw: unknown, file: string, where: string): Endpoint {
  if (!isRecord(raw)) throw bad(file, where, 'endpoint', raw, 'expected an object with dnsName, recordType, targets')
  checkKeys(raw, ENDPOINT_KEYS, file, where)
  const dnsName = raw.dnsName
  if (typeof dnsName !== 'string' || !HOSTNAME.test(dnsName.trim())) throw bad(file, where, 'dnsName', dnsName, 'expected a DNS name')
  const typeRaw = raw.recordType ?? 'A'
  if (typeof typeRaw !== 'string') throw bad(file, where, 'recordType', typeRaw, `expected one of ${MANAGED_RECORD_TYPES.join(', ')}`)
  const recordType = typeRaw.toUpperCase()
  if (!MANAGED.has(recordType)) throw bad(file, where, 'recordType', typeRaw, `expected one of ${MANAGED_RECORD_TYPES.join(', ')}`)
  const targets = raw.targets
  if (!Array.isArray(targets) || targets.length === 0 || !targets.every((t) => typeof t === 'string' || typeof t === 'number')) {
    throw bad(file, where, 'targets', targets, 'expected a non-empty list of strings')
  }
  const list = targets.map((t) => String(t).trim())
  for (const t of list) {
    const reason = validateTarget(recordType, t)
    if (reason !== undefined) throw bad(file, where, 'targets', t, reason)
  }
  if (recordType === 'CNAME' && list.length > 1) throw bad(file, where, 'targets', targets, 'a CNAME has exactly one target')
  const ep: Endpoint = {dnsName: normalizeName(dnsName), recordType, targets: list}
  if (raw.recordTTL !== undefined && raw.recordTTL !== null) {
    const ttl = raw.recordTTL
    if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 0 || ttl > 2147483647) {
      throw bad(file, where, 'recordTTL', ttl, 'expected whole seconds, 0..2147483647')
    }
    ep.recordTTL = ttl
  }
  return ep
}

/** Endpoints in one parsed document; `where` names positions like `spec.endpoints[3]`. */
export function endpointsFromDocument(doc: unknown, file: string, docLabel = ''): Endpoint[] {
  const at = (path: string): string => (docLabel === '' ? path : `${docLabel} ${path}`)
  if (doc === null || doc === undefined) return []
  if (Array.isArray(doc)) {
    // A list of endpoints, or a list of DNSEndpoint objects.
    return doc.flatMap((item, i) =>
      isRecord(item) && (item.spec !== undefined || item.kind !== undefined)
        ? endpointsFromDocument(item, file, at(`[${i}]`))
        : [toEndpoint(item, file, at(`[${i}]`))],
    )
  }
  if (!isRecord(doc)) throw bad(file, at('document'), 'document', doc, 'expected a list of endpoints or an object with endpoints')
  if (Array.isArray(doc.items)) {
    checkKeys(doc, LIST_KEYS, file, at('document'))
    return doc.items.flatMap((item, i) => endpointsFromDocument(item, file, at(`items[${i}]`)))
  }
  if (isRecord(doc.spec)) {
    checkKeys(doc, DNSENDPOINT_KEYS, file, at('document'))
    checkKeys(doc.spec, SPEC_KEYS, file, at('spec'))
    const eps = doc.spec.endpoints
    if (eps === undefined) return []
    if (!Array.isArray(eps)) throw bad(file, at('spec.endpoints'), 'endpoints', eps, 'expected a list')
    return eps.map((e, i) => toEndpoint(e, file, at(`spec.endpoints[${i}]`)))
  }
  if (doc.endpoints !== undefined) {
    checkKeys(doc, SPEC_KEYS, file, at('document'))
    if (!Array.isArray(doc.endpoints)) throw bad(file, at('endpoints'), 'endpoints', doc.endpoints, 'expected a list')
    return doc.endpoints.map((e, i) => toEndpoint(e, file, at(`endpoints[${i}]`)))
  }
  if (doc.dnsName !== undefined) return [toEndpoint(doc, file, at('document'))]
  throw bad(file, at('document'), 'document', Object.keys(doc), 'expected a list of endpoints, {endpoints: [...]} or a DNSEndpoint')
}

export async function readEndpointsFile(file: string): Promise<Endpoint[]> {
  // Input limits: the path, size and UTF-8 (input-file.ts), and nesting depth before any parser recurses.
  const text = await readInputFile(file, {field: 'file'})
  checkTextNestingDepth(text, 'file', `file ${JSON.stringify(file)}`)
  if (/\.json$/i.test(file)) {
    let doc: unknown
    try {
      doc = JSON.parse(text)
    } catch (error) {
      throw InvalidInputError.forField('file', file, `not valid JSON: ${(error as Error).message}`)
    }
    checkNestingDepth(doc, 'file', `file ${JSON.stringify(file)}`)
    return endpointsFromDocument(doc, file)
  }
  const YAML = await import('yaml')
  // Warnings (an unresolved tag, say) are refused like errors, and never printed by the library.
  const docs = YAML.parseAllDocuments(text, {logLevel: 'silent'})
  const out: Endpoint[] = []
  const list = Array.isArray(docs) ? docs : [docs]
  for (const [i, d] of list.entries()) {
    const problem = d.errors[0] ?? d.warnings[0]
    if (problem) throw InvalidInputError.forField('file', file, `not valid YAML: ${firstLineOf(problem)}`)
    const doc: unknown = d.toJS()
    checkNestingDepth(doc, 'file', `file ${JSON.stringify(file)}`)
    out.push(...endpointsFromDocument(doc, file, list.length > 1 ? `document ${i + 1}` : ''))
  }
  return out
}

export class FileSource implements Source {
  readonly name: string
  constructor(private readonly files: string[]) {
    this.name = `file(${files.join(', ')})`
  }

  async endpoints(): Promise<Endpoint[]> {
    const all = await Promise.all(this.files.map((f) => readEndpointsFile(f)))
    return all.flat()
  }
}
