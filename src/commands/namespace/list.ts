import {RosterCommand, outputFlags, registryFlags} from '../../command/base-command.js'
import {NAMESPACE_COLUMNS} from '../../lib/registry/columns.js'
import type {Namespace} from '../../lib/registry/model.js'

export default class NamespaceList extends RosterCommand<typeof NamespaceList> {
  /** Only reads the registry: opened read-only, never created. */
  static readOnly = true

  static override description = 'List the namespaces (the default namespace always exists).'

  static override examples = ['<%= config.bin %> namespace list', '<%= config.bin %> namespace list -o yaml']

  static override flags = {
    ...outputFlags(['table', 'json', 'yaml', 'csv'] as const),
    ...registryFlags,
  }

  async run(): Promise<Namespace[]> {
    const registry = await this.registry()
    const namespaces = await registry.listNamespaces()
    await this.printRows(namespaces, NAMESPACE_COLUMNS)
    return namespaces
  }
}
