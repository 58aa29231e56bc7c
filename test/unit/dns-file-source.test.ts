import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {endpointsFromDocument} from '../../src/lib/dns/sources/file-source.js'
import {InvalidInputError} from '../../src/lib/errors.js'

const rejects = (doc: unknown, message: string, field: string): void => {
  assert.throws(
    () => endpointsFromDocument(doc, 'records.yaml'),
    (e: unknown) => {
      assert.ok(e instanceof InvalidInputError, String(e))
      assert.equal(e.exitCode, 2)
      assert.equal(e.message, message)
      assert.equal(e.field, field)
      return true
    },
  )
}

describe('file source: unknown keys are errors naming the nearest known key', () => {
  it('in an endpoint', () => {
    rejects(
      [{dnsName: 'www.example.com', targets: ['192.0.2.1'], recordTtl: 60}],
      'records.yaml: [0]: unknown key "recordTtl" (did you mean "recordTTL"?)',
      'recordTtl',
    )
  })
  it('an external-dns field roster does not implement', () => {
    rejects(
      {endpoints: [{dnsName: 'www.example.com', targets: ['192.0.2.1'], setIdentifier: 'eu'}]},
      'records.yaml: endpoints[0]: unknown key "setIdentifier" (known keys: dnsName, recordType, targets, recordTTL)',
      'setIdentifier',
    )
  })
  it('in a DNSEndpoint object and its spec', () => {
    const ep = {dnsName: 'www.example.com', targets: ['192.0.2.1']}
    rejects(
      {kind: 'DNSEndpoint', metdata: {name: 'x'}, spec: {endpoints: [ep]}},
      'records.yaml: document: unknown key "metdata" (did you mean "metadata"?)',
      'metdata',
    )
    rejects(
      {kind: 'DNSEndpoint', spec: {endpoint: [ep]}},
      'records.yaml: spec: unknown key "endpoint" (did you mean "endpoints"?)',
      'endpoint',
    )
  })
  it('next to a list of endpoints', () => {
    rejects({endpoints: [], ttl: 5}, 'records.yaml: document: unknown key "ttl" (known keys: endpoints)', 'ttl')
  })
  it('accepts every known key', () => {
    const doc = {
      apiVersion: 'externaldns.k8s.io/v1alpha1',
      kind: 'DNSEndpoint',
      metadata: {name: 'web'},
      spec: {endpoints: [{dnsName: 'www.example.com', recordType: 'A', targets: ['192.0.2.1'], recordTTL: 60}]},
      status: {},
    }
    assert.deepEqual(endpointsFromDocument(doc, 'records.yaml'), [
      {dnsName: 'www.example.com', recordType: 'A', targets: ['192.0.2.1'], recordTTL: 60},
    ])
  })
})
