/**
 * What an etcd registry adds to a command's start-up: loading the etcd client, and one
 * `roster service register` process on a real etcd (on loopback, started here) beside the same on
 * SQLite. Wall time and CPU time (user + system, from bash's `time`, to the millisecond) per
 * process, median of interleaved runs after two warm-up rounds, each as a ratio to `node -e 0`.
 *
 *   npm run build && node --import tsx bench/etcd-load.ts [runs]
 *     [--before DIR]   another built tree (its dist/ and bin/run.js, e.g. a checkout of an older
 *                      commit with node_modules linked and `npm run build` run) measured in the same run
 *
 * Rows:
 *   require('etcd3') from node_modules   the package as published (what dist loaded before it
 *                                        bundled etcd3: every .js file, proto-loader, loadSync(rpc.proto))
 *   load the etcd client (dist)          import dist's etcd store module and open a store (no
 *                                        connection is made): etcd3, gRPC, the package definition
 *   roster service register, etcd        the whole command on etcd (a repeated register, a no-op write)
 *   roster service register, sqlite      the same on the embedded SQLite registry
 */
import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, readdirSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {pathToFileURL} from 'node:url'

import {ROOT, isolatedEnv} from '../test/support/cli.js'
import {startEtcd} from '../test/support/etcd-server.js'
import {median} from './bench-support.js'

const option = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}
const runs = Number(process.argv[2]?.startsWith('--') ? 15 : (process.argv[2] ?? 15))
const before = option('before')
// bash's `time` reports the child's CPU time (getrusage) in milliseconds; /usr/bin/time only in centiseconds.
const TIMED = 'TIMEFORMAT="%3U %3S"; { time "$@" 2>"$0.err"; } 2>"$0"'
const hasTime = existsSync('/bin/bash')

/** The dist chunk that exports openEtcdStore (its file name carries a content hash). */
function etcdStoreModule(root: string): string {
  const dir = path.join(root, 'dist', 'chunks')
  const file = readdirSync(dir).find(
    (f) => f.endsWith('.js') && /\bas openEtcdStore\b|export\s*\{[^}]*\bopenEtcdStore\b/.test(readFileSync(path.join(dir, f), 'utf8')),
  )
  if (!file) throw new Error(`no chunk in ${dir} exports openEtcdStore: run npm run build`)
  return pathToFileURL(path.join(dir, file)).href
}

const loadClient = (root: string): string[] => [
  '--input-type=module',
  '-e',
  `const {openEtcdStore} = await import(${JSON.stringify(etcdStoreModule(root))})
   const store = await openEtcdStore({hosts: ['127.0.0.1:2379'], tls: false, prefix: '/roster/', timeoutMs: 1000})
   await store.close()`,
]

const etcd = await startEtcd()
const dir = mkdtempSync(path.join(tmpdir(), 'roster-bench-etcd-load-'))
try {
  // A HOME each (so a code cache that bin/run.js keeps there belongs to one tree), kept across runs.
  const etcdEnv = isolatedEnv({ROSTER_REGISTRY: etcd.url}) as NodeJS.ProcessEnv
  const beforeEtcdEnv = isolatedEnv({ROSTER_REGISTRY: etcd.url}) as NodeJS.ProcessEnv
  const sqliteEnv = isolatedEnv({ROSTER_REGISTRY: `sqlite:${path.join(dir, 'registry.db')}`}) as NodeJS.ProcessEnv
  const register = (root: string) => [
    path.join(root, 'bin', 'run.js'),
    'service',
    'register',
    'node',
    '-e',
    'http://127.0.0.1:9100/metrics',
  ]

  const commands: Record<string, {args: string[]; env?: NodeJS.ProcessEnv; cwd?: string}> = {
    'node -e 0': {args: ['-e', '0']},
    "require('etcd3') from node_modules": {args: ['-e', "require('etcd3')"], cwd: ROOT},
    'load the etcd client (dist)': {args: loadClient(ROOT)},
    'roster service register, etcd': {args: register(ROOT), env: etcdEnv},
    'roster service register, sqlite': {args: register(ROOT), env: sqliteEnv},
  }
  if (before) {
    commands['before: load the etcd client (dist)'] = {args: loadClient(before)}
    commands['before: roster service register, etcd'] = {args: register(before), env: beforeEtcdEnv}
  }

  const wall: Record<string, number[]> = Object.fromEntries(Object.keys(commands).map((k) => [k, []]))
  const cpu: Record<string, number[]> = Object.fromEntries(Object.keys(commands).map((k) => [k, []]))
  const timeFile = path.join(dir, 'time')
  for (let i = 0; i < runs + 2; i++) {
    for (const [name, {args, env, cwd}] of Object.entries(commands)) {
      const [file, argv] = hasTime ? ['/bin/bash', ['-c', TIMED, timeFile, process.execPath, ...args]] : [process.execPath, args]
      const start = process.hrtime.bigint()
      const r = spawnSync(file, argv, {env: env ?? isolatedEnv(), cwd: cwd ?? dir, stdio: ['ignore', 'pipe', 'pipe']})
      const ms = Number(process.hrtime.bigint() - start) / 1e6
      if (r.status !== 0) {
        const stderr = hasTime ? readFileSync(`${timeFile}.err`, 'utf8') : String(r.stderr)
        throw new Error(`${name} failed (${r.status}): ${stderr}`)
      }
      if (i < 2) continue // two warm-up rounds
      wall[name]!.push(ms)
      if (hasTime) {
        const [user, sys] = readFileSync(timeFile, 'utf8').trim().split(/\s+/).slice(-2).map(Number)
        cpu[name]!.push((user! + sys!) * 1000)
      }
    }
  }

  const floorWall = median(wall['node -e 0']!)
  const floorCpu = median(cpu['node -e 0']!)
  const version = process.version
  console.log(`etcd client load, median of ${runs} interleaved runs (node ${version}); ratios to node -e 0`)
  console.log(`${''.padEnd(40)} ${'wall'.padStart(9)} ${''.padStart(7)}  ${hasTime ? `${'cpu'.padStart(9)}` : '(no bash: no CPU figures)'}`)
  for (const name of Object.keys(commands)) {
    const w = median(wall[name]!)
    const c = median(cpu[name]!)
    const cpuText = hasTime ? `${c.toFixed(0).padStart(6)} ms ${(c / floorCpu).toFixed(2).padStart(6)}x` : ''
    console.log(`${name.padEnd(40)} ${w.toFixed(1).padStart(6)} ms ${(w / floorWall).toFixed(2).padStart(6)}x  ${cpuText}`)
  }
} finally {
  await etcd.stop()
  rmSync(dir, {recursive: true, force: true})
}
