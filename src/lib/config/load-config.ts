/** Finding, reading and validating roster's config files (system, user, project) into one set of values. */
import {statSync} from 'node:fs'
import {homedir} from 'node:os'
import path from 'node:path'

import {InvalidInputError, firstLineOf} from '../errors.js'
import {readInputFileSync} from '../fs/input-file.js'
import {checkFile} from '../fs/path-check.js'
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
  /** Each key as written in the file (`etcdPrefix`), by its flag name (`etcd-prefix`). */
  rawKeys?: Record<string, string>
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
 * file overrides an earlier one. `explicitPath` (the config setting, ROSTER_CONFIG) replaces the search.
 * cosmiconfig is imported here, lazily, and only when there is a file for it to read or find
 * (`projectConfigMayExist`).
 */
export async function loadConfig(options: {explicitPath?: string; cwd?: string; env?: NodeJS.ProcessEnv} = {}): Promise<LoadedConfig> {
  const env = options.env ?? process.env
  const cwd = options.cwd ?? process.cwd()
  let explorerMade: ReturnType<typeof import('cosmiconfig').cosmiconfig> | undefined
  const explorer = async () => {
    const {cosmiconfig} = await import('cosmiconfig')
    explorerMade ??= cosmiconfig('roster', {searchPlaces: PROJECT_SEARCH_PLACES, searchStrategy: 'project', cache: false})
    return explorerMade
  }
  const loaded: LoadedConfig = {searched: [], parsed: [], values: new Map(), warnings: []}

  const loadFile = async (file: string, mustExist: boolean): Promise<void> => {
    loaded.searched.push(file)
    // The path and the bytes are checked as every input file's (a directory, a FIFO, invalid
    // UTF-8…: one line naming the file) before cosmiconfig reads it.
    if (checkFile(file, {field: 'config', missingOk: !mustExist}) === undefined) return
    readInputFileSync(file, {field: 'config'})
    let result
    try {
      result = await (await explorer()).load(file)
    } catch (error) {
      throw InvalidInputError.forField('config', file, `cannot be read or parsed: ${parseProblem(error)}`)
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
    project = projectConfigMayExist(cwd) ? await (await explorer()).search(cwd) : null
  } catch (error) {
    const file = (error as {filepath?: string}).filepath ?? cwd
    throw InvalidInputError.forField('config', file, `cannot be read or parsed: ${parseProblem(error)}`)
  }
  if (project) readInputFileSync(project.filepath, {field: 'config'})
  if (project && !project.isEmpty) addValues(loaded, project.filepath, project.config)
  return loaded
}

/**
 * Where cosmiconfig 9 looks for its own meta config, in the process's working directory only: its
 * `metaSearchPlaces`, written here so that the pre-check loads no cosmiconfig (config.test.ts holds
 * the two equal).
 */
export const COSMICONFIG_META_PLACES = [
  'package.json',
  'package.yaml',
  ...['json', 'yaml', 'yml', 'js', 'ts', 'cjs', 'mjs'].map((e) => `.config/config.${e}`),
]

/**
 * Whether cosmiconfig's search from `cwd` may find anything: false when no directory from `cwd` up
 * to / holds one of the search places or a package.yaml (which, like package.json, ends the
 * search), and the process's working directory holds no meta config of cosmiconfig's. That is most
 * runs: they are spared importing cosmiconfig and its reads of every place in every directory,
 * each failing on its own; one stat a place costs a fraction of that. Anything else (an entry that
 * exists, a path that cannot be searched) leaves the search to cosmiconfig.
 */
function projectConfigMayExist(cwd: string): boolean {
  const places = [...PROJECT_SEARCH_PLACES, 'package.yaml']
  const candidates = COSMICONFIG_META_PLACES.map((place) => path.resolve(place))
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    for (const place of places) candidates.push(path.join(dir, place))
    if (path.dirname(dir) === dir) break
  }
  return candidates.some((file) => {
    try {
      return statSync(file, {throwIfNoEntry: false}) !== undefined
    } catch {
      return true
    }
  })
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
  const rawKeys: Record<string, string> = {}
  const secrets: string[] = []
  for (const [rawKey, value] of Object.entries(config as Record<string, unknown>)) {
    const key = toKebab(rawKey)
    const scalar = (v: unknown): boolean => ['string', 'number', 'boolean'].includes(typeof v)
    if (!(scalar(value) || (Array.isArray(value) && value.every(scalar)))) {
      throw InvalidInputError.forField(`config ${file}: ${rawKey}`, value, 'expected a string, number, boolean or list of them')
    }
    values[key] = value
    rawKeys[key] = rawKey
    loaded.values.set(key, {value, file})
    if (isSecretName(key)) secrets.push(key)
  }
  // One warning a file, however many secrets it holds.
  if (secrets.length > 0 && readableByOthers(file)) {
    loaded.warnings.push(`${file} holds ${secrets.join(', ')} and is readable by other users: chmod 600 ${file}`)
  }
  loaded.parsed.push({path: file, values, rawKeys})
}

function readableByOthers(file: string): boolean {
  try {
    return (statSync(file).mode & 0o044) !== 0
  } catch {
    return false
  }
}

/**
 * The reason a config file did not parse, with its line: "unexpected end of the stream within a
 * flow collection (line 3, column 1)". cosmiconfig's message starts with "YAML Error in FILE:"
 * and ends with a code frame; the reason is in between (js-yaml also gives it as reason/mark).
 */
export function parseProblem(error: unknown): string {
  const e = error as {reason?: unknown; mark?: {line?: number; column?: number}; message?: string}
  if (typeof e?.reason === 'string' && typeof e.mark?.line === 'number') {
    return `${e.reason} (line ${e.mark.line + 1}, column ${(e.mark.column ?? 0) + 1})`
  }
  const lines = String(e?.message ?? error)
    .split('\n')
    .map((l) => l.trim())
  const start = /^(YAML|JSON) Error in /.test(lines[0] ?? '') ? 1 : 0
  const reason = lines[start] || firstLineOf(error)
  return reason.length > 200 ? `${reason.slice(0, 200)}…` : reason
}
