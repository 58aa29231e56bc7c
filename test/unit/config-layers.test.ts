/** The layered flag values (src/lib/config/layers.ts) without oclif, and the message helpers. */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {checkConfigKeys, coerceValue, envNameOf, flagNameOfEnv, layeredValue} from '../../src/lib/config/layers.js'
import type {LoadedConfig} from '../../src/lib/config/load-config.js'
import {editDistance, nearestName} from '../../src/lib/config/nearest.js'
import {InvalidInputError, listProblems, shortValue} from '../../src/lib/errors.js'

function loaded(file: string, values: Record<string, unknown>, rawKeys?: Record<string, string>): LoadedConfig {
  return {
    searched: [file],
    parsed: [{path: file, values, rawKeys: rawKeys ?? Object.fromEntries(Object.keys(values).map((k) => [k, k]))}],
    values: new Map(Object.entries(values).map(([k, value]) => [k, {value, file}])),
    warnings: [],
  }
}

const isInvalid = (pattern: RegExp) => (e: unknown) => e instanceof InvalidInputError && pattern.test(e.message)

describe('layered values', () => {
  const option = {kind: 'option'} as const

  it('names: etcd-prefix ↔ ROSTER_ETCD_PREFIX', () => {
    assert.equal(envNameOf('etcd-prefix'), 'ROSTER_ETCD_PREFIX')
    assert.equal(flagNameOfEnv('ROSTER_ETCD_PREFIX'), 'etcd-prefix')
    assert.equal(flagNameOfEnv('HOME'), undefined)
  })

  it('the environment comes before the file; neither gives undefined (the default applies)', async () => {
    const config = loaded('/etc/r.yaml', {timeout: '7s'})
    assert.deepEqual(await layeredValue('timeout', option, {env: {ROSTER_TIMEOUT: '3s'}, loaded: config}), {
      value: '3s',
      source: 'env ROSTER_TIMEOUT',
    })
    assert.deepEqual(await layeredValue('timeout', option, {env: {}, loaded: config}), {value: '7s', source: 'file /etc/r.yaml'})
    assert.deepEqual(await layeredValue('timeout', option, {env: {ROSTER_TIMEOUT: ''}, loaded: config}), {
      value: '7s',
      source: 'file /etc/r.yaml',
    })
    assert.equal(await layeredValue('timeout', option, {env: {}}), undefined)
  })

  it('validates as the command line does, naming where the value came from', async () => {
    const output = {kind: 'option', options: ['table', 'json']} as const
    await assert.rejects(
      layeredValue('output', output, {env: {ROSTER_OUTPUT: 'xml'}}),
      isInvalid(/^ROSTER_OUTPUT "xml": expected one of table, json$/),
    )
    await assert.rejects(
      layeredValue('output', output, {env: {}, loaded: loaded('/f.yaml', {output: 'xml'})}),
      isInvalid(/^output \(in \/f\.yaml\) "xml": expected one of/),
    )
    const parse = async (text: string) => {
      if (!/^\d+$/.test(text)) throw new Error('not a number')
      return Number(text)
    }
    assert.equal(await coerceValue({kind: 'option', parse}, ' 42 ', 'n'), 42)
    await assert.rejects(coerceValue({kind: 'option', parse}, 'x', 'n'), isInvalid(/^n "x": not a number$/))
  })

  it('booleans, lists, and a list where one value is expected', async () => {
    assert.equal(await coerceValue({kind: 'boolean'}, 'yes', 'b'), true)
    assert.equal(await coerceValue({kind: 'boolean'}, 'off', 'b'), false)
    await assert.rejects(coerceValue({kind: 'boolean'}, 'maybe', 'b'), isInvalid(/expected true or false/))
    assert.deepEqual(await coerceValue({kind: 'option', multiple: true}, 'a, b c', 'l'), ['a', 'b', 'c'])
    assert.deepEqual(await coerceValue({kind: 'option', multiple: true}, ['x', 'y'], 'l'), ['x', 'y'])
    await assert.rejects(coerceValue({kind: 'option'}, ['x', 'y'], 'l'), isInvalid(/not a list/))
  })
})

describe('config keys', () => {
  const known = new Set(['registry', 'etcd-prefix', 'timeout', 'json', 'config'])

  it('accepts known keys, camelCase ones included', () => {
    checkConfigKeys(loaded('/f.yaml', {'etcd-prefix': '/x/'}, {'etcd-prefix': 'etcdPrefix'}), known)
  })

  it('refuses an unknown key with the nearest, and keys that cannot come from a file', () => {
    assert.throws(
      () => checkConfigKeys(loaded('/f.yaml', {regsitry: 'x'}), known),
      isInvalid(/^config \/f\.yaml: unknown key "regsitry"; did you mean registry\?$/),
    )
    assert.throws(() => checkConfigKeys(loaded('/f.yaml', {json: true}), known), isInvalid(/unknown key "json"/))
    assert.throws(
      () => checkConfigKeys(loaded('/f.yaml', {'etcd-prefx': 'x'}, {'etcd-prefx': 'etcdPrefx'}), known),
      isInvalid(/unknown key "etcdPrefx"; did you mean etcd-prefix\?$/),
    )
  })
})

describe('nearest name', () => {
  it('counts a swap of neighbours as one edit', () => {
    assert.equal(editDistance('regsitry', 'registry'), 1)
    assert.equal(editDistance('', 'abc'), 3)
    assert.equal(editDistance('kitten', 'sitting'), 3)
  })

  it('gives a near name, or none', () => {
    assert.equal(nearestName('--regsitry', ['--registry', '--timeout']), '--registry')
    assert.equal(nearestName('tmeout', ['registry', 'timeout']), 'timeout')
    assert.equal(nearestName('zzzzzzzz', ['registry', 'timeout']), undefined)
    assert.equal(nearestName('x', []), undefined)
  })
})

describe('message helpers', () => {
  it('shortValue quotes a value and cuts it the same way everywhere', () => {
    assert.equal(shortValue('abc'), '"abc"')
    assert.equal(shortValue(42), '42')
    assert.equal(shortValue('x'.repeat(200), 10), `"${'x'.repeat(9)}…(192 more characters)`)
  })

  it('listProblems shows the first few and how many more', () => {
    assert.equal(listProblems(['a', 'b']), 'a; b')
    assert.equal(listProblems(['a', 'b', 'c', 'd', 'e', 'f', 'g']), 'a; b; c; d; e; and 2 more')
    assert.equal(listProblems(['a', 'b', 'c'], 1), 'a; and 2 more')
  })
})
