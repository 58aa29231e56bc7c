/**
 * The console's sign-in state, kept in this process's memory only:
 * - sessions: a random id in a signed cookie (HttpOnly, Secure, SameSite=Lax, Path=/, expiring),
 *   pointing at what the sign-in gave (the person's bearer token for /v1, the refresh token,
 *   who they are). At most MAX_SESSIONS: the oldest goes first. The signing key is made at start,
 *   so a restart signs everyone out and no cookie from before it is accepted;
 * - sign-ins under way: the PKCE verifier, nonce and return path of each, keyed by its state, at
 *   most MAX_PENDING for SIGN_IN_LIMIT_MS; the browser that started one carries its state in a
 *   signed cookie, so a callback another browser was sent to is refused;
 * - CSRF tokens for the sign-in and sign-out forms: the session's own secret, or before sign-in
 *   a random value in a cookie of its own, sent masked with fresh random bytes on every page so
 *   that the bytes of a page never repeat the secret.
 */
import {createHmac, randomBytes, timingSafeEqual} from 'node:crypto'

import type {Role} from '../../auth/caller.js'

export const SESSION_COOKIE = '__Host-roster-session'
export const CSRF_COOKIE = '__Host-roster-csrf'
export const SIGN_IN_COOKIE = '__Host-roster-sign-in'
/** A session ends this long after sign-in, whatever the refreshes. */
export const SESSION_LIMIT_MS = 12 * 3600_000
export const SIGN_IN_LIMIT_MS = 10 * 60_000
const MAX_SESSIONS = 10_000
const MAX_PENDING = 1000

/** What a sign-in (or a refresh) gives a session. */
export interface SignedIn {
  /** The provider's token sent to /v1 as the bearer. */
  bearer: string
  /** When the bearer expires (epoch ms). */
  bearerExpiresAt: number
  refreshToken?: string
  subject: string
  name: string
  role: Role
}

export interface Session extends SignedIn {
  id: string
  csrf: string
  expiresAt: number
}

export interface PendingSignIn {
  verifier: string
  nonce: string
  next: string
  startedAt: number
}

export class ConsoleSessions {
  private readonly sessions = new Map<string, Session>()
  private readonly pending = new Map<string, PendingSignIn>()

  constructor(
    private readonly key: Buffer = randomBytes(32),
    private readonly now: () => number = Date.now,
  ) {}

  create(signedIn: SignedIn): Session {
    if (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!)
    const session: Session = {...signedIn, id: random(), csrf: random(), expiresAt: this.now() + SESSION_LIMIT_MS}
    this.sessions.set(session.id, session)
    return session
  }

  /** The live session a cookie value names, or undefined (unsigned, unknown, ended). */
  fromCookie(value: string | undefined): Session | undefined {
    const id = this.unsign(value)
    const session = id === undefined ? undefined : this.sessions.get(id)
    if (!session) return undefined
    if (session.expiresAt <= this.now()) {
      this.sessions.delete(session.id)
      return undefined
    }
    return session
  }

  update(session: Session, signedIn: SignedIn): void {
    Object.assign(session, signedIn)
  }

  end(session: Session): void {
    this.sessions.delete(session.id)
  }

  get size(): number {
    return this.sessions.size
  }

  cookieOf(session: Session): string {
    return this.sign(session.id)
  }

  startSignIn(state: string, pending: PendingSignIn): void {
    const cutoff = this.now() - SIGN_IN_LIMIT_MS
    for (const [key, p] of this.pending) {
      if (p.startedAt > cutoff && this.pending.size < MAX_PENDING) break
      this.pending.delete(key)
    }
    this.pending.set(state, pending)
  }

  /** The sign-in of `state`, once (a replayed callback finds nothing), if `cookie` says this browser started it. */
  takeSignIn(state: string, cookie: string | undefined): PendingSignIn | undefined {
    if (this.unsign(cookie) !== state) return undefined
    const pending = this.pending.get(state)
    this.pending.delete(state)
    if (!pending || pending.startedAt <= this.now() - SIGN_IN_LIMIT_MS) return undefined
    return pending
  }

  /** A form's CSRF token for `secret` (the session's, or the pre-sign-in cookie's): different bytes on every page. */
  csrfToken(secret: string): string {
    const mask = randomBytes(32)
    const value = this.mac(`csrf\0${secret}`)
    const masked = Buffer.alloc(32)
    for (let i = 0; i < 32; i++) masked[i] = value[i]! ^ mask[i]!
    return Buffer.concat([mask, masked]).toString('base64url')
  }

  csrfMatches(secret: string | undefined, token: unknown): boolean {
    if (!secret || typeof token !== 'string') return false
    const bytes = fromBase64url(token)
    if (bytes?.length !== 64) return false
    const value = Buffer.alloc(32)
    for (let i = 0; i < 32; i++) value[i] = bytes[i]! ^ bytes[i + 32]!
    return timingSafeEqual(value, this.mac(`csrf\0${secret}`))
  }

  sign(value: string): string {
    return `${value}.${this.mac(`cookie\0${value}`).toString('base64url')}`
  }

  unsign(signed: string | undefined): string | undefined {
    const dot = signed?.lastIndexOf('.') ?? -1
    if (!signed || dot < 1) return undefined
    const value = signed.slice(0, dot)
    const given = fromBase64url(signed.slice(dot + 1))
    const expected = this.mac(`cookie\0${value}`)
    return given?.length === expected.length && timingSafeEqual(given, expected) ? value : undefined
  }

  private mac(text: string): Buffer {
    return createHmac('sha256', this.key).update(text).digest()
  }
}

export function random(): string {
  return randomBytes(32).toString('base64url')
}

export interface CookieOptions {
  maxAgeSeconds: number
}

/** A Set-Cookie value: HttpOnly, Secure, SameSite=Lax, Path=/ (the __Host- prefix asks for all of it). */
export function setCookie(name: string, value: string, o: CookieOptions): string {
  return `${name}=${value}; Max-Age=${Math.max(0, Math.floor(o.maxAgeSeconds))}; Path=/; HttpOnly; Secure; SameSite=Lax`
}

export function clearCookie(name: string): string {
  return `${name}=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax`
}

/** The value of cookie `name` in a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

/**
 * The bytes `text` encodes in base64url, only when it is their one encoding: a decoder ignores
 * the unused low bits of the last character, so without this check four spellings of a signature
 * would all verify.
 */
function fromBase64url(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64url')
  return bytes.toString('base64url') === text ? bytes : undefined
}
