/**
 * Builds the provider `--provider` names from its flags. Each provider module is imported only
 * when chosen (a separate chunk in the bundle), so start-up stays cheap and a provider that fails
 * to load or construct breaks only itself.
 */
import {InvalidInputError} from '../../errors.js'
import type {Provider} from '../endpoint.js'

export const PROVIDERS = ['zonefile', 'pdns', 'rfc2136', 'webhook'] as const
export type ProviderName = (typeof PROVIDERS)[number]
export const TSIG_ALGORITHMS = ['hmac-sha256', 'hmac-sha512', 'hmac-sha384', 'hmac-sha224', 'hmac-sha1', 'hmac-md5'] as const

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

function required(value: string | undefined, flag: string, provider: string): string {
  if (value === undefined || value.trim() === '') {
    throw new InvalidInputError(`--${flag} is required with --provider ${provider}`, {field: flag})
  }
  return value
}

export async function createProvider(config: ProviderConfig): Promise<Provider> {
  switch (config.provider) {
    case 'zonefile': {
      const path = required(config.zoneFile, 'zone-file', 'zonefile')
      const zone = required(config.zone, 'zone', 'zonefile')
      const {ZonefileProvider} = await import('./zonefile.js')
      return new ZonefileProvider({path, zone})
    }
    case 'pdns': {
      const server = required(config.pdnsServer, 'pdns-server', 'pdns')
      const apiKey = required(config.pdnsApiKey, 'pdns-api-key', 'pdns')
      const {PdnsProvider} = await import('./pdns.js')
      const options: ConstructorParameters<typeof PdnsProvider>[0] = {
        server,
        apiKey,
        serverId: config.pdnsServerId ?? 'localhost',
        timeoutMs: config.timeoutMs,
      }
      if (config.pdnsZone !== undefined && config.pdnsZone.length > 0) options.zones = config.pdnsZone
      return new PdnsProvider(options)
    }
    case 'rfc2136': {
      const host = required(config.rfc2136Host, 'rfc2136-host', 'rfc2136')
      const zone = required(config.rfc2136Zone, 'rfc2136-zone', 'rfc2136')
      const hasName = config.rfc2136TsigKeyName !== undefined && config.rfc2136TsigKeyName !== ''
      const hasSecret = config.rfc2136TsigSecret !== undefined && config.rfc2136TsigSecret !== ''
      if (hasName !== hasSecret) {
        throw new InvalidInputError('--rfc2136-tsig-keyname and --rfc2136-tsig-secret go together', {
          field: hasName ? 'rfc2136-tsig-secret' : 'rfc2136-tsig-keyname',
        })
      }
      const alg = config.rfc2136TsigAlg ?? 'hmac-sha256'
      if (!(TSIG_ALGORITHMS as readonly string[]).includes(alg)) {
        throw InvalidInputError.forField('--rfc2136-tsig-alg', alg, `expected one of ${TSIG_ALGORITHMS.join(', ')}`)
      }
      const {Rfc2136Provider} = await import('./rfc2136.js')
      const options: ConstructorParameters<typeof Rfc2136Provider>[0] = {
        host,
        port: config.rfc2136Port ?? 53,
        zone,
        timeoutMs: config.timeoutMs,
      }
      if (hasName) {
        options.tsigKeyName = config.rfc2136TsigKeyName
        options.tsigSecret = config.rfc2136TsigSecret
        options.tsigAlgorithm = alg
      }
      return new Rfc2136Provider(options)
    }
    case 'webhook': {
      const url = required(config.webhookUrl, 'webhook-url', 'webhook')
      const {WebhookProvider} = await import('./webhook.js')
      return new WebhookProvider({url, timeoutMs: config.timeoutMs})
    }
    default:
      throw InvalidInputError.forField('provider', config.provider, `expected one of ${PROVIDERS.join(', ')}`)
  }
}
