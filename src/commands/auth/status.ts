import {RosterCommand} from '../../command/base-command.js'
import {ExitCode} from '../../lib/errors.js'
import type {AuthStatus} from '../../lib/auth/login.js'
import {loginRegistryFlag, remoteRegistryFlag} from '../login.js'

export default class AuthStatusCommand extends RosterCommand<typeof AuthStatusCommand> {
  static override description =
    'Show the stored login for a registry: who, roles, the identity provider, when the token expires and where the login is stored. Never the token. Exits 4 when not logged in.'

  static override examples = ['<%= config.bin %> auth status --registry https://roster.example.com']

  static skipStoredLogin = true

  static override flags = {
    registry: loginRegistryFlag,
  }

  async run(): Promise<AuthStatus> {
    const registry = await remoteRegistryFlag(this.flags.registry)
    const {authStatus} = await import('../../lib/auth/login.js')
    const status = await authStatus(registry)
    if (!this.jsonEnabled()) {
      if (!status.loggedIn) {
        // A failure like any other: one line on stderr, exit 4 (set below).
        process.stderr.write(
          `roster: not signed in to ${status.registry}; run roster login --registry ${status.registry}, or give remote commands --token (or ROSTER_TOKEN)\n`,
        )
      } else {
        const who = status.name && status.name !== status.subject ? `${status.name} (${status.subject})` : status.subject
        this.log(
          [
            status.registry,
            `  Logged in as ${who}`,
            `  Roles: ${status.roles?.length ? status.roles.join(', ') : '(none)'}`,
            `  Identity provider: ${status.issuer}`,
            `  Token expires: ${status.expiresAt}${status.expired ? ' (expired' + (status.refreshable ? '; refreshed on next use)' : ')') : ''}`,
            `  Refresh: ${status.refreshable ? 'yes' : 'no'}`,
            `  Stored in: ${status.where}`,
          ].join('\n'),
        )
      }
    }
    if (!status.loggedIn) process.exitCode = ExitCode.notAllowed
    return status
  }
}
