/**
 * kube discover at scale: 10,000 annotated pods on the test API server, a SQLite registry.
 *   - the paginated pod list (pages of 500) → targets: time, API requests;
 *   - reconcile into an empty namespace (10,000 creates), a no-op reconcile, 100 pods changed,
 *     then 1,000 pods gone: time of each and store writes (the store revision delta: one per
 *     transaction) and registry write calls;
 *   - `roster kube discover --once` end to end through the built CLI (wall time).
 * Prints figures; asserts nothing. Run: npm run build && node --import tsx bench/kube-discover.ts
 */
import {execFile} from 'node:child_process'
import {promisify} from 'node:util'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {createClusterClient} from '../src/lib/cluster/cluster-client.js'
import {listPodTargets} from '../src/lib/discover/discover.js'
import type {PodTarget} from '../src/lib/discover/pods.js'
import {reconcile} from '../src/lib/discover/reconcile.js'
import {storeRevision} from '../src/lib/loop/registry-changes.js'
import {Registry} from '../src/lib/registry/registry.js'
import {openStore} from '../src/lib/store/open-store.js'
import {BIN, isolatedEnv} from '../test/support/cli.js'
import {startKubeApiServer} from '../test/support/kube-api-server.js'
import {makePod} from '../test/support/pod-fixtures.js'

const PODS = Number(process.env.BENCH_PODS ?? 10_000)
const podIp = (i: number): string => `127.${1 + (i >> 16)}.${(i >> 8) & 255}.${i & 255 || 1}`

const dir = mkdtempSync(join(tmpdir(), 'roster-bench-discover-'))
const api = await startKubeApiServer({
  pods: Array.from({length: PODS}, (_, i) =>
    makePod({
      name: `app-${i}`,
      namespace: `ns-${i % 20}`,
      ip: podIp(i),
      port: 9000 + (i % 500),
      deployment: `app-${i % 300}`,
      node: `node-${i % 50}`,
    }),
  ),
})
const kubeconfig = api.kubeconfigPath()
const registryUrl = `sqlite:${join(dir, 'registry.db')}`
const store = await openStore({registry: registryUrl, timeoutMs: 60_000})
const registry = new Registry(store)
await registry.registerNamespace('k8s')
const options = {namespace: 'k8s', ownerId: 'bench', nameFrom: {kind: 'owner' as const}}

try {
  const client = await createClusterClient({kubeconfig})
  let t = performance.now()
  const targets = await listPodTargets(client, {}, {})
  const listMs = performance.now() - t
  console.log(`list ${PODS} pods → ${targets.length} targets: ${listMs.toFixed(0)} ms, ${client.requestCount()} API requests`)
  client.close()

  const step = async (label: string, ts: PodTarget[], force = false): Promise<void> => {
    const before = await storeRevision(store)
    t = performance.now()
    const r = await reconcile(registry, ts, {...options, force})
    const ms = performance.now() - t
    const writes = (await storeRevision(store)) - before
    console.log(
      `${label}: ${ms.toFixed(0)} ms; created ${r.created}, updated ${r.updated}, unchanged ${r.unchanged}, removed ${r.removed}; ` +
        `${writes} store transactions, ${r.writeCalls} registry write calls`,
    )
  }
  await step(`reconcile ${PODS} new pods`, targets)
  await step('reconcile again (no change)', targets)
  const changed = targets.map((p, i) => (i % (targets.length / 100) === 0 ? {...p, node: 'node-moved'} : p))
  await step('100 pods changed', changed)
  await step('1,000 pods gone', changed.slice(1000))

  // End to end: a fresh registry, the built CLI, --once.
  const fresh = `sqlite:${join(dir, 'cli.db')}`
  // Async: the API server lives in this process (a synchronous spawn would block it).
  const run = promisify(execFile)
  await run(process.execPath, [BIN, 'namespace', 'register', 'k8s', '--registry', fresh], {env: isolatedEnv() as NodeJS.ProcessEnv})
  for (const label of ['first', 'second (no change)']) {
    t = performance.now()
    const r = await run(
      process.execPath,
      [BIN, 'kube', 'discover', '--once', '--owner-id', 'bench', '-n', 'k8s', '--kubeconfig', kubeconfig, '--registry', fresh],
      {env: isolatedEnv() as NodeJS.ProcessEnv, encoding: 'utf8'},
    )
    console.log(`roster kube discover --once, ${label} run: ${(performance.now() - t).toFixed(0)} ms: ${r.stdout.trim()}`)
  }
} finally {
  await store.close()
  await api.stop()
  rmSync(dir, {recursive: true, force: true})
}
