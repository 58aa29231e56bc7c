/**
 * Reading a backup file and checking all of it: each line's checksum, the header (a format and
 * version this roster reads), every record (records.ts: every field, the order of the keys, so
 * none repeats), the trailer (the count of records, the SHA-256 of everything before it, nothing
 * after it), and the header's counts against the records. Every problem is an InvalidInputError
 * (exit 2) that names the file and the line (and the byte offset of a byte that is not UTF-8).
 *
 * The parser takes the bytes as they come (push), so the same checks run on a file being
 * restored and on a backup arriving from `roster serve` while it is written to disk. It holds
 * one line at a time, at most MAX_LINE_BYTES.
 */
import {createHash} from 'node:crypto'

import {InvalidInputError} from '../../errors.js'
import {invalidUtf8Offset} from '../../text/input-limits.js'
import {unknownKeyMessage} from '../../text/nearest.js'
import {
  type BackupHeader,
  type BackupTrailer,
  FORMAT_NAME,
  FORMAT_VERSION,
  type KindCounts,
  RECORD_KINDS,
  type RecordKind,
  describeCounts,
  kindLabel,
  lineChecksumProblem,
  zeroCounts,
} from './format.js'
import {RecordContext, kindSpec} from './records.js'

/** No line of a backup comes near this (a service is at most some tens of KiB). */
export const MAX_LINE_BYTES = 1024 * 1024

/** Record lines per fingerprint (BackupParser.blocks). */
export const BLOCK_RECORDS = 1024

export interface ParserOptions {
  /**
   * The fingerprints (`blocks`) of a first pass over the same file. With them, a later pass
   * checks each line's checksum, the order of the keys and the trailer, not every field again:
   * the records of a block come out only once its bytes hash as they did in the first pass,
   * which checked every field of those very bytes. A file changed in between is refused.
   */
  trusted?: readonly string[]
}

/** A record as read from a file, checked. */
export interface BackupRecord {
  /** 1-based line of the file. */
  line: number
  kind: RecordKind
  /** The store key it restores to. */
  key: string
  /** The record as stored: the JSON of `object`. */
  value: string
  object: Record<string, unknown>
}

const HEADER_FIELDS = ['format', 'version', 'roster', 'created', 'source', 'secrets', 'counts', 'crc'] as const
const TRAILER_FIELDS = ['end', 'records', 'sha256', 'crc'] as const
const RECORD_FIELDS = ['kind', 'object', 'crc'] as const

export class BackupParser {
  header?: BackupHeader
  trailer?: BackupTrailer
  /** Records read so far, by kind. */
  readonly counts: KindCounts = zeroCounts()
  private lines = 0
  /** Bytes of the file before the line being read. */
  private offset = 0
  private trailerLine = 0
  private pending: Buffer[] = []
  private pendingBytes = 0
  private readonly hash = createHash('sha256')
  private lastKey = ''
  private lastLine = 0
  private readonly context = new RecordContext()
  /** The SHA-256 of each BLOCK_RECORDS record lines (the last block may be shorter), as read so far. */
  readonly blocks: string[] = []
  private block = createHash('sha256')
  private blockRecords = 0
  /** Records of a trusted pass waiting for their block to match. */
  private held: BackupRecord[] = []

  /** `name`: the file as messages name it (a path, "stdin", or where it came from). */
  constructor(
    readonly name: string,
    private readonly options: ParserOptions = {},
  ) {}

  /** The records in the complete lines of `chunk` (the header and trailer are kept, not returned). */
  push(chunk: Buffer): BackupRecord[] {
    const records: BackupRecord[] = []
    let start = 0
    for (;;) {
      const newline = chunk.indexOf(0x0a, start)
      if (newline < 0) break
      const part = chunk.subarray(start, newline)
      const line = this.pending.length === 0 ? part : Buffer.concat([...this.pending, part])
      this.pending = []
      this.pendingBytes = 0
      records.push(...this.readLine(line))
      start = newline + 1
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start)
      this.pendingBytes += rest.length
      if (this.pendingBytes > MAX_LINE_BYTES) throw this.problem(this.lines + 1, `longer than ${MAX_LINE_BYTES} bytes: not a roster backup`)
      // A copy: the caller may reuse its buffer.
      this.pending.push(Buffer.from(rest))
    }
    return records
  }

  /** The end of the file: it must be complete (its trailer), and hold what its header counts. */
  end(): void {
    if (this.trailer && this.pendingBytes > 0) {
      throw this.problem(this.lines + 1, `more follows the trailer on line ${this.trailerLine}: the file was changed after it was written`)
    }
    if (this.pendingBytes > 0) {
      throw this.problem(this.lines + 1, `the file ends inside this line (no newline after ${this.pendingBytes} bytes): it was cut short`)
    }
    if (!this.header) throw new InvalidInputError(`${this.name}: the file is empty: not a roster backup`, {field: 'file'})
    if (!this.trailer) {
      throw new InvalidInputError(
        `${this.name}: the file ends after line ${this.lines} without its last line (the trailer): it was cut short`,
        {field: 'file'},
      )
    }
    for (const kind of RECORD_KINDS) {
      if (this.counts[kind] !== this.header.counts[kind]) {
        throw this.problem(
          1,
          `the header counts ${this.header.counts[kind]} ${kindLabel(kind, this.header.counts[kind])}, the file holds ${this.counts[kind]} (${describeCounts(this.counts)})`,
        )
      }
    }
  }

  private problem(line: number, reason: string): InvalidInputError {
    return new InvalidInputError(`${this.name} line ${line}: ${reason}`, {field: 'file'})
  }

  /** The records a line gives: none (the header, the trailer), its own, or a trusted block's. */
  private readLine(bytes: Buffer): BackupRecord[] {
    const n = ++this.lines
    const start = this.offset
    this.offset += bytes.length + 1
    if (bytes.length > MAX_LINE_BYTES) throw this.problem(n, `longer than ${MAX_LINE_BYTES} bytes: not a roster backup`)
    // Before the checksum and JSON.parse, which would read an invalid byte as U+FFFD.
    const invalid = invalidUtf8Offset(bytes)
    if (invalid !== -1) throw this.problem(n, `invalid UTF-8 at byte ${start + invalid} of the file`)
    if (this.trailer)
      throw this.problem(n, `more follows the trailer on line ${this.trailerLine}: the file was changed after it was written`)
    if (n === 1) {
      this.readHeader(bytes)
      this.hash.update(bytes).update('\n')
      return []
    }
    const checksum = lineChecksumProblem(bytes)
    if (checksum) throw this.problem(n, checksum)
    const value = this.json(n, bytes)
    if ('end' in value) {
      const released = this.blockRecords > 0 ? this.endBlock(n) : []
      if (this.options.trusted && this.options.trusted.length !== this.blocks.length) throw this.changed(n)
      this.readTrailer(n, value)
      return released
    }
    const record = this.readRecord(n, value)
    this.hash.update(bytes).update('\n')
    this.block.update(bytes).update('\n')
    if (!this.options.trusted) {
      if (++this.blockRecords === BLOCK_RECORDS) this.endBlock(n)
      return [record]
    }
    this.held.push(record)
    return ++this.blockRecords === BLOCK_RECORDS ? this.endBlock(n) : []
  }

  /** Closes a block of record lines: its fingerprint, and in a trusted pass its records, once it matches. */
  private endBlock(n: number): BackupRecord[] {
    this.blocks.push(this.block.digest('hex'))
    this.block = createHash('sha256')
    this.blockRecords = 0
    if (!this.options.trusted) return []
    if (this.options.trusted[this.blocks.length - 1] !== this.blocks.at(-1)) throw this.changed(n)
    const released = this.held
    this.held = []
    return released
  }

  private changed(n: number): InvalidInputError {
    return this.problem(n, 'the file changed since it was first read and checked')
  }

  private json(n: number, bytes: Buffer): Record<string, unknown> {
    let value: unknown
    try {
      value = JSON.parse(bytes.toString('utf8'))
    } catch {
      throw this.problem(n, 'not JSON: the line was damaged')
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw this.problem(n, 'not a JSON object')
    return value as Record<string, unknown>
  }

  private readHeader(bytes: Buffer): void {
    let value: Record<string, unknown>
    try {
      value = this.json(1, bytes)
    } catch {
      throw this.problem(1, `not a roster backup (its first line is not the JSON header of a ${FORMAT_NAME} file)`)
    }
    if (value.format !== FORMAT_NAME)
      throw this.problem(1, `not a roster backup (format ${JSON.stringify(value.format ?? null)}, expected "${FORMAT_NAME}")`)
    // A newer version is named before the checksum: a later format may place its checksums otherwise.
    const version = value.version
    if (typeof version === 'number' && version > FORMAT_VERSION) {
      throw this.problem(1, `format version ${version} is newer than this roster reads (${FORMAT_VERSION}): upgrade roster to restore it`)
    }
    const checksum = lineChecksumProblem(bytes)
    if (checksum) throw this.problem(1, checksum)
    if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
      throw this.problem(1, `the format version ${JSON.stringify(version ?? null)} is not a version number`)
    }
    this.strict(1, 'the header', value, HEADER_FIELDS)
    const source = value.source as Record<string, unknown> | null
    if (
      source === null ||
      typeof source !== 'object' ||
      (source.kind !== 'sqlite' && source.kind !== 'etcd') ||
      typeof source.description !== 'string' ||
      !isCount(source.revision) ||
      Object.keys(source).length !== 3
    ) {
      throw this.problem(1, 'the header\'s "source" must be {kind: sqlite|etcd, description, revision}')
    }
    if (typeof value.roster !== 'string' || typeof value.created !== 'string' || typeof value.secrets !== 'boolean') {
      throw this.problem(1, 'the header\'s "roster" and "created" must be strings, "secrets" true or false')
    }
    const counts = value.counts as Record<string, unknown> | null
    if (counts === null || typeof counts !== 'object' || Array.isArray(counts))
      throw this.problem(1, 'the header\'s "counts" must be an object')
    for (const key of Object.keys(counts)) {
      if (!(RECORD_KINDS as readonly string[]).includes(key))
        throw this.problem(1, `the header's counts: ${unknownKeyMessage(key, RECORD_KINDS)}`)
    }
    for (const kind of RECORD_KINDS) {
      if (!isCount(counts[kind])) throw this.problem(1, `the header's count of ${kindLabel(kind, 2)} must be a whole number`)
    }
    if (!value.secrets && counts['signing-key'] !== 0)
      throw this.problem(1, 'the header counts a signing key, but says the file holds no secrets')
    const {crc: _crc, ...header} = value
    this.header = header as unknown as BackupHeader
  }

  private readTrailer(n: number, value: Record<string, unknown>): void {
    this.strict(n, 'the trailer', value, TRAILER_FIELDS)
    const total = RECORD_KINDS.reduce((sum, kind) => sum + this.counts[kind], 0)
    if (value.end !== true || !isCount(value.records) || typeof value.sha256 !== 'string') {
      throw this.problem(n, 'the trailer must be {end: true, records, sha256}')
    }
    if (value.records !== total) {
      throw this.problem(n, `the trailer counts ${value.records} records, ${total} come before it: lines were removed or added`)
    }
    if (value.sha256 !== this.hash.digest('hex')) {
      throw this.problem(n, 'the SHA-256 of the lines before the trailer does not match it: the file was changed after it was written')
    }
    this.trailerLine = n
    this.trailer = {end: true, records: value.records, sha256: value.sha256}
  }

  private readRecord(n: number, value: Record<string, unknown>): BackupRecord {
    this.strict(n, 'a record', value, RECORD_FIELDS)
    const kind = value.kind
    if (typeof kind !== 'string' || !(RECORD_KINDS as readonly string[]).includes(kind)) {
      throw this.problem(n, `unknown kind of record ${JSON.stringify(kind ?? null)} (known kinds: ${RECORD_KINDS.join(', ')})`)
    }
    const spec = kindSpec(kind as RecordKind)
    if (spec.kind === 'signing-key' && !this.header!.secrets)
      throw this.problem(n, 'a signing key, in a file whose header says it holds no secrets')
    const object = value.object as Record<string, unknown>
    let key: string
    try {
      key = this.options.trusted ? spec.keyOf(object) : spec.check(object, this.context)
    } catch (error) {
      throw this.problem(n, `${kindLabel(spec.kind)} record: ${(error as Error).message}`)
    }
    if (key === this.lastKey) throw this.problem(n, `repeats the ${kindLabel(spec.kind)} of line ${this.lastLine} (${key})`)
    if (key < this.lastKey) throw this.problem(n, `out of order: ${key} comes before ${this.lastKey} of line ${this.lastLine}`)
    this.lastKey = key
    this.lastLine = n
    this.counts[spec.kind]++
    return {line: n, kind: spec.kind, key, value: JSON.stringify(object), object}
  }

  private strict(n: number, what: string, value: Record<string, unknown>, known: readonly string[]): void {
    for (const key of Object.keys(value)) {
      if (!known.includes(key))
        throw this.problem(n, `${what}: ${unknownKeyMessage(key.length > 60 ? `${key.slice(0, 60)}…` : key, known)}`)
    }
    for (const key of known) if (!(key in value)) throw this.problem(n, `${what}: field "${key}" is missing`)
  }
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

/** The bytes of a backup, in chunks (text is UTF-8). */
export type BackupBytes = AsyncIterable<Buffer | string> | Iterable<Buffer | string>

/** Every record of a backup, each checked; throws at the first problem, and at the end if the file is incomplete. */
export async function* readBackup(chunks: BackupBytes, parser: BackupParser): AsyncGenerator<BackupRecord> {
  for await (const chunk of chunks) yield* parser.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)
  parser.end()
}

/** Reads and checks a whole backup: its header, its trailer and its fingerprints (ParserOptions). Writes nothing anywhere. */
export async function verifyBackup(
  chunks: BackupBytes,
  name: string,
): Promise<{header: BackupHeader; trailer: BackupTrailer; blocks: string[]}> {
  const parser = new BackupParser(name)
  for await (const record of readBackup(chunks, parser)) void record
  return {header: parser.header!, trailer: parser.trailer!, blocks: parser.blocks}
}

/**
 * The chunks of a backup arriving from elsewhere (roster serve), passed on as they come and
 * checked on the way: a stream that breaks off or was damaged fails before its last chunk is
 * passed on, so a file written from it is never renamed into place.
 */
export async function* verifiedChunks(chunks: AsyncIterable<Buffer>, parser: BackupParser): AsyncGenerator<Buffer> {
  for await (const chunk of chunks) {
    parser.push(chunk)
    yield chunk
  }
  parser.end()
}
