/** The one regular-expression engine for users' patterns (src/lib/text/regex.ts). */
import assert from 'node:assert/strict'
import {before, describe, it} from 'node:test'

import {MAX_PATTERN_LENGTH, MAX_PROGRAM_SIZE, RegexSyntaxError, compileRegex, loadRegexEngine} from '../../src/lib/text/regex.js'
import {parseRegex} from '../../src/lib/registry/validation.js'

describe("users' regular expressions", () => {
  before(loadRegexEngine)

  it('match anywhere unless anchored, in RE2 syntax', () => {
    assert.equal(compileRegex('web').test('a-web-1'), true)
    assert.equal(compileRegex('^web$').test('a-web-1'), false)
    assert.equal(compileRegex('(?i)^DB[0-9]+$').test('db12'), true)
  })

  it('answer (a+)+$ on a long text at once: no backtracking', () => {
    assert.equal(compileRegex('(a+)+$').test(`${'a'.repeat(100_000)}-`), false)
  })

  it('refuse lookaround and backreferences, naming the field', () => {
    assert.throws(
      () => parseRegex('name', 'a(?=b)'),
      /^InvalidInputError: name "a\(\?=b\)": not a valid regular expression \(invalid or unsupported Perl syntax/,
    )
    assert.throws(() => compileRegex('(a)\\1'), RegexSyntaxError)
  })

  it('refuse a pattern too long, or too large once compiled, whatever its length', () => {
    assert.throws(
      () => parseRegex('endpoint', 'a'.repeat(MAX_PATTERN_LENGTH + 1)),
      /: not a valid regular expression \(longer than 512 characters\)$/,
    )
    compileRegex('a'.repeat(250))
    // Ten characters, a thousand instructions.
    assert.throws(
      () => parseRegex('endpoint', '\\pL{1000}x'),
      /not a valid regular expression \(too large once compiled \(1003 instructions, at most 256\)\)$/,
    )
    assert.ok(MAX_PROGRAM_SIZE >= 200, 'room for any filter a person writes')
    compileRegex('^(?:db|web|cache)-[0-9]{1,3}\\.(?:eu|us|ap)\\.example\\.net:9100$')
  })
})
