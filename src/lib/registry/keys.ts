/**
 * The registry's store keys. Names never contain "/" (validation.ts), so every prefix below is
 * unambiguous: `services/NS/` holds exactly the services of namespace NS.
 *
 *   servers/NAME          Server JSON
 *   namespaces/NAME       Namespace JSON (the `default` namespace exists even when absent)
 *   services/NS/ID        Service JSON
 *   settings              RegistrySettings JSON
 *   topology              rewritten whenever the set of candidate servers or the replicas
 *                         setting changes; writes that depend on the server set compare its
 *                         mod revision, so they never commit an assignment computed from a
 *                         stale server set.
 */
export const SERVERS_PREFIX = 'servers/'
export const NAMESPACES_PREFIX = 'namespaces/'
export const SERVICES_PREFIX = 'services/'
export const SETTINGS_KEY = 'settings'
export const TOPOLOGY_KEY = 'topology'

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
