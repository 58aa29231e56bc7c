/** compareCommandIds orders command IDs exactly as localeCompare does, without setting up ICU. */
import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {compareCommandIds} from '../../src/command-order.js'
import {ROOT} from '../support/cli.js'

const sign = (n: number): number => Math.sign(n)
const ROOT_ENV = {LANG: 'C.UTF-8'}

describe('compareCommandIds', () => {
  it("sorts roster's and its plugins' command IDs as localeCompare does", () => {
    const ids = Object.keys((JSON.parse(readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8')) as {commands: object}).commands)
    ids.push('autocomplete', 'autocomplete:create', 'autocomplete:script', 'help', 'a-b', 'a:b', 'a0', 'a', 'ab', '')
    for (const a of ids) for (const b of ids) assert.equal(sign(compareCommandIds(a, b, ROOT_ENV)), sign(a.localeCompare(b)), `${a} ? ${b}`)
    assert.deepEqual(
      [...ids].sort((a, b) => compareCommandIds(a, b, ROOT_ENV)),
      [...ids].sort((a, b) => a.localeCompare(b)),
    )
  })

  it('agrees with localeCompare on random IDs of letters, digits, - and :', () => {
    const chars = '-:0123456789abcdefghijklmnopqrstuvwxyz'
    let seed = 42
    const random = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n)
    const id = (): string => Array.from({length: random(6)}, () => chars[random(chars.length)]).join('')
    for (let i = 0; i < 20_000; i++) {
      const a = id()
      const b = random(4) === 0 ? a + id() : id()
      assert.equal(sign(compareCommandIds(a, b, ROOT_ENV)), sign(a.localeCompare(b)), `${a} ? ${b}`)
    }
  })

  it('leaves other characters and other locales to localeCompare', () => {
    // Upper case, an underscore, a non-ASCII letter: whatever localeCompare says.
    for (const [a, b] of [
      ['A', 'a'],
      ['a_b', 'a-b'],
      ['é', 'f'],
    ] as const) {
      assert.equal(compareCommandIds(a, b, ROOT_ENV), a.localeCompare(b))
    }
    // Under a locale whose collation may differ, localeCompare decides (a stand-in shows it is called).
    const original = String.prototype.localeCompare
    let calls = 0
    String.prototype.localeCompare = function (this: string, that: string) {
      calls++
      return original.call(this, that)
    } as typeof original
    try {
      compareCommandIds('aa', 'z', {LANG: 'da_DK.UTF-8'})
      compareCommandIds('cs', 'd', {LANG: 'C.UTF-8', LC_ALL: 'hu_HU.UTF-8'})
      assert.equal(calls, 2)
      compareCommandIds('aa', 'z', {LANG: 'en_GB.UTF-8'})
      compareCommandIds('aa', 'z', {})
      assert.equal(calls, 2)
    } finally {
      String.prototype.localeCompare = original
    }
  })
})
