/**
 * The status and JSON body (`{"error": {"code", "message", "field"?}}`, the Error schema) of any
 * error a request ends with: roster's error classes by class, fastify's validation errors with
 * the field they name, and fastify's own refusals (body too large, not JSON). Anything else is a
 * 500 "internal error", whose details go to the log, never to the client.
 */
import {
  BackendUnavailableError,
  ConflictError,
  InvalidInputError,
  NotAllowedError,
  NotAuthenticatedError,
  NotFoundError,
  PreconditionFailedError,
  RosterError,
  TooLargeError,
  firstLineOf,
} from '../errors.js'
import {byteSizeText} from '../config/byte-size.js'

/** The longest path parameter (characters of the URL, percent-encoded) the router hands to a route. */
export const MAX_PATH_PARAMETER = 1024

interface FastifyishError {
  code?: string
  statusCode?: number
  message?: string
  validation?: {keyword: string; instancePath: string; params: Record<string, unknown>; message?: string}[]
  validationContext?: string
}

/** The status and JSON body for any error a request ended with; `maxBodyBytes` is the body limit serve runs with. */
export function httpError(
  error: unknown,
  maxBodyBytes: number,
): {status: number; body: {error: {code: string; message: string; field?: string}}} {
  const body = (code: string, message: string, field?: string) => ({error: {code, message, ...(field ? {field} : {})}})
  if (error instanceof RosterError) {
    const message = firstLineOf(error)
    const field = error instanceof InvalidInputError ? error.field : undefined
    if (error instanceof TooLargeError) return {status: 413, body: body(error.code, message, field)}
    if (error instanceof InvalidInputError) return {status: 400, body: body(error.code, message, field)}
    if (error instanceof NotAuthenticatedError) return {status: 401, body: body(error.code, message)}
    if (error instanceof NotAllowedError) return {status: 403, body: body(error.code, message)}
    if (error instanceof NotFoundError) return {status: 404, body: body(error.code, message)}
    if (error instanceof PreconditionFailedError) return {status: 412, body: body(error.code, message)}
    if (error instanceof ConflictError) return {status: 409, body: body(error.code, message)}
    if (error instanceof BackendUnavailableError) return {status: 503, body: body(error.code, message)}
    return {status: 500, body: body('failure', 'internal error')}
  }
  const e = (error ?? {}) as FastifyishError
  if (e.validation && e.validation.length > 0) {
    const v = e.validation[0]!
    const where = e.validationContext === 'querystring' ? 'query parameter ' : e.validationContext === 'params' ? 'path parameter ' : ''
    const path = v.instancePath.replace(/^\//, '').replace(/\//g, '.')
    if (v.keyword === 'additionalProperties') {
      const field = [path, String(v.params.additionalProperty)].filter(Boolean).join('.')
      return {status: 400, body: body('invalid_input', `${where}${field}: unknown field`, field)}
    }
    if (v.keyword === 'required') {
      const field = [path, String(v.params.missingProperty)].filter(Boolean).join('.')
      return {status: 400, body: body('invalid_input', `${where}${field}: is required`, field)}
    }
    const field = path || e.validationContext || 'body'
    return {status: 400, body: body('invalid_input', `${where}${field}: ${v.message ?? 'is invalid'}`, field)}
  }
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return {status: 413, body: body('too_large', `request body larger than ${maxBodyBytes} bytes (${byteSizeText(maxBodyBytes)})`)}
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return {status: 400, body: body('invalid_input', `body: not valid JSON (${firstLineOf(error)})`, 'body')}
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return {status: 400, body: body('invalid_input', 'body: Content-Type must be application/json', 'body')}
    case 'FST_ERR_BAD_URL':
      return {status: 400, body: body('invalid_input', 'path: not a valid URL (a bad percent-encoding)', 'path')}
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return {status: 414, body: body('too_large', `path: a parameter longer than ${MAX_PATH_PARAMETER} characters`, 'path')}
  }
  if (error instanceof SyntaxError) return {status: 400, body: body('invalid_input', `body: not valid JSON (${error.message})`, 'body')}
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return {status: e.statusCode, body: body('invalid_input', firstLineOf(error))}
  }
  return {status: 500, body: body('failure', 'internal error')}
}
