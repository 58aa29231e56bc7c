/**
 * RFC 1035 master files (zone files): a parser and a writer, for the zonefile provider.
 *
 * Read: `$ORIGIN`, `$TTL`, relative and absolute owner names, `@`, an omitted owner (the previous
 * one), TTL and class in either order (class optional; TTLs in seconds or BIND units 1w2d3h4m5s),
 * parentheses across lines, `;` comments, quoted strings with `\"`, `\\` and `\DDD` escapes and
 * several strings per TXT record. Every type is kept: A, AAAA, CNAME, NS, PTR, MX, SRV, TXT and
 * SOA are understood; other types keep their rdata tokens verbatim (with the origin they were
 * read under, which the writer restores). `$INCLUDE` and `$GENERATE` are refused.
 *
 * Write: one record per line, owners absolute, TTL explicit, class IN; comments are not kept.
 */
import {InvalidInputError} from '../errors.js'
import {normalizeName} from './endpoint.js'

export interface ZoneRecord {
  /** Absolute, lower case, no trailing dot. */
  name: string
  ttl: number
  type: string
  /** Rdata tokens as written in the file (quoted strings keep their quotes and escapes). */
  rdata: string[]
  /** The $ORIGIN in effect where the record was read (absolute, no trailing dot); for relative names in rdata. */
  origin: string
}

export interface ZoneFile {
  origin: string
  /** The $TTL directive's value, when the file had one. */
  defaultTtl?: number
  records: ZoneRecord[]
}

interface Token {
  raw: string
  quoted: boolean
}

interface LogicalLine {
  tokens: Token[]
  /** The line begins with a blank: the owner is omitted. */
  blankOwner: boolean
  line: number
}

const CLASSES = new Set(['IN', 'CH', 'HS', 'CS', 'ANY'])

function fail(file: string, line: number, message: string): InvalidInputError {
  return new InvalidInputError(`${file}:${line}: ${message}`, {field: 'zone-file'})
}

/** Splits the text into logical lines: parentheses joined, comments dropped, quotes kept. */
function tokenize(text: string, file: string): LogicalLine[] {
  const lines: LogicalLine[] = []
  let current: LogicalLine | undefined
  let depth = 0
  let line = 1
  let i = 0
  let atLineStart = true
  const n = text.length
  const finishLine = (): void => {
    if (current !== undefined && current.tokens.length > 0) lines.push(current)
    current = undefined
  }
  while (i < n) {
    const c = text[i] as string
    if (c === '\n') {
      line++
      i++
      if (depth === 0) {
        finishLine()
        atLineStart = true
      }
      continue
    }
    if (atLineStart) {
      current = {tokens: [], blankOwner: c === ' ' || c === '\t', line}
      atLineStart = false
    }
    if (c === ' ' || c === '\t' || c === '\r') {
      i++
      continue
    }
    if (c === ';') {
      while (i < n && text[i] !== '\n') i++
      continue
    }
    if (c === '(') {
      depth++
      i++
      continue
    }
    if (c === ')') {
      if (depth === 0) throw fail(file, line, 'unbalanced ")"')
      depth--
      i++
      continue
    }
    const cur = current as LogicalLine
    if (c === '"') {
      let j = i + 1
      while (j < n && text[j] !== '"') {
        if (text[j] === '\\') j++
        if (text[j] === '\n') line++
        j++
      }
      if (j >= n) throw fail(file, line, 'unterminated quoted string')
      cur.tokens.push({raw: text.slice(i, j + 1), quoted: true})
      i = j + 1
      continue
    }
    let j = i
    while (j < n) {
      const d = text[j] as string
      if (d === ' ' || d === '\t' || d === '\n' || d === '\r' || d === ';' || d === '(' || d === ')' || d === '"') break
      if (d === '\\') j++
      j++
    }
    cur.tokens.push({raw: text.slice(i, j), quoted: false})
    i = j
  }
  if (depth !== 0) throw fail(file, line, 'unbalanced "(" at end of file')
  finishLine()
  return lines
}

/** The bytes of a character-string token (quoted or not), escapes resolved. */
export function characterStringBytes(raw: string): Buffer {
  const body = raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2 ? raw.slice(1, -1) : raw
  const bytes: number[] = []
  const src = Buffer.from(body, 'utf8')
  for (let i = 0; i < src.length; i++) {
    const b = src[i] as number
    if (b === 0x5c && i + 1 < src.length) {
      const d1 = src[i + 1] as number
      if (d1 >= 0x30 && d1 <= 0x39 && i + 3 < src.length && /^[0-9]{3}$/.test(src.subarray(i + 1, i + 4).toString('latin1'))) {
        bytes.push(Number(src.subarray(i + 1, i + 4).toString('latin1')) & 0xff)
        i += 3
        continue
      }
      bytes.push(d1)
      i++
      continue
    }
    bytes.push(b)
  }
  return Buffer.from(bytes)
}

/** One TXT character-string for a zone file: quoted, `"` and `\\` escaped, other non-printable bytes as \\DDD. */
export function quoteCharacterString(bytes: Buffer): string {
  let out = '"'
  for (const b of bytes) {
    if (b === 0x22 || b === 0x5c) out += '\\' + String.fromCharCode(b)
    else if (b < 0x20 || b >= 0x7f) out += '\\' + String(b).padStart(3, '0')
    else out += String.fromCharCode(b)
  }
  return out + '"'
}

/** TXT text → zone-file character strings, split at 255 bytes. */
export function txtToRdata(text: string): string[] {
  const bytes = Buffer.from(text, 'utf8')
  if (bytes.length === 0) return ['""']
  const out: string[] = []
  for (let i = 0; i < bytes.length; i += 255) out.push(quoteCharacterString(bytes.subarray(i, i + 255)))
  return out
}

/** TXT rdata tokens → the text (strings concatenated, as external-dns does). */
export function rdataToTxt(rdata: readonly string[]): string {
  return Buffer.concat(rdata.map(characterStringBytes)).toString('utf8')
}

/** Parses a TTL: seconds, or BIND units (1w2d3h4m5s). */
export function parseTtl(token: string): number | undefined {
  if (/^\d+$/.test(token)) return Number(token)
  if (!/^(\d+[wdhms])+$/i.test(token)) return undefined
  let total = 0
  for (const m of token.toLowerCase().matchAll(/(\d+)([wdhms])/g)) {
    const unit = m[2] === 'w' ? 604800 : m[2] === 'd' ? 86400 : m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : 1
    total += Number(m[1]) * unit
  }
  return total
}

/** A name in the file → absolute, lower case, without the trailing dot. */
export function absoluteName(token: string, origin: string): string {
  if (token === '@') return origin
  if (token.endsWith('.') && !token.endsWith('\\.')) return normalizeName(token)
  const rel = token.toLowerCase()
  return origin === '' ? rel : `${rel}.${origin}`
}

export function parseZoneFile(text: string, options: {origin: string; file?: string}): ZoneFile {
  const file = options.file ?? 'zone file'
  let origin = normalizeName(options.origin)
  const zone: ZoneFile = {origin, records: []}
  let defaultTtl: number | undefined
  let lastTtl: number | undefined
  let lastOwner: string | undefined
  for (const ln of tokenize(text, file)) {
    const first = ln.tokens[0] as Token
    if (!ln.blankOwner && first.raw.startsWith('$')) {
      const directive = first.raw.toUpperCase()
      const arg = ln.tokens[1]?.raw
      if (directive === '$ORIGIN') {
        if (arg === undefined) throw fail(file, ln.line, '$ORIGIN needs a name')
        origin = absoluteName(arg, origin)
        continue
      }
      if (directive === '$TTL') {
        const ttl = arg === undefined ? undefined : parseTtl(arg)
        if (ttl === undefined) throw fail(file, ln.line, `$TTL ${JSON.stringify(arg ?? '')}: not a TTL`)
        defaultTtl = ttl
        if (zone.defaultTtl === undefined) zone.defaultTtl = ttl
        continue
      }
      throw fail(file, ln.line, `${first.raw} is not supported (only $ORIGIN and $TTL)`)
    }
    const tokens = ln.tokens.map((t) => t.raw)
    let k = 0
    let owner: string
    if (ln.blankOwner) {
      if (lastOwner === undefined) throw fail(file, ln.line, 'record without an owner name and no previous owner')
      owner = lastOwner
    } else {
      owner = absoluteName(tokens[0] as string, origin)
      k = 1
    }
    let ttl: number | undefined
    for (let step = 0; step < 2; step++) {
      const tok = tokens[k]
      if (tok === undefined) break
      if (CLASSES.has(tok.toUpperCase())) {
        k++
        continue
      }
      const t = parseTtl(tok)
      if (t !== undefined && ttl === undefined) {
        ttl = t
        k++
        continue
      }
      break
    }
    const type = tokens[k]?.toUpperCase()
    if (type === undefined || !/^[A-Z][A-Z0-9-]*$/.test(type))
      throw fail(file, ln.line, `expected a record type, got ${JSON.stringify(tokens[k] ?? '')}`)
    const rdata = tokens.slice(k + 1)
    if (rdata.length === 0) throw fail(file, ln.line, `${type} record without data`)
    if (type === 'SOA' && rdata.length !== 7) throw fail(file, ln.line, 'SOA needs 7 fields')
    if (type === 'SOA' && defaultTtl === undefined) {
      // RFC 1035 had no $TTL: the SOA minimum was the default.
      defaultTtl = parseTtl(rdata[6] as string)
    }
    const effective = ttl ?? defaultTtl ?? lastTtl
    if (effective === undefined) throw fail(file, ln.line, 'record without a TTL and no $TTL')
    lastTtl = effective
    lastOwner = owner
    zone.records.push({name: owner, ttl: effective, type, rdata, origin})
  }
  return zone
}

/** The rdata fields that hold domain names, by type (RFC 1035 and RFC 2782). */
const NAME_FIELDS: Readonly<Record<string, readonly number[]>> = {CNAME: [0], NS: [0], PTR: [0], MX: [1], SRV: [3], SOA: [0, 1]}

/** The record's rdata with `name` applied to its domain-name fields. */
function mapNames(r: ZoneRecord, name: (text: string) => string): string[] {
  const fields = NAME_FIELDS[r.type] ?? []
  return r.rdata.map((t, i) => (fields.includes(i) ? name(t) : t))
}

/** The target string of a record, in the endpoint conventions (see endpoint.ts). */
export function recordTarget(r: ZoneRecord): string {
  switch (r.type) {
    case 'A':
      return r.rdata[0] ?? ''
    case 'AAAA':
      return (r.rdata[0] ?? '').toLowerCase()
    case 'TXT':
      return rdataToTxt(r.rdata)
    default:
      return mapNames(r, (t) => absoluteName(t, r.origin)).join(' ')
  }
}

/** Rdata tokens for a managed record from an endpoint target. */
export function targetToRdata(type: string, target: string): string[] {
  const fqdn = (name: string): string => (name.endsWith('.') ? name : `${name}.`)
  switch (type) {
    case 'CNAME':
    case 'NS':
    case 'PTR':
      return [fqdn(target)]
    case 'MX': {
      const [pref, host] = target.trim().split(/\s+/)
      return [pref ?? '10', fqdn(host ?? '')]
    }
    case 'SRV': {
      const parts = target.trim().split(/\s+/)
      if (parts.length !== 4) throw InvalidInputError.forField('targets', target, 'an SRV target is "priority weight port host"')
      return [parts[0] as string, parts[1] as string, parts[2] as string, fqdn(parts[3] as string)]
    }
    case 'TXT':
      return txtToRdata(target)
    default:
      return target.trim().split(/\s+/)
  }
}

const KNOWN_NAME_TYPES = new Set(['A', 'AAAA', 'CNAME', 'NS', 'PTR', 'MX', 'SRV', 'TXT', 'SOA'])

/** Rdata written with absolute names for the types we understand; others verbatim. */
function rdataForWrite(r: ZoneRecord): string {
  const rdata = mapNames(r, (t) => `${absoluteName(t, r.origin)}.`)
  return r.type === 'SOA' ? `${rdata[0]} ${rdata[1]} ( ${rdata.slice(2).join(' ')} )` : rdata.join(' ')
}

export function serializeZoneFile(zone: ZoneFile, header?: string): string {
  const lines: string[] = []
  if (header !== undefined) lines.push(...header.split('\n').map((l) => `; ${l}`))
  lines.push(`$ORIGIN ${zone.origin}.`)
  if (zone.defaultTtl !== undefined) lines.push(`$TTL ${zone.defaultTtl}`)
  let origin = zone.origin
  const ordered = [...zone.records.filter((r) => r.type === 'SOA'), ...zone.records.filter((r) => r.type !== 'SOA')]
  for (const r of ordered) {
    if (!KNOWN_NAME_TYPES.has(r.type) && r.origin !== origin) {
      origin = r.origin
      lines.push(`$ORIGIN ${origin === '' ? '' : origin}.`)
    }
    lines.push(`${r.name === '' ? '' : r.name}.\t${r.ttl}\tIN\t${r.type}\t${rdataForWrite(r)}`)
  }
  return lines.join('\n') + '\n'
}

/** The next SOA serial: YYYYMMDDnn when the serial looks like a date, else +1 (RFC 1982 wrap). */
export function nextSerial(serial: number, now: Date = new Date()): number {
  const s = String(serial)
  const today = Number(
    `${now.getUTCFullYear()}${String(now.getUTCMonth() + 1).padStart(2, '0')}${String(now.getUTCDate()).padStart(2, '0')}`,
  )
  if (/^\d{10}$/.test(s)) {
    const year = Number(s.slice(0, 4))
    const month = Number(s.slice(4, 6))
    const day = Number(s.slice(6, 8))
    if (year >= 1990 && year <= 2200 && month >= 1 && month <= 12 && day >= 1 && day <= 31) {
      const floor = today * 100
      return serial < floor ? floor : serial + 1
    }
  }
  const next = serial + 1
  return next > 0xffffffff ? 1 : next
}
