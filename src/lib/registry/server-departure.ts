/**
 * What would move if one scrape server left (unregistered, or marked leaving): each service it
 * holds is assigned again, by the rendezvous distribution of distribution.ts, over the servers
 * that stay. The services it does not hold keep their servers: a server's score for a service
 * does not depend on the other servers, so one leaving changes nothing else.
 */
import {assignServers} from './distribution.js'
import type {Revisioned, Server, Service} from './model.js'
import {type SelectorCache} from './selector.js'

export interface Move {
  service: Revisioned<Service>
  /** The servers the service would gain; empty when no other server is a candidate (it would be left with fewer, or none). */
  to: string[]
}

/** The servers `service` would gain if it were assigned again over `staying` (the servers but the one leaving). */
export function serversGained(service: Service, staying: readonly Server[], replicas: number, selectors: SelectorCache): string[] {
  let after: string[]
  try {
    after = assignServers(service, staying, replicas, selectors)
  } catch {
    // A selector the registry stored but cannot parse any more selects no server.
    after = []
  }
  return after.filter((name) => !service.servers.includes(name))
}
