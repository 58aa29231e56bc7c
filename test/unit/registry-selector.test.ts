import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {InvalidInputError} from '../../src/lib/errors.js'
import {parseSelector} from '../../src/lib/registry/selector.js'

const labels = {env: 'prod', tier: 'web', 'example.com/zone': 'a', empty: ''}

describe('label selectors', () => {
  const cases: [selector: string, matches: boolean][] = [
    ['', true],
    ['   ', true],
    ['env=prod', true],
    ['env==prod', true],
    ['env = prod', true],
    ['env=dev', false],
    ['env!=dev', true],
    ['env!=prod', false],
    ['missing!=x', true], // != matches a missing key
    ['missing=x', false],
    ['env in (prod,dev)', true],
    ['env in (dev, test)', false],
    ['env notin (dev)', true],
    ['env notin (prod, dev)', false],
    ['missing notin (x)', true], // notin matches a missing key
    ['missing in (x)', false],
    ['env', true],
    ['missing', false],
    ['!missing', true],
    ['!env', false],
    ['! env', false],
    ['env=prod,tier=web', true],
    ['env=prod, tier=db', false],
    ['env=prod,!missing,tier in (web),example.com/zone=a', true],
    ['empty=', true],
    ['empty', true],
    ['env=', false],
    ['empty in (,x)', true],
    ['empty in (x,)', true],
    ['in=x', false], // "in" may be a label name
    ['env in (in,notin,prod)', true],
  ]
  for (const [selector, expected] of cases) {
    it(`${JSON.stringify(selector)} ${expected ? 'matches' : 'does not match'}`, () => {
      assert.equal(parseSelector(selector).matches(labels), expected)
    })
  }

  it('the empty selector matches an empty label set', () => {
    assert.equal(parseSelector('').matches({}), true)
    assert.equal(parseSelector('a!=b').matches({}), true)
  })

  it('gt and lt compare integers', () => {
    assert.equal(parseSelector('n>3').matches({n: '4'}), true)
    assert.equal(parseSelector('n>3').matches({n: '3'}), false)
    assert.equal(parseSelector('n<3').matches({n: 'x'}), false)
    assert.equal(parseSelector('n<3').matches({}), false)
  })

  it('parses requirements', () => {
    assert.deepEqual(parseSelector(' a in ( y , x ) , !b,c!=d ').requirements, [
      {key: 'a', operator: 'in', values: ['x', 'y']},
      {key: 'b', operator: 'doesNotExist', values: []},
      {key: 'c', operator: 'notEquals', values: ['d']},
    ])
  })

  const bad: [selector: string, message: RegExp][] = [
    ['a in x', /^selector "a in x": expected "\(" after "in", found "x" at position 6$/],
    ['a in (x', /missing "\)" at position 8/],
    ['a in (x y)', /expected a value, "," or "\)", found "y" at position 9/],
    ['a b', /expected an operator .* found "b" at position 3/],
    ['a=b c', /expected "," or end of selector, found "c" at position 5/],
    ['=b', /expected a label name, found "=" at position 1/],
    ['a,', /expected a label name, found end of selector at position 3/],
    ['!a=b', /expected "," or end of selector after "!a", found "=" at position 3/],
    ['a=b!', /position 4/],
    ['-a=b', /label name must be alphanumeric/],
    ['a=-b', /label value must be empty or alphanumeric/],
    ['Bad_Prefix/a=b', /label prefix must be a lower-case DNS subdomain/],
    ['a>x', /expected an integer after ">"/],
    [`${'a'.repeat(64)}=b`, /at most 63 characters/],
  ]
  for (const [selector, message] of bad) {
    it(`rejects ${JSON.stringify(selector)} with one line naming the selector and position`, () => {
      assert.throws(
        () => parseSelector(selector, 'selector'),
        (error: unknown) => {
          assert.ok(error instanceof InvalidInputError)
          assert.equal(error.exitCode, 2)
          assert.match(error.message, message)
          assert.ok(error.message.startsWith(`selector ${JSON.stringify(selector)}: `), error.message)
          assert.ok(!error.message.includes('\n'))
          return true
        },
      )
    })
  }
})
