/**
 * How the console reads the registry: GET requests to serve's own /v1 routes, in-process
 * (fastify's inject: no socket), carrying the signed-in person's bearer token, and the browser's
 * address as the client's. Each one goes through the same authentication, authorization
 * (withAccess rules), validation and handlers as a request from the CLI or Prometheus; the
 * console holds no other way to the registry. With auth `none` no token is sent, as for any
 * other client of such a server.
 */
import type {FastifyInstance} from 'fastify'

import type {ApiReply, ApiRoute} from '../schemas.js'

export class V1Error extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

export type Query = Record<string, string | undefined>

export class V1Client {
  constructor(
    private readonly app: FastifyInstance,
    private readonly bearer: string | undefined,
    private readonly remoteAddress: string,
  ) {}

  /** GET `path` (under /v1) with `query`; the answer of route `R`, or V1Error with the API's status and message. */
  async get<R extends ApiRoute>(_route: R, path: string, query: Query = {}): Promise<ApiReply<R>> {
    return this.getJson<ApiReply<R>>(path, query)
  }

  /** GET a /v1 route whose schema this build may not have (GET /v1/events). */
  async getJson<T>(path: string, query: Query = {}): Promise<T> {
    const search = new URLSearchParams()
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') search.set(k, v)
    const qs = search.toString()
    const response = await this.app.inject({
      method: 'GET',
      url: `/v1${path}${qs ? `?${qs}` : ''}`,
      headers: this.bearer === undefined ? {} : {authorization: `Bearer ${this.bearer}`},
      remoteAddress: this.remoteAddress,
    })
    const body = response.body === '' ? undefined : (JSON.parse(response.body) as unknown)
    if (response.statusCode >= 200 && response.statusCode < 300) return body as T
    const error = (body as {error?: {code?: string; message?: string}} | undefined)?.error
    throw new V1Error(response.statusCode, error?.code ?? 'failure', error?.message ?? `HTTP ${response.statusCode}`)
  }
}
