/**
 * Namespaces: reading, registering and unregistering them (an unregistered namespace's services
 * go with it, when forced). The `default` namespace always exists, stored or not.
 */
import {ConflictError, InvalidInputError, NotFoundError} from '../errors.js'
import {RETRY} from '../store/cas.js'
import {MAX_TXN_OPS, rangeAll} from '../store/store.js'
import {type RegistryContext, deleteKeys} from './context.js'
import {NAMESPACES_PREFIX, namespaceKey, namespaceServicesPrefix} from './keys.js'
import {DEFAULT_NAMESPACE, type ExportConfig, type Namespace, type Revisioned} from './model.js'
import {readRecord, requireRevision, validateRevision, withRevision} from './revisions.js'
import type {UnregisterNamespaceResult, WriteCondition} from './types.js'
import {validateExport, validateName} from './validation.js'

/**
 * A namespace that still has services and is unregistered without `force` (exit 6, HTTP 409,
 * code "conflict"). The message says what is wrong; a command adds how to override it.
 */
export class NamespaceNotEmptyError extends ConflictError {
  constructor(
    readonly namespace: string,
    message: string,
  ) {
    super(message)
  }

  /** Whether `error` is one, also as a remote registry reports it (a ConflictError with its message). */
  static matches(error: unknown): error is ConflictError {
    if (error instanceof NamespaceNotEmptyError) return true
    return error instanceof ConflictError && /^namespace "[^"]+" (still has \d+ services?|gained services)/.test(error.message)
  }
}

/** The `default` namespace when it is not stored: revision 0. */
export function implicitDefaultNamespace(): Revisioned<Namespace> {
  return {name: DEFAULT_NAMESPACE, export: 'standard', modified: '', revision: 0}
}

export async function getNamespace(ctx: RegistryContext, nameInput: string): Promise<Revisioned<Namespace> | undefined> {
  const name = validateName('namespace', nameInput)
  const kv = await ctx.store.get(namespaceKey(name))
  if (kv) return readRecord<Namespace>(kv)
  return name === DEFAULT_NAMESPACE ? implicitDefaultNamespace() : undefined
}

export async function listNamespaces(ctx: RegistryContext): Promise<Revisioned<Namespace>[]> {
  const namespaces = (await rangeAll(ctx.store, NAMESPACES_PREFIX)).map((kv) => readRecord<Namespace>(kv))
  if (!namespaces.some((n) => n.name === DEFAULT_NAMESPACE)) namespaces.push(implicitDefaultNamespace())
  return namespaces.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}

/** Registers a namespace, or changes its export configuration. Idempotent. */
export async function registerNamespace(
  ctx: RegistryContext,
  nameInput: string,
  exportInput: unknown = 'standard',
  condition: WriteCondition = {},
): Promise<Revisioned<Namespace>> {
  const name = validateName('namespace', nameInput)
  const exportConfig: ExportConfig = validateExport('export', exportInput)
  const expected = condition.expectRevision === undefined ? undefined : validateRevision('revision', condition.expectRevision)
  const key = namespaceKey(name)
  return ctx.cas(`namespace "${name}"`, async () => {
    const kv = await ctx.store.get(key)
    requireRevision(`namespace "${name}"`, expected, kv?.modRevision ?? 0)
    if (kv) {
      const current = readRecord<Namespace>(kv)
      if (current.export === exportConfig) return current
    }
    const namespace: Namespace = {name, export: exportConfig, modified: ctx.timestamp()}
    const result = await ctx.store.txn([{key, modRevision: kv?.modRevision ?? 0}], [{type: 'put', key, value: JSON.stringify(namespace)}])
    return result.succeeded ? withRevision(namespace, result.revision) : RETRY
  })
}

/**
 * Unregisters a namespace. One that still has services is refused with a NamespaceNotEmptyError
 * naming the count, unless `force`, which deletes its services too. `default` always exists.
 * With `expectRevision`, the namespace must still be at that revision when it is deleted.
 */
export async function unregisterNamespace(
  ctx: RegistryContext,
  nameInput: string,
  force = false,
  condition: WriteCondition = {},
): Promise<UnregisterNamespaceResult> {
  const name = validateName('namespace', nameInput)
  if (name === DEFAULT_NAMESPACE)
    throw InvalidInputError.forField('namespace', name, 'the default namespace always exists and cannot be unregistered')
  const expected = condition.expectRevision === undefined ? undefined : validateRevision('revision', condition.expectRevision)
  const key = namespaceKey(name)
  const prefix = namespaceServicesPrefix(name)
  return ctx.cas(`namespace "${name}"`, async () => {
    const kv = await ctx.store.get(key)
    const count = await countKeys(ctx, prefix)
    if (!kv && count === 0) throw new NotFoundError(`namespace "${name}" is not registered`)
    requireRevision(`namespace "${name}"`, expected, kv?.modRevision ?? 0)
    if (count > 0 && !force)
      throw new NamespaceNotEmptyError(name, `namespace "${name}" still has ${count} service${count === 1 ? '' : 's'}`)
    if (kv) {
      // Delete the namespace first: service writes compare its revision, so none can be
      // added after this; then sweep the services (a rerun finishes a killed sweep).
      const result = await ctx.store.txn([{key, modRevision: kv.modRevision}], [{type: 'delete', key}])
      if (!result.succeeded) return RETRY
    }
    const removed = await deletePrefix(ctx, prefix)
    if (removed > 0 && !force && kv) {
      // Services were registered between the count and the delete: put the namespace back.
      await ctx.store.txn([{key, modRevision: 0}], [{type: 'put', key, value: kv.value}])
      throw new NamespaceNotEmptyError(name, `namespace "${name}" gained services while it was being unregistered`)
    }
    return {namespace: name, servicesRemoved: removed}
  })
}

async function countKeys(ctx: RegistryContext, prefix: string): Promise<number> {
  let n = 0
  for await (const page of ctx.store.range(prefix, {pageSize: ctx.pageSize})) n += page.kvs.length
  return n
}

async function deletePrefix(ctx: RegistryContext, prefix: string): Promise<number> {
  let removed = 0
  for (;;) {
    // Re-read from the start each round: deleting while paging a snapshot is fine too, but
    // this also catches keys written after the first read.
    const keys: string[] = []
    for await (const page of ctx.store.range(prefix, {pageSize: MAX_TXN_OPS})) {
      for (const kv of page.kvs) keys.push(kv.key)
      if (keys.length >= MAX_TXN_OPS * 8) break
    }
    if (keys.length === 0) return removed
    removed += await deleteKeys(ctx.store, keys)
  }
}
