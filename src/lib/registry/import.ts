/**
 * Importing services from a document: every entry is validated (shape, fields, duplicates,
 * namespaces, selectors) before anything is written, and then all of them are written at once.
 */
import {InvalidInputError, listProblems} from '../errors.js'
import {unknownKeyMessage} from '../text/nearest.js'
import type {RegistryContext} from './context.js'
import {requireCandidates} from './distribution.js'
import {serviceKey} from './keys.js'
import {listNamespaces} from './namespaces.js'
import {SelectorCache} from './selector.js'
import {validateRevision} from './revisions.js'
import {prepareServices, writeServices} from './service-writes.js'
import {readTopology} from './topology.js'
import type {ImportEntryError, ImportResult, ServiceSpec} from './types.js'
import {checkNestingDepth} from '../text/input-limits.js'

const IMPORT_FIELDS = new Set(['name', 'endpoints', 'endpoint', 'namespace', 'labels', 'selector', 'description', 'ttl', 'revision'])

/** The list of entries of an import document: a list, or {services: [...]}. */
function entriesOf(document: unknown): unknown[] {
  if (Array.isArray(document)) return document
  const services = document && typeof document === 'object' ? (document as {services?: unknown}).services : undefined
  if (Array.isArray(services)) return services
  throw InvalidInputError.forField('file', typeof document, 'must hold a list of services (or an object with a "services" list)')
}

/**
 * Validates one entry's shape and fields into its specs (one per endpoint), and the revision the
 * entry expects its service to be at (`revision`: one endpoint only; 0: not registered yet).
 */
function entrySpecs(entry: unknown, now: Date): {specs: ServiceSpec[]; expected?: number} {
  if (!entry || typeof entry !== 'object' || Array.isArray(entry)) throw new InvalidInputError('must be a map with name and endpoints')
  const e = entry as Record<string, unknown>
  const unknown = Object.keys(e).filter((k) => !IMPORT_FIELDS.has(k))
  const key = unknown[0]
  if (key !== undefined)
    throw new InvalidInputError(unknownKeyMessage(key.length > 120 ? `${key.slice(0, 120)}…` : key, [...IMPORT_FIELDS]), {field: key})
  const endpointsRaw = e.endpoints ?? (e.endpoint === undefined ? [] : [e.endpoint])
  const endpoints = typeof endpointsRaw === 'string' ? [endpointsRaw] : endpointsRaw
  if (!Array.isArray(endpoints)) throw InvalidInputError.forField('endpoints', endpointsRaw, 'must be a list of URLs')
  for (const field of ['namespace', 'selector', 'ttl'] as const)
    if (e[field] !== undefined && typeof e[field] !== 'string') throw InvalidInputError.forField(field, e[field], 'must be a string')
  const expected = e.revision === undefined ? undefined : validateRevision('revision', e.revision)
  const specs = prepareServices(
    {
      name: e.name as string,
      endpoints: endpoints.map((x) => (typeof x === 'string' ? x : (JSON.stringify(x) ?? ''))),
      namespace: e.namespace as string | undefined,
      labels: e.labels as Record<string, string> | undefined,
      selector: e.selector as string | undefined,
      description: e.description as string | undefined,
      ttl: e.ttl as string | undefined,
    },
    now,
  )
  if (expected !== undefined && specs.length !== 1)
    throw InvalidInputError.forField('revision', expected, `applies to one service: give one endpoint, not ${specs.length}`)
  return {specs, expected}
}

/**
 * Validates import entries (parsed YAML or JSON: a list, or {services: [...]}) into specs, and
 * the revision each spec expects (index-aligned; undefined: none). Every bad entry is reported by
 * its 1-based position; nothing is written here.
 */
export async function validateImport(
  ctx: RegistryContext,
  document: unknown,
): Promise<{specs: ServiceSpec[]; expected: (number | undefined)[]; errors: ImportEntryError[]; entries: number}> {
  // Input limits: an HTTP body or file nested deeper than any import is refused first.
  checkNestingDepth(document, 'document')
  const list = entriesOf(document)
  const now = ctx.now()
  const errors: ImportEntryError[] = []
  const byKey = new Map<string, number>()
  const perEntry: {position: number; specs: ServiceSpec[]; expected?: number}[] = []
  const invalid = (position: number, error: unknown): void => {
    if (!(error instanceof InvalidInputError)) throw error
    errors.push({position, message: error.message})
  }
  list.forEach((entry: unknown, index) => {
    const position = index + 1
    try {
      const {specs, expected} = entrySpecs(entry, now)
      for (const spec of specs) {
        const key = serviceKey(spec.namespace, spec.id)
        const previous = byKey.get(key)
        if (previous !== undefined)
          throw InvalidInputError.forField('endpoint', spec.endpoint, `is also in entry ${previous} (namespace ${spec.namespace})`)
        byKey.set(key, position)
      }
      perEntry.push({position, specs, expected})
    } catch (error) {
      invalid(position, error)
    }
  })
  // Namespaces and selectors against the current registry.
  const namespaces = new Set((await listNamespaces(ctx)).map((n) => n.name))
  const topology = await readTopology(ctx)
  const selectors = new SelectorCache()
  const specs: ServiceSpec[] = []
  const expectedRevisions: (number | undefined)[] = []
  for (const {position, specs: entry, expected} of perEntry) {
    const first = entry[0]
    if (!first) continue
    if (!namespaces.has(first.namespace)) {
      errors.push({position, message: `namespace "${first.namespace}" is not registered`})
      continue
    }
    try {
      requireCandidates(first, topology.servers, 'selector', selectors)
      specs.push(...entry)
      expectedRevisions.push(...entry.map(() => expected))
    } catch (error) {
      invalid(position, error)
    }
  }
  errors.sort((a, b) => a.position - b.position)
  return {specs, expected: expectedRevisions, errors, entries: list.length}
}

/**
 * Imports services: validates every entry first; if any entry is bad, writes NOTHING and
 * throws an InvalidInputError listing every bad entry by position. Otherwise writes all of
 * them in batched transactions. Idempotent, so a rerun finishes an interrupted import. Entries
 * with a `revision` make the import conditional: one transaction, nothing written if one moved.
 */
export async function importServices(ctx: RegistryContext, document: unknown, source = 'file'): Promise<ImportResult> {
  const {specs, expected, errors, entries} = await validateImport(ctx, document)
  if (errors.length > 0) {
    const problems = errors.map((e) => `entry ${e.position}: ${e.message}`)
    throw new InvalidInputError(
      `${source}: ${errors.length} of ${entries} entr${entries === 1 ? 'y is' : 'ies are'} invalid, nothing was imported: ${listProblems(problems)}`,
      {field: 'file', problems},
    )
  }
  const result = await writeServices(ctx, specs, undefined, expected)
  return {entries, services: result.services.length, created: result.created, updated: result.updated, unchanged: result.unchanged}
}
