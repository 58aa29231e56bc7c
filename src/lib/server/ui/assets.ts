/**
 * The console's stylesheet, script and icon: built at build time (scripts/bundle-console.mjs)
 * into dist/console/ under names that carry a hash of their content, with manifest.json mapping
 * each source name to its built name. serve reads them once at start and answers them from
 * memory under /ui/assets/, cacheable for a year and immutable: a new build has new names.
 */
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {gzipSync} from 'node:zlib'

export const ASSETS_PATH = '/ui/assets/'

const TYPES: Record<string, string> = {
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
}

export interface Asset {
  type: string
  body: Buffer
  gzip: Buffer
}

export interface ConsoleAssets {
  /** The URL of each asset by its source name (console.css, console.js, favicon.svg); undefined when not built. */
  url(source: 'console.css' | 'console.js' | 'favicon.svg'): string | undefined
  /** The asset of a built name (what follows /ui/assets/). */
  get(name: string): Asset | undefined
}

/** Reads the built assets of `dir`; a missing or unreadable build logs one line and leaves the pages unstyled. */
export function loadAssets(dir: string | undefined, log: (line: string) => void): ConsoleAssets {
  const urls = new Map<string, string>()
  const files = new Map<string, Asset>()
  if (dir) {
    try {
      const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Record<string, string>
      for (const [source, built] of Object.entries(manifest)) {
        const body = readFileSync(path.join(dir, path.basename(built)))
        files.set(path.basename(built), {
          type: TYPES[path.extname(built)] ?? 'application/octet-stream',
          body,
          gzip: gzipSync(body, {level: 9}),
        })
        urls.set(source, ASSETS_PATH + path.basename(built))
      }
    } catch (error) {
      log(
        `warning: the console's assets are not in ${dir} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'}): its pages are served unstyled; build them with npm run build`,
      )
    }
  }
  return {url: (source) => urls.get(source), get: (name) => files.get(name)}
}
