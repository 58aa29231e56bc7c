/**
 * A large registry written straight into the store, for serve's and the backup's benchmarks and
 * load tests: `servers` servers prom0..prom(n-1), the `namespaces` (besides default), and `count`
 * services, service i in namespace i mod (1 + namespaces) and on server prom(i mod servers), in
 * transactions of MAX_TXN_OPS, 16 at a time.
 */
import {namespaceKey, serviceKey, serverKey} from '../../src/lib/registry/keys.js'
import {DEFAULT_NAMESPACE, type Namespace, type Server, type Service} from '../../src/lib/registry/model.js'
import {serviceId} from '../../src/lib/registry/service-id.js'
import {openStore} from '../../src/lib/store/open-store.js'
import {MAX_TXN_OPS, type Operation} from '../../src/lib/store/store.js'

export interface SeedOptions {
  /** Default 10. */
  servers?: number
  /** Namespaces registered besides default (export standard). Default none. */
  namespaces?: readonly string[]
  /** Every `expiresEvery`th service (i mod n = 0) carries an expiry time; 0 (the default): none. */
  expiresEvery?: number
  etcdPrefix?: string
}

/** Writes the registry; the milliseconds it took. `options` as a number: the servers. */
export async function seedRegistry(registry: string, count: number, options: number | SeedOptions = {}): Promise<number> {
  const o = typeof options === 'number' ? {servers: options} : options
  const servers = o.servers ?? 10
  const namespaces = [DEFAULT_NAMESPACE, ...(o.namespaces ?? [])]
  const started = Date.now()
  const store = await openStore({registry, etcdPrefix: o.etcdPrefix, timeoutMs: 60_000})
  try {
    const modified = new Date().toISOString()
    const serverOps: Operation[] = Array.from({length: servers}, (_, i) => {
      const server: Server = {name: `prom${i}`, labels: {}, state: 'active', modified}
      return {type: 'put', key: serverKey(server.name), value: JSON.stringify(server)}
    })
    const namespaceOps: Operation[] = namespaces.slice(1).map((name) => {
      const namespace: Namespace = {name, export: 'standard', modified}
      return {type: 'put', key: namespaceKey(name), value: JSON.stringify(namespace)}
    })
    await store.txn([], [...serverOps, ...namespaceOps])
    const pending: Promise<unknown>[] = []
    for (let start = 0; start < count; start += MAX_TXN_OPS) {
      const ops: Operation[] = []
      for (let i = start; i < Math.min(count, start + MAX_TXN_OPS); i++) {
        const namespace = namespaces[i % namespaces.length]!
        const endpoint = `http://host-${i}.dc${i % 3}.example.com:9100/metrics`
        const service: Service = {
          id: serviceId(namespace, endpoint),
          name: `node-${i % 100}`,
          namespace,
          endpoint,
          labels: {app: 'node', rack: `r${i % 40}`},
          selector: '',
          servers: [`prom${i % servers}`],
          description: '',
          modified,
          ...(o.expiresEvery && i % o.expiresEvery === 0 ? {expires: '2031-01-01T00:00:00.000Z'} : {}),
        }
        ops.push({type: 'put', key: serviceKey(namespace, service.id), value: JSON.stringify(service)})
      }
      pending.push(store.txn([], ops))
      if (pending.length >= 16) await Promise.all(pending.splice(0))
    }
    await Promise.all(pending)
  } finally {
    await store.close()
  }
  return Date.now() - started
}
