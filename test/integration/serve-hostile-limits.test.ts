/**
 * Each of serve's limits (src/lib/server/limits.ts), one at a time, against a real `roster serve`
 * over TLS set to small values so that they act at once: what the client sees (a 413 or 431
 * naming the limit, a 408 and a closed connection, a refused or reused connection, a 503 with
 * Retry-After) and the /metrics counter that counts it. The load test with the default limits is
 * serve-hostile.test.ts. No timing checks: a wait for the server to act is bounded generously.
 *
 * Limits whose requests and counters cannot meet share a serve: the body and header sizes, the sd
 * renders and the history follows one, the send timeout and the connection limit another. The
 * timeouts and the limit per address, which act on every connection, have one each. Each serve
 * stops when its tests end: an idle one still takes CPU (the store's change poll).
 */
import assert from 'node:assert/strict'
import {copyFileSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {connect as netConnect, type Socket} from 'node:net'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {type ConnectionOptions, connect as tlsConnect, type TLSSocket} from 'node:tls'

import {makeTlsFiles} from '../support/test-pki.js'
import {captureClientHello} from '../support/hostile-clients.js'
import {seedRegistry} from '../support/seed-registry.js'
import {LIMITS} from '../../src/lib/server/limits.js'
import {metricValue, once} from '../support/serve-monitor.js'
import {createToken, startServe, type ServeProcess} from '../support/serve-server.js'
import {until} from '../support/until.js'

/** How long a test waits for the server to close a connection: a bound for a loaded machine. */
const CLOSE_WITHIN_MS = 30_000

describe('roster serve: each limit acts and is counted', () => {
  let dir: string
  let registry: string
  let small: string
  let ca: string
  let tls: ReturnType<typeof makeTlsFiles>
  let serviceToken: string
  let readToken: string

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'roster-serve-limits-'))
    tls = makeTlsFiles(dir)
    ca = readFileSync(tls.caFile, 'utf8')
    // Two registries with the same tokens: the limits whose cases send no request that reads many
    // services (the timeouts, the limit per address) get a serve of the small one, which starts
    // with less to read.
    small = `sqlite:${path.join(dir, 'small.db')}`
    await seedRegistry(small, 10)
    serviceToken = await createToken(small, {id: 'host', role: 'service', namespaces: ['default']})
    readToken = await createToken(small, {id: 'prometheus', role: 'read', namespaces: ['*']})
    copyFileSync(path.join(dir, 'small.db'), path.join(dir, 'registry.db'))
    registry = `sqlite:${path.join(dir, 'registry.db')}`
    await seedRegistry(registry, 10_000)
  })

  after(() => {
    rmSync(dir, {recursive: true, force: true})
  })

  interface LimitedServe {
    url: string
    port: number
    metrics: () => Promise<string>
    stop: () => Promise<number>
  }

  /** A serve of the large registry with `args`; of the small one with `on: small`. */
  async function serveWith(args: string[], on = registry): Promise<LimitedServe> {
    const serve: ServeProcess = await startServe({
      registry: on,
      args: ['--tls-cert', tls.serverCertFile, '--tls-key', tls.serverKeyFile, ...args],
    })
    return {
      url: serve.url,
      port: Number(new URL(serve.url).port),
      metrics: async () => (await once(`${serve.url}/metrics`, {ca})).body,
      stop: () => serve.stop(),
    }
  }

  /** `test` against a serve with `args`, stopped when it ends. */
  async function withServe(args: string[], on: string, test: (s: LimitedServe) => Promise<void>): Promise<void> {
    const s = await serveWith(args, on)
    try {
      await test(s)
    } finally {
      await s.stop()
    }
  }

  /** A TLS connection from `localAddress`, once its handshake is done. */
  function tlsClient(port: number, localAddress = '127.0.0.1'): Promise<TLSSocket> {
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({host: '127.0.0.1', port, ca, localAddress} as ConnectionOptions, () => resolve(socket))
      socket.once('error', reject)
    })
  }

  /** What the server sent before it closed the connection (rejects if it stays open CLOSE_WITHIN_MS). */
  function untilClosed(socket: Socket): Promise<string> {
    return new Promise((resolve, reject) => {
      let received = ''
      const timer = setTimeout(() => reject(new Error(`the server kept the connection open ${CLOSE_WITHIN_MS} ms`)), CLOSE_WITHIN_MS)
      socket.setEncoding('utf8').on('data', (d: string) => (received += d))
      socket.on('error', () => undefined)
      socket.once('close', () => {
        clearTimeout(timer)
        resolve(received)
      })
    })
  }

  /**
   * Connections from `localAddress`, each with a request in flight whose body never comes (serve
   * reads the bodies of authenticated requests only): resolves once the server has taken each
   * request (its `100 Continue`).
   */
  function busy(port: number, count: number, localAddress: string): Promise<TLSSocket[]> {
    return Promise.all(
      Array.from({length: count}, async () => {
        const socket = await tlsClient(port, localAddress)
        const taken = new Promise((resolve) => socket.once('data', resolve))
        socket.write(
          `POST /v1/services HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${serviceToken}\r\n` +
            'Content-Type: application/json\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n',
        )
        await taken
        return socket
      }),
    )
  }

  describe('limits whose requests and counters cannot meet, on one serve', () => {
    let s: LimitedServe
    before(async () => {
      s = await serveWith([
        '--max-body-size',
        '2KiB',
        '--max-header-size',
        '2KiB',
        '--max-sd-renders',
        '1',
        '--sd-render-wait',
        '1ms',
        '--max-follows',
        '2',
      ])
    })
    after(() => s.stop())

    it('a body over max-body-size is answered 413 naming the configured size, and counted', async () => {
      const body = JSON.stringify({name: 'x', endpoints: ['http://x:9100/metrics'], description: 'd'.repeat(3000)})
      const r = await once(`${s.url}/v1/services`, {ca, method: 'POST', token: serviceToken, body})
      assert.equal(r.status, 413)
      assert.equal((JSON.parse(r.body) as {error: {message: string}}).error.message, 'request body larger than 2048 bytes (2KiB)')
      assert.equal(metricValue(await s.metrics(), 'roster_serve_requests_refused_total{reason="max-body-size"}'), 1)
      const text = await s.metrics()
      assert.equal(metricValue(text, 'roster_serve_limit{limit="max-body-size"}'), 2048)
      for (const spec of LIMITS) {
        assert.match(text, new RegExp(`^${spec.counter.replace(/[{}"]/g, '\\$&')} \\d+$`, 'm'), `${spec.setting} is counted`)
        assert.match(text, new RegExp(`^roster_serve_limit\\{limit="${spec.setting}"\\} `, 'm'), `${spec.setting} is shown`)
      }
    })

    it('headers over max-header-size are answered 431, and counted', async () => {
      const socket = await tlsClient(s.port)
      const closed = untilClosed(socket)
      socket.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'b'.repeat(3000)}\r\n\r\n`)
      assert.match(await closed, /^HTTP\/1\.1 431 /)
      assert.equal(metricValue(await s.metrics(), 'roster_serve_requests_refused_total{reason="max-header-size"}'), 1)
    })

    it('max-sd-renders and sd-render-wait: renders beyond the bound wait, and those that wait too long are answered 503 with Retry-After; the rest are right', async () => {
      const paths = Array.from({length: 10}, (_, i) => [`/v1/sd/prom${i}/default`, `/v1/sd/prom${i}/default?config=blackbox`]).flat()
      await once(`${s.url}/v1/sd/prom0`, {ca, token: readToken}) // the token is verified once, then remembered
      // Twenty requests for twenty answers, sent at once on twenty connections.
      const sockets = await Promise.all(paths.map(() => tlsClient(s.port)))
      const answers = sockets.map((socket) => untilClosed(socket))
      sockets.forEach((socket, i) =>
        socket.write(`GET ${paths[i]} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${readToken}\r\nConnection: close\r\n\r\n`),
      )
      const statuses = (await Promise.all(answers)).map((text) => Number(/^HTTP\/1\.1 (\d+) /.exec(text)?.[1]))
      assert.ok(statuses.includes(503), `some waited too long: ${statuses.join(' ')}`)
      assert.ok(statuses.includes(200), `some were rendered: ${statuses.join(' ')}`)
      const text = await s.metrics()
      assert.equal(metricValue(text, 'roster_serve_sd_renders_refused_total'), statuses.filter((x) => x === 503).length)
      assert.equal(metricValue(text, 'roster_serve_sd_renders_waiting'), 0)
      assert.equal(metricValue(text, 'roster_serve_sd_renders_in_flight'), 0)
      // Asked one at a time, every answer comes, whole.
      for (const p of paths) {
        const r = await once(`${s.url}${p}`, {ca, token: readToken})
        assert.equal(r.status, 200, p)
        assert.equal((JSON.parse(r.body) as unknown[]).length, 1000, p)
      }
    })

    it('max-follows: a history follow beyond the bound is answered 503 with Retry-After and counted; one that ends makes room', async () => {
      const follow = async (): Promise<TLSSocket> => {
        const socket = await tlsClient(s.port)
        socket.write(`GET /v1/events?follow=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${readToken}\r\n\r\n`)
        return socket
      }
      /** /metrics once `roster_serve_follows` is `n` (it counts a follow once it has started). */
      const followsAt = async (n: number): Promise<string> => {
        let text = ''
        return until(
          `roster_serve_follows at ${n}`,
          async () => {
            text = await s.metrics()
            return metricValue(text, 'roster_serve_follows') === n && text
          },
          {timeoutMs: CLOSE_WITHIN_MS, describe: () => `roster_serve_follows is ${metricValue(text, 'roster_serve_follows')}`},
        )
      }
      const open = [await follow(), await follow()]
      await followsAt(2)
      const refused = await once(`${s.url}/v1/events?follow=1`, {ca, token: readToken})
      assert.equal(refused.status, 503, refused.body)
      assert.equal(refused.headers['retry-after'], '1')
      assert.match(refused.body, /too many history follows are open \(max-follows 2\)/)
      // A page of the history is no follow: still answered.
      assert.equal((await once(`${s.url}/v1/events?limit=1`, {ca, token: readToken})).status, 200)
      const text = await s.metrics()
      assert.equal(metricValue(text, 'roster_serve_requests_refused_total{reason="max-follows"}'), 1)
      assert.equal(metricValue(text, 'roster_serve_limit{limit="max-follows"}'), 2)
      open.shift()!.destroy()
      await followsAt(1)
      open.push(await follow())
      await followsAt(2)
      for (const socket of open) socket.destroy()
      await followsAt(0)
    })
  })

  describe('timeouts', () => {
    let s: Awaited<ReturnType<typeof serveWith>>
    before(async () => {
      s = await serveWith(
        ['--headers-timeout', '1s', '--request-timeout', '2s', '--keep-alive-timeout', '1s', '--tls-handshake-timeout', '1s'],
        small,
      )
    })
    after(() => s.stop())

    it('headers not all in within headers-timeout: 408, closed, counted', async () => {
      const socket = await tlsClient(s.port)
      const closed = untilClosed(socket)
      socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0')
      assert.match(await closed, /^HTTP\/1\.1 408 /)
      assert.ok(metricValue(await s.metrics(), 'roster_serve_timeouts_total{kind="headers"}') >= 1)
    })

    it('a body not all in within request-timeout: 408, closed, counted as a request timeout', async () => {
      const [socket] = await busy(s.port, 1, '127.0.0.1')
      const closed = untilClosed(socket!)
      assert.match(await closed, /^HTTP\/1\.1 408 /)
      const text = await s.metrics()
      assert.equal(metricValue(text, 'roster_serve_timeouts_total{kind="request"}'), 1)
    })

    it('a connection idle after its answer for keep-alive-timeout: closed, counted', async () => {
      const socket = await tlsClient(s.port)
      const closed = untilClosed(socket)
      socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
      assert.match(await closed, /^HTTP\/1\.1 200 [\s\S]*Keep-Alive: timeout=1/)
      assert.equal(metricValue(await s.metrics(), 'roster_serve_timeouts_total{kind="keep-alive"}'), 1)
    })

    it('a TLS handshake not done within tls-handshake-timeout is closed even while it trickles in (Node restarts its own timer on every byte)', async () => {
      const hello = await captureClientHello()
      const socket = netConnect({host: '127.0.0.1', port: s.port})
      const closed = untilClosed(socket)
      // A real ClientHello, a byte every 100 ms: it would take half a minute.
      let sent = 0
      const trickle = setInterval(() => socket.writable && socket.write(hello.subarray(sent, ++sent)), 100)
      await closed.finally(() => clearInterval(trickle))
      assert.ok(sent < hello.length, 'closed before the ClientHello was all sent')
      assert.equal(metricValue(await s.metrics(), 'roster_serve_timeouts_total{kind="tls-handshake"}'), 1)
    })
  })

  // The send timeout's connections never pass the connection limit (four, with two for probes)
  // and its counter is not one the limit's case reads: one serve, whose connections the send
  // timeout's case has all closed before the limit's case fills them.
  describe('send-timeout and max-connections, on one serve', () => {
    // The default keep-alive timeout: a shorter one would close the connection while the slow
    // reader still takes the last answer's tail from the kernel.
    let s: Awaited<ReturnType<typeof serveWith>>
    before(async () => {
      s = await serveWith(['--send-timeout', '3s', '--max-connections', '4', '--probe-connections', '2'])
    })
    after(() => s.stop())

    /**
     * Three requests for 10,000 services each, pipelined: more than the kernel's socket buffers
     * hold (the sender's up to 4 MiB), so that what the client does not take stays in serve.
     */
    const LARGE_ANSWERS = (): string =>
      `GET /v1/services?limit=10000 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${readToken}\r\n\r\n`.repeat(3)

    it('answers their client stops taking: closed after send-timeout, counted; a client reading slowly gets all of them', async () => {
      const stalled = await tlsClient(s.port)
      stalled.pause()
      stalled.write(LARGE_ANSWERS())
      await until(
        'the stalled connection counted',
        async () => metricValue(await s.metrics(), 'roster_serve_timeouts_total{kind="send"}') === 1,
      )
      // A paused socket sees its end only when it reads again: what the kernel held, then the end.
      const closed = untilClosed(stalled)
      stalled.resume()
      assert.match(await closed, /^HTTP\/1\.1 200 /)

      // The same answers to a client that pauses between bursts of reading: the kernel takes some
      // bytes within every send timeout, so it is never cut off, though it takes longer in all.
      const one = await once(`${s.url}/v1/services?limit=10000`, {ca, token: readToken})
      const bodies = 3 * Buffer.byteLength(one.body)
      const slow = await tlsClient(s.port)
      let received = 0
      let chunks = 0
      const done = new Promise<void>((resolve, reject) => {
        slow.on('data', (chunk: Buffer) => {
          received += chunk.length
          if (received >= bodies) return resolve()
          if (++chunks % 32 === 0) {
            slow.pause()
            setTimeout(() => slow.resume(), 300)
          }
        })
        slow.once('close', () => reject(new Error(`closed after ${received} of at least ${bodies} bytes`)))
        slow.once('error', reject)
      })
      slow.write(LARGE_ANSWERS())
      await done
      slow.destroy()
      assert.equal(metricValue(await s.metrics(), 'roster_serve_timeouts_total{kind="send"}'), 1)
    })

    it('max-connections with every connection busy: /healthz and /metrics still answered from the probe pool, anything else 503 with Retry-After', async () => {
      // Only the connection that asks is open: the send timeout's case left none behind.
      await until('no connection but the one asking', async () => metricValue(await s.metrics(), 'roster_serve_connections') === 1)
      const held = (await Promise.all([1, 2, 3, 4].map((i) => busy(s.port, 1, `127.0.31.${i}`)))).flat()
      assert.equal((await once(`${s.url}/healthz`, {ca})).status, 200)
      const sd = await once(`${s.url}/v1/sd/prom1`, {ca, token: readToken})
      assert.equal(sd.status, 503)
      assert.equal(sd.headers['retry-after'], '1')
      assert.match(sd.body, /connection limit/)
      // Two idle connections fill the probe pool: a scrape still gets in, in the place of the oldest.
      const idle = [1, 2].map(() => netConnect({host: '127.0.0.1', port: s.port, localAddress: '127.0.31.9'}))
      for (const socket of idle) await new Promise((resolve) => socket.once('connect', resolve))
      const text = await s.metrics()
      assert.equal(metricValue(text, 'roster_serve_requests_refused_total{reason="probe-connections"}'), 1)
      assert.ok(metricValue(text, 'roster_serve_connections_reused_total{reason="probe-connections"}') >= 1)
      assert.equal(metricValue(text, 'roster_serve_connections_refused_total{reason="max-connections"}'), 0)
      for (const socket of [...idle, ...held]) socket.destroy()
    })
  })

  it('max-connections-per-address: one address gets its limit, reusing its idle connections, then is refused; another address is not affected', () =>
    withServe(['--max-connections-per-address', '3', '--probe-connections', '0'], small, async (s) => {
      // Three idle connections from 127.0.30.1: a fourth from there takes the place of the oldest.
      const idle = [1, 2, 3].map(() => netConnect({host: '127.0.0.1', port: s.port, localAddress: '127.0.30.1'}))
      const firstClosed = untilClosed(idle[0]!)
      for (const socket of idle) await new Promise((resolve) => socket.once('connect', resolve))
      const r = await once(`${s.url}/v1/sd/prom1`, {ca, token: readToken, localAddress: '127.0.30.1'})
      assert.equal(r.status, 200)
      await firstClosed
      // Three requests in flight from 127.0.30.2: a fourth connection from there is closed at once.
      const held = await busy(s.port, 3, '127.0.30.2')
      await assert.rejects(once(`${s.url}/healthz`, {ca, localAddress: '127.0.30.2'}), /ECONNRESET|socket disconnected|socket hang up/)
      const text = await s.metrics()
      assert.equal(metricValue(text, 'roster_serve_connections_reused_total{reason="max-connections-per-address"}'), 1)
      assert.equal(metricValue(text, 'roster_serve_connections_refused_total{reason="max-connections-per-address"}'), 1)
      assert.equal((await once(`${s.url}/v1/sd/prom1`, {ca, token: readToken, localAddress: '127.0.30.3'})).status, 200)
      for (const socket of [...idle, ...held]) socket.destroy()
    }))
})
