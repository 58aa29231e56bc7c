import assert from 'node:assert/strict'
import {before, describe, it} from 'node:test'

import {
  WEBHOOK_MEDIA_TYPE,
  WebhookProvider,
  checkMediaType,
  domainFilterMatcher,
  fromWire,
  parseDomainFilter,
  toWire,
} from '../../src/lib/dns/providers/webhook.js'
import {loadRegexEngine} from '../../src/lib/text/regex.js'
import {InvalidInputError} from '../../src/lib/errors.js'

const OWNERSHIP = 'heritage=external-dns,external-dns/owner=roster,external-dns/resource=service/default/web'

describe('webhook endpoint JSON', () => {
  it('sends TXT targets with the literal quotes external-dns sends, and removes them on the way back', () => {
    const wire = toWire({dnsName: 'a-www.example.com', recordType: 'TXT', targets: [OWNERSHIP]})
    assert.deepEqual(wire, {dnsName: 'a-www.example.com', recordType: 'TXT', targets: [`"${OWNERSHIP}"`]})
    assert.equal(JSON.stringify(wire.targets), JSON.stringify([`"${OWNERSHIP}"`]))
    assert.ok(JSON.stringify(wire).includes('"targets":["\\"heritage=external-dns,'))
    assert.deepEqual(fromWire(wire), {dnsName: 'a-www.example.com', recordType: 'TXT', targets: [OWNERSHIP]})
  })

  it('reads TXT targets a provider returns without quotes as they are', () => {
    assert.deepEqual(fromWire({dnsName: 't.example.com', recordType: 'TXT', targets: ['plain']})?.targets, ['plain'])
  })

  it('uses external-dns field names; omits an unset TTL; keeps labels', () => {
    const wire = toWire({dnsName: 'WWW.Example.com.', recordType: 'a', targets: ['192.0.2.1'], labels: {owner: 'roster'}})
    assert.deepEqual(wire, {dnsName: 'www.example.com', recordType: 'A', targets: ['192.0.2.1'], labels: {owner: 'roster'}})
    assert.deepEqual(toWire({dnsName: 'x.example.com', recordType: 'A', targets: [], recordTTL: 60}).recordTTL, 60)
  })

  it('reads keys case-insensitively, like Go, and normalizes names', () => {
    assert.deepEqual(fromWire({DNSName: 'WWW.example.com.', RecordType: 'CNAME', Targets: ['Target.example.com.'], RecordTTL: 300}), {
      dnsName: 'www.example.com',
      recordType: 'CNAME',
      targets: ['target.example.com'],
      recordTTL: 300,
    })
  })

  it('ignores items that are not endpoints', () => {
    assert.equal(fromWire(null), undefined)
    assert.equal(fromWire({targets: ['x']}), undefined)
  })
})

describe('webhook domain filter (external-dns DomainFilter.Match)', () => {
  before(loadRegexEngine)
  const cases: [string, Record<string, unknown>, string, boolean][] = [
    ['no filter matches all', {}, 'anything.example.net', true],
    ['include matches the zone itself', {include: ['example.com']}, 'example.com', true],
    ['include matches subdomains', {include: ['example.com']}, 'a.b.example.com', true],
    ['include does not match a longer label', {include: ['example.com']}, 'badexample.com', false],
    ['include does not match other domains', {include: ['example.com']}, 'example.org', false],
    ['leading dot: subdomains only', {include: ['.example.com']}, 'example.com', false],
    ['leading dot: subdomain', {include: ['.example.com']}, 'www.example.com', true],
    ['exclude wins', {include: ['example.com'], exclude: ['internal.example.com']}, 'db.internal.example.com', false],
    ['exclude only', {exclude: ['internal.example.com']}, 'www.example.com', true],
    ['older {filters} answer', {filters: ['example.com']}, 'www.example.com', true],
    ['older {filters} answer, outside', {filters: ['example.com']}, 'www.example.org', false],
    ['case and trailing dot', {include: ['Example.COM.']}, 'WWW.example.com.', true],
    ['regex include', {regexInclude: '\\.example\\.com$'}, 'www.example.com', true],
    ['regex include, outside', {regexInclude: '\\.example\\.com$'}, 'www.example.org', false],
    ['regex exclusion wins', {regexInclude: '.*', regexExclude: '^internal\\.'}, 'internal.example.com', false],
  ]
  for (const [label, body, name, expected] of cases) {
    it(`${label}: ${name} → ${expected}`, () => {
      assert.equal(domainFilterMatcher(parseDomainFilter(body))(name), expected)
    })
  }
})

describe('webhook media type negotiation', () => {
  it('accepts the v1 media type, with or without spaces', () => {
    checkMediaType(WEBHOOK_MEDIA_TYPE, 'u')
    checkMediaType('application/external.dns.webhook+json; version=1', 'u')
  })
  it('rejects another content type, saying what was expected', () => {
    assert.throws(
      () => checkMediaType('text/html; charset=utf-8', 'http://127.0.0.1:1'),
      (e: unknown) => e instanceof InvalidInputError && e.message.includes('text/html') && e.message.includes(WEBHOOK_MEDIA_TYPE),
    )
  })
  it('rejects an unsupported version, naming it', () => {
    assert.throws(
      () => checkMediaType('application/external.dns.webhook+json;version=2', 'u'),
      (e: unknown) => e instanceof InvalidInputError && /version 2/.test(e.message) && /supports version 1/.test(e.message),
    )
  })
  it('rejects a URL that is not one, naming the setting and no CLI flag', () => {
    assert.throws(
      () => new WebhookProvider({url: 'nope', timeoutMs: 1000}),
      (e: unknown) => e instanceof InvalidInputError && e.field === 'webhook-url' && /^webhook-url "nope": is not a URL$/.test(e.message),
    )
  })
})
