/**
 * An in-memory Provider for unit tests of the plan, ownership and pipeline: record sets by
 * name+type, applied the way a real provider applies Changes. `failWrites` makes every write
 * throw, to prove that a code path never writes.
 */
import type {Changes, Endpoint, Provider, ProviderStats} from '../../src/lib/dns/endpoint.js'
import {endpointKey, normalizeEndpoint} from '../../src/lib/dns/endpoint.js'

export class MemoryProvider implements Provider {
  readonly name = 'memory'
  readonly stats: ProviderStats = {readCalls: 0, writeCalls: 0}
  readonly zone = new Map<string, Endpoint>()
  readonly applied: Changes[] = []
  failWrites = false

  constructor(records: Endpoint[] = []) {
    for (const r of records) this.add(r)
  }

  private add(r: Endpoint): void {
    const ep = normalizeEndpoint({
      dnsName: r.dnsName,
      recordType: r.recordType,
      targets: r.targets,
      ...(r.recordTTL === undefined ? {} : {recordTTL: r.recordTTL}),
    })
    const key = endpointKey(ep)
    const seen = this.zone.get(key)
    if (seen) seen.targets = [...new Set([...seen.targets, ...ep.targets])].sort()
    else this.zone.set(key, ep)
  }

  private remove(r: Endpoint): void {
    const ep = normalizeEndpoint(r)
    const key = endpointKey(ep)
    const seen = this.zone.get(key)
    if (!seen) return
    seen.targets = seen.targets.filter((t) => !ep.targets.includes(t))
    if (seen.targets.length === 0 || ep.targets.length === 0) this.zone.delete(key)
  }

  async records(): Promise<Endpoint[]> {
    this.stats.readCalls++
    return [...this.zone.values()].map((e) => ({...e, targets: [...e.targets]}))
  }

  async applyChanges(changes: Changes): Promise<void> {
    if (this.failWrites) throw new Error('MemoryProvider: write attempted while writes are forbidden')
    this.stats.writeCalls++
    this.applied.push(structuredClone(changes))
    for (const r of changes.delete) this.remove(r)
    for (const r of changes.updateOld) this.remove(r)
    for (const r of changes.create) this.add(r)
    for (const r of changes.updateNew) this.add(r)
  }

  /** "name TYPE target|target" lines, sorted: the zone as a test sees it. */
  dump(): string[] {
    return [...this.zone.values()].map((e) => `${e.dnsName} ${e.recordType} ${e.targets.join('|')}`).sort()
  }
}
