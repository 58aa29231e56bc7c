/**
 * Conditional requests (RFC 9110, section 13): the ETag of a single object is its store revision as
 * a strong entity tag, `"<revision>"`; a write or delete with `If-Match: "<revision>"` changes the
 * object only if it is still at that revision (`"0"`: only if it does not exist), else 412
 * `precondition_failed` and nothing changes. The compare happens in the store transaction that
 * writes (registry/revisions.ts), not here.
 *
 * A write route takes If-Match when its schema declares the header (schemas.ts ifMatchHeaders).
 * Every other write route answers 412 to any If-Match, before it reads the body: it has no entity
 * tag that could match, and a client that asked for a conditional write must never get an
 * unconditional one. So a new write route cannot ignore If-Match by mistake.
 */
import type {FastifyReply, FastifyRequest} from 'fastify'

import {InvalidInputError, PreconditionFailedError} from '../errors.js'
import type {ServeApp} from './app-context.js'
import {callerOf, signedIn} from './authorization.js'

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/** The ETag of an object at `revision`. */
export function etag(revision: number): string {
  return `"${revision}"`
}

/** Sends the object's ETag with the answer. */
export function sendEtag(reply: FastifyReply, revision: number): void {
  void reply.header('etag', etag(revision))
}

/**
 * The revision an If-Match header expects, undefined without the header. One strong entity tag
 * is taken; `*`, a list or a value that is no entity tag is refused (400, field "if-match"). A
 * weak tag, or a strong one that is no revision of ours, can never match: 412 at once.
 */
export function expectedRevision(header: string | string[] | undefined): number | undefined {
  if (header === undefined) return undefined
  const text = (Array.isArray(header) ? header.join(',') : header).trim()
  if (text === '*') throw InvalidInputError.forField('if-match', text, 'give the ETag of the object ("<revision>"); * is not supported')
  if (text.includes(',')) throw InvalidInputError.forField('if-match', text, 'give one ETag ("<revision>"), not a list')
  const tag = /^(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"$/.exec(text)
  if (!tag) throw InvalidInputError.forField('if-match', text, 'is not an entity tag: give the ETag as sent, quotes included ("12")')
  const value = tag[2] as string
  const revision = /^(0|[1-9]\d{0,15})$/.test(value) ? Number(value) : Number.NaN
  if (tag[1] || !Number.isSafeInteger(revision))
    throw new PreconditionFailedError(`If-Match ${text} matches no revision (an ETag here is a strong "<revision>"); nothing was changed`)
  return revision
}

/**
 * The revisions an unregister expects: If-Match (one ref) or the body's `revisions` (one per
 * ref), not both. Undefined: unconditional.
 */
export function unregisterRevisions(
  request: FastifyRequest,
  refs: readonly string[],
  revisions: readonly number[] | undefined,
): number[] | undefined {
  const header = expectedRevision(request.headers['if-match'])
  if (header === undefined) return revisions === undefined ? undefined : [...revisions]
  if (revisions !== undefined) throw InvalidInputError.forField('if-match', etag(header), 'give If-Match or revisions, not both')
  if (refs.length !== 1)
    throw InvalidInputError.forField('if-match', etag(header), `applies to one service: give one ref, not ${refs.length}`)
  return [header]
}

/** Whether a route's schema declares the If-Match header. */
function takesIfMatch(schema: unknown): boolean {
  const headers = (schema as {headers?: {properties?: Record<string, unknown>}} | undefined)?.headers
  return headers?.properties?.['if-match'] !== undefined
}

/**
 * Makes every write route that does not declare If-Match answer 412 to one: to a signed-in caller
 * (others get the route's 401 first), before validation and the route's own access rule, since
 * the refusal depends on the route alone.
 */
export function refuseIfMatchWithoutEntityTag(app: ServeApp): void {
  app.addHook('onRoute', (route) => {
    const methods = [route.method].flat().map(String)
    if (!methods.some((m) => WRITE_METHODS.has(m)) || takesIfMatch(route.schema)) return
    const refuse = async (request: FastifyRequest) => {
      if (request.headers['if-match'] === undefined) return
      if (!route.config?.unauthenticated) signedIn(callerOf(request), request)
      throw new PreconditionFailedError(
        `If-Match: ${request.method} ${request.routeOptions.url ?? ''} has no entity tag to match; nothing was changed`,
      )
    }
    route.preValidation = [...[route.preValidation ?? []].flat(), refuse] as typeof route.preValidation
  })
}
