/**
 * Who a write is recorded as: the local Unix user and host (the CLI on a local registry), a
 * caller of `roster serve` (a machine token's id and role, or an OIDC subject, role and e-mail),
 * a discoverer's owner id, or the system. How an actor reads in a table, and what `actor`
 * filters match.
 */
import {hostname, userInfo} from 'node:os'

import type {Caller} from '../../auth/caller.js'
import type {Actor} from './event.js'

/** What a Registry given no actor records: a library caller that said nothing of itself. */
export const UNKNOWN_ACTOR: Actor = {kind: 'system', id: 'roster'}

/** The user running this process, on this host. */
export function localActor(): Actor {
  let user: string
  try {
    user = userInfo().username
  } catch {
    // A uid with no passwd entry (a container's arbitrary uid): the number is what there is.
    user = String(process.getuid?.() ?? 'unknown')
  }
  const host = hostname()
  return {kind: 'local', id: `${user}@${host}`, user, host}
}

/** The discoverer that owns the services it writes (`kube discover`'s owner id). */
export function discoverActor(ownerId: string): Actor {
  return {kind: 'discover', id: ownerId}
}

/** A caller of `roster serve`, as its writes are recorded. */
export function callerActor(caller: Caller): Actor {
  if (caller.kind === 'oidc')
    return {kind: 'oidc', id: caller.subject, role: caller.role, ...(caller.email === undefined ? {} : {email: caller.email})}
  if (caller.kind === 'anonymous') return {kind: 'system', id: 'anonymous'}
  return {kind: 'token', id: caller.subject, role: caller.role}
}

/** One short line: `alice@db1`, `token:ansible`, `oidc:alice@example.com`, `discover:prod`, `system:roster`. */
export function actorText(actor: Actor): string {
  if (actor.kind === 'local') return actor.id
  if (actor.kind === 'oidc') return `oidc:${actor.email ?? actor.id}`
  return `${actor.kind}:${actor.id}`
}

/** Whether an `actor` filter names this actor: its id, its text, its user or its e-mail, exactly. */
export function actorMatches(actor: Actor, name: string): boolean {
  return name === actor.id || name === actorText(actor) || name === actor.user || name === actor.email
}
