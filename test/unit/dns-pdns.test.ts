import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {
  PdnsProvider,
  fromPdnsContent,
  quoteTxt,
  splitByBodySize,
  toPdnsContent,
  unquoteTxt,
  type PdnsRRSet,
} from '../../src/lib/dns/providers/pdns.js'
import {InvalidInputError} from '../../src/lib/errors.js'

const OWNERSHIP = 'heritage=external-dns,external-dns/owner=roster,external-dns/resource=service/default/web'

describe('pdns TXT quoting', () => {
  const cases: [string, string, string][] = [
    ['plain', 'hello', '"hello"'],
    ['empty', '', '""'],
    ['external-dns ownership', OWNERSHIP, `"${OWNERSHIP}"`],
    ['quotes and backslash', 'say "hi" \\ bye', '"say \\"hi\\" \\\\ bye"'],
    ['spaces and commas', 'a b, c', '"a b, c"'],
    ['non-ASCII as \\DDD', 'é', '"\\195\\169"'],
  ]
  for (const [label, text, wire] of cases) {
    it(`quotes ${label}`, () => {
      assert.equal(quoteTxt(text), wire)
      assert.equal(unquoteTxt(wire), text)
    })
  }

  it('splits text longer than 255 bytes into character-strings and joins them back', () => {
    const text = 'x'.repeat(600)
    const wire = quoteTxt(text)
    assert.equal(wire, `"${'x'.repeat(255)}" "${'x'.repeat(255)}" "${'x'.repeat(90)}"`)
    assert.equal(unquoteTxt(wire), text)
  })

  it('reads several character-strings as PowerDNS returns them', () => {
    assert.equal(unquoteTxt('"v=spf1 " "include:x.example.com" "-all"'), 'v=spf1 include:x.example.com-all')
  })

  it('keeps unquoted content as it is', () => {
    assert.equal(unquoteTxt('no quotes'), 'no quotes')
  })

  it('decodes emoji written raw or escaped', () => {
    assert.equal(unquoteTxt('"a😀b"'), 'a😀b')
    assert.equal(unquoteTxt(quoteTxt('a😀b')), 'a😀b')
  })
})

describe('pdns record content', () => {
  const cases: [string, string, string][] = [
    ['A', '192.0.2.1', '192.0.2.1'],
    ['AAAA', '2001:db8::1', '2001:db8::1'],
    ['CNAME', 'target.example.com', 'target.example.com.'],
    ['SRV', '10 5 8080 host.example.com', '10 5 8080 host.example.com.'],
    ['MX', '10 mail.example.com', '10 mail.example.com.'],
    ['TXT', 'a "b"', '"a \\"b\\""'],
  ]
  for (const [type, target, content] of cases) {
    it(`${type}: ${target} <-> ${content}`, () => {
      assert.equal(toPdnsContent(type, target), content)
      assert.equal(fromPdnsContent(type, content), target)
    })
  }
  it('lower-cases hosts read back', () => {
    assert.equal(fromPdnsContent('CNAME', 'Target.Example.COM.'), 'target.example.com')
  })
})

describe('pdns body splitting', () => {
  const rr = (i: number): PdnsRRSet => ({
    name: `h${i}.example.com.`,
    type: 'A',
    ttl: 300,
    changetype: 'REPLACE',
    records: [{content: '192.0.2.1', disabled: false}],
  })

  it('keeps everything in one body when it fits', () => {
    const all = Array.from({length: 100}, (_, i) => rr(i))
    assert.equal(splitByBodySize(all, 2 * 1024 * 1024).length, 1)
  })

  it('splits at RRset boundaries, each body within the limit, nothing lost or reordered', () => {
    const all = Array.from({length: 1000}, (_, i) => rr(i))
    const limit = 10_000
    const chunks = splitByBodySize(all, limit)
    assert.ok(chunks.length > 1)
    for (const c of chunks) assert.ok(Buffer.byteLength(JSON.stringify({rrsets: c})) <= limit)
    assert.deepEqual(chunks.flat(), all)
  })

  it('sends an RRset bigger than the limit alone', () => {
    const big: PdnsRRSet = {...rr(0), records: [{content: quoteTxt('y'.repeat(5000)), disabled: false}], type: 'TXT'}
    const chunks = splitByBodySize([rr(1), big, rr(2)], 1000)
    assert.deepEqual(chunks, [[rr(1)], [big], [rr(2)]])
  })
})

describe('PdnsProvider options', () => {
  it('rejects a server that is not a URL, naming the setting and no CLI flag', () => {
    assert.throws(
      () => new PdnsProvider({server: 'not a url', apiKey: 'k', serverId: 'localhost', timeoutMs: 1000}),
      (e: unknown) => e instanceof InvalidInputError && e.field === 'pdns-server' && e.message === 'pdns-server "not a url": is not a URL',
    )
  })
  it('requires an API key', () => {
    assert.throws(
      () => new PdnsProvider({server: 'http://127.0.0.1:8081', apiKey: '', serverId: 'localhost', timeoutMs: 1000}),
      (e: unknown) => e instanceof InvalidInputError && e.field === 'pdns-api-key' && !/--/.test(e.message),
    )
  })
})
