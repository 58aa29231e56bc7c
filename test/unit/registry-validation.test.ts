import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {InvalidInputError} from '../../src/lib/errors.js'
import {serviceId} from '../../src/lib/registry/service-id.js'
import {
  parseLabels,
  splitEndpointList,
  validateEndpoint,
  validateLabels,
  validateName,
  validateReplicas,
} from '../../src/lib/registry/validation.js'

function rejects(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof InvalidInputError, String(error))
    assert.equal(error.exitCode, 2)
    assert.match(error.message, message)
    assert.ok(!error.message.includes('\n'))
    return true
  })
}

describe('registry validation', () => {
  it('accepts names of letters, digits, _ and -', () => {
    for (const name of ['a', 'prom-1', 'node_exporter', 'A9', 'x'.repeat(63)]) assert.equal(validateName('name', name), name)
  })

  it('rejects names unsafe in a store key', () => {
    rejects(() => validateName('server', 'a/b'), /^server "a\/b": may contain only letters, digits, "_" and "-"$/)
    rejects(() => validateName('server', 'a b'), /^server "a b": /)
    rejects(() => validateName('server', 'a.b'), /^server "a.b": /)
    rejects(() => validateName('server', '..'), /^server "..": /)
    rejects(() => validateName('namespace', ''), /^namespace "": must not be empty$/)
    rejects(() => validateName('name', 'é'), /^name "é": /)
    rejects(() => validateName('name', 'x'.repeat(64)), /at most 63 characters/)
  })

  it('parses -l k=v,k2=v2 from one or several flags', () => {
    assert.deepEqual(parseLabels('label', 'b=2,a=1'), {a: '1', b: '2'})
    assert.deepEqual(parseLabels('label', ['a=1', 'b=2, c=']), {a: '1', b: '2', c: ''})
    assert.deepEqual(parseLabels('label', ['example.com/team=ops']), {'example.com/team': 'ops'})
    assert.deepEqual(parseLabels('label', undefined), {})
    assert.deepEqual(parseLabels('label', ['a=1', 'a=1']), {a: '1'})
  })

  it('rejects bad labels naming the field and the label', () => {
    rejects(() => parseLabels('label', 'a'), /^label "a": expected name=value$/)
    rejects(() => parseLabels('label', 'a=1,-b=2'), /^label "-b=2": label name must be alphanumeric/)
    rejects(() => parseLabels('label', 'a=b c'), /^label "a=b c": label value must be empty or alphanumeric/)
    rejects(() => parseLabels('label', 'a=' + 'x'.repeat(64)), /label value must be at most 63 characters/)
    rejects(() => parseLabels('label', 'Example.com/a=1'), /label prefix must be a lower-case DNS subdomain/)
    rejects(() => parseLabels('label', '/a=1'), /label prefix must not be empty/)
    rejects(() => parseLabels('label', 'a.com/=1'), /label name must not be empty/)
    rejects(() => parseLabels('label', ['a=1', 'a=2']), /given twice/)
    rejects(() => validateLabels('labels', {a: {b: 1}}), /label value must be a string/)
    rejects(() => validateLabels('labels', ['a']), /must be a map/)
  })

  it('accepts http and https endpoints and normalizes them', () => {
    assert.equal(validateEndpoint('endpoint', 'http://db1:9100/metrics'), 'http://db1:9100/metrics')
    assert.equal(validateEndpoint('endpoint', 'HTTP://DB1:80'), 'http://db1/')
    assert.equal(validateEndpoint('endpoint', 'https://[::1]:9100/x?a=b'), 'https://[::1]:9100/x?a=b')
  })

  it('rejects endpoints that are not absolute http(s) URLs with a host', () => {
    rejects(() => validateEndpoint('endpoint', 'ftp://x'), /^endpoint "ftp:\/\/x": scheme "ftp" is not allowed; use http or https$/)
    rejects(
      () => validateEndpoint('endpoint', 'db1:9100'),
      /^endpoint "db1:9100": has no scheme; add http:\/\/ or https:\/\/ \(http:\/\/db1:9100\)$/,
    )
    rejects(() => validateEndpoint('endpoint', 'db1'), /has no scheme; add http:\/\/ or https:\/\/ \(http:\/\/db1\)$/)
    rejects(() => validateEndpoint('endpoint', 'mailto:a@b'), /scheme "mailto" is not allowed/)
    rejects(() => validateEndpoint('endpoint', '/metrics'), /must be an absolute http or https URL/)
    rejects(() => validateEndpoint('endpoint', 'http://'), /must be an absolute http or https URL/)
    rejects(() => validateEndpoint('endpoint', 'http://u:p@h/'), /must not contain credentials/)
    rejects(() => validateEndpoint('endpoint', ''), /must not be empty/)
  })

  it('splits ROSTER_ENDPOINTS on commas and whitespace', () => {
    assert.deepEqual(splitEndpointList(' http://a/, http://b/\nhttp://c/ '), ['http://a/', 'http://b/', 'http://c/'])
  })

  it('replicas is a whole number from 1', () => {
    assert.equal(validateReplicas('replicas', '3'), 3)
    rejects(() => validateReplicas('replicas', 0), /^replicas 0: must be a whole number/)
    rejects(() => validateReplicas('replicas', '1.5'), /^replicas "1.5"/)
  })

  it('service IDs are UUIDv5 of namespace and endpoint', () => {
    const a = serviceId('default', 'http://db1:9100/metrics')
    assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    assert.equal(serviceId('default', 'http://db1:9100/metrics'), a)
    assert.notEqual(serviceId('other', 'http://db1:9100/metrics'), a)
    assert.notEqual(serviceId('default', 'http://db2:9100/metrics'), a)
  })
})
