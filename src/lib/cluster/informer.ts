/**
 * List, then watch from the list's resourceVersion; resume from the last resourceVersion seen
 * (events and bookmarks) when a stream ends; relist when the server says 410 (too old). Keeps a
 * map of summaries (never the raw objects). A failed API call never ends it: it reports the
 * error, keeps the last good state, and retries with capped exponential backoff until aborted.
 * While nothing changes, the only request is the one open watch.
 */
import {InvalidInputError} from '../errors.js'
import {ResourceExpiredError, type ClusterClient, type ListOptions} from './cluster-client.js'
import type {ObjectMeta} from './kube-types.js'

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED'

export interface InformerOptions<T extends {metadata: ObjectMeta}, S> {
  client: ClusterClient
  path: string
  map: (item: T) => S
  /** Summaries equal by this are not reported as MODIFIED (e.g. a heartbeat-only change). */
  equals?: (a: S, b: S) => boolean
  list?: ListOptions
  signal: AbortSignal
  backoff?: {initialMs?: number; maxMs?: number}
  /** After every (re)list, with the whole state. The first call ends the initial sync. */
  onSynced?: (items: ReadonlyMap<string, S>, info: {relist: boolean}) => void
  /** A change, after the initial list (relists report their differences as changes too). */
  onChange?: (type: ChangeType, key: string, item: S | undefined, previous: S | undefined) => void
  /** An API call failed; the informer keeps the last state and retries after `retryInMs`. */
  onError?: (error: Error, retryInMs: number) => void
  /** The API answered again (list succeeded or a watch stream opened). */
  onHealthy?: () => void
  /** Errors that end the informer instead of retrying (default: invalid input, e.g. a bad selector). */
  isFatal?: (error: Error) => boolean
}

export function objectKey(meta: ObjectMeta): string {
  return meta.namespace ? `${meta.namespace}/${meta.name}` : meta.name
}

/** Runs until the signal aborts; rejects only on a fatal error. */
export async function runInformer<T extends {metadata: ObjectMeta}, S>(o: InformerOptions<T, S>): Promise<void> {
  const initialMs = o.backoff?.initialMs ?? 500
  const maxMs = o.backoff?.maxMs ?? 30_000
  const equals = o.equals ?? ((a: S, b: S) => JSON.stringify(a) === JSON.stringify(b))
  const isFatal = o.isFatal ?? ((e: Error) => e instanceof InvalidInputError)
  let items = new Map<string, S>()
  let synced = false
  let resourceVersion: string | undefined
  let delay = initialMs

  while (!o.signal.aborted) {
    const listing = resourceVersion === undefined
    try {
      if (resourceVersion === undefined) {
        const listed = await o.client.listAll<T, [string, S]>(o.path, (item) => [objectKey(item.metadata), o.map(item)], o.list ?? {})
        const next = new Map(listed.items)
        const changes: Array<[ChangeType, string, S | undefined, S | undefined]> = []
        if (synced) {
          for (const [key, prev] of items) if (!next.has(key)) changes.push(['DELETED', key, undefined, prev])
          for (const [key, item] of next) {
            const prev = items.get(key)
            if (prev === undefined) changes.push(['ADDED', key, item, undefined])
            else if (!equals(prev, item)) changes.push(['MODIFIED', key, item, prev])
          }
        }
        items = next
        resourceVersion = listed.resourceVersion
        o.onHealthy?.()
        o.onSynced?.(items, {relist: synced})
        synced = true
        for (const change of changes) o.onChange?.(...change)
      }
      const started = Date.now()
      await o.client.watch<T>(o.path, {
        resourceVersion,
        labelSelector: o.list?.labelSelector,
        fieldSelector: o.list?.fieldSelector,
        signal: o.signal,
        onOpen: () => {
          delay = initialMs
          o.onHealthy?.()
        },
        onEvent: (event) => {
          const rv = event.object?.metadata?.resourceVersion
          if (rv) resourceVersion = rv
          if (event.type === 'BOOKMARK') return
          const key = objectKey(event.object.metadata)
          const prev = items.get(key)
          if (event.type === 'DELETED') {
            if (items.delete(key)) o.onChange?.('DELETED', key, undefined, prev)
            return
          }
          const item = o.map(event.object)
          items.set(key, item)
          if (prev === undefined) o.onChange?.('ADDED', key, item, undefined)
          else if (!equals(prev, item)) o.onChange?.('MODIFIED', key, item, prev)
        },
      })
      // The stream ended (server timeout, restart): resume from resourceVersion. A stream that
      // ends at once again and again gets the backoff, so a flapping server is not hammered.
      if (Date.now() - started < 1000 && !o.signal.aborted) {
        await sleep(delay, o.signal)
        delay = Math.min(delay * 2, maxMs)
      }
    } catch (error) {
      if (o.signal.aborted) return
      if (error instanceof ResourceExpiredError && !listing) {
        resourceVersion = undefined
        continue
      }
      if (isFatal(error as Error)) throw error
      o.onError?.(error as Error, delay)
      await sleep(delay, o.signal)
      delay = Math.min(delay * 2, maxMs)
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const done = () => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, {once: true})
  })
}
