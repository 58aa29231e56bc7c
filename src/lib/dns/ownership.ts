/**
 * Ownership: which records roster may touch, kept in TXT records in external-dns's format (its
 * "TXT registry"; here called ownership, because in roster the registry is the service registry),
 * so that roster and external-dns can hand a zone to each other.
 *
 * Format (external-dns endpoint/labels.go, registry/txt, registry/mapper):
 * - value: `heritage=external-dns,external-dns/owner=OWNER[,external-dns/resource=RESOURCE]`,
 *   labels sorted by key, each as `external-dns/KEY=VALUE` (external-dns's endpoint targets carry
 *   it in double quotes; a provider writes it as one TXT string; roster's endpoints hold it
 *   unquoted, and quotes are stripped when reading, as external-dns does);
 * - name, new format: the record type in lower case and a dash before the first label:
 *   `a-www.example.com`, `cname-...`, `aaaa-...`, `srv-_x._tcp...`, `txt-...`; with
 *   txt-prefix `P`: `P` + `a-www` + `.example.com` (`txt.a-www.example.com` for `txt.`); with
 *   txt-suffix `S`: `a-www` + `S` + `.example.com`. When the prefix or suffix contains
 *   `%{record_type}`, the type is substituted there instead and no `TYPE-` is added
 *   (`prefix%{record_type}.` → `prefixcname.www.example.com`). Prefix and suffix are exclusive.
 *   The name is split at the first dot (external-dns's behaviour without zone hints), so a record
 *   at a zone apex needs a prefix ending in a dot (txt-prefix `own-%{record_type}.`).
 * - legacy format (external-dns before v0.12 and the "both formats" versions): the record's own
 *   name with the prefix/suffix but no type (`www.example.com`, `txt.www.example.com`); it owns
 *   every type at the name except AAAA. Read, never written.
 *
 * What roster writes: the new format only — external-dns's behaviour since it dropped the dual
 * format (v0.18); every external-dns version since v0.12 reads it. Legacy records that exist are
 * honoured when reading; when roster deletes a record whose ownership is only in a legacy record,
 * it deletes that legacy record too, unless another record at the name still relies on it; when it
 * updates such a record, it adds the new-format record (external-dns's migration).
 */
import {type Changes, type Endpoint, type Provider, type ProviderStats, endpointKey, normalizeName} from './endpoint.js'

export const HERITAGE = 'external-dns'
const RECORD_TYPE_TEMPLATE = '%{record_type}'
/** Types external-dns recognises in the `TYPE-` position of an ownership name (registry/mapper). */
const OWNERSHIP_NAME_TYPES = ['A', 'AAAA', 'CNAME', 'NS', 'MX', 'PTR', 'SRV', 'NAPTR', 'TXT']

export interface OwnershipOptions {
  ownerId: string
  txtPrefix?: string
  txtSuffix?: string
}

/** `labels` → the TXT value external-dns writes (unquoted). */
export function serializeOwnershipLabels(labels: Record<string, string>): string {
  const tokens = [`heritage=${HERITAGE}`]
  for (const key of Object.keys(labels).sort()) {
    const value = labels[key]
    if (value === undefined) continue
    tokens.push(`${HERITAGE}/${key}=${value}`)
  }
  return tokens.join(',')
}

/** The labels in a TXT value, or undefined when it is not an external-dns ownership value. */
export function parseOwnershipLabels(text: string): Record<string, string> | undefined {
  const tokens = text.replace(/^"+|"+$/g, '').split(',')
  const labels: Record<string, string> = {}
  let heritage = false
  for (const token of tokens) {
    const parts = token.split('=')
    if (parts.length !== 2) continue
    const [key, value] = parts as [string, string]
    if (key === 'heritage') {
      if (value !== HERITAGE) return undefined
      heritage = true
      continue
    }
    if (key.startsWith(HERITAGE + '/')) labels[key.slice(HERITAGE.length + 1)] = value
  }
  return heritage ? labels : undefined
}

/** Maps record names to ownership-record names and back (external-dns's affix name mapper). */
export class OwnershipNameMapper {
  private readonly prefix: string
  private readonly suffix: string

  constructor(txtPrefix = '', txtSuffix = '') {
    this.prefix = txtPrefix.toLowerCase()
    this.suffix = txtSuffix.toLowerCase()
    if (this.prefix !== '' && this.suffix !== '') throw new Error('txt-prefix and txt-suffix are mutually exclusive')
  }

  private get typeInAffix(): boolean {
    return this.prefix.includes(RECORD_TYPE_TEMPLATE) || this.suffix.includes(RECORD_TYPE_TEMPLATE)
  }

  private join(first: string, rest: string | undefined, prefix: string, suffix: string): string {
    return rest === undefined ? prefix + first + suffix : `${prefix}${first}${suffix}.${rest}`
  }

  private split(name: string): [string, string | undefined] {
    const dot = name.indexOf('.')
    return dot < 0 ? [name, undefined] : [name.slice(0, dot), name.slice(dot + 1)]
  }

  /** New-format ownership name for a record. */
  toOwnershipName(dnsName: string, recordType: string): string {
    const type = recordType.toLowerCase()
    const [first, rest] = this.split(normalizeName(dnsName))
    const prefix = this.prefix.replaceAll(RECORD_TYPE_TEMPLATE, type)
    const suffix = this.suffix.replaceAll(RECORD_TYPE_TEMPLATE, type)
    return this.join(this.typeInAffix ? first : `${type}-${first}`, rest, prefix, suffix)
  }

  /** Legacy (untyped) ownership name for a record. */
  toLegacyName(dnsName: string): string {
    const [first, rest] = this.split(normalizeName(dnsName))
    return this.join(first, rest, this.prefix.replaceAll(RECORD_TYPE_TEMPLATE, ''), this.suffix.replaceAll(RECORD_TYPE_TEMPLATE, ''))
  }

  /**
   * The record an ownership name stands for: its name and type ('' for the legacy format), or
   * undefined when the name does not carry the prefix/suffix.
   */
  toRecord(ownershipName: string): {dnsName: string; recordType: string} | undefined {
    const name = normalizeName(ownershipName)
    if (this.suffix !== '') {
      const dots = (this.suffix.match(/\./g) ?? []).length
      const labels = name.split('.')
      if (labels.length < 1 + dots) return undefined
      const head = labels.slice(0, 1 + dots).join('.')
      const rest = labels.length > 1 + dots ? labels.slice(1 + dots).join('.') : undefined
      const got = this.dropAffix(head)
      if (got === undefined) return undefined
      return {dnsName: rest === undefined ? got.name : `${got.name}.${rest}`, recordType: got.type}
    }
    const got = this.dropAffix(name)
    return got === undefined ? undefined : {dnsName: got.name, recordType: got.type}
  }

  private dropAffix(name: string): {name: string; type: string} | undefined {
    let prefix = this.prefix
    let suffix = this.suffix
    if (this.typeInAffix) {
      for (const type of OWNERSHIP_NAME_TYPES) {
        const t = type.toLowerCase()
        const p = prefix.replaceAll(RECORD_TYPE_TEMPLATE, t)
        const s = suffix.replaceAll(RECORD_TYPE_TEMPLATE, t)
        if (suffix === '' && name.startsWith(p)) return {name: name.slice(p.length), type}
        if (suffix !== '' && name.endsWith(s)) return {name: name.slice(0, name.length - s.length), type}
      }
      prefix = prefix.replaceAll(RECORD_TYPE_TEMPLATE, '')
      suffix = suffix.replaceAll(RECORD_TYPE_TEMPLATE, '')
    }
    let bare: string
    if (suffix === '') {
      if (!name.startsWith(prefix)) return undefined
      bare = name.slice(prefix.length)
    } else {
      if (!name.endsWith(suffix)) return undefined
      bare = name.slice(0, name.length - suffix.length)
    }
    const dash = bare.indexOf('-')
    if (dash > 0) {
      const head = bare.slice(0, dash).toUpperCase()
      if (OWNERSHIP_NAME_TYPES.includes(head)) return {name: bare.slice(dash + 1), type: head}
    }
    return {name: bare, type: ''}
  }
}

interface OwnershipRecord {
  /** The TXT record's name. */
  dnsName: string
  /** The TXT value as read (unquoted). */
  value: string
  labels: Record<string, string>
  legacy: boolean
}

/**
 * A Provider wrapper: `records()` hides the ownership TXT records and attaches `labels.owner`
 * (and `labels.resource`) to the records they own; `applyChanges()` adds and removes the
 * ownership records of created and deleted records. Updates and deletes of records not owned by
 * this owner id are dropped here too, as a second line of defence after the plan.
 */
export class OwnershipProvider implements Provider {
  readonly name: string
  private readonly mapper: OwnershipNameMapper
  /** Ownership records read by the last records(), by the key of the record they own. */
  private byRecordKey = new Map<string, OwnershipRecord>()
  /** Legacy ownership records by the record name they own. */
  private legacyByName = new Map<string, OwnershipRecord>()
  /** Names of every record read (non-ownership), with their types. */
  private typesByName = new Map<string, Set<string>>()
  private claimMap = new Map<string, string>()

  constructor(
    private readonly inner: Provider,
    private readonly options: OwnershipOptions,
  ) {
    this.name = inner.name
    if (options.ownerId === '') throw new Error('owner id cannot be empty')
    this.mapper = new OwnershipNameMapper(options.txtPrefix, options.txtSuffix)
  }

  get stats(): ProviderStats {
    return this.inner.stats
  }

  /**
   * Ownership claims that have no record (a record gone, its ownership TXT left): endpointKey →
   * owner. Valid after records(). The plan refuses to create on another owner's claim.
   */
  claims(): ReadonlyMap<string, string> {
    return this.claimMap
  }

  async records(): Promise<Endpoint[]> {
    const all = await this.inner.records()
    const records: Endpoint[] = []
    this.byRecordKey = new Map()
    this.legacyByName = new Map()
    this.typesByName = new Map()
    for (const ep of all) {
      if (ep.recordType.toUpperCase() === 'TXT') {
        let value: string | undefined
        let labels: Record<string, string> | undefined
        for (const t of ep.targets) {
          if (!t.includes('heritage=')) continue
          labels = parseOwnershipLabels(t)
          if (labels !== undefined) {
            value = t
            break
          }
        }
        if (value !== undefined && labels !== undefined) {
          const owned = this.mapper.toRecord(ep.dnsName)
          if (owned !== undefined) {
            const rec: OwnershipRecord = {dnsName: normalizeName(ep.dnsName), value, labels, legacy: owned.recordType === ''}
            if (rec.legacy) this.legacyByName.set(owned.dnsName, rec)
            else this.byRecordKey.set(endpointKey({dnsName: owned.dnsName, recordType: owned.recordType}), rec)
            continue
          }
        }
      }
      records.push(ep)
    }
    for (const ep of records) {
      const name = normalizeName(ep.dnsName)
      const type = ep.recordType.toUpperCase()
      let types = this.typesByName.get(name)
      if (types === undefined) this.typesByName.set(name, (types = new Set()))
      types.add(type)
      const own = this.ownershipOf(name, type)
      if (own !== undefined) ep.labels = {...ep.labels, ...own.labels}
    }
    this.claimMap = new Map()
    for (const [key, rec] of this.byRecordKey) {
      const [name, type] = key.split(' ') as [string, string]
      if (!this.typesByName.get(name)?.has(type) && rec.labels.owner !== undefined) this.claimMap.set(key, rec.labels.owner)
    }
    return records
  }

  private ownershipOf(name: string, type: string): OwnershipRecord | undefined {
    const rec = this.byRecordKey.get(endpointKey({dnsName: name, recordType: type}))
    if (rec !== undefined) return rec
    if (type === 'AAAA') return undefined
    return this.legacyByName.get(name)
  }

  private ownershipRecord(ep: Endpoint, labels: Record<string, string>): Endpoint {
    const txt: Endpoint = {
      dnsName: this.mapper.toOwnershipName(ep.dnsName, ep.recordType),
      recordType: 'TXT',
      targets: [serializeOwnershipLabels(labels)],
    }
    return txt
  }

  private ownedLabels(ep: Endpoint): Record<string, string> {
    const labels: Record<string, string> = {owner: this.options.ownerId}
    if (ep.labels?.resource !== undefined && ep.labels.resource !== '') labels.resource = ep.labels.resource
    return labels
  }

  /** The ownership changes a set of record changes implies. */
  ownershipChanges(changes: Changes): Changes {
    const mine = (ep: Endpoint): boolean => ep.labels?.owner === this.options.ownerId
    const out: Changes = {
      create: [...changes.create],
      updateOld: [],
      updateNew: [],
      delete: changes.delete.filter(mine),
    }
    changes.updateOld.forEach((old, i) => {
      const next = changes.updateNew[i]
      if (next !== undefined && mine(old)) {
        out.updateOld.push(old)
        out.updateNew.push(next)
      }
    })
    const deleting = new Set(
      out.delete.map((ep) => endpointKey({dnsName: normalizeName(ep.dnsName), recordType: ep.recordType.toUpperCase()})),
    )
    const creatingOwnership = new Set<string>()
    for (const ep of changes.create) {
      const txt = this.ownershipRecord(ep, this.ownedLabels(ep))
      const existing = this.byRecordKey.get(endpointKey({dnsName: normalizeName(ep.dnsName), recordType: ep.recordType.toUpperCase()}))
      if (existing !== undefined) {
        if (existing.value === txt.targets[0]) continue
        if (existing.labels.owner !== this.options.ownerId) continue // the plan reports it as a conflict
        out.delete.push({dnsName: existing.dnsName, recordType: 'TXT', targets: [existing.value]})
      }
      creatingOwnership.add(txt.dnsName)
      out.create.push(txt)
    }
    const legacyDeleted = new Set<string>()
    for (const ep of out.delete.slice()) {
      if (ep.recordType.toUpperCase() === 'TXT' && ep.labels?.owner === undefined) continue // an ownership record added above
      const name = normalizeName(ep.dnsName)
      const type = ep.recordType.toUpperCase()
      const rec = this.byRecordKey.get(endpointKey({dnsName: name, recordType: type}))
      if (rec !== undefined) {
        out.delete.push({dnsName: rec.dnsName, recordType: 'TXT', targets: [rec.value]})
        continue
      }
      const legacy = type === 'AAAA' ? undefined : this.legacyByName.get(name)
      if (legacy === undefined || legacyDeleted.has(name)) continue
      const stillRelies = [...(this.typesByName.get(name) ?? [])].some(
        (t) =>
          t !== 'AAAA' &&
          !deleting.has(endpointKey({dnsName: name, recordType: t})) &&
          !this.byRecordKey.has(endpointKey({dnsName: name, recordType: t})),
      )
      if (!stillRelies && !creatingOwnership.has(legacy.dnsName)) {
        legacyDeleted.add(name)
        out.delete.push({dnsName: legacy.dnsName, recordType: 'TXT', targets: [legacy.value]})
      }
    }
    for (const ep of out.updateNew) {
      const key = endpointKey({dnsName: normalizeName(ep.dnsName), recordType: ep.recordType.toUpperCase()})
      if (!this.byRecordKey.has(key)) out.create.push(this.ownershipRecord(ep, this.ownedLabels(ep)))
    }
    return out
  }

  async applyChanges(changes: Changes, onProgress?: (done: number, total: number) => void): Promise<void> {
    await this.inner.applyChanges(this.ownershipChanges(changes), onProgress)
  }

  async adjustEndpoints(endpoints: Endpoint[]): Promise<Endpoint[]> {
    return this.inner.adjustEndpoints ? this.inner.adjustEndpoints(endpoints) : endpoints
  }

  async close(): Promise<void> {
    await this.inner.close?.()
  }
}
