/**
 * The files of backups: writing one atomically with mode 0600, reading one in chunks, and
 * keeping standard input in a private file (a restore reads its backup three times).
 *
 * A backup is streamed, so it is not read through input-file.ts (which holds a whole file, up to
 * a bound); its path gets the same checks (path-check.ts): a directory, a FIFO, a device or a
 * dangling link is one line naming it (exit 2), a permission or a read-only file system exit 4.
 * Its bytes are checked as UTF-8 line by line as they are parsed (read-backup.ts).
 */
import {createReadStream, createWriteStream} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {pipeline} from 'node:stream/promises'

import {writeFileAtomic} from '../../fs/atomic-write.js'
import {openInputFile} from '../../fs/input-file.js'
import {type PathSetting, checkWritableFile, pathError} from '../../fs/path-check.js'

/** The backup file is the commands' FILE argument. */
const FILE: PathSetting = {field: 'file'}

/** Checks, before a backup is taken, that `path` is a file this user may create or replace. */
export function checkBackupTarget(path: string): void {
  checkWritableFile(path, FILE)
}

/**
 * Writes a backup file atomically with mode 0600, also over an existing file of another mode:
 * the file appears whole, or an existing one is left as it was.
 */
export async function saveBackup(path: string, chunks: AsyncIterable<string | Uint8Array>): Promise<{path: string; bytes: number}> {
  checkBackupTarget(path)
  let bytes = 0
  const counted = (async function* () {
    for await (const chunk of chunks) {
      bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length
      yield chunk
    }
  })()
  try {
    const result = await writeFileAtomic(path, counted, {mode: 0o600, replaceMode: true})
    return {path: result.path, bytes}
  } catch (error) {
    throw pathError(error, path, {...FILE, access: 'write'})
  }
}

/**
 * A file's bytes in chunks of 1 MiB. Opened with O_NONBLOCK and checked with fstat(2), so that a
 * FIFO put in place of the file after the check neither blocks the open nor is read.
 */
export async function* fileChunks(path: string): AsyncGenerator<Buffer> {
  const {fd} = openInputFile(path, FILE)
  const stream = createReadStream('', {fd, highWaterMark: 1024 * 1024})
  try {
    for await (const chunk of stream) yield chunk as Buffer
  } catch (error) {
    throw pathError(error, path, FILE)
  } finally {
    stream.destroy()
  }
}

/** A stream kept in a file only this user may read, removed by `remove()`; `name` names the stream in errors. */
export async function spoolToPrivateFile(
  stream: NodeJS.ReadableStream,
  name: string,
): Promise<{path: string; remove: () => Promise<void>}> {
  const dir = await mkdtemp(join(tmpdir(), 'roster-restore-'))
  const path = join(dir, 'backup.jsonl')
  const remove = () => rm(dir, {recursive: true, force: true})
  try {
    await pipeline(stream, createWriteStream(path, {mode: 0o600}))
  } catch (error) {
    await remove()
    throw pathError(error, name, FILE)
  }
  return {path, remove}
}
