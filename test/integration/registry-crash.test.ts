/**
 * A failed or killed command changes nothing it did not finish: a `service import` killed with
 * SIGKILL in the middle leaves only whole services (every one listed is complete and assigned),
 * and running the same import again completes it without duplicates. A registry that cannot be
 * reached exits 3 within --timeout, naming the endpoints it tried.
 */
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {writeFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {setTimeout as delay} from 'node:timers/promises'

import {SERVERS_PREFIX, SERVICES_PREFIX} from '../../src/lib/registry/keys.js'
import {openStore} from '../../src/lib/store/open-store.js'
import {rangeAll} from '../../src/lib/store/store.js'
import {BIN, isolatedEnv, processTempDir, runCli} from '../support/cli.js'
import {freePort} from '../support/free-port.js'

interface ListedService {
  id: string
  name: string
  namespace: string
  endpoint: string
  labels: Record<string, string>
  servers: string[]
  description: string
}

describe('a killed or failed registry command', () => {
  it('a SIGKILLed import leaves only whole services, and a re-run completes it', async () => {
    // About forty transactions (MAX_TXN_OPS services each): room for the kill to land between
    // the first and the last, without more services to import and list again than that needs.
    const count = 5000
    const entries = Array.from({length: count}, (_, i) => ({
      name: `svc${i % 50}`,
      endpoint: `http://10.1.${Math.floor(i / 250)}.${i % 250}:9100/metrics`,
      labels: {team: `t${i % 7}`},
      selector: 'env=prod',
      description: `service number ${i}`,
    }))
    const dir = processTempDir('roster-crash-')
    const file = path.join(dir, 'services.json')
    writeFileSync(file, JSON.stringify(entries))

    // The kill must land while the import is writing: after its first batch is committed (the
    // store's revision moved), and provably before its last (the child is stopped, then counted).
    // Should an attempt find the import already finished, it starts over on a fresh registry.
    let env: Record<string, string | undefined> = {}
    let killedWith = -1
    let exitCode: number | null = 0
    for (let attempt = 0; attempt < 3 && killedWith < 0; attempt++) {
      const registry = `sqlite:${path.join(dir, `registry-${attempt}.db`)}`
      env = isolatedEnv({ROSTER_REGISTRY: registry})
      for (const server of ['prom1', 'prom2', 'prom3'])
        assert.equal((await runCli(['server', 'register', server, '-l', 'env=prod'], {env})).code, 0)
      const store = await openStore({registry, timeoutMs: 30_000})
      try {
        const revision = async (): Promise<number> => {
          for await (const page of store.range(SERVERS_PREFIX, {pageSize: 1})) return page.revision
          return 0
        }
        const servicesWritten = async (): Promise<number> => (await rangeAll(store, SERVICES_PREFIX)).length
        const before = await revision()
        const child = spawn(process.execPath, [BIN, 'service', 'import', file], {
          env: env as NodeJS.ProcessEnv,
          stdio: 'ignore',
        })
        const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
        let finished = false
        void exited.then(() => (finished = true))
        while (!finished && (await revision()) === before) await delay(5)
        child.kill('SIGSTOP')
        const caught = !finished
        const written = caught ? await servicesWritten() : count
        child.kill('SIGKILL')
        exitCode = await exited
        if (caught && written > 0 && written < count) killedWith = written
      } finally {
        await store.close()
      }
    }
    assert.ok(killedWith > 0, 'the import was caught while writing')
    assert.equal(exitCode, null, 'the import was killed, not finished')

    const after = await runCli(['service', 'list', '-o', 'json'], {env})
    assert.equal(after.code, 0, after.stderr)
    const services = JSON.parse(after.stdout) as ListedService[]
    assert.equal(services.length, killedWith, 'what was committed when the import was stopped is what is listed')
    const byEndpoint = new Map(entries.map((e) => [e.endpoint, e]))
    for (const s of services) {
      const wanted = byEndpoint.get(s.endpoint)
      assert.ok(wanted, `unexpected service ${s.endpoint}`)
      assert.equal(s.name, wanted.name)
      assert.deepEqual(s.labels, wanted.labels)
      assert.equal(s.description, wanted.description)
      assert.equal(s.servers.length, 1, `${s.endpoint} is assigned`)
    }

    const rerun = await runCli(['service', 'import', file], {env})
    assert.equal(rerun.code, 0, rerun.stderr)
    const complete = JSON.parse((await runCli(['service', 'list', '-o', 'json'], {env})).stdout) as ListedService[]
    assert.equal(complete.length, count)
    assert.equal(new Set(complete.map((s) => s.id)).size, count, 'no duplicates')
  })

  it('an unreachable etcd: retries within --timeout, then exit 3 naming the endpoints, and writes nothing', async () => {
    const [a, b] = [await freePort(), await freePort()]
    const started = Date.now()
    const result = await runCli([
      'service',
      'register',
      'web',
      '-e',
      'http://127.0.0.1:8080/',
      '--registry',
      `etcd://127.0.0.1:${a},127.0.0.1:${b}`,
      '--timeout',
      '2s',
    ])
    const elapsed = Date.now() - started
    assert.equal(result.code, 3, result.stderr)
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr)
    assert.ok(result.stderr.includes(`127.0.0.1:${a}`) && result.stderr.includes(`127.0.0.1:${b}`), result.stderr)
    assert.ok(elapsed >= 1500, `retried for the timeout (${elapsed} ms)`)
    assert.ok(elapsed < 15_000, `gave up soon after the timeout (${elapsed} ms)`)
  })

  it('a registry URL with an unknown scheme exits 2 naming the field', async () => {
    const result = await runCli(['service', 'list', '--registry', 'mysql://db/roster'])
    assert.equal(result.code, 2)
    assert.match(result.stderr, /^roster: --registry "mysql:\/\/db\/roster": /)
    assert.equal(result.stderr.trim().split('\n').length, 1)
  })
})
