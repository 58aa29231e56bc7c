/**
 * A fetch() that trusts a CA of the user's (an identity provider with a private CA: the
 * oidc-ca setting) besides the system's. openid-client and jose take such a function
 * (their `customFetch`); Node's own fetch takes no CA per call. Built on node:http(s), as
 * json-client.ts is: the request's method, headers, body and abort signal are honoured, redirects
 * are never followed (openid-client asks for "manual", serve's discovery refuses them), and the
 * answer is a standard Response.
 *
 * isTlsTrustError tells a certificate the client does not trust from an unreachable server, so
 * that the first is invalid input ("trust its CA"), the second retryable.
 */

export type FetchTrusting = (
  input: string | URL,
  init?: {
    method?: string
    headers?: ConstructorParameters<typeof Headers>[0]
    body?: unknown
    signal?: AbortSignal | null
    redirect?: string
  },
) => Promise<Response>

const NO_BODY_STATUS = new Set([101, 204, 205, 304])

export function fetchTrusting(ca: string | Buffer): FetchTrusting {
  return async (input, init = {}) => {
    const url = new URL(String(input))
    const {request} = url.protocol === 'https:' ? await import('node:https') : await import('node:http')
    const headers: Record<string, string> = Object.fromEntries(new Headers(init.headers))
    let body: string | Buffer | undefined
    if (init.body instanceof URLSearchParams) {
      body = init.body.toString()
      headers['content-type'] ??= 'application/x-www-form-urlencoded;charset=UTF-8'
    } else if (typeof init.body === 'string') body = init.body
    else if (init.body instanceof Uint8Array) body = Buffer.from(init.body)
    else if (init.body !== undefined && init.body !== null) throw new TypeError('fetchTrusting: unsupported body type')
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body))
    return new Promise<Response>((resolve, reject) => {
      const req = request(url, {method: init.method ?? 'GET', headers, ca, signal: init.signal ?? undefined}, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('error', reject)
        res.on('end', () => {
          const status = res.statusCode ?? 502
          const answer = new Headers()
          for (const [name, value] of Object.entries(res.headers)) {
            for (const one of Array.isArray(value) ? value : value === undefined ? [] : [value]) answer.append(name, one)
          }
          resolve(
            new Response(NO_BODY_STATUS.has(status) ? null : Buffer.concat(chunks), {
              status,
              statusText: res.statusMessage,
              headers: answer,
            }),
          )
        })
      })
      req.on('error', reject)
      req.end(body)
    })
  }
}

/** Whether `error` (or an error it was caused by) is a TLS certificate the client does not trust. */
export function isTlsTrustError(error: unknown): boolean {
  for (
    let e = error as (NodeJS.ErrnoException & {cause?: unknown}) | undefined, depth = 0;
    e && depth < 5;
    e = e.cause as typeof e, depth++
  ) {
    const code = typeof e.code === 'string' ? e.code : ''
    if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code) || /certificate/i.test(String(e.message))) return true
  }
  return false
}

/** The code (or message) of the TLS error `error` holds, for messages. */
export function tlsTrustProblem(error: unknown): string {
  for (
    let e = error as (NodeJS.ErrnoException & {cause?: unknown}) | undefined, depth = 0;
    e && depth < 5;
    e = e.cause as typeof e, depth++
  ) {
    if (typeof e.code === 'string' && /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY/.test(e.code)) return e.code
  }
  return error instanceof Error ? error.message.split('\n')[0]! : String(error)
}
