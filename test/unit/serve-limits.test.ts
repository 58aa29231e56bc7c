/**
 * serve's limits table (src/lib/server/limits.ts): defaults, the grammar of each kind and the
 * setting a refusal names, the client address the per-address limit counts under, and
 * docs/serve.md's table, which must give every limit with its flag, default and counter.
 */
import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {describe, it} from 'node:test'

import {SIZE_EXPECTED, byteSizeText, parseByteSize} from '../../src/lib/config/byte-size.js'
import {InvalidInputError} from '../../src/lib/errors.js'
import {clientAddress} from '../../src/lib/server/connections.js'
import {DEFAULT_LIMITS, LIMITS, parseLimits} from '../../src/lib/server/limits.js'
import {ROOT} from '../support/cli.js'

const refusal = (field: string, message: string) => (e: unknown) =>
  e instanceof InvalidInputError && e.field === field && e.message === message

describe('serve limits', () => {
  it('every limit has its default, as the table writes it', () => {
    assert.deepEqual(DEFAULT_LIMITS, {
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 72_000,
      tlsHandshakeTimeoutMs: 10_000,
      sendTimeoutMs: 60_000,
      maxConnections: 1024,
      maxConnectionsPerAddress: 128,
      probeConnections: 16,
      maxBodyBytes: 1024 * 1024,
      maxHeaderBytes: 16 * 1024,
      maxSdRenders: 1,
      sdRenderWaitMs: 5000,
      maxFollows: 64,
      maxFollowBacklog: 10_000,
    })
  })

  it('takes each kind in its grammar', () => {
    const limits = parseLimits({
      'headers-timeout': '1m30s',
      'request-timeout': '2m',
      'max-connections': '50000',
      'max-connections-per-address': '0',
      'probe-connections': '0',
      'max-body-size': '4MiB',
      'max-header-size': '64KiB',
      'sd-render-wait': '250ms',
    })
    assert.equal(limits.headersTimeoutMs, 90_000)
    assert.equal(limits.maxConnections, 50_000)
    assert.equal(limits.maxConnectionsPerAddress, 0)
    assert.equal(limits.probeConnections, 0)
    assert.equal(limits.maxBodyBytes, 4 * 1024 * 1024)
    assert.equal(limits.maxHeaderBytes, 64 * 1024)
    assert.equal(limits.sdRenderWaitMs, 250)
  })

  it('refuses a malformed or out-of-range value, naming its setting', () => {
    const cases: Array<[Record<string, string>, string, string]> = [
      [{'max-connections': '10x'}, 'max-connections', 'max-connections "10x": expected a whole number'],
      [{'max-connections': '0'}, 'max-connections', 'max-connections "0": must be between 1 and 1000000'],
      [{'max-connections': '-1'}, 'max-connections', 'max-connections "-1": expected a whole number'],
      [{'max-sd-renders': '65'}, 'max-sd-renders', 'max-sd-renders "65": must be between 1 and 64'],
      [{'max-body-size': '1MB'}, 'max-body-size', `max-body-size "1MB": ${SIZE_EXPECTED}`],
      [{'max-body-size': '1048576'}, 'max-body-size', `max-body-size "1048576": ${SIZE_EXPECTED}`],
      [{'max-body-size': '1GiB'}, 'max-body-size', 'max-body-size "1GiB": must be between 1KiB and 64MiB'],
      [{'headers-timeout': '0'}, 'headers-timeout', 'headers-timeout "0": must be longer than 0'],
      [{'tls-handshake-timeout': '2h'}, 'tls-handshake-timeout', 'tls-handshake-timeout "2h": must be at most 1h'],
      [
        {'headers-timeout': '1m'},
        'headers-timeout',
        'headers-timeout "1m": must be at most request-timeout (30s): the headers are part of the request',
      ],
    ]
    for (const [settings, field, message] of cases) assert.throws(() => parseLimits(settings), refusal(field, message), message)
  })

  it('sizes: a whole number and a binary unit', () => {
    assert.equal(parseByteSize('512B', 'x', {minBytes: 1, maxBytes: Infinity}), 512)
    assert.equal(parseByteSize(' 2GiB ', 'x', {minBytes: 1, maxBytes: Infinity}), 2 * 1024 ** 3)
    for (const bad of ['', '1', '1.5MiB', '1 MiB', '1mib', '1KB', 'MiB', '-1KiB']) {
      assert.throws(
        () => parseByteSize(bad, 'x', {minBytes: 1, maxBytes: Infinity}),
        refusal('x', `x ${JSON.stringify(bad)}: ${SIZE_EXPECTED}`),
      )
    }
    assert.equal(byteSizeText(1536), '1536B')
    assert.equal(byteSizeText(16 * 1024), '16KiB')
    assert.equal(byteSizeText(3 * 1024 ** 3), '3GiB')
  })

  it('counts a client under its IPv4 address, or the /64 of its IPv6 address', () => {
    const cases: Array<[string | undefined, string]> = [
      ['127.0.0.1', '127.0.0.1'],
      ['::ffff:10.1.2.3', '10.1.2.3'],
      ['::FFFF:10.1.2.3', '10.1.2.3'],
      ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
      ['2001:db8:1:2::7', '2001:db8:1:2::/64'],
      ['2001:0db8:0001:0002:ffff::1', '2001:db8:1:2::/64'],
      ['2001:db8::1', '2001:db8:0:0::/64'],
      ['::1', '0:0:0:0::/64'],
      ['fe80::1%eth0', 'fe80:0:0:0::/64'],
      [undefined, ''],
    ]
    for (const [remote, expected] of cases) assert.equal(clientAddress(remote), expected, String(remote))
  })

  it("docs/serve.md's limits table gives every limit: flag, default and counter", () => {
    const text = readFileSync(path.join(ROOT, 'docs', 'serve.md'), 'utf8')
    const section = text.slice(text.indexOf('\n## Limits'), text.indexOf('\n## ', text.indexOf('\n## Limits') + 1))
    const rows = [...section.matchAll(/^\| `--([a-z-]+)` \| `([^`]+)` \| .* \| `([^`]+)` \|$/gm)].map(([, flag, def, counter]) => ({
      flag,
      def,
      counter,
    }))
    assert.deepEqual(
      rows,
      LIMITS.map((spec) => ({flag: spec.setting, def: spec.default, counter: spec.counter})),
    )
  })
})
