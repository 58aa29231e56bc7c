/**
 * `dns sync` against a real PowerDNS (pdns_server + gsqlite3 on loopback), through the pipeline
 * (runSync: source → ownership → plan → PdnsProvider). Prints figures; asserts nothing.
 *
 *   (a) a zone of 20,000 owned records (A + external-dns ownership TXT at a-NAME), nothing to
 *       change: wall time, provider calls (target: one list call, no write);
 *   (b) 5,000 creates into an empty zone: wall time, write calls.
 *
 *   node --import tsx bench/dns-pdns.ts [--records 20000] [--creates 5000] [--runs 3]
 */
import {arg, desiredA, ip, staticSource} from './bench-support.js'
import {PdnsProvider} from '../src/lib/dns/providers/pdns.js'
import {runSync} from '../src/lib/dns/sync.js'
import {startPdns, type PdnsSeedRecord, type StartedPdns} from '../test/support/pdns-server.js'

const RECORDS = arg('records', 20_000)
const CREATES = arg('creates', 5_000)
const RUNS = arg('runs', 3)
const OWNER = 'bench'

async function seedOwned(pdns: StartedPdns, zone: string, n: number): Promise<void> {
  const batch: PdnsSeedRecord[] = []
  const flush = async (): Promise<void> => {
    await pdns.seed(zone, batch.splice(0))
  }
  for (let i = 0; i < n; i++) {
    batch.push({name: `h${i}.${zone}`, type: 'A', ttl: 300, contents: [ip(i)]})
    batch.push({
      name: `a-h${i}.${zone}`,
      type: 'TXT',
      ttl: 300,
      contents: [`"heritage=external-dns,external-dns/owner=${OWNER},external-dns/resource=file/bench/h${i}"`],
    })
    if (batch.length >= 8000) await flush()
  }
  await flush()
}

function ms(start: bigint): string {
  return `${(Number(process.hrtime.bigint() - start) / 1e6).toFixed(0)} ms`
}

async function main(): Promise<void> {
  const noChange = 'nochange.bench'
  const empty = 'empty.bench'
  const t0 = process.hrtime.bigint()
  const pdns = await startPdns({zones: [{name: noChange}]})
  try {
    console.log(`PowerDNS 4.7 (gsqlite3) on ${pdns.url}; started in ${ms(t0)}`)
    const tSeed = process.hrtime.bigint()
    await seedOwned(pdns, noChange, RECORDS)
    console.log(`seeded ${RECORDS} owned records (${RECORDS * 2} RRsets) in ${ms(tSeed)}`)

    console.log(`\n(a) ${RECORDS} owned records, nothing to change (runSync, policy sync, --pdns-zone ${noChange})`)
    const want = desiredA(noChange, RECORDS)
    for (let run = 1; run <= RUNS; run++) {
      const provider = new PdnsProvider({
        server: pdns.url,
        apiKey: pdns.apiKey,
        serverId: 'localhost',
        zones: [noChange],
        timeoutMs: 60_000,
      })
      const start = process.hrtime.bigint()
      const result = await runSync({sources: [staticSource(want)], provider, policy: 'sync', ownerId: OWNER})
      const changes = result.summary.create + result.summary.update + result.summary.delete
      console.log(
        `  run ${run}: ${ms(start)}; changes ${changes}; owned ${result.owned}; provider calls: read ${provider.stats.readCalls}, write ${provider.stats.writeCalls}`,
      )
    }
    {
      const provider = new PdnsProvider({server: pdns.url, apiKey: pdns.apiKey, serverId: 'localhost', timeoutMs: 60_000})
      const start = process.hrtime.bigint()
      const result = await runSync({sources: [staticSource(want)], provider, policy: 'sync', ownerId: OWNER})
      console.log(
        `  without --pdns-zone (zones listed): ${ms(start)}; changes ${result.summary.create + result.summary.update + result.summary.delete}; provider calls: read ${provider.stats.readCalls}, write ${provider.stats.writeCalls}`,
      )
    }

    console.log(`\n(b) ${CREATES} creates into an empty zone (runSync, policy sync; each create adds its ownership TXT)`)
    for (let run = 1; run <= RUNS; run++) {
      const zone = `r${run}.${empty}`
      await pdns.createZone({name: zone})
      const provider = new PdnsProvider({server: pdns.url, apiKey: pdns.apiKey, serverId: 'localhost', zones: [zone], timeoutMs: 60_000})
      const start = process.hrtime.bigint()
      const result = await runSync({sources: [staticSource(desiredA(zone, CREATES))], provider, policy: 'sync', ownerId: OWNER})
      const elapsed = ms(start)
      const rrsets = (await pdns.rrsets(zone)).length
      console.log(
        `  run ${run}: ${elapsed}; created ${result.summary.create} (+ ownership TXT: ${rrsets - 2} RRsets in the zone); provider calls: read ${provider.stats.readCalls}, write ${provider.stats.writeCalls}`,
      )
    }
  } finally {
    await pdns.stop()
  }
}

await main()
