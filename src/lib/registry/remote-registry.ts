/**
 * The HTTP client of `roster serve`: the RegistryClient for an https:// --registry.
 * (Placeholder until the serve API lands: refuses with one line.)
 */
import {InvalidInputError} from '../errors.js'
import type {RegistryClient} from './registry-client.js'

export interface RemoteRegistryOptions {
  url: string
  token?: string
  caFile?: string
  timeoutMs: number
}

export function openRemoteRegistry(options: RemoteRegistryOptions): RegistryClient {
  throw InvalidInputError.forField('registry', options.url, 'remote registries are not supported yet')
}
