/**
 * Backups across backends and through roster serve: SQLite → file → etcd, etcd → file → SQLite,
 * and `registry migrate` both ways, each compared object by object (servers, namespaces,
 * services with their assignments and TTLs, settings, token records, revocations). A token
 * issued before the move verifies after it with --include-secrets or migrate, and not without.
 * Through serve, an admin token takes a backup (never with the signing key); other tokens are
 * refused.
 */
import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {get} from 'node:http'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {setTimeout as sleep} from 'node:timers/promises'

import {verifyBackup} from '../../src/lib/registry/backup/read-backup.js'
import {openStore, type StoreOptions} from '../../src/lib/store/open-store.js'
import type {Store} from '../../src/lib/store/store.js'
import {
  type FilledRegistry,
  assertSameRecords,
  fillRegistry,
  registryRecords,
  storeDump,
  tokenVerifies,
} from '../support/backup-fixtures.js'
import {isolatedEnv, processTempDir, runCli} from '../support/cli.js'
import {type EtcdServer, startEtcd} from '../support/etcd-server.js'
import {createToken, startServe} from '../support/serve-server.js'
import {Registry} from '../../src/lib/registry/registry.js'

const dir = processTempDir('roster-backup-etcd-')
const env = isolatedEnv()
const roster = (...args: string[]) => runCli(args, {env})
let etcd: EtcdServer
let prefixes = 0
/** A fresh etcd registry: its --registry/--etcd-prefix arguments and its StoreOptions. */
const freshEtcd = () => {
  const prefix = `/backup-${++prefixes}/`
  return {
    args: ['--registry', etcd.url, '--etcd-prefix', prefix],
    prefix,
    options: {registry: etcd.url, etcdPrefix: prefix, timeoutMs: 30_000},
  }
}
let sqlites = 0
const freshSqlite = () => `sqlite:${path.join(dir, `registry-${++sqlites}.db`)}`

async function withStore<T>(options: StoreOptions | string, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(typeof options === 'string' ? {registry: options, timeoutMs: 30_000} : options)
  try {
    return await fn(store)
  } finally {
    await store.close()
  }
}

before(async () => {
  etcd = await startEtcd({throwaway: true})
})
after(async () => {
  await etcd?.stop()
})

describe('SQLite → file → etcd', () => {
  const sqlite = freshSqlite()
  let filled: FilledRegistry
  let records: Map<string, unknown>
  before(async () => {
    filled = await withStore(sqlite, (store) => fillRegistry(store, 90))
    records = await withStore(sqlite, (store) => registryRecords(store))
  })

  it('with --include-secrets: every object, and the tokens issued before verify', async () => {
    const file = path.join(dir, 'sqlite-secrets.jsonl')
    assert.equal((await roster('registry', 'backup', '--include-secrets', file, '--registry', sqlite)).code, 0)
    const target = freshEtcd()
    const result = await roster('registry', 'restore', file, ...target.args)
    assert.equal(result.code, 0, result.stderr)
    await withStore(target.options, async (store) => {
      assertSameRecords(await registryRecords(store), records, 'etcd after restore')
      assert.equal(await tokenVerifies(store, filled.tokens.service), true)
      assert.equal(await tokenVerifies(store, filled.tokens.read), true)
      assert.equal(await tokenVerifies(store, filled.tokens.revoked), false)
    })
  })

  it('without secrets: every object but the signing key, and the tokens issued before do not verify', async () => {
    const file = path.join(dir, 'sqlite.jsonl')
    assert.equal((await roster('registry', 'backup', file, '--registry', sqlite)).code, 0)
    const target = freshEtcd()
    assert.equal((await roster('registry', 'restore', file, ...target.args)).code, 0)
    await withStore(target.options, async (store) => {
      assertSameRecords(await registryRecords(store), await withStore(sqlite, (s) => registryRecords(s, false)), 'etcd after restore')
      assert.equal(await tokenVerifies(store, filled.tokens.service), false)
    })
  })
})

describe('etcd → file → SQLite', () => {
  const source = {registry: '', etcdPrefix: '/backup-source/', timeoutMs: 30_000}
  let filled: FilledRegistry
  before(async () => {
    source.registry = etcd.url
    filled = await withStore(source, (store) => fillRegistry(store, 90))
  })

  for (const secrets of [true, false]) {
    it(`${secrets ? 'with' : 'without'} --include-secrets`, async () => {
      const file = path.join(dir, `etcd-${secrets}.jsonl`)
      const args = ['registry', 'backup', file, '--registry', etcd.url, '--etcd-prefix', source.etcdPrefix]
      const backup = await roster(...args, ...(secrets ? ['--include-secrets'] : []))
      assert.equal(backup.code, 0, backup.stderr)
      assert.equal((JSON.parse(readFileSync(file, 'utf8').split('\n')[0]!) as {source: {kind: string}}).source.kind, 'etcd')
      const target = freshSqlite()
      assert.equal((await roster('registry', 'restore', file, '--registry', target)).code, 0)
      await withStore(target, async (store) => {
        assertSameRecords(await registryRecords(store), await withStore(source, (s) => registryRecords(s, secrets)), 'SQLite after restore')
        assert.equal(await tokenVerifies(store, filled.tokens.service), secrets)
      })
    })
  }
})

describe('registry migrate', () => {
  it('SQLite → etcd: the same objects, the tokens keep working, the counts printed, the source untouched', async () => {
    const sqlite = freshSqlite()
    const filled = await withStore(sqlite, (store) => fillRegistry(store, 90))
    const before = await withStore(sqlite, storeDump)
    const target = freshEtcd()
    const result = await roster('registry', 'migrate', '--registry', sqlite, '--to', etcd.url, '--to-etcd-prefix', target.prefix)
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, /^KIND\tSOURCE\tTARGET$/m)
    assert.match(result.stdout, /^services\t90\t90$/m)
    assert.match(result.stdout, /^signing keys\t1\t1$/m)
    assert.match(result.stderr, /every object compared equal/)
    await withStore(target.options, async (store) => {
      assertSameRecords(await registryRecords(store), await withStore(sqlite, (s) => registryRecords(s)), 'etcd after migrate')
      assert.equal(await tokenVerifies(store, filled.tokens.service), true)
      assert.equal(await tokenVerifies(store, filled.tokens.revoked), false)
    })
    assert.deepEqual(await withStore(sqlite, storeDump), before, 'the source is untouched')

    // Again: the target is not empty.
    const again = await roster('registry', 'migrate', '--registry', sqlite, '--to', etcd.url, '--to-etcd-prefix', target.prefix)
    assert.equal(again.code, 6, again.stderr)
    assert.match(again.stderr, /roster registry migrate --replace/)
    const replaced = await roster(
      'registry',
      'migrate',
      '--replace',
      '--registry',
      sqlite,
      '--to',
      etcd.url,
      '--to-etcd-prefix',
      target.prefix,
    )
    assert.equal(replaced.code, 0, replaced.stderr)
  })

  it('etcd → SQLite, with --json', async () => {
    const source = freshEtcd()
    const filled = await withStore(source.options, (store) => fillRegistry(store, 30))
    const target = freshSqlite()
    const result = await roster('registry', 'migrate', ...source.args, '--to', target, '--json')
    assert.equal(result.code, 0, result.stderr)
    const json = JSON.parse(result.stdout) as {counts: {source: {service: number}; target: {service: number}}; revision: number}
    assert.equal(json.counts.source.service, 30)
    assert.equal(json.counts.target.service, 30)
    await withStore(target, async (store) => {
      assertSameRecords(await registryRecords(store), await withStore(source.options, (s) => registryRecords(s)), 'SQLite after migrate')
      assert.equal(await tokenVerifies(store, filled.tokens.read), true)
    })
  })

  it('refuses to move a registry onto itself, and an https:// registry (exit 2)', async () => {
    const sqlite = freshSqlite()
    const same = await roster('registry', 'migrate', '--registry', sqlite, '--to', sqlite)
    assert.equal(same.code, 2, same.stderr)
    assert.match(same.stderr, /is the registry it moves from/)
    const remote = await roster('registry', 'migrate', '--registry', sqlite, '--to', 'https://roster.example.com:3002')
    assert.equal(remote.code, 2, remote.stderr)
  })
})

describe('registry backup through roster serve', () => {
  const sqlite = freshSqlite()
  let serve: Awaited<ReturnType<typeof startServe>>
  let admin: string
  let read: string
  before(async () => {
    await withStore(sqlite, (store) => fillRegistry(store, 40))
    admin = await createToken(sqlite, {id: 'backup-admin', role: 'admin', namespaces: []})
    read = await createToken(sqlite, {id: 'backup-read', role: 'read', namespaces: ['*']})
    // Timeouts shorter than the slow reader's pause (the last case); the CLI's requests come whole
    // at once, and a backup's answer is not bounded by them.
    serve = await startServe({registry: sqlite, args: ['--headers-timeout', '1s', '--request-timeout', '1s', '--keep-alive-timeout', '1s']})
  })
  after(async () => {
    await serve?.stop()
  })

  it('an admin token takes a backup, without the signing key; it restores to the same objects', async () => {
    const file = path.join(dir, 'remote.jsonl')
    const result = await roster('registry', 'backup', file, '--registry', serve.url, '--token', admin)
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stderr, /backup of sqlite:.* at revision \d+ written to/)
    const text = readFileSync(file, 'utf8')
    assert.ok(!text.includes('{"kind":"signing-key"') && !text.includes('"d":'), 'no signing key through the API')
    assert.match(text.split('\n')[0]!, /"secrets":false/)
    const target = freshEtcd()
    assert.equal((await roster('registry', 'restore', file, ...target.args)).code, 0)
    await withStore(target.options, async (store) =>
      assertSameRecords(
        await registryRecords(store),
        await withStore(sqlite, (s) => registryRecords(s, false)),
        'etcd after a remote backup',
      ),
    )
  })

  it('a read token is refused (exit 4), and --include-secrets is refused before asking (exit 2)', async () => {
    const refused = await roster('registry', 'backup', path.join(dir, 'refused.jsonl'), '--registry', serve.url, '--token', read)
    assert.equal(refused.code, 4, refused.stderr)
    const secrets = await roster(
      'registry',
      'backup',
      '--include-secrets',
      path.join(dir, 'refused.jsonl'),
      '--registry',
      serve.url,
      '--token',
      admin,
    )
    assert.equal(secrets.code, 2, secrets.stderr)
    assert.match(secrets.stderr, /never hands out the token signing key/)
  })

  it("serve's timeouts bound the request, not the answer: a backup read slower than them arrives whole", async () => {
    // 3,000 services: an answer far larger than the sockets' buffers take while the reader pauses,
    // so that most of it waits in serve.
    const bulk = Array.from({length: 3000 - 40}, (_, i) => ({
      name: `bulk${i % 7}`,
      endpoints: [`http://bulk-${i}.example.com:9100/metrics`],
      labels: {app: `a${i % 5}`, rack: `r${i % 4}`},
      description: `bulk service number ${i}`,
    }))
    await withStore(sqlite, async (store) => assert.equal((await new Registry(store).importServices(bulk)).created, bulk.length))
    const chunks: Buffer[] = []
    await new Promise<void>((resolve, reject) => {
      get(`${serve.url}/v1/backup`, {headers: {authorization: `Bearer ${admin}`}}, (res) => {
        assert.equal(res.statusCode, 200)
        let paused = false
        res.on('data', (chunk: Buffer) => {
          chunks.push(chunk)
          if (paused) return
          paused = true
          // Past every timeout serve was given, with the rest of the answer waiting to be read.
          res.pause()
          void sleep(2500).then(() => res.resume())
        })
        res.on('end', resolve)
        res.on('error', reject)
      }).on('error', reject)
    })
    const {header} = await verifyBackup([Buffer.concat(chunks)], 'the answer')
    assert.equal(header.counts.service, 3000)
  })
})
