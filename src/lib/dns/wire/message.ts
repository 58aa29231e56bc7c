/**
 * A small DNS wire codec (RFC 1035 §4): names, a message writer with name compression, and a
 * message reader that keeps the raw bytes and offsets of every record.
 *
 * Hand-written rather than built on dns-packet because roster needs what dns-packet does not
 * give: UPDATE messages (RFC 2136) with class NONE/ANY records and empty RDATA, the TSIG record
 * (RFC 8945) and the exact byte offsets a MAC is computed over, and a fast parse of AXFR streams
 * with tens of thousands of records.
 */

export const TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  TSIG: 250,
  IXFR: 251,
  AXFR: 252,
  ANY: 255,
  CAA: 257,
} as const

const TYPE_NAMES = new Map<number, string>(Object.entries(TYPE).map(([name, code]) => [code, name]))

/** "A" → 1; "TYPE65534" → 65534; undefined for a name this codec does not know. */
export function typeCode(name: string): number | undefined {
  const upper = name.toUpperCase()
  const known = (TYPE as Record<string, number>)[upper]
  if (known !== undefined) return known
  const generic = /^TYPE(\d{1,5})$/.exec(upper)
  if (generic?.[1] !== undefined) {
    const n = Number(generic[1])
    if (n > 0 && n <= 0xffff) return n
  }
  return undefined
}

/** 1 → "A"; unknown codes in RFC 3597 form, "TYPE65534". */
export function typeName(code: number): string {
  return TYPE_NAMES.get(code) ?? `TYPE${code}`
}

export const CLASS = {IN: 1, NONE: 254, ANY: 255} as const

export const OPCODE = {QUERY: 0, UPDATE: 5} as const

export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  YXDOMAIN: 6,
  YXRRSET: 7,
  NXRRSET: 8,
  NOTAUTH: 9,
  NOTZONE: 10,
} as const

const RCODE_NAMES = new Map<number, string>(Object.entries(RCODE).map(([name, code]) => [code, name]))

export function rcodeName(code: number): string {
  return RCODE_NAMES.get(code) ?? `RCODE${code}`
}

export const HEADER_LENGTH = 12
const FLAG_QR = 0x8000

export class WireFormatError extends Error {
  constructor(message: string) {
    super(`malformed DNS message: ${message}`)
    this.name = 'WireFormatError'
  }
}

// ---------------------------------------------------------------------------------------------
// Names

/**
 * Splits a presentation-format name ("www.example.com", trailing dot optional, `\.` and `\DDD`
 * escapes allowed) into its labels as bytes. "" and "." are the root (no labels).
 */
export function nameToLabels(name: string): Buffer[] {
  const labels: Buffer[] = []
  if (name === '' || name === '.') return labels
  let current: number[] = []
  let total = 1
  for (let i = 0; i < name.length; i++) {
    const ch = name.charCodeAt(i)
    if (ch === 0x2e /* . */) {
      if (current.length === 0) {
        if (i === name.length - 1) break
        throw new WireFormatError(`empty label in name ${JSON.stringify(name)}`)
      }
      labels.push(finishLabel(current, name))
      total += current.length + 1
      current = []
      continue
    }
    if (ch === 0x5c /* \ */) {
      const digits = name.slice(i + 1, i + 4)
      if (/^\d{3}$/.test(digits)) {
        const value = Number(digits)
        if (value > 255) throw new WireFormatError(`bad escape \\${digits} in name ${JSON.stringify(name)}`)
        current.push(value)
        i += 3
      } else if (i + 1 < name.length) {
        current.push(...Buffer.from(name[i + 1] ?? '', 'utf8'))
        i += 1
      } else {
        throw new WireFormatError(`trailing backslash in name ${JSON.stringify(name)}`)
      }
      continue
    }
    if (ch < 0x80) current.push(ch)
    else current.push(...Buffer.from(String.fromCodePoint(name.codePointAt(i) ?? 0), 'utf8'))
    if (ch >= 0xd800 && ch <= 0xdbff) i++ // the low half of a surrogate pair was consumed above
  }
  if (current.length > 0) {
    labels.push(finishLabel(current, name))
    total += current.length + 1
  }
  if (total > 255) throw new WireFormatError(`name longer than 255 octets: ${JSON.stringify(name)}`)
  return labels
}

function finishLabel(bytes: number[], name: string): Buffer {
  if (bytes.length > 63) throw new WireFormatError(`label longer than 63 octets in ${JSON.stringify(name)}`)
  return Buffer.from(bytes)
}

/** Presentation form of one label: printable ASCII as is, `.` and `\` escaped, others `\DDD`. */
export function labelToText(label: Uint8Array): string {
  let out = ''
  for (const b of label) {
    if (b === 0x2e || b === 0x5c || b === 0x22 || b === 0x28 || b === 0x29 || b === 0x3b || b === 0x40 || b === 0x24) {
      out += '\\' + String.fromCharCode(b)
    } else if (b > 0x20 && b < 0x7f) {
      out += String.fromCharCode(b)
    } else {
      out += '\\' + String(b).padStart(3, '0')
    }
  }
  return out
}

/** The uncompressed wire form of a name, lower-cased (RFC 4034 §6.2 canonical form). */
export function canonicalNameWire(name: string): Buffer {
  const labels = nameToLabels(name)
  const parts: Buffer[] = []
  for (const label of labels) {
    const lower = Buffer.from(label)
    for (let i = 0; i < lower.length; i++) {
      const b = lower[i] ?? 0
      if (b >= 0x41 && b <= 0x5a) lower[i] = b + 0x20
    }
    parts.push(Buffer.from([lower.length]), lower)
  }
  parts.push(Buffer.from([0]))
  return Buffer.concat(parts)
}

/** Octets a name takes on the wire without compression. */
export function nameWireLength(name: string): number {
  let n = 1
  for (const label of nameToLabels(name)) n += label.length + 1
  return n
}

// ---------------------------------------------------------------------------------------------
// Writer

/** Builds one DNS message. Names are compressed (RFC 1035 §4.1.4) unless asked otherwise. */
export class WireWriter {
  private buf: Buffer
  private used = 0
  /** Lower-cased presentation suffix → offset of its first occurrence (only offsets < 0x4000). */
  private readonly suffixes = new Map<string, number>()

  constructor(initialSize = 512) {
    this.buf = Buffer.alloc(initialSize)
  }

  get length(): number {
    return this.used
  }

  private ensure(extra: number): void {
    if (this.used + extra <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.used + extra) size *= 2
    const next = Buffer.alloc(size)
    this.buf.copy(next, 0, 0, this.used)
    this.buf = next
  }

  u8(value: number): this {
    this.ensure(1)
    this.buf.writeUInt8(value, this.used)
    this.used += 1
    return this
  }

  u16(value: number): this {
    this.ensure(2)
    this.buf.writeUInt16BE(value, this.used)
    this.used += 2
    return this
  }

  u32(value: number): this {
    this.ensure(4)
    this.buf.writeUInt32BE(value >>> 0, this.used)
    this.used += 4
    return this
  }

  /** 48-bit unsigned (TSIG time signed). */
  u48(value: number): this {
    this.ensure(6)
    this.buf.writeUIntBE(value, this.used, 6)
    this.used += 6
    return this
  }

  bytes(data: Uint8Array): this {
    this.ensure(data.length)
    this.buf.set(data, this.used)
    this.used += data.length
    return this
  }

  /** Overwrites a 16-bit value already written (counts, RDLENGTH). */
  patchU16(offset: number, value: number): void {
    this.buf.writeUInt16BE(value, offset)
  }

  name(name: string, compress = true): this {
    const labels = nameToLabels(name)
    for (let i = 0; i < labels.length; i++) {
      if (compress) {
        const key = labels
          .slice(i)
          .map((l) => labelToText(l).toLowerCase())
          .join('.')
        const pointer = this.suffixes.get(key)
        if (pointer !== undefined) return this.u16(0xc000 | pointer)
        if (this.used < 0x4000) this.suffixes.set(key, this.used)
      }
      const label = labels[i] ?? Buffer.alloc(0)
      this.u8(label.length).bytes(label)
    }
    return this.u8(0)
  }

  /** A copy of the bytes written so far. */
  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.used))
  }
}

export interface Header {
  id: number
  /** The whole flags word; `opcode` and `rcode` are decoded from it. */
  flags: number
  qdcount: number
  ancount: number
  nscount: number
  arcount: number
}

export function writeHeader(w: WireWriter, h: Header): void {
  w.u16(h.id).u16(h.flags).u16(h.qdcount).u16(h.ancount).u16(h.nscount).u16(h.arcount)
}

export function flagsFor(opcode: number, rcode = 0, response = false): number {
  return (response ? FLAG_QR : 0) | ((opcode & 0xf) << 11) | (rcode & 0xf)
}

// ---------------------------------------------------------------------------------------------
// Reader

export interface Question {
  name: string
  type: number
  class: number
}

/** One resource record as it sits in the message: decoded header fields, raw RDATA offsets. */
export interface RawRecord {
  name: string
  type: number
  class: number
  ttl: number
  /** Offset of the first octet of the record (its owner name) in the message. */
  offset: number
  rdataOffset: number
  rdataLength: number
  /** Offset just past the record. */
  end: number
}

export interface ParsedMessage {
  buf: Buffer
  id: number
  flags: number
  isResponse: boolean
  opcode: number
  rcode: number
  questions: Question[]
  answers: RawRecord[]
  authority: RawRecord[]
  additional: RawRecord[]
}

/** Reads a possibly compressed name at `offset`; returns it (lower-cased, no trailing dot) and the offset after it. */
export function readName(buf: Buffer, offset: number): {name: string; next: number} {
  const labels: string[] = []
  let pos = offset
  let next = -1
  let jumps = 0
  let octets = 1
  for (;;) {
    if (pos >= buf.length) throw new WireFormatError('name runs past the end of the message')
    const len = buf[pos] ?? 0
    if (len === 0) {
      if (next < 0) next = pos + 1
      break
    }
    const kind = len & 0xc0
    if (kind === 0xc0) {
      if (pos + 1 >= buf.length) throw new WireFormatError('truncated compression pointer')
      const target = ((len & 0x3f) << 8) | (buf[pos + 1] ?? 0)
      if (next < 0) next = pos + 2
      if (++jumps > 127) throw new WireFormatError('compression pointer loop')
      pos = target
      continue
    }
    if (kind !== 0) throw new WireFormatError(`unsupported label type 0x${len.toString(16)}`)
    if (pos + 1 + len > buf.length) throw new WireFormatError('label runs past the end of the message')
    octets += len + 1
    if (octets > 255) throw new WireFormatError('name longer than 255 octets')
    labels.push(labelToText(buf.subarray(pos + 1, pos + 1 + len)).toLowerCase())
    pos += 1 + len
  }
  return {name: labels.join('.'), next}
}

function readRecords(buf: Buffer, count: number, start: number): {records: RawRecord[]; next: number} {
  const records: RawRecord[] = []
  let pos = start
  for (let i = 0; i < count; i++) {
    const {name, next} = readName(buf, pos)
    if (next + 10 > buf.length) throw new WireFormatError('truncated resource record')
    const type = buf.readUInt16BE(next)
    const klass = buf.readUInt16BE(next + 2)
    const ttl = buf.readUInt32BE(next + 4)
    const rdataLength = buf.readUInt16BE(next + 8)
    const rdataOffset = next + 10
    const end = rdataOffset + rdataLength
    if (end > buf.length) throw new WireFormatError('RDATA runs past the end of the message')
    records.push({name, type, class: klass, ttl, offset: pos, rdataOffset, rdataLength, end})
    pos = end
  }
  return {records, next: pos}
}

export function parseMessage(buf: Buffer): ParsedMessage {
  if (buf.length < HEADER_LENGTH) throw new WireFormatError(`${buf.length} octets, shorter than a header`)
  const id = buf.readUInt16BE(0)
  const flags = buf.readUInt16BE(2)
  const qdcount = buf.readUInt16BE(4)
  const ancount = buf.readUInt16BE(6)
  const nscount = buf.readUInt16BE(8)
  const arcount = buf.readUInt16BE(10)
  let pos = HEADER_LENGTH
  const questions: Question[] = []
  for (let i = 0; i < qdcount; i++) {
    const {name, next} = readName(buf, pos)
    if (next + 4 > buf.length) throw new WireFormatError('truncated question')
    questions.push({name, type: buf.readUInt16BE(next), class: buf.readUInt16BE(next + 2)})
    pos = next + 4
  }
  const an = readRecords(buf, ancount, pos)
  const ns = readRecords(buf, nscount, an.next)
  const ar = readRecords(buf, arcount, ns.next)
  return {
    buf,
    id,
    flags,
    isResponse: (flags & FLAG_QR) !== 0,
    opcode: (flags >> 11) & 0xf,
    rcode: flags & 0xf,
    questions,
    answers: an.records,
    authority: ns.records,
    additional: ar.records,
  }
}
