/**
 * The backup file format, `roster-backup` version 1: JSON lines, one object a line, each line
 * ending in its own checksum.
 *
 *   line 1     the header: {"format":"roster-backup","version":1,"roster":"0.1.0",
 *              "created":"2026-…Z","source":{"kind":"sqlite","description":"sqlite:/…",
 *              "revision":1234},"secrets":false,"counts":{"revocation":1,…,"service":100000,…},"crc":"…"}
 *   lines 2…   one record each: {"kind":"service","object":{…the service as stored…},"crc":"…"},
 *              in the order of the store keys they restore to (records.ts), so a key appears
 *              once and a restore can walk the file and the registry side by side
 *   last line  the trailer: {"end":true,"records":N,"sha256":"…","crc":"…"}, the SHA-256 of
 *              every byte before it: a file cut at a line boundary lacks it
 *
 * The checksum of a line: `"crc"` is its last field, the CRC-32 (zlib's, as eight lower-case hex
 * digits) of the line's UTF-8 bytes before `,"crc":`. A flipped byte is found in the line that
 * holds it, whichever program wrote the JSON. Any other program can write the format: it is
 * plain JSON with one rule about where the checksum goes.
 *
 * A reader refuses a version newer than it knows (FORMAT_VERSION); a newer roster that changes
 * what a record holds raises the version.
 */
import {crc32} from 'node:zlib'

export const FORMAT_NAME = 'roster-backup'
export const FORMAT_VERSION = 1

/** What a record can be, in the order of the store keys they restore to (records.ts). */
export const RECORD_KINDS = ['revocation', 'signing-key', 'token', 'namespace', 'server', 'service', 'settings'] as const
export type RecordKind = (typeof RECORD_KINDS)[number]
export type KindCounts = Record<RecordKind, number>

export interface BackupHeader {
  format: typeof FORMAT_NAME
  version: number
  /** The version of roster that wrote the file. */
  roster: string
  /** When the backup was taken (RFC 3339). */
  created: string
  /** The store the records were read from, and the one revision they were all read at. */
  source: {kind: StoreKind; description: string; revision: number}
  /** Whether the token signing key is in the file. */
  secrets: boolean
  /** How many records of each kind follow. */
  counts: KindCounts
}

export type StoreKind = 'sqlite' | 'etcd'

export interface BackupTrailer {
  end: true
  /** Record lines between the header and the trailer. */
  records: number
  /** SHA-256 (hex) of every byte of the file before the trailer line. */
  sha256: string
}

const CRC_FIELD = ',"crc":"'
/** `,"crc":"` + eight hex digits + `"}`. */
export const CRC_SUFFIX_BYTES = CRC_FIELD.length + 8 + 2

export function zeroCounts(): KindCounts {
  return Object.fromEntries(RECORD_KINDS.map((kind) => [kind, 0])) as KindCounts
}

export function storeKindOf(description: string): StoreKind {
  return description.startsWith('sqlite:') ? 'sqlite' : 'etcd'
}

function hex8(value: number): string {
  return (value >>> 0).toString(16).padStart(8, '0')
}

/** One line of the file (with its newline): the object's JSON with its checksum as the last field. */
export function encodeLine(value: object): string {
  const json = JSON.stringify(value)
  const body = json.slice(0, -1)
  return `${body}${CRC_FIELD}${hex8(crc32(body))}"}\n`
}

/**
 * Checks a line's checksum (the line's bytes without the newline); returns why it is wrong, or
 * undefined when it is right.
 */
export function lineChecksumProblem(line: Buffer): string | undefined {
  const at = line.length - CRC_SUFFIX_BYTES
  if (at < 1 || line.toString('latin1', at, at + CRC_FIELD.length) !== CRC_FIELD || line[line.length - 1] !== 0x7d) {
    return 'it does not end with its checksum (,"crc":"…"})'
  }
  const written = line.toString('latin1', at + CRC_FIELD.length, line.length - 2)
  if (!/^[0-9a-f]{8}$/.test(written) || line[line.length - 2] !== 0x22) return 'it does not end with its checksum (,"crc":"…"})'
  if (written !== hex8(crc32(line.subarray(0, at))))
    return 'its checksum does not match: the line was changed or damaged after it was written'
  return undefined
}

/** "3 servers, 1 namespace, 100000 services, …": the kinds that occur, for messages. */
export function describeCounts(counts: KindCounts): string {
  const parts: string[] = []
  for (const kind of RECORD_KINDS) {
    const n = counts[kind]
    if (n > 0 || kind === 'service') parts.push(`${n} ${kindLabel(kind, n)}`)
  }
  return parts.join(', ')
}

/** A kind as a message names it: "service", "services", "signing key", "settings record". */
export function kindLabel(kind: RecordKind, n = 1): string {
  const word = kind === 'signing-key' ? 'signing key' : kind === 'settings' ? 'settings record' : kind
  return n === 1 ? word : `${word}s`
}
