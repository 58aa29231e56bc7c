/**
 * The inputs and results of the registry operations, as the RegistryClient interface and the
 * HTTP API of `roster serve` name them (re-exported by registry.ts).
 */
import type {Actor} from './history/event.js'
import type {RegistrySettings, Revisioned, Server, Service} from './model.js'

/** What a caller gives to register services: one service per endpoint. */
export interface ServiceInput {
  name: string
  endpoints: readonly string[]
  namespace?: string
  labels?: Record<string, string>
  selector?: string
  description?: string
  /**
   * How long the registration lasts: a duration ("24h", "7d", "1h30m"), counted from the
   * registration; each registration with a TTL renews it. Absent, with no expiresAt: never expires.
   */
  ttl?: string
  /** The expiry as an RFC 3339 time, instead of `ttl`. */
  expiresAt?: string
}

/** A validated service, before its assignment is computed. */
export type ServiceSpec = Omit<Service, 'servers' | 'modified' | 'registeredBy'>

/**
 * A condition on a write or delete of one object: it happens only if the object's revision is
 * still `expectRevision` (0: only if the object does not exist), else PreconditionFailedError
 * (HTTP 412, exit 6) and nothing changes.
 */
export interface WriteCondition {
  expectRevision?: number
}

/** Conditions of an unregister: `expectRevisions[i]` for `refs[i]` (at most MAX_CONDITIONAL_SERVICES refs then). */
export interface UnregisterConditions {
  expectRevisions?: readonly number[]
}

export interface RegisterServicesResult {
  /** Each with its revision after the call (the write's, or the stored one when unchanged). */
  services: Revisioned<Service>[]
  created: number
  updated: number
  unchanged: number
}

export interface RedistributionResult {
  /** Services read. */
  checked: number
  /** Services whose assignment changed and was rewritten. */
  moved: number
  /** Services left with no server (no candidate matches their selector). */
  unassigned: number
}

export interface ServerChangeResult extends RedistributionResult {
  server: Revisioned<Server>
}

export interface SettingsChangeResult extends RedistributionResult {
  settings: Revisioned<RegistrySettings>
}

export interface UnregisterServerResult extends RedistributionResult {
  server: string
}

export interface UnregisterNamespaceResult {
  namespace: string
  servicesRemoved: number
}

/** A change of the registry settings: the fields given are set, the others kept. */
export interface SettingsUpdate {
  replicas?: unknown
  /** A duration (`30d`). */
  historyRetention?: unknown
}

/** Options of an unregister: its conditions, and why the services go. */
export interface UnregisterOptions extends UnregisterConditions {
  /** Why the services go, as the history records it: unregistered (default), expired or pruned. */
  action?: 'unregister' | 'expire' | 'prune'
}

export interface UnregisterServicesResult {
  /** Each with the revision it had when it was removed. */
  removed: Revisioned<Service>[]
  /** The arguments that named no registered service. */
  notFound: string[]
}

export interface ServiceFilter {
  namespace?: string
  /** Regular expressions (JavaScript syntax), unanchored. */
  name?: string
  endpoint?: string
  /** Matches any of the service's servers; an unassigned service is matched as "". */
  server?: string
  /** Label selector over the service's labels. */
  selector?: string
  /**
   * Absent: store order (by namespace, then ID), one page held at a time. `namespace`: by
   * namespace, name, endpoint (what `service list` shows by default). The others hold every match.
   */
  sortBy?: 'namespace' | 'name' | 'endpoint' | 'date'
}

export interface ImportEntryError {
  /** 1-based position of the entry in the file. */
  position: number
  message: string
}

export interface ImportResult {
  entries: number
  services: number
  created: number
  updated: number
  unchanged: number
}

export interface RegistryOptions {
  /** Who the writes are recorded as in the history. Default: the system ("roster"). */
  actor?: Actor
  now?: () => Date
  /** Attempts of one compare-and-swap write before giving up with a ConflictError. Default 50. */
  maxAttempts?: number
  /** The most services a page of a range holds (etcd also bounds a page by its bytes). Default 10,000. */
  pageSize?: number
}
