import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {describe, it} from 'node:test'

import {InvalidInputError} from '../../src/lib/errors.js'
import {assignServers, distributeServices, rendezvousScore, requireCandidates} from '../../src/lib/registry/distribution.js'
import type {Server} from '../../src/lib/registry/model.js'

function server(name: string, labels: Record<string, string> = {}, state: Server['state'] = 'active'): Server {
  return {name, labels, state, modified: ''}
}

const services = Array.from({length: 10_000}, (_, i) => ({id: `s${i}`, endpoint: `http://host${i}.example:9100/metrics`, selector: ''}))
/**
 * For the exact properties (which services move when a server leaves), which hold service by
 * service: the first 1,000 (a service's assignment does not depend on the others, so `base` holds
 * theirs), still 80-220 on each server. Evenness is measured on all 10,000 (each server within 15%
 * of the mean, which needs a thousand a server); the share moving to a new server (about 1/11) on
 * the first 2,000, where it lies within 0.005 of 1/11, far inside the bounds asserted.
 */
const sample = services.slice(0, 1000)
const joinSample = services.slice(0, 2000)
const tenServers = Array.from({length: 10}, (_, i) => server(`prom-${String.fromCharCode(97 + i)}`))

/** The services of `after` whose servers differ from those in `before`. */
function moves(before: Map<string, string[]>, after: Map<string, string[]>): string[] {
  return [...after.keys()].filter((id) => before.get(id)!.join() !== after.get(id)!.join())
}

describe('distribution (rendezvous hashing)', () => {
  it('scores are stable 64-bit values', () => {
    assert.equal(rendezvousScore('http://a/', 'p1'), rendezvousScore('http://a/', 'p1'))
    assert.notEqual(rendezvousScore('http://a/', 'p1'), rendezvousScore('http://a/', 'p2'))
    assert.equal(typeof rendezvousScore('x', 'y'), 'bigint')
  })

  it('scores are the first 8 bytes of sha256(endpoint NUL server): assignments stored before stay put', () => {
    for (const [endpoint, name] of [
      ['http://a/', 'p1'],
      ['http://höst.example:9100/metrics', 'prom-ä'],
      ['', ''],
    ] as const) {
      const digest = createHash('sha256').update(endpoint).update('\0').update(name).digest()
      assert.equal(rendezvousScore(endpoint, name), digest.readBigUInt64BE(0))
    }
    assert.equal(rendezvousScore('http://a/', 'p1'), 0x58a6ae790ff730dbn)
  })

  for (const replicas of [1, 2]) {
    describe(`replicas=${replicas}`, () => {
      const base = distributeServices(services, tenServers, replicas)

      it('spreads 10,000 services over 10 servers evenly', () => {
        const load = new Map<string, number>()
        for (const names of base.values()) {
          assert.equal(names.length, replicas)
          for (const n of names) load.set(n, (load.get(n) ?? 0) + 1)
        }
        assert.equal(load.size, 10)
        const mean = (10_000 * replicas) / 10
        for (const [name, n] of load) assert.ok(Math.abs(n - mean) < mean * 0.15, `${name} holds ${n}, mean ${mean}`)
      })

      for (const leaving of tenServers) {
        it(`removing ${leaving.name} moves exactly the services it held`, () => {
          const after = distributeServices(
            sample,
            tenServers.filter((s) => s !== leaving),
            replicas,
          )
          const moved = moves(base, after)
          const held = sample.map((s) => s.id).filter((id) => base.get(id)!.includes(leaving.name))
          assert.deepEqual(moved.sort(), held.sort())
          for (const id of moved) {
            // The service keeps its other servers and replaces only the one that left.
            const kept = base.get(id)!.filter((n) => n !== leaving.name)
            assert.ok(kept.every((n) => after.get(id)!.includes(n)))
            assert.ok(!after.get(id)!.includes(leaving.name))
          }
        })
      }

      it('marking a server leaving is the same as removing it', () => {
        const leaving = tenServers.map((s) => (s.name === 'prom-e' ? {...s, state: 'leaving' as const} : s))
        const removed = tenServers.filter((s) => s.name !== 'prom-e')
        assert.deepEqual(distributeServices(sample, leaving, replicas), distributeServices(sample, removed, replicas))
      })

      for (const newName of ['prom-0', 'prom-f1', 'prom-z']) {
        it(`adding ${newName} moves about 1/11 of the services, all to it`, () => {
          const after = distributeServices(joinSample, [...tenServers, server(newName)], replicas)
          const moved = moves(base, after)
          const share = moved.length / joinSample.length
          assert.ok(share > 0.06 * replicas && share < 0.12 * replicas, `moved ${moved.length}`)
          for (const id of moved) {
            const gained = after.get(id)!.filter((n) => !base.get(id)!.includes(n))
            assert.deepEqual(gained, [newName])
          }
        })
      }
    })
  }

  it('candidates are the servers matching the selector', () => {
    const servers = [server('a', {env: 'prod'}), server('b', {env: 'dev'}), server('c', {env: 'prod'})]
    for (let i = 0; i < 100; i++) {
      const names = assignServers({endpoint: `http://h${i}/`, selector: 'env=prod'}, servers, 1)
      assert.equal(names.length, 1)
      assert.ok(names[0] === 'a' || names[0] === 'c')
    }
    assert.deepEqual(assignServers({endpoint: 'http://h/', selector: 'env=prod'}, servers, 5), ['a', 'c'])
    assert.deepEqual(assignServers({endpoint: 'http://h/', selector: 'env=qa'}, servers, 1), [])
  })

  it('a selector matching none of the servers is an error naming the selector; no servers at all is not', () => {
    const servers = [server('a', {env: 'prod'}), server('b', {env: 'qa'}, 'leaving')]
    assert.throws(
      () => requireCandidates({endpoint: 'http://h/', selector: 'env=qa'}, servers),
      (e: unknown) => e instanceof InvalidInputError && /^selector "env=qa": matches none of the 1 registered servers/.test(e.message),
    )
    requireCandidates({endpoint: 'http://h/', selector: 'env=qa'}, [])
    requireCandidates({endpoint: 'http://h/', selector: 'env=prod'}, servers)
  })
})
