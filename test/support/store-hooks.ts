/** A Store whose transactions go through a function of the test's (a hook before them, or a change of what they write). */
import type {Store} from '../../src/lib/store/store.js'

export function withTxn(store: Store, txn: Store['txn']): Store {
  return {
    description: store.description,
    get: (key) => store.get(key),
    getMany: (keys) => store.getMany(keys),
    range: (prefix, options) => store.range(prefix, options),
    snapshot: (revision) => store.snapshot(revision),
    txn,
    watch: (prefix, from, onEvent) => store.watch(prefix, from, onEvent),
    close: () => store.close(),
  }
}
