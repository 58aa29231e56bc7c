/** Services whose groups are awkward to write: label names and values, endpoints and names that need escaping or renaming. */
import type {Service} from '../../src/lib/registry/model.js'

/** `count` services, the same for the same seed; on servers prom1 and prom2 (some on both, some on none), in namespaces ns1 and ns2. */
export function awkwardServices(count: number, seed = 1): Service[] {
  let state = seed
  const next = (n: number) => {
    state = (state * 1103515245 + 12345) & 0x7fffffff
    return state % n
  }
  const pick = <T>(xs: readonly T[]) => xs[next(xs.length)]!
  const labelNames = [
    'app',
    'job',
    'instance',
    'app.kubernetes.io/name',
    'a.b',
    'a_b',
    'a-b',
    '9lives',
    '_x',
    '__reserved',
    'Zone',
    'zone',
    'Ünï',
    'env',
  ]
  const values = [
    'node',
    '',
    'with "quotes"',
    'back\\slash',
    'tab\there',
    'new\nline',
    'ünïcödé',
    '😀',
    'lone \ud800 surrogate',
    '\u0001',
    'x'.repeat(40),
  ]
  const endpoints = [
    'http://h:9100/metrics',
    'https://h.example.com/probe',
    'http://[::1]:9100/metrics',
    'http://h/?module=a&module=b&bad-name=x&_ok=1&Z=2',
    'https://user@h:8443/a%20b/c?target=http%3A%2F%2Fx&x',
    'http://h:1',
    'http://h.example.com/m?ü=1&q="',
  ]
  return Array.from({length: count}, (_, i) => {
    const labels: Record<string, string> = {}
    for (let k = next(4); k > 0; k--) labels[pick(labelNames)] = pick(values)
    return {
      modified: '2026-01-01T00:00:00Z',
      selector: '',
      description: '',
      id: `id-${next(1000)}-${i}`,
      name: pick(['node', 'node', 'web', 'Web', 'a"b', 'ü', '']),
      namespace: pick(['ns1', 'ns1', 'ns2']),
      endpoint: pick(endpoints).replace('//h', `//h${next(5)}`),
      labels,
      servers: pick([['prom1'], ['prom2'], ['prom1', 'prom2'], []]),
    }
  })
}
