/**
 * `dns sync` in watch mode: the same runs as the interval loop (runSyncLoop), but started by changes —
 * the registry's store (registry source) and the cluster's Services and Ingresses (kubernetes
 * source) — through the bounded-frequency runner: at most one run per min interval, at least one
 * per `intervalMs` (the max interval). Sources without a change feed (files) rely on the max interval.
 */
import type {ClusterClientOptions} from '../cluster/cluster-client.js'
import type {SyncLoopOptions, SyncOptions} from '../dns/sync.js'
import type {Store} from '../store/store.js'
import {clusterTrigger, registryTrigger, runWatchLoop, type ChangeTrigger} from './watch-loop.js'

export const DEFAULT_WATCH_MIN_INTERVAL_MS = 1000
export const DEFAULT_WATCH_MAX_INTERVAL_MS = 60_000

export interface DnsSyncTriggerOptions {
  sources: readonly string[]
  /** The local registry's store (undefined for a remote registry: the max interval covers it). */
  store?: Store
  cluster: ClusterClientOptions & {namespace?: string; labelSelector?: string}
}

export function dnsSyncTriggers(o: DnsSyncTriggerOptions): ChangeTrigger[] {
  const triggers: ChangeTrigger[] = []
  if (o.sources.includes('registry') && o.store) triggers.push(registryTrigger(o.store))
  if (o.sources.includes('kubernetes')) triggers.push(clusterTrigger({...o.cluster, kinds: ['services', 'ingresses']}))
  return triggers
}

/** A drop-in for runSyncLoop whose runs are started by the triggers (and at least every loop.intervalMs). */
export function syncWatchLoop(triggers: ChangeTrigger[], minIntervalMs = DEFAULT_WATCH_MIN_INTERVAL_MS) {
  return async (makeOptions: () => SyncOptions | Promise<SyncOptions>, loop: SyncLoopOptions): Promise<number> => {
    const {runSync} = await import('../dns/sync.js')
    return runWatchLoop(async () => loop.onResult(await runSync(await makeOptions())), {
      minIntervalMs: Math.min(minIntervalMs, loop.intervalMs),
      maxIntervalMs: loop.intervalMs,
      signal: loop.signal,
      triggers,
      onError: loop.onError,
    })
  }
}
