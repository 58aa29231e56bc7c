/**
 * The one listen-address grammar and the one loopback rule, as tables: what every roster server
 * (serve, kube metrics-proxy, node-status --serve) and every loopback-only URL check use.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {InvalidInputError} from '../../src/lib/errors.js'
import {listenTransport, listenUrl, parseListenAddress} from '../../src/lib/net/listen-address.js'
import {isLoopbackHost} from '../../src/lib/net/loopback.js'

describe('listen addresses', () => {
  const accepted: Array<[string, string, number, boolean]> = [
    // text, host bound, port, loopback
    ['3002', '127.0.0.1', 3002, true],
    [':3002', '127.0.0.1', 3002, true],
    [' :3002 ', '127.0.0.1', 3002, true],
    ['0', '127.0.0.1', 0, true],
    ['127.0.0.1:3002', '127.0.0.1', 3002, true],
    ['127.1.2.3:80', '127.1.2.3', 80, true],
    ['localhost:3002', 'localhost', 3002, true],
    ['LOCALHOST:3002', 'LOCALHOST', 3002, true],
    ['[::1]:9100', '::1', 9100, true],
    ['[0:0:0:0:0:0:0:1]:9100', '0:0:0:0:0:0:0:1', 9100, true],
    ['[::ffff:127.0.0.1]:9100', '::ffff:127.0.0.1', 9100, true],
    ['0.0.0.0:3002', '0.0.0.0', 3002, false],
    ['[::]:3002', '::', 3002, false],
    ['10.1.2.3:65535', '10.1.2.3', 65535, false],
    ['[::ffff:10.0.0.1]:80', '::ffff:10.0.0.1', 80, false],
    ['roster.example.com:443', 'roster.example.com', 443, false],
  ]
  for (const [text, host, port, loopback] of accepted) {
    it(`accepts ${JSON.stringify(text)}: ${host} port ${port}, ${loopback ? 'loopback' : 'off loopback'}`, () => {
      assert.deepEqual(parseListenAddress(text), {host, port, loopback, text})
    })
  }

  const refused: Array<[string, RegExp]> = [
    ['', /expected PORT, :PORT, HOST:PORT or \[IPv6\]:PORT/],
    ['localhost', /expected PORT, :PORT/],
    ['127.0.0.1', /expected PORT, :PORT/],
    ['127.0.0.1:', /expected PORT, :PORT/],
    ['127.0.0.1:65536', /expected PORT, :PORT/],
    ['127.0.0.1:99999', /expected PORT, :PORT/],
    ['127.0.0.1:-1', /expected PORT, :PORT/],
    ['::1:3002', /expected PORT, :PORT/],
    ['[127.0.0.1]:3002', /brackets hold an IPv6 address/],
    ['[nonsense]:3002', /brackets hold an IPv6 address/],
    ['http://127.0.0.1:3002', /expected PORT, :PORT/],
    ['host name:3002', /not an IPv4 address or a host name/],
    ['-host:3002', /not an IPv4 address or a host name/],
  ]
  for (const [text, reason] of refused) {
    it(`refuses ${JSON.stringify(text)}, naming the listen setting`, () => {
      assert.throws(
        () => parseListenAddress(text),
        (e: unknown) =>
          e instanceof InvalidInputError &&
          e.field === 'listen' &&
          e.message.startsWith(`listen ${JSON.stringify(text)}: `) &&
          reason.test(e.message),
      )
    })
  }

  it('builds the URL a client reaches it at', () => {
    assert.equal(listenUrl(parseListenAddress(':3002'), 3002, false), 'http://127.0.0.1:3002')
    assert.equal(listenUrl(parseListenAddress('[::1]:0'), 41234, true), 'https://[::1]:41234')
  })
})

describe('the plaintext rule', () => {
  const off = parseListenAddress('0.0.0.0:0')
  const on = parseListenAddress(':0')

  it('allows plain HTTP on loopback, for every server', () => {
    assert.equal(listenTransport(on, {}, 'never'), undefined)
    assert.equal(listenTransport(on, {}, 'when-asked'), undefined)
  })

  it('refuses plain HTTP off loopback; the exporters only when insecure-plaintext is set, serve always', () => {
    assert.throws(
      () => listenTransport(off, {}, 'never'),
      (e: unknown) =>
        e instanceof InvalidInputError &&
        /^listen "0\.0\.0\.0:0": is not a loopback address: serve HTTPS \(tls-cert and tls-key\)/.test(e.message),
    )
    assert.throws(() => listenTransport(off, {insecurePlaintext: true}, 'never'), /is not a loopback address/)
    assert.throws(() => listenTransport(off, {}, 'when-asked'), /or set insecure-plaintext to serve plain HTTP/)
    assert.equal(listenTransport(off, {insecurePlaintext: true}, 'when-asked'), undefined)
  })

  it('wants both TLS files, and names the one missing', () => {
    assert.throws(
      () => listenTransport(on, {tlsCert: '/x.crt'}, 'never'),
      (e: unknown) => e instanceof InvalidInputError && e.field === 'tls-key' && e.message === 'tls-key: required with tls-cert',
    )
    assert.throws(
      () => listenTransport(off, {tlsKey: '/x.key'}, 'when-asked'),
      (e: unknown) => e instanceof InvalidInputError && e.field === 'tls-cert',
    )
    assert.throws(
      () => listenTransport(off, {tlsCert: '/no/such.crt', tlsKey: '/no/such.key'}, 'never'),
      (e: unknown) => e instanceof InvalidInputError && e.field === 'tls-cert' && /"\/no\/such\.crt": no such file$/.test(e.message),
    )
  })
})

describe('loopback hosts', () => {
  const table: Array<[string, boolean]> = [
    ['127.0.0.1', true],
    ['127.255.255.254', true],
    ['localhost', true],
    ['LOCALHOST', true],
    ['LocalHost', true],
    ['::1', true],
    ['[::1]', true],
    ['0:0:0:0:0:0:0:1', true],
    ['::ffff:127.0.0.1', true],
    ['[::ffff:7f00:1]', true],
    ['0.0.0.0', false],
    ['::', false],
    ['128.0.0.1', false],
    ['10.0.0.1', false],
    ['::ffff:10.0.0.1', false],
    ['::2', false],
    ['localhost.example.com', false],
    ['127.0.0.1.example.com', false],
    ['', false],
  ]
  for (const [host, loopback] of table) {
    it(`${JSON.stringify(host)} is ${loopback ? '' : 'not '}loopback`, () => assert.equal(isLoopbackHost(host), loopback))
  }

  it("judges a URL's hostname as Node's URL writes it", () => {
    for (const url of ['http://[::ffff:127.0.0.1]:80/', 'http://LOCALHOST/', 'http://127.1/', 'http://[0:0::1]/']) {
      assert.equal(isLoopbackHost(new URL(url).hostname), true, url)
    }
    assert.equal(isLoopbackHost(new URL('http://[::ffff:10.0.0.1]/').hostname), false)
  })
})
