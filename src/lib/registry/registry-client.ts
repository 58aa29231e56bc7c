/**
 * The one registry interface the commands hold. Two implementations: `Registry` (local: the
 * registry logic over a Store, SQLite or etcd) and the HTTP client of `roster serve` (remote:
 * an `https://` registry). Commands never know which one they hold; authorization happens in
 * the server, at the level of these operations.
 */
import type {Namespace, RegistrySettings, Revisioned, Server, Service} from './model.js'
import type {
  ImportResult,
  RegisterServicesResult,
  ServerChangeResult,
  ServiceFilter,
  ServiceInput,
  SettingsChangeResult,
  UnregisterConditions,
  UnregisterNamespaceResult,
  UnregisterServerResult,
  UnregisterServicesResult,
  WriteCondition,
} from './registry.js'

/**
 * Every object read carries its `revision` (revisions.ts); every write and delete takes a
 * condition on it (`expectRevision`, 0: only if absent) and fails with PreconditionFailedError,
 * changing nothing, when the object moved.
 */
export interface RegistryClient {
  /** Where the registry is, for messages: `sqlite:/path`, `etcd://h1:2379` or `https://host:3002`. Never holds credentials. */
  readonly description: string

  getSettings(): Promise<Revisioned<RegistrySettings>>
  updateSettings(update: {replicas?: unknown}, condition?: WriteCondition): Promise<SettingsChangeResult>

  getServer(name: string): Promise<Revisioned<Server> | undefined>
  listServers(selector?: string): Promise<Revisioned<Server>[]>
  registerServer(name: string, labels?: Record<string, string>, condition?: WriteCondition): Promise<ServerChangeResult>
  unregisterServer(name: string, condition?: WriteCondition): Promise<UnregisterServerResult>

  getNamespace(name: string): Promise<Revisioned<Namespace> | undefined>
  listNamespaces(): Promise<Revisioned<Namespace>[]>
  registerNamespace(name: string, exportConfig?: unknown, condition?: WriteCondition): Promise<Revisioned<Namespace>>
  unregisterNamespace(name: string, force?: boolean, condition?: WriteCondition): Promise<UnregisterNamespaceResult>

  /** With `expectRevision`, the input names one endpoint. */
  registerServices(input: ServiceInput, condition?: WriteCondition): Promise<RegisterServicesResult>
  /**
   * Endpoint URLs or service IDs; URLs are looked up in `namespace` (default "default"). A ref
   * that names no service is reported in `notFound`, with or without an expected revision.
   */
  unregisterServices(refs: readonly string[], namespace?: string, conditions?: UnregisterConditions): Promise<UnregisterServicesResult>
  /** Streams the matching services; sorted when `filter.sortBy` is set. */
  listServices(filter?: ServiceFilter): AsyncIterable<Revisioned<Service>>
  /**
   * All or nothing: every entry is validated before anything is written. An entry may hold
   * `revision` (one endpoint then): the whole import is then conditional and written in one store
   * transaction (at most MAX_CONDITIONAL_SERVICES services).
   */
  importServices(document: unknown, source?: string): Promise<ImportResult>
}
