/**
 * Runs every benchmark in turn and prints their figures (docs/benchmarks.md records a run).
 * Each starts the servers it needs on loopback ports and stops them. Needs `npm run build`.
 *
 *   npm run build && npm run bench
 */
import {spawnSync} from 'node:child_process'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const benches = [
  'startup.ts',
  'etcd-load.ts',
  'registry-import.ts',
  'registry-list.ts',
  'node-status.ts',
  'dns-plan.ts',
  'dns-pdns.ts',
  'dns-rfc2136.ts',
  'serve-sd.ts',
  'tokens.ts',
  'kube-discover.ts',
  'metrics-proxy.ts',
]
const only = process.argv.slice(2)
let failed = 0
for (const bench of benches) {
  if (only.length > 0 && !only.some((o) => bench.startsWith(o))) continue
  console.log(`\n=== bench/${bench} ===`)
  const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, bench)], {stdio: 'inherit'})
  if (result.status !== 0) {
    failed++
    console.log(`bench/${bench} exited ${result.status}`)
  }
}
process.exitCode = failed > 0 ? 1 : 0
