/** The part of autocannon's API the serve benchmark uses (autocannon ships no types). */
declare module 'autocannon' {
  interface Histogram {
    p50: number
    p90: number
    p99: number
    max: number
    average: number
  }
  interface Result {
    latency: Histogram
    requests: Histogram & {total: number}
    throughput: Histogram
    non2xx: number
    errors: number
  }
  interface Options {
    url: string
    connections?: number
    duration?: number
    headers?: Record<string, string>
  }
  function autocannon(options: Options): Promise<Result>
  export default autocannon
}
