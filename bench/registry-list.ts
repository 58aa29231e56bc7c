/**
 * `roster service list` of 100,000 services from etcd as -o csv, -o json and --json (all
 * streamed) against `etcdctl get --prefix` of the same keys in the same run: wall time (median of
 * interleaved runs, output into a pipe that is drained) and peak memory (maximum resident set size
 * from /usr/bin/time -v). The registry is seeded by a bare etcd3 script in 128-operation
 * transactions. Beside them, the floors of any Node client in the same run: a Node process that
 * only reads the same range with etcd3 (etcdctl's one Range request; Node's start, gRPC and
 * protobuf decoding) and writes keys and values as etcdctl does, and one that also JSON.parses
 * every value; so the part of -o csv that is roster's own shows. Prints figures beside the
 * target (-o csv ≤ 1.2× etcdctl) and each floor's ratio to etcdctl; asserts nothing.
 *
 *   npm run build && node --import tsx bench/registry-list.ts [count] [--runs N]
 */
import {spawnSync} from 'node:child_process'
import {rmSync} from 'node:fs'

import {BIN, isolatedEnv} from '../test/support/cli.js'
import {startEtcd} from '../test/support/etcd-server.js'
import {seedRegistry} from '../test/support/seed-registry.js'
import {cpuSeconds} from '../test/support/serve-monitor.js'
import {arg, median, timeVFigures} from './bench-support.js'

/**
 * A floor: etcdctl's request from Node (one Range of the prefix, no page limit: the receive
 * limit lifted), written out as etcdctl writes it, each value JSON.parsed when asked. Plain
 * JavaScript run by node itself, so that no loader's start-up is counted.
 */
const FLOOR_SCRIPT = `
import {Etcd3} from 'etcd3'
const [endpoint, prefix, parse] = process.argv.slice(1)
const client = new Etcd3({hosts: endpoint, grpcOptions: {'grpc.max_receive_message_length': -1}})
const end = Buffer.from(prefix)
end[end.length - 1]++
const {kvs} = await client.kv.range({key: Buffer.from(prefix), range_end: end})
const newline = Buffer.from('\\n')
const out = []
for (const kv of kvs) {
  if (parse === 'parse') JSON.parse(kv.value.toString())
  out.push(kv.key, newline, kv.value, newline)
}
process.stdout.write(Buffer.concat(out))
client.close()
`

const count = Number(process.argv[2] && !process.argv[2].startsWith('--') ? process.argv[2] : 100_000)
const runs = arg('runs', 5)
/** The target: -o csv within this multiple of etcdctl reading the same keys. */
const TARGET = 1.2

interface Run {
  ms: number
  rssMiB: number
  /** The client's CPU time, and the etcd server's while it ran: steadier than wall time on a shared machine. */
  cpuS: number
  serverCpuS: number
  bytes: number
}

/** One process under /usr/bin/time -v: its wall time as measured here, its peak RSS and CPU time, etcd's CPU time, its output's size. */
function timed(command: string, args: string[], env: NodeJS.ProcessEnv): Run {
  const serverBefore = cpuSeconds(etcd.pid)
  const start = process.hrtime.bigint()
  const r = spawnSync('/usr/bin/time', ['-v', command, ...args], {env, encoding: 'buffer', maxBuffer: 1024 ** 3})
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  const stderr = r.stderr.toString('utf8')
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${stderr}`)
  return {ms, ...timeVFigures(stderr), serverCpuS: cpuSeconds(etcd.pid) - serverBefore, bytes: r.stdout.length}
}

const etcd = await startEtcd({args: ['--quota-backend-bytes', String(4 * 1024 ** 3)]})
try {
  const seedMs = await seedRegistry(etcd.url, count, {servers: 5})
  console.log(`seeded ${count} services in ${(seedMs / 1000).toFixed(1)} s (node ${process.version}, ${runs} interleaved runs each)`)

  const env = isolatedEnv({ROSTER_REGISTRY: etcd.url}) as NodeJS.ProcessEnv
  const etcdctlEnv = {...process.env, ETCDCTL_API: '3'}
  const prefix = '/roster/services/'
  const etcdctlArgs = ['--endpoints', etcd.endpoint, 'get', '--prefix', prefix]
  const floor = (parse: string) => ['--input-type=module', '-e', FLOOR_SCRIPT, etcd.endpoint, prefix, parse]
  const cases: {label: string; command: string; args: string[]; env: NodeJS.ProcessEnv; floor?: boolean}[] = [
    {label: 'etcdctl get --prefix', command: 'etcdctl', args: etcdctlArgs, env: etcdctlEnv},
    {label: 'floor: node + etcd3 range', command: process.execPath, args: floor(''), env: process.env, floor: true},
    {label: 'floor: the same + JSON.parse', command: process.execPath, args: floor('parse'), env: process.env, floor: true},
    {label: 'roster service list -o csv', command: process.execPath, args: [BIN, 'service', 'list', '-o', 'csv'], env},
    {label: 'roster service list -o json', command: process.execPath, args: [BIN, 'service', 'list', '-o', 'json'], env},
    {label: 'roster service list --json', command: process.execPath, args: [BIN, 'service', 'list', '--json'], env},
  ]
  const results = cases.map(() => [] as Run[])
  // One warm-up of each (the code cache, etcd's own caches), then interleaved runs.
  for (const c of cases) timed(c.command, c.args, c.env)
  for (let i = 0; i < runs; i++) cases.forEach((c, j) => results[j]!.push(timed(c.command, c.args, c.env)))
  const base = median(results[0]!.map((r) => r.ms))
  const baseCpu = median(results[0]!.map((r) => r.cpuS + r.serverCpuS))
  const csv = cases.findIndex((c) => c.label.endsWith('-o csv'))
  cases.forEach((c, j) => {
    const ms = median(results[j]!.map((r) => r.ms))
    const cpu = median(results[j]!.map((r) => r.cpuS))
    const serverCpu = median(results[j]!.map((r) => r.serverCpuS))
    const rss = Math.max(...results[j]!.map((r) => r.rssMiB))
    const out = results[j]![0]!.bytes / 1024 ** 2
    const ratio =
      j === 0
        ? ''
        : `  ${(ms / base).toFixed(2)}x etcdctl${j === csv ? ` (target ≤ ${TARGET}x)` : ''}, CPU ${((cpu + serverCpu) / baseCpu).toFixed(2)}x` +
          (c.floor ? ' (a floor of roster service list: no roster)' : '')
    console.log(
      `${c.label.padEnd(30)} ${count} services: ${(ms / 1000).toFixed(2)} s, CPU ${cpu.toFixed(2)} s + etcd ${serverCpu.toFixed(2)} s, peak RSS ${rss.toFixed(0)} MiB, output ${out.toFixed(1)} MiB${ratio}`,
    )
  })
  // The part of -o csv that is roster's own: beyond the floor that also parses every value.
  const parsing = cases.findIndex((c) => c.label.includes('JSON.parse'))
  const of = (j: number, f: (r: Run) => number) => median(results[j]!.map(f))
  const beyond = (f: (r: Run) => number) => of(csv, f) - of(parsing, f)
  console.log(
    `roster's own part of -o csv (beyond the JSON.parse floor): ${(beyond((r) => r.ms) / 1000).toFixed(2)} s = ${(beyond((r) => r.ms) / base).toFixed(2)}x etcdctl's time, ` +
      `CPU ${beyond((r) => r.cpuS + r.serverCpuS).toFixed(2)} s = ${(beyond((r) => r.cpuS + r.serverCpuS) / baseCpu).toFixed(2)}x etcdctl's; ` +
      `the floor alone is ${(of(parsing, (r) => r.ms) / base).toFixed(2)}x etcdctl's time (target for -o csv ≤ ${TARGET}x)`,
  )
  rmSync(env.HOME!, {recursive: true, force: true})
} finally {
  await etcd.stop()
}
