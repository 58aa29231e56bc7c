/**
 * 200 `roster service register` processes started at once against one store register 200
 * services: none lost, no process failing. On SQLite and on a real etcd.
 */
import assert from 'node:assert/strict'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {isolatedEnv, runBin, runCli} from '../support/cli.js'
import {type EtcdServer, startEtcd} from '../support/etcd-server.js'

const PROCESSES = 200

for (const backend of ['sqlite', 'etcd'] as const) {
  describe(`${PROCESSES} concurrent service register processes on ${backend}`, () => {
    let dir: string
    let etcd: EtcdServer | undefined
    let env: Record<string, string | undefined>

    before(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'roster-registry-concurrency-'))
      let registry = `sqlite:${path.join(dir, 'registry.db')}`
      if (backend === 'etcd') {
        etcd = await startEtcd()
        registry = etcd.url
      }
      env = isolatedEnv({ROSTER_REGISTRY: registry, ROSTER_TIMEOUT: '300s'})
      // Servers exist, so every process computes an assignment under the topology compare. The
      // first is registered by a process, as on a host where roster has run before: it leaves the
      // code cache the 200 processes then start from (a cold start is bench/startup.ts's business).
      const first = await runBin(['server', 'register', 'prom1'], {env})
      assert.equal(first.code, 0, first.stderr)
      for (const name of ['prom2', 'prom3']) assert.equal((await runCli(['server', 'register', name], {env})).code, 0)
    })
    after(async () => {
      await etcd?.stop()
      rmSync(dir, {recursive: true, force: true})
      if (env.HOME) rmSync(env.HOME, {recursive: true, force: true})
    })

    it('registers every service, and no process fails', async () => {
      const runs = Array.from({length: PROCESSES}, (_, i) =>
        runBin(['service', 'register', `svc${i % 7}`, '-e', `http://host${i}.example:9100/metrics`, '-l', `n=${i}`], {
          env,
          timeoutMs: 400_000,
        }),
      )
      const results = await Promise.all(runs)
      const failed = results.map((r, i) => ({i, ...r})).filter((r) => r.code !== 0)
      assert.deepEqual(
        failed.map((r) => `${r.i}: exit ${r.code}: ${r.stderr.trim()}`),
        [],
      )
      const list = await runCli(['service', 'list', '-o', 'json'], {env})
      assert.equal(list.code, 0, list.stderr)
      const services = JSON.parse(list.stdout) as {endpoint: string; servers: string[]}[]
      assert.equal(services.length, PROCESSES)
      const endpoints = new Set(services.map((s) => s.endpoint))
      for (let i = 0; i < PROCESSES; i++) assert.ok(endpoints.has(`http://host${i}.example:9100/metrics`), `host${i} lost`)
      assert.ok(services.every((s) => s.servers.length === 1))
    })
  })
}
