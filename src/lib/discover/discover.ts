/**
 * `roster kube discover`: Kubernetes pods with Prometheus' scrape annotations become services in
 * the registry. Once: one paginated list, one reconcile. Otherwise an informer (list, then
 * watch from the resourceVersion, relist on 410) keeps the target pods current and every change
 * requests a reconcile from a bounded-frequency runner: at most one per min interval (a burst of
 * pod events becomes one reconcile), at least one per max interval (repairs a hand-made change).
 */
import type {ClusterClient, ClusterClientOptions} from '../cluster/cluster-client.js'
import type {RegistryClient} from '../registry/registry-client.js'
import {podTarget, type KubePod, type PodSummaryOptions, type PodTarget} from './pods.js'
import {reconcile, requireNamespace, type ReconcileOptions, type ReconcileResult} from './reconcile.js'

export interface PodSelection {
  /** Only this Kubernetes namespace (default: all). */
  kubeNamespace?: string
  labelSelector?: string
}

export interface DiscoverOptions extends ClusterClientOptions, PodSelection, ReconcileOptions {
  pods: PodSummaryOptions
}

export function podsPath(client: Pick<ClusterClient, 'pathOf'>, kubeNamespace?: string): string {
  // pathOf knows nodes/services/ingresses; pods sit beside services in the core group.
  return client.pathOf('services', kubeNamespace).replace(/services$/, 'pods')
}

/** Lists the pods once (paginated) and keeps their targets. */
export async function listPodTargets(client: ClusterClient, selection: PodSelection, o: PodSummaryOptions): Promise<PodTarget[]> {
  const listed = await client.listAll<KubePod, PodTarget | null>(podsPath(client, selection.kubeNamespace), (pod) => podTarget(pod, o), {
    labelSelector: selection.labelSelector,
    action: selection.kubeNamespace ? `list pods in namespace "${selection.kubeNamespace}"` : 'list pods',
  })
  return listed.items.filter((t): t is PodTarget => t !== null)
}

export async function discoverOnce(registry: RegistryClient, options: DiscoverOptions): Promise<ReconcileResult & {requests: number}> {
  await requireNamespace(registry, options.namespace)
  const {createClusterClient} = await import('../cluster/cluster-client.js')
  const client = await createClusterClient(options)
  try {
    const targets = await listPodTargets(client, options, options.pods)
    const result = await reconcile(registry, targets, options)
    return {...result, requests: client.requestCount()}
  } finally {
    client.close()
  }
}

export interface DiscoverLoopOptions extends DiscoverOptions {
  minIntervalMs: number
  maxIntervalMs: number
  signal: AbortSignal
  onResult: (result: ReconcileResult) => void
  /** A failed reconcile (reported; the runner retries) or a failed API call (the informer retries). */
  onError: (error: unknown) => void
  onHealthy?: () => void
}

export async function runDiscoverLoop(registry: RegistryClient, options: DiscoverLoopOptions): Promise<{syncs: number}> {
  await requireNamespace(registry, options.namespace)
  const {createClusterClient} = await import('../cluster/cluster-client.js')
  const {runInformer} = await import('../cluster/informer.js')
  const {BoundedFrequencyRunner} = await import('../loop/bounded-frequency-runner.js')
  const client = await createClusterClient(options)
  let state: ReadonlyMap<string, PodTarget | null> | undefined
  const runner = new BoundedFrequencyRunner(
    async () => {
      if (!state) return
      const targets = [...state.values()].filter((t): t is PodTarget => t !== null)
      options.onResult(await reconcile(registry, targets, options))
    },
    {minIntervalMs: options.minIntervalMs, maxIntervalMs: options.maxIntervalMs, onError: options.onError},
  )
  try {
    await runInformer<KubePod, PodTarget | null>({
      client,
      path: podsPath(client, options.kubeNamespace),
      map: (pod) => podTarget(pod, options.pods),
      list: {labelSelector: options.labelSelector},
      signal: options.signal,
      onSynced: (items) => {
        state = items
        runner.run()
      },
      onChange: (_type, _key, item, previous) => {
        // Non-target pods changing (null → null) never request a reconcile.
        if (item || previous) runner.run()
      },
      onError: (error) => options.onError(error),
      onHealthy: options.onHealthy,
    })
  } finally {
    await runner.stop()
    client.close()
  }
  return {syncs: runner.syncs}
}
