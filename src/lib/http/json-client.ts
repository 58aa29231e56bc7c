/**
 * The one small HTTP JSON client, used by every remote API roster talks to (PowerDNS, an
 * external-dns webhook provider, a remote `roster serve`): a timeout on every request, bounded
 * retries with jittered backoff of idempotent calls on an unreachable server or a 502/503/504,
 * and HTTP statuses mapped to roster's error classes and so to its exit codes.
 *
 * Credentials (headers, a URL's user:password) never appear in a message. Built on node:http and
 * node:https rather than fetch: they take a CA per request (a self-signed `roster serve`), and they
 * are loaded with Node itself, where fetch's first call loads undici.
 */
import type {IncomingHttpHeaders, IncomingMessage} from 'node:http'

import {
  BackendUnavailableError,
  ConflictError,
  InvalidInputError,
  NotAllowedError,
  NotAuthenticatedError,
  NotFoundError,
  RosterError,
  TooLargeError,
} from '../errors.js'
import {retryWithBackoff} from '../store/retry.js'
import {isTlsTrustError} from './fetch-trusting.js'

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

export interface JsonClientOptions {
  /** `http(s)://host:port[/base]`, as the user gave it; request paths are appended to it. */
  baseUrl: string
  /** A fixed API prefix appended to baseUrl's path (`/api/v1`), kept out of messages about baseUrl. */
  basePath?: string
  /** What the server is, for messages: "PowerDNS API", "roster serve". */
  what: string
  /** Bound on each attempt. */
  timeoutMs: number
  /** Bound on all attempts of one call (retries included). Default: timeoutMs. */
  retryBudgetMs?: number
  /** Sent with every request (e.g. Authorization, X-API-Key). Never printed. */
  headers?: Record<string, string>
  /** PEM CA certificates to trust for https (besides the system's). */
  ca?: string | Buffer
  /** Largest response body accepted. Default 256 MiB. */
  maxResponseBytes?: number
  /** The name of the setting holding baseUrl, for the error when it is not a URL. Default "url". */
  urlField?: string
  /** The setting holding the credentials (`token`): the field of a 401, so that the command layer can say how to give them. */
  authField?: string
}

export interface RequestOptions {
  /** Serialized as JSON, unless it is a string (sent as is). */
  body?: unknown
  query?: Record<string, string | number | boolean | undefined>
  headers?: Record<string, string>
  /** Retry on an unreachable server or 502/503/504. Default: true for GET, HEAD, PUT and DELETE. */
  idempotent?: boolean
  /** Statuses returned to the caller instead of thrown (e.g. [404] to treat absence as a value). */
  accept?: number[]
  /**
   * The caller's own error for an unexpected status (it knows what a 404 or a 415 means for it);
   * undefined falls back to errorForStatus. Credentials are scrubbed from its message too.
   */
  describeError?: (status: number, body: unknown, where: string) => RosterError | undefined
}

export interface JsonResponse<T> {
  status: number
  headers: IncomingHttpHeaders
  /** Parsed JSON, or the text when the response is not JSON, or undefined when empty. */
  body: T
}

/** A streamed answer (JsonHttpClient.stream). */
export interface StreamResponse {
  status: number
  headers: IncomingHttpHeaders
  body: AsyncIterable<Buffer>
}

/** The error body `roster serve` sends, and the shape most JSON APIs approximate. */
interface ErrorBody {
  error?: string | {code?: string; message?: string; field?: string}
  message?: string
}

const RETRYABLE_STATUS = new Set([502, 503, 504])

/** What a call reports to its observer: it started, an attempt failed and another follows, it ended. */
export type CallEvent =
  | {type: 'start'; where: string}
  | {type: 'retry'; where: string; error: string; /** Failed attempts so far. */ attempt: number; elapsedMs: number; budgetMs: number}
  | {type: 'end'; where: string}

let callObserver: ((event: CallEvent) => void) | undefined

/**
 * Sets the one observer of every call this process makes (undefined: none). The command layer
 * shows a progress line while a call is retried and says what was interrupted on Ctrl-C; this
 * module never prints.
 */
export function observeCalls(observer: ((event: CallEvent) => void) | undefined): void {
  callObserver = observer
}

/** A server answer that is worth another attempt; carries the error it becomes if none succeeds. */
class RetryableResponse extends Error {
  constructor(readonly final: RosterError) {
    super(final.message)
  }
}

export class JsonHttpClient {
  readonly origin: string
  private readonly base: URL

  constructor(private readonly options: JsonClientOptions) {
    let url: URL
    const field = options.urlField ?? 'url'
    try {
      url = new URL(options.baseUrl)
    } catch {
      throw InvalidInputError.forField(field, redactUrl(options.baseUrl), 'is not a URL')
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw InvalidInputError.forField(field, redactUrl(options.baseUrl), 'must be an http:// or https:// URL')
    }
    url.username = ''
    url.password = ''
    if (options.basePath) url.pathname = url.pathname.replace(/\/+$/, '') + options.basePath
    this.base = url
    this.origin = url.origin
  }

  async request<T = unknown>(method: HttpMethod, path: string, options: RequestOptions = {}): Promise<JsonResponse<T>> {
    const idempotent = options.idempotent ?? ['GET', 'HEAD', 'PUT', 'DELETE'].includes(method)
    const url = this.urlFor(path, options.query)
    const budget = this.options.retryBudgetMs ?? this.options.timeoutMs
    const attempt = () => this.once<T>(method, url, options)
    const where = this.where
    const observer = callObserver
    observer?.({type: 'start', where})
    try {
      if (!idempotent) {
        try {
          return await attempt()
        } catch (error) {
          throw error instanceof RetryableResponse ? error.final : error
        }
      }
      const started = Date.now()
      let failures = 0
      return await retryWithBackoff(attempt, {
        deadline: started + budget,
        initialDelayMs: 100,
        maxDelayMs: 2000,
        minAttemptMs: 50,
        isRetryable: (error) => {
          const retryable = error instanceof RetryableResponse || error instanceof BackendUnavailableError
          if (retryable) {
            const message = (error as Error).message
            observer?.({type: 'retry', where, error: message, attempt: ++failures, elapsedMs: Date.now() - started, budgetMs: budget})
          }
          return retryable
        },
        onExhausted: (error) => (error instanceof RetryableResponse ? error.final : (error as Error)),
      })
    } finally {
      observer?.({type: 'end', where})
    }
  }

  get<T = unknown>(path: string, options?: RequestOptions): Promise<JsonResponse<T>> {
    return this.request<T>('GET', path, options)
  }

  /**
   * A GET whose answer is a stream of lines (newline-delimited JSON): each non-empty line goes to
   * `onLine` as it arrives, the next only once a promise it returns settles. The timeout bounds
   * the wait for the answer, not the stream, which lasts until the server ends it (`ended`
   * resolves), `onLine` throws or the connection fails (it rejects), or close(). Not retried: a
   * follower that lost its stream decides what to ask for next.
   */
  streamLines(
    path: string,
    options: Pick<RequestOptions, 'query' | 'headers'>,
    onLine: (line: string) => void | Promise<void>,
  ): {ended: Promise<void>; close(): void} {
    const url = this.urlFor(path, options.query)
    const headers: Record<string, string> = {accept: 'application/x-ndjson', ...this.options.headers, ...options.headers}
    checkHeaderValues(headers)
    const where = this.where
    let closed = false
    let stop = (): void => undefined
    const ended = (async () => {
      const {request} = url.protocol === 'https:' ? await import('node:https') : await import('node:http')
      if (closed) return
      await new Promise<void>((resolve, reject) => {
        const fail = (error: Error): void => reject(scrub(error, headers))
        const req = request(url, {method: 'GET', headers, ca: this.options.ca, timeout: this.options.timeoutMs}, (res) => {
          req.setTimeout(0)
          const status = res.statusCode ?? 0
          if (status < 200 || status >= 300) {
            void errorBodyOf(res, status, where, this.options.authField).then(fail, fail)
            return
          }
          let rest = ''
          let lines = Promise.resolve()
          res.setEncoding('utf8')
          res.on('data', (chunk: string) => {
            const parts = (rest + chunk).split('\n')
            rest = parts.pop() ?? ''
            if (rest.length > MAX_STREAM_LINE) {
              req.destroy()
              fail(new BackendUnavailableError(`${where} sent a line longer than ${MAX_STREAM_LINE} characters (GET ${url.pathname})`))
              return
            }
            res.pause()
            lines = parts
              .filter((line) => line.trim() !== '')
              .reduce((previous, line) => previous.then(() => onLine(line)), lines)
              .then(() => void res.resume())
            lines.catch((error: unknown) => {
              req.destroy()
              fail(error instanceof Error ? error : new Error(String(error)))
            })
          })
          res.on('end', () => void lines.then(() => (rest.trim() === '' ? undefined : onLine(rest))).then(() => resolve(), reject))
          res.on('error', (error) =>
            fail(new BackendUnavailableError(`${where}: the answer to GET ${url.pathname} broke off (${error.message})`)),
          )
        })
        stop = () => {
          req.destroy()
          resolve()
        }
        req.on('timeout', () =>
          req.destroy(new BackendUnavailableError(`${where} did not answer GET ${url.pathname} within ${this.options.timeoutMs} ms`)),
        )
        req.on('error', (error: NodeJS.ErrnoException) => fail(error instanceof RosterError ? error : transportError(where, error)))
        req.end()
      })
    })()
    return {
      ended,
      close: () => {
        closed = true
        stop()
      },
    }
  }

  /**
   * A GET whose answer is read as it arrives and never held whole (a backup of a whole registry):
   * resolves once a 2xx status came, with the body's chunks; any other status is the error
   * request() throws for it. Not retried. A connection that breaks off, or is silent for the
   * timeout, fails the iteration of the body with BackendUnavailableError.
   */
  async stream(path: string, options: Pick<RequestOptions, 'query' | 'headers'> = {}): Promise<StreamResponse> {
    const url = this.urlFor(path, options.query)
    const {request} = url.protocol === 'https:' ? await import('node:https') : await import('node:http')
    const headers: Record<string, string> = {...this.options.headers, ...options.headers}
    checkHeaderValues(headers)
    const where = this.where
    const broken = (error: unknown): RosterError =>
      error instanceof RosterError
        ? error
        : scrub(new BackendUnavailableError(`${where}: the answer to GET ${url.pathname} broke off (${(error as Error).message})`), headers)
    return new Promise((resolve, reject) => {
      const req = request(url, {method: 'GET', headers, ca: this.options.ca, timeout: this.options.timeoutMs}, (res) => {
        const status = res.statusCode ?? 0
        if (status >= 200 && status < 300) {
          const body = (async function* () {
            try {
              for await (const chunk of res) yield chunk as Buffer
            } catch (error) {
              throw broken(error)
            }
            if (!res.complete) throw broken(new Error('the connection closed before the end'))
          })()
          resolve({status, headers: res.headers, body})
          return
        }
        void errorBodyOf(res, status, where, this.options.authField).then(
          (error) => reject(scrub(error, headers)),
          (error: unknown) => reject(broken(error)),
        )
      })
      req.on('timeout', () =>
        req.destroy(new BackendUnavailableError(`${where} sent nothing for ${this.options.timeoutMs} ms (GET ${url.pathname})`)),
      )
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (error instanceof RosterError) return reject(error)
        reject(scrub(transportError(where, error), headers))
      })
      req.end()
    })
  }

  /** `what at origin`, the way every message names the server. */
  get where(): string {
    return `${this.options.what} at ${this.origin}`
  }

  private urlFor(path: string, query: RequestOptions['query']): URL {
    const url = new URL(this.base.href.replace(/\/+$/, '') + path)
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v))
    return url
  }

  private async once<T>(method: HttpMethod, url: URL, options: RequestOptions): Promise<JsonResponse<T>> {
    const {request} = url.protocol === 'https:' ? await import('node:https') : await import('node:http')
    const payload = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body)
    const headers: Record<string, string> = {accept: 'application/json', ...this.options.headers, ...options.headers}
    if (payload !== undefined) {
      headers['content-type'] ??= 'application/json'
      headers['content-length'] = String(Buffer.byteLength(payload))
    }
    const where = this.where
    const limit = this.options.maxResponseBytes ?? 256 * 1024 * 1024
    checkHeaderValues(headers)
    const {status, resHeaders, text} = await new Promise<{status: number; resHeaders: IncomingHttpHeaders; text: string}>(
      (resolve, reject) => {
        const req = request(url, {method, headers, ca: this.options.ca, timeout: this.options.timeoutMs}, (res) => {
          const chunks: Buffer[] = []
          let size = 0
          res.on('data', (chunk: Buffer) => {
            size += chunk.length
            if (size > limit) {
              // Once the answer has started, an error given to req.destroy() reaches no listener:
              // settle here, then drop the connection.
              reject(new BackendUnavailableError(`${where}: response larger than ${limit} bytes`))
              res.removeAllListeners('data')
              req.destroy()
              return
            }
            chunks.push(chunk)
          })
          res.on('end', () => resolve({status: res.statusCode ?? 0, resHeaders: res.headers, text: Buffer.concat(chunks).toString('utf8')}))
          res.on('error', reject)
        })
        req.on('timeout', () =>
          req.destroy(new BackendUnavailableError(`${where} did not answer ${method} ${url.pathname} within ${this.options.timeoutMs} ms`)),
        )
        req.on('error', (error: NodeJS.ErrnoException) => {
          if (error instanceof RosterError) return reject(error)
          reject(scrub(transportError(where, error), headers))
        })
        req.end(payload)
      },
    )
    const body = parseBody(text, resHeaders['content-type'])
    if ((status >= 200 && status < 300) || options.accept?.includes(status)) return {status, headers: resHeaders, body: body as T}
    const error = scrub(
      options.describeError?.(status, body, where) ?? errorForStatus(status, where, body, this.options.authField),
      headers,
    )
    if (RETRYABLE_STATUS.has(status)) throw new RetryableResponse(error)
    throw error
  }
}

/** Header values (API keys, tokens) never reach a message, even when a server echoes them. */
function scrub<E extends Error>(error: E, headers: Record<string, string>): E {
  let message = error.message
  for (const [name, value] of Object.entries(headers)) {
    if (/^(accept|content-type|content-length|user-agent)$/i.test(name) || value.length < 4) continue
    for (const secret of [value, value.replace(/^(Bearer|Basic)\s+/i, '')])
      if (secret.length >= 4) message = message.split(secret).join('***')
  }
  if (message !== error.message) error.message = message
  return error
}

/**
 * Header values must be visible ASCII (and tab/space): Node refuses anything else with an
 * exception that would surface as a bug (exit 1). A token or key pasted with stray characters is
 * bad input: refused by name, never echoed (it is a credential).
 */
function checkHeaderValues(headers: Record<string, string>): void {
  for (const [name, value] of Object.entries(headers)) {
    if (/^[\t\x20-\x7e]*$/.test(value)) continue
    const field = name.toLowerCase() === 'authorization' ? 'token' : name
    throw new InvalidInputError(`${field}: holds characters an HTTP header cannot carry (only printable ASCII); check its value`, {field})
  }
}

function parseBody(text: string, contentType: string | undefined): unknown {
  if (text === '') return undefined
  if (contentType?.includes('json') || /^\s*[[{]/.test(text)) {
    try {
      return JSON.parse(text) as unknown
    } catch {
      return text
    }
  }
  return text
}

/** The server's own one-line message, if it sent one. */
export function serverMessage(body: unknown): {message?: string; field?: string} {
  if (typeof body === 'string') return {message: body.split('\n')[0]?.trim().slice(0, 500) || undefined}
  const b = body as ErrorBody | undefined
  if (!b || typeof b !== 'object') return {}
  if (typeof b.error === 'string') return {message: b.error}
  if (b.error && typeof b.error === 'object') return {message: b.error.message, field: b.error.field}
  if (typeof b.message === 'string') return {message: b.message}
  return {}
}

/** 400→2, 401/403→4, 404→5, 409→6, 413→2, 5xx and anything else unexpected→3. */
export function errorForStatus(status: number, where: string, body: unknown, authField?: string): RosterError {
  const {message, field} = serverMessage(body)
  const text = message ?? `HTTP ${status}`
  switch (status) {
    case 400:
    case 422:
      return new InvalidInputError(text, {field})
    case 401:
      return new NotAuthenticatedError(`${where}: ${text}`, {field: authField})
    case 403:
      return new NotAllowedError(`${where}: ${text}`)
    case 404:
      return new NotFoundError(text)
    case 409:
      return new ConflictError(text)
    case 413:
      return new TooLargeError(text, {field})
    default:
      return new BackendUnavailableError(`${where}: HTTP ${status}${message ? `: ${message}` : ''}`)
  }
}

function transportError(where: string, error: NodeJS.ErrnoException): RosterError {
  const code = error.code ?? ''
  if (isTlsTrustError(error)) {
    return new InvalidInputError(`${where}: TLS verification failed (${code || error.message}); trust its CA or fix the certificate`)
  }
  return new BackendUnavailableError(`${where} is unreachable (${code || error.message})`)
}

/** A URL without its user:password, for messages. */
export function redactUrl(value: string): string {
  return value.replace(/(\/\/)[^/@]*@/g, '$1***@')
}

/** The longest line a stream of lines may send (an event is a few KiB). */
const MAX_STREAM_LINE = 1024 * 1024
/** How much of an error answer is read: its message is at the start. */
const MAX_ERROR_BODY = 64 * 1024

/** The error a non-2xx answer streamed to us stands for, from at most MAX_ERROR_BODY of its body. */
function errorBodyOf(res: IncomingMessage, status: number, where: string, authField?: string): Promise<RosterError> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    res.on('data', (chunk: Buffer) => {
      if (size < MAX_ERROR_BODY) chunks.push(chunk)
      size += chunk.length
    })
    res.on('end', () => {
      const body = parseBody(Buffer.concat(chunks).subarray(0, MAX_ERROR_BODY).toString('utf8'), res.headers['content-type'])
      resolve(errorForStatus(status, where, body, authField))
    })
    res.on('error', reject)
  })
}
