import {Args, Flags} from '@oclif/core'

import {RosterCommand, registryFlags} from '../../command/base-command.js'
import {SERVER_COLUMNS} from '../../lib/registry/columns.js'
import type {ServerChangeResult} from '../../lib/registry/registry.js'
import {redistributionSummary} from '../../lib/registry/summaries.js'
import {parseLabels} from '../../lib/registry/validation.js'

export default class ServerRegister extends RosterCommand<typeof ServerRegister> {
  static override description = 'Register a scrape server (or change its labels) and redistribute the services to it. Idempotent.'

  static override examples = [
    '<%= config.bin %> server register prom1 -l env=prod,dc=zrh',
    '<%= config.bin %> server register prom2 --registry etcd://etcd1:2379',
  ]

  static override args = {
    name: Args.string({description: 'Server name: letters, digits, "_" and "-".', required: true}),
  }

  static override flags = {
    label: Flags.string({char: 'l', description: 'Labels, k=v[,k=v...]; services select servers by them.', multiple: true}),
    ...registryFlags,
  }

  async run(): Promise<ServerChangeResult> {
    const labels = parseLabels('label', this.flags.label)
    const registry = await this.registry()
    const result = await registry.registerServer(this.args.name, labels)
    await this.printRows([result.server], SERVER_COLUMNS)
    if (!this.jsonEnabled()) this.logToStderr(redistributionSummary(result))
    return result
  }
}
