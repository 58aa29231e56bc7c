/**
 * The conformance suite every Store backend passes (test/unit/sqlite-store.test.ts,
 * test/integration/etcd-store.test.ts). Each case works under its own key prefix, so one store
 * serves the whole suite and cases never see each other's keys. The watch cases wait for the
 * events they expect (never for a time) and assert what a consumer can rely on on both
 * backends: the events after a revision, in order, that applied to the state at that revision
 * give the state now (SQLite may coalesce the puts to one key between two polls; etcd does not).
 */
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {existsSync} from 'node:fs'
import {randomUUID} from 'node:crypto'
import {dirname, resolve} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {fileURLToPath, pathToFileURL} from 'node:url'

import {BackendUnavailableError, InvalidInputError} from '../../src/lib/errors.js'
import type {StoreOptions} from '../../src/lib/store/open-store.js'
import {
  CompactedError,
  MAX_TXN_BYTES,
  MAX_TXN_OPS,
  rangeAll,
  storeRevision,
  type KeyValue,
  type RangeOptions,
  type RangePage,
  type Snapshot,
  type Store,
  type Watch,
  type WatchEvent,
} from '../../src/lib/store/store.js'
import {until} from './until.js'

const here = dirname(fileURLToPath(import.meta.url))
const repoRoot = resolve(here, '..', '..')
// The module beside this one's source: TypeScript in the source tree (run through tsx), JavaScript
// in npm test's compiled copy (.test-build, scripts/build-tests.mjs).
const openStoreSource = resolve(repoRoot, 'src/lib/store/open-store.ts')
const openStoreModule = existsSync(openStoreSource) ? openStoreSource : openStoreSource.replace(/\.ts$/, '.js')
export const openStoreModuleUrl = pathToFileURL(openStoreModule).href
// tsx's loader only where the module is TypeScript: loading it is most of a child's start-up, and
// the conformance suite starts a dozen children.
const childExecArgv = openStoreModule.endsWith('.ts') ? ['--import', 'tsx'] : []

export interface StoreSuiteOptions {
  /** Runs after the suite's stores are closed. */
  cleanup?: () => Promise<void>
  /**
   * The StoreOptions with which a child process reaches the same store. Enables the cases that
   * run in separate processes (concurrent compare-and-swap, prompt exit after close).
   */
  childStoreOptions?: () => StoreOptions
  /** False when every open() makes a new, empty store (sqlite::memory:). Default true. */
  opensShareData?: boolean
  /** Compacts the store's history before `revision` (etcd's Compact), for the compaction cases. */
  compact: (store: Store, revision: number) => Promise<void>
}

export interface ChildResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  elapsedMs: number
  /** From the child's `store.close()` returning to its exit; undefined if it never closed. */
  exitAfterCloseMs?: number
}

const CLOSED_MARKER = '<<roster-test: store closed>>\n'

/**
 * Runs `body` (ESM source; `store` is open, `args` is the parsed ARGS env) in a child Node.js
 * process (with tsx's loader when running from source), then closes the store. Resolves when
 * the child exits.
 */
export function runStoreChild(storeOptions: StoreOptions, body: string, args: unknown = null, timeoutMs = 60_000): Promise<ChildResult> {
  const source = `
const {openStore} = await import(${JSON.stringify(openStoreModuleUrl)})
const args = JSON.parse(process.env.ROSTER_TEST_ARGS)
const store = await openStore(JSON.parse(process.env.ROSTER_TEST_STORE))
try {
${body}
} finally {
  await store.close()
  process.stderr.write(${JSON.stringify(CLOSED_MARKER)})
}
`
  const started = Date.now()
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [...childExecArgv, '--input-type=module', '-e', source], {
      cwd: repoRoot,
      env: {...process.env, ROSTER_TEST_STORE: JSON.stringify(storeOptions), ROSTER_TEST_ARGS: JSON.stringify(args)},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    let closedAt: number | undefined
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
      if (closedAt === undefined && stderr.includes(CLOSED_MARKER)) {
        closedAt = Date.now()
        stderr = stderr.replace(CLOSED_MARKER, '')
      }
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const now = Date.now()
      resolvePromise({
        code,
        signal,
        stdout,
        stderr,
        elapsedMs: now - started,
        exitAfterCloseMs: closedAt === undefined ? undefined : now - closedAt,
      })
    })
  })
}

async function put(store: Store, key: string, value: string): Promise<number> {
  const result = await store.txn([], [{type: 'put', key, value}])
  assert.equal(result.succeeded, true)
  return result.revision
}

async function collect(store: Store, prefix: string, pageSize?: number, options: RangeOptions = {}): Promise<RangePage[]> {
  const pages: RangePage[] = []
  for await (const page of store.range(prefix, {...options, pageSize})) pages.push(page)
  return pages
}

/** Increments the integer at `key` `times` times, compare-and-swap with re-read on conflict. */
async function increment(store: Store, key: string, times: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    for (;;) {
      const kv = await store.get(key)
      const next = String(Number(kv?.value ?? '0') + 1)
      const result = await store.txn([{key, modRevision: kv?.modRevision ?? 0}], [{type: 'put', key, value: next}])
      if (result.succeeded) break
    }
  }
}

const INCREMENT_BODY = `
// No process starts incrementing before all are ready (each has put its key under args.ready):
// started one after another, they would otherwise barely overlap.
const ready = async () => {
  let count = 0
  for await (const page of store.range(args.ready)) count += page.kvs.length
  return count
}
await store.txn([], [{type: 'put', key: args.ready + process.pid, value: ''}])
while ((await ready()) < args.processes) await new Promise((resolve) => setTimeout(resolve, 20))
for (let i = 0; i < args.times; i++) {
  for (;;) {
    const kv = await store.get(args.key)
    const next = String(Number(kv?.value ?? '0') + 1)
    const result = await store.txn([{key: args.key, modRevision: kv?.modRevision ?? 0}], [{type: 'put', key: args.key, value: next}])
    if (result.succeeded) break
  }
}
`

/** A watch under test: its events as they come, and a wait for a count of them. */
interface Watched {
  watch: Watch
  events: WatchEvent[]
  /** Resolves once `count` events came; fails (after a generous bound) if they never do. */
  until(count: number): Promise<void>
}

async function watched(store: Store, prefix: string, fromRevision: number): Promise<Watched> {
  const events: WatchEvent[] = []
  const watch = await store.watch(prefix, fromRevision, (event) => events.push(event))
  return {
    watch,
    events,
    until: async (count) => {
      await until(`${count} watch events under ${prefix}`, () => events.length >= count)
    },
  }
}

/** The state the events give, applied to `start` (key → value). */
function applyEvents(start: Map<string, string>, events: WatchEvent[]): Map<string, string> {
  const state = new Map(start)
  for (const event of events) {
    if (event.type === 'put') state.set(event.kv.key, event.kv.value)
    else state.delete(event.key)
  }
  return state
}

async function stateOf(store: Store, prefix: string): Promise<Map<string, string>> {
  return new Map((await rangeAll(store, prefix)).map((kv) => [kv.key, kv.value]))
}

function revisionOf(event: WatchEvent): number {
  return event.type === 'put' ? event.kv.modRevision : event.modRevision
}

const WATCH_CHILD_BODY = `
await store.txn([], [{type: 'put', key: args.prefix + 'from-child', value: String(process.pid)}])
await store.txn([], [{type: 'delete', key: args.prefix + 'doomed'}])
`

export function storeConformanceSuite(name: string, open: () => Promise<Store>, options: StoreSuiteOptions): void {
  describe(`Store conformance: ${name}`, () => {
    let store: Store
    const run = randomUUID().slice(0, 8)
    let caseNumber = 0
    /** A fresh prefix for one case: "conf-<run>/<n>/". */
    const fresh = (): string => `conf-${run}/${++caseNumber}/`

    before(async () => {
      store = await open()
    })
    after(async () => {
      await store?.close()
      await options.cleanup?.()
    })

    it('has a description without credentials', () => {
      assert.match(store.description, /^(sqlite:|etcds?:\/\/)/)
      assert.doesNotMatch(store.description, /@|password/i)
    })

    it('get of an absent key is undefined', async () => {
      assert.equal(await store.get(`${fresh()}absent`), undefined)
    })

    it('put then get returns the value with its revisions', async () => {
      const key = `${fresh()}k`
      const revision = await put(store, key, 'hello ✓ wörld')
      assert.deepEqual(await store.get(key), {key, value: 'hello ✓ wörld', createRevision: revision, modRevision: revision, version: 1})
    })

    it('keeps empty and large values intact', async () => {
      const p = fresh()
      const large = 'x'.repeat(300_000) + 'é'
      await store.txn(
        [],
        [
          {type: 'put', key: `${p}empty`, value: ''},
          {type: 'put', key: `${p}large`, value: large},
        ],
      )
      assert.equal((await store.get(`${p}empty`))?.value, '')
      assert.equal((await store.get(`${p}large`))?.value, large)
    })

    it('revisions increase with every write, and all keys of one txn share it', async () => {
      const p = fresh()
      const r1 = await put(store, `${p}a`, '1')
      const r2 = await put(store, `${p}b`, '1')
      assert.ok(r2 > r1, `${r2} > ${r1}`)
      const both = await store.txn(
        [],
        [
          {type: 'put', key: `${p}c`, value: '1'},
          {type: 'put', key: `${p}d`, value: '1'},
        ],
      )
      assert.ok(both.revision > r2)
      assert.equal((await store.get(`${p}c`))?.modRevision, both.revision)
      assert.equal((await store.get(`${p}d`))?.modRevision, both.revision)
    })

    it('version counts writes since creation; createRevision stays', async () => {
      const key = `${fresh()}k`
      const r1 = await put(store, key, '1')
      await put(store, key, '2')
      const r3 = await put(store, key, '3')
      assert.deepEqual(await store.get(key), {key, value: '3', createRevision: r1, modRevision: r3, version: 3})
    })

    it('compare on mod revision: succeeds when equal', async () => {
      const key = `${fresh()}k`
      const r1 = await put(store, key, 'v1')
      const result = await store.txn([{key, modRevision: r1}], [{type: 'put', key, value: 'v2'}])
      assert.equal(result.succeeded, true)
      assert.equal((await store.get(key))?.value, 'v2')
      assert.equal((await store.get(key))?.modRevision, result.revision)
    })

    it('compare on mod revision: fails when stale, and applies nothing', async () => {
      const p = fresh()
      const key = `${p}k`
      const r1 = await put(store, key, 'v1')
      await put(store, `${p}gone`, 'still here')
      const r2 = await put(store, key, 'v2')
      const result = await store.txn(
        [{key, modRevision: r1}],
        [
          {type: 'put', key, value: 'v3'},
          {type: 'put', key: `${p}other`, value: 'x'},
          {type: 'delete', key: `${p}gone`},
        ],
      )
      assert.equal(result.succeeded, false)
      assert.ok(result.revision >= r2)
      assert.equal((await store.get(key))?.value, 'v2')
      assert.equal(await store.get(`${p}other`), undefined)
      assert.equal((await store.get(`${p}gone`))?.value, 'still here')
    })

    it('one failing compare among several fails the whole txn', async () => {
      const p = fresh()
      const ra = await put(store, `${p}a`, '1')
      const rb = await put(store, `${p}b`, '1')
      const result = await store.txn(
        [
          {key: `${p}a`, modRevision: ra},
          {key: `${p}b`, modRevision: rb + 1000},
        ],
        [{type: 'put', key: `${p}a`, value: '2'}],
      )
      assert.equal(result.succeeded, false)
      assert.equal((await store.get(`${p}a`))?.value, '1')
    })

    it('a failed txn does not change the store revision', async () => {
      const p = fresh()
      const r1 = await put(store, `${p}a`, '1')
      const failed = await store.txn([{key: `${p}a`, modRevision: 0}], [{type: 'put', key: `${p}a`, value: '2'}])
      assert.equal(failed.succeeded, false)
      const r2 = await put(store, `${p}b`, '1')
      // No other writer in this store touches the revision between these calls on SQLite; on a
      // shared etcd another suite may, so only the order is asserted.
      assert.ok(failed.revision >= r1 && r2 > failed.revision)
    })

    it('create-if-absent: modRevision 0 succeeds once, then fails', async () => {
      const key = `${fresh()}k`
      const first = await store.txn([{key, modRevision: 0}], [{type: 'put', key, value: 'first'}])
      const second = await store.txn([{key, modRevision: 0}], [{type: 'put', key, value: 'second'}])
      assert.equal(first.succeeded, true)
      assert.equal(second.succeeded, false)
      assert.equal((await store.get(key))?.value, 'first')
    })

    it('delete removes the key; re-creating starts version at 1', async () => {
      const key = `${fresh()}k`
      await put(store, key, '1')
      await put(store, key, '2')
      const del = await store.txn([], [{type: 'delete', key}])
      assert.equal(del.succeeded, true)
      assert.equal(await store.get(key), undefined)
      const absent = await store.txn([{key, modRevision: 0}], [{type: 'put', key, value: 'again'}])
      assert.equal(absent.succeeded, true)
      assert.deepEqual(await store.get(key), {
        key,
        value: 'again',
        createRevision: absent.revision,
        modRevision: absent.revision,
        version: 1,
      })
    })

    it('deleting an absent key succeeds and changes nothing', async () => {
      const p = fresh()
      const result = await store.txn([], [{type: 'delete', key: `${p}absent`}])
      assert.equal(result.succeeded, true)
      assert.equal(await store.get(`${p}absent`), undefined)
    })

    it('delete guarded by mod revision', async () => {
      const key = `${fresh()}k`
      const r1 = await put(store, key, '1')
      await put(store, key, '2')
      assert.equal((await store.txn([{key, modRevision: r1}], [{type: 'delete', key}])).succeeded, false)
      assert.notEqual(await store.get(key), undefined)
    })

    it('getMany reads each key as get does, index-aligned, absent ones undefined, past one transaction of keys', async () => {
      const p = fresh()
      const present = Array.from({length: 300}, (_, i) => `${p}k${String(i).padStart(3, '0')}`)
      for (let i = 0; i < present.length; i += MAX_TXN_OPS) {
        await store.txn(
          [],
          present.slice(i, i + MAX_TXN_OPS).map((key) => ({type: 'put' as const, key, value: `v-${key}`})),
        )
      }
      await put(store, present[7]!, 'again')
      // Present and absent keys interleaved, in no order, one of them twice.
      const keys = present.flatMap((key, i) => (i % 3 === 0 ? [`${p}absent-${i}`, key] : [key])).reverse()
      keys.push(present[5]!)
      const got = await store.getMany(keys)
      assert.equal(got.length, keys.length)
      const each = await Promise.all(keys.map((key) => store.get(key)))
      assert.deepEqual(got, each)
      assert.equal(got.filter((kv) => kv === undefined).length, 100)
      assert.equal(got.find((kv) => kv?.key === present[7])?.value, 'again')
      assert.deepEqual(await store.getMany([]), [])
    })

    it('range pages over many keys: every key exactly once, in order, pages at one revision', async () => {
      const p = fresh()
      const keys: string[] = []
      for (let i = 0; i < 1000; i++) keys.push(`${p}${String(i).padStart(4, '0')}`)
      for (let i = 0; i < keys.length; i += MAX_TXN_OPS) {
        await store.txn(
          [],
          keys.slice(i, i + MAX_TXN_OPS).map((key) => ({type: 'put' as const, key, value: `v-${key}`})),
        )
      }
      const pages = await collect(store, p, 7)
      const seen = pages.flatMap((page) => page.kvs.map((kv) => kv.key))
      assert.deepEqual(seen, keys)
      assert.ok(pages.length >= Math.ceil(1000 / 7), `${pages.length} pages`)
      for (const page of pages) assert.ok(page.kvs.length <= 7)
      assert.equal(new Set(pages.map((page) => page.revision)).size, 1)
      assert.equal(
        pages.flatMap((page) => page.kvs).every((kv) => kv.value === `v-${kv.key}`),
        true,
      )
      // The default page size returns the same.
      assert.deepEqual(
        (await rangeAll(store, p)).map((kv) => kv.key),
        keys,
      )
    })

    it('range pages over clusters, gaps and long keys: every key exactly once, in byte order', async () => {
      const p = fresh()
      const long = 'n'.repeat(120)
      const keys = [
        ...Array.from({length: 300}, (_, i) => `${p}a/${i}`),
        ...Array.from({length: 200}, (_, i) => `${p}m/${'x'.repeat(i % 5)}/${i}`),
        ...Array.from({length: 100}, (_, i) => `${p}q/${long}/${i}`),
        ...Array.from({length: 20}, (_, i) => `${p}z/${String.fromCharCode(0x21 + i * 4)}`),
      ]
      for (let i = 0; i < keys.length; i += MAX_TXN_OPS) {
        await store.txn(
          [],
          keys.slice(i, i + MAX_TXN_OPS).map((key) => ({type: 'put' as const, key, value: 'v'})),
        )
      }
      const expected = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
      for (const pageSize of [1, 7, 64]) {
        const seen = (await collect(store, p, pageSize)).flatMap((page) => page.kvs.map((kv) => kv.key))
        assert.deepEqual(seen, expected, `pages of ${pageSize}`)
      }
    })

    it('range isolates the prefix: "a/" returns neither "a" nor "ab"', async () => {
      const p = fresh()
      for (const k of ['a', 'a/', 'a/x', 'a/y/z', 'ab', 'a.', 'a0', '`', 'b']) await put(store, `${p}${k}`, k)
      const got = (await rangeAll(store, `${p}a/`)).map((kv) => kv.key.slice(p.length))
      assert.deepEqual(got, ['a/', 'a/x', 'a/y/z'])
      const all = (await rangeAll(store, p)).map((kv) => kv.key.slice(p.length))
      assert.deepEqual(all, ['`', 'a', 'a.', 'a/', 'a/x', 'a/y/z', 'a0', 'ab', 'b'])
    })

    it('range orders keys by UTF-8 bytes and bounds non-ASCII prefixes', async () => {
      const p = fresh()
      const names = ['z', 'é', 'é/1', 'éa', 'ê', '\u{1F600}', '\uFFFD', 'Z', '~', '\u007f']
      for (const n of names) await put(store, `${p}${n}`, n)
      const expected = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
      assert.deepEqual(
        (await collect(store, p, 3)).flatMap((pg) => pg.kvs.map((kv) => kv.key.slice(p.length))),
        expected,
      )
      assert.deepEqual(
        (await rangeAll(store, `${p}é`)).map((kv) => kv.key.slice(p.length)),
        ['é', 'é/1', 'éa'],
      )
    })

    it('range within start and end, and around a skipped sub-prefix, in pages at one revision', async () => {
      const p = fresh()
      const names = ['a', 'b/1', 'b/2', 'b0', 'c', 'd/1', 'd/2', 'e']
      await store.txn(
        [],
        names.map((n) => ({type: 'put' as const, key: `${p}${n}`, value: n})),
      )
      const keys = async (options: {start?: string; end?: string; skip?: string}, pageSize = 2): Promise<string[]> => {
        const pages = await collect(store, p, pageSize, options)
        assert.equal(new Set(pages.map((page) => page.revision)).size, 1)
        assert.ok(pages.length >= 1)
        return pages.flatMap((page) => page.kvs.map((kv) => kv.key.slice(p.length)))
      }
      assert.deepEqual(await keys({start: `${p}b0`}), ['b0', 'c', 'd/1', 'd/2', 'e'])
      assert.deepEqual(await keys({end: `${p}c`}), ['a', 'b/1', 'b/2', 'b0'])
      assert.deepEqual(await keys({start: `${p}b/2`, end: `${p}d/2`}), ['b/2', 'b0', 'c', 'd/1'])
      assert.deepEqual(await keys({skip: `${p}b/`}), ['a', 'b0', 'c', 'd/1', 'd/2', 'e'])
      assert.deepEqual(await keys({skip: `${p}d/`, start: `${p}b0`}, 1), ['b0', 'c', 'e'])
      assert.deepEqual(await keys({skip: `${p}b`, end: `${p}e`}), ['a', 'c', 'd/1', 'd/2'])
      // Bounds outside the prefix change nothing; an empty span still gives one page.
      assert.deepEqual(await keys({start: 'conf-', end: `${p}zzz`}), names)
      assert.deepEqual(await keys({start: `${p}x`}), [])
      assert.deepEqual(await keys({end: `${p}a`}), [])
      assert.deepEqual(await keys({skip: p}), [])
    })

    it('range of an empty prefix-space returns no keys, in one page that carries the revision', async () => {
      const written = await put(store, `${fresh()}elsewhere`, 'x')
      const pages = await collect(store, fresh())
      assert.equal(pages.length, 1)
      assert.deepEqual(pages[0]!.kvs, [])
      assert.ok(pages[0]!.revision >= written, `${pages[0]!.revision} >= ${written}`)
      assert.ok((await storeRevision(store)) >= written)
    })

    it("range reads every page at the first page's revision, while writes go on", async () => {
      const p = fresh()
      const keys = Array.from({length: 50}, (_, i) => `${p}${String(i).padStart(2, '0')}`)
      await store.txn(
        [],
        keys.map((key) => ({type: 'put' as const, key, value: 'old'})),
      )
      const seen: KeyValue[] = []
      const revisions = new Set<number>()
      let writes = 0
      for await (const page of store.range(p, {pageSize: 10})) {
        seen.push(...page.kvs)
        revisions.add(page.revision)
        // Change a key not yet read, add one, delete one: none of it may show in this range.
        await store.txn(
          [],
          [
            {type: 'put', key: `${p}${String(45 - writes).padStart(2, '0')}`, value: 'new'},
            {type: 'put', key: `${p}${String(writes).padStart(2, '0')}x`, value: 'added'},
            {type: 'delete', key: `${p}49`},
          ],
        )
        writes++
      }
      assert.equal(revisions.size, 1)
      assert.deepEqual(
        seen.map((kv) => kv.key),
        keys,
      )
      assert.ok(seen.every((kv) => kv.value === 'old'))
      assert.ok(seen.every((kv) => kv.modRevision <= [...revisions][0]!))
      // And afterwards the writes are there.
      assert.equal((await store.get(`${p}45`))?.value, 'new')
      assert.equal(await store.get(`${p}49`), undefined)
    })

    it('a range abandoned part-way releases its snapshot, and later writes and ranges work', async () => {
      const p = fresh()
      await store.txn(
        [],
        Array.from({length: 30}, (_, i) => ({type: 'put' as const, key: `${p}${i}`, value: 'x'})),
      )
      for (let round = 0; round < 3; round++) {
        for await (const page of store.range(p, {pageSize: 5})) {
          assert.equal(page.kvs.length, 5)
          break
        }
      }
      await put(store, `${p}after`, 'y')
      assert.equal((await rangeAll(store, p)).length, 31)
    })

    it('a snapshot reads every prefix and count at one revision, as often as asked, while writes go on', async () => {
      const p = fresh()
      const put = (key: string, value: string) => ({type: 'put' as const, key: `${p}${key}`, value})
      await store.txn([], [...Array.from({length: 12}, (_, i) => put(`a/${String(i).padStart(2, '0')}`, 'old')), put('b/1', 'old')])
      const snapshot = await store.snapshot()
      try {
        // Changes to both prefixes after the snapshot: none may show in it.
        const written = await store.txn([], [put('a/00', 'new'), put('a/99', 'added'), {type: 'delete', key: `${p}b/1`}])
        assert.ok(written.revision > snapshot.revision)
        for (let pass = 0; pass < 2; pass++) {
          const pages: RangePage[] = []
          for await (const page of snapshot.range(`${p}a/`, {pageSize: 5})) pages.push(page)
          assert.deepEqual(
            pages.map((page) => page.kvs.length),
            [5, 5, 2],
          )
          assert.ok(pages.every((page) => page.revision === snapshot.revision))
          assert.ok(pages.flatMap((page) => page.kvs).every((kv) => kv.value === 'old'))
          assert.equal(await snapshot.count(`${p}a/`), 12)
          assert.equal(await snapshot.count(`${p}b/`), 1)
          assert.equal(await snapshot.count(`${p}none/`), 0)
        }
        // The store itself reads the writes.
        assert.equal((await rangeAll(store, `${p}a/`)).length, 13)
        const later = await store.snapshot(written.revision)
        assert.equal(await later.count(`${p}b/`), 0)
        await later.close()
      } finally {
        await snapshot.close()
      }
      await assert.rejects(async () => {
        for await (const page of snapshot.range(`${p}a/`)) void page
      }, /closed/)
      await snapshot.close()
    })

    it('a snapshot at a past revision: etcd reads it until compacted; SQLite keeps no history (CompactedError)', async () => {
      const p = fresh()
      const first = await put(store, `${p}k`, 'one')
      await put(store, `${p}k`, 'two')
      if (store.description.startsWith('sqlite')) {
        await assert.rejects(store.snapshot(first), CompactedError)
      } else {
        const past = await store.snapshot(first)
        try {
          assert.equal(past.revision, first)
          const values: string[] = []
          for await (const page of past.range(p)) values.push(...page.kvs.map((kv) => kv.value))
          assert.deepEqual(values, ['one'])
        } finally {
          await past.close()
        }
      }
      await assert.rejects(store.snapshot((await storeRevision(store)) + 1000), InvalidInputError)
    })

    it(`txn with ${MAX_TXN_OPS} operations succeeds; ${MAX_TXN_OPS + 1} is rejected and applies nothing`, async () => {
      const p = fresh()
      const ops = (n: number, tag: string) => Array.from({length: n}, (_, i) => ({type: 'put' as const, key: `${p}${tag}${i}`, value: 'v'}))
      assert.equal((await store.txn([], ops(MAX_TXN_OPS, 'ok'))).succeeded, true)
      assert.equal((await rangeAll(store, `${p}ok`)).length, MAX_TXN_OPS)
      await assert.rejects(store.txn([], ops(MAX_TXN_OPS + 1, 'big')), (error: unknown) => {
        assert.ok(error instanceof InvalidInputError, String(error))
        assert.match(error.message, /129 operations.*at most 128/)
        return true
      })
      assert.deepEqual(await rangeAll(store, `${p}big`), [])
    })

    it('txn over the byte limit is rejected with a clear error', async () => {
      const p = fresh()
      const value = 'v'.repeat(400_000)
      const ops = Array.from({length: 4}, (_, i) => ({type: 'put' as const, key: `${p}${i}`, value}))
      await assert.rejects(store.txn([], ops), (error: unknown) => {
        assert.ok(error instanceof InvalidInputError, String(error))
        assert.match(error.message, new RegExp(`exceeds the ${MAX_TXN_BYTES}-byte limit`))
        return true
      })
      assert.deepEqual(await rangeAll(store, p), [])
    })

    it('txn writing one key twice is rejected', async () => {
      const key = `${fresh()}k`
      await assert.rejects(
        store.txn(
          [],
          [
            {type: 'put', key, value: '1'},
            {type: 'delete', key},
          ],
        ),
        InvalidInputError,
      )
      assert.equal(await store.get(key), undefined)
    })

    it('concurrent compare-and-swap increments from several clients lose no update', async () => {
      const key = `${fresh()}counter`
      // Separate clients where each open() reaches the same data; else four callers of one client.
      const separate = options.opensShareData !== false
      const clients = separate ? await Promise.all(Array.from({length: 4}, () => open())) : [store, store, store, store]
      try {
        await Promise.all(clients.map((client) => increment(client, key, 25)))
      } finally {
        if (separate) await Promise.all(clients.map((client) => client.close()))
      }
      assert.equal((await store.get(key))?.value, '100')
      assert.equal((await store.get(key))?.version, 100)
    })

    it('watch: puts, updates and deletes under the prefix after the revision, in order; nothing else', async () => {
      const p = fresh()
      const start = await put(store, `${p}before`, 'not an event')
      const w = await watched(store, p, start)
      try {
        const created = await put(store, `${p}a`, '1')
        await w.until(1)
        await put(store, `other-${p}x`, 'outside the prefix')
        const updated = await put(store, `${p}a`, '2')
        await w.until(2)
        const deleted = (await store.txn([], [{type: 'delete', key: `${p}a`}])).revision
        await w.until(3)
        assert.deepEqual(w.events, [
          {type: 'put', kv: {key: `${p}a`, value: '1', createRevision: created, modRevision: created, version: 1}},
          {type: 'put', kv: {key: `${p}a`, value: '2', createRevision: created, modRevision: updated, version: 2}},
          {type: 'delete', key: `${p}a`, modRevision: deleted},
        ])
        assert.ok(w.watch.progress().revision >= deleted)
      } finally {
        await w.watch.close()
      }
    })

    it('watch: a burst of writes, applied in order, gives the state now', async () => {
      const p = fresh()
      const start = await put(store, `${p}k0`, 'v0')
      const before = await stateOf(store, p)
      const w = await watched(store, p, start)
      try {
        let last = start
        for (let i = 0; i < 30; i++) {
          const ops = [
            {type: 'put' as const, key: `${p}k${i % 7}`, value: `v${i}`},
            ...(i % 5 === 4 ? [{type: 'delete' as const, key: `${p}k${(i + 3) % 7}`}] : []),
          ]
          last = (await store.txn([], ops)).revision
        }
        await until('the last write', () => w.events.length > 0 && revisionOf(w.events.at(-1)!) === last)
        const revisions = w.events.map(revisionOf)
        assert.deepEqual(
          revisions,
          [...revisions].sort((a, b) => a - b),
          'in revision order',
        )
        assert.deepEqual([...applyEvents(before, w.events)].sort(), [...(await stateOf(store, p))].sort())
      } finally {
        await w.watch.close()
      }
    })

    it('watch from an older revision replays what changed since, deletions included', async () => {
      const p = fresh()
      const from = await put(store, `${p}kept`, 'old')
      await put(store, `${p}doomed`, 'x')
      const atFrom = new Map([[`${p}kept`, 'old']])
      await put(store, `${p}kept`, 'new')
      const deleted = (await store.txn([], [{type: 'delete', key: `${p}doomed`}])).revision
      // All of it happened before the watch began: the delete comes from the store's history
      // (SQLite: its tombstone).
      const w = await watched(store, p, from)
      try {
        await until('the replayed delete', () => w.events.some((e) => e.type === 'delete'))
        assert.deepEqual(w.events.at(-1), {type: 'delete', key: `${p}doomed`, modRevision: deleted})
        assert.deepEqual([...applyEvents(atFrom, w.events)], [[`${p}kept`, 'new']])
      } finally {
        await w.watch.close()
      }
    })

    it('several watches on one store: each gets the events of its own prefix and revision; closing one leaves the others', async () => {
      const p = fresh()
      const start = await put(store, `${p}a/0`, '0')
      const onA = await watched(store, `${p}a/`, start)
      const onAll = await watched(store, p, start)
      const onB = await watched(store, `${p}b/`, start)
      try {
        await put(store, `${p}a/1`, '1')
        await put(store, `${p}b/1`, '1')
        await Promise.all([onA.until(1), onAll.until(2), onB.until(1)])
        await onB.watch.close()
        assert.equal(await onB.watch.ended, undefined, 'a closed watch ends without an error')
        await put(store, `${p}b/2`, '2')
        const late = await watched(store, p, start)
        const last = await put(store, `${p}a/2`, '2')
        await Promise.all([onA.until(2), onAll.until(4), late.until(4)])
        assert.deepEqual(
          onA.events.map((e) => (e.type === 'put' ? e.kv.key : e.key)),
          [`${p}a/1`, `${p}a/2`],
        )
        assert.deepEqual(
          late.events.map((e) => (e.type === 'put' ? e.kv.key : e.key)),
          onAll.events.map((e) => (e.type === 'put' ? e.kv.key : e.key)),
        )
        assert.deepEqual(onB.events.length, 1, 'no event after close()')
        assert.equal(revisionOf(onAll.events.at(-1)!), last)
        await late.watch.close()
      } finally {
        await Promise.all([onA.watch.close(), onAll.watch.close(), onB.watch.close()])
      }
    })

    it('compaction: a watch from before the compacted revision ends with CompactedError; from it, the watch works', async () => {
      const p = fresh()
      const old = await put(store, `${p}k`, '1')
      await store.txn([], [{type: 'delete', key: `${p}k`}])
      const now = await put(store, `${p}k`, '2')
      await options.compact(store, now)
      const w = await watched(store, p, old)
      const ended = await w.watch.ended
      assert.ok(ended instanceof CompactedError, `ended with ${String(ended)}`)
      assert.ok(ended instanceof BackendUnavailableError, 'retryable, exit 3')
      assert.equal(ended.exitCode, 3)
      assert.equal(ended.revision, old)
      assert.deepEqual(w.events, [], 'no event from a compacted watch')
      await w.watch.close()
      // The revision just before the compaction still works (etcd: start revision = compact revision).
      const ok = await watched(store, p, now - 1)
      try {
        await ok.until(1)
        assert.deepEqual(ok.events, [{type: 'put', kv: {key: `${p}k`, value: '2', createRevision: now, modRevision: now, version: 1}}])
        await put(store, `${p}k`, '3')
        await ok.until(2)
      } finally {
        await ok.watch.close()
      }
    })

    if (options.childStoreOptions) {
      const childOptions = options.childStoreOptions
      // One child process serves the three cases about a process of its own: it writes what a
      // watcher here waits for, reads what this process wrote, and closes with a watch open.
      // Each case asserts its own part of the run.
      const watchPrefix = fresh()
      const readKey = `${fresh()}k`
      const watchingPrefix = fresh()
      let child: Promise<ChildResult> | undefined
      const childRun = (): Promise<ChildResult> =>
        (child ??= (async () => {
          await put(store, readKey, 'from-parent')
          return runStoreChild(
            childOptions(),
            `${WATCH_CHILD_BODY}
const kv = await store.get(args.key); process.stdout.write(String(kv?.value)); await store.txn([], [{type: 'put', key: args.key + '2', value: 'from-child'}])
const events = []; await store.watch(args.watching, 0, (e) => events.push(e)); await store.txn([], [{type: 'put', key: args.watching + 'k', value: 'v'}])`,
            {prefix: watchPrefix, key: readKey, watching: watchingPrefix},
            30_000,
          )
        })())

      it('watch: the writes of another process reach a watcher in this one', async () => {
        const p = watchPrefix
        const start = await put(store, `${p}doomed`, 'x')
        const w = await watched(store, p, start)
        try {
          const result = await childRun()
          assert.equal(result.code, 0, result.stderr)
          await w.until(2)
          assert.equal(w.events[0]?.type, 'put')
          assert.equal(w.events[0]?.type === 'put' && w.events[0].kv.key, `${p}from-child`)
          assert.deepEqual(w.events[1] && {...w.events[1], modRevision: 0}, {type: 'delete', key: `${p}doomed`, modRevision: 0})
        } finally {
          await w.watch.close()
        }
      })

      it('a process with an open watch exits by itself after close()', async () => {
        const result = await childRun()
        // A watch or poller left running keeps the event loop alive: the child would be killed.
        assert.equal(result.signal, null, `killed: ${result.stderr}`)
        assert.equal(result.code, 0, result.stderr)
        assert.notEqual(result.exitAfterCloseMs, undefined)
        assert.equal((await store.get(`${watchingPrefix}k`))?.value, 'v')
      })

      it('concurrent compare-and-swap increments from separate processes lose no update', {timeout: 180_000}, async () => {
        const p = fresh()
        const key = `${p}counter`
        const ready = `${p}ready/`
        // Three processes, this one and two children, each starting once all are ready, contend on
        // the key: they overlap, so they conflict, and fewer processes with more increments each
        // cost fewer starts.
        const processes = 3
        const times = 50
        const children = Array.from({length: processes - 1}, () =>
          runStoreChild(childOptions(), INCREMENT_BODY, {key, times, processes, ready}, 150_000),
        )
        await put(store, `${ready}${process.pid}`, '')
        await until('every process ready', async () => (await rangeAll(store, ready)).length === processes, {
          timeoutMs: 120_000,
          intervalMs: 20,
        })
        await increment(store, key, times)
        const results = await Promise.all(children)
        for (const r of results) assert.equal(r.code, 0, `child failed (${r.signal ?? r.code}): ${r.stderr}`)
        assert.equal((await store.get(key))?.value, String(processes * times))
        assert.equal((await store.get(key))?.version, processes * times)
      })

      it('a process that opens the store, reads and closes it exits promptly', async () => {
        const result = await childRun()
        assert.equal(result.code, 0, result.stderr)
        assert.equal(result.stdout, 'from-parent')
        assert.equal((await store.get(`${readKey}2`))?.value, 'from-child')
        // close() must leave nothing that holds the event loop open (an open gRPC channel, a
        // watcher or a lease keeps the process alive indefinitely).
        assert.notEqual(result.exitAfterCloseMs, undefined)
        assert.ok(result.exitAfterCloseMs! < 2000, `child exited ${result.exitAfterCloseMs}ms after close()`)
      })
    }
  })
}

/**
 * A store over another whose watches a test can end, as a compaction or a broken stream would,
 * and whose next ranges can fail (a store that is down): what a follower must survive.
 */
export class BreakableStore implements Store {
  /** Ranges that fail before one succeeds again. */
  failingRanges = 0
  ranges = 0
  private readonly enders = new Set<(error: Error) => void>()

  constructor(readonly inner: Store) {}

  get description(): string {
    return this.inner.description
  }

  get(key: string): Promise<KeyValue | undefined> {
    return this.inner.get(key)
  }

  getMany(keys: readonly string[]): Promise<(KeyValue | undefined)[]> {
    return this.inner.getMany(keys)
  }

  async *range(prefix: string, options?: {pageSize?: number}): AsyncIterable<RangePage> {
    this.ranges++
    if (this.failingRanges > 0) {
      this.failingRanges--
      throw new BackendUnavailableError(`${this.description}: down for the test`)
    }
    yield* this.inner.range(prefix, options)
  }

  txn(compares: Parameters<Store['txn']>[0], success: Parameters<Store['txn']>[1]): ReturnType<Store['txn']> {
    return this.inner.txn(compares, success)
  }

  snapshot(revision?: number): Promise<Snapshot> {
    return this.inner.snapshot(revision)
  }

  async watch(prefix: string, fromRevision: number, onEvent: (event: WatchEvent) => void): Promise<Watch> {
    let ended = false
    const inner = await this.inner.watch(prefix, fromRevision, (event) => {
      if (!ended) onEvent(event)
    })
    let end!: (error: Error | undefined) => void
    const endedPromise = new Promise<Error | undefined>((resolve) => (end = resolve))
    const ender = (error: Error): void => {
      ended = true
      this.enders.delete(ender)
      void inner.close()
      end(error)
    }
    this.enders.add(ender)
    void inner.ended.then((error) => {
      this.enders.delete(ender)
      end(error)
    })
    return {
      ended: endedPromise,
      progress: () => inner.progress(),
      sync: () => inner.sync(),
      close: async () => {
        ended = true
        this.enders.delete(ender)
        await inner.close()
      },
    }
  }

  /** Ends every open watch with `error`, as the backend would. */
  endWatches(error: Error): number {
    const enders = [...this.enders]
    for (const end of enders) end(error)
    return enders.length
  }

  close(): Promise<void> {
    return this.inner.close()
  }
}
