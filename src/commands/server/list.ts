import {Flags} from '@oclif/core'

import {RosterCommand, outputFlags, registryFlags} from '../../command/base-command.js'
import {SERVER_COLUMNS} from '../../lib/registry/columns.js'
import type {Server} from '../../lib/registry/model.js'

export default class ServerList extends RosterCommand<typeof ServerList> {
  /** Only reads the registry: opened read-only, never created. */
  static readOnly = true

  static override description = 'List the scrape servers, optionally those matching a label selector.'

  static override examples = ['<%= config.bin %> server list', '<%= config.bin %> server list -s "env in (prod,qa)" -o json']

  static override flags = {
    ...outputFlags(['table', 'json', 'yaml', 'csv'] as const),
    selector: Flags.string({char: 's', description: 'Kubernetes label selector over server labels.'}),
    ...registryFlags,
  }

  async run(): Promise<Server[]> {
    const registry = await this.registry()
    const servers = await registry.listServers(this.flags.selector)
    await this.printRows(servers, SERVER_COLUMNS)
    return servers
  }
}
