/**
 * The files of backups: writing one atomically with mode 0600, reading one in chunks, and
 * keeping standard input in a private file (a restore reads its backup three times).
 * File-system errors become errors that name the file (exit 2, or 4 when not allowed).
 */
import {createReadStream, createWriteStream} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {pipeline} from 'node:stream/promises'

import {InvalidInputError, NotAllowedError, RosterError} from '../../errors.js'
import {writeFileAtomic} from '../../fs/atomic-write.js'

function fileError(path: string, what: string, error: unknown): RosterError {
  if (error instanceof RosterError) return error
  const code = (error as NodeJS.ErrnoException).code ?? String(error)
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new NotAllowedError(`file ${JSON.stringify(path)}: not allowed to ${what} it (${code})`, {cause: error})
  }
  return new InvalidInputError(`file ${JSON.stringify(path)}: cannot ${what} it (${code})`, {field: 'file', cause: error})
}

/**
 * Writes a backup file atomically with mode 0600, also over an existing file of another mode:
 * the file appears whole, or an existing one is left as it was.
 */
export async function saveBackup(path: string, chunks: AsyncIterable<string | Uint8Array>): Promise<{path: string; bytes: number}> {
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
    throw fileError(path, 'write', error)
  }
}

/** A file's bytes in chunks of 1 MiB. */
export async function* fileChunks(path: string): AsyncGenerator<Buffer> {
  const stream = createReadStream(path, {highWaterMark: 1024 * 1024})
  try {
    for await (const chunk of stream) yield chunk as Buffer
  } catch (error) {
    throw fileError(path, 'read', error)
  } finally {
    stream.destroy()
  }
}

/** A stream kept in a file only this user may read, removed by `remove()`. */
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
    throw fileError(name, 'read', error)
  }
  return {path, remove}
}
