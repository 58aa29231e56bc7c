/**
 * The one registry interface the commands hold. Two implementations: `Registry` (local: the
 * registry logic over a Store, SQLite or etcd) and the HTTP client of `roster serve` (remote:
 * an `https://` --registry). Commands never know which one they hold; authorization happens in
 * the server, at the level of these operations.
 */
import type {HistoryEvent} from './history/event.js'
import type {HistoryFilter, HistoryFollow} from './history/read.js'
import type {Namespace, RegistrySettings, Server, Service} from './model.js'
import type {
  ImportResult,
  RedistributionResult,
  RegisterServicesResult,
  ServerChangeResult,
  ServiceFilter,
  ServiceInput,
  SettingsUpdate,
  UnregisterNamespaceResult,
  UnregisterOptions,
  UnregisterServerResult,
  UnregisterServicesResult,
} from './registry.js'

export interface RegistryClient {
  /** Where the registry is, for messages: `sqlite:/path`, `etcd://h1:2379` or `https://host:3002`. Never holds credentials. */
  readonly description: string

  getSettings(): Promise<RegistrySettings>
  updateSettings(update: SettingsUpdate): Promise<{settings: RegistrySettings} & RedistributionResult>

  getServer(name: string): Promise<Server | undefined>
  listServers(selector?: string): Promise<Server[]>
  registerServer(name: string, labels?: Record<string, string>): Promise<ServerChangeResult>
  unregisterServer(name: string): Promise<UnregisterServerResult>

  getNamespace(name: string): Promise<Namespace | undefined>
  listNamespaces(): Promise<Namespace[]>
  registerNamespace(name: string, exportConfig?: unknown): Promise<Namespace>
  unregisterNamespace(name: string, force?: boolean): Promise<UnregisterNamespaceResult>

  registerServices(input: ServiceInput): Promise<RegisterServicesResult>
  /** Endpoint URLs or service IDs; URLs are looked up in `namespace` (default "default"). */
  unregisterServices(refs: readonly string[], namespace?: string, options?: UnregisterOptions): Promise<UnregisterServicesResult>
  /** Streams the matching services; sorted when `filter.sortBy` is set. */
  listServices(filter?: ServiceFilter): AsyncIterable<Service>
  /** All or nothing: every entry is validated before anything is written. */
  importServices(document: unknown, source?: string): Promise<ImportResult>

  /** The history's events matching `filter`, oldest first. */
  listEvents(filter?: HistoryFilter): AsyncIterable<HistoryEvent>
  /** The events from `filter.since` (else from now), then each new one, until close(). */
  followEvents(filter: HistoryFilter, onEvent: (event: HistoryEvent) => void | Promise<void>): Promise<HistoryFollow>
}
