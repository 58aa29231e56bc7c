/**
 * Every registry command, as a user runs them (the built CLI), on the embedded SQLite store and
 * on a real etcd: outputs, exit codes and one-line errors. Each test starts from an empty
 * registry of its own (a new SQLite file, or a new key prefix in the one etcd) and registers
 * what it needs, so any test runs alone.
 */
import assert from 'node:assert/strict'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, afterEach, before, beforeEach, describe, it} from 'node:test'

import {type CliResult, isolatedEnv, runCli} from '../support/cli.js'
import {type EtcdServer, startEtcd} from '../support/etcd-server.js'

function ok(r: CliResult): CliResult {
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`)
  return r
}

/** The error path: exit code, one line on stderr that names the field and value. */
function fails(r: CliResult, code: number, message: RegExp): void {
  assert.equal(r.code, code, `expected exit ${code}, got ${r.code}: ${r.stdout} ${r.stderr}`)
  const lines = r.stderr.trim().split('\n')
  assert.equal(lines.length, 1, `one line expected: ${r.stderr}`)
  assert.match(lines[0]!, message)
}

interface ServiceJson {
  id: string
  name: string
  namespace: string
  endpoint: string
  servers: string[]
  labels: Record<string, string>
}

for (const backend of ['sqlite', 'etcd'] as const) {
  describe(`registry commands on ${backend}`, () => {
    let etcd: EtcdServer | undefined
    let tests = 0
    /** This test's directory and environment (its own registry). */
    let dir: string
    let env: Record<string, string | undefined>
    const cli = (...args: string[]): Promise<CliResult> => runCli(args, {env})
    const services = async (...args: string[]): Promise<ServiceJson[]> =>
      JSON.parse(ok(await cli('service', 'list', '-o', 'json', ...args)).stdout) as ServiceJson[]
    /** Services node (http://db1:9100/metrics, http://db2:9100/metrics), label app=node. */
    const registerNodes = async () =>
      ok(await cli('service', 'register', 'node', '-e', 'http://db1:9100/metrics', '-e', 'http://db2:9100/metrics', '-l', 'app=node'))
    /** Servers prom1 (env=prod, dc=zrh) and prom2 (env=prod, dc=gva). */
    const registerServers = async () => {
      ok(await cli('server', 'register', 'prom1', '-l', 'env=prod,dc=zrh'))
      ok(await cli('server', 'register', 'prom2', '-l', 'env=prod', '-l', 'dc=gva'))
    }
    /** 400 services many-0 … many-6 at http://many<i>.example:9100/metrics, labels n=<i>. */
    const manyEntries = () =>
      Array.from({length: 400}, (_, i) => ({
        name: `many-${i % 7}`,
        endpoint: `http://many${i}.example:9100/metrics`,
        labels: {n: String(i)} as Record<string, string>,
      }))

    before(async () => {
      if (backend === 'etcd') etcd = await startEtcd()
    })
    beforeEach(() => {
      tests++
      dir = mkdtempSync(path.join(tmpdir(), 'roster-registry-cli-'))
      env = isolatedEnv(
        etcd
          ? {ROSTER_REGISTRY: etcd.url, ROSTER_ETCD_PREFIX: `/roster-test-${tests}/`}
          : {ROSTER_REGISTRY: `sqlite:${path.join(dir, 'registry.db')}`},
      )
    })
    afterEach(() => {
      rmSync(dir, {recursive: true, force: true})
      if (env.HOME) rmSync(env.HOME, {recursive: true, force: true})
    })
    after(async () => {
      await etcd?.stop()
    })

    it('registers services before any server, unassigned', async () => {
      const r = ok(
        await cli('service', 'register', 'node', '-e', 'http://db1:9100/metrics', '-e', 'http://db2:9100/metrics', '-l', 'app=node'),
      )
      assert.match(r.stdout, /^NAMESPACE\tNAME\tENDPOINT\tSERVERS/)
      const list = await services()
      assert.equal(list.length, 2)
      assert.deepEqual(
        list.map((s) => s.servers),
        [[], []],
      )
    })

    it('server register / list distributes services; servers list with a selector', async () => {
      await registerNodes()
      await registerServers()
      const r = ok(await cli('server', 'list', '--no-headers'))
      assert.match(r.stdout.trimEnd(), /^prom1\tactive\tdc=zrh,env=prod\t\S+\nprom2\tactive\tdc=gva,env=prod\t\S+$/)
      const json = JSON.parse(ok(await cli('server', 'list', '-s', 'dc in (gva)', '-o', 'json')).stdout) as {name: string}[]
      assert.deepEqual(
        json.map((s) => s.name),
        ['prom2'],
      )
      const csv = ok(await cli('server', 'list', '-o', 'csv')).stdout
      assert.match(csv, /^NAME,STATE,LABELS,MODIFIED\r\nprom1,active,"dc=zrh,env=prod",/)
      const list = await services()
      assert.ok(list.every((s) => s.servers.length === 1 && ['prom1', 'prom2'].includes(s.servers[0]!)))
    })

    it('service register is idempotent: same ID, updated in place', async () => {
      await registerNodes()
      const before = await services()
      const r = JSON.parse(ok(await cli('service', 'register', 'node2', '-e', 'http://db1:9100/metrics', '--json')).stdout)
      assert.equal(r.updated, 1)
      const after = await services()
      assert.equal(after.length, 2)
      assert.deepEqual(after.map((s) => s.id).sort(), before.map((s) => s.id).sort())
      assert.ok(after.some((s) => s.name === 'node2'))
    })

    it('service register takes ROSTER_NAME, ROSTER_ENDPOINTS and ROSTER_NAMESPACE (systemd)', async () => {
      ok(await cli('namespace', 'register', 'team-a', '--export', 'blackbox'))
      const r = await runCli(['service', 'register'], {
        env: {...env, ROSTER_NAME: 'unit', ROSTER_ENDPOINTS: 'http://u1:1/metrics, http://u2:1/metrics', ROSTER_NAMESPACE: 'team-a'},
      })
      ok(r)
      const list = await services('-n', 'team-a')
      assert.deepEqual(list.map((s) => s.endpoint).sort(), ['http://u1:1/metrics', 'http://u2:1/metrics'])
      // Unregister with no argument: ROSTER_ENDPOINTS, idempotent.
      for (let i = 0; i < 2; i++) {
        ok(
          await runCli(['service', 'unregister'], {
            env: {...env, ROSTER_ENDPOINTS: 'http://u1:1/metrics http://u2:1/metrics', ROSTER_NAMESPACE: 'team-a'},
          }),
        )
      }
      assert.deepEqual(await services('-n', 'team-a'), [])
    })

    it('namespace register / list / unregister with exit codes 5 and 6', async () => {
      ok(await cli('namespace', 'register', 'team-a', '--export', 'blackbox'))
      const list = JSON.parse(ok(await cli('namespace', 'list', '-o', 'json')).stdout) as {name: string; export: string}[]
      assert.deepEqual(
        list.map((n) => [n.name, n.export]),
        [
          ['default', 'standard'],
          ['team-a', 'blackbox'],
        ],
      )
      ok(await cli('service', 'register', 'api', '-n', 'team-a', '-e', 'http://api:8080/metrics'))
      fails(await cli('namespace', 'unregister', 'team-a'), 6, /^roster: namespace "team-a" still has 1 service; .*--force/)
      fails(await cli('namespace', 'unregister', 'nope'), 5, /^roster: namespace "nope" is not registered/)
      fails(await cli('namespace', 'unregister', 'default'), 2, /^roster: namespace "default": /)
      fails(await cli('service', 'register', 'x', '-n', 'nope', '-e', 'http://x/'), 5, /^roster: namespace "nope" is not registered/)
      const r = ok(await cli('namespace', 'unregister', 'team-a', '--force'))
      assert.match(r.stdout, /namespace team-a unregistered, 1 service deleted/)
      assert.deepEqual(await services('-n', 'team-a'), [])
    })

    it('bad input exits 2 with one line naming the field, and leaves the store unchanged', async () => {
      await registerNodes()
      await registerServers()
      const before = ok(await cli('service', 'list', '-o', 'json')).stdout
      const servers = ok(await cli('server', 'list', '-o', 'json')).stdout
      fails(await cli('service', 'register', 'x', '-e', 'ftp://x'), 2, /^roster: --endpoint "ftp:\/\/x": scheme "ftp" is not allowed/)
      fails(await cli('service', 'register', 'x', '-e', 'http://ok/', '-e', 'nope'), 2, /^roster: --endpoint "nope": /)
      fails(await cli('service', 'register', 'a/b', '-e', 'http://x/'), 2, /^roster: name "a\/b": /)
      fails(await cli('service', 'register', 'x', '-e', 'http://x/', '-l', 'a=b c'), 2, /^roster: --label "a=b c": /)
      fails(
        await cli('service', 'register', 'x', '-e', 'http://x/', '-s', 'env in prod'),
        2,
        /^roster: --selector "env in prod": expected "\(" .* at position 8$/,
      )
      fails(
        await cli('service', 'register', 'x', '-e', 'http://x/', '-s', 'env=qa'),
        2,
        /^roster: --selector "env=qa": matches none of the 2 registered servers/,
      )
      fails(await cli('service', 'register', 'x'), 2, /^roster: --endpoint "": /)
      fails(await cli('server', 'register', 'bad.name'), 2, /^roster: server "bad.name": /)
      fails(await cli('server', 'register', 'p', '-l', 'x'), 2, /^roster: --label "x": expected name=value$/)
      fails(await cli('server', 'list', '-s', '!'), 2, /^roster: --selector "!": /)
      fails(await cli('service', 'list', '--name', '('), 2, /^roster: --name "\(": not a valid regular expression/)
      fails(await cli('service', 'unregister', 'not-a-url'), 2, /^roster: endpoint "not-a-url": /)
      fails(await cli('namespace', 'register', 'x', '--export', 'weird'), 2, /export/)
      fails(await cli('server', 'unregister', 'prom9'), 5, /^roster: server "prom9" is not registered/)
      assert.equal(ok(await cli('service', 'list', '-o', 'json')).stdout, before)
      assert.equal(ok(await cli('server', 'list', '-o', 'json')).stdout, servers)
    })

    it('service list filters, sorts and prints every format', async () => {
      await registerNodes()
      await registerServers()
      ok(await cli('service', 'register', 'node2', '-e', 'http://db1:9100/metrics'))
      ok(
        await cli(
          'service',
          'register',
          'web',
          '-e',
          'http://web1:80/',
          '-e',
          'http://web0:80/',
          '-l',
          'app=web,tier=front',
          '--description',
          'front end',
        ),
      )
      assert.deepEqual(
        (await services('--name', '^web$', '--sort-by', 'endpoint')).map((s) => s.endpoint),
        ['http://web0/', 'http://web1/'],
      )
      assert.deepEqual((await services('-s', 'app=web,tier!=back')).length, 2)
      assert.deepEqual((await services('-s', 'app notin (web)')).map((s) => s.name).sort(), ['node', 'node2'])
      assert.deepEqual(
        (await services('--endpoint', 'db2')).map((s) => s.endpoint),
        ['http://db2:9100/metrics'],
      )
      const onProm1 = await services('--server', '^prom1$')
      assert.ok(onProm1.every((s) => s.servers.includes('prom1')))
      const yaml = ok(await cli('service', 'list', '-o', 'yaml', '--name', '^web$', '--sort-by', 'name')).stdout
      assert.match(yaml, /^- id: [0-9a-f-]{36}\n {2}name: web\n/)
      const csv = ok(await cli('service', 'list', '-o', 'csv', '--no-headers', '--name', '^web$', '--sort-by', 'endpoint')).stdout
      assert.match(csv, /^default,web,http:\/\/web0\/,prom[12],"app=web,tier=front",,[0-9a-f-]{36},\S+\r\ndefault,web,http:\/\/web1\//)
      const table = ok(await cli('service', 'list', '--name', 'nothing-matches')).stdout
      assert.equal(table, 'NAMESPACE\tNAME\tENDPOINT\tSERVERS\tLABELS\tSELECTOR\tID\tMODIFIED\tEXPIRES\n')
      assert.equal(ok(await cli('service', 'list', '-o', 'json', '--name', 'nothing-matches')).stdout, '[]\n')
      const json = JSON.parse(ok(await cli('service', 'list', '--json', '--name', '^web$')).stdout) as ServiceJson[]
      assert.equal(json.length, 2)
    })

    it('server unregister moves its services away; registry settings --replicas redistributes', async () => {
      await registerNodes()
      await registerServers()
      ok(await cli('server', 'register', 'prom3', '-l', 'env=prod'))
      const settings = JSON.parse(ok(await cli('registry', 'settings', '--replicas', '2', '--json')).stdout) as {revision: number}
      assert.ok(settings.revision > 0, 'the settings carry the revision of their write')
      assert.deepEqual(settings, {replicas: 2, revision: settings.revision})
      assert.ok((await services()).every((s) => s.servers.length === 2))
      assert.match(ok(await cli('registry', 'settings')).stdout, /^REPLICAS\n2$/m)
      ok(await cli('registry', 'settings', '--replicas', '1'))
      const r = ok(await cli('server', 'unregister', 'prom1'))
      assert.match(r.stdout, /server prom1 unregistered/)
      const list = await services()
      assert.ok(list.length > 0 && list.every((s) => s.servers.length === 1 && s.servers[0] !== 'prom1'))
      assert.deepEqual(
        JSON.parse(ok(await cli('server', 'list', '-o', 'json')).stdout).map((s: {name: string}) => s.name),
        ['prom2', 'prom3'],
      )
    })

    it('service unregister by URL and by ID, idempotent, reporting what it did not find', async () => {
      ok(await cli('service', 'register', 'web', '-e', 'http://web1:80/', '-e', 'http://web0:80/'))
      const [web0, web1] = await services('--name', '^web$', '--sort-by', 'endpoint')
      const r = ok(await cli('service', 'unregister', web0!.endpoint, web1!.id, 'http://never:1/', '--json'))
      const result = JSON.parse(r.stdout) as {removed: ServiceJson[]; notFound: string[]}
      assert.deepEqual(result.removed.map((s) => s.endpoint).sort(), ['http://web0/', 'http://web1/'])
      assert.deepEqual(result.notFound, ['http://never:1/'])
      const again = ok(await cli('service', 'unregister', web0!.endpoint))
      assert.match(again.stderr, /not registered: http:\/\/web0\//)
      assert.deepEqual(await services('--name', '^web$'), [])
    })

    it('service register/unregister --if-revision act only at that revision: exit 6 and nothing changed otherwise', async () => {
      const created = JSON.parse(
        ok(await cli('service', 'register', 'web', '-e', 'http://web1:80/', '--if-revision', '0', '--json')).stdout,
      ) as {
        services: {revision: number}[]
      }
      const revision = created.services[0]!.revision
      const [listed] = (await services('--name', '^web$')) as (ServiceJson & {revision: number})[]
      assert.equal(listed!.revision, revision, 'service list shows the revision a write left')
      fails(
        await cli('service', 'register', 'web', '-e', 'http://web1:80/', '--if-revision', '0'),
        6,
        /^roster: service "http:\/\/web1\/" in namespace "default": revision 0 expected, it exists \(revision \d+\) and revision 0 means only if absent; nothing was changed$/,
      )
      ok(await cli('service', 'register', 'web', '-e', 'http://web1:80/', '-l', 'v=2', '--if-revision', String(revision)))
      fails(
        await cli('service', 'unregister', 'http://web1:80/', '--if-revision', String(revision)),
        6,
        /revision \d+ expected, it is at revision \d+ now; nothing was changed$/,
      )
      assert.deepEqual(
        (await services('--name', '^web$')).map((s) => s.labels),
        [{v: '2'}],
        'neither the stale register nor the stale unregister changed it',
      )
      fails(
        await cli('service', 'register', 'web', '-e', 'http://web1:80/', '-e', 'http://web2:80/', '--if-revision', '0'),
        2,
        /^roster: --if-revision 0: applies to one service: give one endpoint, not 2$/,
      )
      const [current] = (await services('--name', '^web$')) as (ServiceJson & {revision: number})[]
      ok(await cli('service', 'unregister', 'http://web1:80/', '--if-revision', String(current!.revision)))
      assert.deepEqual(await services('--name', '^web$'), [])
    })

    it('service import: one bad entry writes nothing, reports it by position, exits 2; a good file imports', async () => {
      const before = ok(await cli('service', 'list', '-o', 'json')).stdout
      const bad = path.join(dir, 'bad.yaml')
      writeFileSync(
        bad,
        [
          '- name: imp',
          '  endpoints: [http://i1:9100/, http://i2:9100/]',
          '- name: imp',
          '  endpoint: ftp://x',
          '- name: imp',
          '  endpoint: http://i3:9100/',
          '  labels: {app: imp}',
          '',
        ].join('\n'),
      )
      fails(
        await cli('service', 'import', bad),
        2,
        /^roster: file ".*bad\.yaml": 1 of 3 entries are invalid, nothing was imported: entry 2: endpoint "ftp:\/\/x": scheme "ftp" is not allowed; use http or https$/,
      )
      assert.equal(ok(await cli('service', 'list', '-o', 'json')).stdout, before)

      const good = path.join(dir, 'good.json')
      writeFileSync(
        good,
        JSON.stringify([
          {name: 'imp', endpoints: ['http://i1:9100/', 'http://i2:9100/']},
          {name: 'imp', endpoint: 'http://i3:9100/', labels: {app: 'imp'}, description: 'third'},
        ]),
      )
      const r = ok(await cli('service', 'import', good))
      assert.match(r.stdout, /imported 3 services from 2 entries: 3 created, 0 updated, 0 unchanged/)
      assert.match(ok(await cli('service', 'import', good)).stdout, /3 unchanged/)
      assert.equal((await services('--name', '^imp$')).length, 3)
      fails(await cli('service', 'import', path.join(dir, 'missing.yaml')), 2, /^roster: file ".*missing\.yaml": no such file$/)
      writeFileSync(path.join(dir, 'broken.yaml'), '- name: [\n')
      fails(await cli('service', 'import', path.join(dir, 'broken.yaml')), 2, /^roster: file ".*broken\.yaml": not valid YAML or JSON/)
    })

    it('service import of hundreds (the bulk path) is idempotent; flow-style YAML still imports', async () => {
      const file = path.join(dir, 'many.json')
      const entries = manyEntries()
      writeFileSync(file, JSON.stringify(entries))
      assert.match(
        ok(await cli('service', 'import', file)).stdout,
        /^imported 400 services from 400 entries: 400 created, 0 updated, 0 unchanged$/m,
      )
      entries[5]!.labels = {n: '5', edited: 'yes'}
      writeFileSync(file, JSON.stringify([...entries, {name: 'many-new', endpoint: 'http://many-new.example/'}]))
      const again = JSON.parse(ok(await cli('service', 'import', file, '--json')).stdout)
      assert.deepEqual(again, {entries: 401, services: 401, created: 1, updated: 1, unchanged: 399})
      assert.deepEqual(
        (await services('-s', 'edited=yes')).map((s) => s.endpoint),
        ['http://many5.example:9100/metrics'],
      )
      // JSON.parse refuses this; YAML reads it.
      const flow = path.join(dir, 'flow.yaml')
      writeFileSync(flow, '[{name: flow, endpoint: "http://flow.example/"}]\n')
      assert.match(ok(await cli('service', 'import', flow)).stdout, /imported 1 service from 1 entry: 1 created/)
    })

    it('service list --json streams exactly what -o json prints; errors stay JSON with their exit code', async () => {
      await registerNodes()
      writeFileSync(path.join(dir, 'many.json'), JSON.stringify(manyEntries()))
      ok(await cli('service', 'import', path.join(dir, 'many.json')))
      const json = ok(await cli('service', 'list', '--json')).stdout
      assert.equal(json, ok(await cli('service', 'list', '-o', 'json')).stdout)
      const list = JSON.parse(json) as ServiceJson[]
      assert.ok(list.length > 400, String(list.length))
      assert.equal(new Set(list.map((s) => s.id)).size, list.length)
      // Filters, sorting and an empty result too.
      const sorted = ok(await cli('service', 'list', '--json', '--name', '^many-3$', '--sort-by', 'endpoint')).stdout
      assert.equal(sorted, ok(await cli('service', 'list', '-o', 'json', '--name', '^many-3$', '--sort-by', 'endpoint')).stdout)
      assert.equal((JSON.parse(sorted) as ServiceJson[]).length, 57)
      assert.equal(ok(await cli('service', 'list', '--json', '--name', 'nothing-matches')).stdout, '[]\n')
      const bad = await cli('service', 'list', '--json', '--name', '(')
      assert.equal(bad.code, 2)
      assert.deepEqual(JSON.parse(bad.stdout), {
        error: {
          code: 'invalid_input',
          message: '--name "(": not a valid regular expression (missing closing ): `(`)',
          exitCode: 2,
          field: 'name',
        },
      })
    })
  })
}
