/**
 * Change triggers for the loops (`dns sync` and `sd export` in watch mode, `kube discover`): call
 * `onChange` when the registry's store changes, through the store follower on the whole store,
 * listing only the revision (a trigger reads no data: on SQLite an idle poll is one indexed
 * read, on etcd a pushed event). The callback only *requests* a sync (a bounded-frequency runner
 * coalesces the bursts); it is never given the data. A relist (after a compacted or broken
 * watch) requests one too: a change may have gone unseen.
 */
import {follow} from '../store/follower.js'
import type {Store} from '../store/store.js'

export {storeRevision} from '../store/store.js'

export interface RegistryChangeWatch {
  close(): Promise<void>
}

export interface WatchRegistryOptions {
  /** An error of the follower: an ended watch, a failed relist (it goes on). */
  onError?: (error: unknown) => void
}

export async function watchRegistryChanges(
  store: Store,
  onChange: () => void,
  options: WatchRegistryOptions = {},
): Promise<RegistryChangeWatch> {
  const follower = await follow(
    store,
    '',
    {
      onSnapshot: (_kvs, _revision, relisted) => {
        if (relisted) onChange()
      },
      onEvent: () => onChange(),
      onError: (error) => options.onError?.(error),
    },
    {list: 'revision'},
  )
  return {close: () => follower.close()}
}
