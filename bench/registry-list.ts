/**
 * `roster service list` of 100,000 services from etcd as -o json, -o csv and --json (all three
 * streamed): wall time and peak memory (maximum resident set size from /usr/bin/time -v). The registry is seeded by a bare etcd3 script in
 * 128-operation transactions. Prints figures; asserts nothing.
 *
 *   npm run build && node --import tsx bench/registry-list.ts [count]
 */
import {spawnSync} from 'node:child_process'
import {rmSync} from 'node:fs'

import {serviceKey} from '../src/lib/registry/keys.js'
import type {Service} from '../src/lib/registry/model.js'
import {serviceId} from '../src/lib/registry/service-id.js'
import {MAX_TXN_OPS} from '../src/lib/store/store.js'
import {BIN, isolatedEnv} from '../test/support/cli.js'
import {startEtcd} from '../test/support/etcd-server.js'

const count = Number(process.argv[2] ?? 100_000)
const etcd = await startEtcd({args: ['--quota-backend-bytes', String(4 * 1024 ** 3)]})
try {
  const {Etcd3} = await import('etcd3')
  const client = new Etcd3({hosts: etcd.endpoint})
  const modified = new Date().toISOString()
  const seedStart = Date.now()
  const pending: Promise<unknown>[] = []
  for (let start = 0; start < count; start += MAX_TXN_OPS) {
    const success = []
    for (let i = start; i < Math.min(count, start + MAX_TXN_OPS); i++) {
      const endpoint = `http://host-${i}.dc${i % 3}.example.com:9100/metrics`
      const id = serviceId('default', endpoint)
      const service: Service = {
        id,
        name: `node-${i % 100}`,
        namespace: 'default',
        endpoint,
        labels: {app: 'node', rack: `r${i % 40}`},
        selector: '',
        servers: [`prom${i % 5}`],
        description: '',
        modified,
      }
      success.push({request_put: {key: Buffer.from('/roster/' + serviceKey('default', id)), value: Buffer.from(JSON.stringify(service))}})
    }
    pending.push(client.kv.txn({compare: [], success, failure: []}))
    if (pending.length >= 8) await Promise.all(pending.splice(0))
  }
  await Promise.all(pending)
  client.close()
  console.log(`seeded ${count} services in ${((Date.now() - seedStart) / 1000).toFixed(1)} s`)

  const env = isolatedEnv({ROSTER_REGISTRY: etcd.url}) as NodeJS.ProcessEnv
  for (const args of [['-o', 'json'], ['-o', 'csv'], ['--json']]) {
    const r = spawnSync('/usr/bin/time', ['-v', process.execPath, BIN, 'service', 'list', ...args], {
      env,
      encoding: 'utf8',
      maxBuffer: 1024 ** 3,
    })
    if (r.status !== 0) throw new Error(`list failed: ${r.stderr}`)
    const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (.*)/.exec(r.stderr)?.[1]
    const rssKb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1])
    console.log(
      `roster service list ${args.join(' ').padEnd(8)} ${count} services: wall ${wall}, peak RSS ${(rssKb / 1024).toFixed(0)} MiB, output ${(r.stdout.length / 1024 ** 2).toFixed(1)} MiB`,
    )
  }
  rmSync(env.HOME!, {recursive: true, force: true})
} finally {
  await etcd.stop()
}
