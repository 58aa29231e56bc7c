/**
 * What a path the user named is, when it is not what the command wants, as one line that names the
 * setting, the path and what it is:
 *
 * - exit 2 (InvalidInputError): a directory where a file is wanted (or a file where a directory
 *   is), a FIFO, a socket, a device, a dangling symbolic link, a loop of links, a path with a
 *   file in place of one of its directories, a path or name too long, a missing file;
 * - exit 4 (NotAllowedError): permission denied, and a write to a read-only file system.
 *
 * A FIFO or a device is found with stat(2) before anything opens it: opening a FIFO for reading
 * waits for a writer, and reading /dev/zero never ends. Readers that open the file themselves
 * (input-file.ts) check the descriptor again with fstat(2), so a file swapped in between is
 * caught too.
 *
 * Library code: errors name the setting (`registry`, `kubeconfig`, `dir`); the command layer turns
 * it into the flag the user typed.
 */
import {type Stats, accessSync, constants, lstatSync, readlinkSync, statSync} from 'node:fs'
import {dirname} from 'node:path'

import {InvalidInputError, NotAllowedError, RosterError, shortValue} from '../errors.js'

export type Access = 'read' | 'write'

export interface PathSetting {
  /** The setting or argument that names the path: the error's field. */
  field: string
  /** How the value is shown (default: the path), e.g. `sqlite:PATH` for the registry. */
  shown?: string
}

/** "a directory", "a FIFO (named pipe)"…: what a stat(2) result is, for messages. */
export function fileTypeOf(stats: Stats): string {
  if (stats.isFile()) return 'a file'
  if (stats.isDirectory()) return 'a directory'
  if (stats.isFIFO()) return 'a FIFO (named pipe)'
  if (stats.isSocket()) return 'a socket'
  if (stats.isCharacterDevice()) return 'a character device'
  if (stats.isBlockDevice()) return 'a block device'
  return 'not a regular file'
}

function invalid(path: string, o: PathSetting, reason: string): InvalidInputError {
  return new InvalidInputError(`${o.field} ${shortValue(o.shown ?? path)}: ${reason}`, {field: o.field})
}

function notAllowed(path: string, o: PathSetting, reason: string, cause: unknown): NotAllowedError {
  return new NotAllowedError(`${o.field} ${shortValue(o.shown ?? path)}: ${reason}`, {field: o.field, cause})
}

function who(): string {
  return typeof process.getuid === 'function' ? `user ${process.getuid()}` : 'this user'
}

/**
 * The error a user should see for a failed system call on `path` (ENOENT, EACCES, EROFS…), or the
 * error itself when it is no file-system error. `want` is what the command needs there; `access`
 * what it tried.
 */
export function pathError(
  error: unknown,
  path: string,
  o: PathSetting & {want?: 'file' | 'directory'; access?: Access},
): RosterError | unknown {
  if (error instanceof RosterError) return error
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  const want = o.want ?? 'file'
  const doing = o.access === 'write' ? 'write' : 'read'
  switch (code) {
    case 'ENOENT': {
      const link = danglingLink(path)
      if (link !== undefined) return invalid(path, o, `is a dangling symbolic link (to ${JSON.stringify(link)}, which does not exist)`)
      return invalid(path, o, want === 'directory' ? 'no such directory' : 'no such file')
    }
    case 'ENOTDIR':
      return invalid(path, o, 'one of the directories on its path is a file')
    case 'ELOOP':
      return invalid(path, o, 'is a loop of symbolic links')
    case 'ENAMETOOLONG':
      return invalid(path, o, 'the path is too long (a name over 255 bytes, or a path over 4095)')
    case 'EISDIR':
      return invalid(path, o, `is a directory, not a ${want}`)
    case 'ENXIO':
      return invalid(path, o, `is a device or socket with nothing behind it, not a ${want}`)
    case 'EACCES':
    case 'EPERM':
      return notAllowed(path, o, `permission denied: ${who()} may not ${doing} it or enter a directory on its path`, error)
    case 'EROFS':
      return notAllowed(path, o, `is on a read-only file system; cannot ${doing === 'write' ? 'write' : 'change'} it`, error)
    case undefined:
      return error
    default:
      return invalid(path, o, `cannot ${doing} it (${code})`)
  }
}

/** The target of `path` when it is a symbolic link whose target does not exist. */
function danglingLink(path: string): string | undefined {
  try {
    if (!lstatSync(path).isSymbolicLink()) return undefined
    return readlinkSync(path)
  } catch {
    return undefined
  }
}

/**
 * Checks that `path` is a regular file this user may read (and write, with access 'write').
 * Returns its stat, or undefined when it does not exist and `missingOk` says that is fine (a
 * dangling symbolic link never is). Throws the error pathError describes otherwise.
 */
export function checkFile(path: string, o: PathSetting & {access?: Access; missingOk?: boolean}): Stats | undefined {
  let stats: Stats
  try {
    stats = statSync(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && o.missingOk && danglingLink(path) === undefined) return undefined
    throw pathError(error, path, o)
  }
  checkIsFile(stats, path, o)
  checkAccess(path, o, o.access === 'write' ? constants.R_OK | constants.W_OK : constants.R_OK)
  return stats
}

/** Throws unless `stats` (of `path`) is a regular file's. */
export function checkIsFile(stats: Stats, path: string, o: PathSetting): void {
  if (!stats.isFile()) throw invalid(path, o, `is ${fileTypeOf(stats)}, not a file`)
}

/** Checks that `path` is a directory this user may list (access 'read') or create files in ('write'). */
export function checkDirectory(path: string, o: PathSetting & {access?: Access}): void {
  let stats: Stats
  try {
    stats = statSync(path)
  } catch (error) {
    throw pathError(error, path, {...o, want: 'directory'})
  }
  if (!stats.isDirectory()) throw invalid(path, o, `is ${fileTypeOf(stats)}, not a directory`)
  checkAccess(path, {...o, want: 'directory'}, o.access === 'write' ? constants.W_OK | constants.X_OK : constants.R_OK | constants.X_OK)
}

/**
 * Checks a file that a command writes (and may create): an existing one must be a regular file
 * it may write; a missing one needs a directory it may create files in. Read-only file systems
 * are found here, before any work (access(2) says EROFS even to root).
 */
export function checkWritableFile(path: string, o: PathSetting): void {
  if (checkFile(path, {...o, access: 'write', missingOk: true}) !== undefined) return
  const dir = dirname(path)
  try {
    checkDirectory(dir, {field: o.field, access: 'write'})
  } catch (error) {
    const e = error as RosterError
    // Named as the user gave it: the file, and why its directory cannot hold it.
    const reason = e.message.slice(e.message.indexOf(': ') + 2)
    const where = `cannot create it in ${dir}: ${reason}`
    throw e instanceof NotAllowedError ? notAllowed(path, o, where, error) : invalid(path, o, where)
  }
}

function checkAccess(path: string, o: PathSetting & {want?: 'file' | 'directory'}, mode: number): void {
  try {
    accessSync(path, mode)
  } catch (error) {
    throw pathError(error, path, {...o, access: mode & constants.W_OK ? 'write' : 'read'})
  }
}
