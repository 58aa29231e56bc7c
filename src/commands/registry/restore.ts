import {Args, Flags} from '@oclif/core'

import {RosterCommand, storeFlags} from '../../command/base-command.js'
import {withReplaceHint} from '../../command/restore-conflicts.js'
import {InvalidInputError} from '../../lib/errors.js'
import type {RestoreResult} from '../../lib/registry/backup/restore.js'
import {isRemoteRegistry} from '../../lib/store/open-store.js'

export default class RegistryRestore extends RosterCommand<typeof RegistryRestore> {
  static override description = `Restore a backup (roster registry backup) into an empty registry, all or nothing.
Every line of the file is checked before anything is written: a file that was cut short, damaged, or written by a newer roster exits 2 naming the line, and the registry is left as it was. Services keep their IDs and their servers, so no Prometheus target moves; after writing, the registry is compared with the file record by record.
A registry that is not empty is refused (exit 6) unless --replace, which makes it hold exactly what the file holds. A restore that was interrupted leaves a marker in the registry: restore, backup and migrate refuse it until a restore with --replace finishes.
Tokens issued before the backup verify afterwards only if the file holds the signing key (backup --include-secrets).`

  static override examples = [
    '<%= config.bin %> registry restore registry-2026-05-01.jsonl --registry etcd://10.0.0.5:2379',
    '<%= config.bin %> registry restore --replace registry-2026-05-01.jsonl',
    'gunzip -c backup.jsonl.gz | <%= config.bin %> registry restore -',
  ]

  static override args = {
    file: Args.string({description: 'The backup file; "-" reads standard input.', required: true}),
  }

  static override flags = {
    replace: Flags.boolean({
      description: 'Restore into a registry that is not empty (or holds an interrupted restore), replacing what it holds.',
    }),
    ...storeFlags,
  }

  async run(): Promise<RestoreResult> {
    if (isRemoteRegistry(this.flags.registry)) {
      throw new InvalidInputError(
        `--registry ${this.flags.registry}: a restore writes to the store itself; give sqlite:PATH or etcd://HOST:PORT (roster serve takes no restores)`,
        {field: 'registry'},
      )
    }
    const file = this.args.file
    const {fileChunks, spoolToPrivateFile} = await import('../../lib/registry/backup/backup-files.js')
    const {restoreBackup} = await import('../../lib/registry/backup/restore.js')
    const spooled = file === '-' ? await spoolToPrivateFile(process.stdin, 'stdin') : undefined
    try {
      const path = spooled?.path ?? file
      const store = await this.openStore()
      const result = await restoreBackup(store, () => fileChunks(path), {
        replace: this.flags.replace,
        name: file === '-' ? 'stdin' : file,
        actor: await this.localActor(),
      }).catch((error: unknown) => {
        throw withReplaceHint(error)
      })
      if (!this.jsonEnabled()) {
        const {restoreSummary} = await import('../../lib/registry/backup/summaries.js')
        this.logToStderr(restoreSummary(result))
      }
      return result
    } finally {
      await spooled?.remove()
    }
  }
}
