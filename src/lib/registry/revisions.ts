/**
 * Revisions on registry objects: every record read carries the store mod revision of its key, and
 * every write or delete may expect one (a conditional write). The compare happens in the store
 * transaction that writes, so an object that moved after the caller read it is never changed: the
 * write fails with PreconditionFailedError (HTTP 412, exit 6) and nothing is written.
 *
 * Revision 0 means "absent": expecting 0 writes only if the object does not exist yet.
 */
import {InvalidInputError, PreconditionFailedError} from '../errors.js'
import type {KeyValue} from '../store/store.js'
import {parseJson} from './context.js'
import type {Revisioned} from './model.js'

/**
 * The most services one conditional call writes or deletes. A conditional call is written in ONE
 * store transaction (at most 128 compares, etcd's limit: the services, their namespaces and the
 * topology), so that a 412 always means that nothing was changed; callers cut larger sets into
 * calls of this size.
 */
export const MAX_CONDITIONAL_SERVICES = 100

/** `value` with `revision` beside its fields: what every read hands out. */
export function withRevision<T extends object>(value: T, revision: number): Revisioned<T> {
  return {...value, revision}
}

/** A stored record as read: its JSON value and its key's mod revision. */
export function readRecord<T extends object>(kv: KeyValue): Revisioned<T> {
  return withRevision(parseJson<T>(kv), kv.modRevision)
}

/** An expected revision as given: a whole number from 0 (0: the object must be absent). */
export function validateRevision(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw InvalidInputError.forField(field, value ?? '', 'must be a revision: a whole number from 0 (0: only if absent)')
  return value
}

/** Expected revisions of a bulk call, one per item, at most MAX_CONDITIONAL_SERVICES of them. */
export function validateRevisions(field: string, values: readonly unknown[], items: number): number[] {
  if (values.length !== items)
    throw InvalidInputError.forField(field, values.length, `give one revision per service (${items}), in the same order`)
  if (items > MAX_CONDITIONAL_SERVICES)
    throw InvalidInputError.forField(
      field,
      items,
      `a conditional call changes at most ${MAX_CONDITIONAL_SERVICES} services (one store transaction); split it`,
    )
  return values.map((v) => validateRevision(field, v))
}

/**
 * Throws PreconditionFailedError when `current` (0: absent) is not `expected`; `what` names the
 * object (`server "prom1"`). Nothing was written when it throws.
 */
export function requireRevision(what: string, expected: number | undefined, current: number): void {
  if (expected === undefined || expected === current) return
  const now =
    current === 0
      ? 'it does not exist'
      : expected === 0
        ? `it exists (revision ${current}) and revision 0 means only if absent`
        : `it is at revision ${current} now`
  throw new PreconditionFailedError(`${what}: revision ${expected} expected, ${now}; nothing was changed`)
}
