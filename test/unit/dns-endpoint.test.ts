import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {canonicalIPv6, endpointKey, normalizeEndpoint} from '../../src/lib/dns/endpoint.js'

describe('normalizeEndpoint', () => {
  it('lower-cases names, strips the trailing dot, sorts and de-duplicates targets', () => {
    const ep = normalizeEndpoint({
      dnsName: 'WWW.Example.COM.',
      recordType: 'a',
      targets: ['10.0.0.2', '10.0.0.1', '10.0.0.2'],
      recordTTL: 60,
    })
    assert.deepEqual(ep, {dnsName: 'www.example.com', recordType: 'A', targets: ['10.0.0.1', '10.0.0.2'], recordTTL: 60})
    assert.equal(endpointKey(ep), 'www.example.com A')
  })

  it('writes IPv6 addresses the way servers return them (RFC 5952)', () => {
    assert.equal(canonicalIPv6('2001:DB8:0::1'), '2001:db8::1')
    assert.equal(canonicalIPv6('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1')
    const ep = normalizeEndpoint({dnsName: 'v6.example.com', recordType: 'AAAA', targets: ['2001:0db8::0001', '2001:db8::1']})
    assert.deepEqual(ep.targets, ['2001:db8::1'])
  })

  it('normalizes host targets of CNAME and SRV but keeps TXT text as it is', () => {
    assert.deepEqual(normalizeEndpoint({dnsName: 'c.example.com', recordType: 'CNAME', targets: ['Target.Example.com.']}).targets, [
      'target.example.com',
    ])
    assert.deepEqual(
      normalizeEndpoint({dnsName: '_x._tcp.example.com', recordType: 'SRV', targets: ['10 10 9100 Host.Example.com.']}).targets,
      ['10 10 9100 host.example.com'],
    )
    assert.deepEqual(normalizeEndpoint({dnsName: 't.example.com', recordType: 'TXT', targets: ['Mixed Case "text"']}).targets, [
      'Mixed Case "text"',
    ])
  })
})
