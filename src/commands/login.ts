import {Flags} from '@oclif/core'

import {RosterCommand, registryFlags} from '../command/base-command.js'
import {InvalidInputError} from '../lib/errors.js'
import type {LoginResult} from '../lib/auth/login.js'

/** --registry for login, logout and auth status: a roster serve URL (also ROSTER_REGISTRY or registry: in the config). */
export const loginRegistryFlag = Flags.string({
  description: 'The registry: the https:// URL of a roster serve (http:// on loopback).',
  helpGroup: 'REGISTRY',
})

export default class Login extends RosterCommand<typeof Login> {
  static override description = `Sign in to a roster serve registry with its identity provider (OpenID Connect); the registry's GET /v1/auth/config names the provider, so --registry is all it needs.
On a desktop: authorization code + PKCE in the browser (the URL is always printed; --no-browser only prints it). --device, or no browser (SSH, no DISPLAY): the device flow (open the printed URL on any device and enter the code). --username: the password grant, the password from a no-echo prompt or --password-stdin.
The login is kept per registry in the OS keychain (a Secret Service), else in $XDG_CONFIG_HOME/roster/credentials.json (0600); every remote command then uses it when no --token, ROSTER_TOKEN or config token: is set, refreshing it before it expires.`

  static override examples = [
    '<%= config.bin %> login --registry https://roster.example.com',
    '<%= config.bin %> login --registry https://roster.example.com --device',
    'printf %s "$PASSWORD" | <%= config.bin %> login --registry https://roster.example.com --username alice --password-stdin',
  ]

  /** This command signs in; it does not use a stored login. */
  static skipStoredLogin = true

  static override flags = {
    registry: loginRegistryFlag,
    'registry-ca': registryFlags['registry-ca'],
    'oidc-ca': Flags.string({
      description:
        'CA certificate file (PEM) to trust for the identity provider, when its certificate is not signed by a public CA; kept with the login for its refreshes.',
    }),
    device: Flags.boolean({description: 'Use the device flow: print a URL and a code to enter on any device.'}),
    'no-browser': Flags.boolean({description: 'Print the sign-in URL without opening a browser.'}),
    username: Flags.string({description: 'Sign in with a user name and password (the password grant).'}),
    'password-stdin': Flags.boolean({description: 'Read the password for --username from standard input.', dependsOn: ['username']}),
  }

  async run(): Promise<LoginResult> {
    const registry = await remoteRegistryFlag(this.flags.registry)
    const {login, browserAvailable} = await import('../lib/auth/login.js')
    let password: string | undefined
    if (this.flags.username !== undefined) {
      const prompt = await import('../lib/auth/login-prompt.js')
      password = this.flags['password-stdin']
        ? await prompt.readPasswordStdin()
        : await prompt.promptPassword(`Password for ${this.flags.username}: `)
    }
    const flow =
      this.flags.username !== undefined
        ? 'password'
        : this.flags.device
          ? 'device'
          : this.flags['no-browser'] || browserAvailable()
            ? 'pkce'
            : 'device'
    const result = await login({
      registry,
      registryCa: this.flags['registry-ca'],
      oidcCa: this.flags['oidc-ca'],
      timeoutMs: this.timeoutMs,
      flow,
      openBrowser: !this.flags['no-browser'],
      username: this.flags.username,
      password,
      say: (line) => process.stderr.write(`${line}\n`),
    })
    const who = result.name && result.name !== result.subject ? `${result.name} (${result.subject})` : result.subject
    this.log(`Logged in to ${result.registry} as ${who}${result.roles.length ? `, roles ${result.roles.join(', ')}` : ''}.`)
    if (result.replaced?.revoked) this.log('The previous login for this registry is replaced; its refresh token is revoked.')
    return result
  }
}

/** The --registry value when it is a roster serve URL; exit 2 otherwise. */
export async function remoteRegistryFlag(value: string | undefined): Promise<string> {
  const {isRemoteRegistry} = await import('../lib/store/open-store.js')
  if (!value || !isRemoteRegistry(value)) {
    throw InvalidInputError.forField(
      'registry',
      value ?? '',
      'expected the https:// URL of a roster serve registry (login is for remote registries)',
    )
  }
  return value.trim()
}
