/**
 * The `registry` source: DNS-SD records from the service registry, in the manner of Consul's DNS
 * interface. For every service NAME in namespace NS, under zone Z (`--registry-zone`):
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

/** The DNS-SD endpoints of a list of services (pure; exported for tests). */
export function registryEndpoints(services: Iterable<Service>, zoneInput: string): Endpoint[] {
  const zone = normalizeName(zoneInput)
  const byKey = new Map<string, Endpoint>()
  const add = (dnsName: string, recordType: string, target: string, resource: string): void => {
    const key = `${dnsName} ${recordType}`
    const ep = byKey.get(key)
    if (ep === undefined) byKey.set(key, {dnsName, recordType, targets: [target], labels: {resource}})
    else if (!ep.targets.includes(target)) ep.targets.push(target)
  }
  for (const s of services) {
    let url: URL
    try {
      url = new URL(s.endpoint)
    } catch {
      continue // the registry validates endpoints; a malformed one is skipped rather than failing DNS
    }
    const name = label(s.name)
    const ns = label(s.namespace)
    const resource = `registry/${s.namespace}/${s.name}`
    const addressName = `${name}.${ns}.${zone}`
    const host = url.hostname.replace(/^\[|\]$/g, '')
    const port = url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80
    const family = isIP(host)
    const srvHost = family === 0 ? normalizeName(host) : addressName
    add(`_${name}._tcp.${ns}.${zone}`, 'SRV', `${SRV_PRIORITY} ${SRV_WEIGHT} ${port} ${srvHost}`, resource)
    if (family === 4) add(addressName, 'A', host, resource)
    if (family === 6) add(addressName, 'AAAA', host.toLowerCase(), resource)
  }
  for (const ep of byKey.values()) ep.targets.sort()
  return [...byKey.values()]
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
      throw new InvalidInputError('registryZone is required: the zone DNS-SD names are built under', {field: 'registryZone'})
  }

  async endpoints(): Promise<Endpoint[]> {
    const services: Service[] = []
    for await (const s of this.registry.listServices()) services.push(s)
    return registryEndpoints(services, this.zone)
  }
}
