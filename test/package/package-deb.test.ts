/**
 * The Debian package, end to end, on this machine (as root, as CI runs it): `scripts/package.sh`
 * builds the .deb from the built CLI, carrying its own Node.js; dpkg installs it (no --force),
 * whatever nodejs the machine has or lacks; `/usr/bin/roster` runs with the Node.js it carries, as
 * a non-root user; `systemd-analyze verify` checks every installed unit and the exporter drop-in;
 * the drop-in's ExecStartPost=/ExecStopPost= and roster-serve.service's ExecStart= run as systemd
 * would run them (read from the installed files: Environment=, EnvironmentFile=, User=, %H), since
 * systemd is not PID 1 here; an upgrade keeps an edited conffile; `dpkg -r` keeps the config and
 * the data, `dpkg -P` removes them. The package is purged afterwards whatever happens, and users
 * the test created are removed.
 */
import assert from 'node:assert/strict'
import {spawn, spawnSync} from 'node:child_process'
import {appendFileSync, chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {hostname, tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {ROOT} from '../support/cli.js'
import {freePort} from '../support/free-port.js'

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

  it('is roster_<version>_<arch>.deb, carries Node.js 24 and depends on no nodejs package', () => {
    const arch = ok('dpkg', ['--print-architecture']).trim()
    assert.equal(path.basename(deb), `roster_${VERSION}_${arch}.deb`)
    const depends = ok('dpkg-deb', ['-f', deb, 'Depends']).trim()
    assert.doesNotMatch(depends, /node/)
    assert.match(depends, /^adduser, libc6 \(>= [\d.]+\)/)
    assert.match(ok('dpkg-deb', ['-f', deb, 'Description']), /carries its own Node\.js \(24\.\d+\.\d+, under \/usr\/lib\/roster\)/)
    assert.match(ok('dpkg-deb', ['-c', deb]), /^-rwxr-xr-x root\/root +\d+ \S+ \S+ \.\/usr\/lib\/roster\/bin\/node$/m)
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

  it('installs with dpkg and runs as root with the Node.js it carries, whatever is on PATH: --version, -h', () => {
    ok('dpkg', ['-i', deb])
    const carried = ok('/usr/lib/roster/bin/node', ['--version']).trim()
    assert.match(carried, /^v24\./)
    const version = ok('env', ['-i', 'PATH=/nonexistent', '/usr/bin/roster', '--version']).trim().split(' ')
    assert.deepEqual([version[0], version.at(-1)], [`roster/${VERSION}`, `node-${carried}`])
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

  it('runs the systemd examples as installed: the drop-in registers and unregisters, roster-serve answers /healthz and stops on SIGTERM', async () => {
    // What systemd would run, read from the installed files (never retyped here).
    const dropIn = parseUnit(readFileSync('/usr/share/doc/roster/examples/roster-register.conf', 'utf8'))
    const starts = dropIn.get('ExecStartPost') ?? []
    const stops = dropIn.get('ExecStopPost') ?? []
    assert.equal(starts.length, 1, 'one ExecStartPost= in the drop-in')
    assert.equal(stops.length, 1, 'one ExecStopPost= in the drop-in')
    const unitEnv = unitEnvironment(dropIn)
    assert.ok(unitEnv.ROSTER_ENDPOINTS, 'the drop-in sets ROSTER_ENDPOINTS')
    // The registry, where the drop-in says to put it: its EnvironmentFile (a SQLite file this user can write).
    const envFiles = (dropIn.get('EnvironmentFile') ?? []).map((f) => f.replace(/^-/, ''))
    assert.deepEqual(envFiles, ['/etc/roster/register.env'])
    const regDir = path.join(work, 'register')
    mkdirSync(regDir)
    const uid = Number(ok('id', ['-u', TEST_USER]))
    const gid = Number(ok('id', ['-g', TEST_USER]))
    chownSync(regDir, uid, gid)
    const db = path.join(regDir, 'registry.db')
    writeFileSync(envFiles[0]!, `# written by the package test\nROSTER_REGISTRY=sqlite:${db}\n`, {mode: 0o644})
    try {
      const env = {...unitEnv, ...readEnvironmentFile(envFiles[0]!)}
      const as = (argv: string[]): Run =>
        run('runuser', [
          '-u',
          TEST_USER,
          '--',
          'env',
          '-i',
          'PATH=/usr/bin:/bin',
          `HOME=${regDir}`,
          ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
          ...argv,
        ])
      const namespace = env.ROSTER_NAMESPACE ?? 'default'
      if (namespace !== 'default') {
        const ns = as(['/usr/bin/roster', 'namespace', 'register', namespace])
        assert.equal(ns.code, 0, ns.stderr)
      }
      const list = (): {name: string; namespace: string; endpoint: string}[] => {
        const r = as(['/usr/bin/roster', 'service', 'list', '-n', namespace, '-o', 'json'])
        assert.equal(r.code, 0, r.stderr)
        return JSON.parse(r.stdout) as {name: string; namespace: string; endpoint: string}[]
      }
      assert.deepEqual(list(), [])
      const started = as(execArgv(starts[0]!, env))
      assert.equal(started.code, 0, `ExecStartPost=${starts[0]}: ${started.stderr}`)
      const endpoint = `http://${hostname()}:9100/metrics`
      assert.equal(unitEnv.ROSTER_ENDPOINTS, endpoint, '%H is the host name')
      assert.deepEqual(
        list().map((s) => [s.namespace, s.name, s.endpoint]),
        [[namespace, env.ROSTER_NAME, endpoint]],
      )
      const stopped = as(execArgv(stops[0]!, env))
      assert.equal(stopped.code, 0, `ExecStopPost=${stops[0]}: ${stopped.stderr}`)
      assert.deepEqual(list(), [])
    } finally {
      rmSync(envFiles[0]!, {force: true})
    }

    // roster-serve.service: its ExecStart as its User=/Group=, with its Environment= and EnvironmentFile=.
    const unit = parseUnit(readFileSync('/lib/systemd/system/roster-serve.service', 'utf8'))
    const user = unit.get('User')?.at(-1)
    const group = unit.get('Group')?.at(-1)
    assert.equal(user, 'roster')
    const serveFiles = (unit.get('EnvironmentFile') ?? []).map((f) => f.replace(/^-/, ''))
    assert.deepEqual(serveFiles, ['/etc/default/roster-serve'])
    // Its listen address, set where an admin sets it: the EnvironmentFile (a free loopback port).
    const original = readFileSync(serveFiles[0]!, 'utf8')
    const port = await freePort()
    writeFileSync(serveFiles[0]!, `${original}ROSTER_LISTEN=127.0.0.1:${port}\n`)
    try {
      const env = {...unitEnvironment(unit), ...readEnvironmentFile(serveFiles[0]!)}
      const exec = unit.get('ExecStart') ?? []
      assert.equal(exec.length, 1)
      const argv = execArgv(exec[0]!, env)
      // setpriv execs (no process in between): the signal reaches roster, and its exit status is ours.
      const child = spawn(
        'setpriv',
        [
          `--reuid=${user}`,
          `--regid=${group ?? user}`,
          '--init-groups',
          '--',
          'env',
          '-i',
          'PATH=/usr/bin:/bin',
          ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
          ...argv,
        ],
        {cwd: '/', stdio: ['ignore', 'ignore', 'pipe']},
      )
      let stderr = ''
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
      const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)))
      try {
        await new Promise<void>((resolve, reject) => {
          const check = (): void => {
            if (stderr.includes('listening on')) resolve()
          }
          child.stderr.on('data', check)
          void exited.then((code) => reject(new Error(`roster serve exited ${code}: ${stderr}`)))
        })
        assert.match(stderr, new RegExp(`listening on http://127\\.0\\.0\\.1:${port}\\b`))
        const health = await fetch(`http://127.0.0.1:${port}/healthz`)
        assert.equal(health.status, 200, await health.text())
        assert.equal(ok('ps', ['-o', 'user=', '-p', String(child.pid)]).trim(), user, 'runs as the unit User=')
      } finally {
        child.kill('SIGTERM')
      }
      assert.equal(await exited, 0, `exit after SIGTERM: ${stderr}`)
    } finally {
      writeFileSync(serveFiles[0]!, original)
    }
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

/**
 * A unit file's settings, key → values in order (sections merged; comments, blank lines and
 * backslash-continued lines as systemd reads them). Enough for the package's units.
 */
function parseUnit(text: string): Map<string, string[]> {
  const settings = new Map<string, string[]>()
  const lines = text.replace(/\\\n/g, ' ').split('\n')
  for (const raw of lines) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';') || line.startsWith('[')) continue
    const eq = line.indexOf('=')
    if (eq < 0) continue
    const key = line.slice(0, eq).trim()
    const value = line.slice(eq + 1).trim()
    settings.set(key, [...(settings.get(key) ?? []), value])
  }
  return settings
}

/** systemd's specifiers this test's units use: %H (host name) and %% (a percent sign). */
function specifiers(value: string): string {
  return value.replace(/%([%H])/g, (_, c: string) => (c === '%' ? '%' : hostname()))
}

/** Splits a value into words as systemd does: whitespace separates, "..." and '...' quote, \ escapes. */
function words(value: string): string[] {
  const out: string[] = []
  let i = 0
  while (i < value.length) {
    while (i < value.length && /\s/.test(value[i]!)) i++
    if (i >= value.length) break
    let word = ''
    while (i < value.length && !/\s/.test(value[i]!)) {
      const c = value[i]!
      if (c === '"' || c === "'") {
        const end = value.indexOf(c, i + 1)
        assert.ok(end > i, `unterminated quote in ${value}`)
        word += value.slice(i + 1, end).replace(/\\(.)/g, '$1')
        i = end + 1
      } else if (c === '\\' && i + 1 < value.length) {
        word += value[i + 1]
        i += 2
      } else {
        word += c
        i++
      }
    }
    out.push(word)
  }
  return out
}

/** The Environment= assignments of a unit, specifiers expanded. */
function unitEnvironment(unit: Map<string, string[]>): Record<string, string> {
  const env: Record<string, string> = {}
  for (const value of unit.get('Environment') ?? [])
    for (const assignment of words(specifiers(value))) {
      const eq = assignment.indexOf('=')
      assert.ok(eq > 0, `Environment=${value}: not VAR=value`)
      env[assignment.slice(0, eq)] = assignment.slice(eq + 1)
    }
  return env
}

/** An EnvironmentFile: VAR=value lines, # and ; comments, optional quotes around the value. */
function readEnvironmentFile(file: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const m = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line)
    assert.ok(m, `${file}: not VAR=value: ${line}`)
    env[m[1]!] = /^(["']).*\1$/.test(m[2]!) ? m[2]!.slice(1, -1) : m[2]!
  }
  return env
}

/** An Exec*= command line as systemd runs it: prefixes off, specifiers and $VAR/${VAR} expanded, split into words. */
function execArgv(value: string, env: Record<string, string>): string[] {
  const line = specifiers(value).replace(/^[-@:+!]+/, '')
  const argv = words(line).map((w) => w.replace(/\$\{(\w+)\}/g, (_, k: string) => env[k] ?? ''))
  assert.ok(argv[0]?.startsWith('/'), `${value}: an absolute path expected`)
  return argv
}
