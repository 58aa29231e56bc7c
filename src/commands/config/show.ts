import {RosterCommand, outputFlags, registryFlags} from '../../command/base-command.js'
import {buildConfigReport, type ConfigReport, type EffectiveValue} from '../../lib/config/effective-config.js'
import {formatCell} from '../../lib/output/print-rows.js'

/** The registry commands would use: a `roster serve` URL, or the store (default path resolved), no credentials. */
async function effectiveRegistry(flags: Record<string, unknown>, source: string): Promise<{location: string; source: string}> {
  const {describeRegistry, isRemoteRegistry} = await import('../../lib/store/open-store.js')
  const {storeOptionsFromFlags} = await import('../../command/registry-flags.js')
  const registry = typeof flags.registry === 'string' ? flags.registry : undefined
  const location = isRemoteRegistry(registry)
    ? registry!.replace(/(\/\/)[^/@]*@/, '$1***@')
    : describeRegistry(storeOptionsFromFlags(flags, 1000))
  return {location, source}
}

export default class ConfigShow extends RosterCommand<typeof ConfigShow> {
  static override description =
    'Show the config files searched and parsed, and every effective value with where it came from (flag, ROSTER_* environment, file, default). Secrets are redacted.'

  static override examples = [
    '<%= config.bin %> config show',
    'ROSTER_REGISTRY=etcd://127.0.0.1:2379 <%= config.bin %> config show -o json',
  ]

  /** Shows `keychain:` references as they are, without opening the keychain. */
  static skipKeychain = true

  static override flags = {
    ...outputFlags(['table', 'json', 'yaml', 'csv'] as const),
    ...registryFlags,
  }

  async run(): Promise<ConfigReport> {
    const all = this.flags as Record<string, unknown>
    const effective: Record<string, unknown> = {}
    for (const name of this.declaredFlagNames) if (name !== 'output' && name !== 'no-headers') effective[name] = all[name]
    const report = buildConfigReport(this.loadedConfig!, effective, this.valueSources, process.env, this.knownFlagNames())
    report.registry = await effectiveRegistry(all, this.valueSources.get('registry') ?? 'default')
    const tableLike = this.flags.output === 'table' || this.flags.output === 'csv'
    if (tableLike && !this.jsonEnabled()) {
      for (const file of report.searched) {
        this.logToStderr(`searched: ${file}${report.parsed.includes(file) ? ' (parsed)' : ''}`)
      }
      for (const file of report.parsed) if (!report.searched.includes(file)) this.logToStderr(`parsed: ${file}`)
      this.logToStderr(`registry: ${report.registry.location} (from ${report.registry.source})`)
    }
    await this.printRows<EffectiveValue>(
      report.values,
      [
        {header: 'NAME', get: (v) => v.name},
        {header: 'VALUE', get: (v) => formatCell(v.value)},
        {header: 'SOURCE', get: (v) => v.source},
      ],
      report,
    )
    return report
  }
}
