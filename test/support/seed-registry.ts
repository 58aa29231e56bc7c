/**
 * A large registry written straight into the store, for serve's benchmarks and load tests:
 * `servers` servers prom0..prom(n-1), and `count` services in namespace default, service i on
 * server prom(i mod servers), in transactions of MAX_TXN_OPS, 16 at a time.
 */
import {serviceKey, serverKey} from '../../src/lib/registry/keys.js'
import type {Server, Service} from '../../src/lib/registry/model.js'
import {serviceId} from '../../src/lib/registry/service-id.js'
import {openStore} from '../../src/lib/store/open-store.js'
import {MAX_TXN_OPS, type Operation} from '../../src/lib/store/store.js'

/** Writes the registry; the milliseconds it took. */
export async function seedRegistry(registry: string, count: number, servers = 10): Promise<number> {
  const started = Date.now()
  const store = await openStore({registry, timeoutMs: 60_000})
  try {
    const modified = new Date().toISOString()
    const serverOps: Operation[] = Array.from({length: servers}, (_, i) => {
      const server: Server = {name: `prom${i}`, labels: {}, state: 'active', modified}
      return {type: 'put', key: serverKey(server.name), value: JSON.stringify(server)}
    })
    await store.txn([], serverOps)
    const pending: Promise<unknown>[] = []
    for (let start = 0; start < count; start += MAX_TXN_OPS) {
      const ops: Operation[] = []
      for (let i = start; i < Math.min(count, start + MAX_TXN_OPS); i++) {
        const endpoint = `http://host-${i}.dc${i % 3}.example.com:9100/metrics`
        const service: Service = {
          id: serviceId('default', endpoint),
          name: `node-${i % 100}`,
          namespace: 'default',
          endpoint,
          labels: {app: 'node', rack: `r${i % 40}`},
          selector: '',
          servers: [`prom${i % servers}`],
          description: '',
          modified,
        }
        ops.push({type: 'put', key: serviceKey('default', service.id), value: JSON.stringify(service)})
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
