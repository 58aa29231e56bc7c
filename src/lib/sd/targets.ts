/**
 * Prometheus target groups of the registry's services, the one shape shared by http_sd
 * (`roster serve`, GET /v1/sd/...) and file_sd (`roster sd export`):
 * `[{"targets": ["host:port"], "labels": {"name": "value"}}]`.
 *
 * standard: one group per service. `targets` is the endpoint's `host:port` (80/443 when the URL
 * has no port); labels: `job` (service name), `instance` (host:port), `__scheme__`,
 * `__metrics_path__`, `__param_<k>` for each query parameter of the endpoint (its first value,
 * as Prometheus sends only one), the service's labels with names made valid, and
 * `__meta_roster_namespace`, `__meta_roster_service_id`, `__meta_roster_server`.
 *
 * blackbox: one group per service, the full endpoint URL as the target (the probe module's
 * `target` parameter after relabelling), the service's labels and the `__meta_roster_*` labels.
 *
 * Label names (Prometheus 2: `[a-zA-Z_][a-zA-Z0-9_]*`, `__` reserved for internal use): a
 * service label's name has every other character replaced by `_` and gets a leading `_` when it
 * starts with a digit (`app.kubernetes.io/name` → `app_kubernetes_io_name`). Collisions:
 * - a service label never produces a `__` name (Kubernetes label rules make it start with a
 *   letter or digit; a name that would still start with `__` is dropped), so `__scheme__`,
 *   `__metrics_path__`, `__param_*` and `__meta_roster_*` are always roster's;
 * - `job` and `instance` are defaults: a service label of that name overrides them (the usual
 *   Prometheus way of grouping several services under one job, or naming an instance);
 * - two service labels that map to the same name (`a.b` and `a_b`): a name that was valid as
 *   written wins, otherwise the first in sorted order of the original names; the other is dropped.
 * - a query parameter whose name is not a valid label name cannot be expressed as `__param_<k>`
 *   and is left out (documented in docs/sd.md).
 *
 * Same input, same bytes: groups are sorted by service name, endpoint and ID, labels by name.
 */
import {InvalidInputError} from '../errors.js'
import type {ExportConfig, Service} from '../registry/model.js'

export type SdConfig = 'standard' | 'blackbox'

export interface TargetGroup {
  targets: string[]
  labels: Record<string, string>
}

export const SD_CONFIGS: readonly SdConfig[] = ['standard', 'blackbox']

const VALID_LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

/** A Prometheus-valid label name for a registry (Kubernetes-style) label key. */
export function prometheusLabelName(key: string): string {
  const replaced = key.replace(/[^a-zA-Z0-9_]/g, '_')
  return /^[0-9]/.test(replaced) ? `_${replaced}` : replaced
}

/** The service's labels under valid, non-reserved Prometheus names (see the collision rules above). */
export function serviceLabels(labels: Record<string, string>): Record<string, string> {
  const keys = Object.keys(labels).sort()
  const ordered = [...keys.filter((k) => VALID_LABEL_NAME.test(k)), ...keys.filter((k) => !VALID_LABEL_NAME.test(k))]
  const out: Record<string, string> = {}
  for (const key of ordered) {
    const name = prometheusLabelName(key)
    if (name === '' || name.startsWith('__') || Object.hasOwn(out, name)) continue
    out[name] = labels[key] as string
  }
  return out
}

function compareServices(a: Service, b: Service): number {
  return cmp(a.name, b.name) || cmp(a.endpoint, b.endpoint) || cmp(a.id, b.id)
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function sortedObject(labels: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const key of Object.keys(labels).sort(cmp)) out[key] = labels[key] as string
  return out
}

function metaLabels(service: Service, server: string): Record<string, string> {
  return {
    __meta_roster_namespace: service.namespace,
    __meta_roster_server: server,
    __meta_roster_service_id: service.id,
  }
}

function standardGroup(service: Service, server: string): TargetGroup {
  const url = new URL(service.endpoint)
  const scheme = url.protocol.replace(/:$/, '')
  const port = url.port !== '' ? url.port : scheme === 'https' ? '443' : '80'
  // url.hostname keeps the brackets of an IPv6 address: "[::1]:9100".
  const address = `${url.hostname}:${port}`
  const params: Record<string, string> = {}
  for (const [name, value] of url.searchParams) {
    const label = `__param_${name}`
    if (!VALID_LABEL_NAME.test(label) || Object.hasOwn(params, label)) continue
    params[label] = value
  }
  const labels: Record<string, string> = {
    job: service.name,
    instance: address,
    ...serviceLabels(service.labels),
    __scheme__: scheme,
    __metrics_path__: url.pathname === '' ? '/' : url.pathname,
    ...params,
    ...metaLabels(service, server),
  }
  return {targets: [address], labels: sortedObject(labels)}
}

function blackboxGroup(service: Service, server: string): TargetGroup {
  const labels = {...serviceLabels(service.labels), ...metaLabels(service, server)}
  return {targets: [service.endpoint], labels: sortedObject(labels)}
}

/** Services of one namespace that are assigned to `server`, as Prometheus target groups; sorted and stable. */
export function targetGroups(services: Iterable<Service>, o: {server: string; namespace: string; config: SdConfig}): TargetGroup[] {
  const selected: Service[] = []
  for (const s of services) if (s.namespace === o.namespace && s.servers.includes(o.server)) selected.push(s)
  selected.sort(compareServices)
  const group = o.config === 'blackbox' ? blackboxGroup : standardGroup
  return selected.map((s) => group(s, o.server))
}

/** Byte-stable JSON text of target groups (same input → same bytes): two-space indented, with a final newline. */
export function serializeTargetGroups(groups: TargetGroup[]): string {
  const normalized = groups.map((g) => ({targets: [...g.targets], labels: sortedObject(g.labels)}))
  return JSON.stringify(normalized, null, 2) + '\n'
}

/**
 * 'standard' | 'blackbox' from a namespace's export setting and an optional ?config= override;
 * throws InvalidInputError on anything else. A `disabled` namespace stays disabled: the override
 * chooses the shape of an exported namespace, it does not export a namespace its owner disabled.
 * The override is validated either way, so a wrong value is always an error.
 */
export function sdConfigOf(namespaceExport: ExportConfig, override?: string): SdConfig | 'disabled' {
  if (override !== undefined && !(SD_CONFIGS as readonly string[]).includes(override))
    throw InvalidInputError.forField('config', override, 'must be standard or blackbox')
  if (namespaceExport === 'disabled') return 'disabled'
  if (namespaceExport !== 'standard' && namespaceExport !== 'blackbox')
    throw InvalidInputError.forField('export', namespaceExport, 'must be standard, blackbox or disabled')
  return (override as SdConfig | undefined) ?? namespaceExport
}
