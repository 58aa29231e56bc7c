/**
 * `roster dns sync --provider pdns` (and `--provider webhook`) end to end: the built CLI, a file
 * source, a real PowerDNS (or the test webhook provider); results read back through the API and dig.
 * Run `npm run build` first.
 */
import assert from 'node:assert/strict'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'

import {isolatedEnv, runCli} from '../support/cli.js'
import {startPdns, type StartedPdns} from '../support/pdns-server.js'
import {startWebhookServer, type StartedWebhookServer} from '../support/webhook-provider-server.js'

const ZONE = 'cli.example'
const RECORDS = `
- dnsName: www.${ZONE}
  recordType: A
  targets: [192.0.2.1, 192.0.2.2]
  recordTTL: 120
- dnsName: api.${ZONE}
  recordType: CNAME
  targets: [www.${ZONE}]
- dnsName: _metrics._tcp.api.${ZONE}
  recordType: SRV
  targets: ["0 10 9100 www.${ZONE}"]
- dnsName: taken.${ZONE}
  recordType: A
  targets: [192.0.2.50]
`

describe('roster dns sync --provider pdns (built CLI, real PowerDNS)', () => {
  let pdns: StartedPdns
  let dir: string
  let file: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'roster-pdns-cli-'))
    file = join(dir, 'records.yaml')
    await writeFile(file, RECORDS)
    pdns = await startPdns({
      zones: [
        {
          name: ZONE,
          records: [
            {name: `taken.${ZONE}`, type: 'A', contents: ['198.51.100.50']},
            {name: `mail.${ZONE}`, type: 'MX', contents: [`10 mx.${ZONE}.`]},
          ],
        },
      ],
    })
  })
  after(async () => {
    await pdns?.stop()
    if (dir) await rm(dir, {recursive: true, force: true})
  })

  const base = (): string[] => [
    'dns',
    'sync',
    '--once',
    '--policy',
    'sync',
    '--owner-id',
    'ci',
    '--source',
    'file',
    '--file',
    file,
    '--provider',
    'pdns',
    '--pdns-server',
    pdns.url,
    '--pdns-zone',
    ZONE,
  ]

  it('applies the file, with ownership TXT records; foreign records survive; the key comes from the environment', async () => {
    const env = isolatedEnv({ROSTER_PDNS_API_KEY: pdns.apiKey})
    const res = await runCli([...base(), '--json', '--detailed-exitcode'], {env})
    assert.equal(res.code, 8, res.stderr + res.stdout)
    const out = JSON.parse(res.stdout) as {changes: {create: {dnsName: string}[]}}
    assert.deepEqual(out.changes.create.map((e) => e.dnsName).sort(), [`_metrics._tcp.api.${ZONE}`, `api.${ZONE}`, `www.${ZONE}`])
    assert.ok(!res.stdout.includes(pdns.apiKey) && !res.stderr.includes(pdns.apiKey))

    assert.deepEqual(await pdns.dig(`www.${ZONE}`, 'A'), ['192.0.2.1', '192.0.2.2'])
    const own = await pdns.contents(ZONE, `a-www.${ZONE}`, 'TXT')
    assert.equal(own?.length, 1)
    assert.match(own?.[0] ?? '', /^"heritage=external-dns,external-dns\/owner=ci(,external-dns\/resource=[^"]*)?"$/)
    assert.deepEqual(await pdns.dig(`a-www.${ZONE}`, 'TXT'), own, 'DNS serves the ownership record as stored')
    assert.match((await pdns.contents(ZONE, `cname-api.${ZONE}`, 'TXT'))?.[0] ?? '', /^"heritage=external-dns,external-dns\/owner=ci/)
    assert.deepEqual(await pdns.dig(`_metrics._tcp.api.${ZONE}`, 'SRV'), [`0 10 9100 www.${ZONE}.`])
    assert.deepEqual(await pdns.contents(ZONE, `taken.${ZONE}`, 'A'), ['198.51.100.50'], 'a foreign record is not taken over')
    assert.deepEqual(await pdns.contents(ZONE, `mail.${ZONE}`, 'MX'), [`10 mx.${ZONE}.`])

    const again = await runCli([...base(), '--json', '--detailed-exitcode'], {env})
    assert.equal(again.code, 0, 'nothing left to change: ' + again.stdout + again.stderr)
  })

  it('a wrong API key exits 4 with one line that does not carry the key', async () => {
    const res = await runCli([...base(), '--pdns-api-key', 'definitely-wrong-key'])
    assert.equal(res.code, 4, res.stderr)
    assert.match(res.stderr, /refused the API key/)
    assert.ok(!res.stderr.includes('definitely-wrong-key'))
  })

  it('an unreachable PowerDNS exits 3 naming the URL', async () => {
    const down = await startPdns()
    const url = down.url
    await down.stop()
    const args = base()
    args[args.indexOf('--pdns-server') + 1] = url
    const res = await runCli([...args, '--pdns-api-key', 'k', '--timeout', '5s'])
    assert.equal(res.code, 3, res.stderr)
    assert.ok(res.stderr.includes(url), res.stderr)
  })
})

describe('roster dns sync --provider webhook (built CLI)', () => {
  let server: StartedWebhookServer
  let dir: string
  let file: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'roster-webhook-cli-'))
    file = join(dir, 'records.yaml')
    await writeFile(
      file,
      `- {dnsName: www.hook.example, recordType: A, targets: [192.0.2.7]}\n- {dnsName: www.elsewhere.example, recordType: A, targets: [192.0.2.8]}\n`,
    )
    server = await startWebhookServer({domainFilter: {include: ['hook.example']}})
  })
  after(async () => {
    await server?.stop()
    if (dir) await rm(dir, {recursive: true, force: true})
  })

  const args = (): string[] => [
    'dns',
    'sync',
    '--policy',
    'sync',
    '--owner-id',
    'ci',
    '--source',
    'file',
    '--file',
    file,
    '--provider',
    'webhook',
    '--webhook-url',
    server.url,
  ]

  it('--dry-run posts no change; a real run posts one, inside the provider domain filter only', async () => {
    const dry = await runCli([...args(), '--dry-run', '--json'])
    assert.equal(dry.code, 0, dry.stderr)
    assert.equal(server.log.filter((r) => r.method === 'POST' && r.path === '/records').length, 0)

    const res = await runCli([...args(), '--json'])
    assert.equal(res.code, 0, res.stderr)
    const posts = server.log.filter((r) => r.method === 'POST' && r.path === '/records')
    assert.equal(posts.length, 1)
    assert.deepEqual(server.find('www.hook.example', 'A')?.targets, ['192.0.2.7'])
    assert.match(server.find('a-www.hook.example', 'TXT')?.targets?.[0] ?? '', /^"heritage=external-dns,external-dns\/owner=ci.*"$/)
    assert.ok(!JSON.stringify(posts.map((p) => p.body)).includes('elsewhere'))
  })

  it('a URL that does not speak the protocol exits 2 with a clear message', async () => {
    const wrong = await startWebhookServer({negotiateContentType: 'text/html'})
    try {
      const a = args()
      a[a.indexOf('--webhook-url') + 1] = wrong.url
      const res = await runCli(a)
      assert.equal(res.code, 2, res.stderr)
      assert.match(res.stderr, /external\.dns\.webhook\+json;version=1/)
    } finally {
      await wrong.stop()
    }
  })
})
