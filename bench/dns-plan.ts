/**
 * Plan calculation (calculatePlan, pure) for N desired against N current endpoints. Prints
 * milliseconds; asserts nothing. Three shapes: nothing to change; 1% of records changed (updates,
 * creates and deletes); everything new (empty zone). The ownership layer's records() (TXT parsing
 * and label attachment) is timed too, on a zone of N records + N ownership TXT records.
 *
 *   node --import tsx bench/dns-plan.ts [--records 100000] [--runs 5]
 */
import type {Changes, Endpoint, Provider} from '../src/lib/dns/endpoint.js'
import {OwnershipProvider, serializeOwnershipLabels} from '../src/lib/dns/ownership.js'
import {calculatePlan} from '../src/lib/dns/plan.js'
import {arg, ip} from './bench-support.js'

const N = arg('records', 100_000)
const RUNS = arg('runs', 5)
const OWNER = 'bench'

function current(n: number): Endpoint[] {
  return Array.from({length: n}, (_, i) => ({
    dnsName: `host-${i}.bench.example.com`,
    recordType: 'A',
    targets: [ip(i)],
    recordTTL: 300,
    labels: {owner: OWNER},
  }))
}

function desired(n: number, changedEvery = 0): Endpoint[] {
  const out: Endpoint[] = []
  for (let i = 0; i < n; i++) {
    if (changedEvery > 0 && i % changedEvery === 0) {
      // one in `changedEvery`: a target change; the next one is dropped (delete) and replaced by a new name (create)
      out.push({dnsName: `host-${i}.bench.example.com`, recordType: 'A', targets: [ip(i + 1)]})
      continue
    }
    if (changedEvery > 0 && i % changedEvery === 1) {
      out.push({dnsName: `new-${i}.bench.example.com`, recordType: 'A', targets: [ip(i)]})
      continue
    }
    out.push({dnsName: `host-${i}.bench.example.com`, recordType: 'A', targets: [ip(i)]})
  }
  return out
}

function time(label: string, fn: () => unknown): void {
  const samples: number[] = []
  let result: unknown
  for (let r = 0; r < RUNS; r++) {
    const t0 = process.hrtime.bigint()
    result = fn()
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6)
  }
  samples.sort((a, b) => a - b)
  const median = samples[Math.floor(samples.length / 2)] as number
  const detail = typeof result === 'string' ? ` (${result})` : ''
  console.log(`${label.padEnd(58)} median ${median.toFixed(0).padStart(6)} ms   min ${(samples[0] as number).toFixed(0)} ms${detail}`)
}

const summary = (c: Changes): string => `create ${c.create.length}, update ${c.updateNew.length}, delete ${c.delete.length}`

const cur = current(N)
const same = desired(N)
const onePercent = desired(N, 100)

console.log(
  `calculatePlan, ${N.toLocaleString('en')} desired vs ${N.toLocaleString('en')} current endpoints, ${RUNS} runs, node ${process.version}`,
)
time('nothing to change', () => summary(calculatePlan(cur, same, 'sync', OWNER).changes))
time('1% updated, 1% deleted, 1% created', () => summary(calculatePlan(cur, onePercent, 'sync', OWNER).changes))
time('empty zone: everything created', () => summary(calculatePlan([], same, 'sync', OWNER).changes))

// Ownership: N records + N ownership TXT records through records().
const zone: Endpoint[] = []
for (let i = 0; i < N; i++) {
  zone.push({dnsName: `host-${i}.bench.example.com`, recordType: 'A', targets: [ip(i)], recordTTL: 300})
  zone.push({dnsName: `a-host-${i}.bench.example.com`, recordType: 'TXT', targets: [serializeOwnershipLabels({owner: OWNER})]})
}
const stub: Provider = {
  name: 'stub',
  stats: {readCalls: 0, writeCalls: 0},
  records: async () => zone.map((e) => ({...e})),
  applyChanges: async () => undefined,
}
const own = new OwnershipProvider(stub, {ownerId: OWNER})
const samples: number[] = []
for (let r = 0; r < RUNS; r++) {
  const t0 = process.hrtime.bigint()
  const recs = await own.records()
  samples.push(Number(process.hrtime.bigint() - t0) / 1e6)
  if (recs.length !== N) throw new Error('unexpected record count')
}
samples.sort((a, b) => a - b)
console.log(
  `${'ownership records(): N records + N ownership TXT'.padEnd(58)} median ${(samples[Math.floor(samples.length / 2)] as number).toFixed(0).padStart(6)} ms   min ${(samples[0] as number).toFixed(0)} ms`,
)
