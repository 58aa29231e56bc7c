/**
 * The Debian package, end to end, on this machine (as root, as CI runs it): `scripts/package.sh`
 * builds the .deb from the built CLI; dpkg installs it against the real `nodejs` package it
 * depends on (no --force); `/usr/bin/roster` runs as a non-root user; `systemd-analyze verify`
 * checks every installed unit and the exporter drop-in; an upgrade keeps an edited conffile;
 * `dpkg -r` keeps the config and the data, `dpkg -P` removes them. The package is purged
 * afterwards whatever happens, and users the test created are removed.
 */
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {appendFileSync, chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {ROOT} from '../support/cli.js'

interface Run {
  code: number
  stdout: string
  stderr: string
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Run {
  const r = spawnSync(command, args, {encoding: 'utf8', env, cwd: tmpdir(), timeout: 600_000})
  if (r.error) throw r.error
  return {code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr}
}

function ok(command: string, args: string[], env?: NodeJS.ProcessEnv): string {
  const r = run(command, args, env)
  assert.equal(r.code, 0, `${command} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`)
  return r.stdout
}

const isInstalled = (pkg: string): boolean => run('dpkg-query', ['-W', '-f', '${db:Status-Status}', pkg]).stdout.trim() === 'installed'
const userExists = (name: string): boolean => run('getent', ['passwd', name]).code === 0

const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {version: string}).version
const TEST_USER = 'roster-test'
const UNITS = ['roster-serve.service', 'roster-dns-sync.service', 'roster-dns-sync.timer']

describe('the .deb package', {concurrency: false}, () => {
  let work = ''
  let deb = ''
  let createdTestUser = false
  let rosterUserExisted = true

  before(() => {
    assert.equal(process.getuid?.(), 0, 'the package test installs a .deb: run it as root (CI does)')
    assert.ok(!isInstalled('roster'), 'a roster package is already installed: the test would replace and purge it')
    // The package depends on a packaged nodejs of the Node.js major it was built with.
    const nodejs = run('dpkg-query', ['-W', '-f', '${Version}', 'nodejs']).stdout.trim()
    const major = process.versions.node.split('.')[0]
    assert.ok(
      nodejs !== '' && run('dpkg', ['--compare-versions', nodejs, 'ge', '20.19']).code === 0 && nodejs.startsWith(`${major}.`),
      `a nodejs ${major}.x (>= 20.19) Debian package must be installed (found "${nodejs || 'none'}"), e.g. from deb.nodesource.com`,
    )
    rosterUserExisted = userExists('roster')
    if (!userExists(TEST_USER)) {
      ok('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', TEST_USER])
      createdTestUser = true
    }
    work = mkdtempSync(path.join(tmpdir(), 'roster-deb-'))
    chmodSync(work, 0o755)
    const out = ok('bash', [path.join(ROOT, 'scripts', 'package.sh')], {...process.env, ROSTER_DEB_OUT: path.join(work, 'out')})
    deb = out.trim().split('\n').at(-1) ?? ''
  })

  after(() => {
    if (isInstalled('roster') || run('dpkg-query', ['-W', 'roster']).code === 0) run('dpkg', ['-P', 'roster'])
    if (createdTestUser) run('userdel', [TEST_USER])
    if (!rosterUserExisted && userExists('roster')) run('userdel', ['roster'])
    if (work) rmSync(work, {recursive: true, force: true})
  })

  it('is roster_<version>_<arch>.deb and depends on the nodejs major its native modules were built for', () => {
    const arch = ok('dpkg', ['--print-architecture']).trim()
    assert.equal(path.basename(deb), `roster_${VERSION}_${arch}.deb`)
    const depends = ok('dpkg-deb', ['-f', deb, 'Depends']).trim()
    const major = Number(process.versions.node.split('.')[0])
    assert.match(depends, new RegExp(`nodejs \\(>= ${major === 20 ? '20\\.19' : major}\\), nodejs \\(<< ${major + 1}\\)`))
    const conffiles = ok('dpkg-deb', ['--info', deb, 'conffiles']).trim().split('\n')
    assert.deepEqual(conffiles, ['/etc/roster/config.yaml', '/etc/default/roster-serve', '/etc/default/roster-dns-sync'])
  })

  it('has no lintian errors', () => {
    // scripts/install-test-servers.sh installs lintian: missing, it is a failure, not a skip.
    assert.equal(run('sh', ['-c', 'command -v lintian']).code, 0, 'lintian is not installed (apt-get install lintian)')
    const r = run('lintian', ['--no-tag-display-limit', deb])
    const errors = r.stdout.split('\n').filter((l) => l.startsWith('E: '))
    assert.deepEqual(errors, [], r.stdout)
  })

  it('installs with dpkg and runs as root: --version, -h', () => {
    ok('dpkg', ['-i', deb])
    assert.equal(ok('/usr/bin/roster', ['--version']).split(' ')[0], `roster/${VERSION}`)
    assert.match(ok('/usr/bin/roster', ['server', 'list', '-h']), /^List the scrape servers/)
    assert.ok(userExists('roster'), 'postinst creates the roster system user')
    assert.match(ok('stat', ['-c', '%U %a', '/var/lib/roster']).trim(), /^roster 750$/)
  })

  it('registers and lists a service through /usr/bin/roster as a non-root user', () => {
    const home = path.join(work, 'home')
    mkdirSync(home)
    chownSync(home, Number(ok('id', ['-u', TEST_USER])), Number(ok('id', ['-g', TEST_USER])))
    const as = (args: string[]): Run =>
      run('runuser', ['-u', TEST_USER, '--', 'env', '-i', 'PATH=/usr/bin:/bin', `HOME=${home}`, '/usr/bin/roster', ...args])
    const registered = as(['service', 'register', 'node', '-e', 'http://127.0.0.1:9100/metrics', '--json'])
    assert.equal(registered.code, 0, registered.stderr)
    const listed = as(['service', 'list', '-o', 'json'])
    assert.equal(listed.code, 0, listed.stderr)
    const services = JSON.parse(listed.stdout) as {name: string; endpoint: string}[]
    assert.deepEqual(
      services.map((s) => [s.name, s.endpoint]),
      [['node', 'http://127.0.0.1:9100/metrics']],
    )
    assert.ok(existsSync(path.join(home, '.local', 'share', 'roster', 'registry.db')))
  })

  it('passes systemd-analyze verify: every installed unit, and the exporter drop-in', () => {
    for (const unit of UNITS) {
      const r = run('systemd-analyze', ['verify', `/lib/systemd/system/${unit}`])
      assert.equal(r.code, 0, r.stderr)
      assert.equal(r.stderr.trim(), '', `${unit}: ${r.stderr}`)
    }
    // The drop-in, applied to an exporter unit: systemd-analyze reads drop-ins next to the unit.
    const units = path.join(work, 'units')
    mkdirSync(path.join(units, 'example-exporter.service.d'), {recursive: true})
    writeFileSync(
      path.join(units, 'example-exporter.service'),
      '[Unit]\nDescription=an exporter\n[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n',
    )
    const dropIn = readFileSync('/usr/share/doc/roster/examples/roster-register.conf', 'utf8')
    writeFileSync(path.join(units, 'example-exporter.service.d', 'roster.conf'), dropIn)
    const good = run('systemd-analyze', ['verify', path.join(units, 'example-exporter.service')])
    assert.equal(good.code, 0, good.stderr)
    assert.equal(good.stderr.trim(), '')
    // Proof that the drop-in was read: the same drop-in, broken, is reported.
    writeFileSync(
      path.join(units, 'example-exporter.service.d', 'roster.conf'),
      dropIn.replace('ExecStartPost=/usr/bin/', 'ExecStartPost=usr/bin/'),
    )
    const broken = run('systemd-analyze', ['verify', path.join(units, 'example-exporter.service')])
    assert.match(broken.stderr, /roster\.conf:\d+: .*usr\/bin\/roster/)
  })

  it('installs bash completion that bash-completion loads on demand', () => {
    assert.ok(
      existsSync('/usr/share/bash-completion/bash_completion'),
      'bash-completion is not installed (apt-get install bash-completion)',
    )
    assert.ok(existsSync('/usr/share/zsh/vendor-completions/_roster'))
    const script = [
      'source /usr/share/bash-completion/bash_completion',
      '__load_completion roster',
      'COMP_WORDS=(roster ser); COMP_CWORD=1; _roster',
      'echo "${COMPREPLY[*]}"',
    ].join('\n')
    assert.equal(ok('bash', ['--norc', '--noprofile', '-c', script]).trim(), 'serve server service')
  })

  it('keeps an edited config through an upgrade', () => {
    appendFileSync('/etc/roster/config.yaml', 'timeout: 11s\n')
    ok('dpkg', ['-i', deb])
    assert.match(readFileSync('/etc/roster/config.yaml', 'utf8'), /\ntimeout: 11s\n$/)
    const env = ['-i', 'PATH=/usr/bin:/bin', `HOME=${work}`]
    assert.match(ok('env', [...env, '/usr/bin/roster', 'config', 'show', '-o', 'csv']), /^timeout,11s,file \/etc\/roster\/config\.yaml/m)
  })

  it('dpkg -r keeps the config and the data; dpkg -P removes them', () => {
    const db = '/var/lib/roster/registry.db'
    const registered = run('runuser', [
      '-u',
      'roster',
      '--',
      'env',
      '-i',
      'PATH=/usr/bin:/bin',
      'HOME=/var/lib/roster',
      '/usr/bin/roster',
      'service',
      'register',
      'kept',
      '-e',
      'http://127.0.0.1:9200/metrics',
      '--registry',
      `sqlite:${db}`,
    ])
    assert.equal(registered.code, 0, registered.stderr)
    ok('dpkg', ['-r', 'roster'])
    assert.ok(!existsSync('/usr/bin/roster'), '/usr/bin/roster is removed')
    for (const unit of UNITS) assert.ok(!existsSync(`/lib/systemd/system/${unit}`), `${unit} is removed`)
    assert.ok(existsSync('/etc/roster/config.yaml'), 'the config stays after dpkg -r')
    assert.ok(existsSync(db), 'the data stays after dpkg -r')
    ok('dpkg', ['-P', 'roster'])
    for (const p of ['/etc/roster', '/etc/default/roster-serve', '/etc/default/roster-dns-sync', '/var/lib/roster']) {
      assert.ok(!existsSync(p), `${p} is removed by dpkg -P`)
    }
    assert.notEqual(run('dpkg-query', ['-W', 'roster']).code, 0, 'dpkg no longer knows roster')
  })
})
