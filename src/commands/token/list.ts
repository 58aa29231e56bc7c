import {RosterCommand, outputFlags, registryFlags} from '../../command/base-command.js'
import {TOKEN_COLUMNS} from '../../lib/auth/columns.js'
import type {TokenListEntry} from '../../lib/auth/token-client.js'

export default class TokenList extends RosterCommand<typeof TokenList> {
  /** Only reads the registry: opened read-only, never created. */
  static readOnly = true

  static override description = 'List the machine tokens issued (their records, never the tokens), revoked ones included.'

  static override examples = ['<%= config.bin %> token list', '<%= config.bin %> token list -o yaml']

  static override flags = {
    ...outputFlags(['table', 'json', 'yaml', 'csv'] as const),
    ...registryFlags,
  }

  async run(): Promise<TokenListEntry[]> {
    const client = await this.tokenClient()
    const tokens = await client.list()
    await this.printRows(tokens, TOKEN_COLUMNS)
    return tokens
  }
}
