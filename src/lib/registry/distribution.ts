/**
 * Distribution of services to servers by rendezvous (highest-random-weight) hashing.
 *
 * The candidates for a service are the servers whose labels match the service's selector and
 * that are not leaving. Each candidate is scored by a stable hash of (endpoint, server name) and
 * the service goes to the `replicas` highest-scoring ones. A server's score for a service does
 * not depend on the other servers, so adding or removing one server moves only the services
 * that server gains or loses, wherever its name sorts.
 */
import {hash} from 'node:crypto'
import {InvalidInputError} from '../errors.js'
import type {Server, Service} from './model.js'
import {type Selector, SelectorCache} from './selector.js'

/**
 * The first 8 bytes of sha256(endpoint NUL server), as an unsigned 64-bit integer. crypto.hash
 * (one shot, Node ≥ 20.12) gives the same digest as createHash().update()… in half the time.
 */
export function rendezvousScore(endpoint: string, serverName: string): bigint {
  return hash('sha256', `${endpoint}\0${serverName}`, 'buffer').readBigUInt64BE(0)
}

export interface DistributionInput {
  endpoint: string
  selector: string
}

/** The servers a service may be assigned to: matching its selector and not leaving. */
export function candidateServers(selector: Selector, servers: readonly Server[]): Server[] {
  return servers.filter((s) => s.state !== 'leaving' && selector.matches(s.labels))
}

/**
 * The names of the `replicas` highest-scoring candidates, in name order. Ties (equal 64-bit
 * scores) are broken by name. Empty when there is no candidate.
 */
export function rankCandidates(endpoint: string, candidates: readonly Server[], replicas: number): string[] {
  if (candidates.length === 0 || replicas < 1) return []
  const scored = candidates.map((s) => ({name: s.name, score: rendezvousScore(endpoint, s.name)}))
  scored.sort((a, b) => (a.score > b.score ? -1 : a.score < b.score ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  return scored
    .slice(0, replicas)
    .map((s) => s.name)
    .sort()
}

/**
 * Assigns one service. `selectors` caches parsed selectors across many calls.
 * Returns [] when no server is a candidate; the caller decides whether that is an error
 * (see `requireCandidates`).
 */
export function assignServers(
  service: DistributionInput,
  servers: readonly Server[],
  replicas: number,
  selectors: SelectorCache = new SelectorCache(),
): string[] {
  const selector = selectors.get(service.selector)
  return rankCandidates(service.endpoint, candidateServers(selector, servers), replicas)
}

/**
 * The rule for a service being registered: when at least one server is available (not leaving),
 * its selector must match one of them. With no available server at all, the service is
 * accepted unassigned (a registry can be filled before its servers exist).
 */
export function requireCandidates(
  service: DistributionInput,
  servers: readonly Server[],
  field = 'selector',
  selectors: SelectorCache = new SelectorCache(),
): void {
  const available = servers.filter((s) => s.state !== 'leaving')
  if (available.length === 0) return
  const selector = selectors.get(service.selector, field)
  if (candidateServers(selector, available).length === 0)
    throw InvalidInputError.forField(
      field,
      service.selector,
      `matches none of the ${available.length} registered servers; check the server labels (roster server list)`,
    )
}

/** Assignments for many services: service id → server names. */
export function distributeServices(
  services: Iterable<Pick<Service, 'id' | 'endpoint' | 'selector'>>,
  servers: readonly Server[],
  replicas: number,
): Map<string, string[]> {
  const selectors = new SelectorCache()
  const out = new Map<string, string[]>()
  for (const s of services) out.set(s.id, assignServers(s, servers, replicas, selectors))
  return out
}

export function sameServers(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
