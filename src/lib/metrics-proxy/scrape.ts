/**
 * Fetching pods' metrics for one proxy request: each answer's body handed on piece by piece as
 * it arrives (merge.ts writes it on, pausing a pod it cannot write yet), a body-size limit per
 * pod, keep-alive connections reused between requests. Deadlines are the merge's: it knows
 * which pods it is holding back.
 */
import {Agent as HttpAgent, request as httpRequest, type IncomingMessage} from 'node:http'
import {Agent as HttpsAgent, request as httpsRequest} from 'node:https'

import type {PodControl, PodSink} from './merge.js'

export interface ScrapeTarget {
  url: string
}

export interface Scraper {
  /** Asks the target for its metrics; what comes back goes to `sink`. */
  open(target: ScrapeTarget, sink: PodSink, timeoutMs: number): PodControl
  close(): void
}

export const ACCEPT = 'text/plain;version=0.0.4;q=1,*/*;q=0.1'

export function createScraper(o: {maxBodyBytes?: number} = {}): Scraper {
  const maxBody = o.maxBodyBytes ?? 16 * 1024 * 1024
  // No socket limit per pod: the merge holds every pod's answer open at once, some paused.
  const http = new HttpAgent({keepAlive: true})
  const https = new HttpsAgent({keepAlive: true})
  return {
    open(target, sink, timeoutMs) {
      let settled = false
      let body: IncomingMessage | undefined
      const once =
        <A extends unknown[]>(fn: (...args: A) => void) =>
        (...args: A): void => {
          if (settled) return
          settled = true
          fn(...args)
        }
      const fail = once(sink.fail)
      const end = once(sink.end)
      let url: URL
      try {
        url = new URL(target.url)
      } catch {
        queueMicrotask(() => fail('bad URL'))
        return {pause() {}, resume() {}, abort: () => void (settled = true)}
      }
      const isHttps = url.protocol === 'https:'
      const req = (isHttps ? httpsRequest : httpRequest)(
        url,
        {agent: isHttps ? https : http, headers: {accept: ACCEPT, 'x-prometheus-scrape-timeout-seconds': String(timeoutMs / 1000)}},
        (res) => {
          if (res.statusCode !== 200) {
            res.resume()
            return fail(`HTTP ${res.statusCode}`)
          }
          body = res
          sink.answered()
          let size = 0
          res.on('data', (chunk: Buffer) => {
            if (settled) return
            size += chunk.length
            if (size > maxBody) {
              req.destroy()
              return fail(`body over ${maxBody} bytes`)
            }
            sink.data(chunk)
          })
          res.on('end', end)
          res.on('error', (e) => fail(e.message))
          res.on('close', () => fail('connection closed before the body ended'))
        },
      )
      req.on('error', (e) => fail(e.message))
      req.end()
      return {
        pause: () => body?.pause(),
        resume: () => body?.resume(),
        abort: () => {
          settled = true
          req.destroy()
        },
      }
    },
    close() {
      http.destroy()
      https.destroy()
    },
  }
}
