import {Args, Flags} from '@oclif/core'

import {RosterCommand, registryFlags} from '../../command/base-command.js'
import {NAMESPACE_COLUMNS} from '../../lib/registry/columns.js'
import type {Namespace} from '../../lib/registry/model.js'

export default class NamespaceRegister extends RosterCommand<typeof NamespaceRegister> {
  static override description = 'Register a namespace (or change how it is exported). Idempotent.'

  static override examples = [
    '<%= config.bin %> namespace register team-a',
    '<%= config.bin %> namespace register probes --export blackbox',
  ]

  static override args = {
    name: Args.string({description: 'Namespace name: letters, digits, "_" and "-".', required: true}),
  }

  static override flags = {
    export: Flags.string({
      description: 'How its services are exported to Prometheus.',
      options: ['standard', 'blackbox', 'disabled'],
      default: 'standard',
    }),
    ...registryFlags,
  }

  async run(): Promise<Namespace> {
    const registry = await this.registry()
    const namespace = await registry.registerNamespace(this.args.name, this.flags.export)
    await this.printRows([namespace], NAMESPACE_COLUMNS)
    return namespace
  }
}
