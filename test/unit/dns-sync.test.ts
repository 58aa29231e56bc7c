/** The pipeline's safety rules; each test fails if its rule is removed. */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import type {Endpoint, Source} from '../../src/lib/dns/endpoint.js'
import {serializeOwnershipLabels} from '../../src/lib/dns/ownership.js'
import {hasChanges, runSync, runSyncLoop} from '../../src/lib/dns/sync.js'
import {CommandExitError} from '../../src/lib/errors.js'
import {MemoryProvider} from '../support/dns-memory-provider.js'

const ME = 'ci'

function source(endpoints: Endpoint[] | (() => Promise<Endpoint[]>), name = 'test'): Source {
  return {name, endpoints: typeof endpoints === 'function' ? endpoints : async () => endpoints}
}

/** A zone holding `n` records owned by ME (h0..h{n-1}.example.com A 10.0.0.i) and one foreign record. */
function ownedZone(n: number): MemoryProvider {
  const records: Endpoint[] = [{dnsName: 'manual.example.com', recordType: 'A', targets: ['192.0.2.1']}]
  for (let i = 0; i < n; i++) {
    records.push({dnsName: `h${i}.example.com`, recordType: 'A', targets: [`10.0.0.${i}`]})
    records.push({dnsName: `a-h${i}.example.com`, recordType: 'TXT', targets: [serializeOwnershipLabels({owner: ME})]})
  }
  return new MemoryProvider(records)
}

function desiredFor(n: number): Endpoint[] {
  return Array.from({length: n}, (_, i) => ({dnsName: `h${i}.example.com`, recordType: 'A', targets: [`10.0.0.${i}`]}))
}

describe('runSync', () => {
  it('applies a plan and reports it', async () => {
    const provider = new MemoryProvider([])
    const result = await runSync({
      sources: [source([{dnsName: 'a.example.com', recordType: 'A', targets: ['10.0.0.1']}])],
      provider,
      policy: 'sync',
      ownerId: ME,
    })
    assert.equal(result.applied, true)
    assert.deepEqual(result.summary, {create: 1, update: 0, delete: 0})
    assert.deepEqual(result.providerCalls, {read: 1, write: 1})
    assert.deepEqual(provider.dump(), ['a-a.example.com TXT heritage=external-dns,external-dns/owner=ci', 'a.example.com A 10.0.0.1'])
    assert.equal(hasChanges(result), true)
    const again = await runSync({
      sources: [source([{dnsName: 'a.example.com', recordType: 'A', targets: ['10.0.0.1']}])],
      provider,
      policy: 'sync',
      ownerId: ME,
    })
    assert.equal(hasChanges(again), false)
    assert.equal(again.applied, false)
  })

  it('dry-run never calls a provider write method', async () => {
    const provider = ownedZone(3)
    provider.failWrites = true
    const result = await runSync({
      sources: [source([{dnsName: 'new.example.com', recordType: 'A', targets: ['10.0.0.9']}])],
      provider,
      policy: 'sync',
      ownerId: ME,
      dryRun: true,
    })
    assert.equal(result.applied, false)
    assert.equal(result.dryRun, true)
    assert.deepEqual(result.summary, {create: 1, update: 0, delete: 3})
    assert.equal(provider.stats.writeCalls, 0)
  })

  it('refuses (exit 9) a plan touching more than --max-change-percent of ≥10 owned records, and writes nothing', async () => {
    const provider = ownedZone(10)
    provider.failWrites = true
    const desired = desiredFor(10).slice(0, 6) // deletes 4 of 10 = 40% > 30%
    await assert.rejects(
      runSync({sources: [source(desired)], provider, policy: 'sync', ownerId: ME}),
      (e: unknown) =>
        e instanceof CommandExitError && e.exitCode === 9 && e.code === 'unsafe_plan' && /4 of 10 owned records/.test(e.message),
    )
    // 3 of 10 = 30% is allowed
    provider.failWrites = false
    const ok = await runSync({sources: [source(desiredFor(10).slice(0, 7))], provider, policy: 'sync', ownerId: ME})
    assert.equal(ok.summary.delete, 3)
  })

  it('--max-change-percent counts updates too, and a higher limit allows the plan', async () => {
    const provider = ownedZone(10)
    const desired = desiredFor(10).map((e, i) => (i < 4 ? {...e, targets: ['10.9.9.9']} : e))
    await assert.rejects(runSync({sources: [source(desired)], provider, policy: 'sync', ownerId: ME}), /4 of 10/)
    const result = await runSync({sources: [source(desired)], provider, policy: 'sync', ownerId: ME, maxChangePercent: 50})
    assert.equal(result.summary.update, 4)
  })

  it('the percentage rule does not apply below 10 owned records', async () => {
    const provider = ownedZone(9)
    const result = await runSync({sources: [source(desiredFor(9).slice(0, 1))], provider, policy: 'sync', ownerId: ME})
    assert.equal(result.summary.delete, 8)
  })

  it('--force overrides the percentage rule', async () => {
    const provider = ownedZone(10)
    const result = await runSync({sources: [source(desiredFor(10).slice(0, 2))], provider, policy: 'sync', ownerId: ME, force: true})
    assert.equal(result.summary.delete, 8)
    assert.equal(result.applied, true)
  })

  it('an empty source does not wipe the owned records (even below the percentage threshold)', async () => {
    const provider = ownedZone(3)
    provider.failWrites = true
    await assert.rejects(
      runSync({sources: [source([], 'registry')], provider, policy: 'sync', ownerId: ME}),
      (e: unknown) => e instanceof CommandExitError && e.exitCode === 9 && /source registry returned no endpoints/.test(e.message),
    )
  })

  it('a failing source aborts before anything is read or written', async () => {
    const provider = ownedZone(3)
    provider.failWrites = true
    const failing = source(async () => {
      throw new Error('connection refused')
    }, 'kubernetes')
    await assert.rejects(
      runSync({sources: [source(desiredFor(3)), failing], provider, policy: 'sync', ownerId: ME}),
      /source kubernetes: connection refused/,
    )
    assert.equal(provider.stats.readCalls, 0)
    assert.equal(provider.stats.writeCalls, 0)
  })

  it('foreign and unowned records are untouched; conflicts reported', async () => {
    const provider = new MemoryProvider([
      {dnsName: 'manual.example.com', recordType: 'A', targets: ['192.0.2.1']},
      {dnsName: 'theirs.example.com', recordType: 'A', targets: ['192.0.2.2']},
      {dnsName: 'a-theirs.example.com', recordType: 'TXT', targets: [serializeOwnershipLabels({owner: 'other'})]},
    ])
    const before = provider.dump()
    const result = await runSync({
      sources: [
        source([
          {dnsName: 'manual.example.com', recordType: 'A', targets: ['10.0.0.1']},
          {dnsName: 'theirs.example.com', recordType: 'A', targets: ['10.0.0.2']},
        ]),
      ],
      provider,
      policy: 'sync',
      ownerId: ME,
    })
    assert.equal(hasChanges(result), false)
    assert.deepEqual(
      result.conflicts.map((c) => `${c.dnsName} ${c.owner ?? '-'}`),
      ['manual.example.com -', 'theirs.example.com other'],
    )
    assert.deepEqual(provider.dump(), before)
  })

  it('the domain filter is respected on both sides', async () => {
    const provider = new MemoryProvider([
      {dnsName: 'old.other.org', recordType: 'A', targets: ['10.0.0.1']},
      {dnsName: 'a-old.other.org', recordType: 'TXT', targets: [serializeOwnershipLabels({owner: ME})]},
    ])
    const result = await runSync({
      sources: [
        source([
          {dnsName: 'new.other.org', recordType: 'A', targets: ['10.0.0.2']},
          {dnsName: 'x.example.com', recordType: 'A', targets: ['10.0.0.3']},
        ]),
      ],
      provider,
      policy: 'sync',
      ownerId: ME,
      domainFilter: ['example.com'],
    })
    assert.deepEqual(result.summary, {create: 1, update: 0, delete: 0})
    assert.ok(provider.dump().includes('old.other.org A 10.0.0.1'))
    assert.ok(!provider.dump().some((l) => l.startsWith('new.other.org')))
  })

  it('loop mode runs until aborted and finishes the current run', async () => {
    const provider = new MemoryProvider([])
    const controller = new AbortController()
    let results = 0
    const runs = await runSyncLoop(() => ({sources: [source(desiredFor(1))], provider, policy: 'sync', ownerId: ME}), {
      intervalMs: 10,
      signal: controller.signal,
      onResult: () => {
        results++
        if (results === 3) controller.abort()
      },
      onError: (e) => assert.fail(String(e)),
    })
    assert.equal(runs, 3)
    assert.equal(provider.stats.writeCalls, 1)
  })
})
