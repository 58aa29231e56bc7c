/**
 * Change triggers for the loops (`dns sync` and `sd export` in watch mode, `kube discover`): call
 * `onChange` when the registry's store changes. etcd: the store's watch (one stream, pushed). SQLite
 * (no watch): a cheap check of the store-wide revision every `pollMs` — one indexed read of one
 * key, never a read of the services. The callback only *requests* a sync (a bounded-frequency
 * runner coalesces the bursts); it is never given the data.
 */
import type {Store, Watch} from '../store/store.js'

export interface RegistryChangeWatch {
  close(): Promise<void>
}

export interface WatchRegistryOptions {
  /** Revision check interval when the store has no watch. Default 1000 ms. */
  pollMs?: number
  /** An error of the watch or the check (the next check goes on). */
  onError?: (error: unknown) => void
}

/** The store-wide revision, read with one key (0 for an empty store). */
export async function storeRevision(store: Store): Promise<number> {
  for await (const page of store.range('', {pageSize: 1})) return page.revision
  return 0
}

export async function watchRegistryChanges(
  store: Store,
  onChange: () => void,
  options: WatchRegistryOptions = {},
): Promise<RegistryChangeWatch> {
  let revision = await storeRevision(store)
  if (store.watch) {
    const watch: Watch = await store.watch('', revision, () => onChange())
    return {close: () => watch.close()}
  }
  let closed = false
  let checking: Promise<void> | undefined
  const check = async (): Promise<void> => {
    try {
      const now = await storeRevision(store)
      if (!closed && now !== revision) {
        revision = now
        onChange()
      }
    } catch (error) {
      if (!closed) options.onError?.(error)
    }
  }
  const timer = setInterval(() => {
    if (!checking) checking = check().finally(() => (checking = undefined))
  }, options.pollMs ?? 1000)
  timer.unref()
  return {
    close: async () => {
      closed = true
      clearInterval(timer)
      await checking
    },
  }
}
