import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import type {Endpoint} from '../../src/lib/dns/endpoint.js'
import {type Policy, calculatePlan, domainMatcher} from '../../src/lib/dns/plan.js'

const ME = 'roster-ci'

function ep(dnsName: string, recordType: string, targets: string[], extra: {ttl?: number; owner?: string} = {}): Endpoint {
  const e: Endpoint = {dnsName, recordType, targets}
  if (extra.ttl !== undefined) e.recordTTL = extra.ttl
  if (extra.owner !== undefined) e.labels = {owner: extra.owner}
  return e
}

/** A change list as "ACTION name type targets" strings, for compact table cases. */
function summarize(current: Endpoint[], desired: Endpoint[], policy: Policy, options = {}): string[] {
  const {changes, conflicts} = calculatePlan(current, desired, policy, ME, options)
  return [
    ...changes.create.map(
      (e) => `create ${e.dnsName} ${e.recordType} ${e.targets.join(',')}${e.recordTTL === undefined ? '' : ` ttl=${e.recordTTL}`}`,
    ),
    ...changes.updateNew.map(
      (e, i) =>
        `update ${e.dnsName} ${e.recordType} ${changes.updateOld[i]?.targets.join(',')} -> ${e.targets.join(',')}${e.recordTTL === undefined ? '' : ` ttl=${e.recordTTL}`}`,
    ),
    ...changes.delete.map((e) => `delete ${e.dnsName} ${e.recordType} ${e.targets.join(',')}`),
    ...conflicts.map((c) => `conflict ${c.dnsName} ${c.recordType}${c.owner === undefined ? '' : ` owner=${c.owner}`}`),
  ]
}

interface Case {
  name: string
  current: Endpoint[]
  desired: Endpoint[]
  policy: Policy
  options?: Parameters<typeof calculatePlan>[4]
  want: string[]
}

const mine = {owner: ME}
const theirs = {owner: 'other-cluster'}

const cases: Case[] = [
  {
    name: 'create into an empty zone',
    current: [],
    desired: [ep('a.example.com', 'A', ['10.0.0.1'])],
    policy: 'sync',
    want: ['create a.example.com A 10.0.0.1'],
  },
  {
    name: 'no-op when targets and TTL match',
    current: [ep('a.example.com', 'A', ['10.0.0.1'], {ttl: 300, ...mine})],
    desired: [ep('a.example.com', 'A', ['10.0.0.1'], {ttl: 300})],
    policy: 'sync',
    want: [],
  },
  {
    name: 'no-op: target order and case do not matter',
    current: [ep('www.example.com', 'CNAME', ['lb.example.net'], mine), ep('a.example.com', 'A', ['10.0.0.2', '10.0.0.1'], mine)],
    desired: [ep('WWW.Example.com.', 'CNAME', ['LB.example.net.']), ep('a.example.com', 'A', ['10.0.0.1', '10.0.0.2'])],
    policy: 'sync',
    want: [],
  },
  {
    name: 'no-op: unset desired TTL never updates',
    current: [ep('a.example.com', 'A', ['10.0.0.1'], {ttl: 60, ...mine})],
    desired: [ep('a.example.com', 'A', ['10.0.0.1'])],
    policy: 'sync',
    want: [],
  },
  {
    name: 'update on a target change',
    current: [ep('a.example.com', 'A', ['10.0.0.1'], {ttl: 300, ...mine})],
    desired: [ep('a.example.com', 'A', ['10.0.0.9'])],
    policy: 'sync',
    want: ['update a.example.com A 10.0.0.1 -> 10.0.0.9 ttl=300'],
  },
  {
    name: 'update on a TTL change',
    current: [ep('a.example.com', 'A', ['10.0.0.1'], {ttl: 300, ...mine})],
    desired: [ep('a.example.com', 'A', ['10.0.0.1'], {ttl: 60})],
    policy: 'sync',
    want: ['update a.example.com A 10.0.0.1 -> 10.0.0.1 ttl=60'],
  },
  {
    name: 'delete an owned record no source wants',
    current: [ep('old.example.com', 'A', ['10.0.0.1'], mine)],
    desired: [],
    policy: 'sync',
    want: ['delete old.example.com A 10.0.0.1'],
  },
  {
    name: 'never delete an unowned record',
    current: [ep('manual.example.com', 'A', ['10.0.0.1'])],
    desired: [],
    policy: 'sync',
    want: [],
  },
  {
    name: "never delete another owner's record",
    current: [ep('x.example.com', 'A', ['10.0.0.1'], theirs)],
    desired: [],
    policy: 'sync',
    want: [],
  },
  {
    name: "never update another owner's record: conflict",
    current: [ep('x.example.com', 'A', ['10.0.0.1'], theirs)],
    desired: [ep('x.example.com', 'A', ['10.0.0.2'])],
    policy: 'sync',
    want: ['conflict x.example.com A owner=other-cluster'],
  },
  {
    name: 'never take over an unowned record: conflict',
    current: [ep('manual.example.com', 'A', ['10.0.0.1'])],
    desired: [ep('manual.example.com', 'A', ['10.0.0.1'])],
    policy: 'sync',
    want: ['conflict manual.example.com A'],
  },
  {
    name: "another owner's orphan claim blocks a create",
    current: [],
    desired: [ep('x.example.com', 'A', ['10.0.0.2'])],
    policy: 'sync',
    options: {claims: new Map([['x.example.com A', 'other-cluster']])},
    want: ['conflict x.example.com A owner=other-cluster'],
  },
  {
    name: 'our own orphan claim does not block',
    current: [],
    desired: [ep('x.example.com', 'A', ['10.0.0.2'])],
    policy: 'sync',
    options: {claims: new Map([['x.example.com A', ME]])},
    want: ['create x.example.com A 10.0.0.2'],
  },
  {
    name: 'a CNAME cannot be created next to other data',
    current: [ep('www.example.com', 'A', ['10.0.0.1'], theirs)],
    desired: [ep('www.example.com', 'CNAME', ['lb.example.net'])],
    policy: 'sync',
    want: ['conflict www.example.com CNAME owner=other-cluster'],
  },
  {
    name: 'replacing our own A by a CNAME: delete and create',
    current: [ep('www.example.com', 'A', ['10.0.0.1'], mine)],
    desired: [ep('www.example.com', 'CNAME', ['lb.example.net'])],
    policy: 'sync',
    want: ['create www.example.com CNAME lb.example.net', 'delete www.example.com A 10.0.0.1'],
  },
  {
    name: 'same name, other type: independent record sets',
    current: [ep('d.example.com', 'A', ['10.0.0.1'], theirs)],
    desired: [ep('d.example.com', 'AAAA', ['2001:db8::1'])],
    policy: 'sync',
    want: ['create d.example.com AAAA 2001:db8::1'],
  },
  {
    name: 'upsert-only: creates and updates, never deletes',
    current: [ep('a.example.com', 'A', ['10.0.0.1'], mine), ep('gone.example.com', 'A', ['10.0.0.3'], mine)],
    desired: [ep('a.example.com', 'A', ['10.0.0.2']), ep('new.example.com', 'A', ['10.0.0.4'])],
    policy: 'upsert-only',
    want: ['create new.example.com A 10.0.0.4', 'update a.example.com A 10.0.0.1 -> 10.0.0.2'],
  },
  {
    name: 'create-only: only creates',
    current: [ep('a.example.com', 'A', ['10.0.0.1'], mine), ep('gone.example.com', 'A', ['10.0.0.3'], mine)],
    desired: [ep('a.example.com', 'A', ['10.0.0.2']), ep('new.example.com', 'A', ['10.0.0.4'])],
    policy: 'create-only',
    want: ['create new.example.com A 10.0.0.4'],
  },
  {
    name: 'sync: create, update and delete together',
    current: [ep('a.example.com', 'A', ['10.0.0.1'], mine), ep('gone.example.com', 'A', ['10.0.0.3'], mine)],
    desired: [ep('a.example.com', 'A', ['10.0.0.2']), ep('new.example.com', 'A', ['10.0.0.4'])],
    policy: 'sync',
    want: ['create new.example.com A 10.0.0.4', 'update a.example.com A 10.0.0.1 -> 10.0.0.2', 'delete gone.example.com A 10.0.0.3'],
  },
  {
    name: 'domain filter: outside names are neither created nor deleted',
    current: [ep('old.other.org', 'A', ['10.0.0.1'], mine), ep('old.example.com', 'A', ['10.0.0.2'], mine)],
    desired: [ep('new.other.org', 'A', ['10.0.0.3']), ep('new.example.com', 'A', ['10.0.0.4'])],
    policy: 'sync',
    options: {domainFilter: ['example.com']},
    want: ['create new.example.com A 10.0.0.4', 'delete old.example.com A 10.0.0.2'],
  },
  {
    name: 'exclude-domains wins over the domain filter',
    current: [ep('a.internal.example.com', 'A', ['10.0.0.1'], mine)],
    desired: [ep('b.internal.example.com', 'A', ['10.0.0.2'])],
    policy: 'sync',
    options: {domainFilter: ['example.com'], excludeDomains: ['internal.example.com']},
    want: [],
  },
  {
    name: 'domain filter matches on label boundaries',
    current: [],
    desired: [ep('a.notexample.com', 'A', ['10.0.0.1'])],
    policy: 'sync',
    options: {domainFilter: ['example.com']},
    want: [],
  },
  {
    name: 'unmanaged types are never touched, even when owned',
    current: [ep('example.com', 'MX', ['10 mail.example.com'], mine), ep('example.com', 'NS', ['ns1.example.com'], mine)],
    desired: [],
    policy: 'sync',
    want: [],
  },
  {
    name: 'SRV and TXT are managed',
    current: [ep('_web._tcp.example.com', 'SRV', ['10 10 80 a.example.com'], mine)],
    desired: [
      ep('_web._tcp.example.com', 'SRV', ['10 10 80 a.example.com', '10 10 80 b.example.com']),
      ep('t.example.com', 'TXT', ['hello world']),
    ],
    policy: 'sync',
    want: [
      'create t.example.com TXT hello world',
      'update _web._tcp.example.com SRV 10 10 80 a.example.com -> 10 10 80 a.example.com,10 10 80 b.example.com',
    ],
  },
  {
    name: 'desired duplicates are merged',
    current: [],
    desired: [ep('a.example.com', 'A', ['10.0.0.1']), ep('a.example.com', 'A', ['10.0.0.2'])],
    policy: 'sync',
    want: ['create a.example.com A 10.0.0.1,10.0.0.2'],
  },
]

describe('calculatePlan', () => {
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(summarize(c.current, c.desired, c.policy, c.options), c.want)
    })
  }

  it('labels created records with the owner and keeps labels on update', () => {
    const {changes} = calculatePlan(
      [ep('a.example.com', 'A', ['10.0.0.1'], mine)],
      [ep('a.example.com', 'A', ['10.0.0.2']), {...ep('b.example.com', 'A', ['10.0.0.3']), labels: {resource: 'service/default/web'}}],
      'sync',
      ME,
    )
    assert.deepEqual(changes.create[0]?.labels, {resource: 'service/default/web', owner: ME})
    assert.deepEqual(changes.updateNew[0]?.labels, {owner: ME})
  })

  it('counts owned record sets in scope', () => {
    const {ownedCount} = calculatePlan(
      [
        ep('a.example.com', 'A', ['1.1.1.1'], mine),
        ep('b.example.com', 'A', ['1.1.1.1'], theirs),
        ep('c.other.org', 'A', ['1.1.1.1'], mine),
      ],
      [],
      'create-only',
      ME,
      {domainFilter: ['example.com']},
    )
    assert.equal(ownedCount, 1)
  })

  it('does not mutate its inputs', () => {
    const current = [ep('a.example.com', 'A', ['10.0.0.1'], mine)]
    const desired = [ep('A.example.com.', 'A', ['10.0.0.2'])]
    const before = JSON.stringify([current, desired])
    calculatePlan(current, desired, 'sync', ME)
    assert.equal(JSON.stringify([current, desired]), before)
  })

  it('domainMatcher: empty filter matches everything', () => {
    assert.equal(domainMatcher()('anything.org'), true)
    assert.equal(domainMatcher(['example.com.'])('example.com'), true)
  })

  it('plans 20,000 records in linear time', () => {
    const current: Endpoint[] = []
    const desired: Endpoint[] = []
    for (let i = 0; i < 20_000; i++) {
      current.push(ep(`h${i}.example.com`, 'A', [`10.0.${(i >> 8) & 255}.${i & 255}`], mine))
      desired.push(ep(`h${i}.example.com`, 'A', [`10.0.${(i >> 8) & 255}.${i & 255}`]))
    }
    desired.push(ep('extra.example.com', 'A', ['10.9.9.9']))
    const {changes} = calculatePlan(current, desired, 'sync', ME)
    assert.equal(changes.create.length, 1)
    assert.equal(changes.updateNew.length + changes.delete.length, 0)
  })
})
