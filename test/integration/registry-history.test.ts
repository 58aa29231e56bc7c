/**
 * The registry history as users reach it: who each write is recorded as, from the CLI on a local
 * registry (user@host), `service prune` and TTL expiry (against BIND on loopback), kube discover
 * (its owner id), a service token through `roster serve`, and a person signed in with OIDC
 * (oidc-provider on loopback; subject and e-mail); a refused write records nothing; `--follow`
 * and `GET /v1/events?follow=1` see a write made after they started; what a read token may see;
 * and the history on etcd (pages, follow, retention by the registry's clock). The serves run in
 * this process (serve(), what `roster serve` runs): what is asked of them is HTTP and their history.
 */
import assert from 'node:assert/strict'
import {once} from 'node:events'
import {mkdtempSync, rmSync} from 'node:fs'
import {get as httpGet, type IncomingMessage} from 'node:http'
import {hostname, tmpdir, userInfo} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import type {HistoryEvent} from '../../src/lib/registry/history/event.js'
import {Registry} from '../../src/lib/registry/registry.js'
import {openStore} from '../../src/lib/store/open-store.js'
import {type BindServer, startBind} from '../support/bind-server.js'
import {BIN, type CliResult, isolatedEnv, runCli, startCli} from '../support/cli.js'
import {startEtcd, type EtcdServer} from '../support/etcd-server.js'
import {type KubeApiServer, startKubeApiServer} from '../support/kube-api-server.js'
import {startLongRunning} from '../support/long-running.js'
import {USERS, type OidcProviderServer, startOidcServeInProcess} from '../support/oidc-provider.js'
import {makePod} from '../support/pod-fixtures.js'
import {type InProcessServe, createToken, http, startServeInProcess} from '../support/serve-server.js'
import {until} from '../support/until.js'

const ZONE = 'example.test'

function ok(r: CliResult): CliResult {
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`)
  return r
}

/** `roster registry history -o json` with `args`. */
async function history(env: Record<string, string | undefined>, ...args: string[]): Promise<HistoryEvent[]> {
  return JSON.parse(ok(await runCli(['registry', 'history', '-o', 'json', ...args], {env})).stdout) as HistoryEvent[]
}

const brief = (e: HistoryEvent): string =>
  `${e.action} ${e.object.kind} ${e.object.endpoint ?? e.object.name} by ${e.actor.kind}:${e.actor.id}`

describe('history of a local registry (the CLI)', () => {
  let dir: string
  let env: Record<string, string | undefined>
  let bind: BindServer
  let kube: KubeApiServer
  const cli = (...args: string[]) => runCli(args, {env})
  const me = `${userInfo().username}@${hostname()}`

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'roster-history-'))
    env = isolatedEnv({ROSTER_REGISTRY: `sqlite:${path.join(dir, 'registry.db')}`})
    bind = await startBind({
      zone: ZONE,
      keyName: 'roster-key',
      secret: Buffer.alloc(32, 7).toString('base64'),
      algorithm: 'hmac-sha256',
      records: ['web 300 IN A 192.0.2.1'],
    })
    kube = await startKubeApiServer()
  })
  after(async () => {
    await bind?.stop()
    await kube?.stop()
    rmSync(dir, {recursive: true, force: true})
  })

  it('a write is recorded as the Unix user and host, with what it changed; a refused write records nothing', async () => {
    ok(await cli('service', 'register', 'node', '-e', `http://web.${ZONE}:9100/metrics`, '-l', 'env=prod'))
    const [event] = await history(env)
    assert.deepEqual(event!.actor, {kind: 'local', id: me, user: userInfo().username, host: hostname()})
    assert.equal(brief(event!), `register service http://web.${ZONE}:9100/metrics by local:${me}`)
    assert.deepEqual(event!.changes, {name: {after: 'node'}, labels: {after: {env: 'prod'}}})

    const refused = await cli('service', 'register', 'node', '-e', 'http://db1:9100/metrics', '-l', 'bad key=x')
    assert.equal(refused.code, 2, refused.stderr)
    const unknown = await cli('service', 'register', 'node', '-e', 'http://db1:9100/metrics', '-n', 'nope')
    assert.equal(unknown.code, 5, unknown.stderr)
    assert.equal((await history(env)).length, 1)

    const table = ok(await cli('registry', 'history', '--actor', userInfo().username)).stdout.split('\n')
    assert.match(table[0]!, /^TIME\tACTOR\tACTION\tKIND\tNAMESPACE\tNAME\tENDPOINT\tCHANGES\tID$/)
    assert.match(
      table[1]!,
      new RegExp(
        `\\tregister\\tservice\\tdefault\\tnode\\thttp://web\\.${ZONE}:9100/metrics\\tname: \\+node; labels: \\+env=prod\\t\\d+-0$`,
      ),
    )
    const wide = ok(await cli('service', 'list', '-o', 'wide')).stdout.split('\n')
    assert.match(wide[0]!, /\tREGISTERED BY$/)
    assert.match(wide[1]!, new RegExp(`\\t${me.replace(/[.]/g, '\\.')}$`))
  })

  it('service prune: an expired registration is recorded as "expire", a host gone from DNS as "prune", by whoever pruned', async () => {
    ok(await cli('namespace', 'register', 'prune'))
    ok(await cli('service', 'register', 'short', '-n', 'prune', '-e', 'http://192.0.2.7:9100/', '--ttl', '1s'))
    ok(await cli('service', 'register', 'gone', '-n', 'prune', '-e', `http://gone.${ZONE}:9100/`))
    ok(await cli('service', 'register', 'kept', '-n', 'prune', '-e', `http://web.${ZONE}:9100/`))
    // The one-second TTL runs out on the real clock: prune until it has.
    await until(
      'the TTL to run out',
      async () => JSON.parse(ok(await cli('service', 'prune', '--expired', '-n', 'prune', '--json')).stdout).removed.length === 1,
    )
    ok(await cli('service', 'prune', '--unresolvable', '-n', 'prune', '--resolver', `127.0.0.1:${bind.port}`, '--max-percent', '100'))
    const events = await history(env, '-n', 'prune')
    assert.deepEqual(events.map(brief).slice(-2), [
      `expire service http://192.0.2.7:9100/ by local:${me}`,
      `prune service http://gone.${ZONE}:9100/ by local:${me}`,
    ])
  })

  it('kube discover records its writes as its owner id', async () => {
    ok(await cli('namespace', 'register', 'k8s'))
    kube.addPod(makePod({name: 'api-0', namespace: 'shop', ip: '127.0.0.11', port: 8080}))
    try {
      ok(await cli('kube', 'discover', '--once', '--owner-id', 'prod-cluster', '-n', 'k8s', '--kubeconfig', kube.kubeconfigPath()))
    } finally {
      kube.deletePod('shop', 'api-0')
    }
    ok(await cli('kube', 'discover', '--once', '--owner-id', 'prod-cluster', '-n', 'k8s', '--kubeconfig', kube.kubeconfigPath(), '--force'))
    const events = await history(env, '-n', 'k8s', '--actor', 'discover:prod-cluster')
    assert.deepEqual(events.map(brief), [
      'register service http://127.0.0.11:8080/metrics by discover:prod-cluster',
      'unregister service http://127.0.0.11:8080/metrics by discover:prod-cluster',
    ])
  })

  it('--follow prints the events from --since, then a write made after it started, until Ctrl-C', async () => {
    const since = new Date(Date.now() - 1000).toISOString()
    ok(await cli('namespace', 'register', 'follow'))
    // A process: Ctrl-C (SIGINT) to it is what ends the follow and closes the array.
    const child = startLongRunning(
      process.execPath,
      [BIN, 'registry', 'history', '--follow', '-n', 'follow', '--since', since, '-o', 'json'],
      {
        env: env as NodeJS.ProcessEnv,
      },
    )
    try {
      // The namespace's own event, from the past: the listing is done, the follow is live.
      await child.waitFor(/"kind": "namespace"/, {stream: 'stdout', timeoutMs: 60_000})
      ok(await cli('service', 'register', 'late', '-n', 'follow', '-e', 'http://late:9100/'))
      await child.waitFor(/http:\/\/late:9100\//, {stream: 'stdout', timeoutMs: 60_000})
    } finally {
      child.child.kill('SIGINT')
    }
    assert.equal(await child.exited, 0, child.stderr())
    const stdout = child.stdout()
    // Ctrl-C closes the array: what was printed is one JSON document.
    const printed = JSON.parse(stdout) as HistoryEvent[]
    assert.deepEqual(
      printed.map((e) => e.object.endpoint ?? e.object.name),
      ['follow', 'http://late:9100/'],
    )
  })
})

describe('history through roster serve (tokens)', () => {
  let dir: string
  let registry: string
  let serve: InProcessServe
  let admin: string
  let ansible: string
  let reader: string
  const env = isolatedEnv()
  const remote = (token: string, ...args: string[]) => runCli([...args, '--registry', serve.url, '--token', token], {env})
  const events = async (token: string, query = ''): Promise<{status: number; items: HistoryEvent[]}> => {
    const r = await http(`${serve.url}/v1/events${query}`, {token})
    return {status: r.status, items: r.status === 200 ? (r.json() as {items: HistoryEvent[]}).items : []}
  }

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'roster-history-serve-'))
    registry = `sqlite:${path.join(dir, 'registry.db')}`
    admin = await createToken(registry, {id: 'admin', role: 'admin', namespaces: ['*']})
    ansible = await createToken(registry, {id: 'ansible', role: 'service', namespaces: ['team-a']})
    reader = await createToken(registry, {id: 'prometheus', role: 'read', namespaces: ['team-a']})
    serve = await startServeInProcess({registry})
    ok(await remote(admin, 'namespace', 'register', 'team-a'))
    ok(await remote(admin, 'server', 'register', 'prom1'))
  })
  after(async () => {
    await serve?.stop()
    rmSync(dir, {recursive: true, force: true})
  })

  it('a service token’s writes are recorded as its id and role; service list -o wide names it', async () => {
    ok(await remote(ansible, 'service', 'register', 'api', '-n', 'team-a', '-e', 'http://api1:8080/metrics'))
    const all = await history(env, '--registry', serve.url, '--token', admin, '-n', 'team-a')
    const last = all.at(-1)!
    assert.equal(brief(last), 'register service http://api1:8080/metrics by token:ansible')
    assert.deepEqual(last.actor, {kind: 'token', id: 'ansible', role: 'service'})
    assert.deepEqual(last.changes.servers, {after: ['prom1']})
    const wide = ok(await remote(admin, 'service', 'list', '-n', 'team-a', '-o', 'wide')).stdout
    assert.match(wide.split('\n')[1]!, /\ttoken:ansible$/)
  })

  it('GET /v1/events: an admin sees everything, a read token its namespaces’ events only, a service token nothing', async () => {
    ok(await remote(admin, 'service', 'register', 'node', '-e', 'http://db1:9100/metrics'))
    const everything = await events(admin)
    assert.equal(everything.status, 200)
    const kinds = new Set(everything.items.map((e) => e.object.kind))
    for (const kind of ['token', 'namespace', 'server', 'service']) assert.ok(kinds.has(kind as never), `${kind} in ${[...kinds]}`)
    assert.ok(everything.items.some((e) => e.object.namespace === 'default'))

    const scoped = await events(reader)
    assert.equal(scoped.status, 200)
    assert.ok(scoped.items.length > 0)
    assert.ok(
      scoped.items.every((e) => e.object.namespace === 'team-a'),
      JSON.stringify(scoped.items.map(brief)),
    )
    assert.equal((await events(reader, '?namespace=default')).status, 403)
    assert.equal((await events(ansible)).status, 403)

    const page = await http(`${serve.url}/v1/events?limit=2`, {token: admin})
    const body = page.json() as {items: HistoryEvent[]; continue?: string}
    assert.equal(body.items.length, 2)
    const next = await http(`${serve.url}/v1/events?limit=2&continue=${encodeURIComponent(body.continue!)}`, {token: admin})
    assert.deepEqual((next.json() as {items: HistoryEvent[]}).items, everything.items.slice(2, 4))
    assert.equal((await http(`${serve.url}/v1/events?since=soon`, {token: admin})).status, 400)
  })

  it('?follow=1 streams newline-delimited events: from since, then a write made after it started', async () => {
    const since = new Date(Date.now() - 60_000).toISOString()
    // node:http on a connection of its own, not fetch: a fetch aborted mid-stream can leave undici
    // holding a fresh connection to serve that never carries a request, and serve's stop (after)
    // then waits for it until serve's request timeout, a minute or more of idle wall time.
    const request = httpGet(`${serve.url}/v1/events?follow=1&namespace=team-a&since=${since}`, {
      headers: {authorization: `Bearer ${reader}`},
      agent: false,
    })
    const [response] = (await once(request, 'response')) as [IncomingMessage]
    assert.equal(response.statusCode, 200)
    assert.match(response.headers['content-type'] ?? '', /^application\/x-ndjson/)
    const chunks = response[Symbol.asyncIterator]() as AsyncIterator<Buffer>
    let text = ''
    const readUntil = async (what: string) => {
      while (!text.includes(what)) {
        const {value, done} = await chunks.next()
        if (done) assert.fail(`the stream ended before ${what}: ${text}`)
        text += value.toString('utf8')
      }
    }
    try {
      await readUntil('http://api1:8080/metrics')
      ok(await remote(ansible, 'service', 'register', 'api', '-n', 'team-a', '-e', 'http://api2:8080/metrics'))
      ok(await remote(admin, 'service', 'register', 'other', '-e', 'http://elsewhere:8080/metrics'))
      await readUntil('http://api2:8080/metrics')
    } finally {
      request.destroy()
    }
    const lines = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as HistoryEvent)
    assert.ok(lines.every((e) => e.object.namespace === 'team-a'))
    assert.equal(brief(lines.at(-1)!), 'register service http://api2:8080/metrics by token:ansible')
  })

  it('registry history --follow through serve: a follow the server ends (it stopped) exits 3, naming the last event to follow again from', async () => {
    const own = await startServeInProcess({registry})
    let stopped = false
    try {
      const child = startCli(['registry', 'history', '--follow', '--since', '1h', '--registry', own.url, '--token', admin], {env})
      await child.waitFor(/prom1/, {stream: 'stdout', timeoutMs: 60_000})
      await own.stop()
      stopped = true
      assert.equal(await child.exited, 3, child.stderr())
      const stderr = child.stderr()
      assert.match(
        stderr,
        /^roster: http:\/\/127\.0\.0\.1:\d+ ended the history follow \(it stopped, or this client read too slowly\); the last event was at \S+Z: follow again with --since \S+Z \(which prints the events of that time again\)$/m,
      )
      assert.doesNotMatch(stderr, /\n\s+at /)
    } finally {
      if (!stopped) await own.stop()
    }
  })

  it('registry settings --history-retention through serve: recorded, and shown', async () => {
    const r = ok(await remote(admin, 'registry', 'settings', '--history-retention', '90d', '-o', 'json'))
    const settings = JSON.parse(r.stdout) as {revision: number}
    assert.deepEqual(settings, {replicas: 1, historyRetention: '90d', revision: settings.revision})
    const last = (await history(env, '--registry', serve.url, '--token', admin)).at(-1)!
    assert.equal(brief(last), 'update settings settings by token:admin')
    assert.deepEqual(last.changes, {historyRetention: {before: '30d', after: '90d'}})
    const bad = await remote(admin, 'registry', 'settings', '--history-retention', 'forever')
    assert.equal(bad.code, 2, bad.stderr)
  })
})

describe('history through roster serve (a person signed in with OIDC)', () => {
  let dir: string
  let provider: OidcProviderServer
  let serve: InProcessServe

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'roster-history-oidc-'))
    ;({provider, serve} = await startOidcServeInProcess(dir))
  })
  after(async () => {
    await serve?.stop()
    await provider?.stop()
    rmSync(dir, {recursive: true, force: true})
  })

  it('records the subject, role and e-mail of the person', async () => {
    const env = isolatedEnv()
    const roster = (...args: string[]) => runCli([...args, '--registry', serve.url], {env, input: `${USERS.alice!.password}\n`})
    ok(await roster('login', '--username', 'alice', '--password-stdin'))
    ok(await roster('service', 'register', 'node', '-e', 'http://db1:9100/metrics'))
    const [event] = await history(env, '--registry', serve.url, '--actor', 'alice@roster.test')
    assert.deepEqual(event!.actor, {kind: 'oidc', id: 'alice', role: 'admin', email: 'alice@roster.test'})
    assert.equal(brief(event!), 'register service http://db1:9100/metrics by oidc:alice')
  })
})

describe('history on etcd', () => {
  let etcd: EtcdServer
  before(async () => {
    etcd = await startEtcd()
  })
  after(async () => {
    await etcd?.stop()
  })

  it('pages, a follow that sees a later write, and retention by the registry clock', async () => {
    const store = await openStore({registry: etcd.url, timeoutMs: 30_000})
    let clock = Date.parse('2026-11-01T00:00:00.000Z')
    const registry = new Registry(store, {now: () => new Date(clock), actor: {kind: 'system', id: 'test'}})
    try {
      for (let i = 0; i < 5; i++) {
        clock += 3_600_000
        await registry.registerServices({name: 'node', endpoints: [`http://db${i}:9100/`]})
      }
      const all: HistoryEvent[] = []
      for await (const e of registry.listEvents({since: '2h30m'})) all.push(e)
      assert.deepEqual(
        all.map((e) => e.object.endpoint),
        ['http://db2:9100/', 'http://db3:9100/', 'http://db4:9100/'],
      )

      const seen: string[] = []
      const following = await registry.followEvents({}, (e) => void seen.push(e.object.endpoint ?? ''))
      try {
        await registry.registerServices({name: 'node', endpoints: ['http://late:9100/']})
        await until('the followed write', () => seen.includes('http://late:9100/'))
        assert.deepEqual(seen, ['http://late:9100/'])
      } finally {
        await following.close()
      }

      await registry.updateSettings({historyRetention: '3h'})
      clock += 150 * 60_000
      await registry.registerServices({name: 'node', endpoints: ['http://last:9100/']})
      const kept: string[] = []
      for await (const e of registry.listEvents()) kept.push(e.object.endpoint ?? e.object.name)
      assert.deepEqual(kept, ['http://db4:9100/', 'http://late:9100/', 'settings', 'http://last:9100/'])
    } finally {
      await store.close()
    }
  })
})
