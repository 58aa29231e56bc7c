/**
 * Where `roster login` keeps a person's sign-in, per registry URL: the OS keychain through keytar
 * when a Secret Service answers within 3 s, else `$XDG_CONFIG_HOME/roster/credentials.json`
 * (0600 in a 0700 directory). The file always holds an index entry per registry (where the
 * login lives, who, until when), so a command finds a login without loading keytar or waiting
 * for D-Bus; for keychain logins the tokens themselves are only in the keychain.
 */
import {chmodSync, mkdirSync, renameSync, writeFileSync} from 'node:fs'
import {homedir} from 'node:os'
import path from 'node:path'

import {BackendUnavailableError, firstLineOf} from '../errors.js'
import {readInputFileSync} from '../fs/input-file.js'
import {LockFile, describeHolder} from '../fs/lock-file.js'
import {checkFile} from '../fs/path-check.js'

export const LOGIN_KEYCHAIN_SERVICE = 'roster-login'
/** How long a Secret Service has to answer before the file is used. */
export const KEYCHAIN_PROBE_MS = 3000

/** A person's sign-in at one registry (the tokens are secrets: never printed). */
export interface StoredLogin {
  registry: string
  issuer: string
  clientId: string
  rolesClaim: string
  accessToken: string
  /** The token sent to the registry: the access token when it is a JWT, else the ID token. */
  bearer: 'access_token' | 'id_token'
  idToken?: string
  refreshToken?: string
  /** ISO time the bearer token expires. */
  expiresAt: string
  subject: string
  name?: string
  roles: string[]
  flow: 'pkce' | 'device' | 'password'
  /** PEM CA certificates trusted for the identity provider (the oidc-ca setting at login), for refreshes and revocation. */
  providerCa?: string
}

export type CredentialStoreKind = 'keychain' | 'file'

interface IndexEntry {
  store: CredentialStoreKind
  subject: string
  expiresAt: string
  /** Only for store 'file'. */
  login?: StoredLogin
}

interface CredentialsFile {
  version: 1
  registries: Record<string, IndexEntry>
  /** Secret flags' values stored by `roster config set-secret` where no keychain answered, by account. */
  secrets?: Record<string, string>
}

export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(homedir(), '.config')
  return path.join(base, 'roster', 'credentials.json')
}

/** The key a login is stored under: the registry URL without a trailing slash. */
export function registryKey(url: string): string {
  const u = new URL(url.trim())
  return u.origin + u.pathname.replace(/\/+$/, '')
}

function readFile(file: string): CredentialsFile {
  if (checkFile(file, {field: 'credentials', missingOk: true}) === undefined) return {version: 1, registries: {}}
  const text = readInputFileSync(file, {field: 'credentials'})
  try {
    const parsed = JSON.parse(text) as CredentialsFile
    if (parsed?.version !== 1 || typeof parsed.registries !== 'object' || parsed.registries === null) throw new Error('unexpected content')
    return parsed
  } catch (error) {
    throw new BackendUnavailableError(
      `credentials: ${file} is not roster's credentials file (${firstLineOf(error)}); delete it and run roster login`,
    )
  }
}

/** Writes the file 0600 (a temporary file renamed over it) in a 0700 directory. */
function writeFile(file: string, content: CredentialsFile): void {
  const dir = path.dirname(file)
  mkdirSync(dir, {recursive: true, mode: 0o700})
  chmodSync(dir, 0o700)
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, `${JSON.stringify(content, null, 2)}\n`, {mode: 0o600})
  chmodSync(tmp, 0o600)
  renameSync(tmp, file)
}

type Keytar = typeof import('keytar')

async function keytarOrUndefined(): Promise<Keytar | undefined> {
  try {
    const mod = (await import('keytar')) as Keytar & {default?: Keytar}
    return mod.default ?? mod
  } catch {
    return undefined
  }
}

/** keytar when a Secret Service answers within KEYCHAIN_PROBE_MS, else undefined. */
export async function availableKeychain(env: NodeJS.ProcessEnv = process.env): Promise<Keytar | undefined> {
  if (process.platform === 'linux' && !env.DBUS_SESSION_BUS_ADDRESS) return undefined
  const keytar = await keytarOrUndefined()
  if (!keytar) return undefined
  let timer: NodeJS.Timeout | undefined
  try {
    const answered = await Promise.race([
      keytar.findCredentials(LOGIN_KEYCHAIN_SERVICE).then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), KEYCHAIN_PROBE_MS)
        timer.unref()
      }),
    ])
    return answered ? keytar : undefined
  } catch {
    return undefined
  } finally {
    clearTimeout(timer)
  }
}

export interface SaveResult {
  store: CredentialStoreKind
  /** The file, or "keychain (service roster-login)". */
  where: string
}

/** Stores a login: in the keychain when one answers, else in the file. */
export async function saveLogin(login: StoredLogin, o: {preferFile?: boolean} = {}): Promise<SaveResult> {
  const file = credentialsPath()
  const content = readFile(file)
  const key = registryKey(login.registry)
  const keytar = o.preferFile ? undefined : await availableKeychain()
  if (keytar) {
    try {
      await keytar.setPassword(LOGIN_KEYCHAIN_SERVICE, key, JSON.stringify(login))
      content.registries[key] = {store: 'keychain', subject: login.subject, expiresAt: login.expiresAt}
      writeFile(file, content)
      return {store: 'keychain', where: `the keychain (service ${LOGIN_KEYCHAIN_SERVICE}, account ${key})`}
    } catch {
      // A keychain that refuses the write: the file below.
    }
  }
  content.registries[key] = {store: 'file', subject: login.subject, expiresAt: login.expiresAt, login}
  writeFile(file, content)
  return {store: 'file', where: file}
}

/** Replaces a login after a refresh, where it already lives. */
export async function updateLogin(login: StoredLogin): Promise<void> {
  const file = credentialsPath()
  const content = readFile(file)
  const key = registryKey(login.registry)
  const entry = content.registries[key]
  if (entry?.store === 'keychain') {
    const keytar = await keytarOrUndefined()
    if (!keytar) throw new BackendUnavailableError('keychain unavailable: keytar could not be loaded')
    await keytar.setPassword(LOGIN_KEYCHAIN_SERVICE, key, JSON.stringify(login))
    content.registries[key] = {store: 'keychain', subject: login.subject, expiresAt: login.expiresAt}
  } else {
    content.registries[key] = {store: 'file', subject: login.subject, expiresAt: login.expiresAt, login}
  }
  writeFile(file, content)
}

export interface LoadedLogin {
  login: StoredLogin
  store: CredentialStoreKind
  where: string
}

/** The stored login for a registry, or undefined when there is none. Loads keytar only for a keychain login. */
export async function loadLogin(registry: string): Promise<LoadedLogin | undefined> {
  const file = credentialsPath()
  const key = registryKey(registry)
  const entry = readFile(file).registries[key]
  if (!entry) return undefined
  if (entry.store === 'file') return entry.login ? {login: entry.login, store: 'file', where: file} : undefined
  const keytar = await keytarOrUndefined()
  if (!keytar) throw new BackendUnavailableError('keychain unavailable: keytar could not be loaded; run roster login again')
  let value: string | null
  try {
    value = await withTimeout(keytar.getPassword(LOGIN_KEYCHAIN_SERVICE, key), KEYCHAIN_PROBE_MS)
  } catch (error) {
    throw new BackendUnavailableError(`keychain unavailable: ${firstLineOf(error)}; start the Secret Service or run roster login again`)
  }
  if (value === null) return undefined
  return {
    login: JSON.parse(value) as StoredLogin,
    store: 'keychain',
    where: `the keychain (service ${LOGIN_KEYCHAIN_SERVICE}, account ${key})`,
  }
}

/** Deletes a registry's login from wherever it is; whether there was one. */
export async function deleteLogin(registry: string): Promise<boolean> {
  const file = credentialsPath()
  const key = registryKey(registry)
  const content = readFile(file)
  const entry = content.registries[key]
  if (!entry) return false
  if (entry.store === 'keychain') {
    const keytar = await keytarOrUndefined()
    if (keytar) await withTimeout(keytar.deletePassword(LOGIN_KEYCHAIN_SERVICE, key), KEYCHAIN_PROBE_MS).catch(() => false)
  }
  delete content.registries[key]
  writeFile(file, content)
  return true
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms)
      timer.unref()
    }),
  ]).finally(() => clearTimeout(timer))
}

/**
 * Runs `fn` holding the credentials lock (a lock file next to the credentials, fs/lock-file.ts),
 * so that two roster processes never refresh the same login at once: providers that rotate
 * refresh tokens treat a second use of one as theft and revoke the whole sign-in. A lock left by
 * a process that died is broken; one held by a live process is waited for, `waitMs` at most.
 */
export async function withLoginLock<T>(fn: () => Promise<T>, waitMs = 20_000): Promise<T> {
  const file = `${credentialsPath()}.lock`
  mkdirSync(path.dirname(file), {recursive: true, mode: 0o700})
  const lock = await LockFile.acquire(file, {
    mode: 0o600,
    waitMs,
    held: (holder) =>
      new BackendUnavailableError(
        `credentials: ${file} is held by another roster process (${describeHolder(holder)}); remove it if none runs`,
      ),
  })
  try {
    return await fn()
  } finally {
    await lock.release()
  }
}

/** A secret flag's value kept in the file (`roster config set-secret` with no keychain), or undefined. */
export function loadFileSecret(account: string): string | undefined {
  return readFile(credentialsPath()).secrets?.[account]
}

/** Keeps a secret flag's value in the file (0600, in a 0700 directory); returns the file. */
export async function saveFileSecret(account: string, value: string): Promise<string> {
  const file = credentialsPath()
  await withLoginLock(async () => {
    const content = readFile(file)
    content.secrets = {...content.secrets, [account]: value}
    writeFile(file, content)
  })
  return file
}

/** Removes a secret flag's value from the file; whether it was there. */
export async function deleteFileSecret(account: string): Promise<boolean> {
  const file = credentialsPath()
  if (loadFileSecret(account) === undefined) return false
  return withLoginLock(async () => {
    const content = readFile(file)
    if (content.secrets?.[account] === undefined) return false
    delete content.secrets[account]
    writeFile(file, content)
    return true
  })
}
