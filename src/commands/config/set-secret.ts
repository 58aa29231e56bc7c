import {Args} from '@oclif/core'

import {RosterCommand} from '../../command/base-command.js'
import {KEYCHAIN_SERVICE, assertSecretName, storeSecret} from '../../lib/auth/keychain.js'
import {MAX_SECRET_BYTES} from '../../lib/text/input-limits.js'

export default class ConfigSetSecret extends RosterCommand<typeof ConfigSetSecret> {
  static override description =
    'Store a secret (read from standard input, never from the command line) in the OS keychain, for flags set to "keychain:" (e.g. etcd-password: keychain: in the config file). With no keychain (no Secret Service answering), the secret goes to $XDG_CONFIG_HOME/roster/credentials.json (mode 0600) instead, with a warning, as roster login does.'

  static override examples = [
    'printf %s "$PDNS_KEY" | <%= config.bin %> config set-secret pdns-api-key',
    '<%= config.bin %> dns sync --provider pdns --pdns-api-key keychain: ...',
  ]

  static override args = {
    name: Args.string({description: 'Secret flag name: etcd-password, pdns-api-key, rfc2136-tsig-secret, ...', required: true}),
  }

  async run(): Promise<{service: string; account: string; stored: boolean; store: 'keychain' | 'file'; file?: string}> {
    assertSecretName(this.args.name)
    const {readInputStream} = await import('../../lib/fs/input-file.js')
    const text = await readInputStream(process.stdin, {field: 'name', label: 'standard input', maxBytes: MAX_SECRET_BYTES})
    const value = text.replace(/\r?\n$/, '')
    const stored = await storeSecret(this.args.name, value)
    if (stored.store === 'file') {
      this.logToStderr(
        `roster: warning: no keychain (Secret Service) answered; stored ${this.args.name} in ${stored.file} (mode 0600) instead`,
      )
      return {service: KEYCHAIN_SERVICE, account: this.args.name, stored: true, store: 'file', file: stored.file}
    }
    this.logToStderr(`stored ${this.args.name} in the keychain (service "${KEYCHAIN_SERVICE}")`)
    return {service: KEYCHAIN_SERVICE, account: this.args.name, stored: true, store: 'keychain'}
  }
}
