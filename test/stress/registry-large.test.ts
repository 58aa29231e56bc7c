/**
 * A registry of 50,000 services lists completely from etcd: an unpaginated range of it would
 * exceed gRPC's 4 MiB receive limit and fail. Seeded straight into the store (seed-registry.ts),
 * then listed by the CLI.
 */
import assert from 'node:assert/strict'
import {rmSync} from 'node:fs'
import {after, before, describe, it} from 'node:test'

import type {Service} from '../../src/lib/registry/model.js'
import {isolatedEnv, runBin, runCli} from '../support/cli.js'
import {type EtcdServer, startEtcd} from '../support/etcd-server.js'
import {seedRegistry} from '../support/seed-registry.js'

const COUNT = 50_000

describe(`${COUNT} services from etcd`, () => {
  let etcd: EtcdServer
  let env: Record<string, string | undefined>
  /** The output of `service list -o json` (run once, by whichever test needs it first). */
  let listed: Promise<{code: number; stdout: string; stderr: string}> | undefined
  const listJson = () => (listed ??= runCli(['service', 'list', '-o', 'json'], {env, timeoutMs: 180_000}))

  before(async () => {
    etcd = await startEtcd()
    env = isolatedEnv({ROSTER_REGISTRY: etcd.url})
    await seedRegistry(etcd.url, COUNT, {servers: 5})
  })
  after(async () => {
    await etcd?.stop()
    if (env.HOME) rmSync(env.HOME, {recursive: true, force: true})
  })

  it('service list -o json lists every one', async () => {
    const r = await listJson()
    assert.equal(r.code, 0, r.stderr)
    assert.ok(r.stdout.length > 4 * 1024 * 1024, `output of ${r.stdout.length} bytes is over gRPC's 4 MiB limit`)
    const services = JSON.parse(r.stdout) as Service[]
    assert.equal(services.length, COUNT)
    assert.equal(new Set(services.map((s) => s.id)).size, COUNT)
  })

  it('service list --json streams the same text as -o json, within a 128 MiB heap', async () => {
    const listedJson = (await listJson()).stdout
    // Holding the 50,000 services and printing them at once (oclif's --json) needs several times more.
    // A process of its own: the heap limit is the point.
    const json = await runBin(['service', 'list', '--json'], {env: {...env, NODE_OPTIONS: '--max-old-space-size=128'}, timeoutMs: 180_000})
    assert.equal(json.code, 0, json.stderr)
    assert.ok(json.stdout === listedJson, `--json printed ${json.stdout.length} bytes, -o json ${listedJson.length}`)
    assert.equal((JSON.parse(json.stdout) as Service[]).length, COUNT)
  })

  it('filters stream too', async () => {
    const r = await runCli(['service', 'list', '-o', 'csv', '--no-headers', '-s', 'rack=r7', '--name', '^node-7$'], {
      env,
      timeoutMs: 180_000,
    })
    assert.equal(r.code, 0, r.stderr)
    // i % 40 == 7 and i % 100 == 7: i ≡ 7 (mod 200), 250 of them.
    assert.equal(r.stdout.trimEnd().split('\r\n').length, 250)
  })
})
