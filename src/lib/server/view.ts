/**
 * The in-memory view of the registry that `roster serve` answers from: servers, namespaces,
 * services, settings and token revocations (the token authority asks the view whether a token is
 * revoked), kept current by the store follower (store/follower.ts), never by a store read per
 * request.
 *
 * Every key carries its mod revision, so an event older than what the view holds is ignored.
 * A relist of the follower replaces the whole view. `generation` rises with every applied change;
 * the http_sd answers are cached per generation.
 */
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

interface Entry<T> {
  value: T
  modRevision: number
}

export class RegistryView {
  /** Store revision the view reflects (the highest applied). */
  storeRevision = 0
  /** Rises by one with every applied change; keys caches. */
  generation = 0
  synced = false

  readonly servers = new Map<string, Entry<Server>>()
  readonly namespaces = new Map<string, Entry<Namespace>>()
  /** namespace → service id → service, with its revision (what the API lists) */
  readonly services = new Map<string, Map<string, Entry<Revisioned<Service>>>>()
  readonly revoked = new Map<string, number>()
  settings: RegistrySettings = {replicas: 1}
  private settingsRevision = 0
  private serviceCount = 0
  private sortedKeys?: string[]
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

  /** Loads the whole registry, then follows it. Resolves when the view is current. */
  async start(): Promise<void> {
    this.follower = await follow(
      this.store,
      '',
      {
        onSnapshot: (kvs, revision, relisted) => this.replace(kvs, revision, relisted),
        onEvent: (event) => this.applyEvent(event),
        onError: (error) => this.options.onError?.(error),
      },
      {pageSize: 5000},
    )
    this.synced = true
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

  /** A snapshot: the first load, or after a relist, the whole view anew. */
  private replace(kvs: KeyValue[], revision: number, relisted: boolean): void {
    const before = relisted ? new Set(this.allKeys()) : undefined
    if (relisted) this.clear()
    for (const kv of kvs) {
      try {
        this.put(kv)
      } catch (error) {
        this.options.onError?.(error)
      }
    }
    this.storeRevision = revision
    this.touch()
    if (before) {
      for (const kv of kvs) before.add(kv.key)
      this.options.onChange?.([...before])
    }
  }

  private clear(): void {
    this.servers.clear()
    this.namespaces.clear()
    this.services.clear()
    this.revoked.clear()
    this.settings = {replicas: 1}
    this.settingsRevision = 0
    this.serviceCount = 0
    this.sortedKeys = undefined
  }

  private applyEvent(event: WatchEvent): void {
    if (event.type === 'put') {
      this.put(event.kv)
      this.storeRevision = Math.max(this.storeRevision, event.kv.modRevision)
      this.touch()
      this.options.onChange?.([event.kv.key])
    } else {
      this.remove(event.key, event.modRevision)
      this.storeRevision = Math.max(this.storeRevision, event.modRevision)
      this.touch()
      this.options.onChange?.([event.key])
    }
  }

  private touch(): void {
    this.generation++
    for (const check of [...this.waiters]) check()
  }

  private *allKeys(): Iterable<string> {
    for (const name of this.servers.keys()) yield SERVERS_PREFIX + name
    for (const name of this.namespaces.keys()) yield NAMESPACES_PREFIX + name
    for (const [ns, byId] of this.services) for (const id of byId.keys()) yield `${SERVICES_PREFIX}${ns}/${id}`
    for (const id of this.revoked.keys()) yield REVOKED_PREFIX + id
    if (this.settingsRevision > 0) yield SETTINGS_KEY
  }

  private put(kv: KeyValue): void {
    const {key} = kv
    if (key.startsWith(SERVICES_PREFIX)) {
      const [ns, id] = splitServiceKey(key)
      if (!ns || !id) return
      let byId = this.services.get(ns)
      if (!byId) this.services.set(ns, (byId = new Map()))
      const current = byId.get(id)
      if (current && current.modRevision > kv.modRevision) return
      if (!current) {
        this.serviceCount++
        this.sortedKeys = undefined
      }
      const value = JSON.parse(kv.value) as Revisioned<Service>
      value.revision = kv.modRevision
      byId.set(id, {value, modRevision: kv.modRevision})
    } else if (key.startsWith(SERVERS_PREFIX)) {
      putEntry(this.servers, key.slice(SERVERS_PREFIX.length), kv)
    } else if (key.startsWith(NAMESPACES_PREFIX)) {
      putEntry(this.namespaces, key.slice(NAMESPACES_PREFIX.length), kv)
    } else if (key === SETTINGS_KEY) {
      if (kv.modRevision < this.settingsRevision) return
      this.settings = JSON.parse(kv.value) as RegistrySettings
      this.settingsRevision = kv.modRevision
    } else if (key.startsWith(REVOKED_PREFIX)) {
      this.revoked.set(key.slice(REVOKED_PREFIX.length), kv.modRevision)
    }
  }

  private remove(key: string, modRevision: number): void {
    if (key.startsWith(SERVICES_PREFIX)) {
      const [ns, id] = splitServiceKey(key)
      const byId = ns ? this.services.get(ns) : undefined
      const current = id ? byId?.get(id) : undefined
      if (!byId || !current || current.modRevision > modRevision) return
      byId.delete(id!)
      if (byId.size === 0) this.services.delete(ns!)
      this.serviceCount--
      this.sortedKeys = undefined
    } else if (key.startsWith(SERVERS_PREFIX)) {
      removeEntry(this.servers, key.slice(SERVERS_PREFIX.length), modRevision)
    } else if (key.startsWith(NAMESPACES_PREFIX)) {
      removeEntry(this.namespaces, key.slice(NAMESPACES_PREFIX.length), modRevision)
    } else if (key === SETTINGS_KEY) {
      if (this.settingsRevision > modRevision) return
      this.settings = {replicas: 1}
      this.settingsRevision = 0
    } else if (key.startsWith(REVOKED_PREFIX)) {
      this.revoked.delete(key.slice(REVOKED_PREFIX.length))
    }
  }

  get counts(): {servers: number; namespaces: number; services: number} {
    return {servers: this.servers.size, namespaces: this.namespaceList().length, services: this.serviceCount}
  }

  /** Namespaces sorted by name; `default` is always there. */
  namespaceList(): Namespace[] {
    const list = [...this.namespaces.values()].map((e) => e.value)
    if (!this.namespaces.has(DEFAULT_NAMESPACE)) list.push({name: DEFAULT_NAMESPACE, export: 'standard', modified: ''})
    return list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  }

  namespace(name: string): Namespace | undefined {
    const entry = this.namespaces.get(name)
    if (entry) return entry.value
    return name === DEFAULT_NAMESPACE ? {name: DEFAULT_NAMESPACE, export: 'standard', modified: ''} : undefined
  }

  server(name: string): Server | undefined {
    return this.servers.get(name)?.value
  }

  /** Services of one namespace, unordered. */
  *servicesIn(namespace: string): Iterable<Service> {
    const byId = this.services.get(namespace)
    if (byId) for (const e of byId.values()) yield e.value
  }

  /** Namespaces that hold service `id`. */
  namespacesHolding(id: string): string[] {
    const found: string[] = []
    for (const [ns, byId] of this.services) if (byId.has(id)) found.push(ns)
    return found
  }

  /** Every service in store key order (`namespace/id`), cached until the set of keys changes. */
  serviceKeysInOrder(): string[] {
    if (!this.sortedKeys) {
      const keys: string[] = []
      for (const [ns, byId] of this.services) for (const id of byId.keys()) keys.push(`${ns}/${id}`)
      this.sortedKeys = keys.sort()
    }
    return this.sortedKeys
  }

  serviceByKey(key: string): Revisioned<Service> | undefined {
    const slash = key.indexOf('/')
    return this.services.get(key.slice(0, slash))?.get(key.slice(slash + 1))?.value
  }

  isRevoked(tokenId: string): boolean {
    return this.revoked.has(tokenId)
  }

  async close(): Promise<void> {
    const follower = this.follower
    this.follower = undefined
    await follower?.close()
  }
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

function removeEntry<T>(map: Map<string, Entry<T>>, name: string, modRevision: number): void {
  const current = map.get(name)
  if (current && current.modRevision <= modRevision) map.delete(name)
}
