/**
 * Tokens on a real etcd: two "serve instances" (each a view of the registry on its own
 * connection, which answers its TokenAuthority's revocation checks) verify the tokens a third
 * (the CLI, reading revocations from the store) creates, and a revocation reaches both through
 * the store follower's etcd watch. No timed assertions: the test waits for the positive signal.
 * And the token commands (the built CLI) on an etcd registry.
 */
import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'

import {TokenAuthority} from '../../src/lib/auth/tokens.js'
import {NotAuthenticatedError} from '../../src/lib/errors.js'
import {RegistryView} from '../../src/lib/server/view.js'
import {openStore} from '../../src/lib/store/open-store.js'
import type {Store} from '../../src/lib/store/store.js'
import {isolatedEnv, runCli} from '../support/cli.js'
import {startEtcd, type EtcdServer} from '../support/etcd-server.js'
import {until} from '../support/until.js'

let etcd: EtcdServer
const stores: Store[] = []

before(async () => {
  etcd = await startEtcd()
})
after(async () => {
  await Promise.all(stores.map((s) => s.close()))
  await etcd?.stop()
})

async function store(): Promise<Store> {
  const s = await openStore({registry: etcd.url, timeoutMs: 10_000})
  stores.push(s)
  return s
}

/** A serve instance's token authority: revocations from its view, which follows the store. */
async function serveInstance(s: Store): Promise<{tokens: TokenAuthority; view: RegistryView}> {
  const view = new RegistryView(s)
  await view.start()
  return {tokens: await TokenAuthority.open(s, {isRevoked: (id) => view.isRevoked(id)}), view}
}

describe('tokens on etcd', () => {
  it('every instance verifies the same tokens and sees a revocation through the watch', async () => {
    // The servers start before any key or revocation exists (an empty auth/ prefix).
    const a = await serveInstance(await store())
    const b = await serveInstance(await store())
    const [serveA, serveB] = [a.tokens, b.tokens]
    const cli = await TokenAuthority.open(await store())

    const {token} = await cli.create({id: 'db1', role: 'service', namespaces: ['default']})
    const other = await cli.create({id: 'db2', role: 'service', namespaces: ['default']})
    assert.equal((await serveA.verify(token)).subject, 'db1')
    assert.equal((await serveB.verify(token)).subject, 'db1')

    await cli.revoke('db1')
    await until('the revocation in both instances', async () => (await serveA.isRevoked('db1')) && (await serveB.isRevoked('db1')))
    for (const serve of [serveA, serveB]) {
      await assert.rejects(serve.verify(token), (error: unknown) => error instanceof NotAuthenticatedError && /revoked/.test(error.message))
      assert.equal((await serve.verify(other.token)).subject, 'db2', 'other tokens stay valid')
    }

    // A server opened after the revocation loads it at start.
    const c = await serveInstance(await store())
    assert.equal(await c.tokens.isRevoked('db1'), true)
    await Promise.all([a.view.close(), b.view.close(), c.view.close()])
  })
})

describe('roster token on an etcd registry', () => {
  it('create → info → revoke → info, with a server instance watching', async () => {
    const env = isolatedEnv()
    const prefix = '/token-cli/'
    const cli = (...args: string[]) => runCli([...args, '--registry', etcd.url, '--etcd-prefix', prefix], {env})
    const created = await cli('token', 'create', 'prom1', '--role', 'read', '-n', '*')
    assert.equal(created.code, 0, created.stderr)
    const token = created.stdout.trim()
    const s = await openStore({registry: etcd.url, etcdPrefix: prefix, timeoutMs: 10_000})
    stores.push(s)
    const {tokens: serve, view} = await serveInstance(s)
    assert.deepEqual(await serve.verify(token), {subject: 'prom1', role: 'read', namespaces: ['*'], kind: 'token'})
    const revoked = await cli('token', 'revoke', 'prom1')
    assert.equal(revoked.code, 0, revoked.stderr)
    const info = await cli('token', 'info', token, '--json')
    assert.equal(info.code, 0, info.stderr)
    assert.equal((JSON.parse(info.stdout) as {revoked: boolean}).revoked, true)
    await until('the revocation', () => serve.isRevoked('prom1'))
    await assert.rejects(serve.verify(token), NotAuthenticatedError)
    await view.close()
  })
})
