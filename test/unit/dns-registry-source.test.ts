import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {RegistrySource, registryEndpoints} from '../../src/lib/dns/sources/registry-source.js'
import {InvalidInputError} from '../../src/lib/errors.js'
import type {Service} from '../../src/lib/registry/model.js'

function service(name: string, namespace: string, endpoint: string): Service {
  return {id: `${namespace}/${endpoint}`, name, namespace, endpoint, labels: {}, selector: '', servers: [], description: '', modified: ''}
}

const SERVICES = [
  service('node', 'shop', 'http://10.0.0.2:9100/metrics'),
  service('node', 'shop', 'http://10.0.0.1:9100/metrics'),
  service('node', 'shop', 'http://[2001:DB8::5]:9100/metrics'),
  service('node', 'shop', 'https://db1.example.net/metrics'),
  service('Web_API', 'Team.A', 'http://web.example.net/'),
  service('broken', 'shop', 'not a url'),
]

const EXPECTED = [
  {
    dnsName: '_node._tcp.shop.sd.example.com',
    recordType: 'SRV',
    targets: ['10 10 443 db1.example.net', '10 10 9100 node.shop.sd.example.com'],
    labels: {resource: 'registry/shop/node'},
  },
  {dnsName: 'node.shop.sd.example.com', recordType: 'A', targets: ['10.0.0.1', '10.0.0.2'], labels: {resource: 'registry/shop/node'}},
  {dnsName: 'node.shop.sd.example.com', recordType: 'AAAA', targets: ['2001:db8::5'], labels: {resource: 'registry/shop/node'}},
  {
    dnsName: '_web-api._tcp.team-a.sd.example.com',
    recordType: 'SRV',
    targets: ['10 10 80 web.example.net'],
    labels: {resource: 'registry/Team.A/Web_API'},
  },
]

describe('registry source', () => {
  it('builds DNS-SD SRV and A/AAAA endpoints from services', () => {
    assert.deepEqual(registryEndpoints(SERVICES, 'SD.Example.com.'), EXPECTED)
  })

  it('streams the services: each is read once, as it arrives, and the output is the same', async () => {
    const handedOut: string[] = []
    const lister = {
      async *listServices(): AsyncIterable<Service> {
        for (const s of SERVICES) {
          handedOut.push(s.endpoint)
          yield {...s}
        }
      },
    }
    const endpoints = await new RegistrySource(lister, 'sd.example.com').endpoints()
    assert.deepEqual(endpoints, EXPECTED)
    assert.deepEqual(
      handedOut,
      SERVICES.map((s) => s.endpoint),
    )
  })

  it('a source without a zone is an error naming the setting', () => {
    assert.throws(
      () => new RegistrySource({listServices: async function* () {}}, ''),
      (e: unknown) => e instanceof InvalidInputError && e.field === 'registry-zone' && !e.message.includes('--'),
    )
  })
})
