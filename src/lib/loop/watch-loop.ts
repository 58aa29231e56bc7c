/**
 * Event-driven loops (`dns sync` and `sd export` in watch mode): change triggers (the registry's
 * store, the cluster) request syncs from one bounded-frequency runner — at most one per min
 * interval, bursts coalesced, and at least one per max interval (the interval setting), so a
 * missed event costs at most one interval. Runs until the signal aborts; a sync in progress
 * finishes first.
 */
import type {Store} from '../store/store.js'
import type {ResourceKind} from '../cluster/cluster-client.js'
import type {ClusterClientOptions} from '../cluster/cluster-client.js'
import {BoundedFrequencyRunner} from './bounded-frequency-runner.js'

/** Starts watching; calls `onChange` on every change until `signal` aborts. Resolves when it has stopped. */
export type ChangeTrigger = (onChange: () => void, signal: AbortSignal, onError: (error: unknown) => void) => Promise<void>

export interface WatchLoopOptions {
  minIntervalMs: number
  maxIntervalMs: number
  signal: AbortSignal
  triggers: ChangeTrigger[]
  /** Errors of a sync (retried by the runner) and of a trigger (it keeps retrying or the max interval covers). */
  onError: (error: unknown) => void
  /** Sync errors that end the loop (runWatchLoop rejects with them) instead of being retried. */
  isFatal?: (error: unknown) => boolean
}

/** Runs `sync` on changes and at least every max interval until the signal aborts; returns the number of syncs. */
export async function runWatchLoop(sync: () => Promise<void>, o: WatchLoopOptions): Promise<number> {
  // Ends on the caller's signal, or on a fatal sync error.
  const stop = new AbortController()
  const onAbort = (): void => stop.abort()
  if (o.signal.aborted) stop.abort()
  else o.signal.addEventListener('abort', onAbort, {once: true})
  let fatal: {error: unknown} | undefined
  const guarded = async (): Promise<void> => {
    try {
      await sync()
    } catch (error) {
      if (o.isFatal?.(error)) {
        fatal = {error}
        stop.abort()
        return
      }
      throw error
    }
  }
  const runner = new BoundedFrequencyRunner(guarded, {minIntervalMs: o.minIntervalMs, maxIntervalMs: o.maxIntervalMs, onError: o.onError})
  try {
    runner.start()
    const watching = o.triggers.map((trigger) =>
      trigger(() => runner.run(), stop.signal, o.onError).catch((error: unknown) => {
        // A trigger that ends with an error leaves the max interval in charge.
        if (!stop.signal.aborted) o.onError(error)
      }),
    )
    await new Promise<void>((resolve) => {
      if (stop.signal.aborted) return resolve()
      stop.signal.addEventListener('abort', () => resolve(), {once: true})
    })
    await Promise.all(watching)
    await runner.stop()
  } finally {
    o.signal.removeEventListener('abort', onAbort)
  }
  if (fatal) throw fatal.error
  return runner.syncs
}

/** Registry changes: the store follower (registry-changes.ts). */
export function registryTrigger(store: Store): ChangeTrigger {
  return async (onChange, signal, onError) => {
    const {watchRegistryChanges} = await import('./registry-changes.js')
    const watch = await watchRegistryChanges(store, onChange, {onError})
    await new Promise<void>((resolve) => {
      if (signal.aborted) return resolve()
      signal.addEventListener('abort', () => resolve(), {once: true})
    })
    await watch.close()
  }
}

/** Cluster changes: informers on the given kinds (list, watch, relist on 410). */
export function clusterTrigger(
  o: ClusterClientOptions & {kinds: ResourceKind[]; namespace?: string; labelSelector?: string},
): ChangeTrigger {
  return async (onChange, signal, onError) => {
    const {watchClusterChanges} = await import('./cluster-changes.js')
    await watchClusterChanges({...o, signal, onError: (error) => onError(error)}, onChange)
  }
}
