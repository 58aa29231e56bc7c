/**
 * Every file and stream of text roster reads from a path or stdin the user gave (import and record
 * files, config files, kubeconfigs, zone files, token files, PEM certificates and keys, tokens and
 * secrets piped in): the path is checked (path-check.ts: a directory, a FIFO, a device, a dangling
 * link… is one line naming it, never a hang or a stack), the size is bounded, and the bytes must be
 * UTF-8 (an invalid byte is refused with its offset, never read as U+FFFD). A UTF-8 byte-order
 * mark is dropped.
 *
 * A file is opened with O_NONBLOCK, so that a FIFO put in its place after the check does not block
 * the open, and the descriptor is checked with fstat(2) before anything is read from it.
 */
import {type Stats, closeSync, constants, fstatSync, openSync, readSync} from 'node:fs'

import {InvalidInputError, RosterError, TooLargeError, shortValue} from '../errors.js'
import {MAX_INPUT_FILE_BYTES, decodeUtf8} from '../text/input-limits.js'
import {type PathSetting, checkFile, checkIsFile, pathError} from './path-check.js'

export interface InputFileOptions extends PathSetting {
  /** Larger files are refused (TooLargeError, exit 2). Default MAX_INPUT_FILE_BYTES. */
  maxBytes?: number
  /** The error for a file that does not exist, when it is not "no such file" (exit 2). */
  missing?: (path: string) => RosterError
}

/**
 * A regular file opened for reading, as the header says: the path checked, opened with O_NONBLOCK,
 * the descriptor checked with fstat(2). The caller closes the descriptor.
 */
export function openInputFile(path: string, o: PathSetting & {missing?: (path: string) => RosterError}): {fd: number; stats: Stats} {
  if (checkFile(path, {...o, missingOk: o.missing !== undefined}) === undefined) throw o.missing!(path)
  let fd: number
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY)
  } catch (error) {
    throw pathError(error, path, o)
  }
  try {
    const stats = fstatSync(fd)
    checkIsFile(stats, path, o)
    return {fd, stats}
  } catch (error) {
    closeSync(fd)
    throw error instanceof RosterError ? error : pathError(error, path, o)
  }
}

/** The bytes of a regular file, checked as the header says (no UTF-8 check: see readInputFileSync). */
function readInputBytesSync(path: string, o: InputFileOptions): Buffer {
  const maxBytes = o.maxBytes ?? MAX_INPUT_FILE_BYTES
  const {fd, stats} = openInputFile(path, o)
  try {
    if (stats.size > maxBytes) throw tooLarge(o, path, stats.size, maxBytes)
    const chunks: Buffer[] = []
    let size = 0
    for (;;) {
      // The size stat gives, and one byte more to see the end; files that say 0 (/proc) are read in 64 KiB steps.
      const chunk = Buffer.allocUnsafe(Math.min(Math.max(stats.size - size + 1, 64 * 1024), 1024 * 1024, maxBytes - size + 1))
      const n = readSync(fd, chunk, 0, chunk.length, null)
      if (n === 0) break
      size += n
      // A file that grows while it is read is held to the same bound.
      if (size > maxBytes) throw tooLarge(o, path, size, maxBytes, 'more than')
      chunks.push(chunk.subarray(0, n))
    }
    return Buffer.concat(chunks, size)
  } catch (error) {
    throw error instanceof RosterError ? error : pathError(error, path, o)
  } finally {
    closeSync(fd)
  }
}

/** A file's text (see the header); errors name the setting and the path. */
export function readInputFileSync(path: string, o: InputFileOptions): string {
  return stripBom(decodeUtf8(readInputBytesSync(path, o), o.field, `${o.field} ${shortValue(o.shown ?? path)}`))
}

/** readInputFileSync for callers that await. */
export async function readInputFile(path: string, o: InputFileOptions): Promise<string> {
  return readInputFileSync(path, o)
}

/** Standard input (or any stream) as text, with the same limits as a file; `label` names it in errors (default `FIELD "-"`). */
export async function readInputStream(
  stream: AsyncIterable<unknown>,
  o: {field: string; label?: string; maxBytes?: number},
): Promise<string> {
  const maxBytes = o.maxBytes ?? MAX_INPUT_FILE_BYTES
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer)
    size += buffer.length
    if (size > maxBytes) throw tooLarge({field: o.field, shown: '-'}, '-', size, maxBytes, 'more than')
    chunks.push(buffer)
  }
  return stripBom(decodeUtf8(Buffer.concat(chunks, size), o.field, o.label ?? `${o.field} "-"`))
}

function tooLarge(o: PathSetting, path: string, size: number, max: number, relation = ''): TooLargeError {
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`
  return new TooLargeError(
    `${o.field} ${shortValue(o.shown ?? path)}: ${relation ? relation + ' ' : ''}${mib(size)}; at most ${mib(max)} is read`,
    {field: o.field},
  )
}

function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
}

/**
 * A PEM file (certificates, keys, CA bundles) as bytes for node:tls: text like any input file,
 * and holding at least one `-----BEGIN` block, so that a DER file or a wrong file is named here
 * rather than by OpenSSL's "no start line" when the first connection is made.
 */
export function readPemFile(path: string, o: InputFileOptions): Buffer {
  const text = readInputFileSync(path, o)
  if (!/^-----BEGIN [A-Z0-9 ]+-----/m.test(text)) {
    throw new InvalidInputError(`${o.field} ${shortValue(o.shown ?? path)}: not a PEM file (no -----BEGIN line)`, {field: o.field})
  }
  return Buffer.from(text)
}
