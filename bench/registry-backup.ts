/**
 * `roster registry backup` and `registry restore` of 100,000 and 1,000,000 services, on SQLite
 * and on etcd: wall time, CPU time (user and system: what a loaded machine changes least) and
 * peak memory (maximum resident set size) of each command, from /usr/bin/time -v, beside what
 * the stores do on their own in the same run: a copy of the SQLite file (cp, after its WAL is
 * checkpointed) and `etcdctl snapshot save` of the etcd member. At the first size also
 * `registry migrate` from SQLite to etcd. The registries are seeded with bare store
 * transactions (test/support/seed-registry.ts). Prints figures; asserts nothing.
 *
 *   npm run build && node --import tsx bench/registry-backup.ts [counts, default 100000,1000000]
 */
import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {BIN, isolatedEnv} from '../test/support/cli.js'
import {startEtcd} from '../test/support/etcd-server.js'
import {type SeedOptions, seedRegistry} from '../test/support/seed-registry.js'

const counts = (process.argv[2] ?? '100000,1000000').split(',').map(Number)
const dir = mkdtempSync(path.join(tmpdir(), 'roster-bench-backup-'))
/** Services in three namespaces on five servers, every fourth with an expiry time. */
const SEED: SeedOptions = {servers: 5, namespaces: ['team-a', 'team-b'], expiresEvery: 4}

interface Measured {
  seconds: number
  /** User and system CPU time: what a loaded machine changes least. */
  cpuSeconds: number
  rssMiB: number
}

/** Runs a command under /usr/bin/time -v: its wall time and peak RSS. */
function measure(command: string, args: string[], env: NodeJS.ProcessEnv): Measured {
  const r = spawnSync('/usr/bin/time', ['-v', command, ...args], {env, encoding: 'utf8', maxBuffer: 64 * 1024 ** 2})
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${r.status}): ${r.stderr.slice(-2000)}`)
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (.*)/.exec(r.stderr)![1]!
  const parts = wall.split(':').map(Number)
  const seconds = parts.reduce((total, part) => total * 60 + part, 0)
  const rssKb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)![1])
  const cpu = (name: string) => Number(new RegExp(`${name} time \\(seconds\\): ([\\d.]+)`).exec(r.stderr)![1])
  return {seconds, cpuSeconds: cpu('User') + cpu('System'), rssMiB: rssKb / 1024}
}

const roster = (args: string[], env: NodeJS.ProcessEnv): Measured => measure(process.execPath, [BIN, ...args], env)
const mib = (file: string): string => `${(statSync(file).size / 1024 ** 2).toFixed(0)} MiB`

function report(label: string, m: Measured, extra = ''): void {
  console.log(
    `${label.padEnd(48)} ${m.seconds.toFixed(1).padStart(7)} s wall ${m.cpuSeconds.toFixed(1).padStart(6)} s CPU  peak RSS ${m.rssMiB.toFixed(0).padStart(5)} MiB${extra ? `  ${extra}` : ''}`,
  )
}

const etcd = await startEtcd({args: ['--quota-backend-bytes', String(8 * 1024 ** 3)]})
const env = isolatedEnv({ROSTER_TIMEOUT: '600s'}) as NodeJS.ProcessEnv
try {
  console.log(`registry backup and restore (node ${process.version}; /usr/bin/time -v: wall time, maximum resident set size)`)
  for (const [round, count] of counts.entries()) {
    console.log(`\n${count} services`)
    const sqlite = path.join(dir, `source-${count}.db`)
    console.log(`seeded SQLite in ${((await seedRegistry(`sqlite:${sqlite}`, count, SEED)) / 1000).toFixed(1)} s (${mib(sqlite)})`)
    const etcdSource = ['--registry', etcd.url, '--etcd-prefix', `/source-${count}/`]
    console.log(`seeded etcd in ${((await seedRegistry(etcd.url, count, {...SEED, etcdPrefix: `/source-${count}/`})) / 1000).toFixed(1)} s`)

    const file = path.join(dir, `sqlite-${count}.jsonl`)
    report('SQLite: cp of the registry file', measure('cp', [sqlite, `${sqlite}.copy`], env), mib(sqlite))
    report('SQLite: roster registry backup', roster(['registry', 'backup', file, '--registry', `sqlite:${sqlite}`], env), mib(file))
    report(
      'SQLite: roster registry restore',
      roster(['registry', 'restore', file, '--registry', `sqlite:${path.join(dir, `restored-${count}.db`)}`], env),
    )

    const etcdFile = path.join(dir, `etcd-${count}.jsonl`)
    const snapshot = path.join(dir, `etcd-${count}.snapshot`)
    report(
      'etcd: etcdctl snapshot save (the whole member)',
      measure('etcdctl', ['--endpoints', etcd.endpoint, 'snapshot', 'save', snapshot], {...env, ETCDCTL_API: '3'}),
      mib(snapshot),
    )
    report('etcd: roster registry backup', roster(['registry', 'backup', etcdFile, ...etcdSource], env), mib(etcdFile))
    report(
      'etcd: roster registry restore',
      roster(['registry', 'restore', etcdFile, '--registry', etcd.url, '--etcd-prefix', `/restored-${count}/`], env),
    )
    if (round === 0) {
      report(
        'roster registry migrate, SQLite → etcd',
        roster(['registry', 'migrate', '--registry', `sqlite:${sqlite}`, '--to', etcd.url, '--to-etcd-prefix', `/migrated-${count}/`], env),
      )
    }
    for (const f of [file, etcdFile, snapshot, `${sqlite}.copy`]) rmSync(f, {force: true})
  }
} finally {
  await etcd.stop()
  rmSync(dir, {recursive: true, force: true})
  rmSync(env.HOME!, {recursive: true, force: true})
}
