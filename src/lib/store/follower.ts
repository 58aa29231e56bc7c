/**
 * The one way roster follows the store (Kubernetes' reflector, on the Store seam): list a prefix
 * at a revision, then watch from that revision. When the watch ends by itself (a CompactedError:
 * the history to replay is gone; or the backend broke it off) the follower lists again and
 * watches from the new list's revision, retrying a failed list with backoff until it is closed.
 * It feeds serve's view (server/view.ts, which answers token revocations too) and every
 * watch-mode trigger (loop/registry-changes.ts), on both backends alike.
 *
 * A consumer gets a snapshot (the prefix at one revision: the first, and one after every relist,
 * which replaces what it held) and then the events after it, in revision order.
 */
import {retryWithBackoff} from './retry.js'
import {storeRevision, type KeyValue, type Store, type Watch, type WatchEvent} from './store.js'

export interface FollowHandlers {
  /**
   * The prefix at `revision` (with `list: 'revision'`, no keys: only the revision). Called once
   * before follow() resolves, and again after every relist: the keys replace what came before.
   */
  onSnapshot(kvs: KeyValue[], revision: number, relisted: boolean): void
  /**
   * With it, each page of a list comes here as it is read (`first`: the first page of a list; a
   * list that failed part way is listed again from its first page), and onSnapshot gets no keys:
   * the consumer builds the snapshot itself, without the whole list held at once.
   */
  onSnapshotPage?(kvs: KeyValue[], first: boolean): void
  /** A change after the last snapshot. */
  onEvent(event: WatchEvent): void
  /** An ended watch and every failed relist (the follower goes on); a throwing handler too. */
  onError?(error: unknown): void
}

export interface FollowOptions {
  /** 'values' (default): the snapshot holds the keys; 'revision': only its revision (a trigger that reads no data). */
  list?: 'values' | 'revision'
  /** Page size of the list. */
  pageSize?: number
  /** A sub-prefix the list leaves out (see RangeOptions.skip); the watch still delivers its changes. */
  skip?: string
  /** Backoff between failed relists: first delay, doubling up to the maximum. Defaults 100 and 5000. */
  initialDelayMs?: number
  maxDelayMs?: number
}

export interface Follower {
  /** The revision of the last snapshot or event delivered. */
  readonly revision: number
  /** When the follower last knew it was current (epoch ms): a snapshot, an event, or the watch's confirmation. */
  readonly confirmedAt: number
  /** Resolves once the changes committed before the call are delivered (see Watch.sync). */
  sync(): Promise<void>
  /** Stops following; no handler is called after it resolves. */
  close(): Promise<void>
}

/**
 * Lists `prefix`, hands the snapshot to `handlers.onSnapshot`, watches from its revision, and
 * resolves once the watch runs. A failure of that first list or watch is thrown (the store has
 * retried it until its timeout); later ones are retried until close().
 */
export async function follow(store: Store, prefix: string, handlers: FollowHandlers, options: FollowOptions = {}): Promise<Follower> {
  const follower = new StoreFollower(store, prefix, handlers, options)
  await follower.start()
  return follower
}

class StoreFollower implements Follower {
  revision = 0
  private snapshotAt = 0
  private watch?: Watch
  /** Events that came before their snapshot went out. */
  private early?: WatchEvent[]
  private closed = false
  private readonly stop = new AbortController()
  private running?: Promise<void>

  constructor(
    private readonly store: Store,
    private readonly prefix: string,
    private readonly handlers: FollowHandlers,
    private readonly options: FollowOptions,
  ) {}

  get confirmedAt(): number {
    return Math.max(this.snapshotAt, this.watch?.progress().confirmedAt ?? 0)
  }

  async start(): Promise<void> {
    await this.listAndWatch(false)
    this.running = this.run()
  }

  async sync(): Promise<void> {
    await this.watch?.sync()
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.stop.abort()
    await this.watch?.close()
    await this.running
  }

  /**
   * Relists whenever the watch ends with an error, until closed. A watch that ends without one
   * was closed by its store (store.close()): there is nothing left to follow, so the follower stops.
   */
  private async run(): Promise<void> {
    while (!this.closed && this.watch) {
      const error = await this.watch.ended
      if (this.closed) return
      this.watch = undefined
      if (!error) {
        this.closed = true
        return
      }
      this.report(error)
      try {
        await retryWithBackoff(
          () =>
            this.listAndWatch(true).catch((e: unknown) => {
              if (!this.closed) this.report(e)
              throw e
            }),
          {
            deadline: Number.POSITIVE_INFINITY,
            isRetryable: () => !this.closed,
            onExhausted: (e) => (e instanceof Error ? e : new Error(String(e))),
            initialDelayMs: this.options.initialDelayMs ?? 100,
            maxDelayMs: this.options.maxDelayMs ?? 5000,
            signal: this.stop.signal,
          },
        )
      } catch {
        return // closed
      }
    }
  }

  private async listAndWatch(relisted: boolean): Promise<void> {
    let revision = 0
    const kvs: KeyValue[] = []
    if (this.options.list === 'revision') {
      revision = await storeRevision(this.store)
    } else {
      const onPage = this.handlers.onSnapshotPage
      let first = true
      for await (const page of this.store.range(this.prefix, {pageSize: this.options.pageSize, skip: this.options.skip})) {
        revision = page.revision
        if (!onPage) kvs.push(...page.kvs)
        else if (!this.closed) {
          try {
            onPage(page.kvs, first)
          } catch (error) {
            this.report(error)
          }
        }
        first = false
      }
    }
    if (this.closed) return
    const early: WatchEvent[] = []
    this.early = early
    let watch: Watch
    try {
      watch = await this.store.watch(this.prefix, revision, (event) => this.deliver(event))
    } finally {
      this.early = undefined
    }
    if (this.closed) {
      await watch.close()
      return
    }
    this.revision = revision
    this.snapshotAt = Date.now()
    this.watch = watch
    try {
      this.handlers.onSnapshot(kvs, revision, relisted)
    } catch (error) {
      this.report(error)
    }
    for (const event of early) this.deliver(event)
  }

  private deliver(event: WatchEvent): void {
    if (this.closed) return
    if (this.early) {
      this.early.push(event)
      return
    }
    this.revision = Math.max(this.revision, event.type === 'put' ? event.kv.modRevision : event.modRevision)
    try {
      this.handlers.onEvent(event)
    } catch (error) {
      this.report(error)
    }
  }

  private report(error: unknown): void {
    try {
      this.handlers.onError?.(error)
    } catch {
      // A failing error handler must not stop the follower.
    }
  }
}
