import {Args} from '@oclif/core'

import {RosterCommand, registryFlags} from '../../command/base-command.js'
import {NotFoundError} from '../../lib/errors.js'
import type {UnregisterServerResult} from '../../lib/registry/registry.js'
import {redistributionSummary} from '../../lib/registry/summaries.js'

export default class ServerUnregister extends RosterCommand<typeof ServerUnregister> {
  static override description =
    'Unregister a scrape server: mark it leaving, move its services to the other servers, delete it. An unknown server exits 5; an interrupted unregister (server left "leaving") is finished by running it again.'

  static override examples = ['<%= config.bin %> server unregister prom1']

  static override args = {
    name: Args.string({description: 'Server name.', required: true}),
  }

  static override flags = {...registryFlags}

  async run(): Promise<UnregisterServerResult> {
    const registry = await this.registry()
    const result = await registry.unregisterServer(this.args.name).catch((error: unknown) => {
      throw error instanceof NotFoundError ? new NotFoundError(`${error.message} (roster server list shows the registered servers)`) : error
    })
    if (!this.jsonEnabled()) {
      this.log(`server ${result.server} unregistered`)
      this.logToStderr(redistributionSummary(result))
    }
    return result
  }
}
