/**
 * The console's session bookkeeping (no browser): signed cookies, CSRF tokens that differ on every
 * page and still verify, sessions that end, a bounded set, sign-ins taken once and only by the
 * browser that started them, a restart (a new key) accepting no cookie from before; the public
 * URL setting; HTML escaping.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {html, raw} from '../../src/lib/server/ui/html.js'
import {parsePublicUrl} from '../../src/lib/server/ui/options.js'
import {ConsoleSessions, SESSION_LIMIT_MS, SIGN_IN_LIMIT_MS, cookieValue, setCookie} from '../../src/lib/server/ui/session.js'

const person = {bearer: 'jwt', bearerExpiresAt: Date.now() + 600_000, subject: 'alice', name: 'Alice', role: 'admin' as const}

describe('console sessions', () => {
  it('a session is found by its signed cookie only; a forged or tampered cookie finds nothing', () => {
    const sessions = new ConsoleSessions()
    const session = sessions.create(person)
    const cookie = sessions.cookieOf(session)
    assert.equal(sessions.fromCookie(cookie), session)
    assert.equal(sessions.fromCookie(session.id), undefined, 'the bare id is not a cookie')
    assert.equal(sessions.fromCookie(`${session.id}.${'A'.repeat(43)}`), undefined)
    // Every other last character: those that change the signature's bits, and those that change
    // only the unused low bits a decoder would ignore.
    for (const last of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_') {
      if (last !== cookie.at(-1)) assert.equal(sessions.fromCookie(`${cookie.slice(0, -1)}${last}`), undefined, last)
    }
    assert.equal(sessions.fromCookie(undefined), undefined)
  })

  it('a restart (a new signing key) accepts no cookie from before it', () => {
    const before = new ConsoleSessions()
    const cookie = before.cookieOf(before.create(person))
    assert.equal(new ConsoleSessions().fromCookie(cookie), undefined)
  })

  it('a session ends at its limit and at sign-out', () => {
    let now = 1_000_000
    const sessions = new ConsoleSessions(undefined, () => now)
    const session = sessions.create(person)
    const cookie = sessions.cookieOf(session)
    now += SESSION_LIMIT_MS - 1
    assert.ok(sessions.fromCookie(cookie))
    now += 1
    assert.equal(sessions.fromCookie(cookie), undefined)
    const other = sessions.create(person)
    sessions.end(other)
    assert.equal(sessions.fromCookie(sessions.cookieOf(other)), undefined)
  })

  it('the set of sessions is bounded: the oldest goes first', () => {
    const sessions = new ConsoleSessions()
    const first = sessions.create(person)
    for (let i = 0; i < 10_000; i++) sessions.create(person)
    assert.equal(sessions.size, 10_000)
    assert.equal(sessions.fromCookie(sessions.cookieOf(first)), undefined)
  })

  it('CSRF tokens: new bytes on every page, each verifies for its secret only', () => {
    const sessions = new ConsoleSessions()
    const a = sessions.csrfToken('secret-a')
    const b = sessions.csrfToken('secret-a')
    assert.notEqual(a, b)
    assert.ok(sessions.csrfMatches('secret-a', a) && sessions.csrfMatches('secret-a', b))
    assert.equal(sessions.csrfMatches('secret-b', a), false)
    assert.equal(sessions.csrfMatches(undefined, a), false)
    assert.equal(sessions.csrfMatches('secret-a', 'forged'), false)
    assert.equal(sessions.csrfMatches('secret-a', undefined), false)
    assert.equal(new ConsoleSessions().csrfMatches('secret-a', a), false, 'another key (a restart) refuses it')
  })

  it('a sign-in is taken once, by the browser whose cookie names its state, within its time', () => {
    let now = 5_000_000
    const sessions = new ConsoleSessions(undefined, () => now)
    const pending = {verifier: 'v', nonce: 'n', next: '/ui/', startedAt: now}
    sessions.startSignIn('state-1', pending)
    assert.equal(sessions.takeSignIn('state-1', sessions.sign('state-2')), undefined, 'another browser')
    assert.deepEqual(sessions.takeSignIn('state-1', sessions.sign('state-1')), pending)
    assert.equal(sessions.takeSignIn('state-1', sessions.sign('state-1')), undefined, 'a replayed callback')
    sessions.startSignIn('state-3', {...pending, startedAt: now})
    now += SIGN_IN_LIMIT_MS
    assert.equal(sessions.takeSignIn('state-3', sessions.sign('state-3')), undefined, 'too late')
  })

  it('cookies: HttpOnly, Secure, SameSite=Lax, Path=/, expiring; read back from a Cookie header', () => {
    assert.equal(setCookie('__Host-x', 'v.s', {maxAgeSeconds: 60}), '__Host-x=v.s; Max-Age=60; Path=/; HttpOnly; Secure; SameSite=Lax')
    assert.equal(cookieValue('a=1; __Host-x=v.s; b=2', '__Host-x'), 'v.s')
    assert.equal(cookieValue('a=1', '__Host-x'), undefined)
  })
})

describe('console settings and markup', () => {
  it('public-url: an https origin, http only on loopback, no path, query or credentials', () => {
    assert.equal(parsePublicUrl('https://roster.example.com/'), 'https://roster.example.com')
    assert.equal(parsePublicUrl('http://127.0.0.1:3002'), 'http://127.0.0.1:3002')
    assert.equal(parsePublicUrl('http://localhost:3002'), 'http://localhost:3002')
    assert.throws(
      () => parsePublicUrl('http://roster.example.com'),
      /^InvalidInputError: public-url "http:\/\/roster\.example\.com": http:\/\/ only for a loopback host/,
    )
    assert.throws(() => parsePublicUrl('https://roster.example.com/console'), /public-url .*must be an origin/)
    assert.throws(() => parsePublicUrl('https://u:p@roster.example.com'), /public-url .*must be an origin/)
    assert.throws(() => parsePublicUrl('roster.example.com'), /public-url .*is not a URL/)
  })

  it('html`` escapes every value but markup it wrote itself', () => {
    const name = '<script>alert("x")</script>'
    assert.equal(
      html`<p title="${name}">${name}${raw('<br>')}${[1, '&']}${undefined}${false}</p>`.text,
      '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;<br>1&amp;</p>',
    )
  })
})
