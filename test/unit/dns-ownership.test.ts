/**
 * Ownership records exactly as external-dns writes them. The names and values below are copied
 * from external-dns's registry tests (registry/txt/registry_test.go, test zone
 * test-zone.example.org, owner "owner"), so roster reads external-dns's zones and writes
 * records external-dns reads.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import type {Endpoint} from '../../src/lib/dns/endpoint.js'
import {OwnershipNameMapper, OwnershipProvider, parseOwnershipLabels, serializeOwnershipLabels} from '../../src/lib/dns/ownership.js'
import {calculatePlan} from '../../src/lib/dns/plan.js'
import {MemoryProvider} from '../support/dns-memory-provider.js'

const OWNER_VALUE = '"heritage=external-dns,external-dns/owner=owner"'
const OWNER2_VALUE = '"heritage=external-dns,external-dns/owner=owner-2"'
const RESOURCE_VALUE = '"heritage=external-dns,external-dns/owner=owner,external-dns/resource=ingress/default/my-ingress"'
const unquote = (s: string): string => s.slice(1, -1)

function rec(dnsName: string, recordType: string, ...targets: string[]): Endpoint {
  return {dnsName, recordType, targets}
}

async function ownersOf(provider: MemoryProvider, options: {txtPrefix?: string; txtSuffix?: string}): Promise<string[]> {
  const own = new OwnershipProvider(provider, {ownerId: 'owner', ...options})
  const records = await own.records()
  return records
    .map((r) => `${r.dnsName} ${r.recordType} owner=${r.labels?.owner ?? ''}${r.labels?.resource ? ` resource=${r.labels.resource}` : ''}`)
    .sort()
}

describe('ownership labels (external-dns endpoint/labels.go)', () => {
  it('serializes heritage first, then labels sorted by key', () => {
    assert.equal(serializeOwnershipLabels({resource: 'ingress/default/my-ingress', owner: 'owner'}), unquote(RESOURCE_VALUE))
  })
  it('parses quoted and unquoted values; rejects other heritage', () => {
    assert.deepEqual(parseOwnershipLabels(RESOURCE_VALUE), {owner: 'owner', resource: 'ingress/default/my-ingress'})
    assert.deepEqual(parseOwnershipLabels(unquote(OWNER_VALUE)), {owner: 'owner'})
    assert.equal(parseOwnershipLabels('"heritage=mate,mate/owner=x"'), undefined)
    assert.equal(parseOwnershipLabels('v=spf1 -all'), undefined)
  })
})

describe('ownership names (external-dns registry/mapper)', () => {
  const cases: Array<[string, string, string, string, string]> = [
    // prefix, suffix, record name, type, ownership name (from external-dns's tests)
    ['', '', 'new-record-1.test-zone.example.org', 'CNAME', 'cname-new-record-1.test-zone.example.org'],
    ['', '', 'dualstack.test-zone.example.org', 'AAAA', 'aaaa-dualstack.test-zone.example.org'],
    ['', '', 'www.example.com', 'A', 'a-www.example.com'],
    ['txt.', '', 'new-record-1.test-zone.example.org', 'CNAME', 'txt.cname-new-record-1.test-zone.example.org'],
    ['', '-txt', 'new-record-1.test-zone.example.org', 'CNAME', 'cname-new-record-1-txt.test-zone.example.org'],
    ['prefix%{record_type}.', '', 'new-record-1.test-zone.example.org', 'CNAME', 'prefixcname.new-record-1.test-zone.example.org'],
    ['', '-%{record_type}suffix', 'new-record-1.test-zone.example.org', 'CNAME', 'new-record-1-cnamesuffix.test-zone.example.org'],
  ]
  for (const [prefix, suffix, name, type, want] of cases) {
    it(`${prefix || suffix || 'no affix'}: ${type} ${name} → ${want}`, () => {
      const m = new OwnershipNameMapper(prefix, suffix)
      assert.equal(m.toOwnershipName(name, type), want)
      assert.deepEqual(m.toRecord(want), {dnsName: name, recordType: type})
    })
  }
  it('legacy names carry no type', () => {
    assert.deepEqual(new OwnershipNameMapper('txt.', '').toRecord('txt.bar.test-zone.example.org'), {
      dnsName: 'bar.test-zone.example.org',
      recordType: '',
    })
    assert.deepEqual(new OwnershipNameMapper('', '-txt').toRecord('bar-txt.test-zone.example.org'), {
      dnsName: 'bar.test-zone.example.org',
      recordType: '',
    })
    assert.equal(new OwnershipNameMapper('txt.', '').toRecord('other.test-zone.example.org'), undefined)
  })
  it('prefix and suffix are exclusive', () => {
    assert.throws(() => new OwnershipNameMapper('txt.', '-txt'))
  })
})

describe('OwnershipProvider.records()', () => {
  it('reads external-dns zones: new format, legacy format, other owners, unowned', async () => {
    const zone = new MemoryProvider([
      rec('foo.test-zone.example.org', 'CNAME', 'foo.loadbalancer.com'),
      rec('cname-foo.test-zone.example.org', 'TXT', RESOURCE_VALUE),
      rec('tar.test-zone.example.org', 'CNAME', 'tar.loadbalancer.com'),
      rec('cname-tar.test-zone.example.org', 'TXT', OWNER2_VALUE),
      // legacy (unprefixed, untyped) ownership of an A record at the same name; not of the AAAA
      rec('dualstack.test-zone.example.org', 'A', '1.1.1.1'),
      rec('dualstack.test-zone.example.org', 'TXT', OWNER_VALUE),
      rec('dualstack.test-zone.example.org', 'AAAA', '2001:DB8::1'),
      rec('qux.test-zone.example.org', 'TXT', 'random'),
      rec('manual.test-zone.example.org', 'A', '10.0.0.1'),
    ])
    assert.deepEqual(await ownersOf(zone, {}), [
      'dualstack.test-zone.example.org A owner=owner',
      'dualstack.test-zone.example.org AAAA owner=',
      'foo.test-zone.example.org CNAME owner=owner resource=ingress/default/my-ingress',
      'manual.test-zone.example.org A owner=',
      'qux.test-zone.example.org TXT owner=',
      'tar.test-zone.example.org CNAME owner=owner-2',
    ])
  })

  it('honours --txt-prefix (case-insensitive) and --txt-suffix', async () => {
    const prefixed = new MemoryProvider([
      rec('bar.test-zone.example.org', 'CNAME', 'my-domain.com'),
      rec('txt.bar.test-zone.example.org', 'TXT', OWNER_VALUE),
      rec('tar.test-zone.example.org', 'CNAME', 'tar.loadbalancer.com'),
      rec('TxT.tar.test-zone.example.org', 'TXT', OWNER2_VALUE),
      rec('new.test-zone.example.org', 'CNAME', 'lb.example.com'),
      rec('txt.cname-new.test-zone.example.org', 'TXT', OWNER_VALUE),
    ])
    assert.deepEqual(await ownersOf(prefixed, {txtPrefix: 'txt.'}), [
      'bar.test-zone.example.org CNAME owner=owner',
      'new.test-zone.example.org CNAME owner=owner',
      'tar.test-zone.example.org CNAME owner=owner-2',
    ])
    const suffixed = new MemoryProvider([
      rec('bar.test-zone.example.org', 'CNAME', 'my-domain.com'),
      rec('cname-bar-txt.test-zone.example.org', 'TXT', OWNER_VALUE),
      rec('tar.test-zone.example.org', 'CNAME', 'tar.loadbalancer.com'),
      rec('tar-TxT.test-zone.example.org', 'TXT', OWNER2_VALUE),
    ])
    assert.deepEqual(await ownersOf(suffixed, {txtSuffix: '-txt'}), [
      'bar.test-zone.example.org CNAME owner=owner',
      'tar.test-zone.example.org CNAME owner=owner-2',
    ])
  })

  it('reports orphan claims of other owners', async () => {
    const zone = new MemoryProvider([rec('a-gone.test-zone.example.org', 'TXT', OWNER2_VALUE)])
    const own = new OwnershipProvider(zone, {ownerId: 'owner'})
    assert.deepEqual(await own.records(), [])
    assert.deepEqual([...own.claims()], [['gone.test-zone.example.org A', 'owner-2']])
  })
})

describe('OwnershipProvider.applyChanges()', () => {
  it('writes the new-format record with the value external-dns writes, and removes it on delete', async () => {
    const zone = new MemoryProvider([])
    const own = new OwnershipProvider(zone, {ownerId: 'owner'})
    await own.records()
    const created = {
      ...rec('new-record-1.test-zone.example.org', 'CNAME', 'new-loadbalancer-1.lb.com'),
      labels: {owner: 'owner', resource: 'ingress/default/my-ingress'},
    }
    await own.applyChanges({create: [created], updateOld: [], updateNew: [], delete: []})
    assert.deepEqual(zone.dump(), [
      `cname-new-record-1.test-zone.example.org TXT ${unquote(RESOURCE_VALUE)}`,
      'new-record-1.test-zone.example.org CNAME new-loadbalancer-1.lb.com',
    ])
    const current = await own.records()
    assert.equal(current.length, 1)
    await own.applyChanges({create: [], updateOld: [], updateNew: [], delete: current})
    assert.deepEqual(zone.dump(), [])
  })

  it('update keeps the ownership record; deletes of foreign records are dropped', async () => {
    const zone = new MemoryProvider([
      rec('a.test-zone.example.org', 'A', '10.0.0.1'),
      rec('a-a.test-zone.example.org', 'TXT', OWNER_VALUE),
      rec('b.test-zone.example.org', 'A', '10.0.0.2'),
      rec('a-b.test-zone.example.org', 'TXT', OWNER2_VALUE),
    ])
    const own = new OwnershipProvider(zone, {ownerId: 'owner'})
    const current = await own.records()
    const a = current.find((r) => r.dnsName.startsWith('a.')) as Endpoint
    const b = current.find((r) => r.dnsName.startsWith('b.')) as Endpoint
    await own.applyChanges({create: [], updateOld: [a], updateNew: [{...a, targets: ['10.0.0.9']}], delete: [b]})
    assert.deepEqual(zone.dump(), [
      `a-a.test-zone.example.org TXT ${OWNER_VALUE}`,
      `a-b.test-zone.example.org TXT ${OWNER2_VALUE}`,
      'a.test-zone.example.org A 10.0.0.9',
      'b.test-zone.example.org A 10.0.0.2',
    ])
  })

  it('migrates legacy ownership: update adds the new-format record; delete removes the legacy one', async () => {
    const zone = new MemoryProvider([
      rec('legacy.test-zone.example.org', 'A', '10.0.0.1'),
      rec('txt.legacy.test-zone.example.org', 'TXT', OWNER_VALUE),
      rec('old.test-zone.example.org', 'A', '10.0.0.2'),
      rec('txt.old.test-zone.example.org', 'TXT', OWNER_VALUE),
    ])
    const own = new OwnershipProvider(zone, {ownerId: 'owner', txtPrefix: 'txt.'})
    const current = await own.records()
    const plan = calculatePlan(current, [rec('legacy.test-zone.example.org', 'A', '10.0.0.5')], 'sync', 'owner')
    await own.applyChanges(plan.changes)
    assert.deepEqual(zone.dump(), [
      'legacy.test-zone.example.org A 10.0.0.5',
      `txt.a-legacy.test-zone.example.org TXT ${unquote(OWNER_VALUE)}`,
      `txt.legacy.test-zone.example.org TXT ${OWNER_VALUE}`,
    ])
  })

  it('a zone written by roster is read back by the same rules external-dns uses', async () => {
    const zone = new MemoryProvider([])
    const own = new OwnershipProvider(zone, {ownerId: 'ci', txtPrefix: 'own-%{record_type}.'})
    await own.records()
    await own.applyChanges({
      create: [
        {...rec('app.example.com', 'A', '10.1.1.1'), labels: {owner: 'ci'}},
        {...rec('example.com', 'A', '10.1.1.2'), labels: {owner: 'ci'}},
      ],
      updateOld: [],
      updateNew: [],
      delete: [],
    })
    assert.deepEqual(zone.dump(), [
      'app.example.com A 10.1.1.1',
      'example.com A 10.1.1.2',
      'own-a.app.example.com TXT heritage=external-dns,external-dns/owner=ci',
      'own-a.example.com TXT heritage=external-dns,external-dns/owner=ci',
    ])
    const again = await new OwnershipProvider(zone, {ownerId: 'ci', txtPrefix: 'own-%{record_type}.'}).records()
    assert.deepEqual(
      again.map((r) => r.labels?.owner),
      ['ci', 'ci'],
    )
  })
})
