/**
 * `roster service prune` against a REMOTE registry (`roster serve` over SQLite, the CLI with
 * --registry http://127.0.0.1:PORT): an admin token prunes anywhere; a `service` token prunes in
 * its namespaces (with -n, or without -n where only its namespaces are listed) and is refused
 * (exit 4, nothing removed) outside them. Expiry uses a real 1 s TTL and waits for the clock to
 * pass it; --unresolvable asks BIND on loopback through --resolver.
 */
import assert from 'node:assert/strict'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {type BindServer, startBind} from '../support/bind-server.js'
import {type CliResult, isolatedEnv, runCli} from '../support/cli.js'
import {type ServeProcess, createToken, startServe} from '../support/serve-server.js'
import {until} from '../support/until.js'

const ZONE = 'example.test'
const SECRET = Buffer.from('registry prune remote secret, 32 octets or more').toString('base64')

interface Entry {
  namespace: string
  name: string
  endpoint: string
  host: string
  reason?: string
}
interface PruneJson {
  matched: number
  removed: Entry[]
  kept: Entry[]
  failed: Entry[]
  dryRun: boolean
}
interface ServiceJson {
  namespace: string
  name: string
  endpoint: string
  expires?: string
}

function ok(r: CliResult): CliResult {
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stdout} ${r.stderr}`)
  return r
}

describe('service prune against roster serve (remote registry)', () => {
  let bind: BindServer
  let dir: string
  let registry: string
  let serve: ServeProcess
  let admin: string
  let svc: string
  let resolver: string
  const homes: string[] = []

  const cli = async (token: string, ...args: string[]): Promise<CliResult> => {
    const env = isolatedEnv({ROSTER_REGISTRY: serve.url, ROSTER_TOKEN: token, ROSTER_TIMEOUT: '10s'})
    homes.push(env.HOME!)
    return runCli(args, {env})
  }
  const services = async (namespace: string): Promise<ServiceJson[]> =>
    JSON.parse(ok(await cli(admin, 'service', 'list', '-n', namespace, '-o', 'json')).stdout) as ServiceJson[]
  const names = (list: {name: string}[]): string[] => list.map((s) => s.name).sort()
  // The positive signal that the registration has expired: the clock is past its expiry.
  const waitPast = (expires: string) => until(`the clock past ${expires}`, () => Date.now() > Date.parse(expires))

  before(async () => {
    bind = await startBind({
      zone: ZONE,
      keyName: 'roster-key',
      secret: SECRET,
      algorithm: 'hmac-sha256',
      records: ['web 300 IN A 192.0.2.1'],
    })
    resolver = `127.0.0.1:${bind.port}`
    dir = mkdtempSync(path.join(tmpdir(), 'roster-prune-remote-'))
    registry = `sqlite:${path.join(dir, 'registry.db')}`
    admin = await createToken(registry, {id: 'admin-1', role: 'admin', namespaces: ['*']})
    svc = await createToken(registry, {id: 'svc-1', role: 'service', namespaces: ['team-a']})
    serve = await startServe({registry})
    for (const ns of ['team-a', 'team-b']) ok(await cli(admin, 'namespace', 'register', ns))
  })
  after(async () => {
    await serve?.stop()
    await bind?.stop()
    rmSync(dir, {recursive: true, force: true})
    for (const home of homes) rmSync(home, {recursive: true, force: true})
  })

  it('a service token prunes expired services in its namespace (-n), and is refused outside it (exit 4, nothing removed)', async () => {
    ok(await cli(svc, 'service', 'register', 'short', '-n', 'team-a', '-e', 'http://short-a/', '--ttl', '1s'))
    ok(await cli(svc, 'service', 'register', 'long', '-n', 'team-a', '-e', 'http://long-a/', '--ttl', '1h'))
    ok(await cli(admin, 'service', 'register', 'short', '-n', 'team-b', '-e', 'http://short-b/', '--ttl', '1s'))
    const a = await services('team-a')
    const b = await services('team-b')
    await waitPast(a.find((s) => s.name === 'short')!.expires!)
    await waitPast(b[0]!.expires!)

    const refused = await cli(svc, 'service', 'prune', '--expired', '-n', 'team-b')
    assert.equal(refused.code, 4, `exit ${refused.code}: ${refused.stderr}`)
    assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr)
    assert.match(refused.stderr, /^roster: .*svc-1/)
    assert.ok(!refused.stderr.includes(svc), 'the token is never printed')
    assert.deepEqual(names(await services('team-b')), ['short'], 'nothing removed outside its namespaces')

    const result = JSON.parse(ok(await cli(svc, 'service', 'prune', '--expired', '-n', 'team-a', '--json')).stdout) as PruneJson
    assert.equal(result.matched, 2)
    assert.deepEqual(
      result.removed.map((e) => [e.namespace, e.name, e.reason]),
      [['team-a', 'short', 'expired']],
    )
    assert.deepEqual(names(await services('team-a')), ['long'])
    assert.deepEqual(names(await services('team-b')), ['short'], 'team-b untouched by the service token')
  })

  it('without -n a service token only sees, and prunes, its own namespaces; an admin prunes everywhere', async () => {
    const none = JSON.parse(ok(await cli(svc, 'service', 'prune', '--expired', '--json')).stdout) as PruneJson
    assert.equal(none.matched, 1, 'only team-a (one service left) is matched')
    assert.deepEqual(none.removed, [])
    assert.deepEqual(names(await services('team-b')), ['short'])

    const r = ok(await cli(admin, 'service', 'prune', '--expired'))
    assert.equal(r.stdout.split('\n')[1]?.split('\t').slice(0, 3).join(' '), 'team-b short http://short-b/')
    assert.match(r.stderr, /^removed 1 of 2 services \(1 expired\)$/m)
    assert.deepEqual(await services('team-b'), [])
    assert.deepEqual(names(await services('team-a')), ['long'])
  })

  it('--unresolvable with --resolver (BIND): a service token removes the names that do not exist in its namespace', async () => {
    ok(await cli(svc, 'service', 'register', 'node', '-n', 'team-a', '-e', `http://web.${ZONE}:9100/metrics`))
    ok(await cli(svc, 'service', 'register', 'node', '-n', 'team-a', '-e', `http://gone.${ZONE}:9100/metrics`))
    ok(await cli(admin, 'service', 'register', 'node', '-n', 'team-b', '-e', `http://gone.${ZONE}:9100/metrics`))

    const refused = await cli(svc, 'service', 'prune', '--unresolvable', '-n', 'team-b', '--resolver', resolver)
    assert.equal(refused.code, 4, `exit ${refused.code}: ${refused.stderr}`)
    assert.equal((await services('team-b')).length, 1)

    const result = JSON.parse(
      ok(await cli(svc, 'service', 'prune', '--unresolvable', '-n', 'team-a', '--resolver', resolver, '--json')).stdout,
    ) as PruneJson
    assert.deepEqual(
      result.removed.map((e) => [e.host, e.reason]),
      [[`gone.${ZONE}`, 'not found']],
    )
    assert.deepEqual((await services('team-a')).map((s) => s.endpoint).sort(), ['http://long-a/', `http://web.${ZONE}:9100/metrics`])

    // The admin, across namespaces: team-b's name goes too.
    const all = JSON.parse(ok(await cli(admin, 'service', 'prune', '--unresolvable', '--resolver', resolver, '--json')).stdout) as PruneJson
    assert.deepEqual(
      all.removed.map((e) => [e.namespace, e.host]),
      [['team-b', `gone.${ZONE}`]],
    )
    assert.deepEqual(await services('team-b'), [])
  })
})
