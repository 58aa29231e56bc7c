/**
 * The console as a person meets it: a real OpenID Provider (oidc-provider.ts) with the console's
 * web client, `roster serve --oidc-* --ui-client-id` (the built CLI) on a loopback port the
 * provider knows the redirect URI of, and a registry filled through the CLI. `signIn` plays the
 * person in a real browser page: the console's sign-in button, the provider's login and consent
 * forms, back to the page asked for. The browser tests and console-screenshots.ts use it.
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'

import type {Page} from 'playwright-core'

import {isolatedEnv, runCli} from './cli.js'
import {freePort} from './free-port.js'
import {ADMIN_ROLE, AUDIENCE, CLIENT_ID, CONSOLE_CLIENT_ID, USERS, type OidcProviderServer, startOidcProvider} from './oidc-provider.js'
import {type ServeProcess, startServe} from './serve-server.js'

export interface ConsoleFixture {
  url: string
  registry: string
  provider: OidcProviderServer
  serve: ServeProcess
  /** Runs roster against the registry's store (as an admin on the host would). */
  roster(args: string[]): Promise<{code: number; stdout: string; stderr: string}>
  stop(): Promise<void>
}

export async function startConsoleFixture(o: {serveArgs?: string[]} = {}): Promise<ConsoleFixture> {
  const dir = mkdtempSync(path.join(tmpdir(), 'roster-console-'))
  const registry = `sqlite:${path.join(dir, 'registry.db')}`
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const provider = await startOidcProvider({consoleRedirectUris: [`${url}/ui/auth/callback`]})
  const env = isolatedEnv({ROSTER_REGISTRY: registry})
  const roster = async (args: string[]) => {
    const result = await runCli(args, {env})
    if (result.code !== 0) throw new Error(`roster ${args.join(' ')} exited ${result.code}: ${result.stderr}`)
    return result
  }
  let serve: ServeProcess
  try {
    serve = await startServe({
      registry,
      args: [
        '--listen',
        `127.0.0.1:${port}`,
        '--oidc-issuer',
        provider.issuer,
        '--oidc-client-id',
        CLIENT_ID,
        '--ui-client-id',
        CONSOLE_CLIENT_ID,
        '--oidc-audience',
        AUDIENCE,
        '--oidc-admin-roles',
        ADMIN_ROLE,
        ...(o.serveArgs ?? []),
      ],
    })
  } catch (error) {
    await provider.stop()
    throw error
  }
  return {
    url: serve.url,
    registry,
    provider,
    serve,
    roster,
    stop: async () => {
      await serve.stop()
      await provider.stop()
      rmSync(dir, {recursive: true, force: true})
      rmSync(env.HOME!, {recursive: true, force: true})
    },
  }
}

/** Signs `user` in from `path` (a console page): the console's button, the provider's login and consent, back to the page. */
export async function signIn(page: Page, base: string, user: 'alice' | 'bob', where = '/ui/'): Promise<void> {
  await page.goto(base + where)
  await page.getByRole('button', {name: /^Sign in with /}).click()
  await page.locator('input[name="login"]').fill(user)
  await page.locator('input[name="password"]').fill(USERS[user]!.password)
  await page.locator('[type="submit"]').first().click()
  // The provider's consent page (the first sign-in of this browser), then back to the console.
  await page.waitForURL((url) => url.pathname.startsWith('/ui/') || /\/interaction\//.test(url.pathname))
  if (/\/interaction\//.test(new URL(page.url()).pathname)) await page.locator('[type="submit"]').first().click()
  await page.waitForURL((url) => url.origin === base && !url.pathname.startsWith('/ui/auth/'))
}
