/**
 * RDATA ⇄ endpoint target text, in the conventions of src/lib/dns/endpoint.ts:
 * hosts without trailing dot, TXT as the unquoted text (character-strings joined on read, split
 * into 255-octet strings on write), SRV "priority weight port target", MX "preference host".
 * Types this codec does not know are read and written in RFC 3597 form: `\# LEN HEX`.
 */
import {TYPE, WireFormatError, type WireWriter, readName, typeName} from './message.js'

export class RdataError extends Error {
  constructor(
    readonly recordType: string,
    readonly target: string,
    reason: string,
  ) {
    super(`${recordType} target ${JSON.stringify(target)}: ${reason}`)
    this.name = 'RdataError'
  }
}

// ---------------------------------------------------------------------------------------------
// IP addresses

export function parseIPv4(text: string): Buffer | undefined {
  const parts = text.split('.')
  if (parts.length !== 4) return undefined
  const out = Buffer.alloc(4)
  for (let i = 0; i < 4; i++) {
    const p = parts[i] ?? ''
    if (!/^\d{1,3}$/.test(p) || (p.length > 1 && p.startsWith('0'))) return undefined
    const n = Number(p)
    if (n > 255) return undefined
    out[i] = n
  }
  return out
}

export function parseIPv6(text: string): Buffer | undefined {
  let s = text
  const lastColon = s.lastIndexOf(':')
  if (lastColon < 0) return undefined
  if (s.includes('.')) {
    // An embedded IPv4 address ("::ffff:192.0.2.1") becomes two hex groups.
    const v4 = parseIPv4(s.slice(lastColon + 1))
    if (!v4) return undefined
    s = `${s.slice(0, lastColon + 1)}${v4.readUInt16BE(0).toString(16)}:${v4.readUInt16BE(2).toString(16)}`
  }
  const halves = s.split('::')
  if (halves.length > 2) return undefined
  const parseGroups = (part: string): number[] | undefined => {
    if (part === '') return []
    const groups: number[] = []
    for (const g of part.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined
      groups.push(parseInt(g, 16))
    }
    return groups
  }
  const head = parseGroups(halves[0] ?? '')
  const rest = halves.length === 2 ? parseGroups(halves[1] ?? '') : []
  if (!head || !rest) return undefined
  const given = head.length + rest.length
  let groups: number[]
  if (halves.length === 2) {
    if (given > 7) return undefined
    groups = [...head, ...new Array<number>(8 - given).fill(0), ...rest]
  } else {
    if (given !== 8) return undefined
    groups = head
  }
  const out = Buffer.alloc(16)
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2))
  return out
}

/** RFC 5952 text: lower case, leading zeros dropped, the longest run (≥ 2) of zero groups as "::". */
export function formatIPv6(bytes: Uint8Array): string {
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0))
  let bestStart = -1
  let bestLen = 0
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen) {
      bestStart = i
      bestLen = j - i
    }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (bestLen < 2) return hex.join(':')
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`
}

// ---------------------------------------------------------------------------------------------
// Decode

function readCharacterString(buf: Buffer, pos: number, end: number): {text: Buffer; next: number} {
  const len = buf[pos] ?? 0
  if (pos + 1 + len > end) throw new WireFormatError('character-string runs past its RDATA')
  return {text: buf.subarray(pos + 1, pos + 1 + len), next: pos + 1 + len}
}

/**
 * The endpoint target text of one record's RDATA. `msg` is the whole message (RDATA names may be
 * compressed against it).
 */
export function rdataToText(type: number, msg: Buffer, offset: number, length: number): string {
  const end = offset + length
  const need = (n: number): void => {
    if (length < n) throw new WireFormatError(`${typeName(type)} RDATA of ${length} octets`)
  }
  switch (type) {
    case TYPE.A:
      need(4)
      return `${msg[offset]}.${msg[offset + 1]}.${msg[offset + 2]}.${msg[offset + 3]}`
    case TYPE.AAAA:
      need(16)
      return formatIPv6(msg.subarray(offset, offset + 16))
    case TYPE.CNAME:
    case TYPE.NS:
    case TYPE.PTR:
      return readName(msg, offset).name
    case TYPE.MX:
      need(3)
      return `${msg.readUInt16BE(offset)} ${readName(msg, offset + 2).name}`
    case TYPE.SRV:
      need(7)
      return `${msg.readUInt16BE(offset)} ${msg.readUInt16BE(offset + 2)} ${msg.readUInt16BE(offset + 4)} ${readName(msg, offset + 6).name}`
    case TYPE.TXT: {
      const parts: Buffer[] = []
      let pos = offset
      while (pos < end) {
        const {text, next} = readCharacterString(msg, pos, end)
        parts.push(text)
        pos = next
      }
      return Buffer.concat(parts).toString('utf8')
    }
    case TYPE.SOA: {
      const mname = readName(msg, offset)
      const rname = readName(msg, mname.next)
      const p = rname.next
      const nums = [0, 4, 8, 12, 16].map((k) => msg.readUInt32BE(p + k))
      return `${mname.name} ${rname.name} ${nums.join(' ')}`
    }
    case TYPE.CAA: {
      need(2)
      const flags = msg[offset] ?? 0
      const {text: tag, next} = readCharacterString(msg, offset + 1, end)
      const value = msg.subarray(next, end).toString('utf8')
      return `${flags} ${tag.toString('ascii')} ${JSON.stringify(value)}`
    }
    default:
      return `\\# ${length}${length > 0 ? ' ' + msg.subarray(offset, end).toString('hex') : ''}`
  }
}

// ---------------------------------------------------------------------------------------------
// Encode

function hostOf(type: string, target: string, text: string): string {
  const host = text.trim()
  if (host === '') throw new RdataError(type, target, 'needs a host name')
  return host
}

function integer(type: string, target: string, text: string | undefined, max: number, what: string): number {
  if (text === undefined || !/^\d+$/.test(text) || Number(text) > max) {
    throw new RdataError(type, target, `${what} must be an integer from 0 to ${max}`)
  }
  return Number(text)
}

/**
 * Writes the RDATA of one record (without the RDLENGTH). Throws RdataError for a target that
 * does not fit its type.
 */
export function writeRdata(w: WireWriter, type: number, target: string): void {
  const typeText = typeName(type)
  const generic = /^\\#\s+(\d+)\s*([0-9a-fA-F\s]*)$/.exec(target.trim())
  if (generic) {
    const data = Buffer.from((generic[2] ?? '').replace(/\s+/g, ''), 'hex')
    if (data.length !== Number(generic[1])) throw new RdataError(typeText, target, 'RFC 3597 length does not match the data')
    w.bytes(data)
    return
  }
  switch (type) {
    case TYPE.A: {
      const ip = parseIPv4(target.trim())
      if (!ip) throw new RdataError(typeText, target, 'not an IPv4 address')
      w.bytes(ip)
      return
    }
    case TYPE.AAAA: {
      const ip = parseIPv6(target.trim())
      if (!ip) throw new RdataError(typeText, target, 'not an IPv6 address')
      w.bytes(ip)
      return
    }
    case TYPE.CNAME:
    case TYPE.NS:
    case TYPE.PTR:
      w.name(hostOf(typeText, target, target))
      return
    case TYPE.MX: {
      const [pref, host, ...extra] = target.trim().split(/\s+/)
      if (host === undefined || extra.length > 0) throw new RdataError(typeText, target, 'expected "preference host"')
      w.u16(integer(typeText, target, pref, 0xffff, 'preference'))
      w.name(host)
      return
    }
    case TYPE.SRV: {
      const [prio, weight, port, host, ...extra] = target.trim().split(/\s+/)
      if (host === undefined || extra.length > 0) throw new RdataError(typeText, target, 'expected "priority weight port target"')
      w.u16(integer(typeText, target, prio, 0xffff, 'priority'))
      w.u16(integer(typeText, target, weight, 0xffff, 'weight'))
      w.u16(integer(typeText, target, port, 0xffff, 'port'))
      w.name(host, false) // RFC 2782: the SRV target is never compressed
      return
    }
    case TYPE.TXT: {
      const data = Buffer.from(target, 'utf8')
      if (data.length === 0) {
        w.u8(0)
        return
      }
      for (let i = 0; i < data.length; i += 255) {
        const chunk = data.subarray(i, i + 255)
        w.u8(chunk.length).bytes(chunk)
      }
      return
    }
    case TYPE.CAA: {
      const m = /^(\d+)\s+([A-Za-z0-9]+)\s+(.*)$/.exec(target.trim())
      if (!m) throw new RdataError(typeText, target, 'expected "flags tag value"')
      const tag = Buffer.from(m[2] ?? '', 'ascii')
      let value = m[3] ?? ''
      if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = JSON.parse(value) as string
      w.u8(integer(typeText, target, m[1], 255, 'flags'))
      w.u8(tag.length).bytes(tag)
      w.bytes(Buffer.from(value, 'utf8'))
      return
    }
    default:
      throw new RdataError(typeText, target, 'this record type can only be written in RFC 3597 form ("\\# LEN HEX")')
  }
}

/** An upper bound of the RDATA octets of a target, for batching (names counted uncompressed). */
export function rdataLengthBound(type: number, target: string): number {
  switch (type) {
    case TYPE.A:
      return 4
    case TYPE.AAAA:
      return 16
    case TYPE.TXT: {
      const n = Buffer.byteLength(target, 'utf8')
      return n + Math.max(1, Math.ceil(n / 255))
    }
    default:
      return Buffer.byteLength(target, 'utf8') + 8
  }
}
