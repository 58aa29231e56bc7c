/**
 * Secrets in the operating system's keychain (Secret Service on Linux, Keychain on macOS,
 * Credential Vault on Windows) through keytar, loaded only when a secret is actually looked up.
 *
 * A secret flag (etcd-password, pdns-api-key, rfc2136-tsig-secret, ...) whose value, from any
 * source, is `keychain:` or `keychain:ACCOUNT` is read from the keychain entry of service
 * "roster" and that account (the flag's own name when none is given). Config files and unit
 * files then hold a reference, never the secret.
 *
 * Where no keychain answers (no Secret Service), a secret is stored in roster's credentials file
 * instead, 0600 in a 0700 directory, as `roster login` stores a login: a secret piped into
 * `config set-secret` (a freshly minted admin token) must not be lost. A reference reads the
 * file first, then the keychain.
 */
import {BackendUnavailableError, InvalidInputError, NotFoundError, firstLineOf} from '../errors.js'
import {isSecretName} from '../config/secrets.js'
import {availableKeychain, deleteFileSecret, loadFileSecret, saveFileSecret} from './credentials.js'

export const KEYCHAIN_SERVICE = 'roster'
const PREFIX = 'keychain:'

export function isKeychainReference(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith(PREFIX)
}

export function keychainAccount(flagName: string, reference: string): string {
  return reference.slice(PREFIX.length).trim() || flagName
}

type Keytar = typeof import('keytar')

async function loadKeytar(): Promise<Keytar> {
  try {
    const mod = (await import('keytar')) as Keytar & {default?: Keytar}
    return mod.default ?? mod
  } catch (error) {
    throw new BackendUnavailableError(`keychain unavailable: keytar could not be loaded (${firstLineOf(error)})`)
  }
}

function unavailable(error: unknown): BackendUnavailableError {
  return new BackendUnavailableError(
    `keychain unavailable: ${firstLineOf(error)}; start a Secret Service (e.g. gnome-keyring) or pass the secret through its ROSTER_ variable`,
  )
}

export function assertSecretName(name: string): void {
  if (!/^[a-z0-9-]+$/.test(name) || !isSecretName(name)) {
    throw InvalidInputError.forField(
      'NAME',
      name,
      'expected the name of a secret flag, such as etcd-password, pdns-api-key or rfc2136-tsig-secret',
    )
  }
}

export async function readSecret(account: string): Promise<string> {
  const fromFile = loadFileSecret(account)
  if (fromFile !== undefined) return fromFile
  const keytar = await loadKeytar()
  let value: string | null
  try {
    value = await keytar.getPassword(KEYCHAIN_SERVICE, account)
  } catch (error) {
    throw unavailable(error)
  }
  if (value === null)
    throw new NotFoundError(
      `keychain: no secret "${account}" for service "${KEYCHAIN_SERVICE}"; store it with: roster config set-secret ${account}`,
    )
  return value
}

/** Where a secret was stored: the keychain, or the credentials file (its path) when no keychain answered. */
export type StoredSecret = {store: 'keychain'} | {store: 'file'; file: string}

export async function storeSecret(account: string, value: string): Promise<StoredSecret> {
  if (value === '') throw InvalidInputError.forField('secret', '', 'is empty: pipe the secret on standard input')
  const keytar = await availableKeychain()
  if (!keytar) return {store: 'file', file: await saveFileSecret(account, value)}
  try {
    await keytar.setPassword(KEYCHAIN_SERVICE, account, value)
  } catch (error) {
    throw unavailable(error)
  }
  // The keychain is read after the file: an older value left there would hide this one.
  await deleteFileSecret(account)
  return {store: 'keychain'}
}

/** Removes a secret from the file and the keychain; whether it was in either. */
export async function deleteSecret(account: string): Promise<boolean> {
  const fromFile = await deleteFileSecret(account)
  const keytar = await availableKeychain()
  if (!keytar) {
    if (fromFile) return true
    throw unavailable(new Error('no Secret Service answered'))
  }
  try {
    return (await keytar.deletePassword(KEYCHAIN_SERVICE, account)) || fromFile
  } catch (error) {
    throw unavailable(error)
  }
}
