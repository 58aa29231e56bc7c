/**
 * TSIG, secret key transaction authentication for DNS (RFC 8945).
 *
 * The TSIG record is the last record of the additional section:
 *   NAME = key name, TYPE = TSIG (250), CLASS = ANY, TTL = 0, RDATA =
 *   algorithm name | time signed (48 bits) | fudge (16) | MAC size (16) | MAC |
 *   original ID (16) | error (16) | other len (16) | other data
 *
 * The MAC is an HMAC over (RFC 8945 §4.3):
 *   - a request, or the first message of a response:
 *       [request MAC size (16) | request MAC]          (responses only)
 *       the message without its TSIG record, with ARCOUNT less one and the original ID
 *       the TSIG variables: key name (canonical wire form) | class ANY | TTL 0 |
 *         algorithm name (canonical wire form) | time signed | fudge | error | other len | other data
 *   - each later message of a multi-message response (AXFR over TCP, §5.3.1):
 *       prior MAC size (16) | prior MAC
 *       every unsigned message since the last signed one, as received
 *       this message without its TSIG record
 *       the TSIG timers: time signed | fudge
 */
import {createHmac, timingSafeEqual} from 'node:crypto'

import {CLASS, HEADER_LENGTH, type ParsedMessage, TYPE, WireWriter, canonicalNameWire, readName} from './message.js'

import type {TsigAlgorithm} from '../options.js'

export type {TsigAlgorithm} from '../options.js'

interface AlgorithmInfo {
  /** The algorithm name carried in the TSIG record. */
  wireName: string
  /** node:crypto's digest name. */
  digest: string
  macLength: number
}

const ALGORITHM_INFO: Readonly<Record<TsigAlgorithm, AlgorithmInfo>> = {
  'hmac-sha256': {wireName: 'hmac-sha256', digest: 'sha256', macLength: 32},
  'hmac-sha512': {wireName: 'hmac-sha512', digest: 'sha512', macLength: 64},
  'hmac-sha384': {wireName: 'hmac-sha384', digest: 'sha384', macLength: 48},
  'hmac-sha224': {wireName: 'hmac-sha224', digest: 'sha224', macLength: 28},
  'hmac-sha1': {wireName: 'hmac-sha1', digest: 'sha1', macLength: 20},
  'hmac-md5': {wireName: 'hmac-md5.sig-alg.reg.int', digest: 'md5', macLength: 16},
}

/** "HMAC-SHA256", "hmac-sha256.", "hmac-md5.sig-alg.reg.int" → the algorithm; undefined if unknown. */
export function parseTsigAlgorithm(text: string): TsigAlgorithm | undefined {
  const t = text.trim().toLowerCase().replace(/\.$/, '')
  for (const [alg, info] of Object.entries(ALGORITHM_INFO) as Array<[TsigAlgorithm, AlgorithmInfo]>) {
    if (t === alg || t === info.wireName) return alg
  }
  return undefined
}

export interface TsigKey {
  /** The key name as configured on the server ("roster-key"); compared case-insensitively. */
  name: string
  algorithm: TsigAlgorithm
  secret: Buffer
}

/** TSIG error codes (RFC 8945 §3). */
export const TSIG_ERROR = {BADSIG: 16, BADKEY: 17, BADTIME: 18, BADMODE: 19, BADNAME: 20, BADALG: 21, BADTRUNC: 22} as const

export function tsigErrorName(code: number): string {
  for (const [name, value] of Object.entries(TSIG_ERROR)) if (value === code) return name
  return code === 0 ? 'NOERROR' : `TSIG error ${code}`
}

export type TsigFailure = 'BADSIG' | 'BADKEY' | 'BADTIME' | 'BADTRUNC' | 'UNSIGNED' | 'FORMERR'

/**
 * A response that failed TSIG: `code` is what went wrong; `reportedByServer` is true when the
 * server itself answered with a TSIG error (it rejected our request's signature or time).
 */
export class TsigError extends Error {
  constructor(
    readonly code: TsigFailure | string,
    message: string,
    readonly reportedByServer = false,
  ) {
    super(message)
    this.name = 'TsigError'
  }
}

export const DEFAULT_FUDGE = 300

export interface TsigRecord {
  keyName: string
  algorithmName: string
  timeSigned: number
  fudge: number
  mac: Buffer
  originalId: number
  error: number
  otherData: Buffer
  /** Offset of the TSIG record in the message. */
  offset: number
}

export interface SignOptions {
  /** Seconds since the epoch; default now. */
  timeSigned?: number
  fudge?: number
  /** For a response: the MAC of the request it answers. */
  requestMac?: Buffer
  error?: number
  otherData?: Buffer
}

function hmac(key: TsigKey): ReturnType<typeof createHmac> {
  return createHmac(ALGORITHM_INFO[key.algorithm].digest, key.secret)
}

function macPrefix(mac: Buffer): Buffer {
  const size = Buffer.alloc(2)
  size.writeUInt16BE(mac.length)
  return Buffer.concat([size, mac])
}

function tsigVariables(
  keyName: string,
  algorithmName: string,
  timeSigned: number,
  fudge: number,
  error: number,
  otherData: Buffer,
): Buffer {
  const w = new WireWriter(128)
  w.bytes(canonicalNameWire(keyName)).u16(CLASS.ANY).u32(0)
  w.bytes(canonicalNameWire(algorithmName)).u48(timeSigned).u16(fudge)
  w.u16(error).u16(otherData.length).bytes(otherData)
  return w.finish()
}

function timers(timeSigned: number, fudge: number): Buffer {
  return new WireWriter(8).u48(timeSigned).u16(fudge).finish()
}

/**
 * Signs a complete message: returns it with a TSIG record appended (ARCOUNT increased) and the
 * MAC, which the caller keeps to verify the response.
 */
export function signMessage(unsigned: Buffer, key: TsigKey, options: SignOptions = {}): {message: Buffer; mac: Buffer} {
  if (unsigned.length < HEADER_LENGTH) throw new TsigError('FORMERR', 'cannot sign a message shorter than a header')
  const timeSigned = options.timeSigned ?? Math.floor(Date.now() / 1000)
  const fudge = options.fudge ?? DEFAULT_FUDGE
  const error = options.error ?? 0
  const otherData = options.otherData ?? Buffer.alloc(0)
  const algorithmName = ALGORITHM_INFO[key.algorithm].wireName
  const h = hmac(key)
  if (options.requestMac) h.update(macPrefix(options.requestMac))
  h.update(unsigned)
  h.update(tsigVariables(key.name, algorithmName, timeSigned, fudge, error, otherData))
  const mac = h.digest()
  return {message: appendTsig(unsigned, key, {timeSigned, fudge, mac, error, otherData}), mac}
}

/** The message with a TSIG record appended and ARCOUNT increased; the original ID is the message's. */
function appendTsig(
  message: Buffer,
  key: TsigKey,
  f: {timeSigned: number; fudge: number; mac: Buffer; error: number; otherData: Buffer},
): Buffer {
  const w = new WireWriter(message.length + 128)
  w.bytes(message)
  w.name(key.name.toLowerCase(), false).u16(TYPE.TSIG).u16(CLASS.ANY).u32(0)
  const rdlengthAt = w.length
  w.u16(0)
  const rdataStart = w.length
  w.name(ALGORITHM_INFO[key.algorithm].wireName, false).u48(f.timeSigned).u16(f.fudge)
  w.u16(f.mac.length).bytes(f.mac)
  w.u16(message.readUInt16BE(0)).u16(f.error).u16(f.otherData.length).bytes(f.otherData)
  w.patchU16(rdlengthAt, w.length - rdataStart)
  const out = w.finish()
  out.writeUInt16BE(message.readUInt16BE(10) + 1, 10)
  return out
}

/**
 * The TSIG record of a parsed message, or undefined when it carries none. A TSIG anywhere but
 * last in the additional section is a format error (RFC 8945 §5.1).
 */
export function readTsig(msg: ParsedMessage): TsigRecord | undefined {
  const all = [...msg.answers, ...msg.authority, ...msg.additional]
  const index = all.findIndex((r) => r.type === TYPE.TSIG)
  if (index < 0) return undefined
  const last = msg.additional[msg.additional.length - 1]
  const rr = all[index]
  if (rr === undefined || rr !== last || index !== all.length - 1) {
    throw new TsigError('FORMERR', 'TSIG record is not the last record of the message')
  }
  const buf = msg.buf
  const end = rr.rdataOffset + rr.rdataLength
  try {
    const alg = readName(buf, rr.rdataOffset)
    let p = alg.next
    const timeSigned = buf.readUIntBE(p, 6)
    const fudge = buf.readUInt16BE(p + 6)
    const macSize = buf.readUInt16BE(p + 8)
    p += 10
    const mac = Buffer.from(buf.subarray(p, p + macSize))
    p += macSize
    const originalId = buf.readUInt16BE(p)
    const error = buf.readUInt16BE(p + 2)
    const otherLen = buf.readUInt16BE(p + 4)
    p += 6
    const otherData = Buffer.from(buf.subarray(p, p + otherLen))
    if (p + otherLen !== end || mac.length !== macSize) throw new RangeError('length mismatch')
    return {keyName: rr.name, algorithmName: alg.name, timeSigned, fudge, mac, originalId, error, otherData, offset: rr.offset}
  } catch {
    throw new TsigError('FORMERR', 'TSIG record RDATA is malformed')
  }
}

/** The message as it was before signing: TSIG record removed, ARCOUNT less one, original ID. */
export function messageWithoutTsig(buf: Buffer, tsig: TsigRecord): Buffer {
  const out = Buffer.from(buf.subarray(0, tsig.offset))
  out.writeUInt16BE(tsig.originalId, 0)
  out.writeUInt16BE(buf.readUInt16BE(10) - 1, 10)
  return out
}

function macMatches(expected: Buffer, received: Buffer, algorithm: TsigAlgorithm): boolean {
  const full = ALGORITHM_INFO[algorithm].macLength
  // RFC 8945 §5.2.2.1: a truncated MAC is at least 10 octets and at least half the full length.
  if (received.length > full || received.length < Math.max(10, Math.ceil(full / 2))) return false
  return timingSafeEqual(expected.subarray(0, received.length), received)
}

/** Verifies a request (server side; used by tests and to check our own signatures). */
export function verifyRequest(msg: ParsedMessage, key: TsigKey, now = Math.floor(Date.now() / 1000)): TsigRecord {
  const tsig = readTsig(msg)
  if (!tsig) throw new TsigError('UNSIGNED', 'message carries no TSIG record')
  checkKey(tsig, key)
  const h = hmac(key)
  h.update(messageWithoutTsig(msg.buf, tsig))
  h.update(tsigVariables(tsig.keyName, tsig.algorithmName, tsig.timeSigned, tsig.fudge, tsig.error, tsig.otherData))
  if (!macMatches(h.digest(), tsig.mac, key.algorithm)) throw new TsigError('BADSIG', 'TSIG MAC does not match the message')
  checkTime(tsig, now)
  return tsig
}

function checkKey(tsig: TsigRecord, key: TsigKey): void {
  if (tsig.keyName !== key.name.toLowerCase().replace(/\.$/, '')) {
    throw new TsigError('BADKEY', `signed with key "${tsig.keyName}", expected "${key.name}"`)
  }
  if (parseTsigAlgorithm(tsig.algorithmName) !== key.algorithm) {
    throw new TsigError('BADKEY', `signed with algorithm "${tsig.algorithmName}", expected "${key.algorithm}"`)
  }
}

function checkTime(tsig: TsigRecord, now: number): void {
  if (Math.abs(now - tsig.timeSigned) > tsig.fudge) {
    throw new TsigError(
      'BADTIME',
      `signed at ${tsig.timeSigned}, ${now - tsig.timeSigned}s from local time, outside the fudge of ${tsig.fudge}s (check the clocks)`,
    )
  }
}

/**
 * Verifies the messages of one response in order: a single answer, or the stream of an AXFR
 * over TCP where each message either carries a TSIG (checked against the prior MAC) or is
 * covered by the next signed one. The first and the last message must be signed, and at most
 * 99 unsigned messages may follow one another (RFC 8945 §5.3.1).
 */
export class TsigResponseVerifier {
  private priorMac: Buffer
  private first = true
  private unsigned: Buffer[] = []
  private readonly now: () => number

  constructor(
    private readonly key: TsigKey,
    requestMac: Buffer,
    options: {now?: () => number} = {},
  ) {
    this.priorMac = requestMac
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000))
  }

  /** Checks one message; throws TsigError when it fails. Returns its TSIG record, if any. */
  verify(msg: ParsedMessage): TsigRecord | undefined {
    const tsig = readTsig(msg)
    if (!tsig) {
      if (this.first) throw new TsigError('UNSIGNED', 'the response is not signed')
      this.unsigned.push(msg.buf)
      if (this.unsigned.length > 99) throw new TsigError('UNSIGNED', 'more than 99 consecutive unsigned messages in the response')
      return undefined
    }
    if (tsig.error !== 0) {
      throw new TsigError(tsigErrorName(tsig.error), `the server rejected the request: ${tsigErrorName(tsig.error)}`, true)
    }
    checkKey(tsig, this.key)
    const h = hmac(this.key)
    h.update(macPrefix(this.priorMac))
    if (this.first) {
      h.update(messageWithoutTsig(msg.buf, tsig))
      h.update(tsigVariables(tsig.keyName, tsig.algorithmName, tsig.timeSigned, tsig.fudge, tsig.error, tsig.otherData))
    } else {
      for (const m of this.unsigned) h.update(m)
      h.update(messageWithoutTsig(msg.buf, tsig))
      h.update(timers(tsig.timeSigned, tsig.fudge))
    }
    if (!macMatches(h.digest(), tsig.mac, this.key.algorithm)) {
      throw new TsigError('BADSIG', 'the response MAC does not match: the message was altered or the secret differs')
    }
    checkTime(tsig, this.now())
    this.priorMac = tsig.mac
    this.unsigned = []
    this.first = false
    return tsig
  }

  /** At the end of a multi-message response: its last message must have been signed. */
  finish(): void {
    if (this.first) throw new TsigError('UNSIGNED', 'the response is not signed')
    if (this.unsigned.length > 0) throw new TsigError('UNSIGNED', 'the last message of the response is not signed')
  }
}

/** Signs the later messages of a multi-message response (server side; for tests). */
export function signSubsequent(
  unsignedMessages: Buffer[],
  current: Buffer,
  key: TsigKey,
  priorMac: Buffer,
  timeSigned: number,
  fudge = DEFAULT_FUDGE,
): {message: Buffer; mac: Buffer} {
  const h = hmac(key)
  h.update(macPrefix(priorMac))
  for (const m of unsignedMessages) h.update(m)
  h.update(current)
  h.update(timers(timeSigned, fudge))
  const mac = h.digest()
  return {message: appendTsig(current, key, {timeSigned, fudge, mac, error: 0, otherData: Buffer.alloc(0)}), mac}
}
