import {Args, Flags} from '@oclif/core'

import {RosterCommand, registryFlags} from '../../command/base-command.js'
import {withReplaceHint} from '../../command/restore-conflicts.js'
import {InvalidInputError} from '../../lib/errors.js'
import type {BackupResult} from '../../lib/registry/backup/summaries.js'
import {isRemoteRegistry} from '../../lib/store/open-store.js'

export default class RegistryBackup extends RosterCommand<typeof RegistryBackup> {
  static override description = `Write a backup of the whole registry to FILE ("-": standard output), read at one store revision: servers with their labels and state, namespaces with their export, the settings, services with every field (TTLs and assignments included), token records and revocations.
The file is JSON lines: a header (format version, roster version, the source store and its revision, the counts), one line per record, a trailer; every line carries its own checksum, so a damaged or cut file is refused by restore. It is written atomically, mode 0600.
The token signing key only with --include-secrets (then tokens keep working after a restore), and only from a sqlite: or etcd:// registry: roster serve never hands it out. Through an https:// registry it needs an admin token.`

  static override examples = [
    '<%= config.bin %> registry backup registry-$(date +%F).jsonl',
    '<%= config.bin %> registry backup --include-secrets --registry etcd://10.0.0.5:2379 full.jsonl',
    '<%= config.bin %> registry backup - --registry https://roster.example.com:3002 | gzip > backup.jsonl.gz',
  ]

  static override args = {
    file: Args.string({description: 'The file to write; "-" writes to standard output.', required: true}),
  }

  static override flags = {
    'include-secrets': Flags.boolean({
      description:
        'Include the token signing key (a secret: keep the file as safe as the registry), so that tokens verify after a restore.',
    }),
    ...registryFlags,
  }

  static readOnly = true

  async run(): Promise<BackupResult> {
    const file = this.args.file
    if (file === '-' && this.jsonEnabled()) {
      throw new InvalidInputError(
        'file "-": the backup goes to standard output, where --json would print its result too; give a file name',
        {
          field: 'file',
        },
      )
    }
    const remote = isRemoteRegistry(this.flags.registry)
    if (remote && this.flags['include-secrets']) {
      throw new InvalidInputError(
        '--include-secrets: roster serve never hands out the token signing key; back up the store itself (--registry sqlite:PATH or etcd://HOST:PORT) where it runs',
        {field: 'include-secrets'},
      )
    }
    const {checkBackupTarget, saveBackup} = await import('../../lib/registry/backup/backup-files.js')
    // A path that cannot take the file is named before the registry is read.
    if (file !== '-') checkBackupTarget(file)
    const write = async (chunks: AsyncIterable<string | Uint8Array>): Promise<number> =>
      file === '-' ? writeStdout(chunks) : (await saveBackup(file, chunks)).bytes

    let result: BackupResult
    if (remote) {
      const {fetchRemoteBackup} = await import('../../lib/registry/backup/remote-backup.js')
      const {chunks, parser} = await fetchRemoteBackup(this.remoteRegistryOptions())
      const bytes = await write(chunks)
      const header = parser.header!
      result = {
        file,
        source: header.source,
        secrets: header.secrets,
        counts: header.counts,
        records: parser.trailer!.records,
        bytes,
        sha256: parser.trailer!.sha256,
      }
    } else {
      const {takeBackup} = await import('../../lib/registry/backup/write-backup.js')
      const backup = await takeBackup(await this.openStore(), {
        includeSecrets: this.flags['include-secrets'] === true,
        rosterVersion: this.config.version,
      }).catch((error: unknown) => {
        throw withReplaceHint(error)
      })
      let bytes: number
      try {
        bytes = await write(backup.chunks)
      } finally {
        await backup.close()
      }
      const {header} = backup
      result = {
        file,
        source: header.source,
        secrets: header.secrets,
        counts: header.counts,
        records: backup.tally.records,
        bytes,
        sha256: backup.tally.sha256,
      }
      if (backup.signingKeyLeftOut) result.signingKeyLeftOut = true
    }
    if (!this.jsonEnabled()) {
      const {backupSummary} = await import('../../lib/registry/backup/summaries.js')
      this.logToStderr(backupSummary(result))
    }
    return result
  }
}

/** Writes chunks to standard output, waiting for it to drain; returns the bytes written. */
async function writeStdout(chunks: AsyncIterable<string | Uint8Array>): Promise<number> {
  let bytes = 0
  for await (const chunk of chunks) {
    bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length
    if (!process.stdout.write(chunk)) await new Promise((resolve) => process.stdout.once('drain', resolve))
  }
  return bytes
}
