/**
 * `roster dns sync` through the built CLI: a records file with an unknown key is refused (exit 2,
 * one line naming the key and the nearest known one, nothing written), and the library's errors,
 * which name settings, reach the user naming the flags.
 */
import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {isolatedEnv, runCli} from '../support/cli.js'

const ZONE_TEXT = `$TTL 3600
$ORIGIN example.com.
@       IN SOA ns1 hostmaster ( 2024010101 7200 3600 1209600 300 )
        IN NS  ns1
ns1     IN A   192.0.2.53
`

let dir: string
const env = isolatedEnv()

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'roster-dns-messages-'))
})
after(() => {
  rmSync(dir, {recursive: true, force: true})
})

function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n')
  assert.equal(lines.length, 1, stderr)
  return lines[0] as string
}

const base = ['dns', 'sync', '--once', '--policy', 'sync', '--owner-id', 'ci']

describe('dns sync messages', () => {
  it('an unknown key in a records file: exit 2 naming the key and the nearest known key; the zone file is unchanged', async () => {
    const zoneFile = path.join(dir, 'db.example.com')
    const records = path.join(dir, 'records.yaml')
    writeFileSync(zoneFile, ZONE_TEXT)
    writeFileSync(records, '- dnsName: www.example.com\n  targets: [192.0.2.1]\n  recordTtl: 60\n')
    const r = await runCli([...base, '--source', 'file', '--file', records, '--zone-file', zoneFile, '--zone', 'example.com'], {env})
    assert.equal(r.code, 2, r.stdout + r.stderr)
    assert.equal(oneLine(r.stderr), `roster: ${records}: [0]: unknown key "recordTtl" (did you mean "recordTTL"?)`)
    assert.equal(readFileSync(zoneFile, 'utf8'), ZONE_TEXT)
  })

  it('a missing provider setting names its flag', async () => {
    const records = path.join(dir, 'ok.yaml')
    writeFileSync(records, '- dnsName: www.example.com\n  targets: [192.0.2.1]\n')
    const r = await runCli([...base, '--source', 'file', '--file', records, '--provider', 'pdns', '--pdns-api-key', 'k'], {env})
    assert.equal(r.code, 2, r.stderr)
    assert.equal(oneLine(r.stderr), 'roster: --pdns-server is required with provider pdns')
  })

  it('a bad provider setting names its flag and the value the user gave', async () => {
    const records = path.join(dir, 'ok2.yaml')
    writeFileSync(records, '- dnsName: www.example.com\n  targets: [192.0.2.1]\n')
    const r = await runCli([...base, '--source', 'file', '--file', records, '--provider', 'webhook', '--webhook-url', 'not-a-url'], {env})
    assert.equal(r.code, 2, r.stderr)
    assert.equal(oneLine(r.stderr), 'roster: --webhook-url "not-a-url": is not a URL')
  })

  it('a TSIG secret without a key name names both flags', async () => {
    const records = path.join(dir, 'ok3.yaml')
    writeFileSync(records, '- dnsName: www.example.com\n  targets: [192.0.2.1]\n')
    const r = await runCli(
      [
        ...base,
        '--source',
        'file',
        '--file',
        records,
        '--provider',
        'rfc2136',
        '--rfc2136-host',
        '127.0.0.1',
        '--rfc2136-zone',
        'example.com',
      ].concat(['--rfc2136-tsig-secret', 'c2VjcmV0']),
      {env},
    )
    assert.equal(r.code, 2, r.stderr)
    assert.equal(oneLine(r.stderr), 'roster: --rfc2136-tsig-keyname is required with a TSIG secret')
    assert.ok(!r.stderr.includes('c2VjcmV0'))
  })
})
