/**
 * Prometheus http_sd from `roster serve` over SQLite: the standard and blackbox shapes, 404 for
 * an unknown server or namespace, `[]` for a known empty one, the same bytes for the same
 * registry, and a change written by the CLI straight into the SQLite file showing up in the
 * served targets (the view's change check). Also TLS with a self-signed CA (`openssl`) and the
 * CLI's --registry-ca, and a large answer over TLS. The serves run in this process (serve(), what
 * `roster serve` runs): what is asked of them is HTTP; listen-cli.test.ts and serve-api.test.ts
 * run `roster serve` (with TLS too) as a process.
 */
import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import type {IncomingHttpHeaders} from 'node:http'
import {request} from 'node:https'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {gunzipSync} from 'node:zlib'

import {SLICE_BYTES} from '../../src/lib/server/tls-slices.js'
import {type CliResult, isolatedEnv, runCli} from '../support/cli.js'
import {makeTlsFiles} from '../support/test-pki.js'
import {seedRegistry} from '../support/seed-registry.js'
import {type InProcessServe, createToken, http, startServeInProcess} from '../support/serve-server.js'
import {timeUntil, until} from '../support/until.js'

function ok(r: CliResult): CliResult {
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stdout} ${r.stderr}`)
  return r
}

/** The error message of a JSON error answer. */
function message(r: {json: () => unknown}): string {
  return (r.json() as {error: {message: string}}).error.message
}

interface Group {
  targets: string[]
  labels: Record<string, string>
}

describe('roster serve: http_sd (SQLite)', () => {
  let dir: string
  let registry: string
  let serve: InProcessServe
  let reader: string
  const local = (...args: string[]) => runCli([...args, '--registry', registry])
  const sd = (p: string, token = reader) => http(`${serve.url}/v1/sd/${p}`, {token})

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'roster-serve-sd-'))
    registry = `sqlite:${path.join(dir, 'registry.db')}`
    ok(await local('server', 'register', 'prom1'))
    ok(await local('server', 'register', 'prom2', '-l', 'role=probe'))
    ok(await local('namespace', 'register', 'web', '--export', 'blackbox'))
    ok(await local('namespace', 'register', 'quiet', '--export', 'disabled'))
    ok(await local('namespace', 'register', 'empty'))
    ok(
      await local(
        'service',
        'register',
        'node',
        '-e',
        'http://db1:9100/metrics?module=x',
        '-l',
        'app.kubernetes.io/name=db',
        '-s',
        '!role',
      ),
    )
    ok(await local('service', 'register', 'site', '-n', 'web', '-e', 'https://www.example.org/health', '-s', 'role=probe'))
    ok(await local('service', 'register', 'hidden', '-n', 'quiet', '-e', 'http://hidden:1/metrics', '-s', '!role'))
    reader = await createToken(registry, {id: 'prometheus', role: 'read', namespaces: ['*']})
    serve = await startServeInProcess({registry})
  })
  after(async () => {
    await serve?.stop()
    rmSync(dir, {recursive: true, force: true})
  })

  it('answers the standard shape with __param_ and __meta_roster_ labels', async () => {
    const r = await sd('prom1/default')
    assert.equal(r.status, 200, r.text)
    const groups = r.json() as Group[]
    assert.equal(groups.length, 1)
    assert.deepEqual(groups[0]!.targets, ['db1:9100'])
    assert.equal(groups[0]!.labels.job, 'node')
    assert.equal(groups[0]!.labels.__metrics_path__, '/metrics')
    assert.equal(groups[0]!.labels.__scheme__, 'http')
    assert.equal(groups[0]!.labels.__param_module, 'x')
    assert.equal(groups[0]!.labels.app_kubernetes_io_name, 'db')
    assert.equal(groups[0]!.labels.__meta_roster_namespace, 'default')
    assert.equal(groups[0]!.labels.__meta_roster_server, 'prom1')
    assert.match(groups[0]!.labels.__meta_roster_service_id!, /^[0-9a-f-]{36}$/)
  })

  it('answers the blackbox shape (namespace setting, ?config= and discovery’s export-config=)', async () => {
    const probe = (await sd('prom2/web')).json() as Group[]
    assert.deepEqual(probe[0]!.targets, ['https://www.example.org/health'])
    assert.equal(probe[0]!.labels.__meta_roster_namespace, 'web')
    assert.equal(probe[0]!.labels.__scheme__, undefined)
    const forced = (await sd('prom1/default?config=blackbox')).json() as Group[]
    assert.deepEqual(forced[0]!.targets, ['http://db1:9100/metrics?module=x'])
    const discovery = (await sd('prom1/default?export-config=blackbox')).json() as Group[]
    assert.deepEqual(discovery, forced)
    const bad = await sd('prom1/default?config=fancy')
    assert.equal(bad.status, 400)
    assert.match(message(bad), /config "fancy": must be standard or blackbox/)
  })

  it('answers 404 for an unknown server or namespace, [] for a known empty one', async () => {
    const noServer = await sd('prom9/default')
    assert.equal(noServer.status, 404)
    assert.match(message(noServer), /server "prom9" is not registered/)
    assert.equal((await sd('prom9')).status, 404)
    const noNamespace = await sd('prom1/nowhere')
    assert.equal(noNamespace.status, 404)
    assert.match(message(noNamespace), /namespace "nowhere" is not registered/)
    const empty = await sd('prom1/empty')
    assert.equal(empty.status, 200)
    assert.deepEqual(empty.json(), [])
    assert.deepEqual((await sd('prom2/default')).json(), [])
    assert.deepEqual((await sd('prom1/quiet')).json(), [], 'a disabled namespace exports nothing')
  })

  it('answers every exported namespace of a server at /v1/sd/SERVER', async () => {
    const all = (await sd('prom1')).json() as Group[]
    assert.deepEqual(
      all.map((g) => [g.labels.__meta_roster_namespace, g.targets[0]]),
      [['default', 'db1:9100']],
      'the disabled namespace "quiet" is left out',
    )
    const probes = (await sd('prom2')).json() as Group[]
    assert.deepEqual(
      probes.map((g) => g.targets[0]),
      ['https://www.example.org/health'],
    )
  })

  it('gives the same bytes for the same registry, from any instance', async () => {
    const a = await sd('prom1/default')
    const b = await sd('prom1/default')
    assert.equal(a.text, b.text)
    const other = await startServeInProcess({registry})
    try {
      const c = await http(`${other.url}/v1/sd/prom1/default`, {token: reader})
      assert.equal(c.text, a.text)
    } finally {
      assert.equal(await other.stop(), 0)
    }
  })

  it('shows a change written by the CLI straight into the SQLite file', async () => {
    ok(await local('service', 'register', 'late', '-e', 'http://late1:9100/metrics', '-s', '!role'))
    const took = await timeUntil('the registration in http_sd', async () =>
      ((await sd('prom1/default')).json() as Group[]).some((g) => g.targets[0] === 'late1:9100'),
    )
    ok(await local('service', 'unregister', 'http://late1:9100/metrics'))
    await until(
      'the unregistration in http_sd',
      async () => !((await sd('prom1/default')).json() as Group[]).some((g) => g.targets[0] === 'late1:9100'),
    )
    ok(await local('server', 'unregister', 'prom2'))
    await until('the server removal in http_sd', async () => (await sd('prom2/web')).status === 404)
    process.stderr.write(`# registration visible in http_sd after ${took} ms\n`)
  })

  it('refuses http_sd without a token, and a read token outside its namespaces', async () => {
    assert.equal((await http(`${serve.url}/v1/sd/prom1/default`)).status, 401)
    const scoped = await createToken(registry, {id: 'prom-web', role: 'read', namespaces: ['web']})
    const refused = await sd('prom1/default', scoped)
    assert.equal(refused.status, 403)
    assert.match(message(refused), /not allowed: token "prom-web" \(role read\) may not read in namespace "default"/)
    const limited = (await sd('prom1', scoped)).json() as Group[]
    assert.ok(limited.every((g) => g.labels.__meta_roster_namespace === 'web'))
  })
})

describe('roster serve over TLS (self-signed CA made by openssl)', () => {
  let dir: string
  let registry: string
  let serve: InProcessServe
  let admin: string
  let ca: string

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'roster-serve-tls-'))
    registry = `sqlite:${path.join(dir, 'registry.db')}`
    const tls = makeTlsFiles(dir)
    ca = tls.caFile
    admin = await createToken(registry, {id: 'admin', role: 'admin', namespaces: ['*']})
    // About 650 KB of http_sd on prom0: a large answer, which goes out in slices over TLS.
    await seedRegistry(registry, 3000, {servers: 1})
    serve = await startServeInProcess({registry, tlsCert: tls.serverCertFile, tlsKey: tls.serverKeyFile})
  })
  after(async () => {
    await serve?.stop()
    rmSync(dir, {recursive: true, force: true})
  })

  it('serves HTTPS; the CLI trusts it with --registry-ca and refuses it without', async () => {
    assert.match(serve.url, /^https:\/\/127\.0\.0\.1:\d+$/)
    const env = isolatedEnv({ROSTER_REGISTRY: serve.url, ROSTER_TOKEN: admin})
    ok(await runCli(['server', 'register', 'prom1', '--registry-ca', ca], {env}))
    const list = ok(await runCli(['server', 'list', '-o', 'json', '--registry-ca', ca], {env}))
    assert.match(list.stdout, /"name": "prom1"/)
    const untrusted = await runCli(['server', 'list'], {env})
    assert.equal(untrusted.code, 2, untrusted.stderr)
    assert.match(untrusted.stderr, /TLS verification failed/)
    const missing = await runCli(['server', 'list', '--registry-ca', path.join(dir, 'nope.crt')], {env})
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /registry-ca ".*nope\.crt": no such file/)
  })

  it('sends a large http_sd answer whole, with its length, to GET and HEAD, plain and gzipped', async () => {
    const url = `${serve.url}/v1/sd/prom0/default`
    const get = await tlsGet(url, ca, admin)
    assert.equal(get.status, 200)
    assert.ok(get.body.length > 2 * SLICE_BYTES, `${get.body.length} bytes`)
    assert.equal(get.headers['content-length'], String(get.body.length))
    assert.ok((JSON.parse(get.body.toString()) as Group[]).every((g) => g.targets.length > 0))
    const head = await tlsGet(url, ca, admin, {method: 'HEAD'})
    assert.equal(head.status, 200)
    assert.equal(head.headers['content-length'], String(get.body.length))
    assert.equal(head.body.length, 0)
    const gzipped = await tlsGet(url, ca, admin, {headers: {'accept-encoding': 'gzip'}})
    assert.equal(gzipped.headers['content-encoding'], 'gzip')
    assert.deepEqual(gunzipSync(gzipped.body), get.body)
  })
})

/** One request over HTTPS trusting `caFile`: the status, the headers and the raw body. */
function tlsGet(
  url: string,
  caFile: string,
  token: string,
  options: {method?: string; headers?: Record<string, string>} = {},
): Promise<{status: number; headers: IncomingHttpHeaders; body: Buffer}> {
  return new Promise((resolve, reject) => {
    const headers = {authorization: `Bearer ${token}`, ...options.headers}
    request(url, {ca: readFileSync(caFile), method: options.method ?? 'GET', headers}, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (d: Buffer) => chunks.push(d))
      res.on('end', () => resolve({status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks)}))
      res.on('error', reject)
    })
      .on('error', reject)
      .end()
  })
}
