/**
 * `roster service prune` against a real DNS server (BIND on loopback, reached with --resolver):
 * names that exist stay, names that do not (NXDOMAIN, no address) go, a refusing or silent
 * server removes nothing, a mass disappearance is refused by the guard (exit 9), and a short
 * real TTL expires while a renewed one does not.
 */
import assert from 'node:assert/strict'
import dgram from 'node:dgram'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {type BindServer, startBind} from '../support/bind-server.js'
import {type CliResult, isolatedEnv, runCli} from '../support/cli.js'
import {until} from '../support/until.js'

const ZONE = 'example.test'
const SECRET = Buffer.from('registry prune test secret, 32 octets or more').toString('base64')

interface Entry {
  namespace: string
  name: string
  endpoint: string
  host: string
  reason?: string
  expires?: string
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

describe('service prune (BIND on loopback)', () => {
  let bind: BindServer
  let silent: dgram.Socket
  let silentQueries = 0
  let dir: string
  let env: Record<string, string | undefined>
  let resolver: string

  const cli = (...args: string[]): Promise<CliResult> => runCli(args, {env})
  const ok = (r: CliResult): CliResult => {
    assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`)
    return r
  }
  const services = async (...args: string[]): Promise<ServiceJson[]> =>
    JSON.parse(ok(await cli('service', 'list', '-o', 'json', ...args)).stdout) as ServiceJson[]
  const endpoints = (list: {endpoint: string}[]): string[] => list.map((s) => s.endpoint).sort()

  before(async () => {
    bind = await startBind({
      zone: ZONE,
      keyName: 'roster-key',
      secret: SECRET,
      algorithm: 'hmac-sha256',
      records: ['web 300 IN A 192.0.2.1', 'v6only 300 IN AAAA 2001:db8::1', 'txtonly 300 IN TXT "no address here"'],
    })
    resolver = `127.0.0.1:${bind.port}`
    // A DNS server that reads every query and never answers.
    silent = dgram.createSocket('udp4')
    silent.on('message', () => silentQueries++)
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve))
    dir = mkdtempSync(path.join(tmpdir(), 'roster-prune-'))
    env = isolatedEnv({ROSTER_REGISTRY: `sqlite:${path.join(dir, 'registry.db')}`})
  })
  after(async () => {
    silent?.close()
    await bind?.stop()
    rmSync(dir, {recursive: true, force: true})
    if (env.HOME) rmSync(env.HOME, {recursive: true, force: true})
  })

  it('removes the names that do not exist, keeps those that do, and keeps what the server refuses to answer', async () => {
    ok(await cli('namespace', 'register', 'dns'))
    for (const endpoint of [
      `http://web.${ZONE}:9100/metrics`,
      `http://v6only.${ZONE}:9100/metrics`,
      `http://gone.${ZONE}:9100/metrics`,
      `http://txtonly.${ZONE}:9100/metrics`,
      'http://elsewhere.invalid:9100/metrics', // not BIND's zone: REFUSED
      'http://192.0.2.9:9100/metrics',
    ])
      ok(await cli('service', 'register', 'node', '-n', 'dns', '-e', endpoint))
    const r = ok(await cli('service', 'prune', '--unresolvable', '-n', 'dns', '--resolver', resolver, '--json'))
    const result = JSON.parse(r.stdout) as PruneJson
    assert.equal(result.matched, 6)
    assert.deepEqual(
      result.removed.map((e) => [e.host, e.reason]),
      [
        [`gone.${ZONE}`, 'not found'],
        [`txtonly.${ZONE}`, 'no address'],
      ],
    )
    assert.deepEqual(
      result.kept.map((e) => e.host),
      ['192.0.2.9', `v6only.${ZONE}`, `web.${ZONE}`],
    )
    assert.deepEqual(
      result.failed.map((e) => e.host),
      ['elsewhere.invalid'],
    )
    assert.match(result.failed[0]!.reason ?? '', /^E[A-Z]+$/)
    assert.deepEqual(endpoints(await services('-n', 'dns')), [
      'http://192.0.2.9:9100/metrics',
      'http://elsewhere.invalid:9100/metrics',
      `http://v6only.${ZONE}:9100/metrics`,
      `http://web.${ZONE}:9100/metrics`,
    ])
    // The plain output: nothing left to remove, the refused one reported.
    const again = ok(await cli('service', 'prune', '--unresolvable', '-n', 'dns', '--resolver', resolver))
    assert.equal(again.stdout, 'NAMESPACE\tNAME\tENDPOINT\tREASON\tID\n')
    assert.match(
      again.stderr,
      /^kept dns\/node http:\/\/elsewhere\.invalid:9100\/metrics: looking up elsewhere\.invalid failed \(E[A-Z]+\)$/m,
    )
    assert.match(again.stderr, /^no services to remove \(4 checked\); 1 service kept after a DNS failure$/m)
  })

  it('a server that does not answer removes nothing: every lookup is a failure, and reported', async () => {
    const before = await services('-n', 'dns')
    const queriesBefore = silentQueries
    const r = ok(
      await cli(
        'service',
        'prune',
        '--unresolvable',
        '-n',
        'dns',
        '--resolver',
        `127.0.0.1:${silent.address().port}`,
        '--resolve-timeout',
        '300ms',
        '--json',
      ),
    )
    const result = JSON.parse(r.stdout) as PruneJson
    assert.deepEqual(result.removed, [])
    assert.deepEqual(
      result.failed.map((e) => [e.host, e.reason]),
      [
        ['elsewhere.invalid', 'ETIMEOUT'],
        [`v6only.${ZONE}`, 'ETIMEOUT'],
        [`web.${ZONE}`, 'ETIMEOUT'],
      ],
    )
    assert.ok(silentQueries > queriesBefore, 'the silent server was asked')
    assert.deepEqual(await services('-n', 'dns'), before)
  })

  it('refuses a mass disappearance (exit 9, nothing removed) unless --force; --dry-run shows what would go', async () => {
    ok(await cli('namespace', 'register', 'mass'))
    ok(await cli('service', 'register', 'up', '-n', 'mass', '-e', `http://web.${ZONE}/a`, '-e', `http://web.${ZONE}/b`))
    const gone = Array.from({length: 10}, (_, i) => `http://host${i}.gone.${ZONE}/`)
    ok(await cli('service', 'register', 'down', '-n', 'mass', ...gone.flatMap((e) => ['-e', e])))
    const refused = await cli('service', 'prune', '--unresolvable', '-n', 'mass', '--resolver', resolver)
    assert.equal(refused.code, 9, refused.stderr)
    assert.equal(
      refused.stderr,
      'roster: refusing to remove 10 of 12 matching services (83.3%, more than the 30% allowed); nothing was removed; review it with --dry-run, then use --force or a higher --max-percent\n',
    )
    assert.equal((await services('-n', 'mass')).length, 12)

    const dry = await cli(
      'service',
      'prune',
      '--unresolvable',
      '-n',
      'mass',
      '--resolver',
      resolver,
      '--dry-run',
      '-o',
      'csv',
      '--no-headers',
    )
    assert.equal(dry.code, 9, dry.stderr)
    assert.deepEqual(
      dry.stdout
        .trim()
        .split(/\r?\n/)
        .map((l) => l.split(',')[2])
        .sort(),
      gone.sort(),
    )
    assert.match(dry.stderr, /^would remove 10 of 12 services \(10 not found\)$/m)
    assert.equal((await services('-n', 'mass')).length, 12)

    const forced = JSON.parse(
      ok(await cli('service', 'prune', '--unresolvable', '-n', 'mass', '--resolver', resolver, '--force', '--json')).stdout,
    ) as PruneJson
    assert.deepEqual(endpoints(forced.removed), gone.sort())
    assert.deepEqual(endpoints(await services('-n', 'mass')), [`http://web.${ZONE}/a`, `http://web.${ZONE}/b`])
  })

  it('--ttl: service list shows the expiry, registering again renews it, prune --expired removes what expired', async () => {
    ok(await cli('namespace', 'register', 'ttl'))
    ok(await cli('service', 'register', 'short', '-n', 'ttl', '-e', 'http://short/', '--ttl', '1s'))
    ok(await cli('service', 'register', 'long', '-n', 'ttl', '-e', 'http://long/', '--ttl', '1h'))
    ok(await cli('service', 'register', 'forever', '-n', 'ttl', '-e', 'http://forever/'))
    const listed = await services('-n', 'ttl')
    assert.deepEqual(
      listed.map((s) => [s.name, typeof s.expires]),
      [
        ['forever', 'undefined'],
        ['long', 'string'],
        ['short', 'string'],
      ],
    )
    const table = ok(await cli('service', 'list', '-n', 'ttl', '--name', '^long$')).stdout
    assert.match(table, /^NAMESPACE\tNAME\tENDPOINT\tSERVERS\tLABELS\tSELECTOR\tID\tMODIFIED\tEXPIRES\n/)
    const longExpires = listed.find((s) => s.name === 'long')!.expires!
    assert.ok(table.trimEnd().endsWith(`\t${longExpires}`))
    fails(
      await cli('service', 'register', 'bad', '-n', 'ttl', '-e', 'http://bad/', '--ttl', 'soon'),
      2,
      /^roster: --ttl "soon": expected a duration/,
    )

    // Renewal: registering again moves the expiry forward.
    ok(await cli('service', 'register', 'long', '-n', 'ttl', '-e', 'http://long/', '--ttl', '1h'))
    const renewed = (await services('-n', 'ttl', '--name', '^long$'))[0]!.expires!
    assert.ok(Date.parse(renewed) > Date.parse(longExpires), `${renewed} after ${longExpires}`)

    // The positive signal that "short" has expired: the clock is past its expiry.
    const shortExpires = Date.parse(listed.find((s) => s.name === 'short')!.expires!)
    await until('the clock past the expiry of "short"', () => Date.now() > shortExpires)
    const result = JSON.parse(ok(await cli('service', 'prune', '--expired', '-n', 'ttl', '--json')).stdout) as PruneJson
    assert.deepEqual(
      result.removed.map((e) => [e.name, e.reason]),
      [['short', 'expired']],
    )
    assert.deepEqual(
      (await services('-n', 'ttl')).map((s) => s.name),
      ['forever', 'long'],
    )
    fails(await cli('service', 'prune', '-n', 'ttl'), 2, /^roster: give --expired, --unresolvable or both\n$/)
  })
})

function fails(r: CliResult, code: number, stderr: RegExp): void {
  assert.equal(r.code, code, `exit ${r.code}, expected ${code}: ${r.stderr}`)
  assert.match(r.stderr, stderr)
}
