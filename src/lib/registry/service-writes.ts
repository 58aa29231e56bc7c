/**
 * Writing services: validating a registration into specs and writing specs (one or a bulk
 * import) in batched compare-and-swap transactions guarded by the topology and namespaces.
 */
import {InvalidInputError, NotFoundError} from '../errors.js'
import {RETRY} from '../store/cas.js'
import {type Compare, MAX_TXN_OPS, type Operation} from '../store/store.js'
import {BatchBudget, chunkSpecs} from './batches.js'
import {type RegistryContext, parseJson, sameService} from './context.js'
import {actorText} from './history/actor.js'
import type {ObjectChange} from './history/event.js'
import {historyOp, serviceChange} from './history/record.js'
import {assignServers, requireCandidates} from './distribution.js'
import {TOPOLOGY_KEY, namespaceKey, namespaceServicesPrefix, serviceKey} from './keys.js'
import {DEFAULT_NAMESPACE, type Service} from './model.js'
import {getNamespace} from './namespaces.js'
import {MAX_CONDITIONAL_SERVICES, requireRevision, validateRevision, withRevision} from './revisions.js'
import {SelectorCache, parseSelector} from './selector.js'
import {serviceId} from './service-id.js'
import {type Topology, readTopology} from './topology.js'
import type {RegisterServicesResult, ServiceInput, ServiceSpec, WriteCondition} from './types.js'
import {validateDescription, validateEndpoint, validateLabels, validateName, validateTime, validateTtl} from './validation.js'

/** From this many services on, writeServices reads the existing ones with a range, not a get each. */
export const BULK_WRITE_THRESHOLD = 256

/**
 * The prefetch range of a namespace stops after reading this many times more services than are
 * written into it, and the rest are read by key (importing 300 services into a namespace of a
 * million reads those 300 by key), so that a write's reads are bounded by the write, not by the
 * namespace. On etcd a range reads a key in about half the time a batch of keys takes.
 */
const PREFETCH_FACTOR = 2

/** What is known of a service key before writing it: its mod revision (0: absent) and stored value. */
interface KnownService {
  modRevision: number
  value?: string
}

const ABSENT: KnownService = {modRevision: 0}

/** The state of one writeServices call, shared by its batches. */
interface WriteState {
  /** The topology the assignments are computed from; undefined after a failed compare (re-read). */
  topology?: Topology
  /** Mod revision of each namespace key as last read (0: absent, which only `default` may be). */
  namespaces: Map<string, number>
  selectors: SelectorCache
  out: RegisterServicesResult
}

/** The NotFoundError of a service write into a namespace that does not exist. */
export function namespaceNotFound(namespace: string): NotFoundError {
  return new NotFoundError(`namespace "${namespace}" is not registered`)
}

/** The expiry a registration asks for (RFC 3339), counted from `now`; undefined: never expires. */
function expiryOf(input: ServiceInput, now: Date): string | undefined {
  if (input.ttl !== undefined && input.expiresAt !== undefined)
    throw InvalidInputError.forField('ttl', input.ttl, 'give a TTL or an expiry time, not both')
  if (input.ttl !== undefined) return new Date(now.getTime() + validateTtl('ttl', input.ttl)).toISOString()
  if (input.expiresAt !== undefined) return validateTime('expiresAt', input.expiresAt)
  return undefined
}

/** Validates one service input into one spec per endpoint; a TTL counts from `now`. */
export function prepareServices(input: ServiceInput, now: Date = new Date()): ServiceSpec[] {
  const name = validateName('name', input.name)
  const namespace = validateName('namespace', input.namespace ?? DEFAULT_NAMESPACE)
  const labels = validateLabels('label', input.labels ?? {})
  const selector = parseSelector(input.selector ?? '', 'selector').text
  const description = validateDescription('description', input.description)
  const expires = expiryOf(input, now)
  if (input.endpoints.length === 0) throw InvalidInputError.forField('endpoint', '', 'at least one endpoint is required')
  const seen = new Set<string>()
  const specs: ServiceSpec[] = []
  for (const raw of input.endpoints) {
    const endpoint = validateEndpoint('endpoint', raw)
    if (seen.has(endpoint)) continue
    seen.add(endpoint)
    // No `expires` key at all when it never expires: such records stay as they always were.
    specs.push({
      id: serviceId(namespace, endpoint),
      name,
      namespace,
      endpoint,
      labels,
      selector,
      description,
      ...(expires ? {expires} : {}),
    })
  }
  return specs
}

/**
 * Registers one service per endpoint. Idempotent: the ID is derived from namespace and
 * endpoint, so registering again updates in place (and writes nothing when nothing changed).
 * The namespace must exist (`default` always does). When servers are registered, the selector
 * must match at least one that is not leaving; with no server at all the services are stored
 * unassigned. With `expectRevision` (one endpoint only), the service must still be at that
 * revision (0: not registered) when it is written.
 */
export async function registerServices(
  ctx: RegistryContext,
  input: ServiceInput,
  condition: WriteCondition = {},
): Promise<RegisterServicesResult> {
  const specs = prepareServices(input, ctx.now())
  const expected = condition.expectRevision === undefined ? undefined : validateRevision('revision', condition.expectRevision)
  if (expected !== undefined && specs.length !== 1)
    throw InvalidInputError.forField('revision', expected, `applies to one service: give one endpoint, not ${specs.length}`)
  const namespace = specs[0]?.namespace ?? DEFAULT_NAMESPACE
  if (!(await getNamespace(ctx, namespace))) throw namespaceNotFound(namespace)
  const topology = await readTopology(ctx)
  if (specs[0]) requireCandidates(specs[0], topology.servers)
  return writeServices(ctx, specs, topology, expected === undefined ? undefined : [expected])
}

/**
 * Writes services in transactions of at most MAX_TXN_OPS operations and compares: each
 * compares the topology revision, the revision of every namespace involved and of every
 * service written (0: the key must not exist). A failed compare re-reads that batch's keys
 * (and the topology and namespaces) and retries it.
 *
 * Small writes read each batch's services by key (one getMany). From BULK_WRITE_THRESHOLD
 * services on, the existing services of the namespaces involved are read with a paginated range
 * (keeping only the mod revision and value of the keys being written) that stops past
 * PREFETCH_FACTOR times the services written, the unchanged ones are skipped, and the rest are
 * written in full batches: one transaction per batch, the keys the range did not reach read by
 * key first. So a write's reads grow with the write, not with the registry.
 *
 * With `expected` (index-aligned with `specs`; undefined: no condition on that one), the call is
 * conditional: at most MAX_CONDITIONAL_SERVICES services, written in ONE transaction that also
 * compares every expected revision, so that a failed condition (PreconditionFailedError) writes
 * nothing.
 */
export async function writeServices(
  ctx: RegistryContext,
  specs: ServiceSpec[],
  initialTopology?: Topology,
  expected?: readonly (number | undefined)[],
): Promise<RegisterServicesResult> {
  const state: WriteState = {
    topology: initialTopology,
    namespaces: new Map(),
    selectors: new SelectorCache(),
    out: {services: [], created: 0, updated: 0, unchanged: 0},
  }
  if (expected?.some((r) => r !== undefined)) {
    const namespaces = new Set(specs.map((s) => s.namespace)).size
    if (specs.length > MAX_CONDITIONAL_SERVICES || 1 + namespaces + specs.length > MAX_TXN_OPS)
      throw InvalidInputError.forField(
        'revision',
        `${specs.length} services`,
        `a conditional write holds at most ${MAX_CONDITIONAL_SERVICES} services and their namespaces (one store transaction); split it`,
      )
    if (specs.length > 0) await writeChunk(ctx, state, specs, undefined, expected)
    return state.out
  }
  if (specs.length < BULK_WRITE_THRESHOLD) {
    for (const chunk of chunkSpecs(specs)) await writeChunk(ctx, state, chunk)
    return state.out
  }
  // Topology first: the compares guard assignments computed from what it covers.
  const topology = (state.topology ??= await readTopology(ctx))
  const namespaces = [...new Set(specs.map((s) => s.namespace))]
  await readNamespaces(ctx, namespaces, state)
  const prefetched = await prefetchServices(ctx, specs, namespaces)
  let pending: ServiceSpec[] = []
  let pendingKnown: (KnownService | undefined)[] = []
  const budget = new BatchBudget()
  for (const spec of specs) {
    const known = prefetched(spec)
    if (known?.value !== undefined && state.topology === topology) {
      const current = parseJson<Service>({key: serviceKey(spec.namespace, spec.id), value: known.value})
      const servers = assignServers(spec, topology.servers, topology.settings.replicas, state.selectors)
      if (sameService(current, {...spec, servers, modified: current.modified})) {
        state.out.unchanged++
        state.out.services.push(withRevision(current, known.modRevision))
        continue
      }
    }
    if (!budget.fits(spec)) {
      await writeChunk(ctx, state, pending, pendingKnown)
      pending = []
      pendingKnown = []
      budget.reset()
    }
    budget.add(spec)
    pending.push(spec)
    pendingKnown.push(known)
  }
  if (pending.length > 0) await writeChunk(ctx, state, pending, pendingKnown)
  return state.out
}

/** Reads the namespaces' revisions into the state; a missing one (other than `default`) is a NotFoundError. */
async function readNamespaces(ctx: RegistryContext, namespaces: readonly string[], state: WriteState): Promise<void> {
  const kvs = await Promise.all(namespaces.map((ns) => ctx.store.get(namespaceKey(ns))))
  kvs.forEach((kv, i) => {
    const ns = namespaces[i] as string
    if (!kv && ns !== DEFAULT_NAMESPACE) throw namespaceNotFound(ns)
    state.namespaces.set(ns, kv?.modRevision ?? 0)
  })
}

/**
 * Reads the existing services of `namespaces` with one paginated range each, keeping the mod
 * revision and value of the keys `specs` write. Returns what is known of a spec's key: its
 * state at the range's revision, ABSENT when the range read the whole namespace without
 * finding it, or undefined (unknown: read it by key) when the namespace turned out to
 * hold over PREFETCH_FACTOR times more services than are written into it and the range stopped.
 */
async function prefetchServices(
  ctx: RegistryContext,
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
    for await (const page of ctx.store.range(namespaceServicesPrefix(ns), {pageSize: ctx.pageSize})) {
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
 * Writes one batch (at most MAX_TXN_OPS compares) in one compare-and-swap transaction. The
 * first attempt uses `known` where given (index-aligned with `chunk`) and the namespace
 * revisions in the state; every key without a known state, and every key on a retry, is read
 * in one getMany. A service with an `expected` revision (index-aligned too) is compared with it,
 * written or not, and one that moved fails the whole batch with PreconditionFailedError.
 */
async function writeChunk(
  ctx: RegistryContext,
  state: WriteState,
  chunk: ServiceSpec[],
  known?: readonly (KnownService | undefined)[],
  expected?: readonly (number | undefined)[],
): Promise<void> {
  const namespaces = [...new Set(chunk.map((s) => s.namespace))]
  const keys = chunk.map((s) => serviceKey(s.namespace, s.id))
  await ctx.cas(`service "${chunk[0]?.endpoint}"`, async (attempt) => {
    const topology = (state.topology ??= await readTopology(ctx))
    if (attempt > 1 || !known || namespaces.some((ns) => !state.namespaces.has(ns))) await readNamespaces(ctx, namespaces, state)
    const current: (KnownService | undefined)[] = keys.map((_, i) => (attempt === 1 ? known?.[i] : undefined))
    const unknown = keys.filter((_, i) => current[i] === undefined)
    if (unknown.length > 0) {
      const read = await ctx.store.getMany(unknown)
      let next = 0
      current.forEach((given, i) => {
        if (given) return
        const kv = read[next++]
        current[i] = kv ? {modRevision: kv.modRevision, value: kv.value} : ABSENT
      })
    }
    const compares: Compare[] = [
      {key: TOPOLOGY_KEY, modRevision: topology.revision},
      ...namespaces.map((ns) => ({key: namespaceKey(ns), modRevision: state.namespaces.get(ns) ?? 0})),
    ]
    const ops: Operation[] = []
    const history: ObjectChange[] = []
    // A revision for each result: the stored one when unchanged, undefined when written (the transaction's).
    const results: {service: Service; revision?: number}[] = []
    let created = 0
    let updated = 0
    let unchanged = 0
    const modified = ctx.timestamp()
    chunk.forEach((spec, i) => {
      const stored = current[i] as KnownService
      const key = keys[i] as string
      const condition = expected?.[i]
      requireRevision(`service "${spec.endpoint}" in namespace "${spec.namespace}"`, condition, stored.modRevision)
      const servers = assignServers(spec, topology.servers, topology.settings.replicas, state.selectors)
      const service: Service = {...spec, servers, modified, registeredBy: actorText(ctx.actor)}
      const existing = stored.value === undefined ? undefined : parseJson<Service>({key, value: stored.value})
      if (existing) {
        if (sameService(existing, service)) {
          unchanged++
          results.push({service: existing, revision: stored.modRevision})
          if (condition !== undefined) compares.push({key, modRevision: stored.modRevision})
          return
        }
        updated++
      } else created++
      compares.push({key, modRevision: stored.modRevision})
      ops.push({type: 'put', key, value: JSON.stringify(service)})
      history.push(serviceChange(existing, service))
      results.push({service})
    })
    const result = ops.length === 0 ? {succeeded: true, revision: 0} : await ctx.store.txn(compares, [...ops, historyOp(ctx, ...history)])
    if (!result.succeeded) {
      state.topology = undefined
      return RETRY
    }
    state.out.services.push(...results.map((r) => withRevision(r.service, r.revision ?? result.revision)))
    state.out.created += created
    state.out.updated += updated
    state.out.unchanged += unchanged
  })
}
