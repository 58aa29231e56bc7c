/**
 * kube discover and dns sync --watch at cluster sizes, each run as its Deployment in
 * deploy/kubernetes describes it (args, ConfigMap settings) on the test API server: resident
 * memory (now and peak, VmRSS and VmHWM) and CPU once they are in step, then while the cluster
 * changes. With bench/node-status.ts (the exporter), bench/metrics-proxy.ts and bench/serve-sd.ts,
 * the basis of the manifests' requests and limits.
 *   kube discover: PODS pods in 50 namespaces, one in 5 annotated for scraping, a SQLite registry;
 *   dns sync: SERVICES Services (one in 4 a LoadBalancer with a hostname) and SERVICES/4
 *   Ingresses, into a real PowerDNS.
 * Prints figures; asserts nothing. Run: npm run build && node --import tsx bench/kube-jobs.ts
 *   BENCH_PODS (10000), BENCH_SERVICES (2000), BENCH_SECONDS (20)
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {startKubeApiServer, type KubeApiServer} from '../test/support/kube-api-server.js'
import {containerEnv, deployedContainer, renderBase, spawnJob, type Job, type RunningJob} from '../test/support/kube-manifests.js'
import {makeIngress, makeService} from '../test/support/kube-objects.js'
import {startPdns} from '../test/support/pdns-server.js'
import {makePod, setPodReady} from '../test/support/pod-fixtures.js'
import {cpuSeconds, memoryMiB} from '../test/support/serve-monitor.js'
import {timeUntil} from '../test/support/until.js'

const PODS = Number(process.env.BENCH_PODS ?? 10_000)
const SERVICES = Number(process.env.BENCH_SERVICES ?? 2000)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20)

function procStatus(pid: number): {rssMiB: number; peakMiB: number; cpuSeconds: number} {
  const memory = memoryMiB(pid)
  return {rssMiB: memory.rss, peakMiB: memory.peak, cpuSeconds: cpuSeconds(pid)}
}

/** Runs the job as deployed, waits until `ready`, then `change`s the cluster for SECONDS. */
async function measure(
  job: Job,
  api: KubeApiServer,
  env: Record<string, string>,
  ready: (j: RunningJob) => boolean,
  change: (tick: number) => void,
  what: string,
): Promise<void> {
  const objects = renderBase(job)
  const {container} = deployedContainer(objects)
  const dir = mkdtempSync(join(tmpdir(), `roster-bench-${job}-`))
  const running = spawnJob(container.args ?? [], {
    ...containerEnv(objects, container),
    XDG_CACHE_HOME: join(dir, 'cache'),
    KUBECONFIG: api.kubeconfigPath(),
    ...env,
  })
  try {
    const syncMs = await timeUntil(`${job} in step`, () => ready(running), {
      timeoutMs: 300_000,
      intervalMs: 100,
      describe: () => running.stderr(),
    })
    const pid = running.child.pid ?? 0
    const synced = procStatus(pid)
    let tick = 0
    const timer = setInterval(() => change(tick++), 100)
    await new Promise((r) => setTimeout(r, SECONDS * 1000))
    clearInterval(timer)
    const after = procStatus(pid)
    console.log(
      `${job} (${what}): in step after ${syncMs} ms, RSS ${synced.rssMiB.toFixed(0)} MiB (peak ${synced.peakMiB.toFixed(0)} MiB); ` +
        `then ${tick} changes in ${SECONDS} s: RSS ${after.rssMiB.toFixed(0)} MiB, peak ${after.peakMiB.toFixed(0)} MiB, ` +
        `CPU ${(((after.cpuSeconds - synced.cpuSeconds) / SECONDS) * 1000).toFixed(0)} millicores`,
    )
    const lines = running.stdout().trim().split('\n')
    console.log(`  ${lines.length} lines of output, the last: ${lines.at(-1)}`)
  } finally {
    await running.stop()
    rmSync(dir, {recursive: true, force: true})
  }
}

console.log(`deploy/kubernetes jobs at scale (node ${process.version}), ${SECONDS} s of changes each`)

{
  const targets = Math.floor(PODS / 5)
  const pods = Array.from({length: PODS}, (_, i) =>
    makePod({
      name: `pod-${i}`,
      namespace: `ns-${i % 50}`,
      deployment: `app-${i % 500}`,
      scrape: i % 5 === 0,
      ip: `127.${1 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`,
      port: 9100,
      labels: {app: `app-${i % 500}`},
    }),
  )
  const api = await startKubeApiServer({pods})
  const dir = mkdtempSync(join(tmpdir(), 'roster-bench-registry-'))
  try {
    // Ten pods a second go unready and ready again, as a rollout does.
    await measure(
      'kube-discover',
      api,
      {ROSTER_REGISTRY: `sqlite:${join(dir, 'registry.db')}`, ROSTER_MIN_INTERVAL: '1s'},
      (j) => j.stdout().includes(` ${targets} created`),
      (tick) => {
        const i = (tick % (PODS / 5)) * 5
        api.updatePod(`ns-${i % 50}`, `pod-${i}`, (p) => setPodReady(p, tick % 2 === 1))
      },
      `${PODS} pods, ${targets} targets`,
    )
  } finally {
    await api.stop()
    rmSync(dir, {recursive: true, force: true})
  }
}

{
  const zone = 'example.org'
  const services = Array.from({length: SERVICES}, (_, i) =>
    makeService({
      name: `svc-${i}`,
      namespace: `ns-${i % 50}`,
      ...(i % 4 === 0
        ? {
            type: 'LoadBalancer' as const,
            loadBalancer: [{ip: `192.0.2.${(i >> 2) % 250}`}],
            annotations: {'external-dns.alpha.kubernetes.io/hostname': `svc-${i}.${zone}`},
          }
        : {}),
    }),
  )
  const ingresses = Array.from({length: Math.floor(SERVICES / 4)}, (_, i) =>
    makeIngress({name: `ing-${i}`, namespace: `ns-${i % 50}`, hosts: [`ing-${i}.${zone}`], loadBalancer: [{ip: '198.51.100.1'}]}),
  )
  const api = await startKubeApiServer({services, ingresses})
  const pdns = await startPdns({zones: [{name: zone}], maxBodyMB: 64})
  try {
    // Every fourth Service is a LoadBalancer with a hostname, and every Ingress has one.
    const names = Math.ceil(SERVICES / 4) + ingresses.length
    await measure(
      'dns-sync',
      api,
      {ROSTER_PDNS_SERVER: pdns.url, ROSTER_PDNS_API_KEY: pdns.apiKey},
      (j) => /Applied: [1-9]\d* to create/.test(j.stdout()),
      (tick) => {
        // A Service's address changes every second: one sync a second at the most.
        const i = (tick * 4) % SERVICES
        if (tick % 10 === 0)
          api.updateService(`ns-${i % 50}`, `svc-${i}`, (s) => {
            ;(s.status as {loadBalancer: unknown}).loadBalancer = {ingress: [{ip: `198.18.0.${tick % 250}`}]}
          })
      },
      `${SERVICES} Services, ${ingresses.length} Ingresses, ${names} names`,
    )
  } finally {
    await pdns.stop()
    await api.stop()
  }
}
