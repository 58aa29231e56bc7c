/**
 * `dns sync` against a real BIND 9 (named on loopback, TSIG hmac-sha256), through the pipeline
 * (runSync: source → ownership → plan → Rfc2136Provider). Prints figures; asserts nothing.
 *
 *   (a) a zone of 20,000 owned records (A + external-dns ownership TXT at a-NAME), nothing to
 *       change: wall time, provider calls (target: one list call — one signed AXFR — no write);
 *   (b) 5,000 creates into an empty zone: wall time, write calls (UPDATE messages), and the
 *       record count read back with a signed AXFR by dig.
 *
 *   node --import tsx bench/dns-rfc2136.ts [--records 20000] [--creates 5000] [--runs 3]
 */
import {arg, desiredA, ip, staticSource} from './bench-support.js'
import {Rfc2136Provider} from '../src/lib/dns/providers/rfc2136.js'
import {runSync} from '../src/lib/dns/sync.js'
import {type BindServer, startBind} from '../test/support/bind-server.js'

const RECORDS = arg('records', 20_000)
const CREATES = arg('creates', 5_000)
const RUNS = arg('runs', 3)
const OWNER = 'bench'
const KEY = 'bench-key'
const SECRET = Buffer.from('roster rfc2136 benchmark secret (32 octets+)').toString('base64')

/** Zone-file lines: the A records and their ownership TXT records, as external-dns writes them. */
function ownedZoneLines(n: number): string[] {
  const lines: string[] = []
  for (let i = 0; i < n; i++) {
    lines.push(`h${i} 300 IN A ${ip(i)}`)
    lines.push(`a-h${i} 300 IN TXT "heritage=external-dns,external-dns/owner=${OWNER},external-dns/resource=file/bench/h${i}"`)
  }
  return lines
}

function provider(bind: BindServer): Rfc2136Provider {
  return new Rfc2136Provider({
    host: bind.host,
    port: bind.port,
    zone: bind.zone,
    tsigKeyName: KEY,
    tsigSecret: SECRET,
    tsigAlgorithm: 'hmac-sha256',
    timeoutMs: 60_000,
  })
}

function ms(start: bigint): string {
  return `${(Number(process.hrtime.bigint() - start) / 1e6).toFixed(0)} ms`
}

async function main(): Promise<void> {
  const noChangeZone = 'nochange.bench'
  const t0 = process.hrtime.bigint()
  const full = await startBind({
    zone: noChangeZone,
    keyName: KEY,
    secret: SECRET,
    algorithm: 'hmac-sha256',
    records: ownedZoneLines(RECORDS),
  })
  try {
    console.log(
      `BIND 9.18 on ${full.host}:${full.port}, zone ${noChangeZone} with ${RECORDS} owned records (${RECORDS * 2} RRs) loaded; started in ${ms(t0)}`,
    )
    console.log(`\n(a) ${RECORDS} owned records, nothing to change (runSync, policy sync)`)
    const want = desiredA(noChangeZone, RECORDS)
    for (let run = 1; run <= RUNS; run++) {
      const p = provider(full)
      const start = process.hrtime.bigint()
      const result = await runSync({sources: [staticSource(want)], provider: p, policy: 'sync', ownerId: OWNER})
      const changes = result.summary.create + result.summary.update + result.summary.delete
      console.log(
        `  run ${run}: ${ms(start)}; changes ${changes}; owned ${result.owned}; provider calls: read ${p.stats.readCalls}, write ${p.stats.writeCalls}`,
      )
    }
    {
      const p = provider(full)
      const start = process.hrtime.bigint()
      const records = await p.records()
      console.log(`  the signed AXFR alone (Rfc2136Provider.records()): ${ms(start)} for ${records.length} record sets`)
    }
  } finally {
    await full.stop()
  }

  console.log(`\n(b) ${CREATES} creates into an empty zone (runSync, policy sync; each create adds its ownership TXT)`)
  for (let run = 1; run <= RUNS; run++) {
    const zone = `r${run}.empty.bench`
    const bind = await startBind({zone, keyName: KEY, secret: SECRET, algorithm: 'hmac-sha256'})
    try {
      const p = provider(bind)
      const start = process.hrtime.bigint()
      const result = await runSync({sources: [staticSource(desiredA(zone, CREATES))], provider: p, policy: 'sync', ownerId: OWNER})
      const elapsed = ms(start)
      const axfr = await bind.dig('-y', `hmac-sha256:${KEY}:${SECRET}`, zone, 'AXFR', '+noall', '+answer')
      const rrs = axfr.split('\n').filter((l) => /\tIN\t(A|TXT)\t/.test(l) && /^(a-)?h\d+\./.test(l)).length
      console.log(
        `  run ${run}: ${elapsed}; created ${result.summary.create} (${rrs} A+TXT RRs in the zone afterwards, by dig AXFR); provider calls: read ${p.stats.readCalls}, write ${p.stats.writeCalls}`,
      )
    } finally {
      await bind.stop()
    }
  }
}

await main()
