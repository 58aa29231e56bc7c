/**
 * `service list`'s default order (namespace, name, endpoint), streamed one family of namespaces
 * at a time, and the command-output summaries that count naturally.
 */
import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'

import {Registry} from '../../src/lib/registry/registry.js'
import {count, importSummary, redistributionSummary} from '../../src/lib/registry/summaries.js'
import {openStore} from '../../src/lib/store/open-store.js'
import type {Store} from '../../src/lib/store/store.js'

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of it) out.push(x)
  return out
}

describe('service list order', () => {
  let store: Store
  let registry: Registry
  // Key order ("NS/") puts team-a before team, and -x before everything: the traps.
  const namespaces = ['team', 'team-a', 'team-a-b', 'team_b', 'teamz', 'a', '-x', 'Z', '0']
  before(async () => {
    store = await openStore({registry: 'sqlite::memory:', timeoutMs: 10_000})
    registry = new Registry(store, {pageSize: 3})
    for (const ns of namespaces) {
      await registry.registerNamespace(ns)
      await registry.registerServices({name: 'web', namespace: ns, endpoints: ['http://b/', 'http://a/']})
      await registry.registerServices({name: 'api', namespace: ns, endpoints: ['http://c/']})
    }
    await registry.registerServices({name: 'zz', endpoints: ['http://d/']})
  })
  after(async () => {
    await store.close()
  })

  it('sortBy namespace orders by namespace name, then service name, then endpoint', async () => {
    const listed = (await all(registry.listServices({sortBy: 'namespace'}))).map((s) => `${s.namespace} ${s.name} ${s.endpoint}`)
    const expected = [...namespaces, 'default']
      .sort()
      .flatMap((ns) => (ns === 'default' ? [`${ns} zz http://d/`] : [`${ns} api http://c/`, `${ns} web http://a/`, `${ns} web http://b/`]))
    assert.deepEqual(listed, expected)
    // The store order really differs: without sortBy, team-a comes before team.
    const raw = (await all(registry.listServices())).map((s) => s.namespace)
    assert.ok(raw.indexOf('team-a') < raw.indexOf('team'))
  })

  it('sortBy namespace applies the filters and a namespace', async () => {
    const listed = await all(registry.listServices({sortBy: 'namespace', name: '^web$', namespace: 'team-a'}))
    assert.deepEqual(
      listed.map((s) => s.endpoint),
      ['http://a/', 'http://b/'],
    )
  })

  it('an unknown sort key is invalid input naming the field', async () => {
    await assert.rejects(
      all(registry.listServices({sortBy: 'size' as never})),
      /^InvalidInputError: sort-by "size": must be one of namespace, name, endpoint, date/,
    )
  })
})

describe('summaries', () => {
  it('count says singular and plural', () => {
    assert.equal(count(1, 'service'), '1 service')
    assert.equal(count(0, 'service'), '0 services')
    assert.equal(count(2, 'entry', 'entries'), '2 entries')
  })

  it('redistribution summaries read naturally', () => {
    assert.equal(redistributionSummary({checked: 0, moved: 0, unassigned: 0}), 'no services to move')
    assert.equal(redistributionSummary({checked: 12, moved: 0, unassigned: 0}), 'no service moved (12 checked)')
    assert.equal(redistributionSummary({checked: 1, moved: 1, unassigned: 0}), '1 of 1 service moved')
    assert.equal(redistributionSummary({checked: 12, moved: 3, unassigned: 1}), '3 of 12 services moved, 1 has no server')
    assert.equal(redistributionSummary({checked: 12, moved: 3, unassigned: 2}), '3 of 12 services moved, 2 have no server')
  })

  it('import summaries read naturally', () => {
    assert.equal(
      importSummary({entries: 1, services: 1, created: 1, updated: 0, unchanged: 0}),
      'imported 1 service from 1 entry: 1 created, 0 updated, 0 unchanged',
    )
    assert.equal(
      importSummary({entries: 2, services: 3, created: 3, updated: 0, unchanged: 0}),
      'imported 3 services from 2 entries: 3 created, 0 updated, 0 unchanged',
    )
  })
})
