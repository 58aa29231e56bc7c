/**
 * Replace a file atomically and keep what other programs rely on: its owner, group and mode.
 *
 * A reader sees the old content or the new, never a mix: the content goes to a temporary file in
 * the same directory (opened 0600, so nobody reads it half-written), is given the original's
 * owner, group and mode (fchown before fchmod: chown clears set-id bits), fsynced, renamed over
 * the original, and the directory is fsynced. A zone file that `named` reads through its group
 * stays readable by `named`; a file_sd file or a config file keeps its permissions.
 *
 * When the path is a symbolic link, the file it points to is replaced and the link kept.
 *
 * Ownership: as root, owner and group are both kept. Otherwise only what the writer may set is
 * possible: the group, when the writer belongs to it (chown(2) forbids giving a file away). A
 * group that cannot be kept is an error and nothing is written, because the file's readers may
 * depend on it; an owner that cannot be kept becomes the writer (`ownerKept: false`).
 */
import {randomBytes} from 'node:crypto'
import {type FileHandle, open, realpath, rename, stat, unlink} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'

import {NotAllowedError} from '../errors.js'

export interface AtomicWriteOptions {
  /** Mode of a file that does not exist yet (default 0o644, less the umask). An existing file keeps its own. */
  mode?: number
  /** The new file gets `mode` even when it replaces one of another mode (a backup is 0600, whatever it replaces). */
  replaceMode?: boolean
  /** A group that cannot be kept is not an error: the writer's group stays and `ownerKept` is false (file_sd files). */
  groupOptional?: boolean
}

export interface AtomicWriteResult {
  /** The file written (the target of a symbolic link). */
  path: string
  /** False when an existing file's owner (or, with `groupOptional`, its group) could not be kept: the writer's is used. */
  ownerKept: boolean
}

/** `content` may be streamed (an AsyncIterable of chunks): a failure while it is read leaves no file and the original as it was. */
export async function writeFileAtomic(
  path: string,
  content: string | Uint8Array | AsyncIterable<string | Uint8Array>,
  options: AtomicWriteOptions = {},
): Promise<AtomicWriteResult> {
  let target = path
  let original: {uid: number; gid: number; mode: number} | undefined
  try {
    target = await realpath(path)
    const s = await stat(target)
    original = {uid: s.uid, gid: s.gid, mode: s.mode & 0o7777}
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  const dir = dirname(target)
  const tmp = join(dir, `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`)
  let ownerKept = true
  const handle = await open(tmp, 'wx', original ? 0o600 : (options.mode ?? 0o644))
  try {
    if (typeof content === 'string' || content instanceof Uint8Array) await handle.writeFile(content)
    // writeFile on a handle writes from its current position, each chunk whole.
    else for await (const chunk of content) await handle.writeFile(chunk)
    if (original) {
      ownerKept = await keepOwnership(handle, original, target, options.groupOptional ?? false)
      await handle.chmod(options.replaceMode ? (options.mode ?? 0o644) : original.mode)
    }
    await handle.sync()
  } catch (error) {
    await handle.close()
    await unlink(tmp).catch(() => undefined)
    throw error
  }
  await handle.close()
  try {
    await rename(tmp, target)
  } catch (error) {
    await unlink(tmp).catch(() => undefined)
    throw error
  }
  await syncDirectory(dir)
  return {path: target, ownerKept}
}

/** Gives the new file the original's owner and group; see the module comment for what a non-root writer gets. */
async function keepOwnership(
  handle: FileHandle,
  original: {uid: number; gid: number},
  path: string,
  groupOptional: boolean,
): Promise<boolean> {
  const mine = await handle.stat()
  if (mine.uid === original.uid && mine.gid === original.gid) return true
  try {
    await handle.chown(original.uid, original.gid)
    return true
  } catch (error) {
    if (!isPermissionError(error)) throw error
  }
  if (mine.gid !== original.gid) {
    try {
      await handle.chown(-1, original.gid)
    } catch (error) {
      if (!isPermissionError(error)) throw error
      if (groupOptional) return false
      throw new NotAllowedError(
        `cannot rewrite "${path}" keeping its group (gid ${original.gid}): this user is not in that group; nothing was written`,
      )
    }
  }
  return mine.uid === original.uid
}

function isPermissionError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code
  return code === 'EPERM' || code === 'EACCES'
}

async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r')
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself is atomic.
  }
}
