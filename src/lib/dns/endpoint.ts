/**
 * The DNS model shared by sources, the plan, ownership and providers (external-dns's seams).
 *
 * Conventions every part keeps:
 * - `dnsName` is lower-case, fully qualified, with no trailing dot ("www.example.com").
 * - `targets` are sorted and de-duplicated by `normalizeEndpoint`.
 * - TXT targets hold the text itself, unquoted (`heritage=external-dns,...`); a provider adds
 *   the quoting its wire format needs (zone file, PowerDNS content, webhook JSON as
 *   external-dns sends it) and removes it when it reads.
 * - SRV targets are "priority weight port target" with the target host without trailing dot.
 * - CNAME/NS/MX hosts without trailing dot.
 */
export const MANAGED_RECORD_TYPES = ['A', 'AAAA', 'CNAME', 'SRV', 'TXT'] as const
export type RecordType = (typeof MANAGED_RECORD_TYPES)[number] | 'NS' | 'MX' | 'SOA' | 'PTR' | 'CAA' | (string & {})

export interface Endpoint {
  dnsName: string
  recordType: RecordType
  targets: string[]
  /** Seconds; undefined means the provider's or the zone's default. */
  recordTTL?: number
  /** Ownership labels (owner, resource) attached by the ownership layer; never written as records. */
  labels?: Record<string, string>
}

/** What a plan decides; `updateOld[i]` is replaced by `updateNew[i]`. In JSON output this is the plan. */
export interface Changes {
  create: Endpoint[]
  updateOld: Endpoint[]
  updateNew: Endpoint[]
  delete: Endpoint[]
}

export function emptyChanges(): Changes {
  return {create: [], updateOld: [], updateNew: [], delete: []}
}

/** Desired endpoints come from sources. A source that fails throws, and the run stops before writing. */
export interface Source {
  readonly name: string
  endpoints(): Promise<Endpoint[]>
}

/** Counts of the remote calls a provider made, for JSON output, tests and benchmarks. */
export interface ProviderStats {
  readCalls: number
  writeCalls: number
}

export interface Provider {
  readonly name: string
  readonly stats: ProviderStats
  /** Every record in the provider's zone(s), ownership TXT records included, as plain endpoints. */
  records(): Promise<Endpoint[]>
  /**
   * Apply the changes (ownership TXT records already included by the ownership layer).
   * `onProgress(done, total)` is called as records are written. Never called under dry-run.
   */
  applyChanges(changes: Changes, onProgress?: (done: number, total: number) => void): Promise<void>
  /** Optional provider adjustment of desired endpoints (webhook `POST /adjustendpoints`). */
  adjustEndpoints?(endpoints: Endpoint[]): Promise<Endpoint[]>
  close?(): Promise<void>
}

export function normalizeName(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, '')
}

export function normalizeEndpoint(ep: Endpoint): Endpoint {
  const type = ep.recordType.toUpperCase()
  const targets = [...new Set(ep.targets.map((t) => (type === 'TXT' ? t : normalizeTarget(type, t))))].sort()
  const out: Endpoint = {dnsName: normalizeName(ep.dnsName), recordType: type, targets}
  if (ep.recordTTL !== undefined) out.recordTTL = ep.recordTTL
  if (ep.labels !== undefined) out.labels = {...ep.labels}
  return out
}

function normalizeTarget(type: string, target: string): string {
  const t = target.trim()
  if (type === 'CNAME' || type === 'NS' || type === 'PTR') return normalizeName(t)
  if (type === 'SRV' || type === 'MX') {
    const parts = t.split(/\s+/)
    const last = parts.length - 1
    if (last >= 0) parts[last] = normalizeName(parts[last] ?? '')
    return parts.join(' ')
  }
  if (type === 'AAAA') return canonicalIPv6(t)
  return t
}

/**
 * RFC 5952 text for an IPv6 address (the WHATWG URL serializer compresses the longest run of
 * zero fields, lower-case), so "2001:DB8:0::1" from a source and "2001:db8::1" from a server
 * compare equal. Anything that is not an IPv6 address is returned lower-cased, for the
 * provider to reject.
 */
export function canonicalIPv6(address: string): string {
  try {
    const host = new URL(`http://[${address}]/`).hostname
    return host.slice(1, -1)
  } catch {
    return address.toLowerCase()
  }
}

/** "www.example.com A" — the identity of a record set. */
export function endpointKey(ep: Pick<Endpoint, 'dnsName' | 'recordType'>): string {
  return `${ep.dnsName} ${ep.recordType}`
}
