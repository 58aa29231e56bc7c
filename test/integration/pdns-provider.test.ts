import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'

import {emptyChanges, type Endpoint} from '../../src/lib/dns/endpoint.js'
import {PdnsProvider, splitByBodySize, toPdnsContent, type PdnsRRSet} from '../../src/lib/dns/providers/pdns.js'
import {BackendUnavailableError, InvalidInputError, NotAllowedError, NotFoundError} from '../../src/lib/errors.js'
import {startPdns, type StartedPdns} from '../support/pdns-server.js'

const OWNERSHIP = 'heritage=external-dns,external-dns/owner=roster,external-dns/resource=file/records.yaml'
const TRICKY = 'say "hi", then leave; a\\b'

function provider(pdns: StartedPdns, extra: Partial<ConstructorParameters<typeof PdnsProvider>[0]> = {}): PdnsProvider {
  return new PdnsProvider({server: pdns.url, apiKey: pdns.apiKey, serverId: pdns.serverId, timeoutMs: 10_000, ...extra})
}

function find(eps: Endpoint[], name: string, type: string): Endpoint | undefined {
  return eps.find((e) => e.dnsName === name && e.recordType === type)
}

describe('PdnsProvider against a real PowerDNS', () => {
  let pdns: StartedPdns

  before(async () => {
    pdns = await startPdns({
      zones: [
        {
          name: 'example.com',
          records: [
            {name: 'foreign.example.com', type: 'A', contents: ['198.51.100.7']},
            {name: 'foreign.example.com', type: 'TXT', contents: ['"not ours"']},
          ],
        },
        {name: 'sub.example.com'},
        {name: 'example.org', records: [{name: 'mail.example.org', type: 'MX', contents: ['10 mx.example.org.']}]},
      ],
    })
  })
  after(async () => {
    await pdns?.stop()
  })

  it('records() reads each zone once and returns its records, foreign ones included', async () => {
    const p = provider(pdns, {zones: ['example.com', 'example.org']})
    const eps = await p.records()
    assert.equal(p.stats.readCalls, 2)
    assert.equal(p.stats.writeCalls, 0)
    assert.deepEqual(find(eps, 'foreign.example.com', 'A'), {
      dnsName: 'foreign.example.com',
      recordType: 'A',
      targets: ['198.51.100.7'],
      recordTTL: 300,
    })
    assert.deepEqual(find(eps, 'foreign.example.com', 'TXT')?.targets, ['not ours'])
    assert.deepEqual(find(eps, 'mail.example.org', 'MX')?.targets, ['10 mx.example.org'])
    assert.ok(find(eps, 'example.com', 'SOA'))
  })

  it('lists the zones once when none are given', async () => {
    const p = provider(pdns)
    const eps = await p.records()
    assert.equal(p.stats.readCalls, 4) // the list, then the three zones
    assert.ok(find(eps, 'sub.example.com', 'SOA'))
    assert.deepEqual(await p.resolveZones().then((z) => z.map((x) => x.name).sort()), ['example.com', 'example.org', 'sub.example.com'])
  })

  it('applies creates, updates and deletes with one PATCH per zone; foreign records survive', async () => {
    const p = provider(pdns)
    await p.records()
    const reads = p.stats.readCalls
    const create: Endpoint[] = [
      {dnsName: 'www.example.com', recordType: 'A', targets: ['192.0.2.1', '192.0.2.2'], recordTTL: 120},
      {dnsName: 'www.example.com', recordType: 'AAAA', targets: ['2001:db8::1']},
      {dnsName: 'alias.example.com', recordType: 'CNAME', targets: ['www.example.com']},
      {dnsName: 'a-www.example.com', recordType: 'TXT', targets: [OWNERSHIP]},
      {dnsName: '_http._tcp.api.example.com', recordType: 'SRV', targets: ['10 5 8080 www.example.com']},
      // the longest zone suffix wins: this one goes to sub.example.com
      {dnsName: 'deep.sub.example.com', recordType: 'A', targets: ['192.0.2.9']},
      {dnsName: 'web.example.org', recordType: 'A', targets: ['203.0.113.5']},
    ]
    const progress: [number, number][] = []
    await p.applyChanges({...emptyChanges(), create}, (d, t) => progress.push([d, t]))
    assert.equal(p.stats.writeCalls, 3, 'one PATCH per zone: example.com, sub.example.com, example.org')
    assert.equal(p.stats.readCalls, reads, 'no read to apply')
    assert.deepEqual(progress.at(-1), [7, 7])

    assert.deepEqual(await pdns.contents('example.com', 'www.example.com', 'A'), ['192.0.2.1', '192.0.2.2'])
    assert.deepEqual(await pdns.contents('example.com', 'alias.example.com', 'CNAME'), ['www.example.com.'])
    assert.deepEqual(await pdns.contents('example.com', '_http._tcp.api.example.com', 'SRV'), ['10 5 8080 www.example.com.'])
    assert.deepEqual(await pdns.contents('example.com', 'a-www.example.com', 'TXT'), [`"${OWNERSHIP}"`])
    assert.deepEqual(await pdns.contents('sub.example.com', 'deep.sub.example.com', 'A'), ['192.0.2.9'])
    assert.equal(await pdns.contents('example.com', 'deep.sub.example.com', 'A'), undefined)
    const rrsets = await pdns.rrsets('example.com')
    assert.equal(rrsets.find((r) => r.name === 'www.example.com.' && r.type === 'A')?.ttl, 120)
    assert.equal(rrsets.find((r) => r.name === 'www.example.com.' && r.type === 'AAAA')?.ttl, 300, 'the default TTL')

    // DNS answers what the API holds
    assert.deepEqual(await pdns.dig('www.example.com', 'A'), ['192.0.2.1', '192.0.2.2'])
    assert.deepEqual(await pdns.dig('a-www.example.com', 'TXT'), [`"${OWNERSHIP}"`])
    assert.deepEqual(await pdns.dig('_http._tcp.api.example.com', 'SRV'), ['10 5 8080 www.example.com.'])

    // update (targets; TTL kept from what was read) + delete, in one zone: one PATCH
    const p2 = provider(pdns)
    const current = await p2.records()
    const oldA = find(current, 'www.example.com', 'A')
    const oldCname = find(current, 'alias.example.com', 'CNAME')
    assert.ok(oldA && oldCname)
    await p2.applyChanges({
      create: [],
      updateOld: [oldA],
      updateNew: [{dnsName: 'www.example.com', recordType: 'A', targets: ['192.0.2.3']}],
      delete: [oldCname],
    })
    assert.equal(p2.stats.writeCalls, 1)
    assert.deepEqual(await pdns.contents('example.com', 'www.example.com', 'A'), ['192.0.2.3'])
    assert.equal((await pdns.rrsets('example.com')).find((r) => r.name === 'www.example.com.' && r.type === 'A')?.ttl, 120)
    assert.equal(await pdns.contents('example.com', 'alias.example.com', 'CNAME'), undefined)
    assert.deepEqual(await pdns.dig('alias.example.com', 'CNAME'), [])

    // foreign records are untouched
    assert.deepEqual(await pdns.contents('example.com', 'foreign.example.com', 'A'), ['198.51.100.7'])
    assert.deepEqual(await pdns.contents('example.com', 'foreign.example.com', 'TXT'), ['"not ours"'])
    assert.deepEqual(await pdns.contents('example.org', 'mail.example.org', 'MX'), ['10 mx.example.org.'])
  })

  it('round-trips TXT text with spaces, quotes, commas and backslashes', async () => {
    const p = provider(pdns, {zones: ['example.com']})
    const texts = [OWNERSHIP, TRICKY, 'x'.repeat(300), 'héllo wörld']
    await p.applyChanges({...emptyChanges(), create: [{dnsName: 'txt.example.com', recordType: 'TXT', targets: texts}]})
    const back = find(await p.records(), 'txt.example.com', 'TXT')
    assert.deepEqual(back?.targets, [...texts].sort())
    const dug = await pdns.dig('txt.example.com', 'TXT')
    assert.ok(dug.includes(`"${OWNERSHIP}"`), dug.join('\n'))
    assert.ok(dug.includes('"say \\"hi\\", then leave; a\\\\b"'), dug.join('\n'))
  })

  it('a wrong API key is NotAllowedError, and the key is not in the message', async () => {
    const p = new PdnsProvider({server: pdns.url, apiKey: 'wrong-secret-key', serverId: 'localhost', timeoutMs: 5000})
    await assert.rejects(p.records(), (e: unknown) => {
      assert.ok(e instanceof NotAllowedError, String(e))
      assert.equal(e.exitCode, 4)
      assert.ok(!e.message.includes('wrong-secret-key'))
      assert.ok(!e.message.includes(pdns.apiKey))
      return true
    })
  })

  it('a zone the server does not have is NotFoundError naming the zone', async () => {
    const p = provider(pdns, {zones: ['nope.example.net']})
    await assert.rejects(
      p.records(),
      (e: unknown) => e instanceof NotFoundError && e.exitCode === 5 && e.message.includes('"nope.example.net"'),
    )
    await assert.rejects(
      p.applyChanges({...emptyChanges(), create: [{dnsName: 'a.nope.example.net', recordType: 'A', targets: ['192.0.2.1']}]}),
      (e: unknown) => e instanceof NotFoundError && e.message.includes('"nope.example.net"'),
    )
  })

  it('a record outside every zone is NotFoundError before anything is written', async () => {
    const p = provider(pdns, {zones: ['example.com']})
    await assert.rejects(
      p.applyChanges({
        ...emptyChanges(),
        create: [
          {dnsName: 'ok.example.com', recordType: 'A', targets: ['192.0.2.1']},
          {dnsName: 'www.elsewhere.net', recordType: 'A', targets: ['192.0.2.1']},
        ],
      }),
      (e: unknown) => e instanceof NotFoundError && e.message.includes('www.elsewhere.net'),
    )
    assert.equal(p.stats.writeCalls, 0)
    assert.equal(await pdns.contents('example.com', 'ok.example.com', 'A'), undefined)
  })

  it('content PowerDNS rejects is InvalidInputError carrying its reason, and the PATCH applies nothing', async () => {
    const p = provider(pdns, {zones: ['example.com']})
    await assert.rejects(
      p.applyChanges({
        ...emptyChanges(),
        create: [
          {dnsName: 'good.example.com', recordType: 'A', targets: ['192.0.2.1']},
          {dnsName: 'bad.example.com', recordType: 'A', targets: ['not-an-address']},
        ],
      }),
      (e: unknown) =>
        e instanceof InvalidInputError && e.exitCode === 2 && /bad\.example\.com/.test(e.message) && /zone "example\.com"/.test(e.message),
    )
    assert.equal(await pdns.contents('example.com', 'good.example.com', 'A'), undefined, 'one transaction: nothing applied')
  })

  it('an unreachable server is BackendUnavailableError naming the URL', async () => {
    const stopped = await startPdns()
    const url = stopped.url
    const key = stopped.apiKey
    await stopped.stop()
    const p = new PdnsProvider({server: url, apiKey: key, serverId: 'localhost', timeoutMs: 2000})
    await assert.rejects(p.records(), (e: unknown) => {
      assert.ok(e instanceof BackendUnavailableError, String(e))
      assert.equal(e.exitCode, 3)
      assert.ok(e.message.includes(url), e.message)
      assert.ok(!e.message.includes(key))
      return true
    })
  })
})

describe('PdnsProvider body limit (webserver-max-bodysize=1)', () => {
  let pdns: StartedPdns
  before(async () => {
    pdns = await startPdns({maxBodyMB: 1, zones: [{name: 'big.example'}]})
  })
  after(async () => {
    await pdns?.stop()
  })

  const creates = (prefix: string, n: number): Endpoint[] =>
    Array.from({length: n}, (_, i) => ({
      dnsName: `${prefix}${i}.big.example`,
      recordType: 'TXT',
      targets: [`heritage=external-dns,external-dns/owner=roster,external-dns/resource=file/${'r'.repeat(120)}-${i}`],
    }))

  it('splits a change set larger than the limit at RRset boundaries, and all of it arrives', async () => {
    const eps = creates('h', 5000)
    const rrsets: PdnsRRSet[] = eps.map((e) => ({
      name: `${e.dnsName}.`,
      type: 'TXT',
      ttl: 300,
      changetype: 'REPLACE',
      records: e.targets.map((t) => ({content: toPdnsContent('TXT', t), disabled: false})),
    }))
    const expected = splitByBodySize(rrsets, 1024 * 1024).length
    assert.ok(expected >= 2, 'the change set is over 1 MiB')
    const p = provider(pdns, {zones: ['big.example'], maxBodyBytes: 1024 * 1024})
    await p.applyChanges({...emptyChanges(), create: eps})
    assert.equal(p.stats.writeCalls, expected)
    const back = await provider(pdns, {zones: ['big.example']}).records()
    assert.equal(back.filter((e) => e.recordType === 'TXT' && e.dnsName.startsWith('h')).length, 5000)
  })

  it('a server configured below the assumed limit is detected and the chunk halved', async () => {
    const eps = creates('k', 5000) // ~1.3 MB: fits the default 2 MiB assumption, not this server's 1 MB
    const p = provider(pdns, {zones: ['big.example']})
    await p.applyChanges({...emptyChanges(), create: eps})
    assert.ok(p.stats.writeCalls >= 3, `one refused PATCH, then halves (${p.stats.writeCalls})`)
    const back = await provider(pdns, {zones: ['big.example']}).records()
    assert.equal(back.filter((e) => e.recordType === 'TXT' && e.dnsName.startsWith('k')).length, 5000)
  })
})
