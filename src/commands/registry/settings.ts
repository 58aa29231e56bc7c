import {Flags} from '@oclif/core'

import {RosterCommand, outputFlags, registryFlags} from '../../command/base-command.js'

import type {RegistrySettings} from '../../lib/registry/model.js'
import {redistributionSummary} from '../../lib/registry/summaries.js'

export default class RegistrySettingsCommand extends RosterCommand<typeof RegistrySettingsCommand> {
  static override description =
    'Show the registry-wide settings, or change them. --replicas N assigns every service to N servers (default 1); changing it redistributes every service. --history-retention says how long `registry history` keeps events (default 30d); older ones are deleted as writes happen.'

  static override examples = [
    '<%= config.bin %> registry settings',
    '<%= config.bin %> registry settings --replicas 2',
    '<%= config.bin %> registry settings --history-retention 90d',
  ]

  static override flags = {
    ...outputFlags(['table', 'json', 'yaml', 'csv'] as const),
    replicas: Flags.integer({description: 'How many servers each service is assigned to.', min: 1, max: 100}),
    'history-retention': Flags.string({description: 'How long the registry history keeps events (12h, 30d, 52w).'}),
    ...registryFlags,
  }

  /** Without a setting to change the settings are only read: the registry is opened read-only. */
  protected override readOnlyStore(): boolean {
    return this.flags.replicas === undefined && this.flags['history-retention'] === undefined
  }

  async run(): Promise<RegistrySettings> {
    const registry = await this.registry()
    let settings: RegistrySettings
    if (this.readOnlyStore()) settings = await registry.getSettings()
    else {
      const result = await registry.updateSettings({replicas: this.flags.replicas, historyRetention: this.flags['history-retention']})
      settings = result.settings
      if (!this.jsonEnabled() && this.flags.replicas !== undefined) this.logToStderr(redistributionSummary(result))
    }
    await this.printRows(
      [settings],
      [
        {header: 'REPLICAS', get: (s) => s.replicas},
        {header: 'HISTORY RETENTION', get: (s) => s.historyRetention},
      ],
      settings,
    )
    return settings
  }
}
