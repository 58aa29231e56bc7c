/**
 * The in-memory view of the registry that `roster serve` answers from: servers, namespaces,
 * services, settings and token revocations, kept current by the store's watch (etcd) or by a
 * cheap change check polled every `pollMs` (SQLite, written by other processes too), never by a
 * store read per request.
 *
 * Every key carries its mod revision, so an event older than what the view holds (a watch that
 * replays from the load revision) is ignored. `revision` rises with every applied change; the
 * http_sd answers are cached per revision.
 */
import {NAMESPACES_PREFIX, SERVERS_PREFIX, SERVICES_PREFIX, SETTINGS_KEY} from '../registry/keys.js'
import {DEFAULT_NAMESPACE, type Namespace, type RegistrySettings, type Server, type Service} from '../registry/model.js'
import type {KeyValue, Store, Watch, WatchEvent} from '../store/store.js'

export const REVOKED_PREFIX = 'auth/revoked/'

export interface ViewOptions {
  /** Change-check interval for stores without watch. Default 200 ms. */
  pollMs?: number
  /** Called with every error of the watch or the change check (counted as store errors). */
  onError?: (error: unknown) => void
  /** Called after every applied batch of changes, with the store keys that changed. */
  onChange?: (keys: string[]) => void
}

interface Entry<T> {
  value: T
  modRevision: number
}

export class RegistryView {
  /** Store revision the view reflects (the highest applied). */
  storeRevision = 0
  /** Rises by one with every applied batch; keys caches. */
  generation = 0
  /** When the view last confirmed it was current (epoch ms). */
  lastSyncedAt = 0
  synced = false

  readonly servers = new Map<string, Entry<Server>>()
  readonly namespaces = new Map<string, Entry<Namespace>>()
  /** namespace → service id → service */
  readonly services = new Map<string, Map<string, Entry<Service>>>()
  readonly revoked = new Map<string, number>()
  settings: RegistrySettings = {replicas: 1}
  private settingsRevision = 0
  /** Keys in the store at the last change check (SQLite). */
  private keyCount = 0
  private serviceCount = 0
  private sortedKeys?: string[]
  private watch?: Watch
  private timer?: NodeJS.Timeout
  private closed = false
  private polling?: Promise<void>
  private readonly waiters = new Set<() => void>()

  constructor(
    private readonly store: Store,
    private readonly options: ViewOptions = {},
  ) {}

  /** Loads the whole registry, then follows it. Resolves when the view is current. */
  async start(): Promise<void> {
    let revision = 0
    if (this.store.changesSince) {
      // SQLite: one snapshot gives the keys, the revision and the key count the checks start from.
      const first = await this.store.changesSince(-1, -1)
      revision = first?.revision ?? 0
      this.keyCount = first?.keyCount ?? 0
      for (const kv of first?.changed ?? []) this.put(kv)
    } else {
      for await (const page of this.store.range('', {pageSize: 5000})) {
        revision = page.revision
        for (const kv of page.kvs) this.put(kv)
      }
    }
    this.storeRevision = revision
    this.touch()
    if (this.store.watch) {
      this.watch = await this.store.watch('', revision, (event) => this.applyEvent(event))
    } else if (this.store.changesSince) {
      this.timer = setInterval(() => void this.poll(), this.options.pollMs ?? 200)
      this.timer.unref()
    }
    this.synced = true
    this.lastSyncedAt = Date.now()
  }

  /** Applies the changes since the view's revision (SQLite); one check at a time. */
  poll(): Promise<void> {
    if (this.polling) return this.polling
    this.polling = this.pollNow().finally(() => (this.polling = undefined))
    return this.polling
  }

  /**
   * Read-your-writes for this instance's own writes: on SQLite, a fresh change check (after any
   * in flight); on etcd, waits (at most `timeoutMs`) until `done()` holds, re-checked on every
   * watch event.
   */
  async settle(done: () => boolean, timeoutMs = 2000): Promise<void> {
    if (this.store.changesSince) {
      if (this.polling) await this.polling
      await this.poll()
      return
    }
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

  /** On SQLite, one cheap change check before a read that should see this instance's writes. */
  async fresh(): Promise<void> {
    if (!this.store.changesSince) return
    if (this.polling) await this.polling
    await this.poll()
  }

  private async pollNow(): Promise<void> {
    if (this.closed || !this.store.changesSince) return
    try {
      const changes = await this.store.changesSince(this.storeRevision, this.keyCount)
      this.lastSyncedAt = Date.now()
      if (!changes) return
      const keys: string[] = []
      if (changes.keys) {
        const present = new Set(changes.keys)
        for (const key of [...this.allKeys()]) {
          if (!present.has(key)) {
            this.remove(key, Number.MAX_SAFE_INTEGER)
            keys.push(key)
          }
        }
      }
      this.keyCount = changes.keyCount
      for (const kv of changes.changed) {
        this.put(kv)
        keys.push(kv.key)
      }
      this.storeRevision = changes.revision
      this.touch()
      this.options.onChange?.(keys)
    } catch (error) {
      this.options.onError?.(error)
    }
  }

  private applyEvent(event: WatchEvent): void {
    try {
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
      this.lastSyncedAt = Date.now()
    } catch (error) {
      this.options.onError?.(error)
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
      byId.set(id, {value: JSON.parse(kv.value) as Service, modRevision: kv.modRevision})
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

  serviceByKey(key: string): Service | undefined {
    const slash = key.indexOf('/')
    return this.services.get(key.slice(0, slash))?.get(key.slice(slash + 1))?.value
  }

  isRevoked(tokenId: string): boolean {
    return this.revoked.has(tokenId)
  }

  async close(): Promise<void> {
    this.closed = true
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    const watch = this.watch
    this.watch = undefined
    if (watch) await watch.close()
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
