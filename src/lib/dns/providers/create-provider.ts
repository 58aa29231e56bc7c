/**
 * Builds the provider a ProviderConfig names. Each provider module is imported only when chosen
 * (a separate chunk in the bundle), so start-up stays cheap and a provider that fails to load or
 * construct breaks only itself. Errors name the setting at fault (`field`, `pdns-server`); the
 * command layer turns that into what the user typed.
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

/** `config[key]`, or InvalidInputError naming `setting` (the key as the config file spells it) when it is not set. */
function required<K extends keyof ProviderConfig>(config: ProviderConfig, key: K, setting: string): NonNullable<ProviderConfig[K]> {
  const value = config[key]
  if (value === undefined || (typeof value === 'string' && value.trim() === '')) {
    throw new InvalidInputError(`${setting} is required with provider ${config.provider}`, {field: setting})
  }
  return value as NonNullable<ProviderConfig[K]>
}

export async function createProvider(config: ProviderConfig): Promise<Provider> {
  switch (config.provider) {
    case 'zonefile': {
      const path = required(config, 'zoneFile', 'zone-file')
      const zone = required(config, 'zone', 'zone')
      const {ZonefileProvider} = await import('./zonefile.js')
      return new ZonefileProvider({path, zone})
    }
    case 'pdns': {
      const {PdnsProvider} = await import('./pdns.js')
      return new PdnsProvider({
        server: required(config, 'pdnsServer', 'pdns-server'),
        apiKey: required(config, 'pdnsApiKey', 'pdns-api-key'),
        serverId: config.pdnsServerId,
        timeoutMs: config.timeoutMs,
        ...(config.pdnsZone !== undefined && config.pdnsZone.length > 0 ? {zones: config.pdnsZone} : {}),
      })
    }
    case 'rfc2136': {
      const {Rfc2136Provider} = await import('./rfc2136.js')
      return new Rfc2136Provider({
        host: required(config, 'rfc2136Host', 'rfc2136-host'),
        port: config.rfc2136Port,
        zone: required(config, 'rfc2136Zone', 'rfc2136-zone'),
        timeoutMs: config.timeoutMs,
        tsigKeyName: config.rfc2136TsigKeyName,
        tsigSecret: config.rfc2136TsigSecret,
        tsigAlgorithm: config.rfc2136TsigAlg,
      })
    }
    case 'webhook': {
      const {WebhookProvider} = await import('./webhook.js')
      return new WebhookProvider({url: required(config, 'webhookUrl', 'webhook-url'), timeoutMs: config.timeoutMs})
    }
    default:
      throw InvalidInputError.forField('provider', config.provider, `expected one of ${PROVIDERS.join(', ')}`)
  }
}
