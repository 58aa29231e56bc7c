/**
 * The race of `service prune` and `kube discover`, made deterministic: each reads the registry,
 * plans, and is paused by its `beforeWrite` test seam (an injected callback: no command sets it,
 * so no production path reaches it) before its first write. While it is paused another client
 * renews, re-registers or registers by hand the services it planned to delete or overwrite; then
 * it resumes. Those services must survive as the other client left them, on SQLite, on etcd, and
 * through `roster serve` (the remote RegistryClient against a real serve process).
 */
import assert from 'node:assert/strict'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {OWNER_LABEL} from '../../src/lib/discover/plan.js'
import type {PodTarget} from '../../src/lib/discover/pods.js'
import {reconcile, reconcileLine} from '../../src/lib/discover/reconcile.js'
import {pruneServices} from '../../src/lib/registry/prune.js'
import type {RegistryClient} from '../../src/lib/registry/registry-client.js'
import {Registry} from '../../src/lib/registry/registry.js'
import {openRemoteRegistry} from '../../src/lib/registry/remote-registry.js'
import {openStore} from '../../src/lib/store/open-store.js'
import type {Store} from '../../src/lib/store/store.js'
import {type EtcdServer, startEtcd} from '../support/etcd-server.js'
import {type ServeProcess, createToken, startServe} from '../support/serve-server.js'

/** The client that prunes or discovers, and another that writes while it is paused. */
interface Backend {
  client: RegistryClient
  other: RegistryClient
  close(): Promise<void>
}

async function localBackend(registry: string): Promise<Backend> {
  const stores: Store[] = [await openStore({registry, timeoutMs: 10_000}), await openStore({registry, timeoutMs: 10_000})]
  return {
    client: new Registry(stores[0]!),
    other: new Registry(stores[1]!),
    close: async () => {
      for (const store of stores) await store.close()
    },
  }
}

const backends: {name: string; open: (dir: string) => Promise<Backend>}[] = [
  {name: 'SQLite', open: (dir) => localBackend(`sqlite:${path.join(dir, 'registry.db')}`)},
  {
    name: 'etcd',
    open: async () => {
      const etcd: EtcdServer = await startEtcd()
      const backend = await localBackend(etcd.url)
      return {...backend, close: () => backend.close().finally(() => etcd.stop())}
    },
  },
  {
    name: 'roster serve',
    open: async (dir) => {
      const registry = `sqlite:${path.join(dir, 'registry.db')}`
      const token = await createToken(registry, {id: 'admin-1', role: 'admin', namespaces: ['*']})
      const serve: ServeProcess = await startServe({registry})
      const remote = () => openRemoteRegistry({url: serve.url, token, timeoutMs: 10_000})
      return {client: remote(), other: remote(), close: async () => void (await serve.stop())}
    },
  },
]

async function listed(registry: RegistryClient, namespace: string) {
  const out = []
  for await (const s of registry.listServices({namespace, sortBy: 'endpoint'})) out.push(s)
  return out
}

function target(pod: string, ip: string, owner: string, labels: Record<string, string> = {}): PodTarget {
  return {namespace: 'shop', pod, node: 'node-a', ip, url: `http://${ip}:9100/metrics`, owner, labels, annotations: {}}
}

for (const backend of backends) {
  describe(`prune and discover paused between read and write (${backend.name})`, () => {
    let dir: string
    let b: Backend
    before(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'roster-race-'))
      b = await backend.open(dir)
    })
    after(async () => {
      await b?.close()
      rmSync(dir, {recursive: true, force: true})
    })

    it('service prune never removes a service renewed or re-registered while it was paused', async () => {
      const ns = 'prune'
      await b.client.registerNamespace(ns)
      for (const name of ['renewed', 'reregistered', 'stale'])
        await b.client.registerServices({name, namespace: ns, endpoints: [`http://${name}.example:9100/metrics`], ttl: '1h'})
      const later = Date.now() + 2 * 3600_000
      let pauses = 0
      const result = await pruneServices(b.client, {
        expired: true,
        namespace: ns,
        now: () => new Date(later),
        beforeWrite: async () => {
          if (pauses++ > 0) return
          // A host restarted: its unit registers again, with its TTL (renewed) or without one.
          await b.other.registerServices({name: 'renewed', namespace: ns, endpoints: ['http://renewed.example:9100/metrics'], ttl: '24h'})
          await b.other.registerServices({name: 'reregistered', namespace: ns, endpoints: ['http://reregistered.example:9100/metrics']})
        },
      })
      assert.ok(pauses >= 1, 'prune paused between its read and its write')
      const left = await listed(b.client, ns)
      assert.deepEqual(
        left.map((s) => s.name),
        ['renewed', 'reregistered'],
        'the services renewed or re-registered while prune was paused are still registered',
      )
      assert.ok(Date.parse(left[0]!.expires!) > later, 'with the renewed expiry')
      assert.equal(left[1]!.expires, undefined, 'and the re-registration without a TTL')
      assert.deepEqual(
        result.removed.map((e) => e.name),
        ['stale'],
      )
      assert.deepEqual(
        result.changed.map((e) => [e.name, e.reason]),
        [
          ['renewed', 'changed since it was listed'],
          ['reregistered', 'changed since it was listed'],
        ],
      )
    })

    it('kube discover never overwrites or removes a service registered by hand while it was paused', async () => {
      const ns = 'k8s'
      const owner = 'cluster-a'
      await b.client.registerNamespace(ns)
      const ours = (pod: string) => ({[OWNER_LABEL]: owner, kube_namespace: 'shop', node: 'node-a', pod})
      // Owned already: one whose pod is gone (to remove) and one whose pod changed (to update).
      await b.client.importServices({
        services: [
          {name: 'gone', namespace: ns, endpoint: 'http://127.0.0.62:9100/metrics', labels: ours('gone-0')},
          {name: 'web', namespace: ns, endpoint: 'http://127.0.0.63:9100/metrics', labels: ours('web-0')},
        ],
      })
      const targets = [
        target('api-0', '127.0.0.61', 'api'), // new: to create
        target('web-0', '127.0.0.63', 'web', {tier: 'front'}), // changed: to update
        target('db-0', '127.0.0.64', 'db'), // new, and nobody else touches it
      ]
      let pauses = 0
      const result = await reconcile(b.client, targets, {
        namespace: ns,
        ownerId: owner,
        nameFrom: {kind: 'owner'},
        beforeWrite: async () => {
          if (pauses++ > 0) return
          for (const ip of ['127.0.0.61', '127.0.0.62', '127.0.0.63'])
            await b.other.registerServices({name: 'by-hand', namespace: ns, endpoints: [`http://${ip}:9100/metrics`]})
        },
      })
      assert.ok(pauses >= 1, 'discover paused between its read and its write')
      const after = await listed(b.client, ns)
      assert.deepEqual(
        after.map((s) => [s.endpoint, s.name, s.labels[OWNER_LABEL] ?? '(by hand)']),
        [
          ['http://127.0.0.61:9100/metrics', 'by-hand', '(by hand)'],
          ['http://127.0.0.62:9100/metrics', 'by-hand', '(by hand)'],
          ['http://127.0.0.63:9100/metrics', 'by-hand', '(by hand)'],
          ['http://127.0.0.64:9100/metrics', 'db', owner],
        ],
        'the services registered by hand while discover was paused are left as they were registered',
      )
      assert.deepEqual(
        result.conflicts.map((c) => c.endpoint),
        ['http://127.0.0.61:9100/metrics', 'http://127.0.0.63:9100/metrics'],
        'and reported as conflicts',
      )
      assert.deepEqual([result.created, result.removed], [1, 0])
      assert.ok(result.replanned >= 1, 'the reconcile planned again after its write was refused')
      assert.match(
        reconcileLine(result),
        /→ 1 created, .*; 2 conflicting \(not owned, left alone\), planned again 1× \(services changed between read and write\)\.$/,
      )
    })
  })
}
