/**
 * The registry's model, as in postfinance/discovery: scrape servers, namespaces and services.
 * Stored as JSON values under the store keys named in keys.ts.
 */
export type ServerState = 'joining' | 'active' | 'leaving'

export interface Server {
  name: string
  labels: Record<string, string>
  state: ServerState
  /** RFC 3339 time of the last change. */
  modified: string
}

export type ExportConfig = 'standard' | 'blackbox' | 'disabled'

export interface Namespace {
  name: string
  export: ExportConfig
  modified: string
}

export interface Service {
  /** UUIDv5 of namespace and endpoint: registering the same endpoint again updates in place. */
  id: string
  name: string
  namespace: string
  /** Absolute http(s) URL with a host. */
  endpoint: string
  labels: Record<string, string>
  /** Kubernetes label-selector syntax over server labels; empty selects every server. */
  selector: string
  /** Names of the servers the service is distributed to (rendezvous hashing, `replicas` of them). */
  servers: string[]
  description: string
  modified: string
  /**
   * RFC 3339 time after which `service prune` removes it as expired; set by registering with a
   * TTL, renewed by every such registration. Absent (records written before it existed too): never.
   */
  expires?: string
}

export interface RegistrySettings {
  /** How many servers each service is assigned to. Default 1. */
  replicas: number
}

export const DEFAULT_NAMESPACE = 'default'

/**
 * A record as the registry hands it out: its fields and `revision`, the store mod revision of its
 * key (0: not stored, as the implicit `default` namespace and settings never changed). A
 * conditional write expects it back (expectRevision; HTTP If-Match with the ETag). Never part of
 * the stored value.
 */
export type Revisioned<T> = T & {revision: number}
