/**
 * Machine tokens: verify() throughput as a ratio to jose's jwtVerify alone (revocations in memory,
 * as serve runs it, and read from the store, as the CLI does); create() latency; the start-up of
 * `roster token create`/`info`/`list` as a ratio to `node -e 0`, beside `roster namespace list`
 * (a command without jose); how long a revocation takes to reach a second instance (its view,
 * kept current by the store follower: etcd's watch, SQLite's poller).
 *
 *   npm run build && node --import tsx bench/tokens.ts [runs]
 */
import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {importJWK, jwtVerify, type JWK} from 'jose'

import {TokenAuthority} from '../src/lib/auth/tokens.js'
import {RegistryView} from '../src/lib/server/view.js'
import {openStore} from '../src/lib/store/open-store.js'
import {WATCH_POLL_INTERVAL_MS} from '../src/lib/store/sqlite-watch.js'
import type {Store} from '../src/lib/store/store.js'
import {BIN, isolatedEnv} from '../test/support/cli.js'
import {startEtcd} from '../test/support/etcd-server.js'
import {until} from '../test/support/until.js'
import {median} from './bench-support.js'

const runs = Number(process.argv[2] ?? 11)
const dir = mkdtempSync(path.join(tmpdir(), 'roster-bench-tokens-'))
const registry = `sqlite:${path.join(dir, 'registry.db')}`

async function opsPerSecond(fn: () => Promise<unknown>, ms = 1000): Promise<number> {
  for (let i = 0; i < 50; i++) await fn() // warm-up
  const start = performance.now()
  let n = 0
  while (performance.now() - start < ms) {
    await fn()
    n++
  }
  return (n * 1000) / (performance.now() - start)
}

async function revocationDelays(cliStore: Store, serveStore: Store, label: string, count: number): Promise<void> {
  const cli = await TokenAuthority.open(cliStore)
  const view = new RegistryView(serveStore)
  await view.start()
  const serve = await TokenAuthority.open(serveStore, {isRevoked: (id) => view.isRevoked(id)})
  const delays: number[] = []
  for (let i = 0; i < count; i++) {
    const id = `${label.split(' ')[0]!.toLowerCase()}-${i}`
    await cli.create({id, role: 'read', namespaces: ['default']})
    const start = performance.now()
    await cli.revoke(id)
    await until(`the revocation of ${id}`, () => serve.isRevoked(id), {intervalMs: 1})
    delays.push(performance.now() - start)
  }
  await view.close()
  console.log(
    `revocation reaches a second instance, ${label.padEnd(22)} median ${median(delays).toFixed(1).padStart(6)} ms, max ${Math.max(...delays).toFixed(1)} ms (${count} revocations)`,
  )
}

try {
  const store = await openStore({registry, timeoutMs: 10_000})
  const authority = await TokenAuthority.open(store)
  const creates: number[] = []
  let token = ''
  for (let i = 0; i < runs; i++) {
    const start = performance.now()
    token = (await authority.create({id: `bench-${i}`, role: 'service', namespaces: ['default']})).token
    creates.push(performance.now() - start)
  }
  console.log(`create() on SQLite: median ${median(creates).toFixed(2)} ms (${runs} tokens, token ${token.length} bytes)`)
  const memory = await TokenAuthority.open(store, {isRevoked: () => false})
  const jwk = JSON.parse((await store.get('auth/signing-key'))!.value) as JWK
  const publicKey = await importJWK({kty: jwk.kty, crv: jwk.crv, x: jwk.x}, 'EdDSA')
  // Interleaved rounds, medians: the machine's load moves every variant alike; the ratios are the figures.
  const variants: Record<string, () => Promise<unknown>> = {
    'jose jwtVerify alone': () => jwtVerify(token, publicKey, {algorithms: ['EdDSA']}),
    'verify(), revocations in memory (serve)': () => memory.verify(token),
    'verify(), revocation read from SQLite': () => authority.verify(token),
    'verify() refusing a 9 KB token': () => memory.verify('A'.repeat(9000)).catch(() => undefined),
  }
  const rates: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]))
  for (let round = 0; round < 7; round++) {
    for (const [name, fn] of Object.entries(variants)) rates[name]!.push(await opsPerSecond(fn, 300))
  }
  const base = median(rates['jose jwtVerify alone']!)
  for (const [name, xs] of Object.entries(rates)) {
    const m = median(xs)
    console.log(`${name.padEnd(42)} ${String(Math.round(m)).padStart(7)} /s   ${(m / base).toFixed(2)}x jose alone`)
  }
  await store.close()

  // Start-up, interleaved with node -e 0.
  const env = isolatedEnv() as NodeJS.ProcessEnv
  const commands: Record<string, string[]> = {
    'node -e 0': ['-e', '0'],
    'roster namespace list': [BIN, 'namespace', 'list', '--registry', registry],
    'roster token create': [BIN, 'token', 'create', '', '-n', 'default', '--registry', registry],
    'roster token info': [BIN, 'token', 'info', token, '--registry', registry],
    'roster token list': [BIN, 'token', 'list', '--registry', registry],
  }
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(commands).map((k) => [k, []]))
  for (let i = 0; i < runs + 2; i++) {
    for (const [name, args] of Object.entries(commands)) {
      const a = args.map((x) => (x === '' ? `startup-${i}` : x))
      const start = process.hrtime.bigint()
      const r = spawnSync(process.execPath, a, {env, stdio: ['ignore', 'pipe', 'pipe']})
      const ms = Number(process.hrtime.bigint() - start) / 1e6
      if (r.status !== 0) throw new Error(`${name} failed: ${r.stderr}`)
      if (i >= 2) times[name]!.push(ms)
    }
  }
  const floor = median(times['node -e 0']!)
  console.log(`start-up, median of ${runs} interleaved runs (node ${process.version})`)
  for (const [name, xs] of Object.entries(times)) {
    const m = median(xs)
    console.log(`  ${name.padEnd(22)} ${m.toFixed(1).padStart(7)} ms   ${(m / floor).toFixed(2)}x node -e 0`)
  }

  const a = await openStore({registry, timeoutMs: 10_000})
  const b = await openStore({registry, timeoutMs: 10_000})
  await revocationDelays(a, b, `SQLite (${WATCH_POLL_INTERVAL_MS} ms poll)`, runs)
  await Promise.all([a.close(), b.close()])
  const etcd = await startEtcd()
  try {
    const e1 = await openStore({registry: etcd.url, timeoutMs: 10_000})
    const e2 = await openStore({registry: etcd.url, timeoutMs: 10_000})
    await revocationDelays(e1, e2, 'etcd (watch)', runs)
    await Promise.all([e1.close(), e2.close()])
  } finally {
    await etcd.stop()
  }
} finally {
  rmSync(dir, {recursive: true, force: true})
}
