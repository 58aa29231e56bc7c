/**
 * The web console at scale: every page of /ui/ over a registry of 100,000 services (10 servers,
 * 5 namespaces, labels, two servers per service), served by `roster serve --auth none` (the
 * built CLI): the time to answer each page (measured from the client on loopback): the first time
 * it is asked, then the median and slowest of the runs once the view's caches are warm and right
 * after a write (a new view generation: the counts are computed again), and its bytes; and what a first visit
 * costs in bytes (the overview, its stylesheet, script and icon, gzipped as browsers ask).
 * Prints figures; asserts nothing.
 *
 *   npm run build && node --import tsx bench/console.ts [--services 100000] [--runs 7]
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {serviceKey, serverKey, namespaceKey} from '../src/lib/registry/keys.js'
import type {Namespace, Server, Service} from '../src/lib/registry/model.js'
import {serviceId} from '../src/lib/registry/service-id.js'
import {openStore} from '../src/lib/store/open-store.js'
import {MAX_TXN_OPS, type Operation} from '../src/lib/store/store.js'
import {isolatedEnv} from '../test/support/cli.js'
import {startServe} from '../test/support/serve-server.js'
import {arg, median} from './bench-support.js'

const count = arg('services', 100_000)
const runs = arg('runs', 7)
const SERVERS = 10
const NAMESPACES = ['default', 'payments', 'search', 'platform', 'probes']

async function seed(registry: string): Promise<string> {
  const store = await openStore({registry, timeoutMs: 60_000})
  let sample = ''
  try {
    const modified = new Date().toISOString()
    const fixed: Operation[] = []
    for (let i = 0; i < SERVERS; i++) {
      const server: Server = {name: `prom${i}`, labels: {region: i < 5 ? 'eu' : 'us'}, state: 'active', modified}
      fixed.push({type: 'put', key: serverKey(server.name), value: JSON.stringify(server)})
    }
    for (const name of NAMESPACES.slice(1)) {
      const namespace: Namespace = {name, export: name === 'probes' ? 'blackbox' : 'standard', modified}
      fixed.push({type: 'put', key: namespaceKey(name), value: JSON.stringify(namespace)})
    }
    await store.txn([], fixed)
    const pending: Promise<unknown>[] = []
    for (let start = 0; start < count; start += MAX_TXN_OPS) {
      const ops: Operation[] = []
      for (let i = start; i < Math.min(count, start + MAX_TXN_OPS); i++) {
        const namespace = NAMESPACES[i % NAMESPACES.length]!
        const endpoint = `http://host-${i}.dc${i % 3}.example.com:9100/metrics`
        const first = i % SERVERS
        const service: Service = {
          id: serviceId(namespace, endpoint),
          name: `app-${i % 250}`,
          namespace,
          endpoint,
          labels: {env: i % 4 === 0 ? 'staging' : 'prod', rack: `r${i % 40}`},
          selector: '',
          servers: [`prom${first}`, `prom${(first + 3) % SERVERS}`].sort(),
          description: '',
          modified,
          ...(i % 10 === 0 ? {expires: new Date(Date.now() + 3600_000).toISOString()} : {}),
        }
        if (i === 4242) sample = service.id
        ops.push({type: 'put', key: serviceKey(namespace, service.id), value: JSON.stringify(service)})
      }
      pending.push(store.txn([], ops))
      if (pending.length >= 16) await Promise.all(pending.splice(0))
    }
    await Promise.all(pending)
  } finally {
    await store.close()
  }
  return sample
}

async function timed(url: string, headers: Record<string, string> = {}): Promise<{ms: number; bytes: number; status: number}> {
  const started = performance.now()
  const response = await fetch(url, {headers})
  const body = new Uint8Array(await response.arrayBuffer())
  return {ms: performance.now() - started, bytes: Number(response.headers.get('content-length') ?? body.length), status: response.status}
}

const dir = mkdtempSync(path.join(tmpdir(), 'roster-bench-console-'))
const registry = `sqlite:${path.join(dir, 'registry.db')}`
try {
  const seeded = Date.now()
  const sample = await seed(registry)
  console.log(
    `seeded ${count.toLocaleString('en-US')} services on ${SERVERS} servers in ${NAMESPACES.length} namespaces in ${Date.now() - seeded} ms`,
  )
  const serve = await startServe({registry, args: ['--auth', 'none'], env: isolatedEnv()})
  try {
    const pages = [
      '/ui/',
      '/ui/servers',
      '/ui/servers/prom3',
      '/ui/namespaces',
      '/ui/services',
      '/ui/services?q=host-4242.',
      '/ui/services?selector=rack%3Dr7&sort=endpoint',
      '/ui/services?server=prom3&sort=date&limit=200',
      `/ui/services/${sample}`,
      '/ui/history',
      '/ui/tokens',
    ]
    let write = 0
    /** A write through the API: the next page read finds a new view generation. */
    const change = async () => {
      const response = await fetch(`${serve.url}/v1/services`, {
        method: 'POST',
        headers: {'content-type': 'application/json'},
        body: JSON.stringify({name: 'bench', endpoints: [`http://bench-${write++}.example.com:9100/metrics`]}),
      })
      if (!response.ok) throw new Error(`write: HTTP ${response.status}`)
    }
    console.log(
      `page                                              status   bytes   first ms   warm median / max ms   after a write median / max ms`,
    )
    for (const page of pages) {
      const first = await timed(serve.url + page)
      const warm: number[] = []
      const cold: number[] = []
      let last = {ms: 0, bytes: 0, status: 0}
      for (let i = 0; i < runs; i++) {
        last = await timed(serve.url + page)
        warm.push(last.ms)
      }
      for (let i = 0; i < runs; i++) {
        await change()
        cold.push((await timed(serve.url + page)).ms)
      }
      const f = (xs: number[]) =>
        `${median(xs).toFixed(1).padStart(6)} / ${Math.max(...xs)
          .toFixed(1)
          .padStart(6)}`
      console.log(
        `${page.padEnd(50)} ${String(last.status).padStart(6)} ${String(last.bytes).padStart(7)}   ${first.ms.toFixed(1).padStart(7)}   ${f(warm)}          ${f(cold)}`,
      )
    }
    const html = await fetch(`${serve.url}/ui/`)
    const text = await html.text()
    const assets = [...text.matchAll(/(?:href|src)="(\/ui\/assets\/[^"]+)"/g)].map((m) => m[1]!)
    let first = Buffer.byteLength(text)
    const parts = [`overview HTML ${Buffer.byteLength(text)}`]
    for (const asset of assets) {
      const {bytes} = await timed(serve.url + asset, {'accept-encoding': 'gzip'})
      first += bytes
      parts.push(`${path.basename(asset)} ${bytes} gzipped`)
    }
    console.log(`first visit (the overview and its assets): ${first} bytes (${parts.join(', ')}); later pages reuse the cached assets`)
  } finally {
    await serve.stop()
  }
} finally {
  rmSync(dir, {recursive: true, force: true})
}
