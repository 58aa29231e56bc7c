import {Flags} from '@oclif/core'

import {RosterCommand, etcdFlagsFor, outputFlags, storeFlags} from '../../command/base-command.js'
import {holdsNoKey, registryFileToCreate, removeRegistryFile} from '../../command/registry-file.js'
import {withReplaceHint} from '../../command/restore-conflicts.js'
import {InvalidInputError, RosterError} from '../../lib/errors.js'
import {RECORD_KINDS, type RecordKind, kindLabel} from '../../lib/registry/backup/format.js'
import type {MigrateResult} from '../../lib/registry/backup/migrate.js'
import {ETCD_OPTIONS, storeOptionsFromFlags} from '../../command/registry-flags.js'
import {describeRegistry, isRemoteRegistry, normalizeEtcdPrefix, parseRegistry} from '../../lib/store/open-store.js'

export default class RegistryMigrate extends RosterCommand<typeof RegistryMigrate> {
  static override description = `Move the registry to another store (sqlite: to etcd://, or between etcd clusters): a backup with the token signing key, so machine tokens keep working, restored into --to as it is read, then compared with the source object by object; prints the counts of both.
The source (--registry) is read at one revision and never written; writes made to it meanwhile are not moved (stop them first, or migrate again with --replace). --to must be empty unless --replace. The etcd options of --to are the --to-etcd-* flags.
To switch a fleet over: migrate, point roster serve (and every command's --registry) at the new registry, check, then retire the old file.`

  static override examples = [
    '<%= config.bin %> registry migrate --to etcd://10.0.0.5:2379,10.0.0.6:2379',
    '<%= config.bin %> registry migrate --registry sqlite:/var/lib/roster/registry.db --to etcds://etcd.example.com:2379 --to-etcd-ca ca.pem',
  ]

  static override flags = {
    ...outputFlags(['table', 'json', 'yaml', 'csv'] as const),
    to: Flags.string({description: 'The registry to move to: sqlite:PATH or etcd://HOST:PORT[,HOST:PORT...].', required: true}),
    replace: Flags.boolean({
      description: 'Move into a registry that is not empty (or holds an interrupted move), replacing what it holds.',
    }),
    ...storeFlags,
    ...etcdFlagsFor('to-', 'of --to'),
  }

  static readOnly = true

  async run(): Promise<MigrateResult> {
    const {openStore} = await import('../../lib/store/open-store.js')
    const f = this.flags as Record<string, unknown>
    const targetFlags: Record<string, unknown> = {registry: this.flags.to}
    for (const name of Object.keys(ETCD_OPTIONS)) targetFlags[name] = f[`to-${name}`]
    const targetOptions = asTarget(() => storeOptionsFromFlags(targetFlags, this.timeoutMs))
    for (const [name, value] of [
      ['--registry', this.flags.registry],
      ['--to', this.flags.to],
    ] as const) {
      if (isRemoteRegistry(value)) {
        throw new InvalidInputError(
          `${name} ${value}: a migration reads and writes the stores themselves; give sqlite:PATH or etcd://HOST:PORT`,
          {
            field: name === '--to' ? 'to' : 'registry',
          },
        )
      }
    }
    if (sameStore(this.flags.registry, this.flags['etcd-prefix'], this.flags.to, this.flags['to-etcd-prefix'])) {
      throw new InvalidInputError(`--to ${describeRegistry(targetOptions)}: is the registry it moves from; name another`, {field: 'to'})
    }
    const source = await this.openStore()
    const newFile = registryFileToCreate(this.flags.to)
    const target = await asTarget(() => openStore(targetOptions))
    // An etcd client connects and authenticates on its first request: make that request here, so
    // that a refusal or an unreachable target is reported as the target's, not during the move.
    await asTarget(() => holdsNoKey(target)).catch(async (error: unknown) => {
      await target.close()
      throw error
    })
    let result: MigrateResult
    let failed = true
    try {
      const {migrateRegistry} = await import('../../lib/registry/backup/migrate.js')
      result = await migrateRegistry(source, target, {
        replace: this.flags.replace,
        rosterVersion: this.config.version,
        actor: await this.localActor(),
      }).catch((error: unknown) => {
        throw withReplaceHint(error, 'roster registry migrate')
      })
      failed = false
    } finally {
      // A move that failed before writing anything leaves no new, empty registry file behind.
      const remove = failed && newFile !== undefined && (await holdsNoKey(target).catch(() => false))
      await target.close()
      if (remove) removeRegistryFile(newFile)
    }
    if (!this.jsonEnabled()) {
      const {migrateSummary} = await import('../../lib/registry/backup/summaries.js')
      this.logToStderr(migrateSummary(result))
    }
    const rows = RECORD_KINDS.map((kind) => ({kind, source: result.counts.source[kind], target: result.counts.target[kind]}))
    await this.printRows(
      rows,
      [
        {header: 'KIND', get: (r: {kind: RecordKind}) => kindLabel(r.kind, 2)},
        {header: 'SOURCE', get: (r: {source: number}) => r.source},
        {header: 'TARGET', get: (r: {target: number}) => r.target},
      ],
      result,
    )
    return result
  }
}

/** Whether two registry values name the same store (the same SQLite file, or the same etcd hosts and key prefix). */
function sameStore(a: string | undefined, aPrefix: string | undefined, b: string | undefined, bPrefix: string | undefined): boolean {
  try {
    const x = parseRegistry(a)
    const y = parseRegistry(b)
    if (x.kind === 'sqlite' && y.kind === 'sqlite') return x.path === y.path && x.path !== ':memory:'
    if (x.kind === 'etcd' && y.kind === 'etcd') {
      return normalizeEtcdPrefix(aPrefix) === normalizeEtcdPrefix(bPrefix) && x.hosts.some((h) => y.hosts.includes(h))
    }
  } catch {
    // A malformed value fails when it is opened, with the message the user needs.
  }
  return false
}

/**
 * The target store is opened with the store's own settings (registry, etcd-ca, ...), which this
 * command takes as --to and --to-etcd-*: an error about one names the setting the user typed.
 */
function asTarget<T>(open: () => T): T {
  const rename = (error: unknown): never => {
    if (!(error instanceof RosterError)) throw error
    const from = error.field !== undefined && (error.field === 'registry' || error.field in ETCD_OPTIONS) ? error.field : undefined
    const toName = (name: string): string => (name === 'registry' ? 'to' : `to-${name}`)
    // The field that starts the message, and the settings it marks (errors.ts setting()), such as
    // the credentials an etcd refusal names, are the target's.
    const renamed = (text: string): string =>
      (from !== undefined && text.startsWith(`${from} `) ? toName(from) + text.slice(from.length) : text).replace(
        /\u{E000}(registry|etcd-[a-z]+)\u{E001}/gu,
        (_marked, name: string) => `\u{E000}${toName(name)}\u{E001}`,
      )
    const e = error as {field?: string; message: string; template?: string}
    if (from !== undefined) e.field = toName(from)
    e.message = renamed(e.message)
    if (e.template !== undefined) e.template = renamed(e.template)
    throw error
  }
  try {
    const result = open()
    return (result instanceof Promise ? result.catch(rename) : result) as T
  } catch (error) {
    return rename(error)
  }
}
