/**
 * Prometheus file_sd from the registry (`roster sd export`): one file per namespace,
 * `<namespace>.json`, holding the namespace's target groups for one scrape server (the shapes
 * of targets.ts, the same bytes http_sd serves). Namespaces whose export is `disabled` get none.
 *
 * Writes are atomic (a temporary file in the directory, fsync, rename, fsync of the directory)
 * and happen only when a file's content changes, so Prometheus' inotify sees a change only when
 * there is one, and an unchanged file keeps its inode and mtime. A file that is replaced keeps
 * its mode, owner and group (as far as the process may set them).
 *
 * What it deletes: only files it wrote. The directory holds a record of them,
 * `.roster-sd-export.files`; a file is removed when its namespace is gone or disabled, is named
 * in that record, and its name is `<valid namespace name>.json`. Files of other tools in the
 * directory are never touched.
 *
 * The lock: `.roster-sd-export.lock`, a lock file (fs/lock-file.ts) that names its holder. A
 * second exporter finds it and exits with ConflictError (exit 6); a lock whose holder is dead is
 * broken. The holder checks before every pass that the lock is still its own and stops (exit 6)
 * if not.
 */
import {open, readFile, readdir, stat, unlink} from 'node:fs/promises'
import {join} from 'node:path'

import {writeFileAtomic} from '../fs/atomic-write.js'
import {LockFile, describeHolder, type LockHolder} from '../fs/lock-file.js'
import {readTextIfExists} from '../fs/read-text.js'
import {checkDirectory} from '../fs/path-check.js'
import {ConflictError, InvalidInputError, NotAllowedError, NotFoundError} from '../errors.js'
import type {Service} from '../registry/model.js'
import type {RegistryClient} from '../registry/registry-client.js'
import {validateName} from '../registry/validation.js'
import type {ChangeTrigger} from '../loop/watch-loop.js'
import {sdConfigOf, serializeTargetGroups, targetGroups} from './targets.js'

export const LOCK_FILE = '.roster-sd-export.lock'
export const RECORD_FILE = '.roster-sd-export.files'
/** `<namespace>.json`, with a namespace name as validateName allows it. */
const NAMESPACE_FILE = /^[A-Za-z0-9_-]{1,63}\.json$/
/** Temporary files: never ending in `.json`, so that a `*.json` file_sd glob never reads one. */
// writeFileAtomic's temporary names (`.NAME.<12 hex>.tmp`), and those of earlier versions (`.NAME.tmp-PID`).
const TEMP_FILE = /^\.([A-Za-z0-9_-]{1,63}\.json|\.roster-sd-export\.files)\.([0-9a-f]{12}\.tmp|tmp-\d+)$/

export interface FileSdResult {
  server: string
  dir: string
  /** Files written in this pass (created or changed), sorted. */
  written: string[]
  /** Files whose content was already right, sorted. */
  unchanged: string[]
  /** Files of gone or disabled namespaces that were removed, sorted. */
  removed: string[]
  /** Files whose owner or group could not be kept (not permitted), sorted. */
  ownershipNotKept: string[]
}

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code
}

function heldBy(dir: string, holder: LockHolder | undefined): ConflictError {
  return new ConflictError(
    `dir "${dir}": another roster sd export holds ${LOCK_FILE} (${describeHolder(holder)}); stop it, or remove the file if none runs`,
    {field: 'dir'},
  )
}

/** The export directory's lock: one exporter per directory. */
export class DirectoryLock {
  private constructor(
    readonly dir: string,
    private readonly lock: LockFile,
  ) {}

  get path(): string {
    return this.lock.path
  }

  /** Takes the directory's lock, breaking a stale one; ConflictError (exit 6) when a live exporter holds it. */
  static async acquire(dir: string): Promise<DirectoryLock> {
    return new DirectoryLock(dir, await LockFile.acquire(join(dir, LOCK_FILE), {held: (holder) => heldBy(dir, holder)}))
  }

  /** Throws ConflictError when the lock file is no longer this exporter's. */
  async verify(): Promise<void> {
    if (!(await this.lock.isHeld())) {
      throw new ConflictError(
        `dir "${this.dir}": ${LOCK_FILE} was removed or taken by another exporter; stopping so that two exporters do not write one directory`,
        {field: 'dir'},
      )
    }
  }

  /** Removes the lock file if it is still this exporter's. */
  async release(): Promise<void> {
    await this.lock.release()
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try {
    await fh.sync()
  } catch {
    // Some file systems refuse fsync on a directory; the rename is still atomic.
  } finally {
    await fh.close()
  }
}

type WriteOutcome = 'written' | 'unchanged' | 'written-ownership-not-kept'

/**
 * Replaces `dir/name` by `content` atomically (writeFileAtomic), only when it differs; a replaced
 * file keeps its mode, and its owner and group when the process may set them.
 */
export async function writeFileIfChanged(dir: string, name: string, content: string): Promise<WriteOutcome> {
  const path = join(dir, name)
  const bytes = Buffer.from(content)
  try {
    const existing = await stat(path)
    if (existing.isFile() && existing.size === bytes.length && (await readFile(path)).equals(bytes)) return 'unchanged'
  } catch (error) {
    if (errno(error) !== 'ENOENT') throw error
  }
  const {ownerKept} = await writeFileAtomic(path, bytes, {mode: 0o644, groupOptional: true})
  return ownerKept ? 'written' : 'written-ownership-not-kept'
}

async function readRecord(dir: string): Promise<string[]> {
  const text = await readTextIfExists(join(dir, RECORD_FILE))
  if (text === undefined) return []
  try {
    const parsed = JSON.parse(text) as {files?: unknown}
    return Array.isArray(parsed.files) ? parsed.files.filter((f): f is string => typeof f === 'string' && NAMESPACE_FILE.test(f)) : []
  } catch {
    return []
  }
}

async function writeRecord(dir: string, files: Iterable<string>): Promise<void> {
  const sorted = [...new Set(files)].sort()
  await writeFileIfChanged(dir, RECORD_FILE, JSON.stringify({files: sorted}, null, 2) + '\n')
}

/** Removes temporary files left by an exporter killed mid-write (only roster's own names; called under the lock). */
export async function removeLeftovers(dir: string): Promise<void> {
  for (const name of await readdir(dir)) if (TEMP_FILE.test(name)) await unlink(join(dir, name)).catch(() => undefined)
}

/** The target-group files of `server`, by file name: `<namespace>.json` → content. */
export async function desiredFiles(registry: RegistryClient, server: string): Promise<Map<string, string>> {
  validateName('server', server)
  if (!(await registry.getServer(server))) throw new NotFoundError(`server "${server}" not found`)
  const namespaces = await registry.listNamespaces()
  const byNamespace = new Map<string, Service[]>()
  // Server names are letters, digits, "_" and "-": safe in the anchored expression as they are.
  for await (const s of registry.listServices({server: `^${server}$`})) {
    const list = byNamespace.get(s.namespace)
    if (list) list.push(s)
    else byNamespace.set(s.namespace, [s])
  }
  const files = new Map<string, string>()
  for (const ns of [...namespaces].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const config = sdConfigOf(ns.export)
    if (config === 'disabled') continue
    const groups = targetGroups(byNamespace.get(ns.name) ?? [], {server, namespace: ns.name, config})
    files.set(`${ns.name}.json`, serializeTargetGroups(groups))
  }
  return files
}

/** One pass: reads the registry, writes the changed files, removes the files of gone namespaces. */
export async function exportFileSd(registry: RegistryClient, o: {server: string; dir: string; lock: DirectoryLock}): Promise<FileSdResult> {
  const files = await desiredFiles(registry, o.server)
  await o.lock.verify()
  const result: FileSdResult = {server: o.server, dir: o.dir, written: [], unchanged: [], removed: [], ownershipNotKept: []}
  const recorded = await readRecord(o.dir)
  // Record first, so that a file written by a pass that dies half-way is still known to be ours.
  await writeRecord(o.dir, [...recorded, ...files.keys()])
  for (const [name, content] of files) {
    const outcome = await writeFileIfChanged(o.dir, name, content)
    if (outcome === 'unchanged') result.unchanged.push(name)
    else result.written.push(name)
    if (outcome === 'written-ownership-not-kept') result.ownershipNotKept.push(name)
  }
  for (const name of recorded) {
    if (files.has(name) || !NAMESPACE_FILE.test(name)) continue
    try {
      await unlink(join(o.dir, name))
      result.removed.push(name)
    } catch (error) {
      if (errno(error) !== 'ENOENT') throw error
    }
  }
  await writeRecord(o.dir, files.keys())
  if (result.removed.length > 0) await syncDir(o.dir)
  result.removed.sort()
  return result
}

export interface FileSdLoopOptions {
  registry: RegistryClient
  server: string
  dir: string
  /** Undefined: one pass. */
  intervalMs?: number
  signal?: AbortSignal
  onResult(result: FileSdResult): void
  /** A failed pass in loop mode (the loop goes on); lock loss, bad input, a refused token and an unknown server at the first pass end it. */
  onError(error: unknown): void
  /** Watch mode: these start passes, at most every minIntervalMs (default 1 s); intervalMs is then the max interval. */
  triggers?: ChangeTrigger[]
  minIntervalMs?: number
}

/** Lock lost, bad input, a refused token, or an unknown server at start: retrying cannot help. */
function isFatalExportError(error: unknown, passes: number): boolean {
  const fatal = error instanceof ConflictError || error instanceof InvalidInputError || error instanceof NotAllowedError
  return fatal || (passes === 0 && error instanceof NotFoundError)
}

/**
 * Takes the lock, then runs one pass (`intervalMs` undefined: errors are thrown) or passes every
 * `intervalMs` until `signal` aborts (a pass in progress finishes first). Returns the number of passes.
 */
export async function runFileSdExport(o: FileSdLoopOptions): Promise<number> {
  // A directory this user may write, checked before the lock is taken in it (path-check.ts).
  checkDirectory(o.dir, {field: 'dir', access: 'write'})
  const lock = await DirectoryLock.acquire(o.dir)
  try {
    await removeLeftovers(o.dir)
    if (o.intervalMs === undefined) {
      o.onResult(await exportFileSd(o.registry, {server: o.server, dir: o.dir, lock}))
      return 1
    }
    let passes = 0
    if (o.triggers) {
      // Event-driven: registry changes start passes through the bounded-frequency runner.
      const {runWatchLoop} = await import('../loop/watch-loop.js')
      let attempted = 0
      await runWatchLoop(
        async () => {
          try {
            o.onResult(await exportFileSd(o.registry, {server: o.server, dir: o.dir, lock}))
            passes++
          } finally {
            attempted++
          }
        },
        {
          minIntervalMs: Math.min(o.minIntervalMs ?? 1000, o.intervalMs),
          maxIntervalMs: o.intervalMs,
          signal: o.signal ?? new AbortController().signal,
          triggers: o.triggers,
          onError: (error) => o.onError(error),
          isFatal: (error) => isFatalExportError(error, attempted - 1),
        },
      )
      return passes
    }
    while (!o.signal?.aborted) {
      try {
        o.onResult(await exportFileSd(o.registry, {server: o.server, dir: o.dir, lock}))
      } catch (error) {
        if (isFatalExportError(error, passes)) throw error
        o.onError(error)
      }
      passes++
      if (o.signal?.aborted) break
      await sleep(o.intervalMs, o.signal)
    }
    return passes
  } finally {
    await lock.release()
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms)
    function done(): void {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, {once: true})
  })
}
