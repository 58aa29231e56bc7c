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

/** The order of groups in an answer: by service name, endpoint and ID. */
export function compareServices(a: Service, b: Service): number {
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

/** What a service's label set gives in every group: its Prometheus labels, sorted, as lines of the answer. */
interface LabelLines {
  names: string[]
  lines: string[]
  /** Whether a service label sets `job`, or `instance` (then the standard default is not). */
  job: boolean
  instance: boolean
}

/** A label's line in a group, up to its value: JSON.stringify(groups, null, 2) indents labels three levels. */
function labelPrefix(name: string): string {
  return `      ${JSON.stringify(name)}: `
}

/** Characters JSON.stringify escapes in a string: quote, backslash, controls, and lone surrogates. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what JSON escapes
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/

/** JSON.stringify(text), without its call for the usual text that needs no escaping. */
function jsonString(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`
}

function labelLine(name: string, value: string): string {
  return labelPrefix(name) + jsonString(value)
}

const NAMESPACE_LABEL = labelPrefix('__meta_roster_namespace')
const SERVER_LABEL = labelPrefix('__meta_roster_server')
const SERVICE_ID_LABEL = labelPrefix('__meta_roster_service_id')
const METRICS_PATH_LABEL = labelPrefix('__metrics_path__')
const SCHEME_LABEL = labelPrefix('__scheme__')
const INSTANCE_LABEL = labelPrefix('instance')
const JOB_LABEL = labelPrefix('job')

/**
 * Renders each service's group as text, exactly as JSON.stringify(groups, null, 2) writes it
 * inside the list (indented one level, without the comma between groups): the one implementation
 * of the shapes above. An answer is assembled, and patched, from these texts (joinGroupTexts);
 * targetGroups() parses them. A renderer remembers what each label set gives: label sets repeat
 * across services (serve's view shares one object per distinct set).
 */
export class GroupRenderer {
  private readonly labelSets = new WeakMap<Record<string, string>, LabelLines>()
  private metaFor = {namespace: '', server: '', namespaceLine: '', serverLine: ''}

  /** The group of `service` on `server` (it need not be assigned there: the caller selects). */
  text(service: Service, server: string, config: SdConfig): string {
    const set = this.labelLines(service.labels)
    const meta = this.metaLines(service.namespace, server)
    const names = ['__meta_roster_namespace', '__meta_roster_server', '__meta_roster_service_id']
    const lines = [meta.namespaceLine, meta.serverLine, SERVICE_ID_LABEL + jsonString(service.id)]
    let target = service.endpoint
    if (config === 'standard') {
      const url = new URL(service.endpoint)
      const scheme = url.protocol.replace(/:$/, '')
      const port = url.port !== '' ? url.port : scheme === 'https' ? '443' : '80'
      // url.hostname keeps the brackets of an IPv6 address: "[::1]:9100".
      target = `${url.hostname}:${port}`
      names.push('__metrics_path__')
      lines.push(METRICS_PATH_LABEL + jsonString(url.pathname === '' ? '/' : url.pathname))
      if (url.search !== '') {
        const params = new Map<string, string>()
        for (const [name, value] of url.searchParams) {
          const label = `__param_${name}`
          if (VALID_LABEL_NAME.test(label) && !params.has(label)) params.set(label, value)
        }
        for (const label of [...params.keys()].sort(cmp)) {
          names.push(label)
          lines.push(labelLine(label, params.get(label)!))
        }
      }
      names.push('__scheme__')
      lines.push(SCHEME_LABEL + jsonString(scheme))
      // Defaults that a service label of the same name overrides.
      if (!set.instance) {
        names.push('instance')
        lines.push(INSTANCE_LABEL + jsonString(target))
      }
      if (!set.job) {
        names.push('job')
        lines.push(JOB_LABEL + jsonString(service.name))
      }
    }
    // Both lists are sorted by name and share none: merge them.
    let text = `  {\n    "targets": [\n      ${jsonString(target)}\n    ],\n    "labels": {\n`
    let i = 0
    let j = 0
    let first = true
    while (i < names.length || j < set.names.length) {
      const fromFixed = j >= set.names.length || (i < names.length && names[i]! < set.names[j]!)
      text += (first ? '' : ',\n') + (fromFixed ? lines[i++] : set.lines[j++])
      first = false
    }
    return `${text}\n    }\n  }`
  }

  private labelLines(labels: Record<string, string>): LabelLines {
    let set = this.labelSets.get(labels)
    if (!set) {
      const prometheus = serviceLabels(labels)
      const names = Object.keys(prometheus).sort(cmp)
      set = {
        names,
        lines: names.map((name) => labelLine(name, prometheus[name]!)),
        job: Object.hasOwn(prometheus, 'job'),
        instance: Object.hasOwn(prometheus, 'instance'),
      }
      this.labelSets.set(labels, set)
    }
    return set
  }

  private metaLines(namespace: string, server: string): {namespaceLine: string; serverLine: string} {
    const m = this.metaFor
    if (m.namespace !== namespace || m.namespaceLine === '') {
      m.namespace = namespace
      m.namespaceLine = NAMESPACE_LABEL + jsonString(namespace)
    }
    if (m.server !== server || m.serverLine === '') {
      m.server = server
      m.serverLine = SERVER_LABEL + jsonString(server)
    }
    return m
  }
}

/** The answer of groups given as their texts (GroupRenderer): the list, with a final newline. */
export function joinGroupTexts(texts: readonly string[]): string {
  return texts.length === 0 ? '[]\n' : `[\n${texts.join(',\n')}\n]\n`
}

/** The services of one namespace assigned to `server`, sorted as their groups are. */
export function selectServices<S extends Service>(services: Iterable<S>, o: {server: string; namespace: string}): S[] {
  const selected: S[] = []
  for (const s of services) if (s.namespace === o.namespace && s.servers.includes(o.server)) selected.push(s)
  return selected.sort(compareServices)
}

/** The answer's text (serializeTargetGroups' bytes) for the services of one namespace assigned to `server`. */
export function targetGroupsText(services: Iterable<Service>, o: {server: string; namespace: string; config: SdConfig}): string {
  const renderer = new GroupRenderer()
  return joinGroupTexts(selectServices(services, o).map((s) => renderer.text(s, o.server, o.config)))
}

/** Services of one namespace that are assigned to `server`, as Prometheus target groups; sorted and stable. */
export function targetGroups(services: Iterable<Service>, o: {server: string; namespace: string; config: SdConfig}): TargetGroup[] {
  return JSON.parse(targetGroupsText(services, o)) as TargetGroup[]
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
