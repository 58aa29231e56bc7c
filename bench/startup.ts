/**
 * Start-up: `roster --version` and `roster service list` on an embedded store of 100 services,
 * each as a ratio to `node -e 0`, median of several runs, all measured in one run, interleaved
 * so that machine noise hits every command alike.
 *
 *   npm run build && node --import tsx bench/startup.ts [runs]
 */
import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {BIN, isolatedEnv} from '../test/support/cli.js'
import {median} from './bench-support.js'

const runs = Number(process.argv[2] ?? 21)
const dir = mkdtempSync(path.join(tmpdir(), 'roster-bench-startup-'))
const env = isolatedEnv({ROSTER_REGISTRY: `sqlite:${path.join(dir, 'registry.db')}`}) as NodeJS.ProcessEnv

const services = Array.from({length: 100}, (_, i) => ({
  name: `svc${i % 10}`,
  endpoints: [`http://10.0.${Math.floor(i / 250)}.${i % 250}:9100/metrics`],
}))
const file = path.join(dir, 'services.json')
writeFileSync(file, JSON.stringify(services))
const seeded = spawnSync(process.execPath, [BIN, 'service', 'import', file], {env, encoding: 'utf8'})
if (seeded.status !== 0) throw new Error(`seeding failed: ${seeded.stderr}`)

const commands: Record<string, string[]> = {
  'node -e 0': ['-e', '0'],
  'roster --version': [BIN, '--version'],
  'roster service list (100 services)': [BIN, 'service', 'list'],
}

const times: Record<string, number[]> = Object.fromEntries(Object.keys(commands).map((k) => [k, []]))
for (let i = 0; i < runs + 2; i++) {
  for (const [name, args] of Object.entries(commands)) {
    const start = process.hrtime.bigint()
    const r = spawnSync(process.execPath, args, {env, stdio: ['ignore', 'pipe', 'pipe']})
    const ms = Number(process.hrtime.bigint() - start) / 1e6
    if (r.status !== 0) throw new Error(`${name} failed: ${r.stderr}`)
    if (i >= 2) times[name]!.push(ms) // two warm-up rounds
  }
}
const floor = median(times['node -e 0']!)
console.log(`start-up, median of ${runs} interleaved runs (node ${process.version})`)
for (const [name, xs] of Object.entries(times)) {
  const m = median(xs)
  console.log(`${name.padEnd(38)} ${m.toFixed(1).padStart(7)} ms   ${(m / floor).toFixed(2)}x node -e 0`)
}
rmSync(dir, {recursive: true, force: true})
