/**
 * Scrape servers: reading them, and registering or unregistering one, which changes the topology
 * (joining → redistribution → active; leaving → redistribution → deleted).
 */
import {ConflictError, NotFoundError} from '../errors.js'
import {RETRY} from '../store/cas.js'
import {rangeAll} from '../store/store.js'
import {type RegistryContext, parseJson, sameLabels} from './context.js'
import {SERVERS_PREFIX, serverKey} from './keys.js'
import type {Revisioned, Server} from './model.js'
import {redistribute} from './redistribution.js'
import {readRecord, requireRevision, validateRevision, withRevision} from './revisions.js'
import {parseSelector} from './selector.js'
import {topologyOp} from './topology.js'
import type {ServerChangeResult, UnregisterServerResult, WriteCondition} from './types.js'
import {validateLabels, validateName} from './validation.js'

export async function getServer(ctx: RegistryContext, name: string): Promise<Revisioned<Server> | undefined> {
  const kv = await ctx.store.get(serverKey(validateName('server', name)))
  return kv ? readRecord<Server>(kv) : undefined
}

export async function listServers(ctx: RegistryContext, selectorText?: string): Promise<Revisioned<Server>[]> {
  const selector = parseSelector(selectorText, 'selector')
  const servers = (await rangeAll(ctx.store, SERVERS_PREFIX)).map((kv) => readRecord<Server>(kv))
  return servers.filter((s) => selector.matches(s.labels))
}

/**
 * Registers a server (or updates its labels): writes it `joining`, redistributes every
 * service, then marks it `active`. Idempotent: registering an active server with the same
 * labels writes nothing and only checks the distribution. With `expectRevision`, the server
 * must still be at that revision (0: not registered) when it is written `joining`.
 */
export async function registerServer(
  ctx: RegistryContext,
  nameInput: string,
  labelsInput: Record<string, string> = {},
  condition: WriteCondition = {},
): Promise<ServerChangeResult> {
  const name = validateName('server', nameInput)
  const labels = validateLabels('label', labelsInput)
  const expected = condition.expectRevision === undefined ? undefined : validateRevision('revision', condition.expectRevision)
  const key = serverKey(name)
  const joined = await ctx.cas(`server "${name}"`, async () => {
    const kv = await ctx.store.get(key)
    requireRevision(`server "${name}"`, expected, kv?.modRevision ?? 0)
    const current = kv ? parseJson<Server>(kv) : undefined
    if (kv && current?.state === 'active' && sameLabels(current.labels, labels))
      return {server: current, revision: kv.modRevision, changed: false}
    const server: Server = {name, labels, state: 'joining', modified: ctx.timestamp()}
    const result = await ctx.store.txn(
      [{key, modRevision: kv?.modRevision ?? 0}],
      [{type: 'put', key, value: JSON.stringify(server)}, topologyOp(ctx)],
    )
    return result.succeeded ? {server, revision: result.revision, changed: true} : RETRY
  })
  const distribution = await redistribute(ctx)
  if (!joined.changed) return {server: withRevision(joined.server, joined.revision), ...distribution}
  // One compare, not retried: if it fails, the server changed meanwhile by another register
  // (which finishes the job) or an unregister.
  const active: Server = {...joined.server, state: 'active', modified: ctx.timestamp()}
  const result = await ctx.store.txn([{key, modRevision: joined.revision}], [{type: 'put', key, value: JSON.stringify(active)}])
  if (result.succeeded) return {server: withRevision(active, result.revision), ...distribution}
  const now = await ctx.store.get(key)
  if (!now) throw new ConflictError(`server "${name}" was unregistered while it was being registered`)
  return {server: readRecord<Server>(now), ...distribution}
}

/**
 * Unregisters a server: marks it `leaving`, moves every service off it, deletes it.
 * A process killed half-way leaves the server `leaving` (it receives no new services);
 * running unregister again finishes. An unknown server is a NotFoundError. With
 * `expectRevision`, the server must still be at that revision when it is marked `leaving` (a
 * rerun that finishes a `leaving` server expects the revision that marked it).
 */
export async function unregisterServer(
  ctx: RegistryContext,
  nameInput: string,
  condition: WriteCondition = {},
): Promise<UnregisterServerResult> {
  const name = validateName('server', nameInput)
  const expected = condition.expectRevision === undefined ? undefined : validateRevision('revision', condition.expectRevision)
  const key = serverKey(name)
  // After this call marks the server leaving, a rerun of the step expects that write's revision.
  let expectedNow = expected
  return ctx.cas(`server "${name}"`, async () => {
    const kv = await ctx.store.get(key)
    if (!kv) throw new NotFoundError(`server "${name}" is not registered`)
    requireRevision(`server "${name}"`, expectedNow, kv.modRevision)
    const current = parseJson<Server>(kv)
    let leavingRevision = kv.modRevision
    if (current.state !== 'leaving') {
      const leaving: Server = {...current, state: 'leaving', modified: ctx.timestamp()}
      const result = await ctx.store.txn(
        [{key, modRevision: kv.modRevision}],
        [{type: 'put', key, value: JSON.stringify(leaving)}, topologyOp(ctx)],
      )
      if (!result.succeeded) return RETRY
      leavingRevision = result.revision
      if (expectedNow !== undefined) expectedNow = leavingRevision
    }
    const distribution = await redistribute(ctx)
    const deleted = await ctx.store.txn([{key, modRevision: leavingRevision}], [{type: 'delete', key}])
    if (deleted.succeeded) return {server: name, ...distribution}
    const now = await ctx.store.get(key)
    if (!now) return {server: name, ...distribution}
    if (parseJson<Server>(now).state !== 'leaving')
      throw new ConflictError(`server "${name}" was registered again while it was being unregistered`)
    return RETRY
  })
}
