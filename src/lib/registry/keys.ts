/**
 * The registry's store keys. Names never contain "/" (validation.ts), so every prefix below is
 * unambiguous: `services/NS/` holds exactly the services of namespace NS.
 *
 *   servers/NAME          Server JSON
 *   namespaces/NAME       Namespace JSON (the `default` namespace exists even when absent)
 *   services/NS/ID        Service JSON
 *   settings              RegistrySettings JSON
 *   restoring             present while a restore writes (backup/restore.ts): a registry
 *                         holding it is not what any backup holds until a restore finishes
 *   topology              rewritten whenever the set of candidate servers or the replicas
 *                         setting changes; writes that depend on the server set compare its
 *                         mod revision, so they never commit an assignment computed from a
 *                         stale server set.
 *
 * And the machine tokens' keys (auth/tokens.ts), in the same store:
 *
 *   auth/signing-key      the private signing key (JWK)
 *   auth/tokens/ID        the record of an issued token
 *   auth/revoked/ID       a revocation: token ID is refused from then on
 *
 * And the history (history/event.ts): one record per write, in the write's transaction.
 *
 *   events/TIME/SEQ-RAND  the events of one transaction; TIME is RFC 3339 UTC to the millisecond
 */
export const SERVERS_PREFIX = 'servers/'
export const NAMESPACES_PREFIX = 'namespaces/'
export const SERVICES_PREFIX = 'services/'
export const SETTINGS_KEY = 'settings'
export const TOPOLOGY_KEY = 'topology'
export const RESTORE_MARKER_KEY = 'restoring'
export const SIGNING_KEY_KEY = 'auth/signing-key'
export const TOKENS_PREFIX = 'auth/tokens/'
export const REVOKED_PREFIX = 'auth/revoked/'

export function serverKey(name: string): string {
  return SERVERS_PREFIX + name
}

export function namespaceKey(name: string): string {
  return NAMESPACES_PREFIX + name
}

export function namespaceServicesPrefix(namespace: string): string {
  return `${SERVICES_PREFIX}${namespace}/`
}

export function serviceKey(namespace: string, id: string): string {
  return `${SERVICES_PREFIX}${namespace}/${id}`
}
