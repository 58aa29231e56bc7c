/**
 * Service IDs: UUIDv5 of namespace and endpoint under roster's own namespace UUID, so that
 * registering the same endpoint in the same namespace again updates the service in place.
 */
import {v5 as uuidv5, validate as uuidValidate} from 'uuid'

/** roster's UUIDv5 namespace. Fixed forever: changing it changes every service ID. */
export const ROSTER_UUID_NAMESPACE = '0c5f5b0e-58a4-4d4f-9a43-7d2b8e6c9a51'

/** The ID of the service for `endpoint` (normalized by validateEndpoint) in `namespace`. */
export function serviceId(namespace: string, endpoint: string): string {
  // Namespace names never contain "/", so "NS/URL" is unambiguous.
  return uuidv5(`${namespace}/${endpoint}`, ROSTER_UUID_NAMESPACE)
}

export function isServiceId(text: string): boolean {
  return uuidValidate(text)
}
