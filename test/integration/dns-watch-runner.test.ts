/**
 * `dns sync --watch` through the built CLI: the first sync at once, then a change in the registry
 * (another process writing the SQLite file) and a change in the cluster (a Service appearing) each
 * reach the zone file long before the max interval (10 minutes) — the change triggers drive the
 * bounded-frequency runner. SIGTERM exits 0.
 */
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {Registry} from '../../src/lib/registry/registry.js'
import {openStore} from '../../src/lib/store/open-store.js'
import {BIN, isolatedEnv, processTempDir} from '../support/cli.js'
import {startKubeApiServer, type KubeApiServer} from '../support/kube-api-server.js'
import {makeService} from '../support/kube-objects.js'
import {until} from '../support/until.js'

const ZONE_TEXT = `$ORIGIN example.com.
$TTL 300
@   IN SOA ns1 hostmaster 1 3600 600 86400 300
@   IN NS  ns1
ns1 IN A   127.0.0.53
`

let kube: KubeApiServer
let dir: string

before(async () => {
  kube = await startKubeApiServer()
  dir = processTempDir('roster-dns-watch-')
})

after(async () => {
  await kube.stop()
})

async function withRegistry(db: string, fn: (r: Registry) => Promise<void>): Promise<void> {
  const store = await openStore({registry: `sqlite:${db}`, timeoutMs: 10_000})
  try {
    await fn(new Registry(store))
  } finally {
    await store.close()
  }
}

describe('dns sync --watch', () => {
  it('syncs on registry and cluster changes, not only every --interval', async () => {
    const db = path.join(dir, 'registry.db')
    const zoneFile = path.join(dir, 'example.com.zone')
    writeFileSync(zoneFile, ZONE_TEXT)
    await withRegistry(db, async (r) => {
      await r.registerNamespace('shop')
      await r.registerServices({name: 'node', namespace: 'shop', endpoints: ['http://127.0.0.1:9100/metrics']})
    })
    const child = spawn(
      process.execPath,
      [
        BIN,
        'dns',
        'sync',
        '--watch',
        '--interval',
        '10m',
        '--policy',
        'sync',
        '--owner-id',
        'w',
        '--source',
        'registry',
        '--source',
        'kubernetes',
        '--registry',
        `sqlite:${db}`,
        '--registry-zone',
        'sd.example.com',
        '--kubeconfig',
        kube.kubeconfigPath(),
        '--provider',
        'zonefile',
        '--zone-file',
        zoneFile,
        '--zone',
        'example.com',
      ],
      {env: isolatedEnv() as NodeJS.ProcessEnv},
    )
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    child.stdout.resume()
    const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
    const zone = () => readFileSync(zoneFile, 'utf8')
    try {
      await until('the first sync', () => /^node\.shop\.sd\.example\.com\.\s.*\bA\s+127\.0\.0\.1$/m.test(zone()), {describe: () => stderr})
      await withRegistry(db, async (r) => {
        await r.registerServices({name: 'db', namespace: 'shop', endpoints: ['http://127.0.0.2:9187/metrics']})
      })
      await until('the registry change', () => /^db\.shop\.sd\.example\.com\.\s.*\bA\s+127\.0\.0\.2$/m.test(zone()), {
        describe: () => `${stderr}\n${zone()}`,
      })
      kube.addService(
        makeService({
          name: 'web',
          namespace: 'prod',
          type: 'LoadBalancer',
          loadBalancer: [{ip: '127.0.0.30'}],
          annotations: {'external-dns.alpha.kubernetes.io/hostname': 'web.example.com'},
        }),
      )
      await until('the cluster change', () => /^web\.example\.com\.\s.*\bA\s+127\.0\.0\.30$/m.test(zone()), {
        describe: () => `${stderr}\n${zone()}`,
      })
    } finally {
      child.kill('SIGTERM')
      assert.equal(await exit, 0, stderr)
    }
  })
})
