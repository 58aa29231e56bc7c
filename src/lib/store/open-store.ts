/**
 * Opens the Store the registry setting names:
 *
 * - empty/undefined: the embedded default, `sqlite:$XDG_DATA_HOME/roster/registry.db`
 *   (`~/.local/share/roster/registry.db` when XDG_DATA_HOME is unset or relative); its
 *   directory is created with mode 0700;
 * - `sqlite:PATH`: a SQLite file (relative to the working directory, absolute, `~/...`, or
 *   `sqlite:///abs/path`); its directory must exist; `sqlite::memory:` is a private in-memory
 *   store (for tests);
 * - `etcd://h1:2379,h2:2379`: an etcd cluster (port defaults to 2379); TLS with `etcds://` or
 *   when etcd-ca, etcd-cert or etcd-key is set.
 *
 * Anything else is InvalidInputError on field "registry" (exit 2). The backends' modules
 * (better-sqlite3, etcd3 and gRPC) are imported only here, when that backend is opened.
 */
import {accessSync, constants as fsConstants, mkdirSync} from 'node:fs'
import {homedir} from 'node:os'
import {dirname, isAbsolute, join, resolve} from 'node:path'

import {InvalidInputError, NotAllowedError, setting} from '../errors.js'
import {readPemFile} from '../fs/input-file.js'
import {checkFile, pathError} from '../fs/path-check.js'
import type {Store} from './store.js'

/** The store's settings: `registry`, the `etcd-*` ones (files are paths of PEM files) and `timeout`. */
export interface StoreOptions {
  /** `sqlite:PATH`, `etcd://h1:2379,h2:2379` (or `etcds://`); empty → the default SQLite file. */
  registry?: string
  etcdPrefix?: string
  etcdUsername?: string
  etcdPassword?: string
  etcdCa?: string
  etcdCert?: string
  etcdKey?: string
  /** Bound on each store operation, retries included (the timeout setting). */
  timeoutMs: number
  /**
   * Read-only commands (list, get, show): a SQLite file is opened for reading only and never
   * created (nor its directory); a registry that does not exist yet is an empty one.
   */
  readOnly?: boolean
}

export const DEFAULT_ETCD_PREFIX = '/roster/'
export const DEFAULT_ETCD_PORT = 2379
const REGISTRY_FORMS = 'expected sqlite:PATH or etcd://host:port[,host:port]'

export type RegistryTarget =
  | {kind: 'sqlite'; /** Absolute path, or ':memory:'. */ path: string; isDefault: boolean}
  | {kind: 'etcd'; /** `host:port` each, as given (IPv6 in brackets). */ hosts: string[]; tls: boolean}

/** `$XDG_DATA_HOME/roster/registry.db`, or `~/.local/share/roster/registry.db`. */
export function defaultSqlitePath(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_DATA_HOME
  const base = xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.local', 'share')
  return join(base, 'roster', 'registry.db')
}

/** The value with any `user:password@` removed, for messages. */
function redact(value: string): string {
  return value.replace(/(\/\/)[^/@]*@/g, '$1***@')
}

function invalidRegistry(value: string, reason = REGISTRY_FORMS): InvalidInputError {
  return InvalidInputError.forField('registry', redact(value), reason)
}

function expandHome(path: string): string {
  if (path === '~') return homedir()
  if (path.startsWith('~/')) return join(homedir(), path.slice(2))
  return path
}

/** An http(s):// registry names a `roster serve`, reached through the HTTP registry client. */
export function isRemoteRegistry(registry: string | undefined): boolean {
  return /^https?:\/\//i.test((registry ?? '').trim())
}

/** Parses a registry setting; throws InvalidInputError (field "registry") when malformed. */
export function parseRegistry(registry: string | undefined, options: {tls?: boolean} = {}): RegistryTarget {
  const value = (registry ?? '').trim()
  if (value === '') return {kind: 'sqlite', path: defaultSqlitePath(), isDefault: true}
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(value)?.[1]?.toLowerCase()
  if (scheme === 'sqlite') {
    let rest = value.slice('sqlite:'.length)
    if (rest === '') return {kind: 'sqlite', path: defaultSqlitePath(), isDefault: true}
    if (rest === ':memory:') return {kind: 'sqlite', path: ':memory:', isDefault: false}
    if (rest.startsWith('//')) {
      // sqlite:///abs/path (URL form). sqlite://host/... names no local file.
      rest = rest.slice(2)
      if (!rest.startsWith('/')) throw invalidRegistry(value, 'sqlite URL must be sqlite:PATH or sqlite:///absolute/path')
    }
    if (rest.includes('\0')) throw invalidRegistry(value, 'path contains a NUL byte')
    return {kind: 'sqlite', path: resolve(expandHome(rest)), isDefault: false}
  }
  if (scheme === 'etcd' || scheme === 'etcds') {
    let rest = value.slice(scheme.length + 1)
    if (!rest.startsWith('//')) throw invalidRegistry(value)
    rest = rest.slice(2).replace(/\/+$/, '')
    if (rest === '') throw invalidRegistry(value, 'no etcd endpoint given; ' + REGISTRY_FORMS)
    const hosts: string[] = []
    for (const part of rest.split(',')) {
      const hostPort = part.trim()
      if (hostPort === '') throw invalidRegistry(value, 'empty endpoint in the list; ' + REGISTRY_FORMS)
      if (hostPort.includes('@')) {
        throw invalidRegistry(
          value,
          `credentials do not belong in the URL; set ${setting('etcd-username')} and ${setting('etcd-password')}`,
        )
      }
      let url: URL
      try {
        url = new URL(`http://${hostPort}`)
      } catch {
        throw invalidRegistry(value, `endpoint ${JSON.stringify(hostPort)} is not host:port; ` + REGISTRY_FORMS)
      }
      if (url.hostname === '' || url.pathname !== '/' || url.search !== '' || url.hash !== '') {
        throw invalidRegistry(value, `endpoint ${JSON.stringify(hostPort)} is not host:port; ` + REGISTRY_FORMS)
      }
      const port = url.port === '' ? DEFAULT_ETCD_PORT : Number(url.port)
      hosts.push(`${url.hostname}:${port}`)
    }
    return {kind: 'etcd', hosts, tls: scheme === 'etcds' || options.tls === true}
  }
  throw invalidRegistry(value)
}

function hasTlsFlags(o: StoreOptions): boolean {
  return Boolean(o.etcdCa || o.etcdCert || o.etcdKey)
}

/** The registry in messages, without credentials: `sqlite:/path` or `etcd://h1:2379,h2:2379`. */
export function describeRegistry(o: Pick<StoreOptions, 'registry' | 'etcdCa' | 'etcdCert' | 'etcdKey'>): string {
  let target: RegistryTarget
  try {
    target = parseRegistry(o.registry, {tls: hasTlsFlags(o as StoreOptions)})
  } catch {
    return redact(o.registry ?? '')
  }
  return describeTarget(target)
}

export function describeTarget(target: RegistryTarget): string {
  if (target.kind === 'sqlite') return `sqlite:${target.path}`
  return `${target.tls ? 'etcds' : 'etcd'}://${target.hosts.join(',')}`
}

function readPem(field: string, path: string | undefined): Buffer | undefined {
  return path ? readPemFile(expandHome(path), {field, shown: path}) : undefined
}

function checkTimeout(timeoutMs: number): void {
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw InvalidInputError.forField('timeout', timeoutMs, 'must be a positive duration')
  }
}

/**
 * The etcd key prefix: default `/roster/`; a trailing "/" is added when missing, so that
 * an etcd-prefix of `/roster` never reads the keys of `/roster2/`.
 */
export function normalizeEtcdPrefix(prefix: string | undefined): string {
  if (prefix === undefined) return DEFAULT_ETCD_PREFIX
  if (prefix.trim() === '' || prefix === '/') {
    throw InvalidInputError.forField('etcd-prefix', prefix, 'must name a key prefix such as /roster/ (not the whole key space)')
  }
  return prefix.endsWith('/') ? prefix : `${prefix}/`
}

/** The default registry's directory (mode 0700); a HOME the user may not write is exit 4 naming it. */
function createDefaultDirectory(dir: string): void {
  try {
    mkdirSync(dir, {recursive: true, mode: 0o700})
  } catch (error) {
    const e = error as NodeJS.ErrnoException
    const where = e.path && e.path !== dir ? `${e.path}, on the way to ${dir}` : dir
    const reason = `cannot create the default registry's directory ${where} (${e.code ?? String(error)}); check the permissions of HOME (or XDG_DATA_HOME), or choose another registry`
    if (e.code === 'EACCES' || e.code === 'EPERM' || e.code === 'EROFS')
      throw new NotAllowedError(`registry: ${reason}`, {cause: error, field: 'registry'})
    throw new InvalidInputError(`registry: ${reason}`, {cause: error, field: 'registry'})
  }
}

/**
 * What the SQLite path is, before SQLite opens it (a directory, a FIFO, a device, a dangling link,
 * a path too long: exit 2 naming it; SQLite would say "disk I/O error", or wait on a FIFO), and,
 * for a write, whether it is on a read-only file system (exit 4). A missing file, a missing
 * directory and permissions are the store's to explain: it names the -wal and -shm files SQLite
 * needs beside the database.
 */
function checkSqlitePath(path: string, readOnly: boolean): void {
  const o = {field: 'registry', shown: `sqlite:${path}`}
  let exists: boolean
  try {
    exists = checkFile(path, {...o, missingOk: true, access: readOnly ? 'read' : 'write'}) !== undefined
  } catch (error) {
    const errno = ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code
    if (error instanceof NotAllowedError && errno !== 'EROFS') return
    throw error
  }
  if (exists || readOnly) return
  try {
    accessSync(dirname(path), fsConstants.W_OK)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EROFS') throw pathError(error, path, {...o, access: 'write'})
  }
}

/** Opens the store `o.registry` names. The caller must `close()` it. */
export async function openStore(o: StoreOptions): Promise<Store> {
  checkTimeout(o.timeoutMs)
  const target = parseRegistry(o.registry, {tls: hasTlsFlags(o)})
  if (target.kind === 'sqlite') {
    if (target.isDefault && !o.readOnly) createDefaultDirectory(dirname(target.path))
    if (target.path !== ':memory:') checkSqlitePath(target.path, o.readOnly === true)
    const {openSqliteStore} = await import('./sqlite-store.js')
    return openSqliteStore({path: target.path, timeoutMs: o.timeoutMs, readOnly: o.readOnly, missingDirectoryIsEmpty: target.isDefault})
  }
  if (Boolean(o.etcdUsername) !== Boolean(o.etcdPassword)) {
    const missing = o.etcdUsername ? 'etcd-password' : 'etcd-username'
    const other = missing === 'etcd-password' ? 'etcd-username' : 'etcd-password'
    throw new InvalidInputError(`${missing}: required with ${setting(other)}`, {field: missing})
  }
  if (Boolean(o.etcdCert) !== Boolean(o.etcdKey)) {
    const missing = o.etcdCert ? 'etcd-key' : 'etcd-cert'
    const other = missing === 'etcd-key' ? 'etcd-cert' : 'etcd-key'
    throw new InvalidInputError(`${missing}: required with ${setting(other)}`, {field: missing})
  }
  const prefix = normalizeEtcdPrefix(o.etcdPrefix)
  const tlsFiles = {
    ca: readPem('etcd-ca', o.etcdCa),
    cert: readPem('etcd-cert', o.etcdCert),
    key: readPem('etcd-key', o.etcdKey),
  }
  const {openEtcdStore} = await import('./etcd-store.js')
  return openEtcdStore({
    hosts: target.hosts,
    tls: target.tls,
    prefix,
    timeoutMs: o.timeoutMs,
    auth: o.etcdUsername && o.etcdPassword ? {username: o.etcdUsername, password: o.etcdPassword} : undefined,
    ...tlsFiles,
  })
}
