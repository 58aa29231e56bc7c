/**
 * `roster dns sync` end to end with the zonefile provider: the built CLI, real files, BIND's
 * named-checkzone on the result, and sources: file, registry (on SQLite), kubernetes (against the
 * test API server).
 */
import assert from 'node:assert/strict'
import {execFileSync, spawn} from 'node:child_process'
import {chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {parseZoneFile, recordTarget} from '../../src/lib/dns/zone-file.js'
import {Registry} from '../../src/lib/registry/registry.js'
import {openStore} from '../../src/lib/store/open-store.js'
import {BIN, isolatedEnv, runCli} from '../support/cli.js'
import {type KubeApiServer, startKubeApiServer} from '../support/kube-api-server.js'
import {makeIngress, makeService} from '../support/kube-objects.js'
import {until} from '../support/until.js'

const ZONE = 'example.com'
const BASE_ZONE = `$TTL 3600
$ORIGIN example.com.
@       IN SOA ns1 hostmaster ( 2024010101 7200 3600 1209600 300 )
        IN NS  ns1
ns1     IN A   192.0.2.53
@       IN MX  10 mail          ; foreign: unmanaged type
mail    IN A   192.0.2.25       ; foreign: no ownership record
@       IN CAA 0 issue "letsencrypt.org"
legacy  IN TYPE65280 \\# 4 0A000001
; a record external-dns (owner "cluster-b") manages:
other   IN A   192.0.2.77
a-other IN TXT "heritage=external-dns,external-dns/owner=cluster-b,external-dns/resource=service/default/other"
spf     IN TXT "v=spf1 mx -all"
`

let dir: string
const env = isolatedEnv()

function namedCheckzone(file: string): string {
  return execFileSync('named-checkzone', [ZONE, file], {encoding: 'utf8'})
}

function zoneView(file: string): string[] {
  const zone = parseZoneFile(readFileSync(file, 'utf8'), {origin: ZONE})
  return zone.records
    .filter((r) => r.type !== 'SOA')
    .map((r) => `${r.name} ${r.type} ${recordTarget(r)}`)
    .sort()
}

function serialOf(file: string): number {
  const zone = parseZoneFile(readFileSync(file, 'utf8'), {origin: ZONE})
  return Number(zone.records.find((r) => r.type === 'SOA')?.rdata[2])
}

function setup(name: string, records: string, zoneText = BASE_ZONE): {zoneFile: string; recordsFile: string} {
  const zoneFile = path.join(dir, `${name}.zone`)
  const recordsFile = path.join(dir, `${name}.yaml`)
  writeFileSync(zoneFile, zoneText)
  chmodSync(zoneFile, 0o640)
  writeFileSync(recordsFile, records)
  return {zoneFile, recordsFile}
}

function sync(zoneFile: string, extra: string[]): Promise<{code: number; stdout: string; stderr: string}> {
  return runCli(
    ['dns', 'sync', '--once', '--provider', 'zonefile', '--zone-file', zoneFile, '--zone', ZONE, '--owner-id', 'ci', ...extra],
    {env},
  )
}

const RECORDS = `# DNSEndpoint style
apiVersion: externaldns.k8s.io/v1alpha1
kind: DNSEndpoint
metadata: {name: web}
spec:
  endpoints:
    - dnsName: www.example.com
      recordType: A
      targets: [10.0.0.1, 10.0.0.2]
      recordTTL: 300
    - dnsName: api.example.com
      recordType: CNAME
      targets: [lb.example.net]
    - dnsName: _http._tcp.www.example.com
      recordType: SRV
      targets: ["10 10 80 www.example.com"]
    - dnsName: note.example.com
      recordType: TXT
      targets: ['hello "world"; with \\\\ backslash']
    - dnsName: v6.example.com
      recordType: AAAA
      targets: ["2001:DB8::1"]
`

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'roster-dns-sync-'))
})
after(() => {
  rmSync(dir, {recursive: true, force: true})
})

describe('dns sync --provider zonefile --source file', () => {
  it('creates records with ownership, keeps foreign records, and BIND loads the result', async () => {
    const {zoneFile, recordsFile} = setup('create', RECORDS)
    const r = await sync(zoneFile, ['--policy', 'sync', '--source', 'file', '--file', recordsFile, '--detailed-exitcode'])
    assert.equal(r.code, 8, r.stderr)
    assert.match(r.stdout, /create\s+www\.example\.com\s+A\s+10\.0\.0\.1, 10\.0\.0\.2\s+300/)
    assert.match(r.stdout, /Applied: 5 to create, 0 to update, 0 to delete\./)
    assert.match(namedCheckzone(zoneFile), /OK/)
    const view = zoneView(zoneFile)
    for (const foreign of [
      'example.com MX 10 mail.example.com',
      'mail.example.com A 192.0.2.25',
      'example.com CAA 0 issue "letsencrypt.org"',
      'legacy.example.com TYPE65280 \\# 4 0A000001',
      'other.example.com A 192.0.2.77',
      'a-other.example.com TXT heritage=external-dns,external-dns/owner=cluster-b,external-dns/resource=service/default/other',
      'spf.example.com TXT v=spf1 mx -all',
    ]) {
      assert.ok(view.includes(foreign), `foreign record kept: ${foreign}`)
    }
    assert.ok(view.includes('www.example.com A 10.0.0.1'))
    assert.ok(view.includes('a-www.example.com TXT heritage=external-dns,external-dns/owner=ci'))
    assert.ok(view.includes('cname-api.example.com TXT heritage=external-dns,external-dns/owner=ci'))
    assert.ok(view.includes('_http._tcp.www.example.com SRV 10 10 80 www.example.com'))
    assert.ok(view.includes('note.example.com TXT hello "world"; with \\\\ backslash'))
    assert.ok(view.includes('v6.example.com AAAA 2001:db8::1'))
    assert.equal(serialOf(zoneFile) > 2024010101, true)
    assert.equal(statSync(zoneFile).mode & 0o777, 0o640)

    // A second run plans nothing, and does not rewrite the file.
    const before = readFileSync(zoneFile, 'utf8')
    const again = await sync(zoneFile, ['--policy', 'sync', '--source', 'file', '--file', recordsFile, '--detailed-exitcode'])
    assert.equal(again.code, 0, again.stderr)
    assert.match(again.stdout, /No changes/)
    assert.equal(readFileSync(zoneFile, 'utf8'), before)
  })

  it('--json prints the result with the Changes object', async () => {
    const {zoneFile, recordsFile} = setup('json', RECORDS)
    const r = await sync(zoneFile, ['--policy', 'sync', '--source', 'file', '--file', recordsFile, '--json', '--dry-run'])
    assert.equal(r.code, 0, r.stderr)
    const out = JSON.parse(r.stdout)
    assert.deepEqual(Object.keys(out.changes).sort(), ['create', 'delete', 'updateNew', 'updateOld'])
    assert.equal(out.changes.create.length, 5)
    assert.deepEqual(out.summary, {create: 5, update: 0, delete: 0})
    assert.equal(out.applied, false)
    assert.deepEqual(out.providerCalls, {read: 1, write: 0})
  })

  it('--dry-run writes nothing and --detailed-exitcode exits 8 for pending changes', async () => {
    const {zoneFile, recordsFile} = setup('dry', RECORDS)
    const r = await sync(zoneFile, ['--policy', 'sync', '--source', 'file', '--file', recordsFile, '--dry-run', '--detailed-exitcode'])
    assert.equal(r.code, 8, r.stderr)
    assert.match(r.stdout, /Dry run: nothing written/)
    assert.equal(readFileSync(zoneFile, 'utf8'), BASE_ZONE)
  })

  it('updates and deletes owned records; conflicts on records it does not own', async () => {
    const {zoneFile, recordsFile} = setup('update', RECORDS)
    assert.equal((await sync(zoneFile, ['--policy', 'sync', '--source', 'file', '--file', recordsFile])).code, 0)
    writeFileSync(
      recordsFile,
      JSON.stringify({
        endpoints: [
          {dnsName: 'www.example.com', recordType: 'A', targets: ['10.0.0.3'], recordTTL: 60},
          {dnsName: 'other.example.com', recordType: 'A', targets: ['10.9.9.9']},
          {dnsName: 'mail.example.com', recordType: 'A', targets: ['10.9.9.9']},
          {dnsName: 'api.example.com', recordType: 'CNAME', targets: ['lb.example.net']},
          {dnsName: '_http._tcp.www.example.com', recordType: 'SRV', targets: ['10 10 80 www.example.com']},
          {dnsName: 'v6.example.com', recordType: 'AAAA', targets: ['2001:db8::1']},
        ],
      }),
    )
    const jsonFile = recordsFile.replace(/\.yaml$/, '.json')
    writeFileSync(jsonFile, readFileSync(recordsFile))
    const r = await sync(zoneFile, ['--policy', 'sync', '--source', 'file', '--file', jsonFile, '--force'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /update\s+www\.example\.com\s+A\s+10\.0\.0\.1, 10\.0\.0\.2 → 10\.0\.0\.3\s+300 → 60/)
    assert.match(r.stdout, /delete\s+note\.example\.com\s+TXT/)
    assert.match(r.stderr, /skipped mail\.example\.com A: exists without an ownership record/)
    assert.match(r.stderr, /skipped other\.example\.com A: owned by "cluster-b"/)
    const view = zoneView(zoneFile)
    assert.ok(view.includes('www.example.com A 10.0.0.3'))
    assert.ok(!view.some((l) => l.startsWith('note.example.com') || l.startsWith('txt-note.example.com')))
    assert.ok(view.includes('other.example.com A 192.0.2.77'))
    assert.ok(view.includes('mail.example.com A 192.0.2.25'))
    assert.match(namedCheckzone(zoneFile), /OK/)
  })

  it('--max-change-percent refuses with exit 9 and leaves the zone file unchanged; --force applies', async () => {
    const many = Array.from({length: 10}, (_, i) => ({dnsName: `h${i}.example.com`, recordType: 'A', targets: [`10.1.0.${i}`]}))
    const {zoneFile, recordsFile} = setup('percent', JSON.stringify(many))
    const json = recordsFile.replace(/\.yaml$/, '.json')
    writeFileSync(json, JSON.stringify(many))
    assert.equal((await sync(zoneFile, ['--policy', 'sync', '--source', 'file', '--file', json])).code, 0)
    const before = readFileSync(zoneFile, 'utf8')
    writeFileSync(json, JSON.stringify(many.slice(0, 6)))
    const refused = await sync(zoneFile, ['--policy', 'sync', '--source', 'file', '--file', json])
    assert.equal(refused.code, 9, refused.stderr)
    assert.match(refused.stderr, /refusing a plan that updates or deletes 4 of 10 owned records .* --max-change-percent 30/)
    assert.equal(readFileSync(zoneFile, 'utf8'), before)
    const jsonRefused = await sync(zoneFile, ['--policy', 'sync', '--source', 'file', '--file', json, '--json'])
    assert.equal(jsonRefused.code, 9)
    assert.equal(JSON.parse(jsonRefused.stdout).error.code, 'unsafe_plan')
    const allowed = await sync(zoneFile, [
      '--policy',
      'sync',
      '--source',
      'file',
      '--file',
      json,
      '--max-change-percent',
      '40',
      '--dry-run',
      '--detailed-exitcode',
    ])
    assert.equal(allowed.code, 8, allowed.stderr)
    assert.equal(readFileSync(zoneFile, 'utf8'), before)
    writeFileSync(json, JSON.stringify(many.slice(0, 1)))
    assert.equal((await sync(zoneFile, ['--policy', 'sync', '--source', 'file', '--file', json])).code, 9)
    const forced = await sync(zoneFile, ['--policy', 'sync', '--source', 'file', '--file', json, '--force'])
    assert.equal(forced.code, 0, forced.stderr)
    assert.deepEqual(
      zoneView(zoneFile).filter((l) => /^h\d/.test(l)),
      ['h0.example.com A 10.1.0.0'],
    )
  })

  it('an empty source does not wipe owned records (exit 9)', async () => {
    const {zoneFile, recordsFile} = setup('empty', RECORDS)
    assert.equal((await sync(zoneFile, ['--policy', 'sync', '--source', 'file', '--file', recordsFile])).code, 0)
    const before = readFileSync(zoneFile, 'utf8')
    writeFileSync(recordsFile, '[]\n')
    const r = await sync(zoneFile, ['--policy', 'sync', '--source', 'file', '--file', recordsFile])
    assert.equal(r.code, 9, r.stderr)
    assert.match(r.stderr, /refusing to delete all 5 records owned by "ci"/)
    assert.equal(readFileSync(zoneFile, 'utf8'), before)
  })

  it('policies: upsert-only never deletes, create-only never updates', async () => {
    const {zoneFile, recordsFile} = setup('policy', RECORDS)
    assert.equal((await sync(zoneFile, ['--policy', 'create-only', '--source', 'file', '--file', recordsFile])).code, 0)
    writeFileSync(recordsFile, JSON.stringify([{dnsName: 'www.example.com', recordType: 'A', targets: ['10.0.0.9']}]))
    const json = recordsFile.replace(/\.yaml$/, '.json')
    writeFileSync(json, readFileSync(recordsFile))
    const createOnly = await sync(zoneFile, ['--policy', 'create-only', '--source', 'file', '--file', json, '--detailed-exitcode'])
    assert.equal(createOnly.code, 0, createOnly.stderr)
    const upsert = await sync(zoneFile, ['--policy', 'upsert-only', '--source', 'file', '--file', json, '--detailed-exitcode'])
    assert.equal(upsert.code, 8, upsert.stderr)
    assert.match(upsert.stdout, /Applied: 0 to create, 1 to update, 0 to delete/)
    assert.ok(zoneView(zoneFile).includes('api.example.com CNAME lb.example.net'))
  })

  it('--domain-filter and --exclude-domains limit both sides', async () => {
    const {zoneFile, recordsFile} = setup('filter', RECORDS)
    const r = await sync(zoneFile, [
      '--policy',
      'sync',
      '--source',
      'file',
      '--file',
      recordsFile,
      '--domain-filter',
      'www.example.com',
      '--exclude-domains',
      '_tcp.www.example.com',
    ])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /Applied: 1 to create/)
    const view = zoneView(zoneFile)
    assert.ok(view.includes('www.example.com A 10.0.0.1'))
    assert.ok(!view.some((l) => l.startsWith('api.') || l.startsWith('_http.')))
  })

  it('--txt-prefix with %{record_type} names ownership records as external-dns does', async () => {
    const {zoneFile, recordsFile} = setup('prefix', JSON.stringify([{dnsName: 'example.com', recordType: 'A', targets: ['10.0.0.1']}]))
    const json = recordsFile.replace(/\.yaml$/, '.json')
    writeFileSync(json, readFileSync(recordsFile))
    const r = await sync(zoneFile, ['--policy', 'sync', '--source', 'file', '--file', json, '--txt-prefix', 'own-%{record_type}.'])
    assert.equal(r.code, 0, r.stderr)
    assert.ok(zoneView(zoneFile).includes('own-a.example.com TXT heritage=external-dns,external-dns/owner=ci'))
    assert.match(namedCheckzone(zoneFile), /OK/)
  })

  it('usage errors exit 2: --policy and --owner-id are required, bad entries name file, position and field', async () => {
    const {zoneFile, recordsFile} = setup('usage', RECORDS)
    const noPolicy = await runCli(
      ['dns', 'sync', '--owner-id', 'ci', '--source', 'file', '--file', recordsFile, '--zone-file', zoneFile, '--zone', ZONE],
      {env},
    )
    assert.equal(noPolicy.code, 2)
    assert.match(noPolicy.stderr, /policy/)
    const noOwner = await runCli(
      ['dns', 'sync', '--policy', 'sync', '--source', 'file', '--file', recordsFile, '--zone-file', zoneFile, '--zone', ZONE],
      {env},
    )
    assert.equal(noOwner.code, 2)
    assert.match(noOwner.stderr, /owner-id/)
    writeFileSync(
      recordsFile,
      'endpoints:\n  - dnsName: ok.example.com\n    targets: [10.0.0.1]\n  - dnsName: bad.example.com\n    recordType: A\n    targets: [not-an-ip]\n',
    )
    const bad = await sync(zoneFile, ['--policy', 'sync', '--source', 'file', '--file', recordsFile])
    assert.equal(bad.code, 2)
    assert.match(bad.stderr, /badusage|usage\.yaml: endpoints\[1\]: targets "not-an-ip": not an IPv4 address/)
    assert.equal(readFileSync(zoneFile, 'utf8'), BASE_ZONE)
  })

  it('a failing source aborts before writing', async () => {
    const {zoneFile, recordsFile} = setup('fail', RECORDS)
    const r = await sync(zoneFile, [
      '--policy',
      'sync',
      '--source',
      'file',
      '--file',
      recordsFile,
      '--source',
      'kubernetes',
      '--kubeconfig',
      path.join(dir, 'missing-kubeconfig'),
    ])
    assert.notEqual(r.code, 0)
    assert.equal(readFileSync(zoneFile, 'utf8'), BASE_ZONE)
  })

  it('secrets never appear in output or errors', async () => {
    const {recordsFile} = setup('secret', RECORDS)
    const secret = 'Sup3rSecretApiKeyValue'
    const r = await runCli(
      [
        'dns',
        'sync',
        '--policy',
        'sync',
        '--owner-id',
        'ci',
        '--source',
        'file',
        '--file',
        recordsFile,
        '--provider',
        'pdns',
        '--pdns-server',
        `http://127.0.0.1:1/${secret}`,
        '--pdns-api-key',
        secret,
        '--timeout',
        '2s',
      ],
      {env},
    )
    assert.notEqual(r.code, 0)
    assert.ok(!r.stdout.includes(secret) && !r.stderr.includes(secret), r.stderr)
    const tsig = 'c2VjcmV0LXRzaWcta2V5LXZhbHVl'
    const r2 = await runCli(
      [
        'dns',
        'sync',
        '--policy',
        'sync',
        '--owner-id',
        'ci',
        '--source',
        'file',
        '--file',
        recordsFile,
        '--provider',
        'rfc2136',
        '--rfc2136-host',
        '127.0.0.1',
        '--rfc2136-port',
        '1',
        '--rfc2136-zone',
        ZONE,
        '--rfc2136-tsig-keyname',
        'k',
        '--rfc2136-tsig-secret',
        tsig,
        '--timeout',
        '2s',
        '--debug',
      ],
      {env},
    )
    assert.notEqual(r2.code, 0)
    assert.ok(!r2.stdout.includes(tsig) && !r2.stderr.includes(tsig), r2.stderr)
  })
})

describe('dns sync --interval (loop mode)', () => {
  it('syncs repeatedly and exits 0 on SIGTERM', async () => {
    const {zoneFile, recordsFile} = setup('loop', RECORDS)
    const child = spawn(
      process.execPath,
      [
        BIN,
        'dns',
        'sync',
        '--interval',
        '300ms',
        '--provider',
        'zonefile',
        '--zone-file',
        zoneFile,
        '--zone',
        ZONE,
        '--owner-id',
        'ci',
        '--policy',
        'sync',
        '--source',
        'file',
        '--file',
        recordsFile,
      ],
      {env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe']},
    )
    let stdout = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    const noChanges = () => (stdout.match(/No changes/g) ?? []).length
    await until('two passes with no changes', () => noChanges() >= 2, {describe: () => stdout}).finally(() => child.kill('SIGTERM'))
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
    assert.equal(code, 0)
    assert.match(stdout, /Applied: 5 to create/)
  })
})

describe('dns sync --source registry', () => {
  it('publishes DNS-SD SRV and A/AAAA records for registered services', async () => {
    const db = path.join(dir, 'registry.db')
    const store = await openStore({registry: `sqlite:${db}`, timeoutMs: 10_000})
    try {
      const registry = new Registry(store)
      await registry.registerServer('prom1')
      await registry.registerNamespace('shop')
      await registry.registerServices({
        name: 'node',
        namespace: 'shop',
        endpoints: ['http://10.0.0.1:9100/metrics', 'http://[2001:db8::5]:9100/metrics', 'https://db1.example.net/metrics'],
      })
    } finally {
      await store.close()
    }
    const {zoneFile} = setup('registry', '')
    const r = await runCli(
      [
        'dns',
        'sync',
        '--policy',
        'sync',
        '--owner-id',
        'sd',
        '--source',
        'registry',
        '--registry',
        `sqlite:${db}`,
        '--registry-zone',
        'sd.example.com',
        '--zone-file',
        zoneFile,
        '--zone',
        ZONE,
      ],
      {env},
    )
    assert.equal(r.code, 0, r.stderr)
    const view = zoneView(zoneFile)
    for (const want of [
      '_node._tcp.shop.sd.example.com SRV 10 10 9100 node.shop.sd.example.com',
      '_node._tcp.shop.sd.example.com SRV 10 10 443 db1.example.net',
      'node.shop.sd.example.com A 10.0.0.1',
      'node.shop.sd.example.com AAAA 2001:db8::5',
      'srv-_node._tcp.shop.sd.example.com TXT heritage=external-dns,external-dns/owner=sd,external-dns/resource=registry/shop/node',
    ]) {
      assert.ok(view.includes(want), `${want}\n${view.join('\n')}`)
    }
    assert.match(namedCheckzone(zoneFile), /OK/)
  })
})

describe('dns sync --source kubernetes', () => {
  let kube: KubeApiServer
  before(async () => {
    kube = await startKubeApiServer({
      services: [
        makeService({
          name: 'web',
          namespace: 'prod',
          type: 'LoadBalancer',
          loadBalancer: [{ip: '203.0.113.10'}],
          annotations: {
            'external-dns.alpha.kubernetes.io/hostname': 'web.example.com,www2.example.com',
            'external-dns.alpha.kubernetes.io/ttl': '120',
          },
        }),
        makeService({
          name: 'elb',
          namespace: 'prod',
          type: 'LoadBalancer',
          loadBalancer: [{hostname: 'abc.elb.example.net'}],
          annotations: {'external-dns.kubernetes.io/hostname': 'elb.example.com'},
        }),
        makeService({
          name: 'internal',
          namespace: 'prod',
          type: 'ClusterIP',
          annotations: {'external-dns.alpha.kubernetes.io/hostname': 'internal.example.com'},
        }),
        makeService({
          name: 'dev',
          namespace: 'dev',
          type: 'LoadBalancer',
          loadBalancer: [{ip: '203.0.113.99'}],
          annotations: {'external-dns.alpha.kubernetes.io/hostname': 'dev.example.com'},
        }),
      ],
      ingresses: [
        makeIngress({
          name: 'shop',
          namespace: 'prod',
          hosts: ['shop.example.com'],
          loadBalancer: [{ip: '203.0.113.20'}],
          annotations: {'external-dns.alpha.kubernetes.io/target': '198.51.100.7'},
        }),
      ],
    })
  })
  after(async () => {
    await kube?.stop()
  })

  it('publishes LoadBalancer services and ingresses, per namespace', async () => {
    const {zoneFile} = setup('kube', '')
    const r = await runCli(
      [
        'dns',
        'sync',
        '--policy',
        'sync',
        '--owner-id',
        'k8s',
        '--source',
        'kubernetes',
        '--kubeconfig',
        kube.kubeconfigPath(),
        '--kube-namespace',
        'prod',
        '--zone-file',
        zoneFile,
        '--zone',
        ZONE,
      ],
      {env},
    )
    assert.equal(r.code, 0, r.stderr)
    const view = zoneView(zoneFile)
    for (const want of [
      'web.example.com A 203.0.113.10',
      'www2.example.com A 203.0.113.10',
      'elb.example.com CNAME abc.elb.example.net',
      'shop.example.com A 198.51.100.7',
      'a-web.example.com TXT heritage=external-dns,external-dns/owner=k8s,external-dns/resource=service/prod/web',
      'cname-elb.example.com TXT heritage=external-dns,external-dns/owner=k8s,external-dns/resource=service/prod/elb',
    ]) {
      assert.ok(view.includes(want), `${want}\n${view.join('\n')}`)
    }
    assert.ok(!view.some((l) => l.startsWith('internal.') || l.startsWith('dev.')))
    const zone = parseZoneFile(readFileSync(zoneFile, 'utf8'), {origin: ZONE})
    assert.equal(zone.records.find((x) => x.name === 'web.example.com')?.ttl, 120)
    assert.match(namedCheckzone(zoneFile), /OK/)
  })

  it('takes --namespace, the deprecated name of --kube-namespace, with one warning', async () => {
    const {zoneFile} = setup('kube-alias', '')
    const argv = ['dns', 'sync', '--policy', 'sync', '--owner-id', 'k8s', '--source', 'kubernetes', '--kubeconfig', kube.kubeconfigPath()]
    const r = await runCli([...argv, '--namespace', 'prod', '--zone-file', zoneFile, '--zone', ZONE], {env})
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stderr, 'roster: warning: --namespace is deprecated in dns sync: use --kube-namespace (a Kubernetes namespace)\n')
    const view = zoneView(zoneFile)
    assert.ok(view.includes('web.example.com A 203.0.113.10'), view.join('\n'))
    assert.ok(!view.some((l) => l.startsWith('dev.')), 'only the prod namespace')
  })
})
