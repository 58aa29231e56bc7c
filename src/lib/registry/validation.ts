/**
 * Validation of everything a user hands the registry: names, labels (Kubernetes rules),
 * endpoints (absolute http(s) URLs) and the registry settings. Every error is an
 * InvalidInputError of one line naming the field and the value (exit 2).
 */
import {parseDuration} from '../config/duration.js'
import {InvalidInputError} from '../errors.js'
import type {ExportConfig} from './model.js'
import {checkNestingDepth} from '../text/input-limits.js'
import {compileRegex, RegexSyntaxError, type Pattern} from '../text/regex.js'

/** Server, namespace and service names: safe as one segment of a store key. */
const NAME_PATTERN = /^[A-Za-z0-9_-]+$/
export const MAX_NAME_LENGTH = 63
/** Kubernetes "name" part of a label key, and a non-empty label value. */
const LABEL_NAME_PATTERN = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/
/** Kubernetes DNS subdomain (RFC 1123), the optional prefix of a label key. */
const DNS_SUBDOMAIN_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
export const MAX_LABEL_LENGTH = 63
const MAX_LABEL_PREFIX_LENGTH = 253
export const MAX_ENDPOINT_LENGTH = 2048
export const MAX_DESCRIPTION_LENGTH = 1024
export const MAX_REPLICAS = 100
export const MAX_LABELS = 64
export const EXPORT_CONFIGS: readonly ExportConfig[] = ['standard', 'blackbox', 'disabled']

/** A server, namespace or service name. */
export function validateName(field: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw InvalidInputError.forField(field, value ?? '', 'must not be empty')
  if (value.length > MAX_NAME_LENGTH) throw InvalidInputError.forField(field, value, `must be at most ${MAX_NAME_LENGTH} characters`)
  if (!NAME_PATTERN.test(value)) throw InvalidInputError.forField(field, value, 'may contain only letters, digits, "_" and "-"')
  return value
}

/** The reason a label key is invalid, or undefined when it is valid. */
export function labelKeyProblem(key: string): string | undefined {
  if (key === '') return 'label name must not be empty'
  const slash = key.indexOf('/')
  let name = key
  if (slash >= 0) {
    const prefix = key.slice(0, slash)
    name = key.slice(slash + 1)
    if (prefix === '') return 'label prefix must not be empty'
    if (prefix.length > MAX_LABEL_PREFIX_LENGTH) return `label prefix must be at most ${MAX_LABEL_PREFIX_LENGTH} characters`
    if (!DNS_SUBDOMAIN_PATTERN.test(prefix)) return 'label prefix must be a lower-case DNS subdomain (e.g. "example.com")'
  }
  if (name === '') return 'label name must not be empty'
  if (name.length > MAX_LABEL_LENGTH) return `label name must be at most ${MAX_LABEL_LENGTH} characters`
  if (!LABEL_NAME_PATTERN.test(name))
    return 'label name must be alphanumeric, "-", "_" or ".", and start and end with an alphanumeric character'
  return undefined
}

/** The reason a label value is invalid, or undefined when it is valid (the empty value is valid). */
export function labelValueProblem(value: string): string | undefined {
  if (value === '') return undefined
  if (value.length > MAX_LABEL_LENGTH) return `label value must be at most ${MAX_LABEL_LENGTH} characters`
  if (!LABEL_NAME_PATTERN.test(value))
    return 'label value must be empty or alphanumeric, "-", "_" or ".", and start and end with an alphanumeric character'
  return undefined
}

/** Labels as stored: an object of valid keys to valid string values. */
export function validateLabels(field: string, labels: unknown): Record<string, string> {
  if (labels === undefined || labels === null) return {}
  // Labels are flat: a deeply nested value (an HTTP body) is refused before anything recurses into it.
  checkNestingDepth(labels, field)
  if (typeof labels !== 'object' || Array.isArray(labels))
    throw InvalidInputError.forField(field, labels, 'must be a map of label names to values')
  const entries = Object.entries(labels as Record<string, unknown>)
  if (entries.length > MAX_LABELS)
    throw InvalidInputError.forField(field, `${entries.length} labels`, `at most ${MAX_LABELS} labels are allowed`)
  const out: Record<string, string> = {}
  for (const [key, raw] of entries) {
    const value = typeof raw === 'number' || typeof raw === 'boolean' ? String(raw) : raw
    if (typeof value !== 'string') throw InvalidInputError.forField(field, `${key}=${JSON.stringify(raw)}`, 'label value must be a string')
    const keyProblem = labelKeyProblem(key)
    if (keyProblem) throw InvalidInputError.forField(field, `${key}=${value}`, keyProblem)
    const valueProblem = labelValueProblem(value)
    if (valueProblem) throw InvalidInputError.forField(field, `${key}=${value}`, valueProblem)
    out[key] = value
  }
  return sortedLabels(out)
}

/**
 * `-l k=v,k2=v2` (one or several flags, each comma-separated) to a label map.
 * `k=` gives an empty value; a key given twice with different values is an error.
 */
export function parseLabels(field: string, specs: string | readonly string[] | undefined): Record<string, string> {
  const list = specs === undefined ? [] : typeof specs === 'string' ? [specs] : specs
  const out: Record<string, string> = {}
  for (const spec of list) {
    for (const part of spec.split(',')) {
      const item = part.trim()
      if (item === '') continue
      const eq = item.indexOf('=')
      if (eq < 0) throw InvalidInputError.forField(field, item, 'expected name=value')
      const key = item.slice(0, eq).trim()
      const value = item.slice(eq + 1).trim()
      const keyProblem = labelKeyProblem(key)
      if (keyProblem) throw InvalidInputError.forField(field, item, keyProblem)
      const valueProblem = labelValueProblem(value)
      if (valueProblem) throw InvalidInputError.forField(field, item, valueProblem)
      if (key in out && out[key] !== value)
        throw InvalidInputError.forField(field, item, `label "${key}" is given twice with different values`)
      out[key] = value
    }
  }
  if (Object.keys(out).length > MAX_LABELS)
    throw InvalidInputError.forField(field, `${Object.keys(out).length} labels`, `at most ${MAX_LABELS} labels are allowed`)
  return sortedLabels(out)
}

export function sortedLabels(labels: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const key of Object.keys(labels).sort()) out[key] = labels[key] as string
  return out
}

/** `k=v,k2=v2`: labels for a table cell. */
export function formatLabels(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')
}

/**
 * An endpoint: an absolute http or https URL with a host, without credentials. Returns the
 * WHATWG-normalized form (lower-case scheme and host, default port dropped, "/" path when
 * empty), so that equivalent spellings get the same service ID.
 */
export function validateEndpoint(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') throw InvalidInputError.forField(field, value ?? '', 'must not be empty')
  const text = value.trim()
  if (text.length > MAX_ENDPOINT_LENGTH)
    throw InvalidInputError.forField(field, text.slice(0, 80) + '...', `must be at most ${MAX_ENDPOINT_LENGTH} characters`)
  // `db1:9100` parses as a URL of scheme "db1": a host and port without a scheme is the likelier meaning.
  if (/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?([/?#].*)?$/i.test(text) && URL.canParse(`http://${text}`)) {
    throw InvalidInputError.forField(field, text, `has no scheme; add http:// or https:// (http://${text})`)
  }
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw InvalidInputError.forField(field, text, 'must be an absolute http or https URL, e.g. http://host:9100/metrics')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw InvalidInputError.forField(field, text, `scheme "${url.protocol.replace(/:$/, '')}" is not allowed; use http or https`)
  if (url.hostname === '') throw InvalidInputError.forField(field, text, 'must name a host')
  if (url.username !== '' || url.password !== '') throw InvalidInputError.forField(field, text, 'must not contain credentials')
  return url.href
}

/** `ROSTER_ENDPOINTS`-style lists: comma or whitespace separated. */
export function splitEndpointList(text: string): string[] {
  return text.split(/[\s,]+/).filter((s) => s !== '')
}

export function validateDescription(field: string, value: unknown): string {
  if (value === undefined || value === null) return ''
  if (typeof value !== 'string') throw InvalidInputError.forField(field, value, 'must be a string')
  if (value.length > MAX_DESCRIPTION_LENGTH)
    throw InvalidInputError.forField(field, value.slice(0, 40) + '...', `must be at most ${MAX_DESCRIPTION_LENGTH} characters`)
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (/[\u0000-\u001f\u007f]/.test(value)) throw InvalidInputError.forField(field, value, 'must be one line without control characters')
  return value
}

export function validateExport(field: string, value: unknown): ExportConfig {
  if (typeof value === 'string' && (EXPORT_CONFIGS as readonly string[]).includes(value)) return value as ExportConfig
  throw InvalidInputError.forField(field, value ?? '', `must be one of ${EXPORT_CONFIGS.join(', ')}`)
}

export function validateReplicas(field: string, value: unknown): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_REPLICAS)
    throw InvalidInputError.forField(field, value ?? '', `must be a whole number from 1 to ${MAX_REPLICAS}`)
  return n
}

/** A registration's time to live, a duration as every setting takes one ("30s", "90m", "24h", "7d") → milliseconds. */
export function validateTtl(field: string, value: unknown): number {
  return parseDuration(value, field)
}

/** An RFC 3339 time with a zone ("2026-12-01T00:00:00Z"), normalised to UTC. */
export function validateTime(field: string, value: unknown): string {
  const text = typeof value === 'string' ? value.trim() : ''
  const time = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i.test(text) ? new Date(text) : undefined
  if (!time || Number.isNaN(time.getTime()))
    throw InvalidInputError.forField(field, value ?? '', 'expected an RFC 3339 time such as 2026-12-01T00:00:00Z')
  return time.toISOString()
}

/**
 * A regular expression given as a filter (the name, endpoint or server of a listing), in RE2
 * syntax (src/lib/text/regex.ts; load the engine first).
 */
export function parseRegex(field: string, value: string): Pattern {
  try {
    return compileRegex(value)
  } catch (error) {
    if (!(error instanceof RegexSyntaxError)) throw error
    throw InvalidInputError.forField(field, value, `not a valid regular expression (${error.message})`)
  }
}
