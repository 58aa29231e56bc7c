/**
 * A registry change made by another process (the built CLI) reaches, on both stores, the three
 * consumers of the store follower in this process: serve's view, the token revocations it
 * answers, and a `--watch` loop (runWatchLoop with the registry trigger, as `dns sync --watch`
 * and `sd export --watch` run it). On SQLite the view and the loop share the one poller of the
 * database. No timed assertion: each step waits for what a user would see. On SQLite the writer is
 * the built CLI as a process (a change to the file by another process is what the poller is for);
 * on etcd the CLI runs in this process (runCli) with a client of its own: the change reaches the
 * follower through etcd's watch either way.
 */
import assert from 'node:assert/strict'
import {randomUUID} from 'node:crypto'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {TokenAuthority} from '../../src/lib/auth/tokens.js'
import {NotAuthenticatedError} from '../../src/lib/errors.js'
import {runWatchLoop, registryTrigger} from '../../src/lib/loop/watch-loop.js'
import {Registry} from '../../src/lib/registry/registry.js'
import {RegistryView} from '../../src/lib/server/view.js'
import {openStore} from '../../src/lib/store/open-store.js'
import {storeRevision} from '../../src/lib/store/store.js'
import {pollerCount} from '../../src/lib/store/sqlite-watch.js'
import {isolatedEnv, runBin, runCli} from '../support/cli.js'
import {startEtcd, type EtcdServer} from '../support/etcd-server.js'
import {until} from '../support/until.js'

let etcd: EtcdServer
const dir = mkdtempSync(path.join(tmpdir(), 'roster-store-follow-'))
before(async () => {
  etcd = await startEtcd()
})
after(async () => {
  await etcd?.stop()
  rmSync(dir, {recursive: true, force: true})
})

interface Backend {
  name: string
  /** The --registry (and --etcd-prefix) arguments of the CLI. */
  args: () => string[]
  open: () => ReturnType<typeof openStore>
  sqlite: boolean
}

const sqlitePath = path.join(dir, 'registry.db')
const etcdPrefix = `/follow-${randomUUID().slice(0, 8)}/`
const backends: Backend[] = [
  {
    name: 'sqlite',
    args: () => ['--registry', `sqlite:${sqlitePath}`],
    open: () => openStore({registry: `sqlite:${sqlitePath}`, timeoutMs: 10_000}),
    sqlite: true,
  },
  {
    name: 'etcd',
    args: () => ['--registry', etcd.url, '--etcd-prefix', etcdPrefix],
    open: () => openStore({registry: etcd.url, etcdPrefix, timeoutMs: 10_000}),
    sqlite: false,
  },
]

for (const backend of backends) {
  describe(`the store follower on ${backend.name}`, () => {
    it("a registry change by another process reaches serve's view, the revocations and a --watch loop", {timeout: 120_000}, async () => {
      const env = isolatedEnv()
      const cli = async (...args: string[]) => {
        const result = await (backend.sqlite ? runBin : runCli)([...args, ...backend.args()], {env})
        assert.equal(result.code, 0, `roster ${args.join(' ')}: ${result.stderr}`)
        return result.stdout
      }
      const token = (await cli('token', 'create', 'follow-e2e', '--role', 'read', '-n', 'default')).trim()

      const store = await backend.open()
      const view = new RegistryView(store)
      const stop = new AbortController()
      let loop: Promise<number> | undefined
      try {
        await view.start()
        const tokens = await TokenAuthority.open(store, {isRevoked: (id) => view.isRevoked(id)})
        assert.equal((await tokens.verify(token)).subject, 'follow-e2e')

        // The loop's sync reads the registry, as dns sync and sd export do; it records what it saw.
        const registry = new Registry(store)
        const seen: {endpoints: string[]; revision: number}[] = []
        const sync = async () => {
          const revision = await storeRevision(store)
          const endpoints: string[] = []
          for await (const service of registry.listServices()) endpoints.push(service.endpoint)
          seen.push({endpoints, revision})
        }
        loop = runWatchLoop(sync, {
          minIntervalMs: 10,
          maxIntervalMs: 3_600_000,
          signal: stop.signal,
          triggers: [registryTrigger(store)],
          onError: (error) => assert.fail(`loop error: ${String(error)}`),
        })
        await until('the first sync', () => seen.length > 0)
        if (backend.sqlite) assert.equal(pollerCount(), 1, 'the view and the loop share one poller')

        const endpoint = 'http://follow-e2e.example.org:9100/metrics'
        await cli('service', 'register', 'node', '-e', endpoint)
        await until('the view', () => [...view.servicesIn('default')].some((s) => s.endpoint === endpoint))
        await until('a sync of the --watch loop', () => seen.some((s) => s.endpoints.includes(endpoint)))

        await cli('token', 'revoke', 'follow-e2e')
        await until('the revocation', () => view.isRevoked('follow-e2e'))
        await assert.rejects(
          tokens.verify(token),
          (error: unknown) => error instanceof NotAuthenticatedError && /revoked/.test(error.message),
        )
        const revoked = view.storeRevision
        await until('a sync of the --watch loop after the revocation', () => seen.some((s) => s.revision >= revoked))
      } finally {
        stop.abort()
        await loop
        await view.close()
        await store.close()
      }
      if (backend.sqlite) assert.equal(pollerCount(), 0, 'the poller stops with its last watch')
    })
  })
}
