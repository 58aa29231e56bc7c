import {Args} from '@oclif/core'

import {RosterCommand} from '../../command/base-command.js'
import {KEYCHAIN_SERVICE, assertSecretName, deleteSecret} from '../../lib/auth/keychain.js'

export default class ConfigDeleteSecret extends RosterCommand<typeof ConfigDeleteSecret> {
  static override description =
    'Remove a secret from the OS keychain (and from the credentials file, where set-secret puts it when there is no keychain). Idempotent: removing an absent secret succeeds.'

  static override examples = ['<%= config.bin %> config delete-secret pdns-api-key']

  static override args = {
    name: Args.string({description: 'Secret flag name.', required: true}),
  }

  async run(): Promise<{service: string; account: string; deleted: boolean}> {
    assertSecretName(this.args.name)
    const deleted = await deleteSecret(this.args.name)
    this.logToStderr(deleted ? `deleted ${this.args.name}` : `${this.args.name} was not stored`)
    return {service: KEYCHAIN_SERVICE, account: this.args.name, deleted}
  }
}
