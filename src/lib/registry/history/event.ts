/**
 * The registry's history: what an event is, and how events are stored.
 *
 * Every registry write appends, in the same store transaction, one record under
 *
 *   events/<time: RFC 3339 in UTC, to the millisecond>/<the writer's sequence>-<random hex>
 *
 * holding the events of that transaction: `{time, actor, events: [{action, object, changes}]}`
 * (one event per object written; a batch of services is one record). Keys sort by time on both
 * stores, so a time window is one range (`start`/`end`) and retention deletes from the front; a
 * process's writes within one millisecond sort in the order it made them (its sequence), and the
 * random part keeps two processes apart.
 * The transaction's revision is not known before it commits, so it is not in the key: an event's
 * id, `<revision>-<n>`, is read back from the record's create revision and the event's place in it.
 */
import type {KeyValue} from '../../store/store.js'

export const HISTORY_PREFIX = 'events/'

export const ACTOR_KINDS = ['token', 'oidc', 'local', 'discover', 'system'] as const
export type ActorKind = (typeof ACTOR_KINDS)[number]

/** Who made a write. Never holds a secret: a token is named by its id. */
export interface Actor {
  kind: ActorKind
  /** The token id, the OIDC subject, `user@host`, the discoverer's owner id, or what the system is. */
  id: string
  /** A token's or OIDC user's role. */
  role?: string
  /** An OIDC user's e-mail, when the provider's token carries one. */
  email?: string
  /** The local Unix user and host. */
  user?: string
  host?: string
}

/**
 * register, update, unregister: a write as asked; expire, prune: `service prune` removing an
 * expired or unresolvable service; move: a redistribution changing a service's servers; create,
 * revoke: tokens; restore: a backup put back.
 */
export const HISTORY_ACTIONS = ['register', 'update', 'unregister', 'expire', 'prune', 'move', 'restore', 'create', 'revoke'] as const
export type HistoryAction = (typeof HISTORY_ACTIONS)[number]

export const OBJECT_KINDS = ['service', 'server', 'namespace', 'settings', 'token', 'registry'] as const
export type ObjectKind = (typeof OBJECT_KINDS)[number]

export interface EventObject {
  kind: ObjectKind
  namespace?: string
  name: string
  endpoint?: string
  id?: string
}

/** The fields a write changed: absent `before` for a field it set, absent `after` for one it removed. */
export type Changes = Record<string, {before?: unknown; after?: unknown}>

/** What a write did to one object (the event without its id, time and actor). */
export interface ObjectChange {
  action: HistoryAction
  object: EventObject
  changes: Changes
}

export interface HistoryEvent extends ObjectChange {
  /** `<revision>-<n>`: the revision of the write, and the event's place among that write's events. */
  id: string
  /** When the registry made the write (RFC 3339, UTC). */
  time: string
  actor: Actor
}

/** What one transaction stores under its history key. */
export interface HistoryRecord {
  time: string
  actor: Actor
  events: ObjectChange[]
}

/** The key of a record written at `time`; `unique` orders and separates the records of one millisecond. */
export function historyKey(time: string, unique: string): string {
  return `${HISTORY_PREFIX}${time}/${unique}`
}

/** The first key at or after `time`: a bound for ranges by time. */
export function historyTimeKey(time: Date): string {
  return HISTORY_PREFIX + time.toISOString()
}

/** The events a stored record holds, with their ids; none for a value that is not a record. */
export function eventsOf(kv: Pick<KeyValue, 'key' | 'value' | 'createRevision'>): HistoryEvent[] {
  let record: Partial<HistoryRecord>
  try {
    record = JSON.parse(kv.value) as Partial<HistoryRecord>
  } catch {
    return []
  }
  if (!record || typeof record.time !== 'string' || !record.actor || !Array.isArray(record.events)) return []
  const {time, actor} = record
  return record.events.map((event, n) => ({id: `${kv.createRevision}-${n}`, time, actor, ...event}))
}
