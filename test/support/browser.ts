/**
 * A real browser for the console's tests: Debian's chromium (/usr/bin/chromium, installed by
 * scripts/install-test-servers.sh; nothing is downloaded) driven by playwright-core, headless,
 * one chromium per test process, a fresh context (profile) for each person, no network of its own
 * (no component updates, sync or QUIC).
 *
 * `watchPage` records what a page must never do: log a console error, throw, or break its
 * Content-Security-Policy (a listener added before any page script runs). `axeViolations` runs
 * axe-core in the page through the DevTools protocol, which the page's CSP does not govern.
 */
import {existsSync, readFileSync} from 'node:fs'
import {createRequire} from 'node:module'

import type {Browser as PlaywrightBrowser, BrowserContext, Page} from 'playwright-core'

import {skipUnlessCi} from './needs.js'

export const CHROMIUM = process.env.ROSTER_CHROMIUM ?? '/usr/bin/chromium'

/**
 * Why the browser tests cannot run here, or undefined when they can. Under CI=true a missing
 * browser is an error (the test fails), never a skip.
 */
export function browserMissing(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined
  return skipUnlessCi(`${CHROMIUM} is not installed (apt-get install chromium; scripts/install-test-servers.sh does)`) || undefined
}

export interface Browser {
  context: BrowserContext
  close(): Promise<void>
}

let chromiumProcess: Promise<PlaywrightBrowser> | undefined

/**
 * A fresh browser as one person has it: a new context (its own cookies, storage and cache) of
 * the one chromium this process starts on first use. A context is cheap and a chromium start is
 * not, so a test file starts one and calls `closeBrowsers()` in
 * its last `after`.
 */
export async function launchBrowser(o: {colorScheme?: 'light' | 'dark'; width?: number; height?: number} = {}): Promise<Browser> {
  chromiumProcess ??= import('playwright-core').then(({chromium}) =>
    chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        // Loopback only: every other host name fails at once, with no DNS query (the provider's
        // own pages @import a web font from the internet, which the tests neither need nor reach).
        '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
      ],
    }),
  )
  const chromium = await chromiumProcess
  const context = await chromium.newContext({
    viewport: {width: o.width ?? 1280, height: o.height ?? 900},
    colorScheme: o.colorScheme ?? 'light',
    locale: 'en-GB',
    timezoneId: 'Europe/Zurich',
  })
  return {context, close: () => context.close()}
}

/** Stops this process's chromium (with every context still open), if one was started. */
export async function closeBrowsers(): Promise<void> {
  const started = chromiumProcess
  chromiumProcess = undefined
  await (await started)?.close()
}

export interface WatchedPage {
  page: Page
  /** Console errors, uncaught exceptions and CSP violations since the page was opened (or last cleared). */
  problems(): Promise<string[]>
}

export async function watchPage(context: BrowserContext, origin: string): Promise<WatchedPage> {
  const page = await context.newPage()
  const problems: string[] = []
  // Only the console's pages count (the provider's own pages are not under test). A document
  // answered with an error status is logged by the browser as a failed load: the tests assert
  // that status themselves; a failed stylesheet, script or icon still counts.
  const ours = (url: string) => url.startsWith(`${origin}/`)
  page.on('console', (message) => {
    if (message.type() !== 'error' || !ours(page.url())) return
    const text = message.text()
    if (/^Failed to load resource: the server responded with a status of \d+/.test(text) && message.location().url === page.url()) return
    problems.push(`console error: ${text} (${message.location().url || page.url()})`)
  })
  page.on('pageerror', (error) => {
    if (ours(page.url())) problems.push(`page error: ${error.message} (${page.url()})`)
  })
  // Before any script of the page runs; CSP does not govern what the DevTools protocol adds.
  await page.addInitScript({
    content: `globalThis.__cspViolations = []
document.addEventListener('securitypolicyviolation', (e) =>
  globalThis.__cspViolations.push(e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') + ' (' + e.sourceFile + ':' + e.lineNumber + ')'))`,
  })
  return {
    page,
    problems: async () => {
      const csp = ours(page.url()) ? await page.evaluate<string[]>('globalThis.__cspViolations ?? []').catch(() => [] as string[]) : []
      return [...problems, ...csp.map((v) => `CSP violation: ${v} (${page.url()})`)]
    },
  }
}

let axeSource: string | undefined
let axeRules: string[] | undefined

/**
 * The rules axe runs by default (not those it leaves off, nor the experimental ones) whose
 * violations are serious or critical: axe gives each rule an impact, and a violation of it has
 * that impact. The rest (landmarks, heading order, empty headings…) are minor or moderate, which
 * `axeViolations` does not report: the page would run them for nothing.
 */
function seriousRules(): string[] {
  const {_audit: audit} = createRequire(import.meta.url)('axe-core') as {
    _audit: {rules: {id: string; enabled: boolean; tags: string[]; impact?: string}[]}
  }
  return audit.rules
    .filter((r) => r.enabled && !r.tags.includes('experimental') && (r.impact === 'serious' || r.impact === 'critical'))
    .map((r) => r.id)
}

/** axe-core's serious and critical violations on the page as it is now, one line each. */
export async function axeViolations(page: Page): Promise<string[]> {
  // Once per document: a page checked again (dark, narrower) already has it.
  if (!(await page.evaluate('typeof globalThis.axe === "object"'))) {
    axeSource ??= readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')
    await page.evaluate(axeSource)
  }
  axeRules ??= seriousRules()
  const results = await page.evaluate(async (rules) => {
    const axe = (
      globalThis as unknown as {
        axe: {run(o: object): Promise<{violations: {id: string; impact: string; help: string; nodes: {target: string[]}[]}[]}>}
      }
    ).axe
    const {violations} = await axe.run({runOnly: {type: 'rule', values: rules}, resultTypes: ['violations']})
    return violations.map((v) => ({id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.join(' ')).slice(0, 3)}))
  }, axeRules)
  return results
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.targets.join(', ')}) on ${page.url()}`)
}
