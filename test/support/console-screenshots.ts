/**
 * The screenshots of docs/console.md: the console's main pages, light and dark, at desktop and
 * phone width, from a real serve, provider and browser (console-fixture.ts) over a small made-up
 * registry, signed in as the admin. Writes docs/console/*.png.
 *
 *   npm run build && node --import tsx test/support/console-screenshots.ts
 */
import {mkdirSync} from 'node:fs'
import path from 'node:path'

import {closeBrowsers, launchBrowser} from './browser.js'
import {ROOT} from './cli.js'
import {signIn, startConsoleFixture} from './console-fixture.js'

const OUT = path.join(ROOT, 'docs', 'console')

const fx = await startConsoleFixture()
const browser = await launchBrowser({width: 1280, height: 800})
try {
  const {roster} = fx
  for (const [name, labels] of [
    ['prom-eu-1', ['region=eu', 'tier=core']],
    ['prom-eu-2', ['region=eu', 'tier=core']],
    ['prom-eu-3', ['region=eu', 'tier=edge']],
    ['prom-us-1', ['region=us', 'tier=core']],
  ] as const)
    await roster(['server', 'register', name, ...labels.flatMap((l) => ['-l', l])])
  await roster(['namespace', 'register', 'payments'])
  await roster(['namespace', 'register', 'probes', '--export', 'blackbox'])
  await roster(['namespace', 'register', 'legacy', '--export', 'disabled'])
  const hosts = (prefix: string, n: number, port: number, dc = 'eu') =>
    Array.from({length: n}, (_, i) => ['-e', `http://${prefix}${String(i + 1).padStart(2, '0')}.${dc}.example.net:${port}/metrics`]).flat()
  await roster(['service', 'register', 'node', ...hosts('db', 12, 9100), '-l', 'env=prod', '-l', 'team=dba', '--selector', 'region=eu'])
  await roster(['service', 'register', 'node', ...hosts('web', 9, 9100, 'us'), '-l', 'env=prod', '--selector', 'region=us'])
  await roster(['service', 'register', 'postgres', ...hosts('db', 6, 9187), '-l', 'env=prod', '-l', 'team=dba', '--selector', 'region=eu'])
  await roster(['service', 'register', 'api', '-n', 'payments', ...hosts('pay', 4, 8080), '-l', 'env=prod', '--ttl', '6h'])
  await roster(['service', 'register', 'worker', '-n', 'payments', ...hosts('job', 3, 8081), '-l', 'env=staging', '--ttl', '30m'])
  await roster(['service', 'register', 'site', '-n', 'probes', '-e', 'https://www.example.org/', '-e', 'https://shop.example.org/health'])
  await roster(['service', 'register', 'old-app', '-n', 'legacy', '-e', 'http://old1.example.net:9100/metrics'])
  await roster(['server', 'register', 'prom-eu-3', '-l', 'region=eu', '-l', 'tier=edge'])
  await roster(['token', 'create', 'prometheus-eu', '--role', 'read', '-n', '*'])
  await roster(['token', 'create', 'hooks-payments', '--role', 'service', '-n', 'payments', '--expires', '30d'])
  await roster(['token', 'create', 'ci', '--role', 'admin', '--expires', '7d'])
  await roster(['token', 'revoke', 'ci'])
  const list = JSON.parse((await roster(['service', 'list', '-o', 'json'])).stdout) as {id: string; endpoint: string}[]
  const db03 = list.find((s) => s.endpoint === 'http://db03.eu.example.net:9100/metrics')!.id

  mkdirSync(OUT, {recursive: true})
  const page = await browser.context.newPage()
  await page.goto(`${fx.url}/ui/auth/sign-in`)
  await page.screenshot({path: path.join(OUT, 'sign-in.png')})
  await signIn(page, fx.url, 'alice', '/ui/')
  const shots: [string, string, {dark?: boolean; phone?: boolean}[]][] = [
    ['overview', '/ui/', [{}, {dark: true}, {phone: true}, {phone: true, dark: true}]],
    ['servers', '/ui/servers', [{}]],
    ['server', '/ui/servers/prom-eu-1', [{}, {dark: true}]],
    ['namespaces', '/ui/namespaces', [{}]],
    ['services', '/ui/services?q=db0&sort=endpoint', [{}, {phone: true}]],
    ['service', `/ui/services/${db03}`, [{}, {dark: true}, {phone: true, dark: true}]],
    ['history', '/ui/history', [{}]],
    ['tokens', '/ui/tokens', [{}]],
  ]
  for (const [name, url, variants] of shots) {
    for (const v of variants) {
      await page.emulateMedia({colorScheme: v.dark ? 'dark' : 'light'})
      await page.setViewportSize(v.phone ? {width: 390, height: 844} : {width: 1280, height: 800})
      await page.goto(fx.url + url)
      const file = `${name}${v.dark ? '-dark' : ''}${v.phone ? '-phone' : ''}.png`
      await page.screenshot({path: path.join(OUT, file), fullPage: true})
      console.log(`docs/console/${file}`)
    }
  }
} finally {
  await browser.close()
  await closeBrowsers()
  await fx.stop()
}
