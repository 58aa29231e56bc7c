/**
 * Writing the history: the one operation every registry write adds to its own transaction
 * (`historyOp` at the registry's write sites, `eventOp` where there is no registry context: the
 * token authority, restore), and what each kind of object records of a change. The event commits
 * or fails with the write it describes, so it is never lost and never written for a write that
 * did not happen. No secret is ever recorded: a token is its id, role, namespaces and expiry.
 */
import {randomBytes} from 'node:crypto'

import type {Operation} from '../../store/store.js'
import type {RegistryContext} from '../context.js'
import type {Namespace, RegistrySettings, Server, Service} from '../model.js'
import {type Actor, type Changes, type EventObject, type HistoryAction, type ObjectChange, historyKey} from './event.js'

/** Records this process made: the writes of one millisecond keep their order. */
let sequence = 0

/** The record of one transaction's events, as the operation that stores it. */
export function eventOp(actor: Actor, time: Date, changes: readonly ObjectChange[]): Operation {
  const at = time.toISOString()
  const unique = `${String(++sequence).padStart(12, '0')}-${randomBytes(6).toString('hex')}`
  return {type: 'put', key: historyKey(at, unique), value: JSON.stringify({time: at, actor, events: changes})}
}

/** The history operation of a registry write: its context's actor and clock. */
export function historyOp(ctx: RegistryContext, ...changes: ObjectChange[]): Operation {
  ctx.history.written++
  return eventOp(ctx.actor, ctx.now(), changes)
}

/**
 * The one event of a restore, for the restore's own last transaction: which backup, and how
 * many objects of each kind it put back (`counts`: {services: 120, servers: 3, ...}).
 */
export function restoreEventOp(o: {actor: Actor; time: Date; source: string; counts: Record<string, number>}): Operation {
  const changes: Changes = {}
  for (const [kind, count] of Object.entries(o.counts)) changes[kind] = {after: count}
  return eventOp(o.actor, o.time, [{action: 'restore', object: {kind: 'registry', name: o.source}, changes}])
}

/** The fields of each object a change records (never ids, times or the actor: those are the event's own). */
const SERVICE_FIELDS = ['name', 'labels', 'selector', 'description', 'expires', 'servers'] as const
const SERVER_FIELDS = ['labels', 'state'] as const
const NAMESPACE_FIELDS = ['export'] as const
const SETTINGS_FIELDS = ['replicas', 'historyRetention'] as const

/**
 * The fields that differ between `before` and `after`, compared as JSON. Of an object created or
 * removed (one side absent), every field it has but the empty ones ("", [], {}).
 */
export function changedFields<T extends object>(
  before: T | undefined,
  after: T | undefined,
  fields: readonly (keyof T & string)[],
): Changes {
  const changes: Changes = {}
  for (const field of fields) {
    const b = before?.[field]
    const a = after?.[field]
    if (before === undefined || after === undefined) {
      if (!isEmpty(b ?? a)) changes[field] = before === undefined ? {after: a} : {before: b}
    } else if (b !== a && JSON.stringify(b) !== JSON.stringify(a)) {
      changes[field] = {...(b === undefined ? {} : {before: b}), ...(a === undefined ? {} : {after: a})}
    }
  }
  return changes
}

function isEmpty(value: unknown): boolean {
  return (
    value === undefined ||
    value === '' ||
    (Array.isArray(value) && value.length === 0) ||
    (typeof value === 'object' && value !== null && Object.keys(value).length === 0)
  )
}

function actionOf(before: unknown, after: unknown): HistoryAction {
  return before === undefined ? 'register' : after === undefined ? 'unregister' : 'update'
}

/** A service registered, changed, moved, unregistered (or expired, pruned: `action`). */
export function serviceChange(before: Service | undefined, after: Service | undefined, action?: HistoryAction): ObjectChange {
  const s = (after ?? before) as Service
  const object: EventObject = {kind: 'service', namespace: s.namespace, name: s.name, endpoint: s.endpoint, id: s.id}
  return {action: action ?? actionOf(before, after), object, changes: changedFields(before, after, SERVICE_FIELDS)}
}

export function serverChange(before: Server | undefined, after: Server | undefined): ObjectChange {
  const name = (after ?? before)?.name ?? ''
  return {action: actionOf(before, after), object: {kind: 'server', name}, changes: changedFields(before, after, SERVER_FIELDS)}
}

export function namespaceChange(before: Namespace | undefined, after: Namespace | undefined): ObjectChange {
  const name = (after ?? before)?.name ?? ''
  return {
    action: actionOf(before, after),
    object: {kind: 'namespace', namespace: name, name},
    changes: changedFields(before, after, NAMESPACE_FIELDS),
  }
}

export function settingsChange(before: RegistrySettings, after: RegistrySettings): ObjectChange {
  return {action: 'update', object: {kind: 'settings', name: 'settings'}, changes: changedFields(before, after, SETTINGS_FIELDS)}
}

/** A token issued or revoked, or the signing key made: ids, roles, namespaces and expiries only. */
export function tokenChange(
  action: 'create' | 'revoke',
  token: {id: string; role?: string; namespaces?: string[]; expiresAt?: string | null},
): ObjectChange {
  const changes: Changes =
    action === 'revoke'
      ? {revoked: {before: false, after: true}}
      : changedFields(undefined, {role: token.role, namespaces: token.namespaces, expiresAt: token.expiresAt ?? undefined}, [
          'role',
          'namespaces',
          'expiresAt',
        ])
  return {action, object: {kind: 'token', name: token.id, id: token.id}, changes}
}

/** Bytes a change adds to its record, to budget a batch's transaction. */
export function changeBytes(change: ObjectChange): number {
  return Buffer.byteLength(JSON.stringify(change))
}
