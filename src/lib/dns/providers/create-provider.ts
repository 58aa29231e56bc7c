/**
 * Builds the provider a ProviderConfig names. Each provider module is imported only when chosen
 * (a separate chunk in the bundle), so start-up stays cheap and a provider that fails to load or
 * construct breaks only itself. Errors name the ProviderConfig key at fault (`field`); the CLI
 * turns that into its flag.
 */
import {InvalidInputError} from '../../errors.js'
import type {Provider} from '../endpoint.js'
import {PROVIDERS, type ProviderName} from '../options.js'

export type {ProviderName} from '../options.js'

export interface ProviderConfig {
  provider: ProviderName
  timeoutMs: number
  zoneFile?: string
  zone?: string
  pdnsServer?: string
  pdnsApiKey?: string
  pdnsServerId?: string
  pdnsZone?: string[]
  rfc2136Host?: string
  rfc2136Port?: number
  rfc2136Zone?: string
  rfc2136TsigKeyName?: string
  rfc2136TsigSecret?: string
  rfc2136TsigAlg?: string
  webhookUrl?: string
}

function required<K extends keyof ProviderConfig>(config: ProviderConfig, key: K): NonNullable<ProviderConfig[K]> {
  const value = config[key]
  if (value === undefined || (typeof value === 'string' && value.trim() === '')) {
    throw new InvalidInputError(`${key} is required with provider ${config.provider}`, {field: key})
  }
  return value as NonNullable<ProviderConfig[K]>
}

export async function createProvider(config: ProviderConfig): Promise<Provider> {
  switch (config.provider) {
    case 'zonefile': {
      const path = required(config, 'zoneFile')
      const zone = required(config, 'zone')
      const {ZonefileProvider} = await import('./zonefile.js')
      return new ZonefileProvider({path, zone})
    }
    case 'pdns': {
      const {PdnsProvider} = await import('./pdns.js')
      return new PdnsProvider({
        server: required(config, 'pdnsServer'),
        apiKey: required(config, 'pdnsApiKey'),
        serverId: config.pdnsServerId,
        timeoutMs: config.timeoutMs,
        ...(config.pdnsZone !== undefined && config.pdnsZone.length > 0 ? {zones: config.pdnsZone} : {}),
      })
    }
    case 'rfc2136': {
      const {Rfc2136Provider} = await import('./rfc2136.js')
      return new Rfc2136Provider({
        host: required(config, 'rfc2136Host'),
        port: config.rfc2136Port,
        zone: required(config, 'rfc2136Zone'),
        timeoutMs: config.timeoutMs,
        tsigKeyName: config.rfc2136TsigKeyName,
        tsigSecret: config.rfc2136TsigSecret,
        tsigAlgorithm: config.rfc2136TsigAlg,
      })
    }
    case 'webhook': {
      const {WebhookProvider} = await import('./webhook.js')
      return new WebhookProvider({url: required(config, 'webhookUrl'), timeoutMs: config.timeoutMs})
    }
    default:
      throw InvalidInputError.forField('provider', config.provider, `expected one of ${PROVIDERS.join(', ')}`)
  }
}
