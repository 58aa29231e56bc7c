/**
 * `roster registry backup` and `registry restore` on SQLite, as a user runs them: the file
 * (mode 0600, its header, every line checked), a restore that gives back every object as it was
 * (IDs, assignments, TTLs), refusals of a registry that is not empty (exit 6) and of hostile
 * files: cut at every tenth of its length, a flipped byte, a record twice, an unknown field, a
 * future version, a header whose counts lie. Each of those exits 2 naming the line and leaves
 * the registry exactly as it was.
 */
import assert from 'node:assert/strict'
import {chmodSync, existsSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {createHash} from 'node:crypto'
import {userInfo} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {encodeLine} from '../../src/lib/registry/backup/format.js'
import {RESTORE_MARKER_KEY, serviceKey} from '../../src/lib/registry/keys.js'
import {openStore} from '../../src/lib/store/open-store.js'
import type {Store} from '../../src/lib/store/store.js'
import {assertSameRecords, fillRegistry, registryRecords, storeDump, tokenVerifies} from '../support/backup-fixtures.js'
import {isolatedEnv, processTempDir, runCli} from '../support/cli.js'

const dir = processTempDir('roster-backup-')
const env = isolatedEnv()
const sourceRegistry = `sqlite:${path.join(dir, 'source.db')}`
let source: Store
let tokens: Awaited<ReturnType<typeof fillRegistry>>['tokens']
let backupFile: string
let backupText: string

async function withStore<T>(registry: string, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore({registry, timeoutMs: 30_000})
  try {
    return await fn(store)
  } finally {
    await store.close()
  }
}

const roster = (...args: string[]) => runCli(args, {env})
let fresh = 0
const freshRegistry = () => `sqlite:${path.join(dir, `target-${++fresh}.db`)}`

before(async () => {
  source = await openStore({registry: sourceRegistry, timeoutMs: 30_000})
  ;({tokens} = await fillRegistry(source, 60))
  backupFile = path.join(dir, 'backup.jsonl')
  const result = await roster('registry', 'backup', backupFile, '--registry', sourceRegistry)
  assert.equal(result.code, 0, result.stderr)
  backupText = readFileSync(backupFile, 'utf8')
})
after(async () => {
  await source?.close()
})

describe('registry backup', () => {
  it('writes one header, a line per record and a trailer, mode 0600, and says what it holds', async () => {
    assert.equal(statSync(backupFile).mode & 0o777, 0o600)
    const lines = backupText.trimEnd().split('\n')
    const header = JSON.parse(lines[0]!) as Record<string, unknown>
    assert.equal(header.format, 'roster-backup')
    assert.equal(header.version, 1)
    assert.equal(header.secrets, false)
    assert.deepEqual((header.source as {kind: string}).kind, 'sqlite')
    assert.deepEqual(header.counts, {revocation: 1, 'signing-key': 0, token: 3, namespace: 2, server: 3, service: 60, settings: 1})
    assert.equal(lines.length, 1 + 70 + 1)
    assert.ok(!backupText.includes('"d":'), 'no private key without --include-secrets')
    const trailer = JSON.parse(lines.at(-1)!) as {end: boolean; records: number; sha256: string}
    assert.equal(trailer.records, 70)
    const before = backupText.slice(0, backupText.length - lines.at(-1)!.length - 1)
    assert.equal(trailer.sha256, createHash('sha256').update(before).digest('hex'))
  })

  it('replaces an existing file atomically, with mode 0600 whatever the old one had', async () => {
    const file = path.join(dir, 'existing.jsonl')
    writeFileSync(file, 'old content\n')
    chmodSync(file, 0o644)
    const result = await roster('registry', 'backup', file, '--registry', sourceRegistry, '--json')
    assert.equal(result.code, 0, result.stderr)
    assert.equal(statSync(file).mode & 0o777, 0o600)
    const reported = JSON.parse(result.stdout) as {records: number; bytes: number; counts: {service: number}}
    assert.equal(reported.counts.service, 60)
    assert.equal(reported.bytes, statSync(file).size)
  })

  it('"-" writes the same records to standard output; with --json it is refused (exit 2)', async () => {
    const result = await roster('registry', 'backup', '-', '--registry', sourceRegistry)
    assert.equal(result.code, 0, result.stderr)
    // The same records; the header's time and so the trailer's checksum differ.
    const records = (text: string) => text.split('\n').slice(1, -2).join('\n')
    assert.equal(records(result.stdout), records(backupText))
    const json = await roster('registry', 'backup', '-', '--json', '--registry', sourceRegistry)
    assert.equal(json.code, 2)
    assert.match(json.stdout, /standard output/)
  })

  it('a backup from a server that breaks off half-way is refused, and the file it would replace is left as it was', async () => {
    const {createServer} = await import('node:http')
    const server = createServer((_request, response) => {
      response.writeHead(200, {'content-type': 'application/x-ndjson'})
      // Half of it, then the connection closes without the end of the chunked answer.
      response.write(backupText.slice(0, Math.floor(backupText.length / 2)), () => response.socket?.end())
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const file = path.join(dir, 'broken-off.jsonl')
      writeFileSync(file, 'the previous backup\n')
      const {port} = server.address() as {port: number}
      const result = await roster('registry', 'backup', file, '--registry', `http://127.0.0.1:${port}`, '--token', 'x.y.z')
      assert.ok(result.code === 2 || result.code === 3, `${result.code}: ${result.stderr}`)
      assert.match(result.stderr, /broke off|cut short|ends inside/)
      assert.equal(readFileSync(file, 'utf8'), 'the previous backup\n')
    } finally {
      server.close()
    }
  })

  it('a directory that does not exist: exit 2 naming the file, nothing written', async () => {
    const file = path.join(dir, 'no-such-dir', 'b.jsonl')
    const result = await roster('registry', 'backup', file, '--registry', sourceRegistry)
    assert.equal(result.code, 2, result.stderr)
    assert.ok(result.stderr.includes(file), result.stderr)
  })
})

describe('registry restore', () => {
  it('gives back every object as it was: IDs, assignments, TTLs, settings, tokens and revocations', async () => {
    const target = freshRegistry()
    const result = await roster('registry', 'restore', backupFile, '--registry', target)
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stderr, /^restored .*60 services/)
    // The restore is the target's history's one event: who ran it, from which file, what it put back.
    const events = JSON.parse((await roster('registry', 'history', '-o', 'json', '--registry', target)).stdout) as {
      action: string
      object: {kind: string; name: string}
      actor: {kind: string; user?: string}
      changes: Record<string, {after?: unknown}>
    }[]
    assert.deepEqual(
      events.map((e) => [e.action, e.object.kind, e.object.name, e.actor.kind, e.actor.user]),
      [['restore', 'registry', backupFile, 'local', userInfo().username]],
    )
    assert.equal(events[0]!.changes.service?.after, 60)
    await withStore(target, async (store) => {
      assertSameRecords(await registryRecords(store), await registryRecords(source, false), 'restored')
      assert.equal(await store.get(RESTORE_MARKER_KEY), undefined)
      // Without the signing key, no token issued before verifies, revoked or not.
      assert.equal(await tokenVerifies(store, tokens.service), false)
    })
    // What Prometheus reads: the same targets on the same servers.
    type Listed = {id: string; namespace: string; servers: string[]; revision: number}
    const list = async (registry: string) =>
      JSON.parse((await roster('service', 'list', '-o', 'json', '--registry', registry)).stdout) as Listed[]
    const withoutRevisions = (services: Listed[]) => services.map(({revision: _revision, ...fields}) => fields)
    const restored = await list(target)
    assert.deepEqual(withoutRevisions(restored), withoutRevisions(await list(sourceRegistry)))
    // Revisions are the target store's own (a store numbers its writes): each service carries its
    // key's, the one a conditional write there expects.
    await withStore(target, async (store) => {
      for (const service of restored) {
        assert.equal(service.revision, (await store.get(serviceKey(service.namespace, service.id)))!.modRevision, service.id)
      }
    })
  })

  it('with --include-secrets tokens issued before verify after the restore; the revoked one stays refused', async () => {
    const file = path.join(dir, 'secrets.jsonl')
    assert.equal((await roster('registry', 'backup', '--include-secrets', file, '--registry', sourceRegistry)).code, 0)
    const target = freshRegistry()
    assert.equal((await roster('registry', 'restore', file, '--registry', target)).code, 0)
    await withStore(target, async (store) => {
      assert.equal(await tokenVerifies(store, tokens.service), true)
      assert.equal(await tokenVerifies(store, tokens.read), true)
      assert.equal(await tokenVerifies(store, tokens.revoked), false)
    })
  })

  it('reads standard input ("-")', async () => {
    const target = freshRegistry()
    const result = await runCli(['registry', 'restore', '-', '--registry', target], {env, input: backupText})
    assert.equal(result.code, 0, result.stderr)
    await withStore(target, async (store) => assert.equal((await registryRecords(store)).size, 70))
  })

  it('a registry that is not empty: exit 6 naming --replace; with --replace it holds exactly the file', async () => {
    const target = freshRegistry()
    assert.equal((await roster('service', 'register', 'extra', '-e', 'http://extra:1/', '--registry', target)).code, 0)
    const refused = await roster('registry', 'restore', backupFile, '--registry', target)
    assert.equal(refused.code, 6, refused.stderr)
    assert.match(refused.stderr, /is not empty \(1 service\).*--replace/)
    const replaced = await roster('registry', 'restore', '--replace', backupFile, '--registry', target)
    assert.equal(replaced.code, 0, replaced.stderr)
    assert.match(replaced.stderr, /1 deleted/)
    await withStore(target, async (store) =>
      assertSameRecords(await registryRecords(store), await registryRecords(source, false), 'replaced'),
    )
    // Again: nothing to write.
    const again = await roster('registry', 'restore', '--replace', backupFile, '--registry', target)
    assert.match(again.stderr, /\(0 written, 0 deleted, 70 unchanged\)/)
  })

  it('--replace: a revision read before the restore no longer matches what it rewrote; one read after does', async () => {
    const target = freshRegistry()
    const endpoint = 'http://host-1.example.com:9100/metrics'
    const register = (...more: string[]) =>
      roster('service', 'register', 'svc1', '-e', endpoint, '-n', 'team-a', '--json', '--registry', target, ...more)
    assert.equal((await roster('namespace', 'register', 'team-a', '--registry', target)).code, 0)
    const before = JSON.parse((await register('--description', 'not what the backup holds')).stdout) as {services: {revision: number}[]}
    const stale = before.services[0]!.revision
    assert.equal((await roster('registry', 'restore', '--replace', backupFile, '--registry', target)).code, 0)
    const refused = await register('--if-revision', String(stale))
    assert.equal(refused.code, 6, refused.stderr)
    const listed = JSON.parse((await roster('service', 'list', '-o', 'json', '-n', 'team-a', '--registry', target)).stdout) as {
      endpoint: string
      revision: number
    }[]
    const current = listed.find((s) => s.endpoint === endpoint)!.revision
    assert.ok(current > stale, `${current} > ${stale}`)
    assert.equal((await register('--if-revision', String(current))).code, 0)
  })

  it('a registry holding an interrupted restore: restore, backup and migrate refuse it (exit 6)', async () => {
    const target = freshRegistry()
    assert.equal((await roster('registry', 'restore', backupFile, '--registry', target)).code, 0)
    await withStore(target, (store) => store.txn([], [{type: 'put', key: RESTORE_MARKER_KEY, value: JSON.stringify({started: 'then'})}]))
    for (const args of [
      ['registry', 'restore', backupFile],
      ['registry', 'backup', path.join(dir, 'never.jsonl')],
      ['registry', 'migrate', '--to', freshRegistry()],
    ]) {
      const result = await roster(...args, '--registry', target)
      assert.equal(result.code, 6, `${args.join(' ')}: ${result.stderr}`)
      assert.match(result.stderr, /holds a restore that did not finish.*--replace finishes it/)
    }
    assert.equal(existsSync(path.join(dir, 'never.jsonl')), false)
    assert.equal((await roster('registry', 'restore', '--replace', backupFile, '--registry', target)).code, 0)
    await withStore(target, async (store) => assert.equal(await store.get(RESTORE_MARKER_KEY), undefined))
  })
})

describe('hostile backup files: exit 2 naming the line, and the registry left as it was', () => {
  const lines = () => backupText.trimEnd().split('\n')
  /** The lines as a file again, its trailer made to match: only the check under test can refuse it. */
  const sealed = (body: string[]): string => {
    const text = body.join('\n') + '\n'
    return text + encodeLine({end: true, records: body.length - 1, sha256: createHash('sha256').update(text).digest('hex')})
  }
  const recordLines = () => lines().slice(0, -1)
  const edit = (line: string, change: (value: Record<string, unknown>) => void): string => {
    const value = JSON.parse(line) as Record<string, unknown>
    delete value.crc
    change(value)
    return encodeLine(value).trimEnd()
  }
  const serviceLine = () => recordLines().findIndex((l) => l.startsWith('{"kind":"service"'))

  const cases: {name: string; content: () => string | Buffer; message: RegExp}[] = []
  for (let tenth = 0; tenth < 10; tenth++) {
    cases.push({
      name: `cut at ${tenth * 10}% of its length`,
      content: () => Buffer.from(backupText).subarray(0, Math.floor((backupText.length * tenth) / 10)),
      message: tenth === 0 ? /file is empty/ : /line \d+: .*(cut short|ends inside)|without its last line/,
    })
  }
  for (const [where, at] of [
    ['the header', () => 30],
    ['a record', () => Math.floor(backupText.length / 2)],
    ['the trailer', () => backupText.length - 40],
  ] as const) {
    cases.push({
      name: `a flipped byte in ${where}`,
      content: () => {
        const bytes = Buffer.from(backupText)
        const i = at()
        bytes[i] = bytes[i]! ^ 0x04
        return bytes
      },
      message: /line \d+: /,
    })
  }
  cases.push(
    {
      name: 'a record twice',
      content: () => {
        const body = recordLines()
        const i = serviceLine()
        return sealed([...body.slice(0, i + 1), body[i]!, ...body.slice(i + 1)])
      },
      message: /line \d+: repeats the service of line \d+/,
    },
    {
      name: 'an unknown field in a record',
      content: () => {
        const body = recordLines()
        const i = serviceLine()
        body[i] = edit(body[i]!, (v) => ((v.object as Record<string, unknown>).weight = 3))
        return sealed(body)
      },
      message: /line \d+: service record: unknown key "weight"/,
    },
    {
      name: 'a future format version',
      content: () => {
        const body = recordLines()
        body[0] = edit(body[0]!, (v) => (v.version = 2))
        return sealed(body)
      },
      message: /line 1: format version 2 is newer than this roster reads \(1\): upgrade roster/,
    },
    {
      name: 'a header whose counts lie',
      content: () => {
        const body = recordLines()
        body[0] = edit(body[0]!, (v) => ((v.counts as Record<string, number>).service = 61))
        return sealed(body)
      },
      message: /line 1: the header counts 61 services, the file holds 60/,
    },
    {
      name: 'a record removed',
      content: () => {
        const body = lines()
        body.splice(serviceLine(), 1)
        return body.join('\n') + '\n'
      },
      message: /line \d+: the trailer counts 70 records, 69 come before it/,
    },
  )

  let target: string
  let targetBefore: Map<string, string>
  before(async () => {
    // A registry with its own content: a restore with --replace would change it, had it begun.
    target = freshRegistry()
    assert.equal((await roster('service', 'register', 'mine', '-e', 'http://mine:1/', '--registry', target)).code, 0)
    targetBefore = await withStore(target, storeDump)
  })

  for (const c of cases) {
    it(c.name, async () => {
      const file = path.join(dir, `hostile-${c.name.replace(/\W+/g, '-')}.jsonl`)
      writeFileSync(file, c.content())
      const replace = await roster('registry', 'restore', '--replace', file, '--registry', target)
      assert.equal(replace.code, 2, replace.stderr)
      assert.match(replace.stderr, c.message)
      assert.equal(replace.stderr.trim().split('\n').length, 1, replace.stderr)
      assert.ok(replace.stderr.includes(file), replace.stderr)
      assert.deepEqual(await withStore(target, storeDump), targetBefore, 'the registry is as it was')
      // Into a registry that does not exist yet: none is left behind.
      const empty = freshRegistry()
      const result = await roster('registry', 'restore', file, '--registry', empty)
      assert.equal(result.code, 2, result.stderr)
      assert.equal(existsSync(empty.slice('sqlite:'.length)), false, 'no registry file left behind')
    })
  }
})
