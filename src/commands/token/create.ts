import {Args, Flags} from '@oclif/core'

import {RosterCommand, registryFlags} from '../../command/base-command.js'
import type {TokenInfo} from '../../lib/auth/tokens.js'

export default class TokenCreate extends RosterCommand<typeof TokenCreate> {
  static override description =
    "Create a machine token (an EdDSA JWT) and print only the token, so that TOKEN=$(roster token create ...) works. With a sqlite: or etcd:// registry the token is signed with the registry's key (made on first use): this is how the first admin token is made. With an https:// registry it needs an admin token."

  static override examples = [
    '<%= config.bin %> token create db1.example.com -n default',
    '<%= config.bin %> token create prom1 --role read -n default,team-a --expires 1y',
    '<%= config.bin %> token create ops-admin --role admin --expires never',
  ]

  static override args = {
    id: Args.string({description: 'Token id (the JWT\'s jti): letters, digits, ".", "_" and "-". Unique; revoke uses it.', required: true}),
  }

  static override flags = {
    namespaces: Flags.string({
      char: 'n',
      description: 'Namespaces the token may use (comma-separated or repeated; "*" = all). Required unless --role admin.',
      multiple: true,
      delimiter: ',',
    }),
    role: Flags.string({
      description:
        'service: register/unregister/list services in its namespaces; read: list and read http_sd in its namespaces; admin: everything.',
      options: ['service', 'read', 'admin'],
      default: 'service',
    }),
    expires: Flags.string({description: 'Lifetime: 12h, 90d, 2w, 1y (at most 10y), or never.', default: '90d'}),
    ...registryFlags,
  }

  async run(): Promise<{token: string; info: TokenInfo}> {
    const client = await this.tokenClient()
    const result = await client.create({
      id: this.args.id,
      role: this.flags.role,
      namespaces: this.flags.namespaces ?? [],
      expiresIn: this.flags.expires,
    })
    this.log(result.token)
    return result
  }
}
