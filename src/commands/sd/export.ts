import {Flags} from '@oclif/core'

import {RosterCommand, registryFlags} from '../../command/base-command.js'
import {parseDuration, timerMs} from '../../lib/config/duration.js'
import {scrubSecrets} from '../../lib/config/secrets.js'
import {RosterError} from '../../lib/errors.js'
import type {FileSdResult} from '../../lib/sd/file-sd.js'

export default class SdExport extends RosterCommand<typeof SdExport> {
  /** Only reads the registry: opened read-only, never created. */
  static readOnly = true

  static override description = `Write Prometheus file_sd files for one scrape server: DIR/<namespace>.json per namespace (namespaces whose export is disabled get none), the same target groups as http_sd.
Files are replaced atomically and only when their content changes, keep their mode, owner and group, and files of namespaces that are gone or disabled are removed (only files this command wrote, as recorded in DIR/.roster-sd-export.files).
A lock (DIR/.roster-sd-export.lock) keeps a second exporter off the directory: it exits 6. A lock left by a dead exporter on this host is broken.
With --watch, exports when the registry changes (at most every second, at least every --interval). Otherwise, without --once, exports every --interval until SIGTERM or SIGINT (the pass in progress finishes, exit 0), printing a line when files change. Unknown --server: exit 5.`

  static override examples = [
    '<%= config.bin %> sd export --server prom1 --dir /etc/prometheus/file_sd --once',
    '<%= config.bin %> sd export --server prom1 --dir /etc/prometheus/file_sd --interval 1m',
    '<%= config.bin %> sd export --server prom1 --dir ./sd --registry https://roster.example.com:3002 --token "$ROSTER_TOKEN"',
  ]

  static override flags = {
    server: Flags.string({description: 'Scrape server whose targets to write (as registered with `server register`).', required: true}),
    dir: Flags.string({
      description: 'Existing directory for the <namespace>.json files (file_sd_configs files: DIR/*.json).',
      required: true,
    }),
    interval: Flags.string({description: 'Loop mode: export, wait this long (10s, 1m), repeat.', default: '30s'}),
    once: Flags.boolean({description: 'Export once and exit.'}),
    watch: Flags.boolean({
      description:
        'Export when the registry changes (at most every second) and at least every --interval. A remote registry: every --interval only.',
      exclusive: ['once'],
    }),
    ...registryFlags,
  }

  /** --watch: the local registry's store changes start passes (src/lib/loop). */
  private async watchTriggers(): Promise<import('../../lib/loop/watch-loop.js').ChangeTrigger[]> {
    const {isRemoteRegistry} = await import('../../lib/store/open-store.js')
    if (isRemoteRegistry(this.flags.registry)) return []
    const {registryTrigger} = await import('../../lib/loop/watch-loop.js')
    return [registryTrigger(await this.openStore())]
  }

  async run(): Promise<FileSdResult | {passes: number}> {
    const f = this.flags
    // Checked with --once too: a bad interval in a shared config file should not wait for the first loop to show.
    const interval = timerMs(parseDuration(f.interval, 'interval'))
    const intervalMs = f.once ? undefined : interval
    const registry = await this.registry()
    const {runFileSdExport} = await import('../../lib/sd/file-sd.js')
    const {runUntilSignal} = await import('../../lib/loop/run-until-signal.js')
    let last: FileSdResult | undefined
    let first = true
    const triggers = f.watch ? await this.watchTriggers() : undefined
    const passes = await runUntilSignal((signal) =>
      runFileSdExport({
        registry,
        server: f.server,
        dir: f.dir,
        intervalMs,
        triggers,
        signal,
        onResult: (result) => {
          last = result
          for (const name of result.ownershipNotKept)
            this.logToStderr(`roster: warning: ${name}: owner/group of the replaced file could not be kept (not permitted)`)
          const changed = result.written.length > 0 || result.removed.length > 0
          if (intervalMs !== undefined && (first || changed)) {
            if (this.jsonEnabled()) this.log(JSON.stringify(result))
            else this.log(`${new Date().toISOString()} ${summary(result)}`)
          }
          first = false
        },
        onError: (error) => {
          this.nameSettings(error)
          const message = error instanceof Error ? error.message : String(error)
          const code = error instanceof RosterError ? ` (exit ${error.exitCode})` : ''
          this.logToStderr(`roster: ${new Date().toISOString()} export failed${code}: ${scrubSecrets(message, this.secretValues())}`)
        },
      }),
    )
    if (intervalMs !== undefined) return {passes}
    if (!this.jsonEnabled() && last) this.log(summary(last))
    return last as FileSdResult
  }
}

function summary(r: FileSdResult): string {
  const list = (names: string[]) => (names.length > 0 ? ` (${names.join(', ')})` : '')
  return `server ${r.server} → ${r.dir}: ${r.written.length} written${list(r.written)}, ${r.unchanged.length} unchanged, ${r.removed.length} removed${list(r.removed)}`
}
