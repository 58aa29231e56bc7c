/** The input limits of src/lib/text/input-limits.ts: depth, size, UTF-8 (issue 10). */
import assert from 'node:assert/strict'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {Readable} from 'node:stream'
import {after, describe, it} from 'node:test'

import {InvalidInputError, TooLargeError} from '../../src/lib/errors.js'
import {
  MAX_NESTING_DEPTH,
  checkNestingDepth,
  checkNoReplacementCharacter,
  checkTextNestingDepth,
  decodeUtf8,
  nestingDepth,
  readInputFile,
  readInputStream,
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
      () => decodeUtf8(Buffer.from([0x61, 0x62, 0xff, 0x63]), 'file', 'f.yaml'),
      (e: unknown) => e instanceof InvalidInputError && /^file "f\.yaml": not valid UTF-8 \(first bad byte at offset 2\)$/.test(e.message),
    )
    // A sequence cut short at the end.
    assert.throws(() => decodeUtf8(Buffer.from([0x61, 0xe2, 0x82]), 'file', 'f'), /offset 1/)
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
    assert.equal(await readInputFile(file, 'file'), '- name: a\n')
  })

  it('refuses a file larger than the limit before reading it (TooLargeError, exit 2)', async () => {
    const file = path.join(dir, 'big.json')
    writeFileSync(file, 'x'.repeat(2048))
    await assert.rejects(
      readInputFile(file, 'file', 1024),
      (e: unknown) => e instanceof TooLargeError && e.exitCode === 2 && /big\.json/.test(e.message),
    )
    await assert.rejects(readInputStream(Readable.from([Buffer.alloc(600), Buffer.alloc(600)]), 'file', 1024), TooLargeError)
  })

  it('a missing file is exit 2 naming it', async () => {
    await assert.rejects(readInputFile(path.join(dir, 'missing.yaml'), 'file'), /file ".*missing\.yaml": cannot read it \(ENOENT\)/)
  })

  it('standard input with invalid bytes is refused', async () => {
    await assert.rejects(
      readInputStream(Readable.from([Buffer.from([0x61, 0xc3])]), 'file'),
      /not valid UTF-8 \(first bad byte at offset 1\)/,
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
