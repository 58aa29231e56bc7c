/**
 * The registry operations over a Store: servers, namespaces, services and settings. Free of CLI
 * concerns: the commands call it, and a future `roster serve` exposes the same API over HTTP.
 *
 * Consistency rules (see keys.ts):
 * - Every change to the candidate server set (a server joining, changing labels or leaving) and
 *   every change of `replicas` rewrites the `topology` key in the same transaction.
 * - Every write of a service assignment compares the topology key's mod revision read before the
 *   server set was read, and the service key's own mod revision; on a failed compare it re-reads
 *   and retries. So no write commits an assignment computed from a stale server set, and
 *   concurrent writers never lose each other's changes.
 * - Server changes are followed by a redistribution pass that pages through every service and
 *   rewrites the changed ones in transactions of at most MAX_TXN_OPS operations.
 */
import {ConflictError, InvalidInputError, NotFoundError, listProblems} from '../errors.js'
import {type Compare, type KeyValue, MAX_TXN_OPS, type Operation, type Store, rangeAll} from '../store/store.js'
import {assignServers, requireCandidates, sameServers} from './distribution.js'
import {
  NAMESPACES_PREFIX,
  SERVERS_PREFIX,
  SERVICES_PREFIX,
  SETTINGS_KEY,
  TOPOLOGY_KEY,
  namespaceKey,
  namespaceServicesPrefix,
  serverKey,
  serviceKey,
} from './keys.js'
import {DEFAULT_NAMESPACE, type ExportConfig, type Namespace, type RegistrySettings, type Server, type Service} from './model.js'
import type {RegistryClient} from './registry-client.js'
import {SelectorCache, parseSelector} from './selector.js'
import {isServiceId, serviceId} from './service-id.js'
import {
  parseRegex,
  validateDescription,
  validateEndpoint,
  validateExport,
  validateLabels,
  validateName,
  validateReplicas,
} from './validation.js'

export const DEFAULT_SETTINGS: RegistrySettings = {replicas: 1}

/** What a caller gives to register services: one service per endpoint. */
export interface ServiceInput {
  name: string
  endpoints: readonly string[]
  namespace?: string
  labels?: Record<string, string>
  selector?: string
  description?: string
}

/** A validated service, before its assignment is computed. */
export type ServiceSpec = Omit<Service, 'servers' | 'modified'>

export interface RegisterServicesResult {
  services: Service[]
  created: number
  updated: number
  unchanged: number
}

export interface RedistributionResult {
  /** Services read. */
  checked: number
  /** Services whose assignment changed and was rewritten. */
  moved: number
  /** Services left with no server (no candidate matches their selector). */
  unassigned: number
}

export interface ServerChangeResult extends RedistributionResult {
  server: Server
}

export interface UnregisterServerResult extends RedistributionResult {
  server: string
}

export interface UnregisterNamespaceResult {
  namespace: string
  servicesRemoved: number
}

export interface UnregisterServicesResult {
  removed: Service[]
  /** The arguments that named no registered service. */
  notFound: string[]
}

export interface ServiceFilter {
  namespace?: string
  /** Regular expressions (JavaScript syntax), unanchored. */
  name?: string
  endpoint?: string
  /** Matches any of the service's servers; an unassigned service is matched as "". */
  server?: string
  /** Label selector over the service's labels. */
  selector?: string
  sortBy?: 'name' | 'endpoint' | 'date'
}

export interface ImportEntryError {
  /** 1-based position of the entry in the file. */
  position: number
  message: string
}

export interface ImportResult {
  entries: number
  services: number
  created: number
  updated: number
  unchanged: number
}

export interface RegistryOptions {
  now?: () => Date
  /** Attempts of one compare-and-swap write before giving up with a ConflictError. Default 50. */
  maxAttempts?: number
  /** Page size for ranges over services. Default 1000. */
  pageSize?: number
}

/** The server set and settings, read under one topology revision. */
interface Topology {
  revision: number
  servers: Server[]
  settings: RegistrySettings
}

class TopologyChanged extends Error {}

const IMPORT_FIELDS = new Set(['name', 'endpoints', 'endpoint', 'namespace', 'labels', 'selector', 'description'])

function parseJson<T>(kv: Pick<KeyValue, 'key' | 'value'>): T {
  try {
    return JSON.parse(kv.value) as T
  } catch (error) {
    throw new Error(`store key "${kv.key}" does not hold valid JSON`, {cause: error})
  }
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a)
  if (ka.length !== Object.keys(b).length) return false
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && a[k] === b[k])
}

function sameService(a: Service, b: Service): boolean {
  return (
    a.id === b.id &&
    a.name === b.name &&
    a.namespace === b.namespace &&
    a.endpoint === b.endpoint &&
    a.selector === b.selector &&
    a.description === b.description &&
    sameLabels(a.labels, b.labels) &&
    sameServers(a.servers, b.servers)
  )
}

function jitter(attempt: number): Promise<void> {
  const ceiling = Math.min(200, 5 * 2 ** Math.min(attempt, 6))
  return new Promise((resolve) => setTimeout(resolve, ceiling / 2 + Math.random() * (ceiling / 2)))
}

export class Registry implements RegistryClient {
  private readonly now: () => Date
  private readonly maxAttempts: number
  private readonly pageSize: number

  constructor(
    readonly store: Store,
    options: RegistryOptions = {},
  ) {
    this.now = options.now ?? (() => new Date())
    this.maxAttempts = options.maxAttempts ?? 50
    this.pageSize = options.pageSize ?? 1000
  }

  get description(): string {
    return this.store.description
  }

  private timestamp(): string {
    return this.now().toISOString()
  }

  private giveUp(what: string): ConflictError {
    return new ConflictError(`${what}: gave up after ${this.maxAttempts} attempts because of concurrent changes; try again`)
  }

  // ---------------------------------------------------------------- topology and settings

  /** Reads the topology revision first, then the servers and settings it covers. */
  private async readTopology(): Promise<Topology> {
    const topology = await this.store.get(TOPOLOGY_KEY)
    const servers = (await rangeAll(this.store, SERVERS_PREFIX)).map((kv) => parseJson<Server>(kv))
    const settingsKv = await this.store.get(SETTINGS_KEY)
    const settings = settingsKv ? {...DEFAULT_SETTINGS, ...parseJson<Partial<RegistrySettings>>(settingsKv)} : {...DEFAULT_SETTINGS}
    return {revision: topology?.modRevision ?? 0, servers, settings}
  }

  private topologyOp(): Operation {
    return {type: 'put', key: TOPOLOGY_KEY, value: JSON.stringify({changed: this.timestamp()})}
  }

  async getSettings(): Promise<RegistrySettings> {
    const kv = await this.store.get(SETTINGS_KEY)
    return kv ? {...DEFAULT_SETTINGS, ...parseJson<Partial<RegistrySettings>>(kv)} : {...DEFAULT_SETTINGS}
  }

  /** Changes the settings; a change of `replicas` redistributes every service. */
  async updateSettings(update: {replicas?: unknown}): Promise<{settings: RegistrySettings} & RedistributionResult> {
    const replicas = update.replicas === undefined ? undefined : validateReplicas('replicas', update.replicas)
    for (let attempt = 1; ; attempt++) {
      const kv = await this.store.get(SETTINGS_KEY)
      const current = kv ? {...DEFAULT_SETTINGS, ...parseJson<Partial<RegistrySettings>>(kv)} : {...DEFAULT_SETTINGS}
      const next: RegistrySettings = {...current, ...(replicas === undefined ? {} : {replicas})}
      if (kv && next.replicas === current.replicas) return {settings: current, ...(await this.redistribute())}
      if (!kv && replicas === undefined) return {settings: current, checked: 0, moved: 0, unassigned: 0}
      const result = await this.store.txn(
        [{key: SETTINGS_KEY, modRevision: kv?.modRevision ?? 0}],
        [{type: 'put', key: SETTINGS_KEY, value: JSON.stringify(next)}, this.topologyOp()],
      )
      if (result.succeeded) return {settings: next, ...(await this.redistribute())}
      if (attempt >= this.maxAttempts) throw this.giveUp('settings')
      await jitter(attempt)
    }
  }

  // ---------------------------------------------------------------- servers

  async getServer(name: string): Promise<Server | undefined> {
    const kv = await this.store.get(serverKey(validateName('server', name)))
    return kv ? parseJson<Server>(kv) : undefined
  }

  async listServers(selectorText?: string): Promise<Server[]> {
    const selector = parseSelector(selectorText, 'selector')
    const servers = (await rangeAll(this.store, SERVERS_PREFIX)).map((kv) => parseJson<Server>(kv))
    return servers.filter((s) => selector.matches(s.labels))
  }

  /**
   * Registers a server (or updates its labels): writes it `joining`, redistributes every
   * service, then marks it `active`. Idempotent: registering an active server with the same
   * labels writes nothing and only checks the distribution.
   */
  async registerServer(nameInput: string, labelsInput: Record<string, string> = {}): Promise<ServerChangeResult> {
    const name = validateName('server', nameInput)
    const labels = validateLabels('label', labelsInput)
    const key = serverKey(name)
    let writtenRevision = 0
    let server: Server
    for (let attempt = 1; ; attempt++) {
      const kv = await this.store.get(key)
      const current = kv ? parseJson<Server>(kv) : undefined
      if (current && kv && current.state === 'active' && sameLabels(current.labels, labels)) {
        return {server: current, ...(await this.redistribute())}
      }
      server = {name, labels, state: 'joining', modified: this.timestamp()}
      const result = await this.store.txn(
        [{key, modRevision: kv?.modRevision ?? 0}],
        [{type: 'put', key, value: JSON.stringify(server)}, this.topologyOp()],
      )
      if (result.succeeded) {
        writtenRevision = result.revision
        break
      }
      if (attempt >= this.maxAttempts) throw this.giveUp(`server "${name}"`)
      await jitter(attempt)
    }
    const distribution = await this.redistribute()
    const active: Server = {...server, state: 'active', modified: this.timestamp()}
    const result = await this.store.txn([{key, modRevision: writtenRevision}], [{type: 'put', key, value: JSON.stringify(active)}])
    if (!result.succeeded) {
      // Changed meanwhile by another register (it finishes the job) or an unregister.
      const now = await this.store.get(key)
      if (!now) throw new ConflictError(`server "${name}" was unregistered while it was being registered`)
      return {server: parseJson<Server>(now), ...distribution}
    }
    return {server: active, ...distribution}
  }

  /**
   * Unregisters a server: marks it `leaving`, moves every service off it, deletes it.
   * A process killed half-way leaves the server `leaving` (it receives no new services);
   * running unregister again finishes. An unknown server is a NotFoundError.
   */
  async unregisterServer(nameInput: string): Promise<UnregisterServerResult> {
    const name = validateName('server', nameInput)
    const key = serverKey(name)
    for (let attempt = 1; ; attempt++) {
      const kv = await this.store.get(key)
      if (!kv) throw new NotFoundError(`server "${name}" is not registered (roster server list shows the registered servers)`)
      const current = parseJson<Server>(kv)
      let leavingRevision = kv.modRevision
      if (current.state !== 'leaving') {
        const leaving: Server = {...current, state: 'leaving', modified: this.timestamp()}
        const result = await this.store.txn(
          [{key, modRevision: kv.modRevision}],
          [{type: 'put', key, value: JSON.stringify(leaving)}, this.topologyOp()],
        )
        if (!result.succeeded) {
          if (attempt >= this.maxAttempts) throw this.giveUp(`server "${name}"`)
          await jitter(attempt)
          continue
        }
        leavingRevision = result.revision
      }
      const distribution = await this.redistribute()
      const deleted = await this.store.txn([{key, modRevision: leavingRevision}], [{type: 'delete', key}])
      if (deleted.succeeded) return {server: name, ...distribution}
      const now = await this.store.get(key)
      if (!now) return {server: name, ...distribution}
      if (parseJson<Server>(now).state !== 'leaving')
        throw new ConflictError(`server "${name}" was registered again while it was being unregistered`)
      if (attempt >= this.maxAttempts) throw this.giveUp(`server "${name}"`)
    }
  }

  /**
   * Recomputes every service's assignment from the current servers and settings and rewrites
   * the changed ones, in transactions of at most MAX_TXN_OPS operations, each comparing the
   * topology revision and every service's mod revision. Restarts when the topology changes.
   */
  async redistribute(): Promise<RedistributionResult> {
    for (let restart = 1; ; restart++) {
      try {
        return await this.redistributionPass()
      } catch (error) {
        if (!(error instanceof TopologyChanged)) throw error
        if (restart >= this.maxAttempts) throw this.giveUp('redistribution')
        await jitter(restart)
      }
    }
  }

  private async redistributionPass(): Promise<RedistributionResult> {
    const topology = await this.readTopology()
    const selectors = new SelectorCache()
    const assign = (s: Service): string[] => {
      try {
        return assignServers(s, topology.servers, topology.settings.replicas, selectors)
      } catch {
        return [] // a stored selector that no longer parses selects nothing
      }
    }
    const counts: RedistributionResult = {checked: 0, moved: 0, unassigned: 0}
    const topologyCompare: Compare = {key: TOPOLOGY_KEY, modRevision: topology.revision}
    let batch: {kv: KeyValue; service: Service}[] = []
    let batchBytes = 0

    const writeOne = async (key: string): Promise<void> => {
      for (let attempt = 1; ; attempt++) {
        const kv = await this.store.get(key)
        if (!kv) return
        const service = parseJson<Service>(kv)
        const servers = assign(service)
        if (sameServers(servers, service.servers)) return
        const updated: Service = {...service, servers, modified: this.timestamp()}
        const result = await this.store.txn(
          [topologyCompare, {key, modRevision: kv.modRevision}],
          [{type: 'put', key, value: JSON.stringify(updated)}],
        )
        if (result.succeeded) return
        const t = await this.store.get(TOPOLOGY_KEY)
        if ((t?.modRevision ?? 0) !== topology.revision) throw new TopologyChanged()
        if (attempt >= this.maxAttempts) throw this.giveUp(`service key "${key}"`)
      }
    }

    const flush = async (): Promise<void> => {
      if (batch.length === 0) return
      const items = batch
      batch = []
      batchBytes = 0
      const compares: Compare[] = [topologyCompare, ...items.map(({kv}) => ({key: kv.key, modRevision: kv.modRevision}))]
      const ops: Operation[] = items.map(({kv, service}) => ({type: 'put', key: kv.key, value: JSON.stringify(service)}))
      const result = await this.store.txn(compares, ops)
      if (result.succeeded) return
      const t = await this.store.get(TOPOLOGY_KEY)
      if ((t?.modRevision ?? 0) !== topology.revision) throw new TopologyChanged()
      // Some of the services changed since the page was read: redo them one by one.
      for (const {kv} of items) await writeOne(kv.key)
    }

    for await (const page of this.store.range(SERVICES_PREFIX, {pageSize: this.pageSize})) {
      for (const kv of page.kvs) {
        counts.checked++
        const service = parseJson<Service>(kv)
        const servers = assign(service)
        if (servers.length === 0) counts.unassigned++
        if (sameServers(servers, service.servers)) continue
        counts.moved++
        batch.push({kv, service: {...service, servers, modified: this.timestamp()}})
        batchBytes += kv.key.length + kv.value.length + 64 * servers.length + 256
        if (batch.length >= MAX_TXN_OPS - 1 || batchBytes >= BATCH_BYTES) await flush()
      }
    }
    await flush()
    return counts
  }

  // ---------------------------------------------------------------- namespaces

  async getNamespace(nameInput: string): Promise<Namespace | undefined> {
    const name = validateName('namespace', nameInput)
    const kv = await this.store.get(namespaceKey(name))
    if (kv) return parseJson<Namespace>(kv)
    return name === DEFAULT_NAMESPACE ? implicitDefaultNamespace() : undefined
  }

  async listNamespaces(): Promise<Namespace[]> {
    const namespaces = (await rangeAll(this.store, NAMESPACES_PREFIX)).map((kv) => parseJson<Namespace>(kv))
    if (!namespaces.some((n) => n.name === DEFAULT_NAMESPACE)) namespaces.push(implicitDefaultNamespace())
    return namespaces.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  }

  /** Registers a namespace, or changes its export configuration. Idempotent. */
  async registerNamespace(nameInput: string, exportInput: unknown = 'standard'): Promise<Namespace> {
    const name = validateName('namespace', nameInput)
    const exportConfig: ExportConfig = validateExport('export', exportInput)
    const key = namespaceKey(name)
    for (let attempt = 1; ; attempt++) {
      const kv = await this.store.get(key)
      if (kv) {
        const current = parseJson<Namespace>(kv)
        if (current.export === exportConfig) return current
      }
      const namespace: Namespace = {name, export: exportConfig, modified: this.timestamp()}
      const result = await this.store.txn(
        [{key, modRevision: kv?.modRevision ?? 0}],
        [{type: 'put', key, value: JSON.stringify(namespace)}],
      )
      if (result.succeeded) return namespace
      if (attempt >= this.maxAttempts) throw this.giveUp(`namespace "${name}"`)
      await jitter(attempt)
    }
  }

  /**
   * Unregisters a namespace. One that still has services is refused with a ConflictError
   * naming the count, unless `force`, which deletes its services too. `default` always exists.
   */
  async unregisterNamespace(nameInput: string, force = false): Promise<UnregisterNamespaceResult> {
    const name = validateName('namespace', nameInput)
    if (name === DEFAULT_NAMESPACE)
      throw InvalidInputError.forField('namespace', name, 'the default namespace always exists and cannot be unregistered')
    const key = namespaceKey(name)
    const prefix = namespaceServicesPrefix(name)
    for (let attempt = 1; ; attempt++) {
      const kv = await this.store.get(key)
      const count = await this.countKeys(prefix)
      if (!kv && count === 0) throw new NotFoundError(`namespace "${name}" is not registered (roster namespace list shows the namespaces)`)
      if (count > 0 && !force)
        throw new ConflictError(
          `namespace "${name}" still has ${count} service${count === 1 ? '' : 's'}; unregister them first or use --force to delete them with it`,
        )
      if (kv) {
        // Delete the namespace first: service writes compare its revision, so none can be
        // added after this; then sweep the services (a rerun finishes a killed sweep).
        const result = await this.store.txn([{key, modRevision: kv.modRevision}], [{type: 'delete', key}])
        if (!result.succeeded) {
          if (attempt >= this.maxAttempts) throw this.giveUp(`namespace "${name}"`)
          await jitter(attempt)
          continue
        }
      }
      const removed = await this.deletePrefix(prefix)
      if (removed > 0 && !force && kv) {
        // Services were registered between the count and the delete: put the namespace back.
        await this.store.txn([{key, modRevision: 0}], [{type: 'put', key, value: kv.value}])
        throw new ConflictError(`namespace "${name}" gained services while it was being unregistered; unregister them first or use --force`)
      }
      return {namespace: name, servicesRemoved: removed}
    }
  }

  private async countKeys(prefix: string): Promise<number> {
    let n = 0
    for await (const page of this.store.range(prefix, {pageSize: this.pageSize})) n += page.kvs.length
    return n
  }

  private async deletePrefix(prefix: string): Promise<number> {
    let removed = 0
    for (;;) {
      // Re-read from the start each round: deleting while paging a snapshot is fine too, but
      // this also catches keys written after the first read.
      const keys: string[] = []
      for await (const page of this.store.range(prefix, {pageSize: MAX_TXN_OPS})) {
        for (const kv of page.kvs) keys.push(kv.key)
        if (keys.length >= MAX_TXN_OPS * 8) break
      }
      if (keys.length === 0) return removed
      for (let i = 0; i < keys.length; i += MAX_TXN_OPS) {
        const chunk = keys.slice(i, i + MAX_TXN_OPS)
        await this.store.txn(
          [],
          chunk.map((key) => ({type: 'delete', key})),
        )
        removed += chunk.length
      }
    }
  }

  // ---------------------------------------------------------------- services

  /** Validates one service input into one spec per endpoint. `at` prefixes field names ("entry 3: "). */
  prepareServices(input: ServiceInput): ServiceSpec[] {
    const name = validateName('name', input.name)
    const namespace = validateName('namespace', input.namespace ?? DEFAULT_NAMESPACE)
    const labels = validateLabels('label', input.labels ?? {})
    const selector = parseSelector(input.selector ?? '', 'selector').text
    const description = validateDescription('description', input.description)
    if (input.endpoints.length === 0) throw InvalidInputError.forField('endpoint', '', 'at least one endpoint is required')
    const seen = new Set<string>()
    const specs: ServiceSpec[] = []
    for (const raw of input.endpoints) {
      const endpoint = validateEndpoint('endpoint', raw)
      if (seen.has(endpoint)) continue
      seen.add(endpoint)
      specs.push({id: serviceId(namespace, endpoint), name, namespace, endpoint, labels, selector, description})
    }
    return specs
  }

  /**
   * Registers one service per endpoint. Idempotent: the ID is derived from namespace and
   * endpoint, so registering again updates in place (and writes nothing when nothing changed).
   * The namespace must exist (`default` always does). When servers are registered, the selector
   * must match at least one that is not leaving; with no server at all the services are stored
   * unassigned.
   */
  async registerServices(input: ServiceInput): Promise<RegisterServicesResult> {
    const specs = this.prepareServices(input)
    const namespace = specs[0]?.namespace ?? DEFAULT_NAMESPACE
    if (!(await this.getNamespace(namespace)))
      throw new NotFoundError(`namespace "${namespace}" is not registered; register it first (roster namespace register ${namespace})`)
    const topology = await this.readTopology()
    if (specs[0]) requireCandidates(specs[0], topology.servers)
    return this.writeServices(specs, topology)
  }

  /**
   * Writes services in transactions of at most MAX_TXN_OPS operations and compares: each
   * compares the topology revision, the revision of every namespace involved and of every
   * service written (0: the key must not exist). A failed compare re-reads that batch's keys
   * (and the topology and namespaces) and retries it.
   *
   * Small writes read each service with one get. From BULK_WRITE_THRESHOLD services on, the
   * existing services of the namespaces involved are read once with a paginated range (keeping
   * only the mod revision and value of the keys being written), the unchanged ones are skipped,
   * and the rest are written in full batches: one transaction per batch and no read per service.
   */
  private async writeServices(specs: ServiceSpec[], initialTopology?: Topology): Promise<RegisterServicesResult> {
    const ctx: WriteContext = {
      topology: initialTopology,
      namespaces: new Map(),
      selectors: new SelectorCache(),
      out: {services: [], created: 0, updated: 0, unchanged: 0},
    }
    if (specs.length < BULK_WRITE_THRESHOLD) {
      for (const chunk of chunkSpecs(specs)) await this.writeChunk(chunk, ctx)
      return ctx.out
    }
    // Topology first: the compares guard assignments computed from what it covers.
    const topology = (ctx.topology ??= await this.readTopology())
    const namespaces = [...new Set(specs.map((s) => s.namespace))]
    await this.readNamespaces(namespaces, ctx)
    const prefetched = await this.prefetchServices(specs, namespaces)
    let pending: ServiceSpec[] = []
    let pendingKnown: (KnownService | undefined)[] = []
    const budget = new BatchBudget()
    for (const spec of specs) {
      const known = prefetched(spec)
      if (known?.value !== undefined && ctx.topology === topology) {
        const current = parseJson<Service>({key: serviceKey(spec.namespace, spec.id), value: known.value})
        const servers = assignServers(spec, topology.servers, topology.settings.replicas, ctx.selectors)
        if (sameService(current, {...spec, servers, modified: current.modified})) {
          ctx.out.unchanged++
          ctx.out.services.push(current)
          continue
        }
      }
      if (!budget.fits(spec)) {
        await this.writeChunk(pending, ctx, pendingKnown)
        pending = []
        pendingKnown = []
        budget.reset()
      }
      budget.add(spec)
      pending.push(spec)
      pendingKnown.push(known)
    }
    if (pending.length > 0) await this.writeChunk(pending, ctx, pendingKnown)
    return ctx.out
  }

  /** Reads the namespaces' revisions into ctx; a missing one (other than `default`) is a NotFoundError. */
  private async readNamespaces(namespaces: readonly string[], ctx: WriteContext): Promise<void> {
    const kvs = await Promise.all(namespaces.map((ns) => this.store.get(namespaceKey(ns))))
    kvs.forEach((kv, i) => {
      const ns = namespaces[i] as string
      if (!kv && ns !== DEFAULT_NAMESPACE)
        throw new NotFoundError(`namespace "${ns}" is not registered; register it first (roster namespace register ${ns})`)
      ctx.namespaces.set(ns, kv?.modRevision ?? 0)
    })
  }

  /**
   * Reads the existing services of `namespaces` with one paginated range each, keeping the mod
   * revision and value of the keys `specs` write. Returns what is known of a spec's key: its
   * state at the range's revision, ABSENT when the range read the whole namespace without
   * finding it, or undefined (unknown: read it with a get) when the namespace turned out to
   * hold over PREFETCH_FACTOR times more services than are written into it and the range stopped.
   */
  private async prefetchServices(
    specs: readonly ServiceSpec[],
    namespaces: readonly string[],
  ): Promise<(spec: ServiceSpec) => KnownService | undefined> {
    const wanted = new Set<string>()
    const perNamespace = new Map<string, number>()
    for (const spec of specs) {
      wanted.add(serviceKey(spec.namespace, spec.id))
      perNamespace.set(spec.namespace, (perNamespace.get(spec.namespace) ?? 0) + 1)
    }
    const known = new Map<string, KnownService>()
    const complete = new Set<string>()
    for (const ns of namespaces) {
      const limit = PREFETCH_FACTOR * (perNamespace.get(ns) ?? 0)
      let read = 0
      let finished = true
      for await (const page of this.store.range(namespaceServicesPrefix(ns), {pageSize: this.pageSize})) {
        for (const kv of page.kvs) if (wanted.has(kv.key)) known.set(kv.key, {modRevision: kv.modRevision, value: kv.value})
        read += page.kvs.length
        if (read > limit) {
          finished = false
          break
        }
      }
      if (finished) complete.add(ns)
    }
    return (spec) => known.get(serviceKey(spec.namespace, spec.id)) ?? (complete.has(spec.namespace) ? ABSENT : undefined)
  }

  /**
   * Writes one batch (at most MAX_TXN_OPS compares) in one transaction, retrying on a failed
   * compare. The first attempt uses `known` where given (index-aligned with `chunk`) and the
   * namespace revisions in ctx; every key without a known state, and every key on a retry, is
   * read with a get.
   */
  private async writeChunk(chunk: ServiceSpec[], ctx: WriteContext, known?: readonly (KnownService | undefined)[]): Promise<void> {
    const namespaces = [...new Set(chunk.map((s) => s.namespace))]
    const keys = chunk.map((s) => serviceKey(s.namespace, s.id))
    for (let attempt = 1; ; attempt++) {
      const topology = (ctx.topology ??= await this.readTopology())
      if (attempt > 1 || !known || namespaces.some((ns) => !ctx.namespaces.has(ns))) await this.readNamespaces(namespaces, ctx)
      const states = await Promise.all(
        keys.map(async (key, i): Promise<KnownService> => {
          const state = attempt === 1 ? known?.[i] : undefined
          if (state) return state
          const kv = await this.store.get(key)
          return kv ? {modRevision: kv.modRevision, value: kv.value} : ABSENT
        }),
      )
      const compares: Compare[] = [
        {key: TOPOLOGY_KEY, modRevision: topology.revision},
        ...namespaces.map((ns) => ({key: namespaceKey(ns), modRevision: ctx.namespaces.get(ns) ?? 0})),
      ]
      const ops: Operation[] = []
      const results: Service[] = []
      let created = 0
      let updated = 0
      let unchanged = 0
      const modified = this.timestamp()
      chunk.forEach((spec, i) => {
        const state = states[i] as KnownService
        const key = keys[i] as string
        const servers = assignServers(spec, topology.servers, topology.settings.replicas, ctx.selectors)
        const service: Service = {...spec, servers, modified}
        if (state.value !== undefined) {
          const current = parseJson<Service>({key, value: state.value})
          if (sameService(current, service)) {
            unchanged++
            results.push(current)
            return
          }
          updated++
        } else created++
        compares.push({key, modRevision: state.modRevision})
        ops.push({type: 'put', key, value: JSON.stringify(service)})
        results.push(service)
      })
      const result = ops.length === 0 ? {succeeded: true} : await this.store.txn(compares, ops)
      if (result.succeeded) {
        ctx.out.services.push(...results)
        ctx.out.created += created
        ctx.out.updated += updated
        ctx.out.unchanged += unchanged
        return
      }
      if (attempt >= this.maxAttempts) throw this.giveUp(`service "${chunk[0]?.endpoint}"`)
      ctx.topology = undefined
      await jitter(attempt)
    }
  }

  /**
   * Resolves the arguments of `service unregister`: URLs (in `namespace`, default `default`)
   * or service IDs (in `namespace`, or in any namespace when none is given).
   */
  async unregisterServices(refs: readonly string[], namespaceInput?: string): Promise<UnregisterServicesResult> {
    const namespace = namespaceInput === undefined ? undefined : validateName('namespace', namespaceInput)
    const lookups: {ref: string; keys: string[]}[] = []
    let allNamespaces: string[] | undefined
    for (const ref of refs) {
      const text = ref.trim()
      if (isServiceId(text)) {
        const id = text.toLowerCase()
        if (namespace) lookups.push({ref, keys: [serviceKey(namespace, id)]})
        else {
          allNamespaces ??= (await this.listNamespaces()).map((n) => n.name)
          lookups.push({ref, keys: allNamespaces.map((ns) => serviceKey(ns, id))})
        }
      } else {
        const endpoint = validateEndpoint('endpoint', text)
        const ns = namespace ?? DEFAULT_NAMESPACE
        lookups.push({ref, keys: [serviceKey(ns, serviceId(ns, endpoint))]})
      }
    }
    const removed: Service[] = []
    const notFound: string[] = []
    const toDelete = new Map<string, Service>()
    for (const {ref, keys} of lookups) {
      const kvs = await Promise.all(keys.map((k) => this.store.get(k)))
      const found = kvs.filter((kv): kv is KeyValue => kv !== undefined)
      if (found.length === 0) notFound.push(ref)
      for (const kv of found) if (!toDelete.has(kv.key)) toDelete.set(kv.key, parseJson<Service>(kv))
    }
    const keys = [...toDelete.keys()]
    for (let i = 0; i < keys.length; i += MAX_TXN_OPS) {
      const chunk = keys.slice(i, i + MAX_TXN_OPS)
      await this.store.txn(
        [],
        chunk.map((key) => ({type: 'delete', key})),
      )
      for (const key of chunk) removed.push(toDelete.get(key) as Service)
    }
    return {removed, notFound}
  }

  /**
   * Services matching `filter`, read page by page. Without `sortBy` it holds one page at a time;
   * with `sortBy` it must hold the matching services to sort them.
   */
  async *listServices(filter: ServiceFilter = {}): AsyncGenerator<Service> {
    const namespace = filter.namespace === undefined ? undefined : validateName('namespace', filter.namespace)
    const name = filter.name === undefined ? undefined : parseRegex('name', filter.name)
    const endpoint = filter.endpoint === undefined ? undefined : parseRegex('endpoint', filter.endpoint)
    const server = filter.server === undefined ? undefined : parseRegex('server', filter.server)
    const selector = filter.selector === undefined ? undefined : parseSelector(filter.selector, 'selector')
    const sortBy = filter.sortBy
    if (sortBy !== undefined && !['name', 'endpoint', 'date'].includes(sortBy))
      throw InvalidInputError.forField('sort-by', sortBy, 'must be one of name, endpoint, date')
    const matches = (s: Service): boolean =>
      (!name || name.test(s.name)) &&
      (!endpoint || endpoint.test(s.endpoint)) &&
      (!server || (s.servers.length === 0 ? server.test('') : s.servers.some((n) => server.test(n)))) &&
      (!selector || selector.matches(s.labels))
    const prefix = namespace ? namespaceServicesPrefix(namespace) : SERVICES_PREFIX
    const sorted: Service[] | undefined = sortBy ? [] : undefined
    for await (const page of this.store.range(prefix, {pageSize: this.pageSize})) {
      for (const kv of page.kvs) {
        const service = parseJson<Service>(kv)
        if (!matches(service)) continue
        if (sorted) sorted.push(service)
        else yield service
      }
    }
    if (sorted) {
      const field = sortBy === 'date' ? 'modified' : (sortBy as 'name' | 'endpoint')
      sorted.sort((a, b) =>
        a[field] < b[field] ? -1 : a[field] > b[field] ? 1 : a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : 0,
      )
      yield* sorted
    }
  }

  /**
   * Validates import entries (parsed YAML or JSON: a list, or {services: [...]}) into specs.
   * Every bad entry is reported by its 1-based position; nothing is written here.
   */
  async validateImport(document: unknown): Promise<{specs: ServiceSpec[]; errors: ImportEntryError[]; entries: number}> {
    const list = Array.isArray(document)
      ? document
      : document && typeof document === 'object' && Array.isArray((document as {services?: unknown}).services)
        ? (document as {services: unknown[]}).services
        : undefined
    if (!list)
      throw InvalidInputError.forField('file', typeof document, 'must hold a list of services (or an object with a "services" list)')
    const errors: ImportEntryError[] = []
    const specs: ServiceSpec[] = []
    const byKey = new Map<string, number>()
    const perEntry: {position: number; specs: ServiceSpec[]}[] = []
    list.forEach((entry: unknown, index) => {
      const position = index + 1
      try {
        if (!entry || typeof entry !== 'object' || Array.isArray(entry))
          throw new InvalidInputError('must be a map with name and endpoints')
        const e = entry as Record<string, unknown>
        const unknown = Object.keys(e).filter((k) => !IMPORT_FIELDS.has(k))
        if (unknown.length > 0) throw InvalidInputError.forField('field', unknown[0], `is not known; use ${[...IMPORT_FIELDS].join(', ')}`)
        const endpointsRaw = e.endpoints ?? (e.endpoint === undefined ? [] : [e.endpoint])
        const endpoints = typeof endpointsRaw === 'string' ? [endpointsRaw] : endpointsRaw
        if (!Array.isArray(endpoints)) throw InvalidInputError.forField('endpoints', endpointsRaw, 'must be a list of URLs')
        if (e.namespace !== undefined && typeof e.namespace !== 'string')
          throw InvalidInputError.forField('namespace', e.namespace, 'must be a string')
        if (e.selector !== undefined && typeof e.selector !== 'string')
          throw InvalidInputError.forField('selector', e.selector, 'must be a string')
        const entrySpecs = this.prepareServices({
          name: e.name as string,
          endpoints: endpoints.map((x) => (typeof x === 'string' ? x : (JSON.stringify(x) ?? ''))),
          namespace: e.namespace as string | undefined,
          labels: e.labels as Record<string, string> | undefined,
          selector: e.selector as string | undefined,
          description: e.description as string | undefined,
        })
        for (const spec of entrySpecs) {
          const key = serviceKey(spec.namespace, spec.id)
          const previous = byKey.get(key)
          if (previous !== undefined)
            throw InvalidInputError.forField('endpoint', spec.endpoint, `is also in entry ${previous} (namespace ${spec.namespace})`)
          byKey.set(key, position)
        }
        perEntry.push({position, specs: entrySpecs})
      } catch (error) {
        if (!(error instanceof InvalidInputError)) throw error
        errors.push({position, message: error.message})
      }
    })
    // Namespaces and selectors against the current registry.
    const namespaces = new Set((await this.listNamespaces()).map((n) => n.name))
    const topology = await this.readTopology()
    const selectors = new SelectorCache()
    for (const {position, specs: entrySpecs} of perEntry) {
      const first = entrySpecs[0]
      if (!first) continue
      if (!namespaces.has(first.namespace)) {
        errors.push({position, message: `namespace "${first.namespace}" is not registered`})
        continue
      }
      try {
        requireCandidates(first, topology.servers, 'selector', selectors)
      } catch (error) {
        if (!(error instanceof InvalidInputError)) throw error
        errors.push({position, message: error.message})
        continue
      }
      specs.push(...entrySpecs)
    }
    errors.sort((a, b) => a.position - b.position)
    return {specs, errors, entries: list.length}
  }

  /**
   * Imports services: validates every entry first; if any entry is bad, writes NOTHING and
   * throws an InvalidInputError listing every bad entry by position. Otherwise writes all of
   * them in batched transactions. Idempotent, so a rerun finishes an interrupted import.
   */
  async importServices(document: unknown, source = 'file'): Promise<ImportResult> {
    const {specs, errors, entries} = await this.validateImport(document)
    if (errors.length > 0) {
      const problems = errors.map((e) => `entry ${e.position}: ${e.message}`)
      throw new InvalidInputError(
        `${source}: ${errors.length} of ${entries} entr${entries === 1 ? 'y is' : 'ies are'} invalid, nothing was imported: ${listProblems(problems)}`,
        {field: 'file', problems},
      )
    }
    const result = await this.writeServices(specs)
    return {entries, services: result.services.length, created: result.created, updated: result.updated, unchanged: result.unchanged}
  }
}

export function implicitDefaultNamespace(): Namespace {
  return {name: DEFAULT_NAMESPACE, export: 'standard', modified: ''}
}

/** A batch's budget of value bytes, well under the store's MAX_TXN_BYTES (etcd's 1.5 MiB request limit). */
const BATCH_BYTES = 1_000_000

/** From this many services on, writeServices reads the existing ones with a range, not a get each. */
export const BULK_WRITE_THRESHOLD = 256

/**
 * The prefetch range of a namespace stops after reading this many times more services than are
 * written into it (importing 300 services into a namespace of a million reads those 300 by key).
 */
const PREFETCH_FACTOR = 16

/** What is known of a service key before writing it: its mod revision (0: absent) and stored value. */
interface KnownService {
  modRevision: number
  value?: string
}

const ABSENT: KnownService = {modRevision: 0}

/** The state of one writeServices call, shared by its batches. */
interface WriteContext {
  /** The topology the assignments are computed from; undefined after a failed compare (re-read). */
  topology?: Topology
  /** Mod revision of each namespace key as last read (0: absent, which only `default` may be). */
  namespaces: Map<string, number>
  selectors: SelectorCache
  out: RegisterServicesResult
}

/**
 * The limits of one service batch: at most MAX_TXN_OPS compares (topology + namespaces +
 * services; so at most MAX_TXN_OPS - 2 puts in one namespace) and BATCH_BYTES.
 */
class BatchBudget {
  private namespaces = new Set<string>()
  private count = 0
  private bytes = 0

  fits(spec: ServiceSpec): boolean {
    if (this.count === 0) return true
    const extraNs = this.namespaces.has(spec.namespace) ? 0 : 1
    return 1 + this.namespaces.size + extraNs + this.count + 1 <= MAX_TXN_OPS && this.bytes + estimateBytes(spec) <= BATCH_BYTES
  }

  add(spec: ServiceSpec): void {
    this.namespaces.add(spec.namespace)
    this.count++
    this.bytes += estimateBytes(spec)
  }

  reset(): void {
    this.namespaces = new Set()
    this.count = 0
    this.bytes = 0
  }
}

/** Splits specs into batches within BatchBudget's limits. */
function* chunkSpecs(specs: ServiceSpec[]): Generator<ServiceSpec[]> {
  let chunk: ServiceSpec[] = []
  const budget = new BatchBudget()
  for (const spec of specs) {
    if (!budget.fits(spec)) {
      yield chunk
      chunk = []
      budget.reset()
    }
    budget.add(spec)
    chunk.push(spec)
  }
  if (chunk.length > 0) yield chunk
}

function estimateBytes(spec: ServiceSpec): number {
  let n = 512 + spec.endpoint.length * 2 + spec.name.length + spec.description.length * 2 + spec.selector.length
  for (const [k, v] of Object.entries(spec.labels)) n += k.length + v.length + 8
  return n
}
