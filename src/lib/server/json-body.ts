/**
 * serve's one request body parser, for application/json: the bytes are checked to be UTF-8 before
 * they are decoded, so a body with an invalid byte is refused (400, field `body`, "invalid UTF-8
 * at byte N") and nothing is stored, where decoding first would have turned the byte into U+FFFD
 * and stored that. Then fastify's own JSON parser (empty bodies refused, `__proto__` keys refused)
 * reads the text. Every other content type stays unparsed and is refused (415 → 400).
 */
import {decodeUtf8} from '../text/input-limits.js'
import type {ServeApp} from './app-context.js'

export function addJsonBodyParser(app: ServeApp): void {
  const parseJson = app.getDefaultJsonParser('error', 'ignore')
  app.removeContentTypeParser(['application/json', 'text/plain'])
  app.addContentTypeParser('application/json', {parseAs: 'buffer'}, (request, body, done) => {
    let text: string
    try {
      text = decodeUtf8(body as Buffer, 'body')
    } catch (error) {
      done(error as Error, undefined)
      return
    }
    void parseJson(request, text, done)
  })
}
