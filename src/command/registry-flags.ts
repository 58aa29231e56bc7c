/**
 * The registry flags (`--registry`, `--etcd-*`, `--token`, `--registry-ca`) and the StoreOptions
 * their values make. The etcd connection options are listed once, in ETCD_OPTIONS: the flags are
 * made from it (so they also come from ROSTER_ETCD_* and the config file), and
 * `storeOptionsFromFlags` copies each into its StoreOptions key. Adding an option touches this
 * list, StoreOptions and the code that uses the value, nothing else.
 */
import {Flags, type Interfaces} from '@oclif/core'

import type {StoreOptions} from '../lib/store/open-store.js'

export const ETCD_OPTIONS = {
  'etcd-prefix': {key: 'etcdPrefix', description: 'Key prefix in etcd.', default: '/roster/'},
  'etcd-username': {key: 'etcdUsername', description: 'etcd user name.'},
  'etcd-password': {key: 'etcdPassword', description: 'etcd password (prefer ROSTER_ETCD_PASSWORD or a 0600 config file).'},
  'etcd-ca': {key: 'etcdCa', description: 'CA certificate file for etcd over TLS.'},
  'etcd-cert': {key: 'etcdCert', description: 'Client certificate file for etcd.'},
  'etcd-key': {key: 'etcdKey', description: 'Client key file for etcd.'},
} as const satisfies Record<string, {key: keyof StoreOptions; description: string; default?: string}>

export type EtcdOptionName = keyof typeof ETCD_OPTIONS

const etcdFlags = Object.fromEntries(
  Object.entries(ETCD_OPTIONS).map(([name, o]) => [
    name,
    Flags.string({description: o.description, helpGroup: 'REGISTRY', ...('default' in o ? {default: o.default} : {})}),
  ]),
) as Record<EtcdOptionName, Interfaces.OptionFlag<string | undefined>>

/** The registry location and etcd connection flags, for commands that use the registry. */
export const registryFlags = {
  registry: Flags.string({
    description: 'Registry: sqlite:PATH (default: $XDG_DATA_HOME/roster/registry.db) or etcd://HOST:PORT[,HOST:PORT...].',
    helpGroup: 'REGISTRY',
  }),
  ...etcdFlags,
  token: Flags.string({
    description: 'Bearer token for an https:// registry (roster serve); prefer ROSTER_TOKEN or keychain:ACCOUNT.',
    helpGroup: 'REGISTRY',
  }),
  'registry-ca': Flags.string({description: 'CA certificate file to trust for an https:// registry.', helpGroup: 'REGISTRY'}),
}

/** StoreOptions from the values of the registry flags (by flag name). */
export function storeOptionsFromFlags(flags: Record<string, unknown>, timeoutMs: number): StoreOptions {
  const options: StoreOptions = {registry: stringOrUndefined(flags.registry), timeoutMs}
  for (const [name, option] of Object.entries(ETCD_OPTIONS)) options[option.key] = stringOrUndefined(flags[name])
  return options
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined
}
