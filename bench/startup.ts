/**
 * Start-up: `roster --version`, `roster server list` and `roster service list` on an embedded
 * SQLite registry (3 servers, 100 services), each as a ratio to `node -e 0` beside its target
 * (≤ 2.5× on Node 22 and 24, for the two list commands), median of interleaved runs (so machine
 * noise hits every command alike) after two warm-up rounds (which also fill the code cache, as a
 * user's first call does), in a minimal environment (a fresh HOME, no config). Two more lines,
 * without a target: `server list` as a first call, with an empty cache directory each time (it
 * compiles the bundle and writes the cache); and `server list` with Node's own compile cache
 * (module.enableCompileCache) for the bundle in place of bin/run.js's, the simpler path bin/run.js
 * explains it does not take, measured so that a new Node can be checked against it.
 *
 * Then `roster serve`'s start-up as CPU (user + system, from exec to its "listening" line, read
 * from /proc, so Linux only; warm code cache, SQLite, auth none, the console on), as seconds and as
 * a ratio to `node -e 0`'s CPU, median of interleaved runs: every systemd restart and every test
 * that starts serve pays it.
 *
 *   npm run build && node --import tsx bench/startup.ts [runs]
 *     [--node PATH]          another Node binary (e.g. one scripts/test-node-versions.sh installed)
 *     [--bin PATH]           the bin/run.js to measure (default: this tree's; for --node, that
 *                            version's tree from scripts/test-node-versions.sh)
 *     [--before PATH]        a second bin/run.js (e.g. an older build) measured in the same run
 */
import {spawn, spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {BIN, isolatedEnv} from '../test/support/cli.js'
import {median} from './bench-support.js'

const option = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}
const runs = Number(process.argv[2]?.startsWith('--') ? 21 : (process.argv[2] ?? 21))
const node = option('node') ?? process.execPath
const bin = option('bin') ?? BIN
const before = option('before')
const version = spawnSync(node, ['--version'], {encoding: 'utf8'}).stdout.trim()
const target = 2.5

const dir = mkdtempSync(path.join(tmpdir(), 'roster-bench-startup-'))
const env = isolatedEnv({ROSTER_REGISTRY: `sqlite:${path.join(dir, 'registry.db')}`}) as NodeJS.ProcessEnv

const services = Array.from({length: 100}, (_, i) => ({
  name: `svc${i % 10}`,
  endpoints: [`http://10.0.${Math.floor(i / 250)}.${i % 250}:9100/metrics`],
}))
const file = path.join(dir, 'services.json')
writeFileSync(file, JSON.stringify(services))
for (const args of [
  ['server', 'register', 'prom-a', '-l', 'dc=a'],
  ['server', 'register', 'prom-b', '-l', 'dc=b'],
  ['server', 'register', 'prom-c', '-l', 'dc=c'],
  ['service', 'import', file],
]) {
  const seeded = spawnSync(node, [bin, ...args], {env, encoding: 'utf8'})
  if (seeded.status !== 0) throw new Error(`seeding (${args.join(' ')}) failed: ${seeded.stderr}`)
}

const commands: Record<string, {args: string[]; target?: number; env?: (run: number) => NodeJS.ProcessEnv}> = {
  'node -e 0': {args: ['-e', '0']},
  'roster --version': {args: [bin, '--version']},
  'roster server list (3 servers)': {args: [bin, 'server', 'list'], target},
  'roster service list (100 services)': {args: [bin, 'service', 'list'], target},
  'roster server list, first call': {
    args: [bin, 'server', 'list'],
    env: (run) => ({...env, XDG_CACHE_HOME: path.join(dir, `cold-${run}`)}),
  },
}
// The bundle through Node's compile cache, in a cache directory of its own.
const nodeCache = path.join(dir, 'node-compile-cache.cjs')
writeFileSync(
  nodeCache,
  `const Module = require('node:module'), path = require('node:path')
process.env.OCLIF_DISABLE_ENGINE_WARNING = '1'
Module.enableCompileCache(path.join(process.env.XDG_CACHE_HOME, 'node-compile-cache'))
const root = ${JSON.stringify(path.dirname(path.dirname(bin)))}
require(path.join(root, 'dist', 'roster.cjs')).execute({dir: root})
`,
)
commands["roster server list, Node's compile cache instead"] = {
  args: [nodeCache, 'server', 'list'],
  env: () => ({...env, XDG_CACHE_HOME: path.join(dir, 'node-cache')}),
}
// The other build keeps its code cache in a directory of its own: bin/run.js removes the cache
// files of other builds from its directory, so in one directory each build's call would find its
// cache gone and measure a first call.
const beforeEnv = (): NodeJS.ProcessEnv => ({...env, XDG_CACHE_HOME: path.join(dir, 'before-cache')})
if (before) {
  commands['before: roster --version'] = {args: [before, '--version'], env: beforeEnv}
  commands['before: roster server list'] = {args: [before, 'server', 'list'], env: beforeEnv}
  commands['before: roster service list'] = {args: [before, 'service', 'list'], env: beforeEnv}
}

const times: Record<string, number[]> = Object.fromEntries(Object.keys(commands).map((k) => [k, []]))
for (let i = 0; i < runs + 2; i++) {
  for (const [name, {args, env: envOf}] of Object.entries(commands)) {
    const start = process.hrtime.bigint()
    const r = spawnSync(node, args, {env: envOf?.(i) ?? env, stdio: ['ignore', 'pipe', 'pipe']})
    const ms = Number(process.hrtime.bigint() - start) / 1e6
    if (r.status !== 0) throw new Error(`${name} failed: ${r.stderr}`)
    if (i >= 2) times[name]!.push(ms) // two warm-up rounds
  }
}
const floor = median(times['node -e 0']!)
console.log(`start-up, median of ${runs} interleaved runs (node ${version})`)
for (const [name, xs] of Object.entries(times)) {
  const m = median(xs)
  const t = commands[name]?.target
  const verdict = t === undefined ? '' : `   target ≤ ${t}x: ${m / floor <= t ? 'met' : 'NOT met'}`
  console.log(`${name.padEnd(50)} ${m.toFixed(1).padStart(7)} ms   ${(m / floor).toFixed(2)}x node -e 0${verdict}`)
}

// CPU seconds of a process from /proc/PID/stat (utime + stime, or with `children` the waited-for
// children's cutime + cstime), in clock ticks of 1/100 s.
const TICKS = 100
const cpuSeconds = (pid: number | 'self', children = false): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  const [user, system] = children ? [fields[13], fields[14]] : [fields[11], fields[12]]
  return (Number(user) + Number(system)) / TICKS
}
const nodeCpu = (): number => {
  const start = cpuSeconds('self', true)
  spawnSync(node, ['-e', '0'], {env, stdio: 'ignore'})
  return cpuSeconds('self', true) - start
}
async function serveCpu(serveBin: string): Promise<number> {
  const child = spawn(
    node,
    [serveBin, 'serve', '--registry', `sqlite:${path.join(dir, 'registry.db')}`, '--listen', '127.0.0.1:0', '--auth', 'none'],
    {
      env: serveBin === before ? beforeEnv() : env,
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  )
  const exited = new Promise((resolve) => child.on('exit', resolve))
  let stderr = ''
  const cpu = await new Promise<number>((resolve, reject) => {
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d
      if (stderr.includes('listening on')) resolve(cpuSeconds(child.pid!))
    })
    void exited.then(() => reject(new Error(`serve exited before listening: ${stderr}`)))
  })
  child.kill('SIGTERM')
  await exited
  return cpu
}
const serveBins: Record<string, string> = {'roster serve, exec to listening': bin, ...(before ? {'before: roster serve': before} : {})}
const cpu: Record<string, number[]> = {'node -e 0': [], ...Object.fromEntries(Object.keys(serveBins).map((k) => [k, []]))}
for (let i = 0; i < runs + 2; i++) {
  const node0 = nodeCpu()
  const serves: number[] = []
  for (const b of Object.values(serveBins)) serves.push(await serveCpu(b))
  if (i < 2) continue // two warm-up rounds
  cpu['node -e 0']!.push(node0)
  Object.keys(serveBins).forEach((k, j) => cpu[k]!.push(serves[j]!))
}
const cpuFloor = median(cpu['node -e 0']!)
console.log(`start-up CPU (user + system), median of ${runs} interleaved runs`)
for (const [name, xs] of Object.entries(cpu)) {
  const m = median(xs)
  console.log(`${name.padEnd(50)} ${m.toFixed(3).padStart(7)} s    ${(m / cpuFloor).toFixed(1)}x node -e 0 (no target)`)
}
rmSync(dir, {recursive: true, force: true})
