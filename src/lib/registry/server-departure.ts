/**
 * What would move if one scrape server left (unregistered, or marked leaving): each service it
 * holds is assigned again, by the rendezvous distribution of distribution.ts, over the servers
 * that stay. The services it does not hold keep their servers: a server's score for a service
 * does not depend on the other servers, so one leaving changes nothing else.
 */
import {assignServers} from './distribution.js'
import type {Server, Service} from './model.js'
import {SelectorCache} from './selector.js'

export interface Move {
  service: Service
  /** The servers the service would gain; empty when no other server is a candidate (it would be left with fewer, or none). */
  to: string[]
}

/** The services `server` holds and the servers each would gain if it left. */
export function movesIfServerLeaves(server: string, services: Iterable<Service>, servers: readonly Server[], replicas: number): Move[] {
  const staying = servers.filter((s) => s.name !== server)
  const selectors = new SelectorCache()
  const moves: Move[] = []
  for (const service of services) {
    if (!service.servers.includes(server)) continue
    let after: string[]
    try {
      after = assignServers(service, staying, replicas, selectors)
    } catch {
      // A selector the registry stored but cannot parse any more selects no server.
      after = []
    }
    moves.push({service, to: after.filter((name) => !service.servers.includes(name))})
  }
  return moves
}
