/** Small pieces the benchmarks share: arguments, the median, and synthetic endpoints. */
import {spawnSync} from 'node:child_process'
import {readFileSync} from 'node:fs'

import type {Endpoint, Source} from '../src/lib/dns/endpoint.js'

/** `--name N` from the command line, or the fallback. */
export function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`)
  const v = i >= 0 ? Number(process.argv[i + 1]) : NaN
  return Number.isFinite(v) && v > 0 ? v : fallback
}

export function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? NaN
}

/** A distinct IPv4 address for each i (10.x.y.z). */
export function ip(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`
}

/** n A records h0..h(n-1) under zone, as a file source would give them. */
export function desiredA(zone: string, n: number): Endpoint[] {
  return Array.from({length: n}, (_, i) => ({
    dnsName: `h${i}.${zone}`,
    recordType: 'A',
    targets: [ip(i)],
    recordTTL: 300,
    labels: {resource: `file/bench/h${i}`},
  }))
}

export function staticSource(endpoints: Endpoint[]): Source {
  return {name: 'bench', endpoints: async () => endpoints}
}

/** CPU seconds (user + system) the etcd started with `dataDir` (test/support/etcd-server.ts) has used so far. */
export function etcdCpuSeconds(dataDir: string): number {
  const pid = spawnSync('pgrep', ['-f', '--', `--data-dir[= ]${dataDir}`], {encoding: 'utf8'})
    .stdout.trim()
    .split('\n')[0]
  if (!pid) return NaN
  // After the command name in parentheses: utime and stime are the 12th and 13th fields, in clock ticks (100 a second).
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** Peak memory and CPU time of a process, from what /usr/bin/time -v wrote on its stderr. */
export function timeVFigures(stderr: string): {rssMiB: number; cpuS: number} {
  const rssKb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1])
  const seconds = (what: string) => Number(new RegExp(`${what} time \\(seconds\\): ([\\d.]+)`).exec(stderr)?.[1])
  return {rssMiB: rssKb / 1024, cpuS: seconds('User') + seconds('System')}
}
