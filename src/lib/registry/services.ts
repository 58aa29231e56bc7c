/**
 * Reading services (filtered, streamed, sorted) and unregistering them by endpoint URL or ID.
 */
import {InvalidInputError} from '../errors.js'
import {RETRY} from '../store/cas.js'
import type {Compare, KeyValue} from '../store/store.js'
import {type RegistryContext, deleteRecords} from './context.js'
import {historyOp, serviceChange} from './history/record.js'
import {SERVICES_PREFIX, namespaceServicesPrefix, serviceKey} from './keys.js'
import {DEFAULT_NAMESPACE, type Revisioned, type Service} from './model.js'
import {listNamespaces} from './namespaces.js'
import {readRecord, requireRevision, validateRevisions} from './revisions.js'
import {parseSelector} from './selector.js'
import {isServiceId, serviceId} from './service-id.js'
import type {ServiceFilter, UnregisterOptions, UnregisterServicesResult} from './types.js'
import {parseRegex, validateEndpoint, validateName} from './validation.js'
import {loadRegexEngine} from '../text/regex.js'

export const SORT_KEYS = ['namespace', 'name', 'endpoint', 'date'] as const

/** A validated filter: the namespace (if any), the sort key (if any) and a test of the other fields. */
export interface CompiledServiceFilter {
  namespace?: string
  sortBy?: (typeof SORT_KEYS)[number]
  matches: (s: Service) => boolean
}

/**
 * Validates `filter` (errors name the field; the sort key is named `sortField`) and compiles its
 * name, endpoint, server and selector filters into one test; the namespace is left to the caller.
 */
export function compileServiceFilter(filter: ServiceFilter, sortField: string): CompiledServiceFilter {
  const namespace = filter.namespace === undefined ? undefined : validateName('namespace', filter.namespace)
  const name = filter.name === undefined ? undefined : parseRegex('name', filter.name)
  const endpoint = filter.endpoint === undefined ? undefined : parseRegex('endpoint', filter.endpoint)
  const server = filter.server === undefined ? undefined : parseRegex('server', filter.server)
  const selector = filter.selector === undefined ? undefined : parseSelector(filter.selector, 'selector')
  const sortBy = filter.sortBy
  if (sortBy !== undefined && !(SORT_KEYS as readonly string[]).includes(sortBy))
    throw InvalidInputError.forField(sortField, sortBy, `must be one of ${SORT_KEYS.join(', ')}`)
  const matches = (s: Service): boolean =>
    (!name || name.test(s.name)) &&
    (!endpoint || endpoint.test(s.endpoint)) &&
    (!server || (s.servers.length === 0 ? server.test('') : s.servers.some((n) => server.test(n)))) &&
    (!selector || selector.matches(s.labels))
  return {namespace, sortBy, matches}
}

/**
 * Services matching `filter`, read page by page. Without `sortBy` (store order: by namespace,
 * then ID) it holds one page at a time. `sortBy: 'namespace'` (namespace, name, endpoint) holds
 * one group of namespaces at a time (see below); the other sort keys hold every match.
 */
export async function* listServices(ctx: RegistryContext, filter: ServiceFilter = {}): AsyncGenerator<Revisioned<Service>> {
  // The engine loads only when a pattern is given: a plain listing does not pay for it.
  if (filter.name !== undefined || filter.endpoint !== undefined || filter.server !== undefined) await loadRegexEngine()
  const {namespace, sortBy, matches} = compileServiceFilter(filter, 'sort-by')
  const prefix = namespace ? namespaceServicesPrefix(namespace) : SERVICES_PREFIX
  const matching = async function* (): AsyncGenerator<{kv: KeyValue; service: Revisioned<Service>}> {
    for await (const page of ctx.store.range(prefix, {pageSize: ctx.pageSize})) {
      for (const kv of page.kvs) {
        const service = readRecord<Service>(kv)
        if (matches(service)) yield {kv, service}
      }
    }
  }
  if (sortBy === undefined) {
    for await (const {service} of matching()) yield service
  } else if (sortBy === 'namespace') {
    yield* byNamespace(matching())
  } else {
    const all: Revisioned<Service>[] = []
    for await (const {service} of matching()) all.push(service)
    yield* all.sort(serviceComparator(sortBy))
  }
}

/** The order of sort-by KEY: namespace, name, endpoint for "namespace"; the field, then endpoint, otherwise. */
export function serviceComparator(sortBy: (typeof SORT_KEYS)[number]): (a: Service, b: Service) => number {
  if (sortBy === 'namespace')
    return (a, b) => compare(a.namespace, b.namespace) || compare(a.name, b.name) || compare(a.endpoint, b.endpoint)
  const field = sortBy === 'date' ? 'modified' : sortBy
  return (a, b) => compare(a[field], b[field]) || compare(a.endpoint, b.endpoint)
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** A namespace's family: its name up to the first "-" ("team-a" and "team" share "team"). */
function family(namespace: string): string {
  const dash = namespace.indexOf('-')
  return dash < 0 ? namespace : namespace.slice(0, dash)
}

/**
 * Sorts by namespace, name, endpoint while holding one family of namespaces at a time. Keys
 * are ordered by "NS/", which orders namespaces as their names do except that "team-a/" sorts
 * before "team/" ("-" < "/"; names hold only letters, digits, "_" and "-"). So names and keys
 * disagree only within a family, and every family is one contiguous run of keys: sorting each
 * run on its own gives the whole order. Holds the run's services as they were parsed once
 * (parsing each again on the way out cost more time than the objects cost memory).
 */
async function* byNamespace(matching: AsyncIterable<{kv: KeyValue; service: Revisioned<Service>}>): AsyncGenerator<Revisioned<Service>> {
  let run: {order: string; service: Revisioned<Service>}[] = []
  let current: string | undefined
  const flush = function* (): Generator<Revisioned<Service>> {
    run.sort((a, b) => compare(a.order, b.order))
    for (const item of run) yield item.service
    run = []
  }
  for await (const {service} of matching) {
    const f = family(service.namespace)
    if (f !== current) {
      yield* flush()
      current = f
    }
    // One string compares as namespace, then name, then endpoint do: "\0" sorts before any
    // character a namespace, a name or an endpoint URL holds (a third of the sort's time).
    run.push({order: `${service.namespace}\0${service.name}\0${service.endpoint}`, service})
  }
  yield* flush()
}

/**
 * Resolves the arguments of `service unregister`: URLs (in `namespace`, default `default`)
 * or service IDs (in `namespace`, or in any namespace when none is given), and deletes them.
 * With `expectRevisions` (one per ref), each service found must still be at its expected revision
 * (0: must not exist), compared in the one transaction that deletes them all: if one moved,
 * PreconditionFailedError and nothing is deleted. A ref that names no service is reported in
 * `notFound`, as without conditions.
 */
export async function unregisterServices(
  ctx: RegistryContext,
  refs: readonly string[],
  namespaceInput?: string,
  options: UnregisterOptions = {},
): Promise<UnregisterServicesResult> {
  const namespace = namespaceInput === undefined ? undefined : validateName('namespace', namespaceInput)
  const expected = options.expectRevisions === undefined ? undefined : validateRevisions('revision', options.expectRevisions, refs.length)
  const lookups: {ref: string; keys: string[]; expected?: number}[] = []
  let allNamespaces: string[] | undefined
  for (const [i, ref] of refs.entries()) {
    const text = ref.trim()
    const condition = expected?.[i]
    if (isServiceId(text)) {
      const id = text.toLowerCase()
      if (namespace) lookups.push({ref, keys: [serviceKey(namespace, id)], expected: condition})
      else {
        allNamespaces ??= (await listNamespaces(ctx)).map((n) => n.name)
        lookups.push({ref, keys: allNamespaces.map((ns) => serviceKey(ns, id)), expected: condition})
      }
    } else {
      const endpoint = validateEndpoint('endpoint', text)
      const ns = namespace ?? DEFAULT_NAMESPACE
      lookups.push({ref, keys: [serviceKey(ns, serviceId(ns, endpoint))], expected: condition})
    }
  }
  const find = async () => {
    const notFound: string[] = []
    const toDelete = new Map<string, KeyValue>()
    const compares: Compare[] = []
    for (const {ref, keys, expected: revision} of lookups) {
      const kvs = await Promise.all(keys.map((k) => ctx.store.get(k)))
      const found = kvs.filter((kv): kv is KeyValue => kv !== undefined)
      if (found.length === 0) notFound.push(ref)
      for (const kv of found) {
        if (revision !== undefined) {
          const service = readRecord<Service>(kv)
          requireRevision(`service "${service.endpoint}" in namespace "${service.namespace}"`, revision, kv.modRevision)
        }
        if (toDelete.has(kv.key)) continue
        toDelete.set(kv.key, kv)
        if (revision !== undefined) compares.push({key: kv.key, modRevision: kv.modRevision})
      }
    }
    return {notFound, toDelete, compares}
  }
  const change = (kv: KeyValue) => serviceChange(readRecord<Service>(kv), undefined, options.action)
  if (expected === undefined) {
    const {notFound, toDelete} = await find()
    // A service another writer deleted meanwhile is gone as asked: reported removed, recorded by that writer.
    await deleteRecords(ctx, [...toDelete.values()], change)
    return {removed: [...toDelete.values()].map((kv) => readRecord<Service>(kv)), notFound}
  }
  // Conditional: one transaction, so that a failed condition deletes nothing and records nothing.
  return ctx.cas('services', async () => {
    const {notFound, toDelete, compares} = await find()
    if (toDelete.size > 0) {
      const result = await ctx.store.txn(compares, [
        ...[...toDelete.keys()].map((key) => ({type: 'delete' as const, key})),
        historyOp(ctx, ...[...toDelete.values()].map(change)),
      ])
      if (!result.succeeded) return RETRY
    }
    return {removed: [...toDelete.values()].map((kv) => readRecord<Service>(kv)), notFound}
  })
}
