import {RosterCommand} from '../command/base-command.js'
import type {LogoutResult} from '../lib/auth/login.js'
import {loginRegistryFlag, remoteRegistryFlag} from './login.js'

export default class Logout extends RosterCommand<typeof Logout> {
  static override description =
    'Sign out of a roster serve registry: revoke the refresh token at the identity provider (when it has a revocation endpoint), then delete the stored login.'

  static override examples = ['<%= config.bin %> logout --registry https://roster.example.com']

  static skipStoredLogin = true

  static override flags = {
    registry: loginRegistryFlag,
  }

  async run(): Promise<LogoutResult> {
    const registry = await remoteRegistryFlag(this.flags.registry)
    const {logout} = await import('../lib/auth/login.js')
    const result = await logout(registry, this.timeoutMs)
    if (result.warning) process.stderr.write(`roster: warning: ${result.warning}\n`)
    if (!result.loggedOut) this.log(`Not logged in to ${result.registry}.`)
    else this.log(`Logged out of ${result.registry}${result.revoked ? ' (the refresh token is revoked at the identity provider)' : ''}.`)
    return result
  }
}
