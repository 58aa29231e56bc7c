/**
 * Reading the history: the filters of `roster registry history` and `GET /v1/events` (a time
 * window, an actor, a namespace, an endpoint regular expression), pages of events with an opaque
 * `continue`, and following new events through the store follower (list, then watch: never a poll
 * of the history).
 */
import {InvalidInputError} from '../../errors.js'
import {follow} from '../../store/follower.js'
import {type KeyValue, type Store, storeRevision} from '../../store/store.js'
import {MAX_TIMER_MS, parseDuration} from '../../config/duration.js'
import {loadRegexEngine} from '../../text/regex.js'
import {parseRegex, validateName, validateTime} from '../validation.js'
import {actorMatches} from './actor.js'
import {HISTORY_PREFIX, type HistoryEvent, eventsOf, historyTimeKey} from './event.js'
import {retentionStart} from './retention.js'

export interface HistoryFilter {
  /** From this time on: a duration back from now (`1h`, `7d`) or an RFC 3339 time. */
  since?: string
  /** Before this time: a duration back from now, or an RFC 3339 time. */
  until?: string
  /** The actor's id, its text (`token:ansible`), its Unix user or its e-mail. */
  actor?: string
  namespace?: string
  /** Regular expression (RE2 syntax, unanchored) over the object's endpoint. */
  endpoint?: string
}

/** A validated filter: the window as store keys, and a test of the rest. */
export interface CompiledHistoryFilter {
  start?: string
  end?: string
  /** The time `since` and `until` count back from. */
  now: Date
  /** Whether the filter names a start (else a follow shows only what comes next). */
  since: boolean
  matches(event: HistoryEvent): boolean
}

export const DEFAULT_HISTORY_PAGE = 1000
export const MAX_HISTORY_PAGE = 10_000
/** Records one page reads at most, so that a filter that matches little still answers in bounded time. */
const MAX_SCAN_RECORDS = 20_000

/**
 * A time of a filter: an RFC 3339 time, or a duration back from `now` (the one duration grammar
 * and range: what starts with a digit is a duration, or refused as every setting refuses it).
 */
export function parseHistoryTime(field: string, value: string, now: Date): Date {
  const text = value.trim()
  if (/^\d{4}-\d\d-\d\dT/.test(text)) return new Date(validateTime(field, text))
  if (/^\d/.test(text)) return new Date(now.getTime() - parseDuration(text, field))
  throw InvalidInputError.forField(field, value, 'expected a duration back from now (30m, 24h, 7d) or an RFC 3339 time')
}

/**
 * Validates `filter` (errors name the field) into store bounds and a test. `mayRead`, when
 * given, keeps only the events the caller may see (serve: a read token's namespaces).
 */
export async function compileHistoryFilter(
  filter: HistoryFilter,
  now: Date,
  mayRead?: (event: HistoryEvent) => boolean,
): Promise<CompiledHistoryFilter> {
  if (filter.endpoint !== undefined) await loadRegexEngine()
  const since = filter.since === undefined ? undefined : parseHistoryTime('since', filter.since, now)
  const until = filter.until === undefined ? undefined : parseHistoryTime('until', filter.until, now)
  if (since && until && since.getTime() >= until.getTime())
    throw InvalidInputError.forField('until', filter.until ?? '', `must be after since (${since.toISOString()})`)
  const namespace = filter.namespace === undefined ? undefined : validateName('namespace', filter.namespace)
  const endpoint = filter.endpoint === undefined ? undefined : parseRegex('endpoint', filter.endpoint)
  const actor = filter.actor?.trim()
  if (actor === '') throw InvalidInputError.forField('actor', filter.actor ?? '', 'must not be empty')
  return {
    ...(since ? {start: historyTimeKey(since)} : {}),
    ...(until ? {end: historyTimeKey(until)} : {}),
    since: since !== undefined,
    now,
    matches: (e) =>
      (!actor || actorMatches(e.actor, actor)) &&
      (!namespace || e.object.namespace === namespace) &&
      (!endpoint || (e.object.endpoint !== undefined && endpoint.test(e.object.endpoint))) &&
      (!mayRead || mayRead(e)),
  }
}

export interface HistoryPage {
  items: HistoryEvent[]
  /** Give it back as `continue` for the next page; absent after the last. */
  continue?: string
}

/** Where a page stops: the record's key and the index of the next event in it. */
function encodeContinue(key: string, next: number): string {
  return Buffer.from(JSON.stringify([key.slice(HISTORY_PREFIX.length), next])).toString('base64url')
}

function decodeContinue(token: string): {key: string; next: number} {
  try {
    const [key, next] = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown[]
    if (typeof key === 'string' && key !== '' && Number.isSafeInteger(next) && (next as number) >= 0)
      return {key: HISTORY_PREFIX + key, next: next as number}
  } catch {
    // refused below
  }
  throw InvalidInputError.forField(
    'continue',
    token.length > 40 ? `${token.slice(0, 40)}…` : token,
    'is not the continue of a previous page',
  )
}

/**
 * One page of the events matching `filter`, oldest first (without a `since`: from the retention
 * back from `filter.now`): at most `limit` events, reading at most MAX_SCAN_RECORDS records (a
 * page may then hold fewer, with a `continue`).
 */
export async function readHistory(
  store: Store,
  filter: CompiledHistoryFilter,
  page: {limit?: number; continue?: string} = {},
): Promise<HistoryPage> {
  const limit = page.limit ?? DEFAULT_HISTORY_PAGE
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_HISTORY_PAGE)
    throw InvalidInputError.forField('limit', page.limit ?? '', `must be an integer from 1 to ${MAX_HISTORY_PAGE}`)
  const from = page.continue === undefined ? undefined : decodeContinue(page.continue)
  const start = from && (!filter.start || from.key > filter.start) ? from.key : (filter.start ?? (await retentionStart(store, filter.now)))
  const items: HistoryEvent[] = []
  let scanned = 0
  /** Where the next page starts, once this one is full: in a record, or after one (if another follows). */
  let stop: {key: string; next: number} | undefined
  for await (const kv of historyRecords(store, start, filter.end, filter.now, limit + 1)) {
    if (stop) return {items, continue: encodeContinue(stop.key, stop.next)}
    const events = eventsOf(kv)
    for (let i = from && kv.key === from.key ? from.next : 0; i < events.length; i++) {
      if (items.length === limit) return {items, continue: encodeContinue(kv.key, i)}
      if (filter.matches(events[i]!)) items.push(events[i]!)
    }
    if (items.length === limit || ++scanned >= MAX_SCAN_RECORDS) stop = {key: `${kv.key}\0`, next: 0}
  }
  return {items}
}

/** The first window a read of the history asks the store for. */
const FIRST_WINDOW_MS = 3_600_000
/** Records stamped later than this past `now` (a writer's clock ahead) are read in one last range. */
const CLOCK_AHEAD_MS = 86_400_000

/**
 * The history's records from the key `start` to the key `end` (absent: to the last), in key
 * order, read a window of time at a time rather than in one range: etcd counts every key of a
 * range's span to answer it, however small its page, so one range over a large history would
 * cost the whole history per page. A window that held few records doubles the next one; one that
 * held many halves it.
 */
export async function* historyRecords(
  store: Store,
  start: string,
  end: string | undefined,
  now: Date,
  pageSize = 1000,
): AsyncGenerator<KeyValue> {
  let from = start
  let time = Date.parse(start.slice(HISTORY_PREFIX.length, HISTORY_PREFIX.length + 24))
  let width = FIRST_WINDOW_MS
  for (;;) {
    const last = !Number.isFinite(time) || time + width > now.getTime() + CLOCK_AHEAD_MS
    const windowEnd = last ? undefined : historyTimeKey(new Date(time + width))
    const to = windowEnd === undefined || (end !== undefined && end <= windowEnd) ? end : windowEnd
    let read = 0
    for await (const page of store.range(HISTORY_PREFIX, {start: from, end: to, pageSize})) {
      read += page.kvs.length
      yield* page.kvs
    }
    if (to === end) return
    from = to as string
    time += width
    if (read < pageSize / 4) width *= 2
    else if (read > pageSize * 4) width = Math.max(1000, width / 2)
  }
}

/** Every event matching `filter`, oldest first, a page at a time. */
export async function* listHistory(store: Store, filter: CompiledHistoryFilter): AsyncGenerator<HistoryEvent> {
  let next: string | undefined
  do {
    const page = await readHistory(store, filter, {continue: next})
    yield* page.items
    next = page.continue
  } while (next)
}

export interface HistoryFollow {
  /** Resolves when the follow ends: an error of `onEvent`, FollowBehindError, or undefined after close(). */
  readonly ended: Promise<Error | undefined>
  close(): Promise<void>
}

/** How a follow ends when its reader falls `maxBacklog` records behind the store's writes. */
export class FollowBehindError extends Error {
  constructor(readonly backlog: number) {
    super(`the reader fell ${backlog} history records behind`)
    this.name = 'FollowBehindError'
  }
}

export interface FollowOptions {
  /**
   * History records written but not yet delivered (each awaits a slow `onEvent`) beyond which the
   * follow ends with FollowBehindError; without it, they wait in memory however many there are.
   */
  maxBacklog?: number
}

/**
 * The events matching `filter` from its `since` on (without one: none of the past), then every new
 * one as it is written, until close(). New events come from the store follower's watch of the
 * history; after a relist (its watch ended) the events written meanwhile are read back from the
 * last one delivered. Events reach `onEvent` one at a time, in order: it may return a promise
 * (to wait for a slow reader), and a throw ends the follow.
 */
export async function followHistory(
  store: Store,
  filter: CompiledHistoryFilter,
  onEvent: (event: HistoryEvent) => void | Promise<void>,
  options: FollowOptions = {},
): Promise<HistoryFollow> {
  if (filter.end !== undefined)
    throw InvalidInputError.forField('until', filter.end.slice(HISTORY_PREFIX.length), 'cannot be combined with follow')
  let ended!: (error: Error | undefined) => void
  const done = new Promise<Error | undefined>((resolve) => (ended = resolve))
  let finished = false
  let stopFollowing = async (): Promise<void> => undefined
  // A follow waits for writes, and keeps the process alive meanwhile: SQLite's poll timer does not.
  const keepAlive = setInterval(() => undefined, MAX_TIMER_MS)
  const finish = (error: Error | undefined): void => {
    if (finished) return
    finished = true
    clearInterval(keepAlive)
    void stopFollowing().then(() => ended(error))
  }
  /** Delivery, one record at a time, in the order they came; a failure ends the follow. */
  let queue: Promise<void> = Promise.resolve()
  const enqueue = (step: () => Promise<void>): void => {
    queue = queue.then(step)
    queue.catch((error: unknown) => finish(error instanceof Error ? error : new Error(String(error))))
  }
  /** The highest record key delivered: a catch-up after a relist reads from there. */
  let lastKey = filter.start ?? historyTimeKey(new Date())
  /** While a listing runs: the records the watch brought, released once it is done. */
  let held: KeyValue[] | undefined = []
  /** The revision a listing started at, and the records written since that it delivered. */
  let listedFrom = 0
  let listed = new Set<string>()
  let firstSnapshot = 0
  /** Records the watch brought that are not delivered yet (held or queued). */
  let backlog = 0
  const behind = (): void => {
    if (options.maxBacklog !== undefined && ++backlog > options.maxBacklog) finish(new FollowBehindError(backlog))
  }
  const deliverNow = async (kv: KeyValue): Promise<void> => {
    if (finished) return
    if (kv.key > lastKey) lastKey = kv.key
    for (const event of eventsOf(kv)) if (filter.matches(event)) await onEvent(event)
  }
  /** A record the watch brought: new unless the listing had it (the watch replays from before it). */
  const fresh = (kv: KeyValue): boolean => kv.modRevision > listedFrom && !listed.has(kv.key)
  /**
   * Delivers what lies from `start` on (without `start`: nothing, as of the follower's first
   * snapshot), then the held records it did not hold. The listing reads windows at revisions of
   * their own, so it remembers the records written once it began.
   */
  const list = (start: string | undefined): void => {
    held ??= []
    enqueue(async () => {
      listed = new Set()
      if (start === undefined) listedFrom = firstSnapshot
      else {
        listedFrom = await storeRevision(store)
        for await (const kv of historyRecords(store, start, undefined, filter.now)) {
          if (kv.modRevision > listedFrom) listed.add(kv.key)
          await deliverNow(kv)
        }
      }
      const later = held ?? []
      held = undefined
      for (const kv of later) {
        if (fresh(kv)) await deliverNow(kv)
        backlog--
      }
    })
  }
  let follower: Awaited<ReturnType<typeof follow>>
  try {
    follower = await follow(
      store,
      HISTORY_PREFIX,
      {
        // After a relist the watch starts anew: what was written meanwhile is read back.
        onSnapshot: (_kvs, revision, relisted) => {
          if (relisted) list(`${lastKey}\0`)
          else firstSnapshot = revision
        },
        onEvent: (event) => {
          if (event.type !== 'put') return // a retention sweep
          if (held) held.push(event.kv)
          else if (fresh(event.kv))
            enqueue(async () => {
              await deliverNow(event.kv)
              backlog--
            })
          else return
          behind()
        },
      },
      {list: 'revision'},
    )
  } catch (error) {
    clearInterval(keepAlive)
    throw error
  }
  stopFollowing = () => follower.close()
  list(filter.since ? filter.start : undefined)
  return {
    ended: done,
    close: async () => {
      finish(undefined)
      await done
    },
  }
}

const MAX_FOLLOW_BACKLOG = 1000

/**
 * A follow as an async iterable (for the streaming printers): the events it delivers, until
 * `signal` aborts (then it ends) or the follow fails (then it throws). A reader that falls behind
 * holds the follow back at MAX_FOLLOW_BACKLOG events.
 */
export async function* followedEvents(
  start: (onEvent: (event: HistoryEvent) => Promise<void>) => Promise<HistoryFollow>,
  signal: AbortSignal,
): AsyncGenerator<HistoryEvent> {
  const backlog: HistoryEvent[] = []
  let wake: (() => void) | undefined
  let room: (() => void) | undefined
  const poke = (): void => {
    wake?.()
    wake = undefined
  }
  const following = await start(async (event) => {
    backlog.push(event)
    poke()
    if (backlog.length >= MAX_FOLLOW_BACKLOG) await new Promise<void>((resolve) => (room = resolve))
  })
  let failure: Error | undefined
  let over = false
  void following.ended.then((error) => {
    failure = error
    over = true
    poke()
  })
  const abort = (): void => void following.close()
  signal.addEventListener('abort', abort, {once: true})
  try {
    for (;;) {
      const event = backlog.shift()
      if (event) {
        room?.()
        room = undefined
        yield event
        continue
      }
      if (over || signal.aborted) break
      await new Promise<void>((resolve) => (wake = resolve))
    }
    if (failure) throw failure
  } finally {
    signal.removeEventListener('abort', abort)
    await following.close()
  }
}
