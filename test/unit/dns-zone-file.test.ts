import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {nextSerial, parseTtl, parseZoneFile, recordTarget, serializeZoneFile, txtToRdata} from '../../src/lib/dns/zone-file.js'

const ZONE = `; a hand-written zone
$TTL 1h
$ORIGIN example.com.
@   IN  SOA ns1 hostmaster.example.com. (
        2024010101 ; serial
        7200       ; refresh
        3600 1209600
        300 )      ; minimum
    IN  NS  ns1
    NS  ns2.example.net.
ns1 60  A   192.0.2.1
www 300 IN  CNAME   web
web IN 120  A   192.0.2.10
    A   192.0.2.11        ; omitted owner = previous
mail.example.com.  MX  10 mx1
txt TXT "v=spf1 -all"
multi   TXT "part one " "part two" ; two strings
esc TXT "say \\"hi\\" \\\\ \\065\\066"
_sip._tcp  SRV 10 20 5060 sip
$ORIGIN sub.example.com.
host    AAAA    2001:DB8::1
alias   CNAME   @
caa CAA 0 issue "letsencrypt.org"
loc TYPE65280 \\# 4 0A000001
`

describe('parseZoneFile', () => {
  const zone = parseZoneFile(ZONE, {origin: 'example.com'})
  const find = (name: string, type: string) => zone.records.filter((r) => r.name === name && r.type === type)

  it('reads owners: @, relative, absolute, omitted', () => {
    assert.equal(find('example.com', 'SOA').length, 1)
    assert.deepEqual(find('example.com', 'NS').map(recordTarget), ['ns1.example.com', 'ns2.example.net'])
    assert.deepEqual(find('web.example.com', 'A').map(recordTarget), ['192.0.2.10', '192.0.2.11'])
    assert.deepEqual(find('mail.example.com', 'MX').map(recordTarget), ['10 mx1.example.com'])
  })
  it('reads TTL and class in either order, $TTL default, units', () => {
    assert.equal(find('ns1.example.com', 'A')[0]?.ttl, 60)
    assert.equal(find('web.example.com', 'A')[0]?.ttl, 120)
    assert.equal(find('web.example.com', 'A')[1]?.ttl, 3600)
    assert.equal(parseTtl('1w2d3h4m5s'), 604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5)
  })
  it('joins parentheses across lines and drops comments', () => {
    assert.deepEqual(find('example.com', 'SOA')[0]?.rdata, [
      'ns1',
      'hostmaster.example.com.',
      '2024010101',
      '7200',
      '3600',
      '1209600',
      '300',
    ])
  })
  it('reads quoted TXT strings with escapes and several strings', () => {
    assert.equal(recordTarget(find('txt.example.com', 'TXT')[0]!), 'v=spf1 -all')
    assert.equal(recordTarget(find('multi.example.com', 'TXT')[0]!), 'part one part two')
    assert.equal(recordTarget(find('esc.example.com', 'TXT')[0]!), 'say "hi" \\ AB')
  })
  it('reads SRV and names under a later $ORIGIN', () => {
    assert.deepEqual(find('_sip._tcp.example.com', 'SRV').map(recordTarget), ['10 20 5060 sip.example.com'])
    assert.deepEqual(find('host.sub.example.com', 'AAAA').map(recordTarget), ['2001:db8::1'])
    assert.deepEqual(find('alias.sub.example.com', 'CNAME').map(recordTarget), ['sub.example.com'])
  })
  it('keeps unknown types verbatim', () => {
    assert.deepEqual(find('caa.sub.example.com', 'CAA')[0]?.rdata, ['0', 'issue', '"letsencrypt.org"'])
    assert.deepEqual(find('loc.sub.example.com', 'TYPE65280')[0]?.rdata, ['\\#', '4', '0A000001'])
  })
  it('round-trips through the writer', () => {
    const text = serializeZoneFile(zone)
    const again = parseZoneFile(text, {origin: 'example.com'})
    const view = (z: typeof zone) => z.records.map((r) => `${r.name} ${r.ttl} ${r.type} ${recordTarget(r)}`).sort()
    assert.deepEqual(view(again), view(zone))
  })
  it('refuses $INCLUDE and broken input with the file and line', () => {
    assert.throws(
      () => parseZoneFile('$INCLUDE other.zone\n', {origin: 'example.com', file: 'z.db'}),
      /z\.db:1: \$INCLUDE is not supported/,
    )
    assert.throws(() => parseZoneFile('@ 300 IN SOA a b ( 1 2 3 4 5\n', {origin: 'example.com', file: 'z.db'}), /unbalanced/)
    assert.throws(() => parseZoneFile('a 300 IN TXT "open\n', {origin: 'example.com', file: 'z.db'}), /unterminated/)
  })
})

describe('zone file helpers', () => {
  it('splits long TXT values at 255 bytes and escapes quotes', () => {
    const long = 'x'.repeat(300)
    const rdata = txtToRdata(long)
    assert.equal(rdata.length, 2)
    assert.equal(rdata[0]?.length, 257)
    assert.deepEqual(txtToRdata('a "b" c\\'), ['"a \\"b\\" c\\\\"'])
  })
  it('increases date serials as YYYYMMDDnn, other serials by one', () => {
    const now = new Date(Date.UTC(2025, 10, 23))
    assert.equal(nextSerial(2024010101, now), 2025112300)
    assert.equal(nextSerial(2025112300, now), 2025112301)
    assert.equal(nextSerial(2025112399, now), 2025112400)
    assert.equal(nextSerial(42, now), 43)
    assert.equal(nextSerial(4294967295, now), 1)
  })
})
