/**
 * The registry's facade: `Registry`, the local RegistryClient, delegating each operation to the
 * module that owns it, over one shared context (store, clock, compare-and-swap loop). Free of
 * CLI concerns: the commands call it, and `roster serve` exposes the same API over HTTP.
 *
 * Where things are:
 *   topology.ts        the server set and settings under the `topology` key's revision
 *   settings.ts        registry-wide settings (replicas)
 *   servers.ts         scrape servers joining and leaving
 *   redistribution.ts  recomputing and rewriting assignments after a topology change
 *   namespaces.ts      namespaces
 *   service-writes.ts  registering services, single and bulk (batches.ts cuts the batches)
 *   services.ts        listing and unregistering services
 *   import.ts          validating and importing a document of services
 *   revisions.ts       the revision every record read carries, and conditional writes on it
 *   context.ts         what they share; ../store/cas.ts, the one compare-and-swap loop
 *
 * Consistency rules (see keys.ts):
 * - Every change to the candidate server set (a server joining, changing labels or leaving) and
 *   every change of `replicas` rewrites the `topology` key in the same transaction.
 * - Every write of a service assignment compares the topology key's mod revision read before the
 *   server set was read, and the service key's own mod revision; on a failed compare it re-reads
 *   and retries. So no write commits an assignment computed from a stale server set, and
 *   concurrent writers never lose each other's changes.
 * - A conditional write (expectRevision) compares the object's key with the expected revision in
 *   the transaction that writes it; a conditional call is one transaction, so a failed condition
 *   (PreconditionFailedError) changes nothing.
 * - Server changes are followed by a redistribution pass that pages through every service and
 *   rewrites the changed ones in transactions of at most MAX_TXN_OPS operations.
 */
import {MAX_PAGE_SIZE, type Store} from '../store/store.js'
import {type RegistryContext, createContext} from './context.js'
import {UNKNOWN_ACTOR} from './history/actor.js'
import type {Actor, HistoryEvent} from './history/event.js'
import * as history from './history/read.js'
import type {HistoryFilter, HistoryFollow} from './history/read.js'
import {type HistoryState, newHistoryState} from './history/retention.js'
import * as imports from './import.js'
import type {Namespace, RegistrySettings, Revisioned, Server, Service} from './model.js'
import * as namespaces from './namespaces.js'
import {redistribute} from './redistribution.js'
import type {RegistryClient} from './registry-client.js'
import * as serviceWrites from './service-writes.js'
import * as services from './services.js'
import * as servers from './servers.js'
import * as settings from './settings.js'
import type {
  ImportEntryError,
  ImportResult,
  RedistributionResult,
  RegisterServicesResult,
  RegistryOptions,
  ServerChangeResult,
  ServiceFilter,
  ServiceInput,
  ServiceSpec,
  SettingsChangeResult,
  SettingsUpdate,
  UnregisterNamespaceResult,
  UnregisterOptions,
  UnregisterServerResult,
  UnregisterServicesResult,
  WriteCondition,
} from './types.js'

export type * from './types.js'
import type {Topology} from './topology.js'
export {DEFAULT_SETTINGS} from './topology.js'
export {BULK_WRITE_THRESHOLD} from './service-writes.js'
export {MAX_CONDITIONAL_SERVICES} from './revisions.js'
export {NamespaceNotEmptyError, implicitDefaultNamespace} from './namespaces.js'

export class Registry implements RegistryClient {
  private readonly ctx: RegistryContext

  constructor(
    readonly store: Store,
    private readonly options: RegistryOptions = {},
    shared: {history: HistoryState; topology: {last?: Topology}} = {history: newHistoryState(), topology: {}},
  ) {
    this.ctx = createContext(store, {
      now: options.now ?? (() => new Date()),
      maxAttempts: options.maxAttempts ?? 50,
      // Larger pages read a large namespace faster (on etcd, 5,000 took half the time of 1,000);
      // the etcd store sizes its pages by bytes under this bound.
      pageSize: options.pageSize ?? MAX_PAGE_SIZE,
      actor: options.actor ?? UNKNOWN_ACTOR,
      ...shared,
    })
  }

  /** The same registry, its writes recorded as `actor`'s (serve: one per caller). */
  withActor(actor: Actor): Registry {
    return new Registry(this.store, {...this.options, actor}, {history: this.ctx.history, topology: this.ctx.topology})
  }

  get description(): string {
    return this.store.description
  }

  getSettings(): Promise<Revisioned<RegistrySettings>> {
    return settings.getSettings(this.ctx)
  }

  /** Changes the settings; a change of `replicas` redistributes every service. */
  updateSettings(update: SettingsUpdate, condition?: WriteCondition): Promise<SettingsChangeResult> {
    return settings.updateSettings(this.ctx, update, condition)
  }

  getServer(name: string): Promise<Revisioned<Server> | undefined> {
    return servers.getServer(this.ctx, name)
  }

  listServers(selectorText?: string): Promise<Revisioned<Server>[]> {
    return servers.listServers(this.ctx, selectorText)
  }

  /** Writes the server `joining`, redistributes, marks it `active`. Idempotent. */
  registerServer(name: string, labels: Record<string, string> = {}, condition?: WriteCondition): Promise<ServerChangeResult> {
    return servers.registerServer(this.ctx, name, labels, condition)
  }

  /** Marks the server `leaving`, moves its services off it, deletes it; a rerun finishes. */
  unregisterServer(name: string, condition?: WriteCondition): Promise<UnregisterServerResult> {
    return servers.unregisterServer(this.ctx, name, condition)
  }

  /** Recomputes every assignment and rewrites the changed ones. */
  redistribute(): Promise<RedistributionResult> {
    return redistribute(this.ctx)
  }

  getNamespace(name: string): Promise<Revisioned<Namespace> | undefined> {
    return namespaces.getNamespace(this.ctx, name)
  }

  listNamespaces(): Promise<Revisioned<Namespace>[]> {
    return namespaces.listNamespaces(this.ctx)
  }

  /** Registers a namespace, or changes its export configuration. Idempotent. */
  registerNamespace(name: string, exportConfig: unknown = 'standard', condition?: WriteCondition): Promise<Revisioned<Namespace>> {
    return namespaces.registerNamespace(this.ctx, name, exportConfig, condition)
  }

  /** Refused (NamespaceNotEmptyError) while it has services, unless `force` deletes them too. */
  unregisterNamespace(name: string, force = false, condition?: WriteCondition): Promise<UnregisterNamespaceResult> {
    return namespaces.unregisterNamespace(this.ctx, name, force, condition)
  }

  /** Validates one service input into one spec per endpoint. */
  prepareServices(input: ServiceInput): ServiceSpec[] {
    return serviceWrites.prepareServices(input, this.ctx.now())
  }

  /** One service per endpoint; idempotent (the ID is derived from namespace and endpoint). */
  registerServices(input: ServiceInput, condition?: WriteCondition): Promise<RegisterServicesResult> {
    return serviceWrites.registerServices(this.ctx, input, condition)
  }

  /** Endpoint URLs (in `namespace`, default `default`) or service IDs (in `namespace`, or any). */
  unregisterServices(refs: readonly string[], namespace?: string, options?: UnregisterOptions): Promise<UnregisterServicesResult> {
    return services.unregisterServices(this.ctx, refs, namespace, options)
  }

  /** Streams the matching services; see services.ts for what each sort order holds in memory. */
  listServices(filter: ServiceFilter = {}): AsyncGenerator<Revisioned<Service>> {
    return services.listServices(this.ctx, filter)
  }

  /** Validates every entry of an import document; writes nothing. */
  validateImport(
    document: unknown,
  ): Promise<{specs: ServiceSpec[]; expected: (number | undefined)[]; errors: ImportEntryError[]; entries: number}> {
    return imports.validateImport(this.ctx, document)
  }

  /** All or nothing: every entry is validated before anything is written. */
  importServices(document: unknown, source = 'file'): Promise<ImportResult> {
    return imports.importServices(this.ctx, document, source)
  }

  /** The history's events matching `filter`, oldest first (times count back from the registry's clock). */
  async *listEvents(filter: HistoryFilter = {}): AsyncIterable<HistoryEvent> {
    yield* history.listHistory(this.store, await history.compileHistoryFilter(filter, this.ctx.now()))
  }

  async followEvents(filter: HistoryFilter, onEvent: (event: HistoryEvent) => void | Promise<void>): Promise<HistoryFollow> {
    return history.followHistory(this.store, await history.compileHistoryFilter(filter, this.ctx.now()), onEvent)
  }
}
