/**
 * node-status at scale: 5,000 nodes on the test API server.
 *   - `roster node-status` (-o table, -o json) vs `kubectl get nodes` (table, -o json): wall time,
 *     API requests, peak RSS (from /usr/bin/time), median of RUNS runs, as ratios to kubectl;
 *   - the exporter (`--serve`): scrape latency with 5,000 nodes, and the requests it sends to the
 *     API server per minute while nothing changes but the Leases (measured over IDLE_SECONDS,
 *     scaled), its CPU and memory meanwhile (the basis of deploy/kubernetes/node-status's
 *     requests and limit).
 * Every node has its Lease in kube-node-lease (one in 50 stale), as kubelets keep them; roster
 * lists them beside the nodes (one more paginated list) and the exporter watches them, renewed
 * meanwhile at the kubelets' rate (each every 10 s: NODES/10 renewals a second).
 * Targets printed beside the figures (table): 6 nodes ≤ 1.5× kubectl's wall time; 5,000 nodes
 * ≤ 1.2× its wall time and ≤ 1.5× its peak RSS; requests ≤ kubectl's.
 * roster's default table is the server's Table (as kubectl's), its not-ready rows looked up in
 * one JSON list by hostname label; -o json and the exporter read JSON lists item by item.
 * Prints figures; asserts nothing. Run: node --import tsx bench/node-status.ts (after npm run build)
 *   BENCH_NODES=6|5000 BENCH_RUNS=N BENCH_IDLE_SECONDS=S; BENCH_BEFORE=/path/to/older/bin/run.js
 *   adds that build's table run, measured in the same run.
 */
import {spawn} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {BIN, isolatedEnv} from '../test/support/cli.js'
import {startKubeApiServer} from '../test/support/kube-api-server.js'
import {makeNode, makeNodeLease, microTime, type KubeObject} from '../test/support/kube-objects.js'
import {cpuSeconds, memoryMiB} from '../test/support/serve-monitor.js'
import {until} from '../test/support/until.js'
import {median} from './bench-support.js'

const NODES = Number(process.env.BENCH_NODES ?? 5000)
const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 20)

interface Sample {
  wallMs: number
  maxRssKb: number
  requests: number
  /** Of the requests, those for Leases (roster's one more list). */
  leaseRequests: number
  stdoutBytes: number
  code: number
}

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Omit<Sample, 'requests' | 'leaseRequests'>> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint()
    const child = spawn('/usr/bin/time', ['-f', '%M', cmd, ...args], {env})
    let bytes = 0
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (bytes += d.length))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    child.on('error', reject)
    child.on('close', (code) => {
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6
      const lines = stderr.trim().split('\n')
      const maxRssKb = Number(lines[lines.length - 1])
      resolve({wallMs, maxRssKb, stdoutBytes: bytes, code: code ?? 1})
    })
  })
}

/** What the requests were: Table pages, JSON list pages, and the rest (kubectl's /version). */
function requestKinds(requests: ReadonlyArray<{verb: string; accept: string}>): string {
  const count = new Map<string, number>()
  for (const r of requests) {
    const kind = r.verb === 'list' ? (/as=Table/.test(r.accept.split(',')[0] ?? '') ? 'Table page' : 'JSON list page') : r.verb
    count.set(kind, (count.get(kind) ?? 0) + 1)
  }
  return [...count].map(([k, n]) => `${n} ${k}`).join(', ')
}

async function main(): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), 'roster-bench-home-'))
  const nodes: KubeObject[] = []
  for (let i = 0; i < NODES; i++) {
    nodes.push(
      makeNode({
        name: `node-${String(i).padStart(5, '0')}`,
        roles: i < 5 ? ['control-plane'] : ['worker'],
        ready: i % 97 === 3 ? 'False' : i % 211 === 5 ? 'Unknown' : 'True',
        createdAt: new Date(Date.now() - (i % 400) * 86_400_000 - 3_600_000),
      }),
    )
  }
  const leases = nodes.map((n, i) => makeNodeLease(n.metadata.name, new Date(Date.now() - (i % 50 === 7 ? 300_000 : (i % 10) * 1000))))
  const api = await startKubeApiServer({nodes, leases, bookmarkIntervalMs: 60_000})
  const kubeconfig = api.kubeconfigPath()
  const env = isolatedEnv() as NodeJS.ProcessEnv
  const kubectlEnv = {PATH: process.env.PATH, HOME: home} as NodeJS.ProcessEnv
  const cacheDir = join(home, 'kube-cache')

  console.log(`node-status benchmark: ${NODES} nodes on the test API server, median of ${RUNS} runs (node ${process.version})`)
  const floor = []
  for (let i = 0; i < RUNS; i++) floor.push((await timed(process.execPath, ['-e', '0'], env)).wallMs)
  console.log(`floor: node -e 0 = ${median(floor).toFixed(0)} ms`)

  const cases: Array<[string, string, string[], NodeJS.ProcessEnv]> = [
    ['roster node-status (table)', process.execPath, [BIN, 'node-status', '--kubeconfig', kubeconfig], env],
    ...(process.env.BENCH_BEFORE
      ? [
          ['before: node-status (table)', process.execPath, [process.env.BENCH_BEFORE, 'node-status', '--kubeconfig', kubeconfig], env] as [
            string,
            string,
            string[],
            NodeJS.ProcessEnv,
          ],
        ]
      : []),
    ['kubectl get nodes (table)', 'kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', cacheDir, 'get', 'nodes'], kubectlEnv],
    ['roster node-status -o json', process.execPath, [BIN, 'node-status', '--kubeconfig', kubeconfig, '-o', 'json'], env],
    [
      'kubectl get nodes -o json',
      'kubectl',
      ['--kubeconfig', kubeconfig, '--cache-dir', cacheDir, 'get', 'nodes', '-o', 'json'],
      kubectlEnv,
    ],
  ]
  // warm kubectl's discovery cache as a user's would be
  await timed('kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', cacheDir, 'get', 'nodes', '-o', 'name'], kubectlEnv)
  const results = new Map<string, Sample>()
  for (const [label, cmd, args, e] of cases) {
    const samples: Sample[] = []
    let kinds = ''
    for (let i = 0; i < RUNS; i++) {
      api.resetRequests()
      const s = await timed(cmd, args, e)
      samples.push({...s, requests: api.requests.length, leaseRequests: api.requestCount({resource: 'leases'})})
      kinds = requestKinds(api.requests)
    }
    const m: Sample = {
      wallMs: median(samples.map((s) => s.wallMs)),
      maxRssKb: median(samples.map((s) => s.maxRssKb)),
      requests: median(samples.map((s) => s.requests)),
      leaseRequests: median(samples.map((s) => s.leaseRequests)),
      stdoutBytes: samples[0]?.stdoutBytes ?? 0,
      code: samples[0]?.code ?? 1,
    }
    results.set(label, m)
    console.log(
      `${label.padEnd(30)} wall ${m.wallMs.toFixed(0).padStart(6)} ms   requests ${String(m.requests).padStart(3)}   peak RSS ${(m.maxRssKb / 1024).toFixed(0).padStart(4)} MiB   stdout ${(m.stdoutBytes / 1024).toFixed(0)} KiB   exit ${m.code}   (${kinds})`,
    )
  }
  const ratio = (a: string, b: string) => {
    const x = results.get(a)
    const y = results.get(b)
    if (!x || !y) return ''
    return `wall ×${(x.wallMs / y.wallMs).toFixed(2)}, peak RSS ×${(x.maxRssKb / y.maxRssKb).toFixed(2)}, requests ${x.requests} vs ${y.requests}`
  }
  console.log(`ratio roster/kubectl, table: ${ratio('roster node-status (table)', 'kubectl get nodes (table)')}`)
  if (process.env.BENCH_BEFORE)
    console.log(`ratio before/kubectl, table: ${ratio('before: node-status (table)', 'kubectl get nodes (table)')}`)
  {
    const x = results.get('roster node-status (table)')
    const y = results.get('kubectl get nodes (table)')
    if (x && y) {
      const wall = x.wallMs / y.wallMs
      const rss = x.maxRssKb / y.maxRssKb
      const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met')
      const wallTarget = NODES >= 1000 ? 1.2 : 1.5
      const parts = [`wall ×${wall.toFixed(2)} (target ≤ ${wallTarget}: ${verdict(wall <= wallTarget)})`]
      if (NODES >= 1000) parts.push(`peak RSS ×${rss.toFixed(2)} (target ≤ 1.5: ${verdict(rss <= 1.5)})`)
      const forNodes = x.requests - x.leaseRequests
      parts.push(
        `requests for nodes ${forNodes} vs ${y.requests} (target ≤: ${verdict(forNodes <= y.requests)}), and ${x.leaseRequests} for the Leases`,
      )
      console.log(`targets, table, ${NODES} nodes: ${parts.join(', ')}`)
    }
  }
  console.log(`ratio roster/kubectl, json:  ${ratio('roster node-status -o json', 'kubectl get nodes -o json')}`)

  // ---- exporter ----
  api.resetRequests()
  const started = Date.now()
  const child = spawn(process.execPath, [BIN, 'node-status', '--kubeconfig', kubeconfig, '--serve', '127.0.0.1:0'], {env})
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  try {
    const url = await until(
      'the exporter listening, with the nodes listed',
      () => stderr.includes(`listed ${NODES} nodes`) && /on (http:\/\/127\.0\.0\.1:\d+)\/metrics/.exec(stderr)?.[1],
      {timeoutMs: 60_000, intervalMs: 20, describe: () => stderr},
    )
    const syncMs = Date.now() - started
    const startupRequests = api.requests.length
    const latencies: number[] = []
    let bytes = 0
    for (let i = 0; i < 20; i++) {
      const t = process.hrtime.bigint()
      const body = await (await fetch(`${url}/metrics`)).text()
      latencies.push(Number(process.hrtime.bigint() - t) / 1e6)
      bytes = body.length
    }
    console.log(
      `exporter: start + initial list of ${NODES} nodes ${syncMs} ms with ${startupRequests} requests (${api.requests.map((r) => r.verb).join(',')})`,
    )
    console.log(
      `exporter: scrape of ${(bytes / 1024).toFixed(0)} KiB: first ${latencies[0]?.toFixed(1)} ms, median ${median(latencies.slice(1)).toFixed(1)} ms, max ${Math.max(...latencies.slice(1)).toFixed(1)} ms`,
    )
    api.updateNode(`node-${String(Math.min(10, NODES - 1)).padStart(5, '0')}`, (n) => {
      const c = (n.status as {conditions: Array<{type: string; status: string}>}).conditions.find((x) => x.type === 'Ready')
      if (c) c.status = 'False'
    })
    await new Promise((r) => setTimeout(r, 200))
    const t = process.hrtime.bigint()
    await (await fetch(`${url}/metrics`)).text()
    console.log(`exporter: scrape right after a change (series re-rendered): ${(Number(process.hrtime.bigint() - t) / 1e6).toFixed(1)} ms`)

    api.resetRequests()
    // The kubelets renew their Leases every 10 s: a tenth of them each second, in 100 ms steps.
    let next = 0
    let renewals = 0
    const renew = setInterval(() => {
      for (let i = 0; i < Math.ceil(NODES / 100); i++, next = (next + 1) % NODES) {
        if (next % 50 === 7) continue // the stale ones stay stale
        api.updateLease('kube-node-lease', nodes[next]?.metadata.name ?? '', (l) => {
          ;(l.spec as {renewTime: string}).renewTime = microTime(new Date())
        })
        renewals++
      }
    }, 100)
    const cpuBefore = cpuSeconds(child.pid ?? 0)
    const scrapesDuring: number[] = []
    const idleStarted = Date.now()
    while (Date.now() - idleStarted < IDLE_SECONDS * 1000) {
      await new Promise((r) => setTimeout(r, 5000))
      const t = process.hrtime.bigint()
      await (await fetch(`${url}/metrics`)).text()
      scrapesDuring.push(Number(process.hrtime.bigint() - t) / 1e6)
    }
    clearInterval(renew)
    const cpu = cpuSeconds(child.pid ?? 0) - cpuBefore
    const idle = api.requests.length
    console.log(
      `exporter: requests to the API while only Leases change: ${idle} in ${IDLE_SECONDS} s = ${((idle * 60) / IDLE_SECONDS).toFixed(1)} per minute (open watches: ${api.openWatchCount()})`,
    )
    console.log(
      `exporter: ${renewals} Lease renewals in ${IDLE_SECONDS} s (${(renewals / IDLE_SECONDS).toFixed(0)}/s) cost ${cpu.toFixed(2)} CPU-seconds (${((cpu / IDLE_SECONDS) * 1000).toFixed(0)} millicores) with a scrape every 5 s (median ${median(scrapesDuring).toFixed(0)} ms)`,
    )
    const memory = memoryMiB(child.pid!)
    console.log(
      `exporter: resident memory with ${NODES} nodes and their Leases: ${memory.rss.toFixed(0)} MiB now, peak ${memory.peak.toFixed(0)} MiB`,
    )
  } finally {
    child.kill('SIGTERM')
    await new Promise((r) => child.on('close', r))
    await api.stop()
    rmSync(home, {recursive: true, force: true})
  }
}

await main()
