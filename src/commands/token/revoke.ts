import {Args} from '@oclif/core'

import {RosterCommand, registryFlags} from '../../command/base-command.js'

export default class TokenRevoke extends RosterCommand<typeof TokenRevoke> {
  static override description =
    'Revoke every token issued with this id, for good (the id cannot be reused). Every roster serve on the registry refuses it within a second. Idempotent; an id never issued exits 5.'

  static override examples = ['<%= config.bin %> token revoke db1.example.com']

  static override args = {
    id: Args.string({description: 'Token id.', required: true}),
  }

  static override flags = {...registryFlags}

  async run(): Promise<{id: string; revoked: true}> {
    const client = await this.tokenClient()
    const result = await client.revoke(this.args.id)
    this.log(`token ${result.id} revoked`)
    return result
  }
}
