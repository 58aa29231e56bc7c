/**
 * The image (npm run image) under podman, run as a pod runs it (test/image/podman.ts):
 *   - size: uncompressed (what podman stores), each layer's, and the OCI archive's (gzip layers,
 *     what a registry stores and a node pulls);
 *   - start-up of the exporter: from `podman run` of `node-status --serve` to its first /metrics
 *     answer, and to the first /healthz 200 (every node listed: what a readiness probe waits for),
 *     median of RUNS starts, at 6 and at NODES nodes; without a code cache (a pod's first start,
 *     its emptyDir new) and with one (a container restarted in the same pod). The floor: `podman
 *     run` of `node -e 0` in the image;
 *   - memory, the basis of the manifests' limits: the exporter's RSS and peak RSS (VmHWM, from
 *     /proc of the container's process) at NODES nodes after SCRAPES scrapes, and the container's
 *     cgroup peak; the other jobs' peak RSS after their first cycle at a small scale (metrics-proxy
 *     scraping PODS pods, kube discover registering PODS pods into roster serve, dns sync --watch
 *     writing SERVICES Services to a zone file, serve over etcd answering http_sd).
 * Prints figures; asserts nothing. Needs root, podman and the image: npm run image, then
 *   node --import tsx bench/image.ts     (BENCH_NODES, BENCH_RUNS, BENCH_SCRAPES, BENCH_PODS, BENCH_SERVICES)
 */
import {spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, statSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {isolatedEnv, runCli} from '../test/support/cli.js'
import {startEtcd} from '../test/support/etcd-server.js'
import {freePort} from '../test/support/free-port.js'
import {startKubeApiServer, type KubeApiServer} from '../test/support/kube-api-server.js'
import {makeNode, makeService} from '../test/support/kube-objects.js'
import {makePod} from '../test/support/pod-fixtures.js'
import {createToken, startServe} from '../test/support/serve-server.js'
import {until} from '../test/support/until.js'
import {
  IMAGE,
  type Container,
  containerOwnedDir,
  containerPid,
  inClusterEnv,
  podman,
  podmanUnavailable,
  serviceAccount,
  startContainer,
} from '../test/image/podman.js'
import {median} from './bench-support.js'

const NODES = Number(process.env.BENCH_NODES ?? 5000)
const RUNS = Number(process.env.BENCH_RUNS ?? 5)
const SCRAPES = Number(process.env.BENCH_SCRAPES ?? 20)
const PODS = Number(process.env.BENCH_PODS ?? 200)
const SERVICES = Number(process.env.BENCH_SERVICES ?? 100)
const TOKEN = 'bench-service-account-token'
const MB = 1_000_000
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`

interface Memory {
  rssKb: number
  hwmKb: number
  /** The container's cgroup peak (v1 max_usage_in_bytes, v2 memory.peak), when readable. */
  cgroupPeakBytes?: number
  /** CPU time used so far (user + system), for the requests. */
  cpuMs: number
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], {encoding: 'utf8'}).stdout.trim()) || 100

function memoryOf(container: Container): Memory {
  const pid = containerPid(container.name)
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN)
  let cgroupPeakBytes: number | undefined
  for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n')) {
    const [, controllers, dir] = line.split(':')
    const file =
      controllers === 'memory'
        ? `/sys/fs/cgroup/memory${dir}/memory.max_usage_in_bytes`
        : controllers === '' && dir
          ? `/sys/fs/cgroup${dir}/memory.peak`
          : undefined
    try {
      if (file) cgroupPeakBytes = Number(readFileSync(file, 'utf8').trim())
    } catch {
      // not readable here
    }
  }
  // /proc/PID/stat: utime and stime are the 14th and 15th fields, after the name in parentheses.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /s, '')
    .split(' ')
  const cpuMs = ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS
  return {rssKb: kb('VmRSS'), hwmKb: kb('VmHWM'), cgroupPeakBytes, cpuMs}
}

/** Pod i's address: 127.0.1.0 onwards. */
const podIp = (i: number) => `127.0.${1 + (i >> 8)}.${i & 255}`

function formatMemory(m: Memory): string {
  const cgroup = m.cgroupPeakBytes === undefined ? '' : `, cgroup peak ${mib(m.cgroupPeakBytes)}`
  return `RSS ${mib(m.rssKb * 1024)}, peak RSS ${mib(m.hwmKb * 1024)}${cgroup}, CPU ${(m.cpuMs / 1000).toFixed(2)} s in all`
}

async function clusterWith(
  nodes: number,
  extra: {pods?: number; services?: number; podPort?: number} = {},
): Promise<{api: KubeApiServer; sa: string}> {
  const api = await startKubeApiServer({
    // The API server's unrestricted user: what each job may do is the RBAC tests' business.
    tokens: {[TOKEN]: 'admin'},
    nodes: Array.from({length: nodes}, (_, i) =>
      makeNode({
        name: `node-${String(i).padStart(5, '0')}`,
        roles: [i < 3 ? 'control-plane' : 'worker'],
        ready: i % 97 === 3 ? 'False' : 'True',
      }),
    ),
    pods: Array.from({length: extra.pods ?? 0}, (_, i) =>
      makePod({name: `app-${i}`, namespace: 'shop', ip: podIp(i), port: extra.podPort ?? 9100, labels: {app: 'bench'}}),
    ),
    services: Array.from({length: extra.services ?? 0}, (_, i) =>
      makeService({
        name: `svc-${i}`,
        namespace: 'shop',
        type: 'LoadBalancer',
        loadBalancer: [{ip: `127.1.${i >> 8}.${i & 255}`}],
        annotations: {'external-dns.alpha.kubernetes.io/hostname': `svc-${i}.example.org`},
      }),
    ),
  })
  return {api, sa: serviceAccount(api, TOKEN)}
}

/** Starts the exporter; the times to its first /metrics answer and to /healthz 200, and the container (still running). */
async function exporterStart(
  api: KubeApiServer,
  sa: string,
  cache?: string,
): Promise<{firstMs: number; syncedMs: number; container: Container; port: number}> {
  const port = await freePort()
  const started = performance.now()
  const container = startContainer(['node-status', '--serve', `127.0.0.1:${port}`], {
    env: inClusterEnv(api),
    serviceAccount: sa,
    writable: cache ? {'/var/cache/roster': cache} : undefined,
  })
  let exited = false
  void container.exited.then(() => (exited = true))
  const answers = async (route: string) => {
    if (exited) throw new Error(`the exporter exited: ${container.stderr()}`)
    const response = await fetch(`http://127.0.0.1:${port}${route}`)
    await response.arrayBuffer()
    return response.status === 200
  }
  // A short interval: the figure is the time to the first answer.
  const waitFor = async (route: string) => {
    await until(`the exporter's ${route}`, () => answers(route), {timeoutMs: 120_000, intervalMs: 5})
    return performance.now() - started
  }
  const firstMs = await waitFor('/metrics')
  const syncedMs = await waitFor('/healthz')
  return {firstMs, syncedMs, container, port}
}

async function startUp(nodes: number): Promise<void> {
  const {api, sa} = await clusterWith(nodes)
  try {
    for (const cached of [false, true]) {
      const cache = cached ? containerOwnedDir('roster-bench-cache-') : undefined
      if (cache) await (await exporterStart(api, sa, cache)).container.stop() // fills the cache
      const first: number[] = []
      const synced: number[] = []
      for (let i = 0; i < RUNS; i++) {
        const run = await exporterStart(api, sa, cache)
        first.push(run.firstMs)
        synced.push(run.syncedMs)
        await run.container.stop()
      }
      if (cache) rmSync(cache, {recursive: true, force: true})
      console.log(
        `start-up, ${String(nodes).padStart(5)} nodes, ${cached ? 'with a code cache   ' : 'without a code cache'}: first /metrics ${median(first).toFixed(0)} ms, /healthz 200 ${median(synced).toFixed(0)} ms (median of ${RUNS})`,
      )
    }
  } finally {
    await api.stop()
    rmSync(sa, {recursive: true, force: true})
  }
}

async function exporterMemory(): Promise<void> {
  const {api, sa} = await clusterWith(NODES)
  try {
    const {container, syncedMs, port} = await exporterStart(api, sa)
    const listed = memoryOf(container)
    let bytes = 0
    for (let i = 0; i < SCRAPES; i++) bytes = (await (await fetch(`http://127.0.0.1:${port}/metrics`)).arrayBuffer()).byteLength
    const scraped = memoryOf(container)
    console.log(
      `memory, node-status --serve, ${NODES} nodes, listed in ${syncedMs.toFixed(0)} ms, after ${SCRAPES} scrapes of ${(bytes / 1024).toFixed(0)} KiB: ${formatMemory(scraped)}; CPU ${((scraped.cpuMs - listed.cpuMs) / SCRAPES).toFixed(0)} ms a scrape`,
    )
    await container.stop()
  } finally {
    await api.stop()
    rmSync(sa, {recursive: true, force: true})
  }
}

/** Each other job's memory after its first cycle at a small scale. */
async function jobsMemory(): Promise<void> {
  // Each pod's exporter on the pod's own loopback address (clusterWith's addresses), one port.
  const podPort = await freePort()
  const body = Array.from({length: 50}, (_, i) => `bench_series{i="${i}"} ${i}\n`).join('')
  const exporters = await Promise.all(
    Array.from({length: PODS}, (_, i) => {
      const server = createServer((_req, res) => res.end(body))
      return new Promise<Server>((resolve) => server.listen(podPort, podIp(i), () => resolve(server)))
    }),
  )
  const {api, sa} = await clusterWith(6, {pods: PODS, services: SERVICES, podPort})
  const env = inClusterEnv(api)
  const work = mkdtempSync(path.join(tmpdir(), 'roster-bench-image-'))
  const report = (job: string, container: Container) => console.log(`memory, ${job.padEnd(44)} ${formatMemory(memoryOf(container))}`)
  try {
    {
      const port = await freePort()
      const proxy = startContainer(['kube', 'metrics-proxy', '--listen', `127.0.0.1:${port}`], {env, serviceAccount: sa})
      await until('metrics-proxy', async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status === 200, {
        timeoutMs: 120_000,
      })
      for (let i = 0; i < 5; i++) await (await fetch(`http://127.0.0.1:${port}/metrics`)).arrayBuffer()
      report(`kube metrics-proxy, ${PODS} pods, 5 scrapes:`, proxy)
      await proxy.stop()
    }
    {
      const registry = `sqlite:${path.join(work, 'registry.db')}`
      await runCli(['namespace', 'register', 'k8s'], {env: isolatedEnv({ROSTER_REGISTRY: registry})})
      const serve = await startServe({registry})
      const token = await createToken(registry, {id: 'discover', role: 'service', namespaces: ['k8s']})
      const discover = startContainer(['kube', 'discover', '--owner-id', 'bench', '-n', 'k8s', '--registry', serve.url], {
        env: {...env, ROSTER_TOKEN: token},
        serviceAccount: sa,
      })
      await discover.waitFor(new RegExp(`${PODS} target pods → ${PODS} created`), {stream: 'stdout', timeoutMs: 300_000})
      report(`kube discover, ${PODS} pods into roster serve:`, discover)
      await discover.stop()
      await serve.stop()
    }
    {
      const zone = containerOwnedDir('roster-bench-zone-', {
        'example.org.zone':
          '$ORIGIN example.org.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n@ IN NS ns1\nns1 IN A 127.0.0.53\n',
      })
      const sync = startContainer(
        [
          'dns',
          'sync',
          '--watch',
          '--policy',
          'sync',
          '--owner-id',
          'bench',
          '--source',
          'kubernetes',
          '--provider',
          'zonefile',
          '--zone-file',
          '/zone/example.org.zone',
          '--zone',
          'example.org',
        ],
        {env, serviceAccount: sa, writable: {'/zone': zone}},
      )
      await until(
        'dns sync',
        () => readFileSync(path.join(zone, 'example.org.zone'), 'utf8').includes(`svc-${SERVICES - 1}.example.org.`),
        {timeoutMs: 300_000},
      )
      report(`dns sync --watch, ${SERVICES} Services to a zone file:`, sync)
      await sync.stop()
      rmSync(zone, {recursive: true, force: true})
    }
    {
      const etcd = await startEtcd()
      const admin = await createToken(etcd.url, {id: 'admin', role: 'admin', namespaces: ['*']})
      const port = await freePort()
      const serve = startContainer(['serve', '--registry', etcd.url, '--listen', `127.0.0.1:${port}`], {env: {ROSTER_TOKEN: admin}})
      await serve.waitFor(/listening on/)
      for (let i = 0; i < 20; i++)
        await (await fetch(`http://127.0.0.1:${port}/v1/servers`, {headers: {authorization: `Bearer ${admin}`}})).arrayBuffer()
      report('serve over etcd, 20 API requests:', serve)
      await serve.stop()
      await etcd.stop()
    }
  } finally {
    for (const server of exporters) server.close()
    await api.stop()
    rmSync(sa, {recursive: true, force: true})
    rmSync(work, {recursive: true, force: true})
  }
}

async function main(): Promise<void> {
  const unavailable = podmanUnavailable()
  if (unavailable) {
    console.log(`image benchmark skipped: ${unavailable}`)
    return
  }
  const inspect = podman(['image', 'inspect', IMAGE])
  if (inspect.code !== 0) throw new Error(`${IMAGE} is not in podman's store: npm run image first`)
  const [image] = JSON.parse(inspect.stdout) as Array<{Size: number; RootFS: {Layers: string[]}}>
  const history = JSON.parse(podman(['history', '--format', 'json', IMAGE]).stdout) as Array<{size: number; comment?: string}>
  const archiveDir = mkdtempSync(path.join(tmpdir(), 'roster-bench-archive-'))
  const archive = path.join(archiveDir, 'roster.tar')
  podman(['save', '--quiet', '--format', 'oci-archive', '-o', archive, IMAGE])
  const archiveBytes = statSync(archive).size
  rmSync(archiveDir, {recursive: true, force: true})
  console.log(
    `image ${IMAGE}: ${(image!.Size / MB).toFixed(1)} MB uncompressed (target ≤ 160 MB), layers ${history.map((h) => `${(h.size / MB).toFixed(1)} MB`).join(' + ')}; OCI archive ${(archiveBytes / MB).toFixed(1)} MB`,
  )

  // The floor: from `podman run` to Node's first line of output, measured as the exporter is.
  const floor: number[] = []
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now()
    const node = startContainer(['-e', 'console.log("up")'], {entrypoint: '/usr/local/bin/node'})
    await node.waitFor(/up/, {stream: 'stdout'})
    floor.push(performance.now() - started)
    await node.exited
  }
  console.log(`floor: podman run to the first output of node -e in the image ${median(floor).toFixed(0)} ms (median of ${RUNS})`)
  await startUp(6)
  await startUp(NODES)
  await exporterMemory()
  await jobsMemory()
}

await main()
