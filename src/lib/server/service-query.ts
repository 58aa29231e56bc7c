/**
 * `GET /v1/services` answered from the in-memory view: the filters of `roster service list`
 * (validated with the registry's own functions and messages), pages of `limit` services, and an
 * opaque `continue` token (the last key of the page in store order, or an offset when sorted).
 */
import {InvalidInputError} from '../errors.js'
import type {Revisioned, Service} from '../registry/model.js'
import type {ServiceFilter} from '../registry/registry.js'
import {compileServiceFilter, serviceComparator} from '../registry/services.js'
import type {RegistryView} from './view.js'

export const DEFAULT_PAGE = 1000
export const MAX_PAGE = 10_000

export interface ServicePage {
  items: Revisioned<Service>[]
  continue?: string
}

export function queryServices(
  view: RegistryView,
  filter: ServiceFilter,
  page: {limit?: string; continue?: string},
  mayRead: (namespace: string) => boolean,
): ServicePage {
  const {namespace, sortBy, matches: matchesFields} = compileServiceFilter(filter, 'sortBy')
  const limit = page.limit === undefined ? DEFAULT_PAGE : Number(page.limit)
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE)
    throw InvalidInputError.forField('limit', page.limit, `must be an integer from 1 to ${MAX_PAGE}`)
  const token = page.continue === undefined ? undefined : decodeContinue(page.continue, sortBy !== undefined)
  const matches = (s: Service): boolean => (namespace === undefined ? mayRead(s.namespace) : s.namespace === namespace) && matchesFields(s)

  if (sortBy) {
    const all: Revisioned<Service>[] = []
    for (const s of inKeyOrder(view, namespace)) if (matches(s)) all.push(s)
    all.sort(serviceComparator(sortBy))
    const offset = typeof token === 'number' ? token : 0
    const items = all.slice(offset, offset + limit)
    const next = offset + items.length
    return next < all.length ? {items, continue: encodeContinue(next)} : {items}
  }

  const items: Revisioned<Service>[] = []
  const scan = inKeyOrder(view, namespace, typeof token === 'string' ? token : undefined)[Symbol.iterator]()
  for (let step = scan.next(); !step.done; step = scan.next()) {
    if (!matches(step.value)) continue
    items.push(step.value)
    if (items.length === limit) {
      const last = step.value
      return scan.next().done ? {items} : {items, continue: encodeContinue(`${last.namespace}/${last.id}`)}
    }
  }
  return {items}
}

/**
 * The services in store key order (`NS/ID`), of one namespace or all, from just after the key
 * `after` when given: each namespace's IDs sorted by the view, namespaces in key order.
 */
function* inKeyOrder(view: RegistryView, namespace: string | undefined, after?: string): Iterable<Revisioned<Service>> {
  for (const ns of namespace === undefined ? view.serviceNamespacesInKeyOrder() : [namespace]) {
    const prefix = `${ns}/`
    const ids = view.serviceIdsInOrder(ns)
    let start = 0
    if (after !== undefined && after >= prefix) {
      // Past `after` when it is within this namespace; otherwise every key here sorts before it.
      if (!after.startsWith(prefix)) continue
      start = upperBound(ids, after.slice(prefix.length))
    }
    for (let i = start; i < ids.length; i++) {
      const s = view.service(ns, ids[i]!)
      if (s) yield s
    }
  }
}

function upperBound(keys: readonly string[], value: string): number {
  let lo = 0
  let hi = keys.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (keys[mid]! <= value) lo = mid + 1
    else hi = mid
  }
  return lo
}

function encodeContinue(value: string | number): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

function decodeContinue(text: string, sorted: boolean): string | number {
  try {
    const value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown
    if (sorted ? Number.isInteger(value) && (value as number) >= 0 : typeof value === 'string') return value as string | number
  } catch {
    // falls through
  }
  throw InvalidInputError.forField('continue', text.slice(0, 40), 'is not a continue token of this listing; start again without it')
}
