/**
 * What a bulk import into a namespace much larger than the import must still do, on either store:
 * the range over the namespace stops early and the rest of the keys are read by key, and the
 * result is the same as when everything was read.
 */
import assert from 'node:assert/strict'

import type {Registry} from '../../src/lib/registry/registry.js'
import {storeRevision} from '../../src/lib/store/store.js'

/**
 * Seeds 1,000 services into namespace `ns` of `registry` (whose page size is small, so that the
 * range of a 300-service import stops at 600), then imports 300: 100 unchanged, 50 changed, 150
 * new; then an import with a duplicate, a bad line and an unknown namespace among 300 writes
 * nothing and names each bad entry; then the same 300 again write nothing.
 */
export async function importIntoLargeNamespace(registry: Registry, ns: string): Promise<void> {
  const entry = (i: number, extra: Record<string, unknown> = {}) => ({
    name: 'big',
    namespace: ns,
    endpoint: `http://h${i}.example:9100/metrics`,
    labels: {n: String(i)},
    ...extra,
  })
  await registry.registerNamespace(ns)
  for (let i = 0; i < 1000; i += 250) await registry.importServices(Array.from({length: 250}, (_, j) => entry(i + j)))
  const list = [
    ...Array.from({length: 100}, (_, i) => entry(i * 7)),
    ...Array.from({length: 50}, (_, i) => entry(i * 7 + 3, {labels: {n: 'changed'}})),
    ...Array.from({length: 150}, (_, i) => entry(5000 + i)),
  ]
  const r = await registry.importServices(list)
  assert.deepEqual({...r}, {entries: 300, services: 300, created: 150, updated: 50, unchanged: 100})

  const before = await storeRevision(registry.store)
  const bad = list.map((e) => ({...e, labels: {n: 'again'}}))
  bad[10] = {...bad[3]!}
  bad[20] = {...bad[20]!, endpoint: 'gopher://x'}
  bad[299] = {...bad[299]!, namespace: `${ns}-absent`}
  await assert.rejects(registry.importServices(bad), (error: unknown) => {
    assert.match(
      String(error),
      /^InvalidInputError: file: 3 of 300 entries are invalid, nothing was imported: entry 11: endpoint "http:\/\/h21\.example:9100\/metrics": is also in entry 4 .*entry 21: endpoint "gopher:\/\/x".*entry 300: namespace ".*-absent" is not registered/,
    )
    return true
  })
  assert.equal(await storeRevision(registry.store), before, 'nothing written')

  const again = await registry.importServices(list)
  assert.deepEqual({...again}, {entries: 300, services: 300, created: 0, updated: 0, unchanged: 300})
  let count = 0
  let changed = 0
  for await (const s of registry.listServices({namespace: ns})) {
    count++
    if (s.labels.n === 'changed') changed++
  }
  assert.equal(count, 1150)
  assert.equal(changed, 50)
}
