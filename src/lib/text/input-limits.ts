/**
 * Limits every input meets before any work is done on it (issue 10): nesting depth, size, and
 * valid UTF-8. Each check is iterative (a 50,000-deep object must not overflow the stack of the
 * check meant to refuse it) and throws InvalidInputError naming the field (exit 2).
 *
 * - Depth: documents roster reads are shallow (an import entry's labels sit at depth 3); 64
 *   levels leave room and stop the recursive work (parsers, validation, JSON.stringify) that
 *   a deeper value would crash.
 * - UTF-8: files are read as bytes and decoded with a fatal decoder, so an invalid byte is an
 *   error naming its offset, not a U+FFFD stored in the registry. Node decodes argv and the
 *   environment before roster sees them, replacing invalid bytes with U+FFFD: a value holding
 *   U+FFFD is refused for the same reason.
 */
import {readFile, stat} from 'node:fs/promises'

import {InvalidInputError, TooLargeError} from '../errors.js'

export const MAX_NESTING_DEPTH = 64
/** Import and record files: 64 MiB holds several hundred thousand entries. */
export const MAX_INPUT_FILE_BYTES = 64 * 1024 * 1024
export const REPLACEMENT_CHARACTER = '\uFFFD'

/** The depth of a parsed value (a scalar is 0, `{a: 1}` is 1), counted without recursion, up to `limit + 1`. */
export function nestingDepth(value: unknown, limit = MAX_NESTING_DEPTH): number {
  let deepest = 0
  const stack: {value: unknown; depth: number}[] = [{value, depth: 0}]
  while (stack.length > 0) {
    const {value: v, depth} = stack.pop()!
    if (v === null || typeof v !== 'object') continue
    const level = depth + 1
    if (level > deepest) deepest = level
    if (deepest > limit) return deepest
    for (const child of Array.isArray(v) ? v : Object.values(v as Record<string, unknown>)) {
      if (child !== null && typeof child === 'object') stack.push({value: child, depth: level})
    }
  }
  return deepest
}

/** `label` names the input in the message (default: the field), e.g. `file "x.yaml"`. */
export function checkNestingDepth(value: unknown, field: string, label = field, max = MAX_NESTING_DEPTH): void {
  if (nestingDepth(value, max) > max) throw tooDeep(field, label, max)
}

function tooDeep(field: string, label: string, max: number): InvalidInputError {
  return new InvalidInputError(`${label}: nested more than ${max} levels deep; roster's documents are lists of flat entries`, {field})
}

/**
 * The deepest nesting of flow brackets (`[`, `{`) in JSON or YAML text, outside quoted strings,
 * checked before a parser recurses into it. Block-style YAML nests by indentation, which costs
 * a line per level (and the file size limit bounds it); the parsed value is checked again.
 */
export function checkTextNestingDepth(text: string, field: string, label = field, max = MAX_NESTING_DEPTH): void {
  let depth = 0
  let quote: string | undefined
  let previous = '\n'
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (quote) {
      if (c === '\\' && quote === '"') i++
      else if (c === quote) quote = undefined
      previous = c
      continue
    }
    if ((c === '"' || c === "'") && /[\s[{,:]/.test(previous)) quote = c
    else if (c === '#' && /\s/.test(previous)) {
      const end = text.indexOf('\n', i)
      i = end === -1 ? text.length : end - 1
    } else if (c === '[' || c === '{') {
      if (++depth > max) throw tooDeep(field, label, max)
    } else if ((c === ']' || c === '}') && depth > 0) depth--
    previous = c
  }
}

/** Text from bytes that must be UTF-8; an invalid sequence is an error naming the field and the byte offset. */
export function decodeUtf8(bytes: Uint8Array, field: string, value: string): string {
  try {
    return new TextDecoder('utf-8', {fatal: true}).decode(bytes)
  } catch {
    throw InvalidInputError.forField(field, value, `not valid UTF-8 (first bad byte at offset ${invalidUtf8Offset(bytes)})`)
  }
}

/** The offset of the first byte that does not start or continue a valid UTF-8 sequence. */
function invalidUtf8Offset(bytes: Uint8Array): number {
  let lo = 0
  let hi = bytes.length
  const decoder = new TextDecoder('utf-8', {fatal: true})
  // The longest valid prefix, by bisection (each probe is one fast native decode).
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2)
    try {
      decoder.decode(bytes.subarray(0, mid))
      lo = mid
    } catch {
      hi = mid - 1
    }
  }
  return lo
}

/**
 * A file's text, refused before any parsing when it is larger than `maxBytes` (TooLargeError,
 * exit 2) or not UTF-8. A UTF-8 byte-order mark is dropped. Errors name `field` and the path.
 */
export async function readInputFile(path: string, field: string, maxBytes = MAX_INPUT_FILE_BYTES): Promise<string> {
  let bytes: Buffer
  try {
    const info = await stat(path)
    if (info.isFile() && info.size > maxBytes) throw tooLarge(field, path, info.size, maxBytes)
    bytes = await readFile(path)
  } catch (error) {
    if (error instanceof InvalidInputError) throw error
    throw InvalidInputError.forField(field, path, `cannot read it (${(error as NodeJS.ErrnoException).code ?? String(error)})`)
  }
  if (bytes.length > maxBytes) throw tooLarge(field, path, bytes.length, maxBytes)
  return stripBom(decodeUtf8(bytes, field, path))
}

/** Standard input as text, with the same limits as a file. */
export async function readInputStream(stream: AsyncIterable<unknown>, field: string, maxBytes = MAX_INPUT_FILE_BYTES): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer)
    size += buffer.length
    if (size > maxBytes) throw tooLarge(field, '-', size, maxBytes, 'more than')
    chunks.push(buffer)
  }
  return stripBom(decodeUtf8(Buffer.concat(chunks), field, '-'))
}

function tooLarge(field: string, path: string, size: number, max: number, relation = ''): TooLargeError {
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`
  return new TooLargeError(`${field} ${JSON.stringify(path)}: ${relation ? relation + ' ' : ''}${mib(size)}; at most ${mib(max)} is read`, {
    field,
  })
}

function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
}

/**
 * Refuses a value holding U+FFFD: Node turns bytes of argv and the environment that are not
 * UTF-8 into it, so it stands for input roster cannot store faithfully.
 */
export function checkNoReplacementCharacter(field: string, value: string): void {
  const at = value.indexOf(REPLACEMENT_CHARACTER)
  if (at === -1) return
  throw new InvalidInputError(
    `${field}: not valid UTF-8 (character ${at + 1} is U+FFFD, what bytes that are not UTF-8 become); pass the text in UTF-8`,
    {field},
  )
}
