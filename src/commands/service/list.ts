import {Flags} from '@oclif/core'

import {RosterCommand, outputFlags, registryFlags} from '../../command/base-command.js'
import {SERVICE_COLUMNS} from '../../lib/registry/columns.js'
import type {Service} from '../../lib/registry/model.js'
import type {ServiceFilter} from '../../lib/registry/registry.js'

export default class ServiceList extends RosterCommand<typeof ServiceList> {
  /** Only reads the registry: opened read-only, never created. */
  static readOnly = true

  static override description = `List services, read page by page, sorted by namespace, name and endpoint unless --sort-by says otherwise. -o json|yaml|csv, --json and tab-separated tables (stdout not a terminal) are streamed: the default order holds one namespace (with the namespaces that share its name up to a "-": team, team-a, team-b) at a time, so memory grows with the largest namespace, not the registry; --sort-by name|endpoint|date and a table on a terminal hold every matching service.
--json prints exactly what -o json prints (a JSON array of services), written page by page as it is read. An error before output begins (a bad flag, an unreachable registry) is printed as the usual {"error": ...} object; should the registry fail after output has begun, the array is left unterminated, the error object follows it, and the exit code is the error's, so a consumer must check the exit code.
--name, --endpoint and --server take RE2 syntax (as Prometheus relabelling does; no lookaround or backreferences) and match anywhere unless anchored with ^ and $. --server REGEX matches any of a service's servers ("^$" finds unassigned services).`

  static override examples = [
    '<%= config.bin %> service list',
    '<%= config.bin %> service list -n team-a --name "^node" --sort-by endpoint',
    '<%= config.bin %> service list --server prom1 -s "app in (api,web)" -o json',
  ]

  static override flags = {
    ...outputFlags(['table', 'json', 'yaml', 'csv'] as const),
    namespace: Flags.string({char: 'n', description: 'Only this namespace.'}),
    name: Flags.string({description: 'Regular expression the service name must match.'}),
    endpoint: Flags.string({description: 'Regular expression the endpoint must match.'}),
    server: Flags.string({description: 'Regular expression one of its servers must match.'}),
    selector: Flags.string({char: 's', description: 'Kubernetes label selector over service labels.'}),
    'sort-by': Flags.string({
      description: 'Sort by: namespace (then name, endpoint), name (then endpoint), endpoint, or date (last change).',
      options: ['namespace', 'name', 'endpoint', 'date'],
      default: 'namespace',
    }),
    ...registryFlags,
  }

  /**
   * Returns the services only for a table on a terminal (which must hold them to align the
   * columns); every other format, --json included, is streamed and run() returns undefined, so
   * that oclif, which prints a truthy result under --json, prints nothing more.
   */
  async run(): Promise<Service[] | undefined> {
    const filter: ServiceFilter = {
      namespace: this.flags.namespace,
      name: this.flags.name,
      endpoint: this.flags.endpoint,
      server: this.flags.server,
      selector: this.flags.selector,
      sortBy: this.flags['sort-by'] as ServiceFilter['sortBy'],
    }
    const registry = await this.registry()
    const services = registry.listServices(filter)
    // An aligned table needs every row for its column widths; everything else, --json included,
    // is streamed (oclif would hold the whole list: about 1 GiB for 100,000 services).
    if (!this.jsonEnabled() && this.flags.output === 'table' && process.stdout.isTTY) {
      const all: Service[] = []
      for await (const s of services) all.push(s)
      await this.printRows(all, SERVICE_COLUMNS)
      return all
    }
    await this.streamRows(services, SERVICE_COLUMNS)
    return undefined
  }
}
