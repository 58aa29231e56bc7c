/**
 * The etcd Store backend (the `etcd3` client over gRPC), for a fleet.
 *
 * - Keys live under a prefix (default `/roster/`); the Store's keys are logical, the prefix is
 *   added on write and stripped on read.
 * - `range()` is always paginated: `limit` per page (no sort option: etcd returns keys in byte
 *   order, and a sort option makes it read the whole range), the next page from the last key + "\0",
 *   every page read at the first page's revision. An unbounded read of a large prefix fails at
 *   gRPC's 4 MiB receive limit, so pages are sized by bytes (PAGE_BYTES, from the previous page's
 *   bytes per key) up to the caller's page size; a page that still hits the limit (values larger
 *   than the page before's) is re-read at half the size.
 * - `snapshot()` is a revision every range of it reads at (etcd's MVCC), kept until etcd
 *   compacts it; a read at a compacted revision is a CompactedError.
 * - `txn()`: compares on mod revision (0: create revision = 0, the key is absent), at most 128
 *   operations and MAX_TXN_BYTES (etcd refuses more than 1.5 MiB a request), checked before
 *   sending.
 * - Retries: etcd3's own retry and circuit-breaker policies are replaced by one loop here, with
 *   backoff, over every endpoint, bounded by the operation's timeout; then
 *   BackendUnavailableError naming the endpoints (exit 3). A write is retried only when the
 *   cluster was unreachable or the call timed out; a transaction that was applied but whose answer
 *   was lost then reports `succeeded: false` on its retry (its compare no longer holds): callers
 *   re-read and find their write done, which is why every registry write is "make it so", never
 *   "add one".
 * - Authentication failures and permission denials are NotAllowedError (exit 4).
 * - `watch()`: one etcd watcher per call (etcd3 multiplexes them on one stream, and after a
 *   broken connection resumes each from the last revision it delivered). etcd cancels a watcher
 *   whose start revision was compacted without saying so in words (a bare cancel carrying
 *   compact_revision, which etcd3 turns into an error "Watcher canceled: "), so a cancelled
 *   watcher is told apart by a range at its start revision: ErrCompacted there makes the
 *   ending a CompactedError, the class a range at a compacted revision throws too.
 * - `close()` cancels watchers and closes every gRPC channel, so the process can exit.
 */
import type {Etcd3, IKeyValue, IOptions, IRangeResponse, IRequestOp, ICompare, Watcher} from 'etcd3'

import {BackendUnavailableError, InvalidInputError, NotAllowedError, RosterError, setting} from '../errors.js'
import {formatDuration} from '../config/duration.js'
import {retryWithBackoff} from './retry.js'
import {
  checkTxnLimits,
  CompactedError,
  MAX_TXN_OPS,
  DEFAULT_PAGE_SIZE,
  PAGE_BYTES,
  pageSizeOf,
  rangeSpans,
  type Compare,
  type KeyValue,
  type Operation,
  type RangeOptions,
  type RangePage,
  type Snapshot,
  type Store,
  type TxnResult,
  type Watch,
  type WatchEvent,
} from './store.js'

export interface EtcdStoreOptions {
  /** `host:port` each. */
  hosts: string[]
  tls: boolean
  /** Key prefix, e.g. `/roster/`. */
  prefix: string
  /** Bound on each operation, retries included. */
  timeoutMs: number
  auth?: {username: string; password: string}
  /** PEM contents. */
  ca?: Buffer
  cert?: Buffer
  key?: Buffer
}

/** The first page of a range, before the size of its records is known: at most this many keys. */
const FIRST_PAGE_KEYS = DEFAULT_PAGE_SIZE

/** The widest window of a range, in pages' worth of the key space judged from the last page. */
const MAX_WINDOW_STRETCH = 64n

/** One page as etcd answered it, and the limit it was asked with. */
interface PageRead {
  response: IRangeResponse
  limit: number
}

/** The keys the next page asks for: as many as PAGE_BYTES holds at `bytesPerKey`, within 1 and `maxKeys`. */
export function pageLimit(bytesPerKey: number, maxKeys: number): number {
  return Math.max(1, Math.min(maxKeys, Math.floor(PAGE_BYTES / Math.max(1, bytesPerKey))))
}

/** etcd's byte-wise range end for "every key starting with `prefix`" (prefix non-empty). */
export function prefixRangeEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix)
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1
      return end.subarray(0, i + 1)
    }
  }
  return Buffer.from([0]) // all 0xff: to the end of the key space
}

/** How many bytes of a key after a range's prefix windowKeyNumber reads: a namespace name (63) and more. */
const WINDOW_KEY_BYTES = 96

/** The first WINDOW_KEY_BYTES bytes of `key` after its first `skip`, as a number (zeros past its end). */
export function windowKeyNumber(key: Buffer, skip: number): bigint {
  let n = 0n
  for (let i = 0; i < WINDOW_KEY_BYTES; i++) n = (n << 8n) | BigInt(key[skip + i] ?? 0)
  return n
}

/** The key `width` past `from` (both read after `prefix`), or `rangeEnd` when that is at or past it. */
export function windowEnd(prefix: Buffer, from: Buffer, width: bigint, rangeEnd: Buffer): Buffer {
  let n = windowKeyNumber(from, prefix.length) + width
  if (n >> BigInt(8 * WINDOW_KEY_BYTES) > 0n) return rangeEnd
  const bytes = Buffer.alloc(WINDOW_KEY_BYTES)
  for (let i = WINDOW_KEY_BYTES - 1; i >= 0; i--) {
    bytes[i] = Number(n & 0xffn)
    n >>= 8n
  }
  const end = Buffer.concat([prefix, bytes])
  return Buffer.compare(end, rangeEnd) >= 0 ? rangeEnd : end
}

function errorName(error: unknown): string {
  return (error as {constructor?: {name?: string}} | undefined)?.constructor?.name ?? ''
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** Transient: the cluster unreachable, slow, electing a leader, or overloaded. */
export function isTransientEtcdError(error: unknown): boolean {
  if (error instanceof RosterError) return false
  const name = errorName(error)
  if (
    [
      'GRPCUnavailableError',
      'GRPCDeadlineExceededError',
      'GRPCCancelledError',
      'GRPCInternalError',
      'GRPCAbortedError',
      'GRPCUnknownError',
    ].includes(name)
  ) {
    return !/larger than max|message too large/i.test(errorMessage(error))
  }
  return /leader changed|no leader|request timed out|too many requests|not capable|server stopped|connection (refused|reset|closed)|ECONNREFUSED|ECONNRESET|No connection established/i.test(
    errorMessage(error),
  )
}

function isAuthError(error: unknown): boolean {
  const name = errorName(error)
  return (
    ['EtcdAuthenticationFailedError', 'EtcdPermissionDeniedError', 'GRPCUnauthenticatedError', 'EtcdInvalidAuthTokenError'].includes(
      name,
    ) ||
    /etcdserver: (user name is empty|authentication is not enabled|permission denied|invalid auth token|authentication failed)/.test(
      errorMessage(error),
    )
  )
}

/** etcd's ErrCompacted, as a range reports it ("mvcc: required revision has been compacted"). */
function isCompacted(error: unknown): boolean {
  return /required revision has been compacted/.test(errorMessage(error))
}

function isMessageTooLarge(error: unknown): boolean {
  return (
    errorName(error) === 'GRPCResourceExhastedError' || /larger than max|message too large|RESOURCE_EXHAUSTED/i.test(errorMessage(error))
  )
}

/** A fault-handling policy that just runs the call: retries are this module's job. */
const passThroughPolicy = {
  execute: <T>(fn: (context: {signal: AbortSignal}) => PromiseLike<T> | T): Promise<T> =>
    Promise.resolve().then(() => fn({signal: new AbortController().signal})),
  onSuccess: () => ({dispose() {}}),
  onFailure: () => ({dispose() {}}),
}
type FaultHandling = NonNullable<IOptions['faultHandling']>
const passThrough = passThroughPolicy as unknown as NonNullable<FaultHandling['global']>

class EtcdStore implements Store {
  readonly description: string
  private readonly prefix: Buffer
  /** Each open watcher, with what ends its Watch. */
  private readonly watchers = new Map<Watcher, () => void>()
  private closed = false

  constructor(
    private readonly client: Etcd3,
    private readonly options: EtcdStoreOptions,
  ) {
    this.description = `${options.tls ? 'etcds' : 'etcd'}://${options.hosts.join(',')}`
    this.prefix = Buffer.from(options.prefix)
  }

  private fullKey(key: string): Buffer {
    return Buffer.concat([this.prefix, Buffer.from(key)])
  }

  private toKeyValue(kv: IKeyValue): KeyValue {
    return {
      key: kv.key.subarray(this.prefix.length).toString('utf8'),
      value: kv.value.toString('utf8'),
      createRevision: Number(kv.create_revision),
      modRevision: Number(kv.mod_revision),
      version: Number(kv.version),
    }
  }

  /** The per-attempt gRPC deadline: a third of the budget (at least 1 s), never past the end. */
  private attemptDeadline(deadline: number): Date {
    const slice = Math.max(1000, this.options.timeoutMs / 3)
    return new Date(Math.min(deadline, Date.now() + slice))
  }

  /** Runs one etcd call with retries on transient errors until the operation's deadline. */
  private call<T>(
    what: string,
    fn: (callOptions: {deadline: Date}) => Promise<T>,
    deadline = Date.now() + this.options.timeoutMs,
  ): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`${this.description}: store is closed`))
    const started = Date.now()
    // What the user is told is why etcd could not be reached (ECONNREFUSED, no leader): an attempt
    // that ran out of time says only that, and a last attempt often does, waiting out gRPC's own
    // reconnect backoff; so the last error that said more is the one reported.
    let telling: unknown
    return retryWithBackoff(
      async () => {
        try {
          return await fn({deadline: this.attemptDeadline(deadline)})
        } catch (error) {
          if (errorName(error) !== 'GRPCDeadlineExceededError') telling = error
          throw this.mapError(error)
        }
      },
      {
        deadline,
        isRetryable: isTransientEtcdError,
        initialDelayMs: 50,
        maxDelayMs: 2000,
        minAttemptMs: 150,
        onExhausted: (error, attempts) =>
          new BackendUnavailableError(
            `etcd unavailable at ${this.options.hosts.join(', ')} (tried for ${formatDuration(Date.now() - started)}, ${attempts} attempt${attempts === 1 ? '' : 's'}, ${what}): ${firstLine(errorMessage(telling ?? error))}`,
            {cause: error},
          ),
      },
    )
  }

  private mapError(error: unknown): unknown {
    if (error instanceof RosterError) return error
    if (isAuthError(error)) {
      const message = errorMessage(error)
      const who = this.options.auth
        ? `user ${JSON.stringify(this.options.auth.username)}`
        : `no credentials (set ${setting('etcd-username')} and ${setting('etcd-password')})`
      return new NotAllowedError(`etcd at ${this.options.hosts.join(', ')} refused ${who}: ${firstLine(message)}`, {cause: error})
    }
    return error
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const response = await this.call('get', (o) => this.client.kv.range({key: this.fullKey(key)}, o))
    const kv = response.kvs[0]
    return kv ? this.toKeyValue(kv) : undefined
  }

  async getMany(keys: readonly string[]): Promise<(KeyValue | undefined)[]> {
    const out: (KeyValue | undefined)[] = []
    // One read-only transaction per batch: one round trip, where a get per key costs one each. A
    // batch whose values pass gRPC's receive limit is read again in halves.
    const read = async (batch: readonly string[]): Promise<void> => {
      try {
        const response = await this.call('get', (o) =>
          this.client.kv.txn({compare: [], success: batch.map((key) => ({request_range: {key: this.fullKey(key)}})), failure: []}, o),
        )
        for (const r of response.responses) {
          const kv = r.response_range?.kvs[0]
          out.push(kv ? this.toKeyValue(kv) : undefined)
        }
      } catch (error) {
        if (!isMessageTooLarge(error) || batch.length === 1) throw error
        const half = Math.ceil(batch.length / 2)
        await read(batch.slice(0, half))
        await read(batch.slice(half))
      }
    }
    for (let start = 0; start < keys.length; start += MAX_TXN_OPS) await read(keys.slice(start, start + MAX_TXN_OPS))
    return out
  }

  range(prefix: string, options?: RangeOptions): AsyncIterable<RangePage> {
    return this.rangeAt(prefix, options, 0)
  }

  /** etcd keeps every revision until it is compacted: a snapshot is a revision every range reads at. */
  async snapshot(revision?: number): Promise<Snapshot> {
    // One key read at the revision: its header gives the current revision, and etcd answers
    // ErrCompacted or ErrFutureRev for a revision it cannot read at.
    const response = await this.readAt(this.prefix, revision ?? 0, 'a snapshot', {limit: 1, keys_only: true})
    const at = revision ?? Number(response.header.revision)
    let open = true
    const check = (): void => {
      if (!open) throw new Error(`${this.description}: the snapshot at revision ${at} is closed`)
    }
    const rangeAt = (prefix: string, options?: RangeOptions): AsyncIterable<RangePage> => this.rangeAt(prefix, options, at)
    return {
      revision: at,
      range: async function* (prefix, options) {
        check()
        yield* rangeAt(prefix, options)
      },
      count: async (prefix) => {
        check()
        return Number((await this.readAt(this.fullKey(prefix), at, prefix, {count_only: true})).count)
      },
      close: async () => {
        open = false
      },
    }
  }

  /** One range request over the keys that start with `key`, at `revision` (0: the current one). */
  private async readAt(key: Buffer, revision: number, what: string, request: {limit?: number; keys_only?: boolean; count_only?: boolean}) {
    try {
      return await this.call('range', (o) =>
        this.client.kv.range({key, range_end: prefixRangeEnd(key), revision: revision || undefined, ...request}, o),
      )
    } catch (error) {
      throw this.revisionError(error, revision, what)
    }
  }

  /** ErrCompacted and ErrFutureRev of a read at `revision`, as roster's errors; others as they are. */
  private revisionError(error: unknown, revision: number, what: string): unknown {
    if (isCompacted(error)) {
      return new CompactedError(
        `etcd at ${this.options.hosts.join(', ')}: revision ${revision} was compacted while reading ${JSON.stringify(what)}; run the command again`,
        revision,
        {cause: error},
      )
    }
    if (/required revision is a future revision/.test(errorMessage(error))) {
      return new InvalidInputError(`etcd at ${this.options.hosts.join(', ')}: revision ${revision} is after the current revision`, {
        field: 'revision',
        cause: error,
      })
    }
    return error
  }

  /**
   * Every key under `prefix`, page by page, all at `revision` (0: the revision of the first page).
   *
   * etcd (3.4) answers a range with a limit by first collecting every key between its start and
   * its end, so pages over a large prefix that all end at the prefix's end cost the square of
   * its size (a million services: minutes). Each page after the first asks for a window of the
   * key space that should hold about `stretch` pages, judged from the spacing of the keys just
   * read (keys read as numbers, windowKeyNumber). Keys are not spread evenly over that number
   * line (hexadecimal IDs leave gaps between "9" and "a"), so the stretch corrects itself: a
   * window that held under half a page doubles it, one that held more than a page halves it.
   * The windows follow each other without a gap, so every key comes once, in order, whatever
   * the estimate.
   *
   * The next page is asked for as soon as a page arrives, before the caller is handed it, so
   * that etcd reads one page while the caller works through the one before.
   */
  private async *rangeAt(prefix: string, options: RangeOptions | undefined, revision: number): AsyncIterable<RangePage> {
    const maxKeys = pageSizeOf(options)
    let pageSize = Math.min(maxKeys, FIRST_PAGE_KEYS)
    const base = this.fullKey(prefix)
    const storeEnd = prefixRangeEnd(this.fullKey(''))
    const spans = rangeSpans(prefix, options).map(({from, to}) => ({
      from: this.fullKey(from),
      end: to === undefined ? storeEnd : this.fullKey(to),
    }))
    // No span at all still reads one (empty) page, for its revision.
    if (spans.length === 0) spans.push({from: base, end: base})
    let first = true
    /** Pages handed to the caller so far. */
    let handed = 0
    /** The read of the next page, when it has not been started yet. */
    let read: (() => Promise<PageRead>) | undefined
    for (const span of spans) {
      let from = span.from
      let upper = span.end
      /** Key-space width (as windowKeyNumber counts it, after the prefix) per key, from the last page that had two keys. */
      let spacing: bigint | undefined
      /** How many pages' worth of key space a window spans. */
      let stretch = 2n
      let next: Promise<PageRead> | undefined = this.readPage(from, upper, pageSize, revision, prefix)
      while (next) {
        const page: PageRead = await next
        next = undefined
        const {response} = page
        pageSize = page.limit
        if (revision === 0) revision = Number(response.header.revision)
        const kvs = response.kvs
        if (kvs.length > 0) {
          let bytes = 0
          for (const kv of kvs) bytes += kv.key.length + kv.value.length
          pageSize = pageLimit(bytes / kvs.length, maxKeys)
        }
        const windowed = upper !== span.end
        let done = false
        if (response.more && kvs.length > 0) {
          from = Buffer.concat([kvs[kvs.length - 1]!.key, Buffer.from([0])])
          if (windowed && stretch > 1n) stretch /= 2n
        } else if (!windowed) {
          done = true
        } else {
          from = upper
          if (kvs.length < page.limit / 2 && stretch < MAX_WINDOW_STRETCH) stretch *= 2n
        }
        if (!done) {
          if (kvs.length >= 2) {
            const width = windowKeyNumber(kvs[kvs.length - 1]!.key, base.length) - windowKeyNumber(kvs[0]!.key, base.length)
            spacing = width / BigInt(kvs.length - 1) + 1n
          } else if (spacing !== undefined) {
            spacing *= 4n
          }
          upper = spacing === undefined ? span.end : windowEnd(base, from, spacing * stretch * BigInt(pageSize), span.end)
          const [at, to, limit] = [from, upper, pageSize]
          read = () => {
            const page = this.readPage(at, to, limit, revision, prefix)
            // Handled when awaited; a caller that stops early leaves it unread.
            page.catch(() => undefined)
            return page
          }
          // Read ahead only for a caller that has asked for a second page: many want one (a
          // revision, whether a prefix holds a key), and the next page of a first one that
          // told nothing of the keys' spacing is a range over the whole rest of the store.
          if (handed > 0) next = read()
        }
        // The first page comes even when empty: it carries the revision.
        if (kvs.length > 0 || first) {
          yield {kvs: kvs.map((kv) => this.toKeyValue(kv)), revision}
          handed++
        }
        first = false
        if (!next && read) next = read()
        read = undefined
      }
    }
  }

  /** One page of a range: at most `limit` keys, fewer (halved until it fits) when their values pass gRPC's receive limit. */
  private async readPage(from: Buffer, upper: Buffer, limit: number, revision: number, prefix: string): Promise<PageRead> {
    for (;;) {
      try {
        const response = await this.call('range', (o) =>
          this.client.kv.range({key: from, range_end: upper, limit, revision: revision || undefined}, o),
        )
        return {response, limit}
      } catch (error) {
        if (isMessageTooLarge(error) && limit > 1) {
          // The page's values are large: the same page again, half the size.
          limit = Math.max(1, Math.floor(limit / 2))
          continue
        }
        throw this.revisionError(error, revision, prefix)
      }
    }
  }

  async txn(compares: Compare[], success: Operation[]): Promise<TxnResult> {
    checkTxnLimits(compares, success, this.prefix.length)
    const compare: ICompare[] = compares.map((c) =>
      c.modRevision === 0
        ? {key: this.fullKey(c.key), target: 'Create', result: 'Equal', create_revision: 0}
        : {key: this.fullKey(c.key), target: 'Mod', result: 'Equal', mod_revision: c.modRevision},
    )
    const ops: IRequestOp[] = success.map((op) =>
      op.type === 'put'
        ? {request_put: {key: this.fullKey(op.key), value: Buffer.from(op.value)}}
        : {request_delete_range: {key: this.fullKey(op.key)}},
    )
    const response = await this.call('txn', (o) => this.client.kv.txn({compare, success: ops, failure: []}, o))
    return {succeeded: response.succeeded, revision: Number(response.header.revision)}
  }

  async watch(prefix: string, fromRevision: number, onEvent: (event: WatchEvent) => void): Promise<Watch> {
    const start = Math.max(0, fromRevision) + 1
    const watcher = await this.call('watch', async ({deadline}) => {
      // Listeners go on before the watcher connects: etcd may cancel it right after creating it.
      const w = this.client.watch().prefix(this.fullKey(prefix)).startRevision(String(start)).watcher()
      await new Promise<void>((resolve, reject) => {
        // etcd3 reconnects a watcher for ever; the call's deadline bounds the wait (then retried).
        const timer = setTimeout(() => fail(new Error('watch: no answer from etcd (request timed out)')), deadline.getTime() - Date.now())
        const fail = (error: unknown): void => {
          clearTimeout(timer)
          w.off('connected', connected)
          w.on('error', () => undefined)
          void w.cancel().catch(() => undefined)
          reject(error)
        }
        const connected = (): void => {
          clearTimeout(timer)
          w.off('error', fail)
          resolve()
        }
        w.once('connected', connected)
        w.once('error', fail)
      })
      return w
    })
    this.watchers.set(watcher, () => finish(undefined))
    let active = true
    /** Every event up to it has been delivered. */
    let revision = start - 1
    let confirmedAt = Date.now()
    let resolveEnded!: (error: Error | undefined) => void
    const ended = new Promise<Error | undefined>((resolve) => (resolveEnded = resolve))
    const finish = (error: Error | undefined): void => {
      if (!active) return
      active = false
      watcher.removeAllListeners()
      // etcd3 emits 'error' on a watcher without listeners as an uncaught exception.
      watcher.on('error', () => undefined)
      this.watchers.delete(watcher)
      resolveEnded(error)
    }
    const deliver = (event: WatchEvent): void => {
      if (!active) return
      try {
        onEvent(event)
      } catch (error) {
        finish(error instanceof Error ? error : new Error(String(error)))
        void watcher.cancel().catch(() => undefined)
      }
    }
    watcher.on('put', (kv) => deliver({type: 'put', kv: this.toKeyValue(kv)}))
    watcher.on('delete', (kv) =>
      deliver({type: 'delete', key: kv.key.subarray(this.prefix.length).toString('utf8'), modRevision: Number(kv.mod_revision)}),
    )
    // A response's events were delivered (its 'put'/'delete' came first); a response without
    // events is a progress notification: the watcher is current up to its header's revision.
    // (The header of a response with events is the store's revision, which a watcher replaying
    // older events has not reached yet.)
    watcher.on('data', (response: {header: {revision: string}; events: {kv: {mod_revision: string}}[]}) => {
      const last = response.events.at(-1)
      revision = Math.max(revision, Number(last ? last.kv.mod_revision : response.header.revision))
      confirmedAt = Date.now()
    })
    watcher.on('error', (error: unknown) => {
      if (!active) return
      // Until this resolves the watcher delivers nothing: etcd has already removed it.
      void this.endingOf(error, revision + 1).then(finish)
    })
    return {
      ended,
      progress: () => ({revision, confirmedAt}),
      sync: async () => undefined,
      close: async () => {
        if (!active) return
        finish(undefined)
        await watcher.cancel().catch(() => undefined)
      },
    }
  }

  /** Why etcd cancelled a watcher that was to go on from `startRevision`: compacted, or the error itself. */
  private async endingOf(error: unknown, startRevision: number): Promise<Error> {
    try {
      await this.client.kv.range({key: this.prefix, limit: 1, revision: String(startRevision)})
    } catch (rangeError) {
      if (isCompacted(rangeError)) {
        return new CompactedError(
          `etcd at ${this.options.hosts.join(', ')}: cannot watch from revision ${startRevision - 1}: it was compacted; list again`,
          startRevision - 1,
          {cause: error},
        )
      }
    }
    return error instanceof Error ? error : new Error(String(error))
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await Promise.all(
      [...this.watchers].map(([watcher, finish]) => {
        finish()
        return watcher.cancel().catch(() => undefined)
      }),
    )
    this.watchers.clear()
    this.client.close()
  }
}

/** The first line of a gRPC error message, without grpc-js's empty trailers. */
function firstLine(text: string): string {
  return text
    .split('\n')[0]!
    .replace(/\.?\s*Resolution note:\s*$/, '')
    .replace(/Last error: Error: /, 'last error: ')
    .trim()
}

let ipServerNameWarningSilenced = false

/**
 * grpc-js sets the TLS server name to the host even when it is an IP address, and Node then
 * prints DEP0123 ("Setting the TLS ServerName to an IP address is not permitted by RFC 6066") on
 * stderr on every connection: noise in every command's output for `etcds://10.0.0.1:2379`.
 * Drops that one warning (by its code), nothing else.
 */
function silenceIpServerNameWarning(): void {
  if (ipServerNameWarningSilenced) return
  ipServerNameWarningSilenced = true
  const original = process.emitWarning
  process.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
    const [typeOrOptions, code] = rest
    const warningCode = typeOrOptions && typeof typeOrOptions === 'object' ? (typeOrOptions as {code?: unknown}).code : code
    if (warningCode === 'DEP0123' || (warning instanceof Error && (warning as {code?: unknown}).code === 'DEP0123')) return
    return (original as (...args: unknown[]) => void).call(process, warning, ...rest)
  } as typeof process.emitWarning
}

/** Connects lazily: the first operation dials, and an unreachable cluster shows there. */
export async function openEtcdStore(options: EtcdStoreOptions): Promise<Store> {
  const {isIP} = await import('node:net')
  if (options.tls && options.hosts.some((h) => isIP(h.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1')) !== 0)) {
    silenceIpServerNameWarning()
  }
  // etcd3 is CommonJS (bundled into dist with a build-time package definition, scripts/bundle-etcd.mjs):
  // Node's import() and esbuild's ES module chunks give its exports as `default`; esbuild's
  // CommonJS output and tsx give them as the namespace itself (they carry __esModule).
  const etcd3 = await import('etcd3')
  const {Etcd3} = (etcd3.default as typeof etcd3 | undefined) ?? etcd3
  const scheme = options.tls ? 'https' : 'http'
  const perCallMs = Math.max(1000, options.timeoutMs / 3)
  const client = new Etcd3({
    hosts: options.hosts.map((h) => `${scheme}://${h}`),
    ...(options.tls && (options.ca || options.cert)
      ? {credentials: {rootCertificate: options.ca as Buffer, privateKey: options.key, certChain: options.cert}}
      : {}),
    ...(options.auth ? {auth: {...options.auth, callOptions: () => ({deadline: Date.now() + perCallMs})}} : {}),
    faultHandling: {host: () => passThrough, global: passThrough},
    defaultCallOptions: (context) => (context.isStream ? {} : {deadline: Date.now() + perCallMs}),
  })
  return new EtcdStore(client, options)
}
