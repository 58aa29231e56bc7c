import assert from 'node:assert/strict'
import {randomUUID} from 'node:crypto'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'

import {BackendUnavailableError, NotAllowedError} from '../../src/lib/errors.js'
import {openStore, type StoreOptions} from '../../src/lib/store/open-store.js'
import {MAX_TXN_BYTES, MAX_TXN_OPS, rangeAll, type Store} from '../../src/lib/store/store.js'
import {freePort} from '../support/free-port.js'
import {isolatedEnv, runCli} from '../support/cli.js'
import {startEtcd, startEtcdCluster, type EtcdCluster, type EtcdServer} from '../support/etcd-server.js'
import {makeTlsFiles, type TlsFiles} from '../support/test-pki.js'
import {runStoreChild, storeConformanceSuite} from '../support/store-suite.js'
import {importIntoLargeNamespace} from '../support/import-cases.js'
import {Registry} from '../../src/lib/registry/registry.js'

let etcd: EtcdServer
before(async () => {
  etcd = await startEtcd({throwaway: true})
})
after(async () => {
  await etcd?.stop()
})

const suitePrefix = `/roster-conformance-${randomUUID().slice(0, 8)}/`
const etcdOptions = (extra: Partial<StoreOptions> = {}): StoreOptions => ({
  registry: etcd.url,
  etcdPrefix: suitePrefix,
  timeoutMs: 30_000,
  ...extra,
})

storeConformanceSuite('etcd', () => openStore(etcdOptions()), {
  childStoreOptions: () => etcdOptions({timeoutMs: 60_000}),
  compact: async (_store, revision) => {
    const raw = await rawClient(etcd.endpoint)
    try {
      await raw.kv.compact({revision: String(revision), physical: true})
    } finally {
      raw.close()
    }
  },
})

async function rawClient(endpoint: string) {
  const {Etcd3} = await import('etcd3')
  return new Etcd3({hosts: endpoint})
}

describe('etcd store', () => {
  it('keeps keys under the prefix, and stores with different prefixes do not see each other', async () => {
    const a = await openStore({registry: etcd.url, etcdPrefix: '/tenant-a/', timeoutMs: 10_000})
    const b = await openStore({registry: etcd.url, etcdPrefix: '/tenant-b/', timeoutMs: 10_000})
    const raw = await rawClient(etcd.endpoint)
    try {
      await a.txn([], [{type: 'put', key: 'servers/s1', value: 'A'}])
      await b.txn([], [{type: 'put', key: 'servers/s1', value: 'B'}])
      assert.equal((await a.get('servers/s1'))?.value, 'A')
      assert.equal((await b.get('servers/s1'))?.value, 'B')
      assert.deepEqual(
        (await rangeAll(a, '')).map((kv) => kv.key),
        ['servers/s1'],
      )
      assert.equal(await raw.get('/tenant-a/servers/s1').string(), 'A')
      assert.equal(a.description, etcd.url)
    } finally {
      raw.close()
      await a.close()
      await b.close()
    }
  })

  it('the default prefix is /roster/', async () => {
    const store = await openStore({registry: etcd.url, timeoutMs: 10_000})
    const raw = await rawClient(etcd.endpoint)
    try {
      const key = `default-prefix-${randomUUID()}`
      await store.txn([], [{type: 'put', key, value: 'v'}])
      assert.equal(await raw.get(`/roster/${key}`).string(), 'v')
      await store.txn([], [{type: 'delete', key}])
    } finally {
      raw.close()
      await store.close()
    }
  })

  it('a transaction just under the byte limit is accepted by etcd (the limit is safe)', async () => {
    const store = await openStore(etcdOptions())
    try {
      const p = `bytes-${randomUUID().slice(0, 8)}/`
      const value = 'v'.repeat(Math.floor((MAX_TXN_BYTES - 1000) / 3))
      const result = await store.txn(
        [],
        [0, 1, 2].map((i) => ({type: 'put' as const, key: `${p}${i}`, value})),
      )
      assert.equal(result.succeeded, true)
      assert.equal((await store.get(`${p}2`))?.value.length, value.length)
    } finally {
      await store.close()
    }
  })

  it("a range whose page would pass gRPC's 4 MiB limit is re-read in smaller pages", async () => {
    const store = await openStore(etcdOptions())
    try {
      const p = `large-values-${randomUUID().slice(0, 8)}/`
      const value = 'L'.repeat(400_000)
      for (let i = 0; i < 16; i += 3) {
        await store.txn(
          [],
          Array.from({length: Math.min(3, 16 - i)}, (_, j) => ({
            type: 'put' as const,
            key: `${p}${String(i + j).padStart(2, '0')}`,
            value,
          })),
        )
      }
      // 16 × 400 kB = 6.4 MB in one page of 1000 would exceed the limit.
      const pages = []
      for await (const page of store.range(p, {pageSize: 1000})) pages.push(page)
      assert.equal(pages.flatMap((pg) => pg.kvs).length, 16)
      assert.ok(pages.length > 1)
      assert.ok(pages.every((pg) => pg.kvs.every((kv) => kv.value.length === 400_000)))
    } finally {
      await store.close()
    }
  })

  it('getMany of values larger in all than a gRPC answer may be (4 × 1.4 MB) reads them in smaller batches, each in its place', async () => {
    const store = await openStore(etcdOptions())
    try {
      const p = `get-many-large-${randomUUID().slice(0, 8)}/`
      const keys = [0, 1, 2, 3].map((i) => `${p}${i}`)
      for (const [i, key] of keys.entries()) await store.txn([], [{type: 'put', key, value: `L${i}`.padEnd(1_400_000, 'x')}])
      const got = await store.getMany([keys[0]!, `${p}absent`, keys[1]!, keys[2]!, keys[3]!])
      assert.deepEqual(
        got.map((kv) => kv && `${kv.key} ${kv.value.slice(0, 2)} ${kv.value.length}`),
        [`${keys[0]} L0 1400000`, undefined, `${keys[1]} L1 1400000`, `${keys[2]} L2 1400000`, `${keys[3]} L3 1400000`],
      )
    } finally {
      await store.close()
    }
  })

  it('pages are sized by bytes: small records come many to a page, records of 1.4 MB one or two, each key once and in order', async () => {
    const store = await openStore(etcdOptions())
    try {
      const p = `mixed-values-${randomUUID().slice(0, 8)}/`
      const key = (i: number) => `${p}${String(i).padStart(5, '0')}`
      const large = new Set([1500, 1501, 1502, 2000, 7999])
      const value = (i: number) => (large.has(i) ? `L${i}`.padEnd(1_400_000, 'x') : `s${i}`.padEnd(200, ' '))
      // Past the large record at 2000, the pages grow back to thousands of small records.
      const total = 8000
      // Small values 120 to a transaction; each large one in a transaction of its own (etcd's 1.5 MiB request limit).
      let batch: {type: 'put'; key: string; value: string}[] = []
      for (let i = 0; i < total; i++) {
        if (large.has(i)) {
          await store.txn([], [{type: 'put', key: key(i), value: value(i)}])
          continue
        }
        batch.push({type: 'put', key: key(i), value: value(i)})
        if (batch.length === 120) {
          await store.txn([], batch)
          batch = []
        }
      }
      if (batch.length > 0) await store.txn([], batch)
      const pages = []
      for await (const page of store.range(p, {pageSize: 10_000})) pages.push(page.kvs.map((kv) => ({key: kv.key, value: kv.value})))
      const seen = pages.flat()
      assert.deepEqual(
        seen.map((kv) => kv.key),
        Array.from({length: total}, (_, i) => key(i)),
      )
      assert.ok(
        seen.every((kv, i) => kv.value === value(i)),
        'every value whole',
      )
      // Past the first page of 1,000, small records come in pages of thousands (2 MiB of ~220 bytes each)…
      assert.ok(
        pages.some((page) => page.length > 2000),
        `page sizes ${pages.map((page) => page.length).join(',')}`,
      )
      // …and no page carries more than gRPC's 4 MiB (it would have failed): the 1.4 MB records come at most two to a page.
      for (const page of pages) {
        const bytes = page.reduce((n, kv) => n + kv.key.length + kv.value.length, 0)
        assert.ok(bytes < 4 * 1024 ** 2, `a page of ${bytes} bytes`)
      }
    } finally {
      await store.close()
    }
  })
})

describe('registry on etcd', () => {
  it('an import into a namespace more than twice its size reads by key and counts, refuses and reruns as before', async () => {
    const store = await openStore({registry: etcd.url, etcdPrefix: `/roster-import-${randomUUID().slice(0, 8)}/`, timeoutMs: 30_000})
    try {
      await importIntoLargeNamespace(new Registry(store, {pageSize: 50}), 'large')
    } finally {
      await store.close()
    }
  })
})

describe('etcd store: a 3-member cluster', () => {
  let cluster: EtcdCluster
  before(async () => {
    cluster = await startEtcdCluster(3, {throwaway: true})
  })
  after(async () => {
    await cluster?.stop()
  })

  it('forms one cluster: each member lists all three and names the same leader', async () => {
    const leaders = new Set<string>()
    for (const member of cluster.members) {
      const raw = await rawClient(member.endpoint)
      try {
        const {members} = await raw.cluster.memberList({})
        assert.deepEqual(members.map((m) => m.name).sort(), cluster.members.map((m) => m.name).sort())
        leaders.add((await raw.maintenance.status()).leader)
      } finally {
        raw.close()
      }
    }
    assert.equal(leaders.size, 1, `members name different leaders: ${[...leaders].join(', ')}`)
  })

  it('a service registered through the cluster URL is listed by each member alone', async () => {
    const env = isolatedEnv()
    const register = await runCli(['service', 'register', 'node', '-e', 'http://db1:9100/metrics', '--registry', cluster.url], {env})
    assert.equal(register.code, 0, register.stderr)
    for (const member of cluster.members) {
      const list = await runCli(['service', 'list', '-o', 'json', '--registry', `etcd://${member.hostPort}`], {env})
      assert.equal(list.code, 0, list.stderr)
      assert.deepEqual(
        (JSON.parse(list.stdout) as {name: string; endpoint: string}[]).map((s) => [s.name, s.endpoint]),
        [['node', 'http://db1:9100/metrics']],
        member.name,
      )
    }
  })
})

describe('etcd store: reading ahead', () => {
  /** Range RPCs etcd has answered so far (its own counter). */
  const ranges = async (): Promise<number> => {
    const text = await (await fetch(etcd.metricsUrl)).text()
    const line = text
      .split('\n')
      .find((l) => l.startsWith('grpc_server_handled_total{') && l.includes('grpc_method="Range"') && l.includes('grpc_code="OK"'))
    return Number(line?.split(' ').at(-1) ?? 0)
  }

  it('a caller that takes one page causes one Range; one that takes them all gets every key once', async () => {
    const prefix = `/roster-ahead-${randomUUID().slice(0, 8)}/`
    const store = await openStore({registry: etcd.url, etcdPrefix: prefix, timeoutMs: 30_000})
    try {
      const ops = Array.from({length: 120}, (_, i) => ({type: 'put' as const, key: `k/${String(i).padStart(3, '0')}`, value: 'v'}))
      await store.txn([], ops)
      const before = await ranges()
      for await (const page of store.range('k/', {pageSize: 10})) {
        assert.equal(page.kvs.length, 10)
        break
      }
      // The next page is not asked for on the caller's behalf after it stopped.
      await new Promise((resolve) => setTimeout(resolve, 200))
      assert.equal((await ranges()) - before, 1)
      const keys: string[] = []
      for await (const page of store.range('k/', {pageSize: 10})) keys.push(...page.kvs.map((kv) => kv.key))
      assert.deepEqual(
        keys,
        ops.map((op) => op.key),
      )
    } finally {
      await store.close()
    }
  })
})

describe('etcd store at scale', () => {
  // Past gRPC's 4 MiB in bytes (by a seventh), in records of 600 bytes: etcd's and the client's
  // work goes by the key, and the count proves nothing more (test/stress/registry-large.test.ts
  // lists 50,000 services).
  it('range returns all 8,000 keys (≈4.8 MB) that one unpaginated get cannot', {timeout: 300_000}, async () => {
    const prefix = `/roster-scale-${randomUUID().slice(0, 8)}/`
    const store = await openStore({registry: etcd.url, etcdPrefix: prefix, timeoutMs: 60_000})
    const raw = await rawClient(etcd.endpoint)
    try {
      const total = 8000
      const value = (i: number) =>
        JSON.stringify({id: i, name: `service-${i}`, endpoint: `http://host-${i % 977}.example.org:9100/metrics`}).padEnd(600, ' ')
      const key = (i: number) => `services/default/${String(i).padStart(6, '0')}`
      const batches: number[] = []
      for (let i = 0; i < total; i += MAX_TXN_OPS) batches.push(i)
      // Four writers at a time, each a 128-operation transaction.
      let next = 0
      await Promise.all(
        Array.from({length: 4}, async () => {
          while (next < batches.length) {
            const from = batches[next++]!
            const ops = []
            for (let i = from; i < Math.min(total, from + MAX_TXN_OPS); i++) ops.push({type: 'put' as const, key: key(i), value: value(i)})
            assert.equal((await store.txn([], ops)).succeeded, true)
          }
        }),
      )

      let count = 0
      let bytes = 0
      let previous = ''
      const revisions = new Set<number>()
      for await (const page of store.range('services/')) {
        revisions.add(page.revision)
        for (const kv of page.kvs) {
          assert.ok(kv.key > previous, `${kv.key} after ${previous}`)
          assert.equal(kv.key, key(count))
          previous = kv.key
          bytes += kv.key.length + kv.value.length
          count++
        }
      }
      assert.equal(count, total)
      assert.equal(revisions.size, 1)
      assert.ok(bytes > 4.5 * 1024 ** 2, `${bytes} bytes`)

      // The same prefix in one unpaginated request fails at gRPC's 4 MiB receive limit.
      await assert.rejects(raw.getAll().prefix(`${prefix}services/`).strings(), (error: unknown) => {
        assert.match(String(error), /larger than max|RESOURCE_EXHAUSTED|4194304/i)
        return true
      })
    } finally {
      raw.close()
      await store.close()
    }
  })
})

// The cases wait out their timeouts (about 4 s in all), not the CPU: at once, they wait as long as the longest.
describe('etcd store: failures', {concurrency: true}, () => {
  it('an unreachable endpoint is BackendUnavailableError naming it, after retrying within the timeout', async () => {
    const port = await freePort()
    const store = await openStore({registry: `etcd://127.0.0.1:${port}`, timeoutMs: 1500})
    const started = Date.now()
    try {
      await assert.rejects(store.get('anything'), (error: unknown) => {
        assert.ok(error instanceof BackendUnavailableError, String(error))
        assert.equal(error.exitCode, 3)
        assert.match(
          error.message,
          new RegExp(`^etcd unavailable at 127\\.0\\.0\\.1:${port} \\(tried for 1(\\.\\d)?s, \\d+ attempts, get\\): .*ECONNREFUSED`),
        )
        return true
      })
      const elapsed = Date.now() - started
      assert.ok(elapsed >= 1000 && elapsed < 4000, `gave up after ${elapsed}ms`)
    } finally {
      await store.close()
    }
  })

  it('names every endpoint tried when all are down', async () => {
    const [p1, p2] = [await freePort(), await freePort()]
    const store = await openStore({registry: `etcd://127.0.0.1:${p1},127.0.0.1:${p2}`, timeoutMs: 1000})
    try {
      await assert.rejects(store.txn([], [{type: 'put', key: 'k', value: 'v'}]), (error: unknown) => {
        assert.ok(error instanceof BackendUnavailableError)
        assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${p1}, 127\\.0\\.0\\.1:${p2}`))
        return true
      })
    } finally {
      await store.close()
    }
  })

  it('uses a live endpoint when another in the list is down', async () => {
    const dead = await freePort()
    const store = await openStore({registry: `etcd://127.0.0.1:${dead},${etcd.hostPort}`, etcdPrefix: suitePrefix, timeoutMs: 10_000})
    try {
      for (let i = 0; i < 6; i++) {
        assert.equal((await store.txn([], [{type: 'put', key: `failover/${i}`, value: 'v'}])).succeeded, true)
      }
    } finally {
      await store.close()
    }
  })

  it('a process whose etcd is unreachable exits promptly after close()', async () => {
    const port = await freePort()
    const result = await runStoreChild(
      {registry: `etcd://127.0.0.1:${port}`, timeoutMs: 800},
      `try { await store.get('k') } catch (e) { process.stdout.write(e.constructor.name) }`,
      null,
      15_000,
    )
    assert.equal(result.code, 0, result.stderr)
    assert.equal(result.stdout, 'BackendUnavailableError')
    assert.ok(result.exitAfterCloseMs! < 2000, `exited ${result.exitAfterCloseMs}ms after close()`)
  })
})

describe('etcd store: authentication', () => {
  let secured: EtcdServer
  before(async () => {
    secured = await startEtcd({throwaway: true})
    const raw = await rawClient(secured.endpoint)
    try {
      await raw.user('root').create('root-secret')
      await raw
        .role('root')
        .create()
        .catch(() => undefined)
      await raw.user('root').addRole('root')
      await raw.role('reader').create()
      await raw.role('reader').grant({permission: 'Read', range: raw.range({prefix: '/roster/'})})
      await raw.user('reader').create('reader-secret')
      await raw.user('reader').addRole('reader')
      await raw.auth.authEnable({})
    } finally {
      raw.close()
    }
  })
  after(async () => {
    await secured?.stop()
  })

  const withStore = async (extra: Partial<StoreOptions>, fn: (store: Store) => Promise<void>) => {
    const store = await openStore({registry: secured.url, timeoutMs: 5000, ...extra})
    try {
      await fn(store)
    } finally {
      await store.close()
    }
  }

  it('the right credentials work', async () => {
    await withStore({etcdUsername: 'root', etcdPassword: 'root-secret'}, async (store) => {
      await store.txn([], [{type: 'put', key: 'k', value: 'v'}])
      assert.equal((await store.get('k'))?.value, 'v')
    })
  })

  it('a process that authenticates, reads and closes exits promptly', async () => {
    const result = await runStoreChild(
      {registry: secured.url, etcdUsername: 'root', etcdPassword: 'root-secret', timeoutMs: 5000},
      `process.stdout.write(String((await store.get('k'))?.value))`,
      null,
      15_000,
    )
    assert.equal(result.code, 0, result.stderr)
    assert.equal(result.stdout, 'v')
    assert.ok(result.exitAfterCloseMs! < 2000, `exited ${result.exitAfterCloseMs}ms after close()`)
  })

  it('a wrong password is NotAllowedError (exit 4), at once, without the password in the message', async () => {
    await withStore({etcdUsername: 'root', etcdPassword: 'wrong-password'}, async (store) => {
      const started = Date.now()
      await assert.rejects(store.get('k'), (error: unknown) => {
        assert.ok(error instanceof NotAllowedError, String(error))
        assert.equal(error.exitCode, 4)
        assert.match(error.message, /refused user "root"/)
        assert.doesNotMatch(error.message, /wrong-password/)
        return true
      })
      assert.ok(Date.now() - started < 2500)
    })
  })

  it('no credentials on a cluster that requires them is NotAllowedError saying what to pass', async () => {
    await withStore({}, async (store) => {
      await assert.rejects(store.get('k'), (error: unknown) => {
        assert.ok(error instanceof NotAllowedError, String(error))
        assert.match(error.message, /set etcd-username and etcd-password/)
        return true
      })
    })
  })

  it("registry migrate into it: a refusal names the target's flags (--to-etcd-*), exit 4, and leaves the target empty", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'roster-migrate-auth-'))
    try {
      const registry = `sqlite:${join(dir, 'source.db')}`
      const seeded = await runCli(['server', 'register', 'prom-1', '--registry', registry])
      assert.equal(seeded.code, 0, seeded.stderr)
      const prefix = ['--to-etcd-prefix', `/roster-migrate-${randomUUID().slice(0, 8)}/`]
      const anonymous = await runCli(['registry', 'migrate', '--registry', registry, '--to', secured.url, ...prefix])
      assert.equal(anonymous.code, 4, anonymous.stderr)
      assert.match(anonymous.stderr, /^roster: .*set --to-etcd-username and --to-etcd-password/m)
      assert.doesNotMatch(anonymous.stderr, /\s--etcd-/)
      const wrong = await runCli([
        'registry',
        'migrate',
        '--registry',
        registry,
        '--to',
        secured.url,
        ...prefix,
        '--to-etcd-username',
        'root',
        '--to-etcd-password',
        'wrong-password',
      ])
      assert.equal(wrong.code, 4, wrong.stderr)
      assert.match(wrong.stderr, /refused user "root"/)
      assert.doesNotMatch(wrong.stderr, /wrong-password|\n\s+at /)
      await withStore({etcdUsername: 'root', etcdPassword: 'root-secret', etcdPrefix: prefix[1]}, async (store) => {
        assert.equal((await rangeAll(store, '')).length, 0, 'nothing was written to the target')
      })
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('a user without write permission is NotAllowedError on write, and can read', async () => {
    await withStore({etcdUsername: 'reader', etcdPassword: 'reader-secret'}, async (store) => {
      assert.equal((await store.get('k'))?.value, 'v')
      await assert.rejects(store.txn([], [{type: 'put', key: 'k', value: 'x'}]), (error: unknown) => {
        assert.ok(error instanceof NotAllowedError, String(error))
        assert.match(error.message, /permission denied/)
        return true
      })
    })
  })
})

// Each case on its own keys: they run at once, and the refused ones wait out their timeouts together.
describe('etcd store: TLS', {concurrency: true}, () => {
  let secure: EtcdServer
  let tls: TlsFiles
  let dir: string
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'roster-etcd-tls-'))
    tls = makeTlsFiles(dir)
    secure = await startEtcd({tls, throwaway: true})
  })
  after(async () => {
    await secure?.stop()
    rmSync(dir, {recursive: true, force: true})
  })

  it('connects with --etcd-ca/--etcd-cert/--etcd-key, and says etcds:// in its description', async () => {
    const store = await openStore({
      registry: secure.url,
      etcdCa: tls.caFile,
      etcdCert: tls.clientCertFile,
      etcdKey: tls.clientKeyFile,
      timeoutMs: 5000,
    })
    try {
      assert.equal(store.description, `etcds://${secure.hostPort}`)
      await store.txn([], [{type: 'put', key: 'tls', value: 'yes'}])
      assert.equal((await store.get('tls'))?.value, 'yes')
    } finally {
      await store.close()
    }
  })

  it('a command over TLS to an IP address prints nothing on stderr (no DEP0123 warning)', async () => {
    const result = await runStoreChild(
      {registry: secure.url, etcdCa: tls.caFile, etcdCert: tls.clientCertFile, etcdKey: tls.clientKeyFile, timeoutMs: 5000},
      `await store.txn([], [{type: 'put', key: 'tls-child', value: 'yes'}]); process.stdout.write(String((await store.get('tls-child'))?.value))`,
      null,
      15_000,
    )
    assert.equal(result.code, 0, result.stderr)
    assert.equal(result.stdout, 'yes')
    assert.equal(result.stderr, '')
    assert.ok(result.exitAfterCloseMs! < 2000, `exited ${result.exitAfterCloseMs}ms after close()`)
  })

  it('etcds:// with the CA but without the required client certificate fails as unavailable, naming the endpoint', async () => {
    const store = await openStore({registry: `etcds://${secure.hostPort}`, etcdCa: tls.caFile, timeoutMs: 1000})
    try {
      await assert.rejects(store.get('tls'), (error: unknown) => {
        assert.ok(error instanceof BackendUnavailableError, String(error))
        assert.match(error.message, new RegExp(`etcd unavailable at ${secure.hostPort.replace(/\./g, '\\.')}`))
        return true
      })
    } finally {
      await store.close()
    }
  })

  it('plain etcd:// against a TLS server fails as unavailable', async () => {
    const store = await openStore({registry: secure.url, timeoutMs: 1000})
    try {
      await assert.rejects(store.get('tls'), BackendUnavailableError)
    } finally {
      await store.close()
    }
  })
})
