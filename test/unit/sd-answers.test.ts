/**
 * serve's kept http_sd answers (server/sd-answers.ts) over a real view of a SQLite store: after
 * every batch of changes (services added, renamed, moved between servers, relabelled, removed),
 * each answer, kept and patched, is byte for byte the answer rendered afresh from the view, for
 * one namespace and for every namespace of a server; an answer not changed by a batch stays the
 * very same bytes; a relist and a removed server forget what they should.
 */
import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'

import {namespaceKey, serverKey, serviceKey} from '../../src/lib/registry/keys.js'
import type {Service} from '../../src/lib/registry/model.js'
import {type SdConfig, joinGroupTexts, targetGroupsText} from '../../src/lib/sd/targets.js'
import {CHUNK, type PartKey, SdAnswers} from '../../src/lib/server/sd-answers.js'
import {RegistryView} from '../../src/lib/server/view.js'
import {openStore} from '../../src/lib/store/open-store.js'
import {CompactedError, MAX_TXN_OPS, type Operation} from '../../src/lib/store/store.js'
import {BreakableStore} from '../support/store-suite.js'
import {awkwardServices} from '../support/sd-services.js'
import {until} from '../support/until.js'

const SERVERS = ['prom1', 'prom2']
const NAMESPACES = ['ns1', 'ns2']
const CONFIGS: SdConfig[] = ['standard', 'blackbox']

describe('kept http_sd answers', () => {
  let store: BreakableStore
  let view: RegistryView
  let answers: SdAnswers
  const live = new Map<string, Service>()

  const write = async (ops: Operation[]) => {
    for (let i = 0; i < ops.length; i += MAX_TXN_OPS) await store.txn([], ops.slice(i, i + MAX_TXN_OPS))
    await view?.fresh()
  }
  const put = (s: Service): Operation => {
    live.set(`${s.namespace}/${s.id}`, s)
    return {type: 'put', key: serviceKey(s.namespace, s.id), value: JSON.stringify(s)}
  }
  const del = (s: Service): Operation => {
    live.delete(`${s.namespace}/${s.id}`)
    return {type: 'delete', key: serviceKey(s.namespace, s.id)}
  }

  /** What a fresh render gives: the groups of every part, in one list. */
  const fresh = (server: string, parts: PartKey[]) => {
    const texts = parts.map((p) => targetGroupsText(view.servicesIn(p.namespace), {server, ...p})).filter((t) => t !== '[]\n')
    return texts.length === 0 ? '[]\n' : texts.length === 1 ? texts[0]! : joinGroupTexts(texts.map((t) => t.slice(2, -3)))
  }
  const combinations = (): [string, PartKey[]][] => {
    const all: [string, PartKey[]][] = []
    for (const server of [...SERVERS, 'prom3']) {
      for (const namespace of NAMESPACES) for (const config of CONFIGS) all.push([server, [{namespace, config}]])
      all.push([server, NAMESPACES.map((namespace, i) => ({namespace, config: CONFIGS[i]!}))])
      all.push([server, []])
    }
    return all
  }
  const answer = async (server: string, parts: PartKey[]) => answers.kept(server, parts) ?? (await answers.render(server, parts))
  const checkAll = async (what: string) => {
    assert.equal([...view.allServices()].length, live.size, `${what}: the view holds what was written`)
    for (const [server, parts] of combinations()) {
      const got = await answer(server, parts)
      assert.equal(got.toString(), fresh(server, parts), `${what}: ${server} ${JSON.stringify(parts)}`)
      assert.equal(answers.kept(server, parts), got, `${what}: kept after the render`)
    }
  }

  before(async () => {
    store = new BreakableStore(await openStore({registry: 'sqlite::memory:', timeoutMs: 5000}))
    await store.txn(
      [],
      [
        ...SERVERS.map((name): Operation => ({
          type: 'put',
          key: serverKey(name),
          value: JSON.stringify({name, labels: {}, state: 'active', modified: ''}),
        })),
        ...NAMESPACES.map((name): Operation => ({
          type: 'put',
          key: namespaceKey(name),
          value: JSON.stringify({name, export: 'standard', modified: ''}),
        })),
      ],
    )
    await store.txn(
      [],
      [{type: 'put', key: serverKey('prom3'), value: JSON.stringify({name: 'prom3', labels: {}, state: 'active', modified: ''})}],
    )
    await write(awkwardServices(1500, 3).map(put))
    view = new RegistryView(store)
    await view.start()
    answers = new SdAnswers(view)
  })
  after(async () => {
    answers.close()
    await view.close()
    await store.close()
  })

  it('renders every answer as a fresh render does', () => checkAll('first render'))

  it('keeps the answers a batch does not touch, the very same bytes', async () => {
    const untouched = await answer('prom3', [{namespace: 'ns1', config: 'standard'}])
    const s = [...live.values()].find((x) => x.namespace === 'ns2' && x.servers.includes('prom1'))!
    await write([put({...s, name: `${s.name}-renamed`})])
    assert.equal(answers.kept('prom3', [{namespace: 'ns1', config: 'standard'}]), untouched)
    assert.equal(answers.kept('prom1', [{namespace: 'ns2', config: 'standard'}]), undefined, 'a touched answer is rendered again')
    await checkAll('one rename')
  })

  it('renders again only the chunk of groups a change touches', async () => {
    const big: PartKey[] = [{namespace: 'ns1', config: 'standard'}]
    await write(awkwardServices(6 * CHUNK, 40).map((s) => put({...s, id: `big-${s.id}`, namespace: 'ns1', servers: ['prom2']})))
    const groups = (await answer('prom2', big)).toString().split('"targets"').length - 1
    assert.ok(groups > 4 * CHUNK, `the answer has ${groups} groups`)
    const s = [...live.values()].find((x) => x.namespace === 'ns1' && x.servers.includes('prom2'))!
    const rendered = answers.counts.groupsRendered
    await write([put({...s, labels: {changed: 'yes'}})])
    const after = (await answer('prom2', big)).toString()
    assert.equal(after, fresh('prom2', big))
    const again = answers.counts.groupsRendered - rendered
    assert.ok(again >= 1 && again < 2 * CHUNK, `${again} groups rendered again for one change, of ${groups}`)
  })

  it('patches the answers through batches of changes', async () => {
    let round = 0
    let state = 17
    const next = (n: number) => {
      state = (state * 1103515245 + 12345) & 0x7fffffff
      return state % n
    }
    for (const [count, seed] of [
      [1, 5],
      [40, 6],
      [700, 7],
    ] as const) {
      round++
      const current = [...live.values()]
      const ops: Operation[] = []
      const touched = new Set<string>()
      const fresh = awkwardServices(count, seed).map((s) => ({...s, id: `r${round}-${s.id}`}))
      // A third added, a third changed (renamed, moved, relabelled, a new endpoint), a third removed.
      for (const s of fresh.slice(0, Math.ceil(count / 3))) ops.push(put(s))
      for (const s of fresh.slice(Math.ceil(count / 3))) {
        const old = current[next(current.length)]!
        const key = `${old.namespace}/${old.id}`
        if (touched.has(key)) continue
        touched.add(key)
        if (next(2) === 0) ops.push(del(old))
        else ops.push(put({...old, name: s.name, endpoint: next(2) ? s.endpoint : old.endpoint, servers: s.servers, labels: s.labels}))
      }
      // Many at once into one answer: its chunks split.
      if (count > 100)
        for (const s of awkwardServices(count, seed + 100))
          ops.push(put({...s, id: `bulk${round}-${s.id}`, namespace: 'ns1', servers: ['prom2']}))
      await write(ops)
      await checkAll(`batch of ${ops.length}`)
    }
    // And everything of one answer removed.
    await write([...live.values()].filter((s) => s.namespace === 'ns1' && s.servers.includes('prom2')).map(del))
    await checkAll('one answer emptied')
  })

  it('forgets the answers of a removed server, and everything after a relist', async () => {
    const kept = await answer('prom1', [{namespace: 'ns1', config: 'standard'}])
    await store.txn([], [{type: 'delete', key: serverKey('prom3')}])
    await view.fresh()
    assert.equal(answers.kept('prom3', [{namespace: 'ns1', config: 'standard'}]), undefined)
    assert.equal(answers.kept('prom1', [{namespace: 'ns1', config: 'standard'}]), kept)
    store.endWatches(new CompactedError('compacted for the test', view.storeRevision))
    const s = [...live.values()].find((x) => x.namespace === 'ns1' && x.servers.includes('prom1'))!
    await store.txn([], [del(s)])
    await until('the relist', () => answers.kept('prom1', [{namespace: 'ns1', config: 'standard'}]) !== kept, {intervalMs: 10})
    assert.equal(answers.kept('prom1', [{namespace: 'ns1', config: 'standard'}]), undefined, 'the relist forgot it')
    await view.fresh()
    await checkAll('after the relist')
  })
})
