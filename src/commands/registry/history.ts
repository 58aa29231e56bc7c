import {Flags} from '@oclif/core'

import {RosterCommand, outputFlags, registryFlags} from '../../command/base-command.js'

export default class RegistryHistory extends RosterCommand<typeof RegistryHistory> {
  /** Only reads the registry: opened read-only, never created. */
  static readOnly = true

  static override description = `Who changed what in the registry, and when: every write (services, servers, namespaces, settings, tokens) is recorded with its actor (a token's id and role, a person's OIDC subject and e-mail, the local user@host, or kube discover's owner id) and the fields it changed, oldest first. The registry keeps events for --history-retention (registry settings; default 30d).
--since and --until take a duration back from now (1h, 7d) or an RFC 3339 time; without --since, the history starts where the retention does. --actor matches a token id, an OIDC subject or e-mail, user@host or a user. Output is streamed; --json prints what -o json prints (a JSON array of events).
--follow prints the events from --since on (without --since: none of the past) and then each new one as it is written, until Ctrl-C; not with --until.`

  static override examples = [
    '<%= config.bin %> registry history --since 1h',
    '<%= config.bin %> registry history -n team-a --endpoint "db1" -o json',
    '<%= config.bin %> registry history --actor ansible --since 2026-01-01T00:00:00Z --until 2026-01-02T00:00:00Z',
    '<%= config.bin %> registry history --follow',
  ]

  static override flags = {
    ...outputFlags(['table', 'json', 'yaml', 'csv'] as const),
    since: Flags.string({description: 'Only events from then on: a duration back from now (1h, 7d) or an RFC 3339 time.'}),
    until: Flags.string({description: 'Only events before then: a duration back from now or an RFC 3339 time.'}),
    actor: Flags.string({description: 'Only events by this actor: token id, OIDC subject or e-mail, user@host, or user.'}),
    namespace: Flags.string({char: 'n', description: 'Only events of objects in this namespace.'}),
    endpoint: Flags.string({description: 'Regular expression (RE2 syntax) the endpoint of the service must match.'}),
    follow: Flags.boolean({char: 'f', description: 'Keep printing new events as they are written, until Ctrl-C.'}),
    ...registryFlags,
  }

  /** Streams every format, --json included, and returns nothing for oclif to print again. */
  async run(): Promise<void> {
    const f = this.flags
    const filter = {since: f.since, until: f.until, actor: f.actor, namespace: f.namespace, endpoint: f.endpoint}
    const registry = await this.registry()
    const {HISTORY_COLUMNS} = await import('../../lib/registry/history/columns.js')
    if (!f.follow) {
      await this.streamRows(registry.listEvents(filter), HISTORY_COLUMNS)
      return
    }
    const {followedEvents} = await import('../../lib/registry/history/read.js')
    const {runUntilSignal} = await import('../../lib/loop/run-until-signal.js')
    // One row at a time: a follow prints each event as it comes, until SIGINT or SIGTERM.
    await runUntilSignal((signal) =>
      this.streamRows(
        followedEvents((onEvent) => registry.followEvents(filter, onEvent), signal),
        HISTORY_COLUMNS,
        1,
      ),
    )
  }
}
