/**
 * The sync pipeline (runSync: source → ownership → plan → PdnsProvider) against a real PowerDNS,
 * with ownership records written exactly as external-dns writes them through its pdns provider.
 */
import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'

import type {Endpoint, Source} from '../../src/lib/dns/endpoint.js'
import {PdnsProvider} from '../../src/lib/dns/providers/pdns.js'
import {runSync} from '../../src/lib/dns/sync.js'
import {startPdns, type StartedPdns} from '../support/pdns-server.js'

const ZONE = 'sync.example'

function source(endpoints: Endpoint[]): Source {
  return {name: 'test', endpoints: async () => endpoints}
}

describe('runSync into a real PowerDNS', () => {
  let pdns: StartedPdns
  before(async () => {
    pdns = await startPdns({
      zones: [
        {
          name: ZONE,
          records: [
            // a foreign record, no ownership
            {name: `legacy.${ZONE}`, type: 'A', contents: ['198.51.100.1']},
            // a record external-dns owns for another owner id, as external-dns's pdns provider writes it
            {name: `theirs.${ZONE}`, type: 'A', contents: ['198.51.100.2']},
            {
              name: `a-theirs.${ZONE}`,
              type: 'TXT',
              contents: ['"heritage=external-dns,external-dns/owner=other-cluster,external-dns/resource=service/default/theirs"'],
            },
          ],
        },
      ],
    })
  })
  after(async () => {
    await pdns?.stop()
  })

  const provider = (): PdnsProvider =>
    new PdnsProvider({server: pdns.url, apiKey: pdns.apiKey, serverId: 'localhost', zones: [ZONE], timeoutMs: 10_000})

  // Each test has its own owner id and names (www-t2.sync.example...): runSync manages only what
  // its owner id owns, so the tests share the zone and any test runs alone.
  let tests = 0
  function fresh(): {ownerId: string; n: (label: string) => string; desired: Endpoint[]} {
    const id = `t${++tests}`
    const n = (label: string) => `${label}-${id}.${ZONE}`
    return {
      ownerId: `roster-ci-${id}`,
      n,
      desired: [
        {dnsName: n('www'), recordType: 'A', targets: ['192.0.2.10', '192.0.2.11'], labels: {resource: 'file/records.yaml'}},
        {dnsName: n('api'), recordType: 'CNAME', targets: [n('www')]},
        {dnsName: `_http._tcp.${n('api')}`, recordType: 'SRV', targets: [`0 10 8080 ${n('www')}`]},
        {dnsName: n('note'), recordType: 'TXT', targets: ['release "42", built by ci']},
        // wanted, but other owners hold these names
        {dnsName: `legacy.${ZONE}`, recordType: 'A', targets: ['192.0.2.99']},
        {dnsName: `theirs.${ZONE}`, recordType: 'A', targets: ['192.0.2.98']},
      ],
    }
  }

  it('creates the records and their ownership TXT in one PATCH, and leaves other owners alone', async () => {
    const {ownerId, n, desired} = fresh()
    const p = provider()
    const result = await runSync({sources: [source(desired)], provider: p, policy: 'sync', ownerId})
    assert.equal(result.summary.create, 4)
    assert.equal(result.conflicts.length, 2)
    assert.deepEqual(result.providerCalls, {read: 1, write: 1})

    assert.deepEqual(await pdns.dig(n('www'), 'A'), ['192.0.2.10', '192.0.2.11'])
    assert.deepEqual(await pdns.dig(`a-${n('www')}`, 'TXT'), [
      `"heritage=external-dns,external-dns/owner=${ownerId},external-dns/resource=file/records.yaml"`,
    ])
    assert.deepEqual(await pdns.dig(`cname-${n('api')}`, 'TXT'), [`"heritage=external-dns,external-dns/owner=${ownerId}"`])
    assert.deepEqual(await pdns.dig(n('note'), 'TXT'), ['"release \\"42\\", built by ci"'])
    assert.deepEqual(await pdns.dig(`_http._tcp.${n('api')}`, 'SRV'), [`0 10 8080 ${n('www')}.`])
    assert.deepEqual(await pdns.contents(ZONE, `legacy.${ZONE}`, 'A'), ['198.51.100.1'])
    assert.deepEqual(await pdns.contents(ZONE, `theirs.${ZONE}`, 'A'), ['198.51.100.2'])
    assert.deepEqual(await pdns.contents(ZONE, `a-theirs.${ZONE}`, 'TXT'), [
      '"heritage=external-dns,external-dns/owner=other-cluster,external-dns/resource=service/default/theirs"',
    ])
  })

  it('a second run finds nothing to change: one read, no write (TXT quoting round-trips)', async () => {
    const {ownerId, desired} = fresh()
    await runSync({sources: [source(desired)], provider: provider(), policy: 'sync', ownerId})
    const p = provider()
    const result = await runSync({sources: [source(desired)], provider: p, policy: 'sync', ownerId})
    assert.deepEqual(result.summary, {create: 0, update: 0, delete: 0})
    assert.deepEqual(result.providerCalls, {read: 1, write: 0})
  })

  it('dry-run writes nothing; the real run updates and deletes only its own records', async () => {
    const {ownerId, n, desired} = fresh()
    await runSync({sources: [source(desired)], provider: provider(), policy: 'sync', ownerId})
    const next = desired.filter((e) => e.dnsName !== n('note')).map((e) => (e.dnsName === n('www') ? {...e, targets: ['192.0.2.12']} : e))
    const dry = provider()
    const planned = await runSync({sources: [source(next)], provider: dry, policy: 'sync', ownerId, dryRun: true, force: true})
    assert.deepEqual(planned.summary, {create: 0, update: 1, delete: 1})
    assert.equal(dry.stats.writeCalls, 0)
    assert.deepEqual(await pdns.dig(n('www'), 'A'), ['192.0.2.10', '192.0.2.11'])

    const p = provider()
    await runSync({sources: [source(next)], provider: p, policy: 'sync', ownerId, force: true})
    assert.equal(p.stats.writeCalls, 1)
    assert.deepEqual(await pdns.dig(n('www'), 'A'), ['192.0.2.12'])
    assert.deepEqual(await pdns.dig(n('note'), 'TXT'), [])
    assert.deepEqual(await pdns.dig(`txt-${n('note')}`, 'TXT'), [], 'its ownership record goes with it')
    assert.deepEqual(await pdns.contents(ZONE, `legacy.${ZONE}`, 'A'), ['198.51.100.1'])
    assert.deepEqual(await pdns.contents(ZONE, `theirs.${ZONE}`, 'A'), ['198.51.100.2'])
  })
})
