/**
 * Limits every input meets before any work is done on it: nesting depth, size, and
 * valid UTF-8. Each check is iterative (a 50,000-deep object must not overflow the stack of the
 * check meant to refuse it) and throws InvalidInputError naming the field (exit 2).
 *
 * - Depth: documents roster reads are shallow (an import entry's labels sit at depth 3); 64
 *   levels leave room and stop the recursive work (parsers, validation, JSON.stringify) that
 *   a deeper value would crash.
 * - UTF-8: files, standard input and request bodies are read as bytes and checked before they
 *   are decoded, so an invalid byte is an error naming its offset, not a U+FFFD stored in the
 *   registry (the readers: src/lib/fs/input-file.ts; serve's JSON body parser). Node decodes argv and the
 *   environment before roster sees them, replacing invalid bytes with U+FFFD: a value holding
 *   U+FFFD is refused for the same reason.
 */
import {isUtf8} from 'node:buffer'

import {InvalidInputError} from '../errors.js'

export const MAX_NESTING_DEPTH = 64
/** Import and record files: 64 MiB holds several hundred thousand entries. */
export const MAX_INPUT_FILE_BYTES = 64 * 1024 * 1024
export const REPLACEMENT_CHARACTER = '\uFFFD'
/** Tokens, passwords and secrets read from standard input: far more than any of them holds. */
export const MAX_SECRET_BYTES = 1024 * 1024

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

/**
 * Text from bytes that must be UTF-8; an invalid sequence is InvalidInputError on `field`, "LABEL:
 * invalid UTF-8 at byte N" (the label names the input: `file "x.yaml"`, `body`).
 */
export function decodeUtf8(bytes: Uint8Array, field: string, label = field): string {
  const at = invalidUtf8Offset(bytes)
  if (at !== -1) throw new InvalidInputError(`${label}: invalid UTF-8 at byte ${at}`, {field})
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')
}

/**
 * The offset of the first byte of the first ill-formed sequence (Unicode's table of well-formed
 * UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF, no truncated sequence), or -1
 * when all of it is UTF-8. Valid input, the usual case, is checked natively first.
 */
export function invalidUtf8Offset(bytes: Uint8Array): number {
  if (isUtf8(bytes)) return -1
  const n = bytes.length
  let i = 0
  while (i < n) {
    const b = bytes[i]!
    if (b < 0x80) {
      i++
      continue
    }
    // The length of the sequence this byte starts, and the range of its second byte.
    let need: number
    let lo = 0x80
    let hi = 0xbf
    if (b >= 0xc2 && b <= 0xdf) need = 1
    else if (b === 0xe0) [need, lo] = [2, 0xa0]
    else if (b === 0xed) [need, hi] = [2, 0x9f]
    else if (b >= 0xe1 && b <= 0xef) need = 2
    else if (b === 0xf0) [need, lo] = [3, 0x90]
    else if (b === 0xf4) [need, hi] = [3, 0x8f]
    else if (b >= 0xf1 && b <= 0xf3) need = 3
    else return i
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k]
      if (c === undefined || c < (k === 1 ? lo : 0x80) || c > (k === 1 ? hi : 0xbf)) return i
    }
    i += need + 1
  }
  return -1
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
