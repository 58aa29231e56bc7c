/**
 * Redistribution: recomputes every service's assignment from the current topology and rewrites
 * the services whose servers changed, in batched transactions that compare the topology revision.
 */
import {RETRY} from '../store/cas.js'
import {type Compare, type KeyValue, MAX_TXN_OPS, type Operation} from '../store/store.js'
import {BATCH_BYTES} from './batches.js'
import {type RegistryContext, parseJson} from './context.js'
import type {ObjectChange} from './history/event.js'
import {changeBytes, historyOp, serviceChange} from './history/record.js'
import {assignServers, sameServers} from './distribution.js'
import {SERVICES_PREFIX, TOPOLOGY_KEY} from './keys.js'
import type {Service} from './model.js'
import {SelectorCache} from './selector.js'
import {type Topology, readTopology, topologyRevision} from './topology.js'
import type {RedistributionResult} from './types.js'

/** Thrown inside a pass when the topology changed under it: the pass starts again. */
class TopologyChanged extends Error {}

/**
 * Recomputes every service's assignment from the current servers and settings and rewrites
 * the changed ones, in transactions of at most MAX_TXN_OPS operations, each comparing the
 * topology revision and every service's mod revision. Restarts when the topology changes.
 */
export function redistribute(ctx: RegistryContext): Promise<RedistributionResult> {
  return ctx.cas('redistribution', async () => {
    try {
      return await redistributionPass(ctx)
    } catch (error) {
      if (error instanceof TopologyChanged) return RETRY
      throw error
    }
  })
}

async function redistributionPass(ctx: RegistryContext): Promise<RedistributionResult> {
  const topology = await readTopology(ctx)
  const selectors = new SelectorCache()
  const assign = (s: Service): string[] => {
    try {
      return assignServers(s, topology.servers, topology.settings.replicas, selectors)
    } catch {
      return [] // a stored selector that no longer parses selects nothing
    }
  }
  const counts: RedistributionResult = {checked: 0, moved: 0, unassigned: 0}
  let batch: {kv: KeyValue; service: Service; change: ObjectChange}[] = []
  let batchBytes = 0

  const flush = async (): Promise<void> => {
    if (batch.length === 0) return
    const items = batch
    batch = []
    batchBytes = 0
    const compares: Compare[] = [
      {key: TOPOLOGY_KEY, modRevision: topology.revision},
      ...items.map(({kv}) => ({key: kv.key, modRevision: kv.modRevision})),
    ]
    const ops: Operation[] = items.map(({kv, service}) => ({type: 'put', key: kv.key, value: JSON.stringify(service)}))
    const result = await ctx.store.txn(compares, [...ops, historyOp(ctx, ...items.map((i) => i.change))])
    if (result.succeeded) return
    if ((await topologyRevision(ctx)) !== topology.revision) throw new TopologyChanged()
    // Some of the services changed since the page was read: redo them one by one.
    for (const {kv} of items) await rewriteOne(ctx, kv.key, topology, assign)
  }

  for await (const page of ctx.store.range(SERVICES_PREFIX, {pageSize: ctx.pageSize})) {
    for (const kv of page.kvs) {
      counts.checked++
      const service = parseJson<Service>(kv)
      const servers = assign(service)
      if (servers.length === 0) counts.unassigned++
      if (sameServers(servers, service.servers)) continue
      counts.moved++
      const moved: Service = {...service, servers, modified: ctx.timestamp()}
      const change = serviceChange(service, moved, 'move')
      batch.push({kv, service: moved, change})
      batchBytes += kv.key.length + kv.value.length + 64 * servers.length + 256 + changeBytes(change)
      if (batch.length >= MAX_TXN_OPS - 1 || batchBytes >= BATCH_BYTES) await flush()
    }
  }
  await flush()
  return counts
}

/** Re-reads one service and rewrites its assignment if it changed, under the pass's topology. */
function rewriteOne(ctx: RegistryContext, key: string, topology: Topology, assign: (s: Service) => string[]): Promise<void> {
  return ctx.cas(`service key "${key}"`, async () => {
    const kv = await ctx.store.get(key)
    if (!kv) return
    const service = parseJson<Service>(kv)
    const servers = assign(service)
    if (sameServers(servers, service.servers)) return
    const updated: Service = {...service, servers, modified: ctx.timestamp()}
    const result = await ctx.store.txn(
      [
        {key: TOPOLOGY_KEY, modRevision: topology.revision},
        {key, modRevision: kv.modRevision},
      ],
      [{type: 'put', key, value: JSON.stringify(updated)}, historyOp(ctx, serviceChange(service, updated, 'move'))],
    )
    if (result.succeeded) return
    if ((await topologyRevision(ctx)) !== topology.revision) throw new TopologyChanged()
    return RETRY
  })
}
