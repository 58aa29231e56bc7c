import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {didYouMean, editDistance, nearest, nearestAll, nearestNames, unknownKeyMessage} from '../../src/lib/text/nearest.js'

describe('editDistance', () => {
  const cases: [string, string, number][] = [
    ['', '', 0],
    ['abc', '', 3],
    ['', 'abc', 3],
    ['kitten', 'sitting', 3],
    ['recordTTL', 'recordTTL', 0],
    ['targets', 'tragets', 1], // two neighbours swapped: one edit
    ['dnsName', 'dnsname', 1],
    ['targets', 'target', 1],
  ]
  for (const [a, b, d] of cases) {
    it(`"${a}" → "${b}" is ${d}`, () => {
      assert.equal(editDistance(a, b), d)
      assert.equal(editDistance(b, a), d)
    })
  }
})

describe('nearest', () => {
  const keys = ['dnsName', 'recordType', 'targets', 'recordTTL']
  it('finds a typo ignoring case', () => {
    assert.equal(nearest('recordTtl', keys), 'recordTTL')
    assert.equal(nearest('dnsname', keys), 'dnsName')
    assert.equal(nearest('tragets', keys), 'targets')
    assert.equal(nearest('recordtyp', keys), 'recordType')
  })
  it('suggests nothing for a word that is not near any', () => {
    assert.equal(nearest('setIdentifier', keys), undefined)
    assert.equal(nearest('x', keys), undefined)
    assert.equal(nearest('anything', []), undefined)
  })
  it('says what is wrong and what was meant, or what is known', () => {
    assert.equal(unknownKeyMessage('recordTtl', keys), 'unknown key "recordTtl" (did you mean "recordTTL"?)')
    assert.equal(unknownKeyMessage('weight', keys), 'unknown key "weight" (known keys: dnsName, recordType, targets, recordTTL)')
  })
})

describe('every nearest candidate, not just one', () => {
  it('names all the candidates equally near, in the order given (sorted for the command line)', () => {
    assert.deepEqual(nearestAll('servce', ['service', 'serve', 'server list']), ['service', 'serve'])
    assert.deepEqual(nearestNames('servce', ['service', 'serve', 'server list']), ['serve', 'service'])
    assert.deepEqual(nearestNames('--tokn', ['--token', '--timeout']), ['--token'])
    assert.deepEqual(nearestNames('zzzzzzzz', ['serve', 'service']), [])
  })
  it('phrases them as a question', () => {
    assert.equal(didYouMean(['serve', 'service']), 'did you mean "serve" or "service"?')
    assert.equal(didYouMean(['a', 'b', 'c'], false), 'did you mean a, b or c?')
    assert.equal(didYouMean([]), '')
    assert.equal(unknownKeyMessage('targe', ['target', 'targets', 'x']), 'unknown key "targe" (did you mean "target"?)')
    assert.equal(unknownKeyMessage('recordTTl', ['recordTTL', 'recordTtl2']), 'unknown key "recordTTl" (did you mean "recordTTL"?)')
  })
})
