import {Args} from '@oclif/core'

import {RosterCommand, registryFlags} from '../../command/base-command.js'
import {formatInspection} from '../../lib/auth/columns.js'
import type {TokenInspection} from '../../lib/auth/token-client.js'
import {MAX_SECRET_BYTES} from '../../lib/text/input-limits.js'

export default class TokenInfoCommand extends RosterCommand<typeof TokenInfoCommand> {
  /** Only reads the registry: opened read-only, never created. */
  static readOnly = true

  static override description =
    "Show what a token says (id, role, namespaces, issued, expires), whether its signature is the registry's, whether it is revoked, and whether it is accepted now. Works offline on a sqlite: or etcd:// registry; an https:// registry needs an admin token."

  static override examples = ['<%= config.bin %> token info "$TOKEN"', 'echo "$TOKEN" | <%= config.bin %> token info -']

  static override args = {
    jwt: Args.string({description: 'The token, or - to read it from stdin (keeps it out of the process list).', required: true}),
  }

  static override flags = {...registryFlags}

  async run(): Promise<TokenInspection> {
    let jwt = this.args.jwt
    if (jwt === '-') {
      // Checked as every input is: a token with bytes that are not UTF-8 is refused, naming the offset.
      const {readInputStream} = await import('../../lib/fs/input-file.js')
      jwt = await readInputStream(process.stdin, {field: 'jwt', label: 'standard input', maxBytes: MAX_SECRET_BYTES})
    }
    const client = await this.tokenClient()
    const result = await client.inspect(jwt.trim())
    this.log(formatInspection(result))
    return result
  }
}
