/**
 * Every enumerated value and default of DNS sync, once. The `dns sync` flags, the library's
 * validation and the help text all take them from here; the module imports nothing, so the
 * command can load it at start-up.
 */

/** What a plan may do: `sync` creates, updates and deletes; `upsert-only` creates and updates; `create-only` creates. */
export const POLICIES = ['sync', 'upsert-only', 'create-only'] as const
export type Policy = (typeof POLICIES)[number]

/** Where desired records come from. */
export const SOURCES = ['registry', 'kubernetes', 'file'] as const
export type SourceName = (typeof SOURCES)[number]

/** Where records are written. */
export const PROVIDERS = ['zonefile', 'pdns', 'rfc2136', 'webhook'] as const
export type ProviderName = (typeof PROVIDERS)[number]
export const DEFAULT_PROVIDER: ProviderName = 'zonefile'

/** TSIG algorithms (RFC 8945), by the names named.conf uses; the first is the default. */
export const TSIG_ALGORITHMS = ['hmac-sha256', 'hmac-sha512', 'hmac-sha384', 'hmac-sha224', 'hmac-sha1', 'hmac-md5'] as const
export type TsigAlgorithm = (typeof TSIG_ALGORITHMS)[number]
export const DEFAULT_TSIG_ALGORITHM: TsigAlgorithm = 'hmac-sha256'

/** Refuse a plan updating+deleting more than this percent of the owned records... */
export const DEFAULT_MAX_CHANGE_PERCENT = 30
/** ...in a zone holding at least this many owned records (octoDNS's threshold). */
export const MIN_OWNED_FOR_PERCENT_RULE = 10

/** PowerDNS's server id: almost always "localhost". */
export const DEFAULT_PDNS_SERVER_ID = 'localhost'
/** The DNS port, for RFC 2136 updates and zone transfers. */
export const DEFAULT_DNS_PORT = 53
/** TTL of records written from endpoints without one (and, for a zone file, without a $TTL). */
export const DEFAULT_TTL = 300
