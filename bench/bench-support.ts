/** Small pieces the benchmarks share: arguments, the median, and synthetic endpoints. */
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
