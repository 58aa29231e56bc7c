/**
 * The web console (/ui/) in a real browser (Debian's chromium through playwright-core) against
 * `roster serve --oidc-* --ui-client-id` and a real OpenID Provider: an admin and a reader sign
 * in through the provider's own pages; the admin searches a service by endpoint, opens it, sees
 * the server that scrapes it and the exact target group, unregisters it through the CLI and sees
 * the page say so; the reader cannot reach the tokens by link or URL; after sign-out the back
 * button shows nothing private. Every page is checked with axe-core (no serious or critical
 * violation, light and dark), at phone width (nothing wider than the screen), and fails on a
 * console error or a Content-Security-Policy violation. The forms refuse requests without their
 * CSRF token or from another origin; with --auth none on loopback nobody signs in.
 */
import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'

import type {Page} from 'playwright-core'

import {type Browser, type WatchedPage, axeViolations, browserMissing, closeBrowsers, launchBrowser, watchPage} from '../support/browser.js'
import {type ConsoleFixture, signIn, startConsoleFixture} from '../support/console-fixture.js'
import {isolatedEnv, runCli} from '../support/cli.js'
import {type ServeProcess, http, startServe} from '../support/serve-server.js'

const missing = browserMissing()

// One chromium for the whole file: each person (admin, reader, nobody) is a context of it.
after(closeBrowsers)

/** The registry the tests look at: three servers, three namespaces, services with labels, selectors and a TTL. */
async function seed(roster: ConsoleFixture['roster']): Promise<void> {
  await roster(['server', 'register', 'prom-eu-1', '-l', 'region=eu'])
  await roster(['server', 'register', 'prom-eu-2', '-l', 'region=eu'])
  await roster(['server', 'register', 'prom-us-1', '-l', 'region=us'])
  await roster(['namespace', 'register', 'team-a'])
  await roster(['namespace', 'register', 'probes', '--export', 'blackbox'])
  const nodes = Array.from({length: 8}, (_, i) => `http://db${i + 1}.example.net:9100/metrics`)
  await roster(['service', 'register', 'node', ...nodes.flatMap((e) => ['-e', e]), '-l', 'env=prod', '--selector', 'region=eu'])
  await roster(['service', 'register', 'api', '-n', 'team-a', '-e', 'http://api1.example.net:8080/metrics', '--ttl', '2h'])
  await roster(['service', 'register', 'site', '-n', 'probes', '-e', 'https://www.example.org/'])
  await roster(['token', 'create', 'prometheus-eu', '--role', 'read', '-n', '*'])
}

/** Fails on a serious axe violation of the page as it is now, or a console error, an exception or a CSP violation so far. */
async function check(watched: WatchedPage, what: string): Promise<void> {
  assert.deepEqual(await axeViolations(watched.page), [], `axe on ${what}`)
  assert.deepEqual(await watched.problems(), [], `problems on ${what}`)
}

/** Opens `path`, waits for it, and `check`s it. */
async function visit(watched: WatchedPage, base: string, path: string): Promise<number> {
  const response = await watched.page.goto(base + path)
  assert.ok(response, `no response for ${path}`)
  await check(watched, path)
  return response.status()
}

async function noWiderThanScreen(page: Page, what: string): Promise<void> {
  const {scroll, width} = await page.evaluate<{scroll: number; width: number}>(
    '({scroll: document.documentElement.scrollWidth, width: window.innerWidth})',
  )
  assert.ok(scroll <= width, `${what} is ${scroll} px wide on a ${width} px screen`)
}

describe('the web console in a real browser', {skip: missing}, () => {
  let fx: ConsoleFixture
  let admin: Browser
  let adminPage: WatchedPage
  let serviceServer: string
  let serviceId: string

  before(async () => {
    fx = await startConsoleFixture()
    await seed(fx.roster)
    const list = JSON.parse((await fx.roster(['service', 'list', '-o', 'json'])).stdout) as {
      id: string
      endpoint: string
      servers: string[]
    }[]
    const db3 = list.find((s) => s.endpoint === 'http://db3.example.net:9100/metrics')!
    serviceServer = db3.servers[0]!
    serviceId = db3.id
    admin = await launchBrowser()
    adminPage = await watchPage(admin.context, fx.url)
  })
  after(async () => {
    await admin?.close()
    await fx?.stop()
  })

  it('without a session every page sends the browser to the sign-in, whose form may go to the provider only', async () => {
    const page = await http(`${fx.url}/ui/services?q=db1`)
    assert.equal(page.status, 200, 'fetch follows the redirect to the sign-in page')
    const response = await fetch(`${fx.url}/ui/services?q=db1`, {redirect: 'manual'})
    assert.equal(response.status, 303)
    assert.equal(response.headers.get('location'), '/ui/auth/sign-in?next=%2Fui%2Fservices%3Fq%3Ddb1')
    const signInPage = await fetch(`${fx.url}/ui/auth/sign-in?next=%2Fui%2Fservers`)
    const text = await signInPage.text()
    assert.match(text, /Sign in with 127\.0\.0\.1:\d+/)
    assert.doesNotMatch(text, /prom-eu-1|db1\.example/, 'nothing of the registry before sign-in')
    const csp = signInPage.headers.get('content-security-policy')!
    assert.match(csp, /default-src 'none'/)
    assert.match(csp, /script-src 'self'(;|$)/)
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/)
    assert.match(csp, /frame-ancestors 'none'/)
    assert.ok(csp.includes(`form-action 'self' ${fx.provider.issuer}`), csp)
    assert.equal(signInPage.headers.get('x-frame-options'), 'DENY')
    assert.equal(signInPage.headers.get('referrer-policy'), 'same-origin')
    assert.equal(signInPage.headers.get('cache-control'), 'no-store')
    const csrf = signInPage.headers.getSetCookie().find((c) => c.startsWith('__Host-roster-csrf='))!
    for (const attribute of ['HttpOnly', 'Secure', 'SameSite=Lax', 'Path=/']) assert.ok(csrf.includes(attribute), csrf)
  })

  it('an admin signs in through the provider; every page passes axe, light and dark, and fits a phone', async () => {
    await signIn(adminPage.page, fx.url, 'alice', '/ui/')
    const cookies = await admin.context.cookies(fx.url)
    const session = cookies.find((c) => c.name === '__Host-roster-session')!
    assert.ok(
      session.httpOnly && session.secure && session.sameSite === 'Lax' && session.expires > Date.now() / 1000,
      JSON.stringify(session),
    )
    const {page} = adminPage
    assert.match((await page.locator('main').textContent())!, /3\s*servers/)
    assert.match((await page.locator('header').textContent())!, /Alice Admin\s*admin/)
    const pages = [
      '/ui/',
      '/ui/servers',
      `/ui/servers/${serviceServer}`,
      '/ui/namespaces',
      '/ui/services',
      '/ui/services?q=db&sort=endpoint',
      `/ui/services/${serviceId}`,
      '/ui/history',
      '/ui/tokens',
    ]
    // Each page is loaded once and checked light, dark and at phone width: the colour scheme and
    // the width are media queries the browser applies to the loaded page when they change (as
    // when a person switches to dark or turns the phone), and the console's script reads neither.
    for (const path of pages) {
      assert.equal(await visit(adminPage, fx.url, path), 200, path)
      await page.emulateMedia({colorScheme: 'dark'})
      await check(adminPage, `${path}, dark`)
      await page.emulateMedia({colorScheme: 'light'})
      await page.setViewportSize({width: 375, height: 812})
      await check(adminPage, `${path}, 375 px wide`)
      await noWiderThanScreen(page, path)
      await page.setViewportSize({width: 1280, height: 900})
    }
  })

  it('times are shown in the viewer’s time zone, with UTC on hover', async () => {
    const {page} = adminPage
    await page.goto(`${fx.url}/ui/servers`)
    const first = page.locator('main time').first()
    const [datetime, title, shown] = await Promise.all([first.getAttribute('datetime'), first.getAttribute('title'), first.textContent()])
    assert.match(title!, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/)
    assert.equal(title, `${datetime!.replace('T', ' ').replace(/\.\d+Z$/, '')} UTC`)
    assert.equal(
      shown,
      new Intl.DateTimeFormat('en-GB', {dateStyle: 'medium', timeStyle: 'medium', timeZone: 'Europe/Zurich'}).format(new Date(datetime!)),
    )
  })

  it('keyboard: the skip link comes first, "/" goes to the search, every field has a label', async () => {
    const {page} = adminPage
    await page.goto(`${fx.url}/ui/services`)
    await page.keyboard.press('Tab')
    assert.equal(await page.evaluate('document.activeElement?.textContent'), 'Skip to content')
    await page.keyboard.press('Enter')
    assert.equal(await page.evaluate('document.activeElement?.id'), 'main')
    await page.keyboard.press('/')
    assert.equal(await page.evaluate('document.activeElement?.name'), 'q')
    for (const label of ['Endpoint contains', 'Name contains', 'Label selector', 'Server', 'Namespace', 'Sort by', 'Per page'])
      assert.equal(await page.getByLabel(label, {exact: true}).count(), 1, label)
  })

  it('search a service by endpoint, open it: the server that scrapes it and the exact target group', async () => {
    const {page} = adminPage
    await page.goto(`${fx.url}/ui/services`)
    await page.getByLabel('Endpoint contains').fill('db3.example.net:9100')
    await page.getByLabel('Endpoint contains').press('Enter')
    await page.waitForURL(/\/ui\/services\?q=db3\.example\.net%3A9100/)
    const rows = page.locator('main tbody tr')
    assert.equal(await rows.count(), 1)
    assert.match((await rows.first().textContent())!, /http:\/\/db3\.example\.net:9100\/metrics/)
    await rows.first().getByRole('link', {name: 'node'}).click()
    await page.waitForURL(`${fx.url}/ui/services/${serviceId}`)
    assert.equal(await page.locator('h1').textContent(), 'Service node')
    await page.getByRole('heading', {name: `From ${serviceServer}`}).waitFor()
    const group = JSON.parse((await page.locator('pre.json').first().textContent())!) as {
      targets: string[]
      labels: Record<string, string>
    }[]
    const sd = await http(`${fx.url}/v1/sd/${serviceServer}/default`, {token: await readToken(fx)})
    const served = (sd.json() as typeof group).filter((g) => g.labels.__meta_roster_service_id === serviceId)
    assert.deepEqual(group, served, 'the page shows the group http_sd gives that server')
    assert.deepEqual(group[0]!.targets, ['db3.example.net:9100'])
    assert.deepEqual(await adminPage.problems(), [])
  })

  it('unregister it through the CLI: the page says it is gone', async () => {
    const {page} = adminPage
    await fx.roster(['service', 'unregister', 'http://db3.example.net:9100/metrics'])
    const response = await page.reload()
    assert.equal(response!.status(), 404)
    assert.match((await page.locator('main').textContent())!, /No service with ID \S+ is registered \(any more\)/)
    await page.goto(`${fx.url}/ui/services?q=db3.example.net`)
    assert.match((await page.locator('main').textContent())!, /No service matches/)
    assert.deepEqual(await adminPage.problems(), [])
  })

  it('the admin sees the tokens; a reader has no link to them and gets a refusal by URL', async () => {
    await adminPage.page.goto(`${fx.url}/ui/tokens`)
    assert.match((await adminPage.page.locator('main').textContent())!, /prometheus-eu/)
    const reader = await launchBrowser()
    try {
      const watched = await watchPage(reader.context, fx.url)
      await signIn(watched.page, fx.url, 'bob', '/ui/services')
      assert.match((await watched.page.locator('header').textContent())!, /Bob Viewer\s*read/)
      assert.equal(await watched.page.getByRole('link', {name: 'Tokens'}).count(), 0, 'no link to the tokens')
      assert.match((await watched.page.locator('main').textContent())!, /db1\.example\.net/, 'a reader sees the services')
      const status = await visit(watched, fx.url, '/ui/tokens')
      assert.equal(status, 403)
      const main = (await watched.page.locator('main').textContent())!
      assert.match(main, /not allowed: user "bob" \(role read\) may not do this \(admin role required\)/)
      assert.doesNotMatch(main, /prometheus-eu/)
    } finally {
      await reader.close()
    }
  })

  it('the forms refuse a missing CSRF token and another origin; a callback nobody started is refused', async () => {
    const cookies = await admin.context.cookies(fx.url)
    const cookie = cookies.map((c) => `${c.name}=${c.value}`).join('; ')
    const form = {'content-type': 'application/x-www-form-urlencoded', cookie}
    const signOut = await fetch(`${fx.url}/ui/auth/sign-out`, {method: 'POST', headers: form, body: 'csrf=forged', redirect: 'manual'})
    assert.equal(signOut.status, 403)
    const page = await adminPage.page.goto(`${fx.url}/ui/servers`)
    assert.equal(page!.status(), 200, 'the session survives a forged sign-out')
    const token = await adminPage.page.locator('form.who input[name="csrf"]').getAttribute('value')
    const crossSite = await fetch(`${fx.url}/ui/auth/sign-out`, {
      method: 'POST',
      headers: {...form, origin: 'https://evil.example'},
      body: `csrf=${encodeURIComponent(token!)}`,
      redirect: 'manual',
    })
    assert.equal(crossSite.status, 403, 'another origin is refused even with the token')
    const signInForm = await fetch(`${fx.url}/ui/auth/sign-in`, {method: 'POST', headers: form, body: 'next=%2Fui%2F', redirect: 'manual'})
    assert.equal(signInForm.status, 403)
    const callback = await fetch(`${fx.url}/ui/auth/callback?code=x&state=never-started`, {headers: {cookie}, redirect: 'manual'})
    assert.equal(callback.status, 400)
  })

  it('the overview and a service’s page show the CLI’s writes from the history (GET /v1/events), newest first', async () => {
    const {page} = adminPage
    await fx.roster([
      'service',
      'register',
      'node',
      '-e',
      'http://db5.example.net:9100/metrics',
      '-l',
      'env=prod',
      '-l',
      'tier=db',
      '--selector',
      'region=eu',
    ])
    await page.goto(`${fx.url}/ui/`)
    const last = page.getByRole('region', {name: 'Last changes'}).locator('tbody tr').first()
    assert.match((await last.textContent())!, /update.*http:\/\/db5\.example\.net:9100\/metrics/s)
    await page.goto(`${fx.url}/ui/services/${await idOf(fx, 'http://db5.example.net:9100/metrics')}`)
    const history = page.getByRole('region', {name: /^Changes to http:\/\/db5/}).locator('tbody tr')
    assert.match((await history.first().textContent())!, /update.*tier/s)
    assert.match((await history.last().textContent())!, /register/)
    assert.deepEqual(await adminPage.problems(), [])
  })

  it('sign out: the cookie goes, and the back button shows nothing private', async () => {
    const {page} = adminPage
    await page.goto(`${fx.url}/ui/services/${await idOf(fx, 'http://db4.example.net:9100/metrics')}`)
    assert.match((await page.locator('main').textContent())!, /db4\.example\.net/)
    await page.getByRole('button', {name: 'Sign out'}).click()
    await page.waitForURL(`${fx.url}/ui/auth/signed-out`)
    assert.equal((await admin.context.cookies(fx.url)).filter((c) => c.name === '__Host-roster-session').length, 0)
    await page.goBack()
    const text = (await page.locator('body').textContent())!
    assert.doesNotMatch(text, /db4\.example\.net|Alice Admin/, 'the private page is not shown again')
    assert.match(text, /Sign in with/)
    assert.deepEqual(await adminPage.problems(), [])
  })
})

describe('the web console with --auth none on loopback', {skip: missing}, () => {
  let serve: ServeProcess
  let browser: Browser

  before(async () => {
    const env = isolatedEnv()
    const registry = `sqlite:${env.HOME}/registry.db`
    assert.equal((await runCli(['server', 'register', 'prom1', '--registry', registry], {env})).code, 0)
    serve = await startServe({registry, args: ['--auth', 'none'], env})
    browser = await launchBrowser()
  })
  after(async () => {
    await browser?.close()
    await serve?.stop()
  })

  it('no sign-in: the pages show the registry, and say that tokens need --auth token', async () => {
    const watched = await watchPage(browser.context, serve.url)
    assert.equal(await visit(watched, serve.url, '/ui/servers'), 200)
    assert.match((await watched.page.locator('header').textContent())!, /No sign-in\s*auth none, loopback/)
    assert.match((await watched.page.locator('main').textContent())!, /prom1/)
    assert.equal(await watched.page.getByRole('button', {name: 'Sign out'}).count(), 0)
    await watched.page.goto(`${serve.url}/ui/tokens`)
    assert.match((await watched.page.locator('main').textContent())!, /runs without authentication \(auth none\)/)
  })
})

async function readToken(fx: ConsoleFixture): Promise<string> {
  return (await fx.roster(['token', 'create', `reader-${Date.now()}`, '--role', 'read', '-n', '*'])).stdout.trim()
}

async function idOf(fx: ConsoleFixture, endpoint: string): Promise<string> {
  const list = JSON.parse((await fx.roster(['service', 'list', '-o', 'json'])).stdout) as {id: string; endpoint: string}[]
  return list.find((s) => s.endpoint === endpoint)!.id
}
