/**
 * The `registry` source: DNS-SD records from the service registry, in the manner of Consul's DNS
 * interface. For every service NAME in namespace NS, under zone Z (registry-zone):
 * - `_NAME._tcp.NS.Z  SRV  10 10 PORT HOST` for each endpoint, where PORT is the URL's port (80
 *   for http and 443 for https when the URL has none) and HOST is the URL's host name; when the
 *   host is an IP literal, HOST is `NAME.NS.Z` instead (an SRV target must be a name);
 * - `NAME.NS.Z  A` (IPv4) and `NAME.NS.Z  AAAA` (IPv6) holding every endpoint host that is an IP
 *   literal. Endpoints with host names get no A/AAAA records (their own DNS answers for them).
 * Names and namespaces are lower-cased; characters outside [a-z0-9-] become "-". Every record
 * carries the ownership resource `registry/NS/NAME`. Priority and weight are 10 and 10 for every
 * endpoint: all are equal, as in Consul.
 */
import {isIP} from 'node:net'

import type {Service} from '../../registry/model.js'
import {InvalidInputError} from '../../errors.js'
import {type Endpoint, type Source, normalizeName} from '../endpoint.js'

export const SRV_PRIORITY = 10
export const SRV_WEIGHT = 10

function label(text: string): string {
  const l = text
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/^-+|-+$/g, '')
  return l.slice(0, 62) || 'x'
}

/**
 * Builds the DNS-SD endpoints one service at a time, so a source never holds the registry's
 * services (labels, descriptions, ...), only the endpoints they become.
 */
export class RegistryEndpointBuilder {
  private readonly zone: string
  private readonly byKey = new Map<string, Endpoint>()

  constructor(zone: string) {
    this.zone = normalizeName(zone)
  }

  add(service: Service): void {
    let url: URL
    try {
      url = new URL(service.endpoint)
    } catch {
      return // the registry validates endpoints; a malformed one is skipped rather than failing DNS
    }
    const name = label(service.name)
    const ns = label(service.namespace)
    const resource = `registry/${service.namespace}/${service.name}`
    const addressName = `${name}.${ns}.${this.zone}`
    const host = url.hostname.replace(/^\[|\]$/g, '')
    const port = url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80
    const family = isIP(host)
    const srvHost = family === 0 ? normalizeName(host) : addressName
    this.record(`_${name}._tcp.${ns}.${this.zone}`, 'SRV', `${SRV_PRIORITY} ${SRV_WEIGHT} ${port} ${srvHost}`, resource)
    if (family === 4) this.record(addressName, 'A', host, resource)
    if (family === 6) this.record(addressName, 'AAAA', host.toLowerCase(), resource)
  }

  /** The endpoints so far, in the order their names first appeared, targets sorted. */
  endpoints(): Endpoint[] {
    const out = [...this.byKey.values()]
    for (const ep of out) ep.targets.sort()
    return out
  }

  private record(dnsName: string, recordType: string, target: string, resource: string): void {
    const key = `${dnsName} ${recordType}`
    const ep = this.byKey.get(key)
    if (ep === undefined) this.byKey.set(key, {dnsName, recordType, targets: [target], labels: {resource}})
    else if (!ep.targets.includes(target)) ep.targets.push(target)
  }
}

/** The DNS-SD endpoints of a list of services (pure; exported for tests). */
export function registryEndpoints(services: Iterable<Service>, zone: string): Endpoint[] {
  const builder = new RegistryEndpointBuilder(zone)
  for (const s of services) builder.add(s)
  return builder.endpoints()
}

export interface ServiceLister {
  listServices(filter?: {namespace?: string}): AsyncIterable<Service>
}

export class RegistrySource implements Source {
  readonly name = 'registry'
  constructor(
    private readonly registry: ServiceLister,
    private readonly zone: string,
  ) {
    if (normalizeName(zone) === '')
      throw new InvalidInputError('registry-zone is required: the zone DNS-SD names are built under', {field: 'registry-zone'})
  }

  /** Streams the registry's services into the builder; none is kept once its records are added. */
  async endpoints(): Promise<Endpoint[]> {
    const builder = new RegistryEndpointBuilder(this.zone)
    for await (const s of this.registry.listServices()) builder.add(s)
    return builder.endpoints()
  }
}
