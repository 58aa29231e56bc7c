/**
 * The registry flags (`--registry`, `--etcd-*`, `--token`, `--registry-ca`) and the StoreOptions
 * their values make. The etcd connection options are listed once, in ETCD_OPTIONS: the flags are
 * made from it (so they also come from ROSTER_ETCD_* and the config file), and
 * `storeOptionsFromFlags` copies each into its StoreOptions key. Adding an option touches this
 * list, StoreOptions and the code that uses the value, nothing else.
 */
import {Flags, type Interfaces} from '@oclif/core'

import {envNameOf} from '../lib/config/layers.js'
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

/**
 * The `--etcd-*` flags, one per entry of ETCD_OPTIONS; with a `prefix` ("to-"), the same flags
 * for a second registry (`registry migrate --to`), whose descriptions end with `what`.
 */
export function etcdFlagsFor<P extends string = ''>(prefix = '' as P, what = '') {
  return Object.fromEntries(
    Object.entries(ETCD_OPTIONS).map(([name, o]) => [
      `${prefix}${name}`,
      Flags.string({
        description: what
          ? `${o.description.replace(/\.$/, '').replace(/ROSTER_ETCD_/g, envNameOf(`${prefix}etcd-`))} (${what}).`
          : o.description,
        helpGroup: 'REGISTRY',
        ...('default' in o ? {default: o.default} : {}),
      }),
    ]),
  ) as Record<`${P}${EtcdOptionName}`, Interfaces.OptionFlag<string | undefined>>
}

/** The flags of a registry's store (sqlite: or etcd://), for commands that refuse an https:// registry. */
export const storeFlags = {
  registry: Flags.string({
    description: 'Registry: sqlite:PATH (default: $XDG_DATA_HOME/roster/registry.db) or etcd://HOST:PORT[,HOST:PORT...].',
    helpGroup: 'REGISTRY',
  }),
  ...etcdFlagsFor(),
}

/** The registry location and etcd connection flags, for commands that use the registry. */
export const registryFlags = {
  ...storeFlags,
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
