/**
 * `roster dns sync --provider rfc2136` end to end: the built CLI, a records file, a real BIND;
 * the result read back with dig, ownership TXT records included. One BIND for the file; each
 * test has its own owner id and names, so it runs alone.
 */
import assert from 'node:assert/strict'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'

import {type BindServer, FOREIGN_RECORDS, startBind} from '../support/bind-server.js'
import {freePort} from '../support/free-port.js'
import {isolatedEnv, runCli} from '../support/cli.js'

const ZONE = 'sync.test'
const SECRET = Buffer.from('roster dns sync rfc2136 test secret 0123456789').toString('base64')

describe('roster dns sync --provider rfc2136 against BIND', () => {
  let bind: BindServer
  let dir: string

  before(async () => {
    bind = await startBind({
      zone: ZONE,
      keyName: 'sync-key',
      secret: SECRET,
      algorithm: 'hmac-sha512',
      // A record another external-dns instance owns, written as external-dns writes it.
      records: [
        'taken 300 IN A 192.0.2.99',
        'a-taken 300 IN TXT "heritage=external-dns,external-dns/owner=other-cluster,external-dns/resource=service/default/taken"',
      ],
    })
    dir = await mkdtemp(join(tmpdir(), 'roster-rfc2136-sync-'))
  })
  after(async () => {
    await bind?.stop()
    if (dir) await rm(dir, {recursive: true, force: true})
  })

  let tests = 0
  /**
   * A test's own records file and owner id: `dns sync` manages only the records its owner id owns,
   * so tests share the zone without seeing each other's records, and any test runs alone.
   * `name('www')` is this test's www (`www-t3.sync.test`).
   */
  async function fresh(): Promise<{
    name: (label: string) => string
    records: (yaml: string) => Promise<void>
    sync: (extra?: string[], env?: Record<string, string>, port?: number) => ReturnType<typeof runCli>
  }> {
    const id = `t${++tests}`
    const file = join(dir, `${id}.yaml`)
    await writeFile(file, 'endpoints: []\n')
    return {
      name: (label) => `${label.replace(/^([^.]+)/, `$1-${id}`)}.${ZONE}`,
      records: (yaml) => writeFile(file, yaml),
      sync: (extra = [], env = {}, port = bind.port) =>
        runCli(
          [
            'dns',
            'sync',
            '--once',
            '--policy',
            'sync',
            '--owner-id',
            `ci-${id}`,
            '--source',
            'file',
            '--file',
            file,
            '--provider',
            'rfc2136',
            '--rfc2136-host',
            '127.0.0.1',
            '--rfc2136-port',
            String(port),
            '--rfc2136-zone',
            ZONE,
            '--rfc2136-tsig-keyname',
            'sync-key',
            '--rfc2136-tsig-alg',
            'hmac-sha512',
            ...extra,
          ],
          {env: isolatedEnv({ROSTER_RFC2136_TSIG_SECRET: SECRET, ...env})},
        ),
    }
  }

  const owned = (id: string) => `"heritage=external-dns,external-dns/owner=ci-${id}"`

  async function foreign(): Promise<string[][]> {
    return Promise.all([
      ...FOREIGN_RECORDS.map((r) => bind.lookup(`${r.name}.${ZONE}`, r.type)),
      bind.lookup(`taken.${ZONE}`, 'A'),
      bind.lookup(`a-taken.${ZONE}`, 'TXT'),
    ])
  }

  /** www (two A), api (CNAME to www) and _metrics._tcp (SRV to www) of this test. */
  const threeRecords = (n: (label: string) => string) => `endpoints:
- {dnsName: ${n('www')}, recordType: A, targets: [192.0.2.1, 192.0.2.2], recordTTL: 120}
- {dnsName: ${n('api')}, recordType: CNAME, targets: [${n('www')}]}
- {dnsName: ${n('_metrics._tcp')}, recordType: SRV, targets: ["0 10 9100 ${n('www')}"]}
`

  it('creates records and their ownership TXT records, then finds nothing to change', async () => {
    const {name: n, records, sync} = await fresh()
    const id = `t${tests}`
    const foreignBefore = await foreign()
    await records(`${threeRecords(n)}- {dnsName: taken.${ZONE}, recordType: A, targets: [192.0.2.100]}\n`)
    const first = await sync(['--detailed-exitcode'])
    assert.equal(first.code, 8, first.stderr)
    assert.match(first.stdout, /Applied: 3 to create/)
    assert.match(first.stderr, /taken\.sync\.test/, 'the record owned by another id is reported as skipped')

    assert.deepEqual(await bind.lookup(n('www'), 'A'), ['192.0.2.1', '192.0.2.2'])
    assert.deepEqual(await bind.lookup(n('api'), 'CNAME'), [`${n('www')}.`])
    assert.deepEqual(await bind.lookup(n('_metrics._tcp'), 'SRV'), [`0 10 9100 ${n('www')}.`])
    assert.deepEqual(await bind.lookup(`a-${n('www')}`, 'TXT'), [owned(id)])
    assert.deepEqual(await bind.lookup(`cname-${n('api')}`, 'TXT'), [owned(id)])
    assert.deepEqual(await bind.lookup(`srv-${n('_metrics._tcp')}`, 'TXT'), [owned(id)])
    assert.deepEqual(await foreign(), foreignBefore, "foreign records and the other owner's record are untouched")

    const second = await sync(['--detailed-exitcode', '--json'])
    assert.equal(second.code, 0, second.stderr)
    const result = JSON.parse(second.stdout) as {
      changes: {create: unknown[]; updateNew: unknown[]; delete: unknown[]}
      providerCalls: {read: number; write: number}
    }
    assert.deepEqual([result.changes.create.length, result.changes.updateNew.length, result.changes.delete.length], [0, 0, 0])
    assert.deepEqual(result.providerCalls, {read: 1, write: 0})
  })

  it('updates and deletes only its own records', async () => {
    const {name: n, records, sync} = await fresh()
    const id = `t${tests}`
    await records(threeRecords(n))
    assert.equal((await sync()).code, 0)
    const foreignBefore = await foreign()
    await records(`endpoints:
- {dnsName: ${n('www')}, recordType: A, targets: [192.0.2.3], recordTTL: 120}
- {dnsName: ${n('_metrics._tcp')}, recordType: SRV, targets: ["0 10 9100 ${n('www')}"]}
`)
    const run = await sync(['--json'])
    assert.equal(run.code, 0, run.stderr)
    const result = JSON.parse(run.stdout) as {summary: {create: number; update: number; delete: number}}
    assert.deepEqual(result.summary, {create: 0, update: 1, delete: 1})
    assert.deepEqual(await bind.lookup(n('www'), 'A'), ['192.0.2.3'])
    assert.deepEqual(await bind.lookup(n('api'), 'CNAME'), [])
    assert.deepEqual(await bind.lookup(`cname-${n('api')}`, 'TXT'), [], 'the ownership record goes with its record')
    assert.deepEqual(await bind.lookup(`a-${n('www')}`, 'TXT'), [owned(id)])
    assert.deepEqual(await foreign(), foreignBefore)
  })

  it('--dry-run writes nothing', async () => {
    const {name: n, records, sync} = await fresh()
    await records(threeRecords(n))
    assert.equal((await sync()).code, 0)
    await records(`endpoints:
- {dnsName: ${n('www')}, recordType: A, targets: [192.0.2.4], recordTTL: 120}
- {dnsName: ${n('_metrics._tcp')}, recordType: SRV, targets: ["0 10 9100 ${n('www')}"]}
`)
    const run = await sync(['--dry-run', '--detailed-exitcode'])
    assert.equal(run.code, 8, run.stderr)
    assert.deepEqual(await bind.lookup(n('www'), 'A'), ['192.0.2.1', '192.0.2.2'])
    assert.deepEqual(await bind.lookup(n('api'), 'CNAME'), [`${n('www')}.`])
  })

  it('a wrong TSIG secret exits 4 with one line naming the key, and changes nothing', async () => {
    const {name: n, records, sync} = await fresh()
    await records(threeRecords(n))
    const run = await sync([], {ROSTER_RFC2136_TSIG_SECRET: Buffer.from('not the secret at all, not at all').toString('base64')})
    assert.equal(run.code, 4, run.stderr)
    const lines = run.stderr.trim().split('\n')
    assert.equal(lines.length, 1, run.stderr)
    assert.match(lines[0] ?? '', /BADSIG/)
    assert.match(lines[0] ?? '', /sync-key/)
    assert.doesNotMatch(run.stderr, new RegExp(SECRET.replace(/[+/=]/g, '.')))
    assert.deepEqual(await bind.lookup(n('www'), 'A'), [])
  })

  it('an unreachable server exits 3 naming host:port', async () => {
    const {name: n, records, sync} = await fresh()
    await records(threeRecords(n))
    const port = await freePort()
    const run = await sync([], {}, port)
    assert.equal(run.code, 3, run.stderr)
    assert.match(run.stderr, new RegExp(`127\\.0\\.0\\.1:${port}`))
  })
})
