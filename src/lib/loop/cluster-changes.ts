/**
 * A change trigger for loops whose source is the cluster (`dns sync` watching the kubernetes source):
 * informers (list, then watch from the resourceVersion, relist on 410) on the given resources
 * call `onChange` after their first list and for every change that matters (status heartbeats
 * and resourceVersion-only updates are not changes). Runs until the signal aborts.
 */
import type {ClusterClientOptions, ResourceKind} from '../cluster/cluster-client.js'
import type {ObjectMeta} from '../cluster/kube-types.js'

export interface WatchClusterOptions extends ClusterClientOptions {
  kinds: ResourceKind[]
  namespace?: string
  labelSelector?: string
  signal: AbortSignal
  onError?: (error: Error, retryInMs: number) => void
}

interface AnyObject {
  metadata: ObjectMeta
  spec?: unknown
  status?: unknown
}

/** What of an object a DNS source reads: labels, annotations, spec and status. */
function relevant(o: AnyObject): string {
  return JSON.stringify([o.metadata.labels ?? {}, o.metadata.annotations ?? {}, o.spec ?? null, o.status ?? null])
}

export async function watchClusterChanges(options: WatchClusterOptions, onChange: () => void): Promise<void> {
  const {createClusterClient} = await import('../cluster/cluster-client.js')
  const {runInformer} = await import('../cluster/informer.js')
  const client = await createClusterClient(options)
  try {
    await Promise.all(
      options.kinds.map((kind) =>
        runInformer<AnyObject, string>({
          client,
          path: client.pathOf(kind, options.namespace),
          map: relevant,
          equals: (a, b) => a === b,
          list: {labelSelector: options.labelSelector},
          signal: options.signal,
          onSynced: (_items, info) => {
            if (info.relist) onChange()
          },
          onChange: () => onChange(),
          onError: options.onError,
        }),
      ),
    )
  } finally {
    client.close()
  }
}
