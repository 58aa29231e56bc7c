/** The one duration grammar (src/lib/config/duration.ts), as a table. */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {DURATION_EXPECTED, MAX_TIMER_MS, durationText, parseDuration, timerMs} from '../../src/lib/config/duration.js'
import {InvalidInputError} from '../../src/lib/errors.js'

const S = 1000
const M = 60 * S
const H = 60 * M
const D = 24 * H

const messageIs = (message: string) => (e: unknown) => e instanceof InvalidInputError && e.message === message

describe('durations', () => {
  const accepted: Array<[string, number]> = [
    ['1ms', 1],
    ['500ms', 500],
    ['30s', 30 * S],
    ['90m', 90 * M],
    ['1h30m', 90 * M],
    ['1m30s', 90 * S],
    ['24h', 24 * H],
    ['7d', 7 * D],
    ['1d12h', 36 * H],
    ['2w', 14 * D],
    ['1y', 365 * D],
    ['1y2w3d4h5m6s7ms', 365 * D + 14 * D + 3 * D + 4 * H + 5 * M + 6 * S + 7],
    ['10y', 3650 * D],
    [' 30s ', 30 * S],
  ]
  for (const [text, ms] of accepted) {
    it(`accepts ${JSON.stringify(text)}`, () => assert.equal(parseDuration(text, 'interval'), ms))
  }

  const malformed = ['', '30', '1.5s', '-1s', '+1s', '1H', '30 s', '1m1h', '1s1s', '1mo', 'soon', '0x10s', '1e3ms', 'never']
  for (const text of malformed) {
    it(`refuses ${JSON.stringify(text)} with the one message`, () => {
      assert.throws(
        () => parseDuration(text, 'interval'),
        (e: unknown) =>
          e instanceof InvalidInputError &&
          e.field === 'interval' &&
          e.message === `interval ${JSON.stringify(text)}: ${DURATION_EXPECTED}`,
      )
    })
  }

  it('refuses zero unless the setting allows it', () => {
    for (const text of ['0', '0s', '0ms', '0h0m'])
      assert.throws(() => parseDuration(text, 'ttl'), messageIs(`ttl ${JSON.stringify(text)}: must be longer than 0`))
    assert.equal(parseDuration('0', 'oidc-clock-skew', {zero: true}), 0)
    assert.equal(parseDuration('0s', 'oidc-clock-skew', {zero: true}), 0)
  })

  it('refuses more than ten years, or than the setting allows', () => {
    assert.throws(() => parseDuration('3651d', 'expires'), messageIs('expires "3651d": must be at most 10y'))
    assert.throws(() => parseDuration('99999999999999999999999y', 'expires'), /must be at most 10y$/)
    assert.throws(() => parseDuration('6m', 'oidc-clock-skew', {zero: true, maxMs: 5 * M}), /must be at most 5m$/)
  })

  it('refuses what is not text', () => {
    for (const value of [30, null, undefined, {}]) assert.throws(() => parseDuration(value, 'ttl'), InvalidInputError)
  })

  it("writes a duration in the grammar's own form", () => {
    assert.equal(durationText(90 * M), '1h30m')
    assert.equal(durationText(3650 * D), '10y')
    assert.equal(durationText(8 * D + 1), '1w1d1ms')
    assert.equal(durationText(0), '0')
    for (const [text, ms] of accepted) if (text.trim() === text) assert.equal(parseDuration(durationText(ms), 'x'), ms)
  })

  it("clamps a timer's delay at setTimeout's longest", () => {
    assert.equal(timerMs(parseDuration('1w', 'interval')), 7 * D)
    assert.equal(timerMs(parseDuration('30d', 'interval')), MAX_TIMER_MS)
    assert.equal(MAX_TIMER_MS, 2 ** 31 - 1)
  })
})
