/**
 * What the backup tests share: a registry that holds every kind of record a backup carries
 * (servers in each state, namespaces of each export, services with and without TTLs, expiry
 * times, selectors and several servers each, settings, tokens of each role, a revocation), and
 * the records of a registry as a map, to compare two registries object by object.
 */
import assert from 'node:assert/strict'

import {TokenAuthority} from '../../src/lib/auth/tokens.js'
import {KINDS} from '../../src/lib/registry/backup/records.js'
import {serverKey} from '../../src/lib/registry/keys.js'
import {Registry} from '../../src/lib/registry/registry.js'
import type {Store} from '../../src/lib/store/store.js'

export interface FilledRegistry {
  /** Tokens issued before any backup: the service token, the read token, and a revoked one. */
  tokens: {service: string; read: string; revoked: string}
  services: number
}

/**
 * Fills `store` through the registry and token code, as users would. `services` services are
 * spread over three namespaces; every third has a TTL, every fifth an expiry time.
 */
export async function fillRegistry(store: Store, services = 60): Promise<FilledRegistry> {
  const registry = new Registry(store)
  await registry.registerServer('prom1', {dc: 'a', tier: 'gold'})
  await registry.registerServer('prom2', {dc: 'b'})
  await registry.registerServer('prom3', {dc: 'a'})
  await registry.registerNamespace('team-a', 'blackbox')
  await registry.registerNamespace('team-b', 'disabled')
  await registry.updateSettings({replicas: 2})
  const namespaces = ['default', 'team-a', 'team-b']
  const input = (i: number) => ({
    name: `svc${i % 7}`,
    endpoints: [`http://host-${i}.example.com:9100/metrics`],
    namespace: namespaces[i % 3],
    labels: {app: `a${i % 5}`, rack: `r${i % 4}`},
    selector: i % 2 === 0 ? 'dc=a' : '',
    description: i % 4 === 0 ? `service number ${i}` : '',
    ...(i % 3 === 0 ? {ttl: '24h'} : {}),
  })
  // A few one by one (an expiry time is not in an import), the many in one import.
  const single = Math.min(services, 100)
  for (let i = 0; i < single; i++)
    await registry.registerServices({...input(i), ...(i % 5 === 0 && i % 3 !== 0 ? {expiresAt: '2031-01-01T00:00:00Z'} : {})})
  if (services > single) await registry.importServices(Array.from({length: services - single}, (_, k) => input(single + k)))
  // A server half-way out: its state is part of what a backup carries.
  const leaving = await store.get(serverKey('prom3'))
  await store.txn([], [{type: 'put', key: serverKey('prom3'), value: JSON.stringify({...JSON.parse(leaving!.value), state: 'leaving'})}])
  const authority = await TokenAuthority.open(store)
  const service = (await authority.create({id: 'host-1', role: 'service', namespaces: ['team-a']})).token
  const read = (await authority.create({id: 'prom', role: 'read', namespaces: ['*'], expiresIn: 'never'})).token
  const revoked = (await authority.create({id: 'old-admin', role: 'admin', namespaces: []})).token
  await authority.revoke('old-admin')
  return {tokens: {service, read, revoked}, services}
}

/** Every record a backup carries, by store key, parsed; without the signing key when `secrets` is false. */
export async function registryRecords(store: Store, secrets = true): Promise<Map<string, unknown>> {
  const records = new Map<string, unknown>()
  for (const spec of KINDS) {
    if (!secrets && spec.kind === 'signing-key') continue
    for await (const page of store.range(spec.prefix)) {
      for (const kv of page.kvs) if (!spec.single || kv.key === spec.prefix) records.set(kv.key, JSON.parse(kv.value))
    }
  }
  return records
}

/** Every key the store holds, with its value: what "left as it was" compares. */
export async function storeDump(store: Store): Promise<Map<string, string>> {
  const dump = new Map<string, string>()
  for await (const page of store.range('')) for (const kv of page.kvs) dump.set(kv.key, kv.value)
  return dump
}

/** Asserts that two registries hold the same records, naming the first key that differs. */
export function assertSameRecords(actual: Map<string, unknown>, expected: Map<string, unknown>, what: string): void {
  for (const [key, value] of expected) assert.deepEqual(actual.get(key), value, `${what}: ${key}`)
  for (const key of actual.keys()) assert.ok(expected.has(key), `${what}: ${key} is not in the source`)
  assert.equal(actual.size, expected.size, what)
}

/** Whether the registry of `store` accepts `token` (the signature, the key, the revocations). */
export async function tokenVerifies(store: Store, token: string): Promise<boolean> {
  const authority = await TokenAuthority.open(store)
  try {
    await authority.verify(token)
    return true
  } catch {
    return false
  }
}
