import {Flags} from '@oclif/core'

import {RosterCommand, outputFlags, registryFlags} from '../../lib/command/base-command.js'
import {SERVICE_COLUMNS} from '../../lib/registry/columns.js'
import type {Service} from '../../lib/registry/model.js'
import {Registry, type ServiceFilter} from '../../lib/registry/registry.js'

/** Rows printed per write when streaming. */
const CHUNK = 1000

export default class ServiceList extends RosterCommand<typeof ServiceList> {
  static override description = `List services, read page by page. -o json|yaml|csv, --json and tab-separated tables (stdout not a terminal) are streamed, so a registry of any size lists in constant memory; --sort-by and a table on a terminal hold the matching services.
--json prints exactly what -o json prints (a JSON array of services), written page by page as it is read. An error before output begins (a bad flag, an unreachable registry) is printed as the usual {"error": ...} object; should the registry fail after output has begun, the array is left unterminated, the error object follows it, and the exit code is the error's, so a consumer must check the exit code.
--server REGEX matches any of a service's servers ("^$" finds unassigned services).`

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
    'sort-by': Flags.string({description: 'Sort by (default: store order).', options: ['name', 'endpoint', 'date']}),
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
    const registry = new Registry(await this.openStore())
    const services = registry.listServices(filter)
    // --json: the same text as -o json, streamed (oclif would hold the whole list and print it
    // at once: about 1 GiB of memory for 100,000 services).
    const format = this.jsonEnabled() ? 'json' : this.flags.output
    if (format === 'table' && process.stdout.isTTY) {
      const all: Service[] = []
      for await (const s of services) all.push(s)
      await this.printRows(all, SERVICE_COLUMNS)
      return all
    }
    await this.stream(services, format)
    return undefined
  }

  /** Prints as it reads: the same text formatRows prints for the whole list. */
  private async stream(services: AsyncIterable<Service>, format: string): Promise<void> {
    const {formatRows} = await import('../../lib/output/print-rows.js')
    const headers = !this.flags['no-headers']
    let chunk: Service[] = []
    let count = 0
    const write = (text: string): Promise<void> =>
      new Promise((resolve) => {
        if (process.stdout.write(text)) resolve()
        else process.stdout.once('drain', () => resolve())
      })
    const flush = async (): Promise<void> => {
      if (chunk.length === 0) return
      const rows = chunk
      chunk = []
      const first = count === 0
      count += rows.length
      if (format === 'json') {
        const body = rows.map((r) => '  ' + JSON.stringify(r, null, 2).replace(/\n/g, '\n  ')).join(',\n')
        await write((first ? '[\n' : ',\n') + body)
      } else if (format === 'yaml') {
        await write((await formatRows(rows, SERVICE_COLUMNS, {format, headers, tty: false})) + '\n')
      } else {
        const text = await formatRows(rows, SERVICE_COLUMNS, {format, headers: headers && first, tty: false})
        await write(text + (format === 'csv' ? '\r\n' : '\n'))
      }
    }
    for await (const s of services) {
      chunk.push(s)
      if (chunk.length >= CHUNK) await flush()
    }
    await flush()
    if (format === 'json') await write(count === 0 ? '[]\n' : '\n]\n')
    else if (format === 'yaml' && count === 0) await write('[]\n')
    else if (count === 0 && headers) {
      const text = await formatRows([], SERVICE_COLUMNS, {format, headers, tty: false})
      if (text !== '') await write(text + '\n')
    }
  }
}
