import {statSync} from 'node:fs'
import {homedir} from 'node:os'
import path from 'node:path'

import {InvalidInputError, firstLineOf} from '../errors.js'
import {isSecretName} from './secrets.js'

/** Where the project's rc files are looked for (cosmiconfig, module name "roster"). */
export const PROJECT_SEARCH_PLACES = [
  'package.json',
  '.rosterrc',
  '.rosterrc.json',
  '.rosterrc.yaml',
  '.rosterrc.yml',
  '.config/rosterrc',
  '.config/rosterrc.json',
  '.config/rosterrc.yaml',
  '.config/rosterrc.yml',
  'roster.config.json',
  'roster.config.yaml',
]

export const SYSTEM_CONFIG_PATH = '/etc/roster/config.yaml'

export function userConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || path.join(env.HOME || homedir(), '.config')
  return path.join(base, 'roster', 'config.yaml')
}

export interface ConfigFileValues {
  path: string
  values: Record<string, unknown>
}

export interface LoadedConfig {
  /** Every place looked at, in the order of increasing precedence. */
  searched: string[]
  /** The files that were found and parsed, in the order of increasing precedence. */
  parsed: ConfigFileValues[]
  /** Merged values by flag name (kebab-case), each with the file it came from. */
  values: Map<string, {value: unknown; file: string}>
  /** Warnings for stderr, such as a secret in a file others can read. */
  warnings: string[]
}

const toKebab = (key: string): string => key.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase()

/**
 * Loads roster's config files: /etc/roster/config.yaml, then ~/.config/roster/config.yaml, then
 * the project's rc files (found with cosmiconfig from `cwd` up to the project root); a later
 * file overrides an earlier one. `explicitPath` (--config / ROSTER_CONFIG) replaces the search.
 * cosmiconfig is imported here, lazily: most of its cost is only paid by commands that read config.
 */
export async function loadConfig(options: {explicitPath?: string; cwd?: string; env?: NodeJS.ProcessEnv} = {}): Promise<LoadedConfig> {
  const env = options.env ?? process.env
  const cwd = options.cwd ?? process.cwd()
  const {cosmiconfig} = await import('cosmiconfig')
  const explorer = cosmiconfig('roster', {searchPlaces: PROJECT_SEARCH_PLACES, searchStrategy: 'project', cache: false})
  const loaded: LoadedConfig = {searched: [], parsed: [], values: new Map(), warnings: []}

  const loadFile = async (file: string, mustExist: boolean): Promise<void> => {
    loaded.searched.push(file)
    try {
      statSync(file)
    } catch {
      if (mustExist) throw InvalidInputError.forField('config', file, 'file not found')
      return
    }
    let result
    try {
      result = await explorer.load(file)
    } catch (error) {
      throw InvalidInputError.forField('config', file, `cannot be read or parsed: ${firstLineOf(error)}`)
    }
    addValues(loaded, file, result?.config)
  }

  if (options.explicitPath) {
    await loadFile(path.resolve(cwd, options.explicitPath), true)
    return loaded
  }

  await loadFile(SYSTEM_CONFIG_PATH, false)
  await loadFile(userConfigPath(env), false)
  loaded.searched.push(
    `${cwd} and its parents up to the project root: ${PROJECT_SEARCH_PLACES.join(', ')} (package.json: the "roster" key)`,
  )
  let project
  try {
    project = await explorer.search(cwd)
  } catch (error) {
    const file = (error as {filepath?: string}).filepath ?? cwd
    throw InvalidInputError.forField('config', file, `cannot be read or parsed: ${firstLineOf(error)}`)
  }
  if (project && !project.isEmpty) addValues(loaded, project.filepath, project.config)
  return loaded
}

function addValues(loaded: LoadedConfig, file: string, config: unknown): void {
  if (config === undefined || config === null) {
    loaded.parsed.push({path: file, values: {}})
    return
  }
  if (typeof config !== 'object' || Array.isArray(config)) {
    throw InvalidInputError.forField('config', file, 'expected a mapping of flag names to values')
  }
  const values: Record<string, unknown> = {}
  for (const [rawKey, value] of Object.entries(config as Record<string, unknown>)) {
    const key = toKebab(rawKey)
    const scalar = (v: unknown): boolean => ['string', 'number', 'boolean'].includes(typeof v)
    if (!(scalar(value) || (Array.isArray(value) && value.every(scalar)))) {
      throw InvalidInputError.forField(`config ${file}: ${rawKey}`, value, 'expected a string, number, boolean or list of them')
    }
    values[key] = value
    loaded.values.set(key, {value, file})
    if (isSecretName(key) && readableByOthers(file)) {
      loaded.warnings.push(`${file} holds ${key} and is readable by other users: chmod 600 ${file}`)
    }
  }
  loaded.parsed.push({path: file, values})
}

function readableByOthers(file: string): boolean {
  try {
    return (statSync(file).mode & 0o044) !== 0
  } catch {
    return false
  }
}
