/**
 * Runs every benchmark in turn and prints their figures (docs/benchmarks.md records a run).
 * Each starts the servers it needs on loopback ports and stops them. Needs `npm run build`.
 * Start-up is measured on this Node and, when `bash scripts/test-node-versions.sh` has installed
 * them (with a tree built for each), on Node 22 and 24 too: their targets differ.
 *
 *   npm run build && npm run bench
 */
import {spawnSync} from 'node:child_process'
import {existsSync, readdirSync} from 'node:fs'
import {homedir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const benches = [
  'startup.ts',
  'etcd-load.ts',
  'registry-import.ts',
  'registry-list.ts',
  'registry-history.ts',
  'node-status.ts',
  'dns-plan.ts',
  'dns-pdns.ts',
  'dns-rfc2136.ts',
  'serve-sd.ts',
  'serve-scale.ts',
  // http_sd over TLS against Debian's nginx serving the same bytes (wrk)
  'serve-nginx.ts',
  'console.ts',
  'serve-hostile.ts',
  'tokens.ts',
  'store-watch.ts',
  'registry-backup.ts',
  'kube-discover.ts',
  'metrics-proxy.ts',
  // ten minutes long: BENCH_FLEET_SHORT=1 runs a 95 s smoke of the same fleet instead
  'fleet.ts',
  // the image under podman: needs root and `npm run image` (skipped, saying why, without podman)
  'image.ts',
]
/** Node versions scripts/test-node-versions.sh installed, each with its tree: [--node, --bin]. */
function otherNodes(): string[][] {
  const cache = path.join(process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache'), 'roster-node-versions')
  if (!existsSync(cache)) return []
  return readdirSync(cache)
    .filter((name) => /^node-\d+\.\d+\.\d+$/.test(name))
    .map((name) => name.slice('node-'.length))
    .map((version) => [path.join(cache, `node-${version}`, 'bin', 'node'), path.join(cache, `tree-${version}`, 'bin', 'run.js')])
    .filter((paths) => paths.every((p) => existsSync(p)))
}

const only = process.argv.slice(2)
let failed = 0
const run = (bench: string, args: string[] = [], env: Record<string, string> = {}) => {
  console.log(
    `\n=== ${Object.entries(env)
      .map(([k, v]) => `${k}=${v} `)
      .join('')}bench/${bench} ${args.join(' ')} ===`,
  )
  const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, bench), ...args], {
    stdio: 'inherit',
    env: {...process.env, ...env},
  })
  if (result.status !== 0) {
    failed++
    console.log(`bench/${bench} exited ${result.status}`)
  }
}
for (const bench of benches) {
  if (only.length > 0 && !only.some((o) => bench.startsWith(o))) continue
  // node-status has a target for a small cluster (start-up bound) and for 5,000 nodes.
  if (bench === 'node-status.ts') run(bench, [], {BENCH_NODES: '6', BENCH_RUNS: '11', BENCH_IDLE_SECONDS: '5'})
  run(bench)
  if (bench === 'startup.ts') for (const [node, bin] of otherNodes()) run(bench, ['--node', node!, '--bin', bin!])
}
process.exitCode = failed > 0 ? 1 : 0
