/**
 * `roster dns sync` into a zone file keeps the file's owner, group and mode (issue 11): a `named`
 * that reads the zone through its group must still read it after the rewrite. The built CLI, real
 * files; as root the test gives files to other uids/gids, and runs the CLI as a non-root user (nobody, in one group)
 * (test/support/cli.ts's runBinAs) for the cases only such a user meets.
 */
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {isolatedEnv, runBinAs, runCli, type CliResult} from '../support/cli.js'
import {needsRoot} from '../support/needs.js'

const ZONE = 'example.com'
const ZONE_TEXT = `$TTL 3600
$ORIGIN example.com.
@       IN SOA ns1 hostmaster ( 2024010101 7200 3600 1209600 300 )
        IN NS  ns1
ns1     IN A   192.0.2.53
`
const RECORDS = `- dnsName: www.example.com
  recordType: A
  targets: [192.0.2.10]
`
/** The writer when not root: a uid with a passwd entry (os.userInfo() needs one), here `nobody`. */
const OWNER = 65534
/** The group `named` reads the zone through. */
const GROUP = 4343
const OTHER_GROUP = 5555

let dir: string

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'roster-zone-owner-'))
  chmodSync(dir, 0o755)
})
after(() => {
  rmSync(dir, {recursive: true, force: true})
})

function args(zoneFile: string, recordsFile: string): string[] {
  return ['dns', 'sync', '--once', '--policy', 'sync', '--owner-id', 'ci', '--source', 'file', '--file', recordsFile].concat([
    '--provider',
    'zonefile',
    '--zone-file',
    zoneFile,
    '--zone',
    ZONE,
  ])
}

/** A directory holding a zone file and a records file. */
function setup(
  name: string,
  owner: {uid: number; gid: number; mode: number},
  dirOwner?: number,
): {zoneFile: string; recordsFile: string; sub: string} {
  const sub = path.join(dir, name)
  mkdirSync(sub)
  if (dirOwner !== undefined) chownSync(sub, dirOwner, GROUP)
  const zoneFile = path.join(sub, 'db.example.com')
  const recordsFile = path.join(sub, 'records.yaml')
  writeFileSync(zoneFile, ZONE_TEXT)
  chownSync(zoneFile, owner.uid, owner.gid)
  chmodSync(zoneFile, owner.mode)
  writeFileSync(recordsFile, RECORDS)
  chmodSync(recordsFile, 0o644)
  return {zoneFile, recordsFile, sub}
}

function ownership(file: string): {uid: number; gid: number; mode: number} {
  const s = statSync(file)
  return {uid: s.uid, gid: s.gid, mode: s.mode & 0o7777}
}

/** The built CLI as uid OWNER in group GROUP only (a service account in the `named` group). */
function runAsServiceAccount(cliArgs: string[]): Promise<CliResult> {
  const home = mkdtempSync(path.join(dir, 'home-'))
  chownSync(home, OWNER, GROUP)
  const env = {...isolatedEnv(), HOME: home, XDG_CONFIG_HOME: path.join(home, '.config'), XDG_DATA_HOME: path.join(home, '.local', 'share')}
  return runBinAs({uid: OWNER, gid: GROUP, groups: [GROUP]}, cliArgs, {env, cwd: home})
}

describe('dns sync --provider zonefile keeps the zone file owner, group and mode', {skip: needsRoot('to chown')}, () => {
  it('as root: owner, group and mode of the replaced file are the original ones; no temporary file is left', async () => {
    const {zoneFile, recordsFile, sub} = setup('root', {uid: OWNER, gid: GROUP, mode: 0o640})
    const r = await runCli(args(zoneFile, recordsFile))
    assert.equal(r.code, 0, r.stderr)
    assert.match(readFileSync(zoneFile, 'utf8'), /www\s+\d*\s*IN\s+A\s+192\.0\.2\.10|www\.example\.com\.\s.*A\s+192\.0\.2\.10/)
    assert.deepEqual(ownership(zoneFile), {uid: OWNER, gid: GROUP, mode: 0o640})
    assert.deepEqual(readdirSync(sub).sort(), ['db.example.com', 'records.yaml'])
    assert.match(execFileSync('named-checkzone', [ZONE, zoneFile], {encoding: 'utf8'}), /OK/)
  })

  it('through a symbolic link: the link stays a link, the file it points to is replaced and keeps its ownership', async () => {
    const {zoneFile, recordsFile, sub} = setup('link', {uid: OWNER, gid: GROUP, mode: 0o644})
    const link = path.join(sub, 'zone-link')
    symlinkSync(zoneFile, link)
    const r = await runCli(args(link, recordsFile))
    assert.equal(r.code, 0, r.stderr)
    assert.ok(lstatSync(link).isSymbolicLink())
    assert.match(readFileSync(zoneFile, 'utf8'), /192\.0\.2\.10/)
    assert.deepEqual(ownership(zoneFile), {uid: OWNER, gid: GROUP, mode: 0o644})
  })

  it('as a service account in the zone file group: group and mode are kept (the owner becomes the writer)', async () => {
    const {zoneFile, recordsFile} = setup('member', {uid: 0, gid: GROUP, mode: 0o664}, OWNER)
    const r = await runAsServiceAccount(args(zoneFile, recordsFile))
    assert.equal(r.code, 0, r.stderr)
    assert.match(readFileSync(zoneFile, 'utf8'), /192\.0\.2\.10/)
    assert.deepEqual(ownership(zoneFile), {uid: OWNER, gid: GROUP, mode: 0o664})
  })

  it('as a user outside the zone file group: exit 4 naming the group, and the file is unchanged', async () => {
    const {zoneFile, recordsFile, sub} = setup('stranger', {uid: 0, gid: OTHER_GROUP, mode: 0o666}, OWNER)
    const r = await runAsServiceAccount(args(zoneFile, recordsFile))
    assert.equal(r.code, 4, r.stdout + r.stderr)
    assert.match(r.stderr, new RegExp(`keeping its group \\(gid ${OTHER_GROUP}\\)`))
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
    assert.equal(readFileSync(zoneFile, 'utf8'), ZONE_TEXT)
    assert.deepEqual(ownership(zoneFile), {uid: 0, gid: OTHER_GROUP, mode: 0o666})
    assert.deepEqual(readdirSync(sub).sort(), ['db.example.com', 'records.yaml'])
  })
})
