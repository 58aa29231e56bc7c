/** The input limits of src/lib/text/input-limits.ts and the readers of src/lib/fs/input-file.ts: depth, size, UTF-8. */
import assert from 'node:assert/strict'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {Readable} from 'node:stream'
import {after, describe, it} from 'node:test'

import fc from 'fast-check'

import {InvalidInputError, TooLargeError} from '../../src/lib/errors.js'
import {readInputFile, readInputStream} from '../../src/lib/fs/input-file.js'
import {
  MAX_NESTING_DEPTH,
  checkNestingDepth,
  checkNoReplacementCharacter,
  checkTextNestingDepth,
  decodeUtf8,
  invalidUtf8Offset,
  nestingDepth,
} from '../../src/lib/text/input-limits.js'

const dir = mkdtempSync(path.join(tmpdir(), 'roster-input-limits-'))
after(() => rmSync(dir, {recursive: true, force: true}))

function deepObject(depth: number): unknown {
  let value: unknown = 1
  for (let i = 0; i < depth; i++) value = {x: value}
  return value
}

describe('nesting depth', () => {
  it('counts levels without recursion, even 200,000 deep', () => {
    assert.equal(nestingDepth(1), 0)
    assert.equal(nestingDepth({a: 1}), 1)
    assert.equal(nestingDepth([{labels: {a: 'b'}}]), 3)
    assert.equal(nestingDepth(deepObject(200_000), 1_000_000), 200_000)
  })

  it('refuses a value deeper than the limit with exit 2 naming the input; accepts the limit itself', () => {
    checkNestingDepth(deepObject(MAX_NESTING_DEPTH), 'file')
    assert.throws(
      () => checkNestingDepth(deepObject(50_000), 'file', 'file "x.json"'),
      (e: unknown) =>
        e instanceof InvalidInputError &&
        e.exitCode === 2 &&
        e.field === 'file' &&
        /^file "x\.json": nested more than 64 levels/.test(e.message),
    )
  })

  it('finds deep flow brackets in text before a parser sees them, ignoring brackets in quotes and comments', () => {
    checkTextNestingDepth(`- name: a\n  description: "${'['.repeat(500)}"\n  note: '${'{'.repeat(500)}'\n# ${'['.repeat(500)}\n`, 'file')
    checkTextNestingDepth(JSON.stringify([{labels: {a: '[[[[[[[[['.repeat(100)}}]), 'file')
    assert.throws(() => checkTextNestingDepth('labels: ' + '{x: '.repeat(50_000) + '1' + '}'.repeat(50_000), 'file'), InvalidInputError)
    assert.throws(() => checkTextNestingDepth('['.repeat(65) + ']'.repeat(65), 'file'), InvalidInputError)
    checkTextNestingDepth('['.repeat(64) + ']'.repeat(64), 'file')
  })
})

describe('UTF-8', () => {
  it('decodes valid UTF-8 and names the offset of the first bad byte', () => {
    assert.equal(decodeUtf8(Buffer.from('grüße'), 'file', 'f'), 'grüße')
    assert.throws(
      () => decodeUtf8(Buffer.from([0x61, 0x62, 0xff, 0x63]), 'file', 'file "f.yaml"'),
      (e: unknown) => e instanceof InvalidInputError && e.field === 'file' && e.message === 'file "f.yaml": invalid UTF-8 at byte 2',
    )
    // A sequence cut short at the end.
    assert.throws(() => decodeUtf8(Buffer.from([0x61, 0xe2, 0x82]), 'body'), /: body: invalid UTF-8 at byte 1$/)
  })

  it('the offset is the start of the first ill-formed sequence, after valid multi-byte characters too', () => {
    const cases: [number[], number][] = [
      [[0x61, 0xc3, 0xa9, 0xff], 3], // "aé" then a byte that never starts a character
      [[0xc0, 0xaf], 0], // overlong "/"
      [[0xe0, 0x80, 0xaf], 0], // overlong, three bytes
      [[0x41, 0xed, 0xa0, 0x80], 1], // a UTF-16 surrogate (U+D800)
      [[0xf4, 0x90, 0x80, 0x80], 0], // past U+10FFFF
      [[0xf0, 0x9f, 0x98, 0x80, 0xf0, 0x9f, 0x98], 4], // an emoji, then one cut short
      [[0xef, 0xbf, 0xbd, 0x80], 3], // U+FFFD itself is valid; the stray continuation byte is not
    ]
    for (const [bytes, offset] of cases) assert.equal(invalidUtf8Offset(Uint8Array.from(bytes)), offset, JSON.stringify(bytes))
    assert.equal(invalidUtf8Offset(Buffer.from('plain, ünïcode, 😀')), -1)
  })

  it('for any bytes: -1 exactly when they are UTF-8; else all before the offset is UTF-8 and no character starts at it', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({min: 0, max: 255}), fc.constantFrom(0x80, 0xbf, 0xc2, 0xe0, 0xed, 0xef, 0xf0, 0xf4)), {
          maxLength: 24,
        }),
        (list) => {
          const bytes = Uint8Array.from(list)
          const at = invalidUtf8Offset(bytes)
          const valid = (b: Uint8Array) => {
            try {
              new TextDecoder('utf-8', {fatal: true}).decode(b)
              return true
            } catch {
              return false
            }
          }
          if (valid(bytes)) return at === -1
          if (at < 0 || !valid(bytes.subarray(0, at))) return false
          return ![1, 2, 3, 4].some((k) => at + k <= bytes.length && valid(bytes.subarray(at, at + k)))
        },
      ),
      {numRuns: 2000},
    )
  })

  it('refuses U+FFFD in argv/env values, naming the field', () => {
    checkNoReplacementCharacter('--description', 'plain text, ünïcode')
    assert.throws(
      () => checkNoReplacementCharacter('ROSTER_DESCRIPTION', 'ab\uFFFDcd'),
      (e: unknown) => e instanceof InvalidInputError && e.field === 'ROSTER_DESCRIPTION' && /character 3 is U\+FFFD/.test(e.message),
    )
  })
})

describe('input files', () => {
  it('reads a UTF-8 file (dropping a byte-order mark)', async () => {
    const file = path.join(dir, 'ok.yaml')
    writeFileSync(file, '\uFEFF- name: a\n')
    assert.equal(await readInputFile(file, {field: 'file'}), '- name: a\n')
  })

  it('refuses a file larger than the limit before reading it (TooLargeError, exit 2)', async () => {
    const file = path.join(dir, 'big.json')
    writeFileSync(file, 'x'.repeat(2048))
    await assert.rejects(
      readInputFile(file, {field: 'file', maxBytes: 1024}),
      (e: unknown) => e instanceof TooLargeError && e.exitCode === 2 && /big\.json/.test(e.message),
    )
    await assert.rejects(
      readInputStream(Readable.from([Buffer.alloc(600), Buffer.alloc(600)]), {field: 'file', maxBytes: 1024}),
      TooLargeError,
    )
  })

  it('a missing file is exit 2 naming it', async () => {
    await assert.rejects(readInputFile(path.join(dir, 'missing.yaml'), {field: 'file'}), /: file ".*missing\.yaml": no such file$/)
  })

  it('standard input with invalid bytes is refused', async () => {
    await assert.rejects(
      readInputStream(Readable.from([Buffer.from([0x61, 0xc3])]), {field: 'jwt', label: 'standard input'}),
      (e: unknown) => e instanceof InvalidInputError && e.field === 'jwt' && e.message === 'standard input: invalid UTF-8 at byte 1',
    )
  })
})

describe('the registry API (what serve hands an HTTP body to)', () => {
  it('refuses a 50,000-deep labels object or document with exit 2, no stack overflow', async () => {
    const {openStore} = await import('../../src/lib/store/open-store.js')
    const {Registry} = await import('../../src/lib/registry/registry.js')
    const store = await openStore({registry: 'sqlite::memory:', timeoutMs: 5000})
    try {
      const registry = new Registry(store)
      const deep = deepObject(50_000)
      const isDepthError = (e: unknown) => e instanceof InvalidInputError && /nested more than 64 levels deep/.test(e.message)
      await assert.rejects(registry.importServices([{name: 'a', endpoints: ['http://127.0.0.1:1/m'], labels: deep}]), isDepthError)
      await assert.rejects(registry.importServices(deep), isDepthError)
      await assert.rejects(registry.registerServices({name: 'a', endpoints: ['http://127.0.0.1:1/m'], labels: deep} as never), isDepthError)
    } finally {
      await store.close()
    }
  })
})
