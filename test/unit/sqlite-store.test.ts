import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync, statSync, writeFileSync, mkdirSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, describe, it} from 'node:test'

import {BackendUnavailableError, InvalidInputError} from '../../src/lib/errors.js'
import {follow} from '../../src/lib/store/follower.js'
import {defaultSqlitePath, describeRegistry, normalizeEtcdPrefix, openStore, parseRegistry} from '../../src/lib/store/open-store.js'
import {SCHEMA_VERSION, compactSqliteStore, openSqliteStore, prefixUpperBound} from '../../src/lib/store/sqlite-store.js'
import {CompactedError, type Store, type WatchEvent} from '../../src/lib/store/store.js'
import {until} from '../support/until.js'
import {storeConformanceSuite} from '../support/store-suite.js'

const dir = mkdtempSync(join(tmpdir(), 'roster-sqlite-store-'))
after(() => rmSync(dir, {recursive: true, force: true}))

const fileRegistry = `sqlite:${join(dir, 'conformance.db')}`
storeConformanceSuite('sqlite file', () => openStore({registry: fileRegistry, timeoutMs: 30_000}), {
  childStoreOptions: () => ({registry: fileRegistry, timeoutMs: 60_000}),
  compact: compactSqliteStore,
})
storeConformanceSuite('sqlite :memory:', () => openStore({registry: 'sqlite::memory:', timeoutMs: 5000}), {
  opensShareData: false,
  compact: compactSqliteStore,
})

function expectRegistryError(pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof InvalidInputError, `expected InvalidInputError, got ${String(error)}`)
    assert.equal(error.field, 'registry')
    assert.equal(error.exitCode, 2)
    assert.match(error.message, pattern)
    return true
  }
}

describe('openStore: --registry forms', () => {
  it('parses sqlite paths: relative, absolute, URL form, ~, memory', () => {
    assert.deepEqual(parseRegistry('sqlite:/var/lib/r.db'), {kind: 'sqlite', path: '/var/lib/r.db', isDefault: false})
    assert.deepEqual(parseRegistry('sqlite:rel/r.db'), {kind: 'sqlite', path: join(process.cwd(), 'rel/r.db'), isDefault: false})
    assert.deepEqual(parseRegistry('sqlite:///abs/r.db'), {kind: 'sqlite', path: '/abs/r.db', isDefault: false})
    assert.equal((parseRegistry('sqlite:~/r.db') as {path: string}).path.endsWith('/r.db'), true)
    assert.deepEqual(parseRegistry('sqlite::memory:'), {kind: 'sqlite', path: ':memory:', isDefault: false})
  })

  it('empty, undefined and bare "sqlite:" mean the default file under XDG_DATA_HOME', () => {
    for (const value of [undefined, '', 'sqlite:']) {
      assert.deepEqual(parseRegistry(value), {kind: 'sqlite', path: defaultSqlitePath(), isDefault: true})
    }
    assert.equal(defaultSqlitePath({XDG_DATA_HOME: '/data'}), '/data/roster/registry.db')
    assert.match(defaultSqlitePath({}), /\/\.local\/share\/roster\/registry\.db$/)
    // A relative XDG_DATA_HOME is invalid per the XDG spec and ignored.
    assert.match(defaultSqlitePath({XDG_DATA_HOME: 'rel'}), /\/\.local\/share\/roster\/registry\.db$/)
  })

  it('parses etcd endpoints, with the default port and TLS', () => {
    assert.deepEqual(parseRegistry('etcd://h1:2379,h2:2380'), {kind: 'etcd', hosts: ['h1:2379', 'h2:2380'], tls: false})
    assert.deepEqual(parseRegistry('etcd://h1/'), {kind: 'etcd', hosts: ['h1:2379'], tls: false})
    assert.deepEqual(parseRegistry('etcds://10.0.0.1:2379'), {kind: 'etcd', hosts: ['10.0.0.1:2379'], tls: true})
    assert.deepEqual(parseRegistry('etcd://[::1]:2379', {tls: true}), {kind: 'etcd', hosts: ['[::1]:2379'], tls: true})
  })

  it('rejects unknown schemes and malformed URLs naming the field (exit 2)', async () => {
    for (const bad of [
      'postgres://db/x',
      'http://h:2379',
      'etcd:',
      'etcd://',
      'etcd://h1:2379,,h2',
      'etcd://h1:notaport',
      'etcd://h1:2379/path',
      'registry.db',
      'sqlite://host/x',
    ]) {
      await assert.rejects(openStore({registry: bad, timeoutMs: 1000}), expectRegistryError(/^registry "/), bad)
    }
    await assert.rejects(
      openStore({registry: 'consul://x', timeoutMs: 1000}),
      expectRegistryError(/registry "consul:\/\/x": expected sqlite:PATH or etcd:\/\/host:port\[,host:port\]/),
    )
  })

  it('never echoes credentials given in an etcd URL', async () => {
    await assert.rejects(openStore({registry: 'etcd://admin:s3cret@h1:2379', timeoutMs: 1000}), (error: unknown) => {
      assert.ok(error instanceof InvalidInputError)
      assert.doesNotMatch(error.message, /s3cret/)
      assert.match(error.message, /etcd-username/)
      return true
    })
    assert.doesNotMatch(describeRegistry({registry: 'etcd://admin:s3cret@h1:2379'}), /s3cret/)
  })

  it('normalizes the etcd prefix to end in "/", and refuses an empty one', () => {
    assert.equal(normalizeEtcdPrefix(undefined), '/roster/')
    assert.equal(normalizeEtcdPrefix('/team-a'), '/team-a/')
    assert.equal(normalizeEtcdPrefix('/team-a/'), '/team-a/')
    for (const bad of ['', '/', '  ']) {
      assert.throws(
        () => normalizeEtcdPrefix(bad),
        (e: unknown) => e instanceof InvalidInputError && e.field === 'etcd-prefix',
      )
    }
  })

  it('describes registries without credentials', () => {
    assert.equal(describeRegistry({registry: 'sqlite:/x/r.db'}), 'sqlite:/x/r.db')
    assert.equal(describeRegistry({registry: 'etcd://h1:2379,h2'}), 'etcd://h1:2379,h2:2379')
    assert.equal(describeRegistry({registry: 'etcd://h1:2379', etcdCa: '/ca.pem'}), 'etcds://h1:2379')
  })

  it('etcd flags that need a partner name the missing one', async () => {
    await assert.rejects(openStore({registry: 'etcd://127.0.0.1:1', etcdUsername: 'u', timeoutMs: 1000}), (e: unknown) => {
      assert.ok(e instanceof InvalidInputError)
      assert.equal(e.field, 'etcd-password')
      return true
    })
    await assert.rejects(
      openStore({registry: 'etcd://127.0.0.1:1', etcdCa: join(dir, 'missing-ca.pem'), timeoutMs: 1000}),
      (e: unknown) => {
        assert.ok(e instanceof InvalidInputError)
        assert.equal(e.field, 'etcd-ca')
        assert.match(e.message, /missing-ca\.pem": no such file$/)
        return true
      },
    )
  })
})

describe('sqlite store: files', () => {
  it('creates the default file under XDG_DATA_HOME, directory 0700, file 0600', async () => {
    const saved = process.env.XDG_DATA_HOME
    process.env.XDG_DATA_HOME = join(dir, 'xdg')
    try {
      const store = await openStore({timeoutMs: 5000})
      try {
        const path = join(dir, 'xdg', 'roster', 'registry.db')
        assert.equal(store.description, `sqlite:${path}`)
        await store.txn([], [{type: 'put', key: 'k', value: 'v'}])
        assert.equal(statSync(join(dir, 'xdg', 'roster')).mode & 0o777, 0o700)
        for (const f of [path, `${path}-wal`, `${path}-shm`]) assert.equal(statSync(f).mode & 0o777, 0o600, f)
      } finally {
        await store.close()
      }
    } finally {
      if (saved === undefined) delete process.env.XDG_DATA_HOME
      else process.env.XDG_DATA_HOME = saved
    }
  })

  it('uses WAL mode and keeps data across opens', async () => {
    const path = join(dir, 'wal.db')
    const s1 = await openStore({registry: `sqlite:${path}`, timeoutMs: 5000})
    await s1.txn([], [{type: 'put', key: 'persist', value: 'yes'}])
    await s1.close()
    const {default: Database} = await import('better-sqlite3')
    const raw = new Database(path, {readonly: true})
    assert.equal(raw.pragma('journal_mode', {simple: true}), 'wal')
    raw.close()
    const s2 = await openStore({registry: `sqlite:${path}`, timeoutMs: 5000})
    assert.equal((await s2.get('persist'))?.value, 'yes')
    await s2.close()
  })

  it('a missing directory is invalid input naming the path', async () => {
    const path = join(dir, 'no-such-dir', 'r.db')
    await assert.rejects(
      openStore({registry: `sqlite:${path}`, timeoutMs: 1000}),
      expectRegistryError(/no-such-dir\/r\.db.*directory does not exist/),
    )
    assert.equal(existsSync(join(dir, 'no-such-dir')), false)
  })

  it('a directory is invalid input naming the path', async () => {
    const path = join(dir, 'a-directory')
    mkdirSync(path)
    await assert.rejects(
      openStore({registry: `sqlite:${path}`, timeoutMs: 1000}),
      expectRegistryError(/a-directory": is a directory, not a file$/),
    )
  })

  it('a file that is not a database is invalid input naming the path, and is left untouched', async () => {
    const path = join(dir, 'garbage.db')
    const garbage = 'this is not a sqlite database, just text that is long enough to have a header '.repeat(20)
    writeFileSync(path, garbage)
    await assert.rejects(
      openStore({registry: `sqlite:${path}`, timeoutMs: 1000}),
      expectRegistryError(/garbage\.db.*not a usable SQLite database/),
    )
    assert.equal(statSync(path).size, garbage.length)
  })

  it('a SQLite database of another program is refused', async () => {
    const path = join(dir, 'other.db')
    const {default: Database} = await import('better-sqlite3')
    const raw = new Database(path)
    raw.exec('CREATE TABLE photos (id INTEGER PRIMARY KEY)')
    raw.close()
    await assert.rejects(openStore({registry: `sqlite:${path}`, timeoutMs: 1000}), expectRegistryError(/other\.db.*not a roster registry/))
  })

  it('a write blocked past the timeout is BackendUnavailableError naming the file; reads go on', async () => {
    const path = join(dir, 'busy.db')
    const store = await openStore({registry: `sqlite:${path}`, timeoutMs: 1200})
    await store.txn([], [{type: 'put', key: 'k', value: 'v1'}])
    const holder = await holdWriteLock(path, 4000)
    try {
      const started = Date.now()
      await assert.rejects(store.txn([], [{type: 'put', key: 'k', value: 'v2'}]), (error: unknown) => {
        assert.ok(error instanceof BackendUnavailableError, String(error))
        assert.equal(error.exitCode, 3)
        assert.match(error.message, new RegExp(`sqlite:${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}" is busy`))
        return true
      })
      const elapsed = Date.now() - started
      assert.ok(elapsed >= 1000 && elapsed < 3500, `gave up after ${elapsed}ms`)
      // WAL: a reader is not blocked by the writer.
      assert.equal((await store.get('k'))?.value, 'v1')
    } finally {
      await holder.done
      await store.close()
    }
  })

  it('a write waits for a lock released within the timeout, then succeeds', async () => {
    const path = join(dir, 'wait.db')
    const store = await openStore({registry: `sqlite:${path}`, timeoutMs: 10_000})
    await store.txn([], [{type: 'put', key: 'k', value: 'v1'}])
    const holder = await holdWriteLock(path, 800)
    try {
      const result = await store.txn([], [{type: 'put', key: 'k', value: 'v2'}])
      assert.equal(result.succeeded, true)
      assert.equal((await store.get('k'))?.value, 'v2')
    } finally {
      await holder.done
      await store.close()
    }
  })
})

/** A registry file as roster wrote it before tombstones: schema 1, `revision` writes. */
async function schemaOneFile(path: string, writes: number): Promise<void> {
  const {default: Database} = await import('better-sqlite3')
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.exec(`
    CREATE TABLE kv (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL, create_revision INTEGER NOT NULL,
      mod_revision INTEGER NOT NULL, version INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE meta (name TEXT NOT NULL PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO meta (name, value) VALUES ('revision', 0);`)
  db.pragma('user_version = 1')
  for (let i = 1; i <= writes; i++) schemaOneWrite(db, `k${i}`, i)
  db.close()
}

/** A write of roster before tombstones (schema 1): no tombstone, the revision raised. */
function schemaOneWrite(db: import('better-sqlite3').Database, key: string, revision: number): void {
  db.prepare('INSERT OR REPLACE INTO kv VALUES (?, ?, ?, ?, 1)').run(key, 'v', revision, revision)
  db.prepare("UPDATE meta SET value = ? WHERE name = 'revision'").run(revision)
}

async function rawCount(path: string, sql: string): Promise<number> {
  const {default: Database} = await import('better-sqlite3')
  const db = new Database(path, {readonly: true})
  try {
    return db.prepare(sql).pluck().get() as number
  } finally {
    db.close()
  }
}

async function endingOf(store: Store, fromRevision: number): Promise<Error | undefined> {
  const watch = await store.watch('', fromRevision, () => undefined)
  const ended = await Promise.race([watch.ended, watch.sync().then(() => 'running' as const)])
  await watch.close()
  return ended === 'running' ? undefined : ended
}

describe('sqlite store: watch, tombstones, schema', () => {
  it('a file of schema 1 is upgraded on open: watches start at its revision, and deletions are kept from then on', async () => {
    const path = join(dir, 'schema-one.db')
    await schemaOneFile(path, 3)
    const store = await openStore({registry: `sqlite:${path}`, timeoutMs: 5000})
    try {
      assert.equal(await rawCount(path, 'PRAGMA user_version'), SCHEMA_VERSION)
      // Deletions before the upgrade are unknown: a watch from before revision 3 cannot replay.
      const early = await store.watch('', 1, () => undefined)
      assert.ok((await early.ended) instanceof CompactedError)
      const events: WatchEvent[] = []
      const watch = await store.watch('', 3, (e) => events.push(e))
      const deleted = (await store.txn([], [{type: 'delete', key: 'k2'}])).revision
      await watch.sync()
      assert.deepEqual(events, [{type: 'delete', key: 'k2', modRevision: deleted}])
      await watch.close()
    } finally {
      await store.close()
    }
  })

  it('read-only on a file of schema 1 (nothing upgrades it), every change makes the follower list again', async () => {
    const path = join(dir, 'schema-one-readonly.db')
    await schemaOneFile(path, 2)
    const store = await openStore({registry: `sqlite:${path}`, timeoutMs: 5000, readOnly: true})
    const snapshots: string[][] = []
    const errors: unknown[] = []
    const follower = await follow(store, '', {
      onSnapshot: (kvs) => snapshots.push(kvs.map((kv) => kv.key)),
      onEvent: () => assert.fail('no event: schema 1 keeps no history'),
      onError: (error) => errors.push(error),
    })
    const {default: Database} = await import('better-sqlite3')
    const writer = new Database(path)
    try {
      schemaOneWrite(writer, 'k3', 3)
      await until('the relist', () => snapshots.length === 2)
      assert.deepEqual(snapshots, [
        ['k1', 'k2'],
        ['k1', 'k2', 'k3'],
      ])
      assert.ok(errors[0] instanceof CompactedError, String(errors[0]))
    } finally {
      writer.close()
      await follower.close()
      await store.close()
    }
  })

  it('keeps a bounded number of tombstones: past it, the oldest go and a watch from before them is compacted', async () => {
    const path = join(dir, 'tombstones.db')
    const store = await openSqliteStore({path, timeoutMs: 5000, keepTombstones: 10})
    try {
      const first = (
        await store.txn(
          [],
          Array.from({length: 40}, (_, i) => ({type: 'put' as const, key: `k${i}`, value: 'v'})),
        )
      ).revision
      let last = first
      for (let i = 0; i < 40; i++) last = (await store.txn([], [{type: 'delete', key: `k${i}`}])).revision
      const kept = await rawCount(path, 'SELECT count(*) FROM tombstone')
      assert.ok(kept >= 10 && kept <= 11, `${kept} tombstones kept`)
      assert.equal(await rawCount(path, "SELECT value FROM meta WHERE name = 'tombstones'"), kept)
      assert.ok((await endingOf(store, first)) instanceof CompactedError, 'the oldest deletions are gone')
      assert.equal(await endingOf(store, last - 5), undefined, 'the newest are kept')
    } finally {
      await store.close()
    }
  })

  it('compact() refuses a revision after the current one', async () => {
    const store = await openStore({registry: 'sqlite::memory:', timeoutMs: 5000})
    try {
      const revision = (await store.txn([], [{type: 'put', key: 'k', value: 'v'}])).revision
      await assert.rejects(compactSqliteStore(store, revision + 1), /after the current/)
      await compactSqliteStore(store, revision)
    } finally {
      await store.close()
    }
  })
})

describe('prefixUpperBound', () => {
  it('is the least string above every string with the prefix', () => {
    assert.equal(prefixUpperBound('a/'), 'a0')
    assert.equal(prefixUpperBound('a'), 'b')
    assert.equal(prefixUpperBound(''), undefined)
    assert.equal(prefixUpperBound('x\u{10FFFF}'), 'y')
    assert.equal(prefixUpperBound('\uD7FF'), '\uE000')
  })
})

/** A separate process that holds SQLite's write lock (BEGIN IMMEDIATE) on `path` for `ms`. */
async function holdWriteLock(path: string, ms: number): Promise<{done: Promise<void>}> {
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import Database from 'better-sqlite3'
const db = new Database(${JSON.stringify(path)})
db.exec('BEGIN IMMEDIATE')
db.prepare("UPDATE meta SET value = value WHERE name = 'revision'").run()
process.stdout.write('locked\\n')
setTimeout(() => { db.exec('COMMIT'); db.close() }, ${ms})`,
    ],
    {cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit']},
  )
  const done = new Promise<void>((resolve) => child.on('close', () => resolve()))
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('locked') && resolve())
    child.on('close', (code) => reject(new Error(`lock holder exited early (${code})`)))
  })
  return {done}
}
