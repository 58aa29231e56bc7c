/**
 * Scraping many pods at once for one proxy request: bounded concurrency, one deadline for the
 * whole request (a pod not answered by then is `up 0`; it never delays the others past it), a
 * body-size limit per pod, keep-alive connections reused between requests.
 */
import {Agent as HttpAgent, request as httpRequest} from 'node:http'
import {Agent as HttpsAgent, request as httpsRequest} from 'node:https'

export interface ScrapeTarget {
  url: string
}

export type ScrapeOutcome = {ok: true; text: string} | {ok: false; reason: string}

export interface Scraper {
  scrape(target: ScrapeTarget, deadline: number): Promise<ScrapeOutcome>
  close(): void
}

export const ACCEPT = 'text/plain;version=0.0.4;q=1,*/*;q=0.1'

export function createScraper(o: {maxBodyBytes?: number; maxSockets?: number} = {}): Scraper {
  const maxBody = o.maxBodyBytes ?? 16 * 1024 * 1024
  const http = new HttpAgent({keepAlive: true, maxSockets: o.maxSockets ?? 64})
  const https = new HttpsAgent({keepAlive: true, maxSockets: o.maxSockets ?? 64})
  return {
    scrape(target, deadline) {
      return new Promise<ScrapeOutcome>((resolve) => {
        const remaining = deadline - Date.now()
        if (remaining <= 0) return resolve({ok: false, reason: 'timeout'})
        let url: URL
        try {
          url = new URL(target.url)
        } catch {
          return resolve({ok: false, reason: 'bad URL'})
        }
        const isHttps = url.protocol === 'https:'
        let settled = false
        const finish = (outcome: ScrapeOutcome): void => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          resolve(outcome)
        }
        const req = (isHttps ? httpsRequest : httpRequest)(
          url,
          {agent: isHttps ? https : http, headers: {accept: ACCEPT, 'x-prometheus-scrape-timeout-seconds': String(remaining / 1000)}},
          (res) => {
            if (res.statusCode !== 200) {
              res.resume()
              return finish({ok: false, reason: `HTTP ${res.statusCode}`})
            }
            const chunks: Buffer[] = []
            let size = 0
            res.on('data', (chunk: Buffer) => {
              size += chunk.length
              if (size > maxBody) {
                req.destroy()
                finish({ok: false, reason: `body over ${maxBody} bytes`})
                return
              }
              chunks.push(chunk)
            })
            res.on('end', () => finish({ok: true, text: Buffer.concat(chunks).toString('utf8')}))
            res.on('error', (e) => finish({ok: false, reason: e.message}))
          },
        )
        const timer = setTimeout(() => {
          finish({ok: false, reason: 'timeout'})
          req.destroy()
        }, remaining)
        req.on('error', (e) => finish({ok: false, reason: e.message}))
        req.end()
      })
    },
    close() {
      http.destroy()
      https.destroy()
    },
  }
}

/** Runs `fn` over `items` with at most `limit` at a time; results in the items' order. */
export async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i] as T)
    }
  }
  await Promise.all(Array.from({length: Math.max(1, Math.min(limit, items.length))}, worker))
  return out
}
