import type {LoadedConfig} from './load-config.js'
import {redact} from './secrets.js'

export interface EffectiveValue {
  name: string
  value: unknown
  /** "flag", "default", "env ROSTER_X" or "file /path". */
  source: string
}

export interface ConfigReport {
  searched: string[]
  parsed: string[]
  values: EffectiveValue[]
  /** The registry commands would use (path or URL, no credentials) and where the value came from. */
  registry?: {location: string; source: string}
}

/**
 * What `config show` reports. Only names of flags are settings (`known`: every command's flags);
 * config files with other keys were refused when loaded.: the files searched and parsed, and every effective value with its
 * source, secrets redacted. Values set in a file or ROSTER_ variables for flags this command does
 * not have (another command's, e.g. pdns-api-key) are listed too, so a user sees all they set.
 */
export function buildConfigReport(
  loaded: LoadedConfig,
  flags: Record<string, unknown>,
  sources: Map<string, string>,
  env: NodeJS.ProcessEnv = process.env,
  known?: ReadonlySet<string>,
): ConfigReport {
  const values: EffectiveValue[] = []
  const seen = new Set<string>()
  for (const [name, value] of Object.entries(flags)) {
    if (name === 'json' || name === 'help') continue
    seen.add(name)
    values.push({name, value: redact(name, value), source: sources.get(name) ?? (value === undefined ? 'unset' : 'flag')})
  }
  for (const [name, entry] of loaded.values) {
    if (seen.has(name)) continue
    seen.add(name)
    values.push({name, value: redact(name, entry.value), source: `file ${entry.file}`})
  }
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith('ROSTER_') || value === undefined) continue
    const name = key.slice('ROSTER_'.length).toLowerCase().replace(/_/g, '-')
    // Only settings: ROSTER_ENDPOINTS and other variables that are no flag are not listed.
    if (seen.has(name) || (known && !known.has(name))) continue
    seen.add(name)
    values.push({name, value: redact(name, value), source: `env ${key}`})
  }
  values.sort((a, b) => a.name.localeCompare(b.name))
  return {searched: loaded.searched, parsed: loaded.parsed.map((p) => p.path), values}
}
