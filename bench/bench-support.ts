/** Small pieces the benchmarks share: arguments, the median and quantiles, and synthetic endpoints. */
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

/** The q-quantile of `xs` by nearest rank: the smallest value that at least q of them do not exceed (NaN for none). */
export function quantile(xs: readonly number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
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

/** Peak memory and CPU time of a process, from what /usr/bin/time -v wrote on its stderr. */
export function timeVFigures(stderr: string): {rssMiB: number; cpuS: number} {
  const rssKb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1])
  const seconds = (what: string) => Number(new RegExp(`${what} time \\(seconds\\): ([\\d.]+)`).exec(stderr)?.[1])
  return {rssMiB: rssKb / 1024, cpuS: seconds('User') + seconds('System')}
}
