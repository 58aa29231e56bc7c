/**
 * The in-memory view of the registry that `roster serve` answers from: servers, namespaces,
 * services, settings and token revocations (the token authority asks the view whether a token is
 * revoked), kept current by the store follower (store/follower.ts), never by a store read per
 * request.
 *
 * Every key carries its mod revision, so an event older than what the view holds is ignored.
 * A relist of the follower replaces the whole view: its pages are parsed as they come into a new
 * state, which takes the old one's place when the list is complete. `generation` rises with
 * every applied change. Listeners (http_sd's kept answers) learn of each service that changed,
 * with its record before and after, and of every replacement.
 *
 * At a million services the view is most of serve's memory, so a service is kept compact: one
 * record per service, shared by the API and http_sd, whose repeating fields (name, namespace,
 * labels, selector, servers, description, times) point to one interned copy each; counts per
 * server and namespace are kept as services come and go, and each namespace's IDs are sorted
 * only when a listing asks, merging what changed since.
 */
import {HISTORY_PREFIX} from '../registry/history/event.js'
import {NAMESPACES_PREFIX, REVOKED_PREFIX, SERVERS_PREFIX, SERVICES_PREFIX, SETTINGS_KEY} from '../registry/keys.js'
import {DEFAULT_NAMESPACE, type Namespace, type RegistrySettings, type Revisioned, type Server, type Service} from '../registry/model.js'
import {follow, type Follower} from '../store/follower.js'
import type {KeyValue, Store, WatchEvent} from '../store/store.js'

export interface ViewOptions {
  /** Called with every error of the follower (an ended watch, a failed relist; counted as store errors). */
  onError?: (error: unknown) => void
  /** Called after every applied change, with the store keys that changed (every key after a relist). */
  onChange?: (keys: string[]) => void
}

/** What derives from the view and follows it change by change. */
export interface ViewListener {
  /** A service was written or removed: its record before and after (undefined: absent). */
  service(before: Revisioned<Service> | undefined, after: Revisioned<Service> | undefined): void
  /** A server was removed. */
  serverRemoved(name: string): void
  /** The whole view was replaced (a relist): forget what was derived from the old one. */
  replaced(): void
}

interface Entry<T> {
  value: T
  modRevision: number
}

/** Services per server and namespace, kept as services come and go. */
export interface ServiceCounts {
  /** server → namespace → services assigned to it */
  byServer: ReadonlyMap<string, ReadonlyMap<string, number>>
  /** namespace → services assigned to no server */
  unassigned: ReadonlyMap<string, number>
}

const IMPLICIT_DEFAULT: Namespace = Object.freeze({name: DEFAULT_NAMESPACE, export: 'standard', modified: ''})

export class RegistryView {
  /** Store revision the view reflects (the highest applied). */
  storeRevision = 0
  /** Rises by one with every applied change; keys caches. */
  generation = 0
  synced = false

  private state = new ViewState()
  /** A relist's state, page by page, until its list is complete. */
  private next?: ViewState
  private readonly interner = new Interner()
  private readonly listeners = new Set<ViewListener>()
  private follower?: Follower
  private readonly waiters = new Set<() => void>()

  constructor(
    private readonly store: Store,
    private readonly options: ViewOptions = {},
  ) {}

  /** When the view last confirmed it was current (epoch ms): a snapshot, an event, or a poll of the store that found nothing new. */
  get lastSyncedAt(): number {
    return this.follower?.confirmedAt ?? 0
  }

  get servers(): ReadonlyMap<string, Entry<Server>> {
    return this.state.servers
  }

  get namespaces(): ReadonlyMap<string, Entry<Namespace>> {
    return this.state.namespaces
  }

  get settings(): RegistrySettings {
    return this.state.settings
  }

  /** Loads the whole registry, then follows it. Resolves when the view is current. */
  async start(): Promise<void> {
    this.follower = await follow(
      this.store,
      '',
      {
        onSnapshotPage: (kvs, first) => this.page(kvs, first),
        onSnapshot: (_kvs, revision, relisted) => this.replace(revision, relisted),
        onEvent: (event) => this.applyEvent(event),
        onError: (error) => this.options.onError?.(error),
      },
      // The history is the bulk of a store and no answer of the view needs it (GET /v1/events reads the store).
      {pageSize: 5000, skip: HISTORY_PREFIX},
    )
    this.synced = true
  }

  /** Follows the view's changes until the returned function is called. */
  listen(listener: ViewListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /**
   * Read-your-writes for this instance's own writes: waits (at most `timeoutMs`) until `done()`
   * holds, re-checked on every change, after asking the store for what is committed.
   */
  async settle(done: () => boolean, timeoutMs = 2000): Promise<void> {
    if (done()) return
    await this.fresh()
    if (done()) return
    await new Promise<void>((resolve) => {
      const check = () => {
        if (!done()) return
        finish()
      }
      const finish = () => {
        clearTimeout(timer)
        this.waiters.delete(check)
        resolve()
      }
      const timer = setTimeout(finish, timeoutMs)
      this.waiters.add(check)
    })
  }

  /** Before a read that should see the writes committed so far (see Watch.sync). */
  async fresh(): Promise<void> {
    try {
      await this.follower?.sync()
    } catch (error) {
      this.options.onError?.(error)
    }
  }

  /** A page of a list: parsed into the state it builds (a new one from its first page). */
  private page(kvs: KeyValue[], first: boolean): void {
    if (first || !this.next) this.next = new ViewState()
    for (const kv of kvs) {
      try {
        this.next.put(kv, this.interner)
      } catch (error) {
        this.options.onError?.(error)
      }
    }
  }

  /** The end of a list: its state becomes the view (the first load, or after a relist the whole view anew). */
  private replace(revision: number, relisted: boolean): void {
    const next = this.next ?? new ViewState()
    this.next = undefined
    const before = relisted ? new Set(this.state.keys()) : undefined
    this.state = next
    this.storeRevision = revision
    for (const listener of this.listeners) listener.replaced()
    this.touch()
    if (before) {
      for (const key of next.keys()) before.add(key)
      this.options.onChange?.([...before])
    }
  }

  private applyEvent(event: WatchEvent): void {
    const key = event.type === 'put' ? event.kv.key : event.key
    const revision = event.type === 'put' ? event.kv.modRevision : event.modRevision
    if (key.startsWith(HISTORY_PREFIX)) {
      // Not a change of anything the view holds: only the revision it has seen moves.
      this.storeRevision = Math.max(this.storeRevision, revision)
      return
    }
    const change = event.type === 'put' ? this.state.put(event.kv, this.interner) : this.state.remove(key, revision)
    if (change) for (const listener of this.listeners) notify(listener, change)
    this.storeRevision = Math.max(this.storeRevision, revision)
    this.touch()
    this.options.onChange?.([key])
  }

  private touch(): void {
    this.generation++
    for (const check of [...this.waiters]) check()
  }

  get counts(): {servers: number; namespaces: number; services: number} {
    return {servers: this.state.servers.size, namespaces: this.namespaceList().length, services: this.state.serviceCount}
  }

  /** Services per server and namespace (live: read it, do not keep it). */
  serviceCounts(): ServiceCounts {
    return this.state
  }

  /** Namespaces sorted by name; `default` is always there. */
  namespaceList(): Namespace[] {
    const list = [...this.state.namespaces.values()].map((e) => e.value)
    if (!this.state.namespaces.has(DEFAULT_NAMESPACE)) list.push(IMPLICIT_DEFAULT)
    return list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  }

  namespace(name: string): Namespace | undefined {
    const entry = this.state.namespaces.get(name)
    if (entry) return entry.value
    return name === DEFAULT_NAMESPACE ? IMPLICIT_DEFAULT : undefined
  }

  server(name: string): Server | undefined {
    return this.state.servers.get(name)?.value
  }

  /** Service `id` of `namespace`, with its revision. */
  service(namespace: string, id: string): Revisioned<Service> | undefined {
    return this.state.services.get(namespace)?.get(id)
  }

  /** Services of one namespace, unordered. */
  servicesIn(namespace: string): Iterable<Revisioned<Service>> {
    return this.state.services.get(namespace)?.values() ?? []
  }

  /** How many services `namespace` holds. */
  serviceCountIn(namespace: string): number {
    return this.state.services.get(namespace)?.size ?? 0
  }

  /** Every service, namespace by namespace, unordered. */
  *allServices(): Iterable<Revisioned<Service>> {
    for (const byId of this.state.services.values()) yield* byId.values()
  }

  /** Namespaces that hold service `id`. */
  namespacesHolding(id: string): string[] {
    const found: string[] = []
    for (const [ns, byId] of this.state.services) if (byId.has(id)) found.push(ns)
    return found
  }

  /** The namespaces holding services, in store key order (`NS/` sorts as the keys `services/NS/ID` do). */
  serviceNamespacesInKeyOrder(): string[] {
    return [...this.state.services.keys()].sort((a, b) => codeUnitOrder(`${a}/`, `${b}/`))
  }

  /** The service IDs of `namespace` in store key order: kept sorted until the set of IDs changes, then merged. */
  serviceIdsInOrder(namespace: string): readonly string[] {
    return this.state.sortedIds(namespace)
  }

  isRevoked(tokenId: string): boolean {
    return this.state.revoked.has(tokenId)
  }

  async close(): Promise<void> {
    const follower = this.follower
    this.follower = undefined
    await follower?.close()
  }
}

type Change =
  | {kind: 'service'; before: Revisioned<Service> | undefined; after: Revisioned<Service> | undefined}
  | {kind: 'server-removed'; name: string}

function notify(listener: ViewListener, change: Change): void {
  if (change.kind === 'service') listener.service(change.before, change.after)
  else listener.serverRemoved(change.name)
}

/** Everything the view holds at one point, built from a list and changed by events. */
class ViewState implements ServiceCounts {
  readonly servers = new Map<string, Entry<Server>>()
  readonly namespaces = new Map<string, Entry<Namespace>>()
  /** namespace → service id → service, with its revision (what the API lists) */
  readonly services = new Map<string, Map<string, Revisioned<Service>>>()
  readonly revoked = new Map<string, number>()
  settings: RegistrySettings = {replicas: 1}
  settingsRevision = 0
  serviceCount = 0
  readonly byServer = new Map<string, Map<string, number>>()
  readonly unassigned = new Map<string, number>()
  /** namespace → its IDs sorted, and what changed since; absent: sort all when asked. */
  private readonly sorted = new Map<string, SortedIds>()

  put(kv: KeyValue, interner: Interner): Change | undefined {
    const {key} = kv
    if (key.startsWith(SERVICES_PREFIX)) {
      const [ns, id] = splitServiceKey(key)
      if (!ns || !id) return undefined
      let byId = this.services.get(ns)
      const before = byId?.get(id)
      if (before && before.revision > kv.modRevision) return undefined
      const after = interner.service(JSON.parse(kv.value) as Service, kv.modRevision)
      if (!byId) this.services.set(ns, (byId = new Map()))
      // The record's own id rather than a slice of the key, which would keep the whole key alive.
      const kept = after.id === id ? after.id : id
      byId.set(kept, after)
      if (before) this.count(before, -1)
      else {
        this.serviceCount++
        this.sorted.get(ns)?.add(kept)
      }
      this.count(after, 1)
      return {kind: 'service', before, after}
    }
    if (key.startsWith(SERVERS_PREFIX)) {
      putEntry(this.servers, key.slice(SERVERS_PREFIX.length), kv)
    } else if (key.startsWith(NAMESPACES_PREFIX)) {
      putEntry(this.namespaces, key.slice(NAMESPACES_PREFIX.length), kv)
    } else if (key === SETTINGS_KEY) {
      if (kv.modRevision < this.settingsRevision) return undefined
      this.settings = JSON.parse(kv.value) as RegistrySettings
      this.settingsRevision = kv.modRevision
    } else if (key.startsWith(REVOKED_PREFIX)) {
      this.revoked.set(key.slice(REVOKED_PREFIX.length), kv.modRevision)
    }
    return undefined
  }

  remove(key: string, modRevision: number): Change | undefined {
    if (key.startsWith(SERVICES_PREFIX)) {
      const [ns, id] = splitServiceKey(key)
      const byId = ns ? this.services.get(ns) : undefined
      const before = id ? byId?.get(id) : undefined
      if (!byId || !before || before.revision > modRevision) return undefined
      byId.delete(id!)
      if (byId.size === 0) {
        this.services.delete(ns!)
        this.sorted.delete(ns!)
      } else this.sorted.get(ns!)?.remove(id!)
      this.serviceCount--
      this.count(before, -1)
      return {kind: 'service', before, after: undefined}
    }
    if (key.startsWith(SERVERS_PREFIX)) {
      const name = key.slice(SERVERS_PREFIX.length)
      if (removeEntry(this.servers, name, modRevision)) return {kind: 'server-removed', name}
    } else if (key.startsWith(NAMESPACES_PREFIX)) {
      removeEntry(this.namespaces, key.slice(NAMESPACES_PREFIX.length), modRevision)
    } else if (key === SETTINGS_KEY) {
      if (this.settingsRevision > modRevision) return undefined
      this.settings = {replicas: 1}
      this.settingsRevision = 0
    } else if (key.startsWith(REVOKED_PREFIX)) {
      this.revoked.delete(key.slice(REVOKED_PREFIX.length))
    }
    return undefined
  }

  private count(service: Service, by: 1 | -1): void {
    const ns = service.namespace
    if (service.servers.length === 0) addCount(this.unassigned, ns, by)
    for (const server of service.servers) {
      let perNs = this.byServer.get(server)
      if (!perNs) this.byServer.set(server, (perNs = new Map()))
      addCount(perNs, ns, by)
      if (perNs.size === 0) this.byServer.delete(server)
    }
  }

  sortedIds(namespace: string): readonly string[] {
    const byId = this.services.get(namespace)
    if (!byId) return []
    let sorted = this.sorted.get(namespace)
    if (!sorted) this.sorted.set(namespace, (sorted = new SortedIds(byId)))
    return sorted.list()
  }

  *keys(): Iterable<string> {
    for (const name of this.servers.keys()) yield SERVERS_PREFIX + name
    for (const name of this.namespaces.keys()) yield NAMESPACES_PREFIX + name
    for (const [ns, byId] of this.services) for (const id of byId.keys()) yield `${SERVICES_PREFIX}${ns}/${id}`
    for (const id of this.revoked.keys()) yield REVOKED_PREFIX + id
    if (this.settingsRevision > 0) yield SETTINGS_KEY
  }
}

function addCount(counts: Map<string, number>, key: string, by: number): void {
  const n = (counts.get(key) ?? 0) + by
  if (n === 0) counts.delete(key)
  else counts.set(key, n)
}

/**
 * A namespace's service IDs in order, for listings: sorted once, then kept with the IDs added and
 * removed since, which the next listing merges in (linear, instead of sorting them all again).
 */
class SortedIds {
  private sorted?: string[]
  private readonly added = new Set<string>()
  private readonly removed = new Set<string>()

  constructor(private readonly byId: ReadonlyMap<string, unknown>) {}

  add(id: string): void {
    if (!this.sorted) return
    if (!this.removed.delete(id)) this.added.add(id)
    this.limit()
  }

  remove(id: string): void {
    if (!this.sorted) return
    if (!this.added.delete(id)) this.removed.add(id)
    this.limit()
  }

  list(): string[] {
    if (!this.sorted) return (this.sorted = [...this.byId.keys()].sort(codeUnitOrder))
    if (this.added.size === 0 && this.removed.size === 0) return this.sorted
    const added = [...this.added].sort(codeUnitOrder)
    const merged: string[] = []
    let j = 0
    for (const id of this.sorted) {
      while (j < added.length && added[j]! < id) merged.push(added[j++]!)
      if (!this.removed.has(id)) merged.push(id)
    }
    while (j < added.length) merged.push(added[j++]!)
    this.added.clear()
    this.removed.clear()
    return (this.sorted = merged)
  }

  /** Past a quarter of the IDs changed, sorting them all again is as cheap: forget. */
  private limit(): void {
    if (this.sorted && this.added.size + this.removed.size > this.sorted.length / 4 + 1000) {
      this.sorted = undefined
      this.added.clear()
      this.removed.clear()
    }
  }
}

/** How many distinct values of one field are shared; past it, new values are kept as they come. */
const MAX_SHARED = 100_000
/** Times (modified, expires) repeat within a bulk write only: a small table of the latest, emptied when full. */
const MAX_SHARED_TIMES = 4096

/**
 * One copy of each repeating value of the services: names, namespaces, selectors, descriptions
 * and times as strings, labels and server lists as frozen objects. A service record points to
 * them, so a million services of a few hundred names and label sets hold a few hundred copies.
 */
class Interner {
  private readonly strings = new Map<string, string>()
  private readonly times = new Map<string, string>()
  private readonly labelSets = new Map<string, Readonly<Record<string, string>>>()
  private readonly serverLists = new Map<string, readonly string[]>()

  service(value: Service, revision: number): Revisioned<Service> {
    const record: Revisioned<Service> = {
      id: value.id,
      name: this.string(value.name),
      namespace: this.string(value.namespace),
      endpoint: value.endpoint,
      labels: this.labels(value.labels),
      selector: this.string(value.selector),
      servers: this.serverList(value.servers) as string[],
      description: this.string(value.description),
      modified: this.time(value.modified),
      revision,
    }
    if (value.expires !== undefined) record.expires = this.time(value.expires)
    if (value.registeredBy !== undefined) record.registeredBy = this.string(value.registeredBy)
    return record
  }

  private string(value: string): string {
    return shared(this.strings, value, value, MAX_SHARED)
  }

  private time(value: string): string {
    if (this.times.size >= MAX_SHARED_TIMES) this.times.clear()
    return shared(this.times, value, value, MAX_SHARED_TIMES)
  }

  private labels(labels: Record<string, string>): Readonly<Record<string, string>> {
    return shared(this.labelSets, JSON.stringify(labels), labels, MAX_SHARED, Object.freeze)
  }

  private serverList(servers: string[]): readonly string[] {
    return shared(this.serverLists, servers.join('\u0000'), servers, MAX_SHARED, (list) => Object.freeze(list.map((s) => this.string(s))))
  }
}

function shared<K, V>(table: Map<K, V>, key: K, value: V, max: number, prepare: (value: V) => V = (v) => v): V {
  const found = table.get(key)
  if (found !== undefined) return found
  const kept = prepare(value)
  if (table.size < max) table.set(key, kept)
  return kept
}

/**
 * Service IDs and namespace names are ASCII, where the order of code units is the stores' order
 * of bytes (compareKeys in store.ts) without a Buffer for each comparison of a million IDs.
 */
function codeUnitOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function splitServiceKey(key: string): [string | undefined, string | undefined] {
  const rest = key.slice(SERVICES_PREFIX.length)
  const slash = rest.indexOf('/')
  if (slash < 0) return [undefined, undefined]
  return [rest.slice(0, slash), rest.slice(slash + 1)]
}

function putEntry<T>(map: Map<string, Entry<T>>, name: string, kv: KeyValue): void {
  const current = map.get(name)
  if (current && current.modRevision > kv.modRevision) return
  map.set(name, {value: JSON.parse(kv.value) as T, modRevision: kv.modRevision})
}

/** Whether it removed the entry. */
function removeEntry<T>(map: Map<string, Entry<T>>, name: string, modRevision: number): boolean {
  const current = map.get(name)
  if (!current || current.modRevision > modRevision) return false
  map.delete(name)
  return true
}
