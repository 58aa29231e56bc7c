import {Args, Flags} from '@oclif/core'

import {RosterCommand, registryFlags} from '../../command/base-command.js'
import {ConflictError, NotFoundError} from '../../lib/errors.js'
import type {UnregisterNamespaceResult} from '../../lib/registry/registry.js'
import {count} from '../../lib/registry/summaries.js'

export default class NamespaceUnregister extends RosterCommand<typeof NamespaceUnregister> {
  static override description =
    'Unregister a namespace. One that still has services is refused (exit 6) unless --force, which deletes its services too. The default namespace cannot be unregistered; an unknown one exits 5.'

  static override examples = ['<%= config.bin %> namespace unregister team-a', '<%= config.bin %> namespace unregister team-a --force']

  static override args = {
    name: Args.string({description: 'Namespace name.', required: true}),
  }

  static override flags = {
    force: Flags.boolean({description: 'Also delete the services in the namespace.'}),
    ...registryFlags,
  }

  async run(): Promise<UnregisterNamespaceResult> {
    const registry = await this.registry()
    const result = await registry.unregisterNamespace(this.args.name, this.flags.force).catch(async (error: unknown) => {
      const {NamespaceNotEmptyError} = await import('../../lib/registry/namespaces.js')
      if (NamespaceNotEmptyError.matches(error))
        throw new ConflictError(`${error.message}; unregister them first or use --force to delete them with it`)
      if (error instanceof NotFoundError) throw new NotFoundError(`${error.message} (roster namespace list shows the namespaces)`)
      throw error
    })
    if (!this.jsonEnabled())
      this.log(
        `namespace ${result.namespace} unregistered${result.servicesRemoved ? `, ${count(result.servicesRemoved, 'service')} deleted` : ''}`,
      )
    return result
  }
}
