/**
 * The zonefile provider: an RFC 1035 master file on disk (settings zone-file and zone), the
 * embedded default. records() parses the file; applyChanges() edits the parsed records (removing
 * exactly the targets deleted or replaced, adding the created ones), increases the SOA serial, and
 * replaces the file atomically, keeping its owner, group and mode (src/lib/fs/atomic-write.ts), so a
 * `named` that reads it through its group still can. Records it does not touch
 * (other types, other owners, foreign names) are kept. If the file changed between records() and
 * applyChanges(), nothing is written (ConflictError).
 */
import {createHash} from 'node:crypto'
import {ConflictError, InvalidInputError, NotFoundError, setting} from '../../errors.js'
import {writeFileAtomic} from '../../fs/atomic-write.js'
import {readInputFileSync} from '../../fs/input-file.js'
import {pathError} from '../../fs/path-check.js'
import {DEFAULT_TTL} from '../options.js'
import {type Changes, type Endpoint, type Provider, type ProviderStats, endpointKey, normalizeName} from '../endpoint.js'
import {type ZoneFile, type ZoneRecord, nextSerial, parseZoneFile, recordTarget, serializeZoneFile, targetToRdata} from '../zone-file.js'

export interface ZonefileProviderOptions {
  path: string
  zone: string
  /** TTL of created records without one, when the file has no $TTL. Default DEFAULT_TTL. */
  defaultTtl?: number
  now?: () => Date
}

export class ZonefileProvider implements Provider {
  readonly name = 'zonefile'
  readonly stats: ProviderStats = {readCalls: 0, writeCalls: 0}
  private readonly zone: string
  private lastDigest: string | undefined

  constructor(private readonly options: ZonefileProviderOptions) {
    this.zone = normalizeName(options.zone)
    if (this.zone === '') throw InvalidInputError.forField('zone', options.zone, 'the zone name (origin) of the zone file is required')
  }

  private read(): {text: string; zone: ZoneFile} {
    const text = readInputFileSync(this.options.path, {
      field: 'zone-file',
      missing: (path) => new NotFoundError(`zone file "${path}": no such file (create it with an SOA record first)`),
    })
    this.stats.readCalls++
    const zone = parseZoneFile(text, {origin: this.zone, file: this.options.path})
    const soa = zone.records.find((r) => r.type === 'SOA')
    if (soa === undefined) throw InvalidInputError.forField('zone-file', this.options.path, 'no SOA record')
    if (soa.name !== this.zone) {
      throw new InvalidInputError(`zone file "${this.options.path}": its SOA is for "${soa.name}", not for zone "${this.zone}"`, {
        field: 'zone',
      })
    }
    return {text, zone}
  }

  async records(): Promise<Endpoint[]> {
    const {text, zone} = this.read()
    this.lastDigest = createHash('sha256').update(text).digest('hex')
    const byKey = new Map<string, Endpoint>()
    for (const r of zone.records) {
      const key = endpointKey({dnsName: r.name, recordType: r.type})
      const target = recordTarget(r)
      const ep = byKey.get(key)
      if (ep === undefined) byKey.set(key, {dnsName: r.name, recordType: r.type, targets: [target], recordTTL: r.ttl})
      else if (!ep.targets.includes(target)) ep.targets.push(target)
    }
    return [...byKey.values()]
  }

  async applyChanges(changes: Changes, onProgress?: (done: number, total: number) => void): Promise<void> {
    const {text, zone} = this.read()
    const digest = createHash('sha256').update(text).digest('hex')
    if (this.lastDigest !== undefined && digest !== this.lastDigest) {
      throw new ConflictError(`zone file "${this.options.path}" changed since it was read; run again`)
    }
    const total = changes.create.length + changes.updateNew.length + changes.delete.length
    const defaultTtl = zone.defaultTtl ?? this.options.defaultTtl ?? DEFAULT_TTL

    // Remove the targets deleted or replaced.
    const removals = new Map<string, Set<string> | 'all'>()
    for (const ep of [...changes.delete, ...changes.updateOld]) {
      const key = endpointKey({dnsName: normalizeName(ep.dnsName), recordType: ep.recordType.toUpperCase()})
      if (ep.targets.length === 0) {
        removals.set(key, 'all')
        continue
      }
      const set = removals.get(key)
      if (set === 'all') continue
      if (set === undefined) removals.set(key, new Set(ep.targets))
      else for (const t of ep.targets) set.add(t)
    }
    const kept: ZoneRecord[] = []
    for (const r of zone.records) {
      const rm = removals.get(endpointKey({dnsName: r.name, recordType: r.type}))
      if (rm === 'all' || (rm !== undefined && rm.has(recordTarget(r)))) continue
      kept.push(r)
    }
    // Add the created and new records, next to the records of the same name when there are some.
    const additions: ZoneRecord[] = []
    for (const ep of [...changes.create, ...changes.updateNew]) {
      const name = normalizeName(ep.dnsName)
      if (name !== this.zone && !name.endsWith('.' + this.zone)) {
        throw InvalidInputError.forField(
          'dnsName',
          ep.dnsName,
          `is outside zone "${this.zone}"; limit the names with ${setting('domain-filter')}`,
        )
      }
      const type = ep.recordType.toUpperCase()
      for (const target of ep.targets) {
        additions.push({name, type, ttl: ep.recordTTL ?? defaultTtl, rdata: targetToRdata(type, target), origin: this.zone})
      }
    }
    const soa = kept.find((r) => r.type === 'SOA') as ZoneRecord
    const serial = Number(soa.rdata[2])
    soa.rdata = [...soa.rdata]
    soa.rdata[2] = String(nextSerial(Number.isFinite(serial) ? serial : 0, this.options.now?.() ?? new Date()))
    const next: ZoneFile = {origin: this.zone, records: [...kept, ...additions]}
    if (zone.defaultTtl !== undefined) next.defaultTtl = zone.defaultTtl
    try {
      await writeFileAtomic(this.options.path, serializeZoneFile(next))
    } catch (error) {
      throw pathError(error, this.options.path, {field: 'zone-file', access: 'write'})
    }
    this.stats.writeCalls++
    this.lastDigest = undefined
    onProgress?.(total, total)
  }
}
