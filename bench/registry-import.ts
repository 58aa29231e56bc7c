/**
 * `roster service import` of 10,000 services, on SQLite and on etcd, against the raw store rate:
 * the same keys and values written in 128-operation transactions (SQLite: through the Store;
 * etcd: by a bare etcd3 script calling KV.Txn), then the same import again (every service
 * unchanged: one range, no write). Prints figures; asserts nothing.
 *
 *   npm run build && node --import tsx bench/registry-import.ts [count]
 */
import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {serviceKey} from '../src/lib/registry/keys.js'
import type {Service} from '../src/lib/registry/model.js'
import {serviceId} from '../src/lib/registry/service-id.js'
import {openStore} from '../src/lib/store/open-store.js'
import {MAX_TXN_OPS, type Operation} from '../src/lib/store/store.js'
import {BIN, isolatedEnv} from '../test/support/cli.js'
import {startEtcd} from '../test/support/etcd-server.js'

const count = Number(process.argv[2] ?? 10_000)
const dir = mkdtempSync(path.join(tmpdir(), 'roster-bench-import-'))
const entries = Array.from({length: count}, (_, i) => ({
  name: `node-${i % 50}`,
  endpoint: `http://host-${i}.dc1.example.com:9100/metrics`,
  labels: {app: 'node', rack: `r${i % 40}`},
}))
const file = path.join(dir, 'services.json')
writeFileSync(file, JSON.stringify(entries))

/** The values the import writes (no servers registered: unassigned). */
function batches(): Operation[][] {
  const modified = new Date().toISOString()
  const out: Operation[][] = []
  for (let start = 0; start < count; start += MAX_TXN_OPS) {
    out.push(
      entries.slice(start, start + MAX_TXN_OPS).map((e) => {
        const id = serviceId('default', e.endpoint)
        const service: Service = {
          id,
          name: e.name,
          namespace: 'default',
          endpoint: e.endpoint,
          labels: e.labels,
          selector: '',
          servers: [],
          description: '',
          modified,
        }
        return {type: 'put', key: serviceKey('default', id), value: JSON.stringify(service)}
      }),
    )
  }
  return out
}

function cliImport(registry: string): number {
  const env = isolatedEnv({ROSTER_REGISTRY: registry, ROSTER_TIMEOUT: '300s'}) as NodeJS.ProcessEnv
  const start = process.hrtime.bigint()
  const r = spawnSync(process.execPath, [BIN, 'service', 'import', file], {env, encoding: 'utf8'})
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  if (r.status !== 0) throw new Error(`import failed: ${r.stderr}`)
  rmSync(env.HOME!, {recursive: true, force: true})
  return ms
}

function report(label: string, ms: number): void {
  console.log(
    `${label.padEnd(58)} ${(ms / 1000).toFixed(2).padStart(7)} s  ${Math.round((count / ms) * 1000)
      .toString()
      .padStart(7)} services/s`,
  )
}

console.log(`service import of ${count} services (node ${process.version})`)

// SQLite
{
  const raw = await openStore({registry: `sqlite:${path.join(dir, 'raw.db')}`, timeoutMs: 60_000})
  const start = process.hrtime.bigint()
  for (const ops of batches()) await raw.txn([], ops)
  const rawMs = Number(process.hrtime.bigint() - start) / 1e6
  await raw.close()
  report('sqlite: raw Store.txn, 128 puts per transaction', rawMs)
  const cliMs = cliImport(`sqlite:${path.join(dir, 'cli.db')}`)
  report('sqlite: roster service import (whole process)', cliMs)
  console.log(`sqlite: ratio import / raw = ${(cliMs / rawMs).toFixed(1)}x`)
  report('sqlite: the same import again (all unchanged)', cliImport(`sqlite:${path.join(dir, 'cli.db')}`))
}

// etcd
{
  const etcd = await startEtcd()
  try {
    const {Etcd3} = await import('etcd3')
    const client = new Etcd3({hosts: etcd.endpoint})
    const start = process.hrtime.bigint()
    for (const ops of batches()) {
      await client.kv.txn({
        compare: [],
        success: ops.map((op) => ({
          request_put: {key: Buffer.from('/raw/' + op.key), value: Buffer.from(op.type === 'put' ? op.value : '')},
        })),
        failure: [],
      })
    }
    const rawMs = Number(process.hrtime.bigint() - start) / 1e6
    client.close()
    report('etcd: bare etcd3 KV.Txn, 128 puts per transaction', rawMs)
    const cliMs = cliImport(etcd.url)
    report('etcd: roster service import (whole process)', cliMs)
    console.log(`etcd: ratio import / raw = ${(cliMs / rawMs).toFixed(1)}x`)
    report('etcd: the same import again (all unchanged)', cliImport(etcd.url))
  } finally {
    await etcd.stop()
  }
}
rmSync(dir, {recursive: true, force: true})
