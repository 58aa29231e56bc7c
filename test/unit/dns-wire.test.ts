import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import dnsPacket from 'dns-packet'

import {
  CLASS,
  OPCODE,
  TYPE,
  WireWriter,
  canonicalNameWire,
  flagsFor,
  nameToLabels,
  parseMessage,
  readName,
  typeCode,
  typeName,
  writeHeader,
} from '../../src/lib/dns/wire/message.js'
import {RdataError, formatIPv6, parseIPv6, rdataToText, writeRdata} from '../../src/lib/dns/wire/rdata.js'
import {type UpdateOperation, buildAxfrQuery, buildUpdateMessage, packUpdateBatches} from '../../src/lib/dns/wire/update.js'

/** Writes one record's RDATA and reads it back as endpoint text. */
function roundTrip(type: number, target: string): string {
  const w = new WireWriter()
  writeRdata(w, type, target)
  const buf = w.finish()
  return rdataToText(type, buf, 0, buf.length)
}

describe('names', () => {
  it('splits names with escapes and rejects over-long labels', () => {
    assert.deepEqual(
      nameToLabels('a\\.b.example.com.').map((l) => l.toString()),
      ['a.b', 'example', 'com'],
    )
    assert.deepEqual(
      nameToLabels('\\065bc.test').map((l) => l.toString()),
      ['Abc', 'test'],
    )
    assert.deepEqual(nameToLabels('.'), [])
    assert.throws(() => nameToLabels(`${'x'.repeat(64)}.test`), /63 octets/)
    assert.throws(() => nameToLabels('a..b'), /empty label/)
  })

  it('writes canonical (lower-case, uncompressed) wire names', () => {
    assert.equal(canonicalNameWire('Roster-Key.').toString('hex'), '0a726f737465722d6b657900')
  })

  it('compresses repeated suffixes and reads them back', () => {
    const w = new WireWriter()
    w.name('www.example.com').name('mail.Example.com').name('example.com')
    const buf = w.finish()
    // www.example.com = 17 octets; mail + pointer = 7; a bare pointer = 2
    assert.equal(buf.length, 17 + 7 + 2)
    const first = readName(buf, 0)
    const second = readName(buf, first.next)
    const third = readName(buf, second.next)
    assert.deepEqual([first.name, second.name, third.name], ['www.example.com', 'mail.example.com', 'example.com'])
    assert.equal(third.next, buf.length)
  })

  it('refuses a compression pointer loop', () => {
    const buf = Buffer.from([0xc0, 0x00])
    assert.throws(() => readName(buf, 0), /loop/)
  })

  it('maps type names and codes, unknown ones in RFC 3597 form', () => {
    assert.equal(typeCode('srv'), TYPE.SRV)
    assert.equal(typeCode('TYPE65280'), 65280)
    assert.equal(typeCode('NOPE'), undefined)
    assert.equal(typeName(65280), 'TYPE65280')
  })
})

describe('RDATA', () => {
  it('round-trips every managed type in endpoint conventions', () => {
    assert.equal(roundTrip(TYPE.A, '192.0.2.1'), '192.0.2.1')
    assert.equal(roundTrip(TYPE.AAAA, '2001:DB8:0:0:0:0:0:1'), '2001:db8::1')
    assert.equal(roundTrip(TYPE.CNAME, 'Target.Example.com.'), 'target.example.com')
    assert.equal(roundTrip(TYPE.SRV, '10 5 9100 node1.example.com.'), '10 5 9100 node1.example.com')
    assert.equal(roundTrip(TYPE.MX, '10 mx.example.net'), '10 mx.example.net')
    assert.equal(
      roundTrip(TYPE.TXT, 'heritage=external-dns,external-dns/owner=default'),
      'heritage=external-dns,external-dns/owner=default',
    )
    assert.equal(roundTrip(TYPE.TXT, ''), '')
    assert.equal(roundTrip(TYPE.CAA, '0 issue "letsencrypt.org"'), '0 issue "letsencrypt.org"')
    assert.equal(roundTrip(65280, '\\# 3 abcdef'), '\\# 3 abcdef')
  })

  it('splits TXT longer than 255 octets into character-strings and joins them on read', () => {
    const long = 'v'.repeat(600)
    const w = new WireWriter()
    writeRdata(w, TYPE.TXT, long)
    const buf = w.finish()
    assert.deepEqual([buf[0], buf[256], buf[512]], [255, 255, 90])
    assert.equal(rdataToText(TYPE.TXT, buf, 0, buf.length), long)
  })

  it('rejects targets that do not fit their type, naming type and target', () => {
    const w = new WireWriter()
    assert.throws(
      () => writeRdata(w, TYPE.A, '300.1.1.1'),
      (e: unknown) => e instanceof RdataError && e.message.includes('"300.1.1.1"'),
    )
    assert.throws(() => writeRdata(w, TYPE.AAAA, '192.0.2.1'), RdataError)
    assert.throws(() => writeRdata(w, TYPE.SRV, '10 5 node1.example.com'), /priority weight port target/)
    assert.throws(() => writeRdata(w, TYPE.SRV, '10 5 70000 node1.example.com'), /port/)
    assert.throws(() => writeRdata(w, 65280, 'opaque'), /RFC 3597/)
  })

  it('formats IPv6 as RFC 5952', () => {
    const cases: Array<[string, string]> = [
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['2001:0db8:0000:0000:0000:0000:0002:0001', '2001:db8::2:1'],
      ['::', '::'],
      ['::1', '::1'],
      ['fe80::', 'fe80::'],
      ['2001:db8:1:1:1:1:0:1', '2001:db8:1:1:1:1:0:1'],
      ['::ffff:192.0.2.1', '::ffff:c000:201'],
    ]
    for (const [input, expected] of cases) {
      const bytes = parseIPv6(input)
      assert.ok(bytes, input)
      assert.equal(formatIPv6(bytes), expected, input)
    }
    for (const bad of ['1::2::3', '12345::', '1:2:3:4:5:6:7', 'g::1', '1.2.3.4']) assert.equal(parseIPv6(bad), undefined, bad)
  })
})

describe('messages', () => {
  it('parses what dns-packet encodes, with offsets of each record', () => {
    const buf = dnsPacket.encode({
      type: 'response',
      id: 4242,
      flags: dnsPacket.AUTHORITATIVE_ANSWER,
      questions: [{type: 'A', name: 'www.example.com'}],
      answers: [
        {type: 'A', name: 'www.example.com', ttl: 60, data: '192.0.2.7'},
        {type: 'SRV', name: '_x._tcp.example.com', ttl: 60, data: {priority: 1, weight: 2, port: 3, target: 'h.example.com'}},
      ],
    })
    const msg = parseMessage(buf)
    assert.equal(msg.id, 4242)
    assert.equal(msg.isResponse, true)
    assert.equal(msg.questions[0]?.name, 'www.example.com')
    const [a, srv] = msg.answers
    assert.ok(a && srv)
    assert.equal(rdataToText(a.type, buf, a.rdataOffset, a.rdataLength), '192.0.2.7')
    assert.equal(rdataToText(srv.type, buf, srv.rdataOffset, srv.rdataLength), '1 2 3 h.example.com')
    assert.equal(srv.end, buf.length)
  })

  it('rejects truncated messages', () => {
    const buf = buildAxfrQuery(1, 'example.com')
    assert.throws(() => parseMessage(buf.subarray(0, buf.length - 2)), /malformed DNS message/)
    assert.throws(() => parseMessage(Buffer.alloc(5)), /shorter than a header/)
  })

  it('builds an AXFR query dns-packet reads', () => {
    const q = dnsPacket.decode(buildAxfrQuery(77, 'example.com'))
    assert.equal(q.id, 77)
    assert.deepEqual(q.questions, [{name: 'example.com', type: 'AXFR', class: 'IN'}])
  })
})

describe('UPDATE messages (RFC 2136)', () => {
  const ops: UpdateOperation[] = [
    {op: 'deleteRRset', name: 'www.example.com', type: TYPE.A},
    {op: 'add', name: 'www.example.com', type: TYPE.A, ttl: 120, target: '192.0.2.1'},
    {op: 'deleteRecord', name: 'old.example.com', type: TYPE.TXT, target: 'gone'},
  ]

  it('has opcode 5, the zone as SOA question, and the records in the update section', () => {
    const msg = parseMessage(buildUpdateMessage(9, 'example.com', ops))
    assert.equal(msg.opcode, OPCODE.UPDATE)
    assert.equal(msg.isResponse, false)
    assert.deepEqual(msg.questions, [{name: 'example.com', type: TYPE.SOA, class: CLASS.IN}])
    assert.equal(msg.answers.length, 0, 'no prerequisites')
    const [delSet, add, delOne] = msg.authority
    assert.deepEqual(
      [delSet?.name, delSet?.type, delSet?.class, delSet?.ttl, delSet?.rdataLength],
      ['www.example.com', TYPE.A, CLASS.ANY, 0, 0],
    )
    assert.deepEqual([add?.class, add?.ttl, add?.rdataLength], [CLASS.IN, 120, 4])
    assert.deepEqual([delOne?.name, delOne?.class, delOne?.ttl], ['old.example.com', CLASS.NONE, 0])
    const buf = buildUpdateMessage(9, 'example.com', ops)
    assert.equal(rdataToText(TYPE.TXT, buf, delOne?.rdataOffset ?? 0, delOne?.rdataLength ?? 0), 'gone')
  })

  it('writes an add that dns-packet decodes as the same record', () => {
    const buf = buildUpdateMessage(1, 'example.com', [{op: 'add', name: 'n.example.com', type: TYPE.AAAA, ttl: 30, target: '2001:db8::5'}])
    const decoded = dnsPacket.decode(buf)
    assert.equal(decoded.authorities?.[0]?.type, 'AAAA')
    assert.equal((decoded.authorities?.[0] as {data?: unknown}).data, '2001:db8::5')
  })

  it('packs groups into batches within the record and byte limits, never splitting a group', () => {
    const group = (n: number, size: number): {id: number; operations: UpdateOperation[]} => ({
      id: n,
      operations: Array.from(
        {length: size},
        (_, i) => ({op: 'add', name: `h${n}-${i}.example.com`, type: TYPE.A, ttl: 60, target: '192.0.2.1'}) as UpdateOperation,
      ),
    })
    const groups = [group(0, 3), group(1, 3), group(2, 3), group(3, 10), group(4, 1)]
    const batches = packUpdateBatches(groups, {maxBytes: 1_000_000, maxRecords: 7})
    assert.deepEqual(
      batches.map((b) => b.map((g) => g.id)),
      [[0, 1], [2], [3], [4]],
    )
    const small = packUpdateBatches(
      Array.from({length: 100}, (_, i) => group(i, 1)),
      {maxBytes: 300, maxRecords: 1000},
    )
    // "hNN-0.example.com" is 19 octets + 10 + 4 RDATA = 33 octets: 9 per 300
    assert.ok(small.every((b) => b.length <= 9))
    assert.equal(small.flat().length, 100)
  })

  it('refuses a target that does not fit its type when the message is built', () => {
    assert.throws(
      () => buildUpdateMessage(1, 'example.com', [{op: 'add', name: 'x.example.com', type: TYPE.A, ttl: 1, target: 'not-an-ip'}]),
      RdataError,
    )
  })
})

describe('header flags', () => {
  it('encodes opcode, rcode and QR', () => {
    const w = new WireWriter()
    writeHeader(w, {id: 1, flags: flagsFor(OPCODE.UPDATE, 5, true), qdcount: 0, ancount: 0, nscount: 0, arcount: 0})
    const msg = parseMessage(w.finish())
    assert.deepEqual([msg.opcode, msg.rcode, msg.isResponse], [5, 5, true])
  })
})
