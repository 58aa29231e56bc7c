/**
 * Backups and restores under the worst timing, on SQLite and on etcd:
 *
 * - A backup taken while twenty writers change the registry holds the registry as it was at the
 *   header's revision: restored, it equals that state, and a second backup of that state (etcd:
 *   read at that revision from etcd's history; both: the registry rebuilt from every write the
 *   writers committed up to that revision) holds the same records.
 * - A restore killed with SIGKILL at random points leaves either the registry as it was or the
 *   marker of an unfinished restore, never part of a backup without it; then restore and backup
 *   refuse the registry (exit 6), and a restore with --replace finishes it.
 */
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {setTimeout as delay, setImmediate} from 'node:timers/promises'

import {TokenAuthority} from '../../src/lib/auth/tokens.js'
import {kindOfKey} from '../../src/lib/registry/backup/records.js'
import {restoreBackup} from '../../src/lib/registry/backup/restore.js'
import {backupChunks, backupHeader, takeBackup} from '../../src/lib/registry/backup/write-backup.js'
import {RESTORE_MARKER_KEY, serverKey} from '../../src/lib/registry/keys.js'
import {Registry} from '../../src/lib/registry/registry.js'
import {openStore, type StoreOptions} from '../../src/lib/store/open-store.js'
import {type Compare, MAX_TXN_OPS, type Operation, type Store, type TxnResult} from '../../src/lib/store/store.js'
import {assertSameRecords, fillRegistry, registryRecords} from '../support/backup-fixtures.js'
import {BIN, isolatedEnv, processTempDir, runCli} from '../support/cli.js'
import {type EtcdServer, startEtcd} from '../support/etcd-server.js'

const dir = processTempDir('roster-backup-races-')
let etcd: EtcdServer
let registries = 0

/** A fresh registry on each backend: `--registry`-style arguments and StoreOptions. */
const backends: {name: string; fresh: () => {args: string[]; options: StoreOptions}}[] = [
  {
    name: 'SQLite',
    fresh: () => {
      const registry = `sqlite:${path.join(dir, `registry-${++registries}.db`)}`
      return {args: ['--registry', registry], options: {registry, timeoutMs: 60_000}}
    },
  },
  {
    name: 'etcd',
    fresh: () => {
      const prefix = `/races-${++registries}/`
      return {args: ['--registry', etcd.url, '--etcd-prefix', prefix], options: {registry: etcd.url, etcdPrefix: prefix, timeoutMs: 60_000}}
    },
  },
]

before(async () => {
  etcd = await startEtcd()
})
after(async () => {
  await etcd?.stop()
})

/** `inner`, each of whose committed writes is also recorded in `log` with its revision. */
function recordingStore(inner: Store, log: {revision: number; ops: Operation[]}[]): Store {
  const store = Object.create(inner) as Store
  store.txn = async (compares: Compare[], ops: Operation[]): Promise<TxnResult> => {
    const result = await inner.txn(compares, ops)
    if (result.succeeded && ops.length > 0) log.push({revision: result.revision, ops})
    return result
  }
  return store
}

async function text(chunks: AsyncIterable<string>): Promise<string> {
  let out = ''
  for await (const chunk of chunks) out += chunk
  return out
}

/** The record lines of a backup (neither the header, which holds its time, nor the trailer). */
const recordLines = (backup: string) => backup.trimEnd().split('\n').slice(1, -1)

for (const backend of backends) {
  describe(`${backend.name}: a backup during twenty writers`, () => {
    it('holds the registry at its header revision: restored, and against a second backup of that revision', async () => {
      const source = backend.fresh()
      const log: {revision: number; ops: Operation[]}[] = []
      const main = await openStore(source.options)
      const writers: Store[] = []
      try {
        await fillRegistry(main, 2500)
        const start = await main.snapshot()
        const initial = await registryRecords(main)
        const initialRevision = start.revision
        await start.close()
        let stop = false
        let writes = 0
        const writer = async (w: number): Promise<void> => {
          const inner = await openStore(source.options)
          writers.push(inner)
          const store = recordingStore(inner, log)
          const registry = new Registry(store)
          const tokens = await TokenAuthority.open(store)
          for (let n = 0; !stop; n++) {
            // SQLite answers without I/O waits: let the timers (and the backup) have their turn.
            await setImmediate()
            const endpoint = `http://w${w}-${n % 40}.example.com:9100/metrics`
            const namespace = ['default', 'team-a', 'team-b'][n % 3]!
            if (n % 4 === 3) await registry.unregisterServices([endpoint], namespace)
            else
              await registry.registerServices({
                name: `w${w}`,
                endpoints: [endpoint],
                namespace,
                labels: {n: String(n % 7)},
                ttl: n % 2 ? '1h' : undefined,
              })
            if (w === 0 && n % 25 === 0) await registry.registerServer(`extra${n % 50}`, {dc: 'a'})
            if (w === 1 && n % 20 === 0) {
              await tokens.create({id: `t${n}`, role: 'read', namespaces: ['*']})
              await tokens.revoke(`t${n}`)
            }
            writes++
          }
        }
        const running = Array.from({length: 20}, (_, w) => writer(w))
        while (writes < 100) await delay(10)
        const backup = await takeBackup(main, {includeSecrets: true, rosterVersion: 'test'})
        const file = await text(backup.chunks)
        const atBackup = writes
        while (writes < atBackup + 100) await delay(10)
        stop = true
        await Promise.all(running)
        const revision = backup.header.source.revision

        // The registry at that revision, rebuilt from every write committed up to it.
        const expected = new Map(initial)
        for (const {revision: r, ops} of [...log].sort((a, b) => a.revision - b.revision)) {
          if (r <= initialRevision || r > revision) continue
          for (const op of ops) {
            if (op.type === 'delete') expected.delete(op.key)
            else expected.set(op.key, JSON.parse(op.value))
          }
        }
        for (const key of [...expected.keys()]) if (!kindOfKey(key)) expected.delete(key)
        assert.ok(
          log.some((entry) => entry.revision > revision),
          'writes went on after the backup read its revision',
        )

        // Restored, the file is that registry.
        const restored = backend.fresh()
        await withStore(restored.options, async (store) => {
          await restoreBackup(store, () => [file], {replace: false, name: 'backup'})
          assertSameRecords(await registryRecords(store), expected, 'restored')
        })
        // A second backup of that registry: the same records.
        const rebuilt = await openStore({registry: 'sqlite::memory:', timeoutMs: 10_000})
        try {
          const puts: Operation[] = [...expected].map(([key, value]) => ({type: 'put', key, value: JSON.stringify(value)}))
          for (let i = 0; i < puts.length; i += MAX_TXN_OPS) await rebuilt.txn([], puts.slice(i, i + MAX_TXN_OPS))
          const second = await takeBackup(rebuilt, {includeSecrets: true, rosterVersion: 'test'})
          assert.deepEqual(parsed(recordLines(await text(second.chunks))), parsed(recordLines(file)))
        } finally {
          await rebuilt.close()
        }
        if (backend.name === 'etcd') {
          // etcd keeps that revision: a second backup read there, now, after the writers.
          const past = await main.snapshot(revision)
          try {
            const header = await backupHeader(past, main.description, {includeSecrets: true, rosterVersion: 'test'})
            assert.deepEqual(header.counts, backup.header.counts)
            assert.deepEqual(recordLines(await text(backupChunks(past, header))), recordLines(file))
          } finally {
            await past.close()
          }
        }
      } finally {
        for (const store of writers) await store.close()
        await main.close()
      }
    })
  })
}

/** Record lines as objects: a rebuilt registry may order a value's fields otherwise. */
function parsed(lines: string[]): unknown[] {
  return lines.map((line) => {
    const {kind, object} = JSON.parse(line) as {kind: string; object: unknown}
    return {kind, object}
  })
}

async function withStore<T>(options: StoreOptions, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(options)
  try {
    return await fn(store)
  } finally {
    await store.close()
  }
}

for (const backend of backends) {
  describe(`${backend.name}: a restore killed at random points`, () => {
    it('leaves the registry as it was or marked unfinished; restore --replace then completes it', async () => {
      const source = backend.fresh()
      await withStore(source.options, (store) => fillRegistry(store, 6000))
      const expected = await withStore(source.options, (store) => registryRecords(store))
      const file = path.join(dir, `kill-${backend.name}.jsonl`)
      const env = isolatedEnv()
      assert.equal((await runCli(['registry', 'backup', '--include-secrets', file, ...source.args], {env})).code, 0)

      // How long a whole restore takes here, to spread the kills over it.
      const timing = backend.fresh()
      const started = Date.now()
      assert.equal((await runRestore(file, timing.args, env)).code, 0)
      const whole = Date.now() - started

      const outcomes: string[] = []
      for (let attempt = 0; attempt < 6; attempt++) {
        const target = backend.fresh()
        // Half the attempts wait for the marker (the kill lands while it writes), half kill at any time.
        const afterMarker = attempt % 2 === 0
        const child = spawn(process.execPath, [BIN, 'registry', 'restore', file, ...target.args], {
          env: env as NodeJS.ProcessEnv,
          stdio: 'ignore',
        })
        const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
        let done = false
        void exited.then(() => (done = true))
        if (afterMarker) {
          await withStore(target.options, async (store) => {
            while (!done && !(await store.get(RESTORE_MARKER_KEY))) await delay(5)
          })
          await delay(Math.random() * whole * 0.5)
        } else {
          await delay(Math.random() * whole)
        }
        child.kill('SIGKILL')
        const code = await exited
        await withStore(target.options, async (store) => {
          const marker = await store.get(RESTORE_MARKER_KEY)
          const records = await registryRecords(store)
          if (!marker) {
            // No marker: nothing was written, or the restore finished.
            if (records.size > 0) assertSameRecords(records, expected, 'a registry without the marker')
            outcomes.push(records.size === 0 ? 'nothing written' : 'finished')
            return
          }
          outcomes.push(`marked, ${records.size} records`)
        })
        const marked = outcomes.at(-1)!.startsWith('marked')
        if (marked) {
          for (const args of [
            ['registry', 'restore', file],
            ['registry', 'backup', path.join(dir, 'never.jsonl')],
          ]) {
            const refused = await runCli([...args, ...target.args], {env})
            assert.equal(refused.code, 6, refused.stderr)
            assert.match(refused.stderr, /holds a restore that did not finish/)
          }
        }
        const rerun = await runCli(['registry', 'restore', '--replace', file, ...target.args], {env})
        assert.equal(rerun.code, 0, `after ${outcomes.at(-1)} (exit ${code}): ${rerun.stderr}`)
        await withStore(target.options, async (store) => {
          assert.equal(await store.get(RESTORE_MARKER_KEY), undefined)
          assertSameRecords(await registryRecords(store), expected, 'after restore --replace')
          // The assignment of every service is the file's: the servers exist, and a server's state came back.
          assert.equal(JSON.parse((await store.get(serverKey('prom3')))!.value).state, 'leaving')
        })
      }
      assert.ok(
        outcomes.some((o) => o.startsWith('marked')),
        `at least one kill landed while the restore wrote (${outcomes.join('; ')})`,
      )
      writeFileSync(path.join(dir, `outcomes-${backend.name}.txt`), outcomes.join('\n'))
    })
  })
}

function runRestore(file: string, args: string[], env: Record<string, string | undefined>): Promise<{code: number | null}> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, 'registry', 'restore', file, ...args], {env: env as NodeJS.ProcessEnv, stdio: 'ignore'})
    child.on('exit', (code) => resolve({code}))
  })
}
