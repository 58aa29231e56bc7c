/**
 * A fuzz test of the CLI's inputs (issue 10): argv (a command of the manifest, its flags with
 * hostile values, stray arguments), the environment (ROSTER_<FLAG>), a config file, an import
 * file and a DNS record file (valid-looking, hostile, or random bytes). For every run the contract
 * holds: the exit code is one of the documented {0,2,3,4,5,6,7,8,9}, never 1; stderr has no stack
 * ("    at " lines); a failing command says so in one line; and a refused command leaves the
 * registry unchanged (every key, value and revision).
 *
 * Seeded and bounded (test/support/fuzz-settings.ts): ROSTER_FUZZ_SEED replays a run;
 * ROSTER_FUZZ_RUNS scenarios, run in rounds of one scenario for every command in a random order
 * (default 12 rounds, 300 scenarios, some 3 s of CPU: `npm test` has two minutes for the whole
 * suite, and every command is run a dozen times, meeting every generator), or as many as fit in
 * ROSTER_FUZZ_SECONDS when that is set (`npm run fuzz`: ten minutes). Commands run in-process (runCli). Nothing leaves loopback: registries, clusters
 * and endpoints are local files or closed loopback ports; commands that never end (serve,
 * --watch, --serve, --follow) and those that resolve host names (prune) or reach the keychain are left out.
 */
import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {before, it} from 'node:test'

import Database from 'better-sqlite3'
import fc from 'fast-check'

import {ROOT, isolatedEnv, runCli, type CliResult} from '../support/cli.js'
import {freePort} from '../support/free-port.js'
import {assertNoCounterexample, fuzzSettings, roundOf} from '../support/fuzz-settings.js'

const DOCUMENTED = new Set([0, 2, 3, 4, 5, 6, 7, 8, 9])

/**
 * Flags whose value is a regular expression the user runs against their own registry: random
 * text could be a catastrophically backtracking pattern (a hang by the user's own request, not a
 * contract failure), so they get valid and invalid patterns from a fixed list.
 */
const REGEX_FLAGS = new Set(['name', 'endpoint', 'server'])
const regexValue = fc.constantFrom('^web', 'api$', 'node|api', '(', '[z-a]', '*', '\\', '')

/** Commands and flags the fuzzer leaves alone (see the file comment). */
const SKIPPED_COMMANDS = new Set([
  'serve',
  'service:prune',
  'config:set-secret',
  'config:delete-secret',
  // Servers and interactive sign-in: they wait for requests or for a person.
  'kube:metrics-proxy',
  'login',
  'logout',
])
const FIXED_FLAGS = new Set([
  'registry',
  'timeout',
  'debug',
  'watch',
  'serve',
  'follow',
  'kubeconfig',
  'context',
  'help',
  'config',
  'resolver',
  'webhook-url',
  'pdns-url',
  'rfc2136-host',
  'provider',
  'source',
  'zone-file',
  'file',
  'dir',
  'registry-ca',
  'etcd-ca',
  'etcd-cert',
  'etcd-key',
  'once',
])

interface ManifestFlag {
  name: string
  type: 'boolean' | 'option'
  char?: string
}
const manifest = JSON.parse(readFileSync(path.join(ROOT, 'oclif.manifest.json'), 'utf8')) as {
  commands: Record<string, {flags: Record<string, ManifestFlag>; args: Record<string, unknown>}>
}
const commandIds = Object.keys(manifest.commands).filter((id) => !SKIPPED_COMMANDS.has(id))
// Seed and bounds: test/support/fuzz-settings.ts (the seed is printed for replay).
const FUZZ = fuzzSettings(12)
const envFlagNames = [...new Set(Object.values(manifest.commands).flatMap((c) => Object.keys(c.flags)))].filter((n) => !FIXED_FLAGS.has(n))

// Registries and clusters are closed loopback ports: 300ms of retries is enough to meet the refusal.
const env = isolatedEnv({ROSTER_TIMEOUT: '300ms'})
const home = env.HOME!
const registryFile = path.join(home, 'registry.db')
const importFile = path.join(home, 'import.yaml')
const recordFile = path.join(home, 'records.yaml')
const zoneFile = path.join(home, 'db.example.com')
const configFile = path.join(home, 'config.yaml')
const ZONE_TEXT = '$ORIGIN example.com.\n@ 3600 IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ 3600 IN NS ns1\nns1 3600 IN A 192.0.2.53\n'
let closedPort = 1

/**
 * The registry's content: every key, value and revision, and the store revision, hashed. Read
 * through SQLite (WAL included) rather than the main file's bytes, which a checkpoint of an
 * earlier, successful write may still rewrite with the same content.
 */
function sha(file: string): string {
  const db = new Database(file, {readonly: true, fileMustExist: true})
  try {
    const hash = createHash('sha256')
    for (const row of db.prepare('SELECT key, value, mod_revision FROM kv ORDER BY key').iterate()) hash.update(JSON.stringify(row))
    hash.update(String(db.prepare("SELECT value FROM meta WHERE name = 'revision'").pluck().get()))
    return hash.digest('hex')
  } finally {
    db.close()
  }
}

// ---- generators -------------------------------------------------------------------------------

const hostileOnly = fc.oneof(
  fc.string({maxLength: 40}),
  fc.string({unit: 'binary', maxLength: 40}),
  fc.constantFrom(
    '',
    ' ',
    '-',
    '--',
    '-1',
    '0',
    '1',
    '65536',
    '1e309',
    'NaN',
    'true',
    'null',
    '{}',
    '[]',
    '\u0000',
    '\uFFFD',
    'ab\uFFFDcd',
    '../../etc/passwd',
    'default',
    'a=b',
    'a in (b,c)',
    '!a',
    'x'.repeat(5000),
    'http://127.0.0.1:1/metrics',
    'https://127.0.0.1:1/m?x=1',
    '1s',
    '0s',
    '10%',
    'never',
    'json',
    'yaml',
  ),
)

const hostileText: fc.Arbitrary<string> = fc.oneof(
  {weight: 2, arbitrary: hostileOnly},
  {weight: 1, arbitrary: fc.constantFrom('web', 'default', 'http://127.0.0.1:9100/metrics', 'team=a', '1')},
)

/** Values that pass validation often, so that writes happen and later refusals have something to keep. */
const plausible = fc.constantFrom(
  'web',
  'api',
  'team',
  'default',
  'prom1',
  'prom2',
  'reader',
  'http://127.0.0.1:9100/metrics',
  'http://127.0.0.1:9200/m',
  'app=web',
  'team=a',
  'a=b,c=d',
  'x in (a,b)',
  '2',
  '1',
  'service',
  'read',
  'admin',
  '90d',
  'json',
  'yaml',
  'csv',
  'table',
  'example.com',
  'sync',
  'upsert-only',
  'ci',
)

function argCount(command: string): number {
  return Object.keys(manifest.commands[command]!.args ?? {}).length
}

const label = fc.dictionary(fc.string({maxLength: 12}), fc.oneof(fc.string({maxLength: 12}), fc.integer(), fc.constant(null)), {maxKeys: 4})
const entry = fc.record(
  {
    name: fc.oneof(fc.constantFrom('web', 'api', 'node'), hostileText),
    endpoints: fc.array(fc.oneof(fc.constantFrom('http://127.0.0.1:9100/metrics', 'https://127.0.0.1:8443/m'), hostileText), {
      maxLength: 3,
    }),
    namespace: fc.oneof(fc.constantFrom('default', 'team'), hostileText),
    labels: fc.oneof(label, fc.jsonValue({maxDepth: 3})),
    selector: hostileText,
    description: hostileText,
  },
  {requiredKeys: []},
)
const record = fc.record(
  {
    dnsName: fc.oneof(fc.constantFrom('www.example.com', 'a.example.com', 'example.org'), hostileText),
    recordType: fc.oneof(fc.constantFrom('A', 'AAAA', 'CNAME', 'TXT', 'MX'), hostileText),
    targets: fc.array(fc.oneof(fc.constantFrom('192.0.2.1', '2001:db8::1', 'x.example.com.'), hostileText), {maxLength: 3}),
    recordTTL: fc.oneof(fc.integer(), hostileText),
  },
  {requiredKeys: []},
)
/** A document as bytes: JSON, YAML-ish text, deep nesting, or random bytes. */
function documentOf<T>(item: fc.Arbitrary<T>): fc.Arbitrary<Buffer> {
  return fc.oneof(
    fc.array(item, {maxLength: 5}).map((list) => Buffer.from(JSON.stringify(list))),
    fc.array(item, {maxLength: 5}).map((list) => Buffer.from(list.map((e) => `- ${JSON.stringify(e)}`).join('\n'))),
    fc.jsonValue({maxDepth: 4}).map((v) => Buffer.from(JSON.stringify(v) ?? '')),
    fc.integer({min: 60, max: 20_000}).map((n) => Buffer.from(`${'['.repeat(n)}${']'.repeat(n)}`)),
    fc.string({maxLength: 200}).map((s) => Buffer.from(s)),
    fc.uint8Array({maxLength: 200}).map((b) => Buffer.from(b)),
  )
}

const configText = fc.oneof(
  fc
    .dictionary(
      fc.oneof({weight: 4, arbitrary: fc.constantFrom(...envFlagNames)}, {weight: 1, arbitrary: fc.string({maxLength: 10})}),
      fc.oneof(plausible, hostileText, fc.integer(), fc.boolean(), fc.array(hostileText, {maxLength: 2})),
      {maxKeys: 3},
    )
    .map((values) =>
      Buffer.from(
        Object.entries(values)
          .map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`)
          .join('\n'),
      ),
    ),
  {weight: 1, arbitrary: fc.uint8Array({maxLength: 100}).map((b) => Buffer.from(b))},
)

interface Scenario {
  command: string
  flags: [string, string | undefined][]
  extra: string[]
  args: string[]
  registry: number
  env: [string, string][]
  config?: Buffer
  importDoc: Buffer
  recordDoc: Buffer
}

function scenarioOf(command: string): fc.Arbitrary<Scenario> {
  const flags = Object.values(manifest.commands[command]!.flags).filter((f) => !FIXED_FLAGS.has(f.name))
  const value = fc.oneof(plausible, hostileText)
  const flag =
    flags.length === 0
      ? fc.constant<[string, string | undefined]>(['json', undefined])
      : fc
          .constantFrom(...flags)
          .chain((f) =>
            f.type === 'boolean'
              ? fc.constant<[string, string | undefined]>([f.name, undefined])
              : (REGEX_FLAGS.has(f.name) ? regexValue : value).map((v): [string, string | undefined] => [f.name, v]),
          )
  return fc.record({
    command: fc.constant(command),
    flags: fc.array(flag, {maxLength: 4}),
    extra: fc.oneof(
      {weight: 4, arbitrary: fc.constant<string[]>([])},
      {
        weight: 1,
        arbitrary: fc.array(fc.oneof(hostileText, fc.constantFrom('--json', '--no-such-flag', '-z', '--', '--help')), {
          minLength: 1,
          maxLength: 3,
        }),
      },
    ),
    /** Positional arguments the command declares, mostly plausible. */
    args: fc.array(fc.oneof({weight: 3, arbitrary: plausible}, {weight: 1, arbitrary: hostileText}), {
      minLength: argCount(command),
      maxLength: argCount(command),
    }),
    registry: fc.nat({max: 9}),
    env: fc.array(
      fc.tuple(
        fc.constantFrom(...envFlagNames).map((n) => `ROSTER_${n.toUpperCase().replace(/-/g, '_')}`),
        fc.oneof({weight: 2, arbitrary: plausible}, {weight: 1, arbitrary: hostileText}),
      ),
      {maxLength: 2},
    ),
    config: fc.option(configText, {nil: undefined, freq: 4}),
    importDoc: documentOf(entry),
    recordDoc: documentOf(record),
  })
}

/** argv for a scenario: the fixed, loopback-only context, then the fuzzed flags and arguments. */
function argvOf(s: Scenario): string[] {
  const argv = s.command.split(':')
  // service import and dns sync read the fuzzed files; other commands take the fuzzed arguments.
  if (s.command !== 'service:import') argv.push(...s.args)
  // Mostly the real registry; sometimes a closed loopback etcd or serve, or a missing directory.
  const registry =
    s.registry < 7
      ? `sqlite:${registryFile}`
      : s.registry === 7
        ? `etcd://127.0.0.1:${closedPort}`
        : s.registry === 8
          ? `http://127.0.0.1:${closedPort}`
          : `sqlite:${path.join(home, 'missing', 'r.db')}`
  if ('registry' in manifest.commands[s.command]!.flags) argv.push('--registry', registry)
  if (s.command === 'service:import') argv.push(importFile)
  if (s.command === 'dns:sync')
    argv.push('--once', '--source', 'file', '--file', recordFile, '--provider', 'zonefile', '--zone-file', zoneFile)
  if (s.command === 'node-status') argv.push('--kubeconfig', path.join(home, 'kubeconfig'))
  if (s.command === 'sd:export') argv.push('--dir', home, '--once')
  // Continuous by default: one list and one reconcile, against the closed cluster port.
  if (s.command === 'kube:discover') argv.push('--once', '--kubeconfig', path.join(home, 'kubeconfig'))
  for (const [name, value] of s.flags) argv.push(`--${name}`, ...(value === undefined ? [] : [value]))
  return [...argv, ...s.extra]
}

function checkContract(s: Scenario, argv: string[], r: CliResult, before: string): void {
  const what = `roster ${JSON.stringify(argv)} env ${JSON.stringify(s.env)} config ${s.config ? JSON.stringify(s.config.toString('latin1')) : '-'}: exit ${r.code}, stderr ${JSON.stringify(r.stderr.slice(0, 600))}`
  assert.ok(DOCUMENTED.has(r.code), `exit code not documented: ${what}`)
  assert.doesNotMatch(r.stderr, /^\s+at /m, `stack on stderr: ${what}`)
  if (r.code !== 0 && r.code !== 8) {
    const lines = r.stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('roster: warning:'))
    // --json puts the error on stdout; otherwise the error is exactly one line on stderr.
    if (!argv.includes('--json')) assert.equal(lines.length, 1, `not one line: ${what}`)
    assert.equal(sha(registryFile), before, `registry changed by a refused command: ${what}`)
  }
}

before(async () => {
  closedPort = await freePort()
  writeFileSync(zoneFile, ZONE_TEXT)
  writeFileSync(
    path.join(home, 'kubeconfig'),
    `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:${closedPort}"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n`,
  )
  const r = await runCli(
    ['service', 'register', 'web', '-e', 'http://127.0.0.1:9100/metrics', '--registry', `sqlite:${registryFile}`, '-l', 'team=a'],
    {env},
  )
  assert.equal(r.code, 0, r.stderr)
})

it(
  `the CLI keeps its contract under fuzzed argv, env, config, import and record files (seed ${FUZZ.seed}, ${FUZZ.bound})`,
  // A run takes well under a second; the timeout is for a run that never ends.
  {timeout: FUZZ.timeoutMs},
  async (t) => {
    t.diagnostic(`faults-fuzz: seed ${FUZZ.seed} (replay: ROSTER_FUZZ_SEED=${FUZZ.seed}), ${FUZZ.bound}`)
    let runs = 0
    const codes = new Map<number, number>()
    /** The registry's hash as the last scenario left it: only a command that succeeded may have changed it. */
    let current = sha(registryFile)
    const out = await fc.check(
      fc.asyncProperty(roundOf(commandIds, scenarioOf), async (round) => {
        for (const s of round) await runScenario(s)
      }),
      FUZZ.parameters(commandIds.length) as fc.Parameters<[Scenario[]]>,
    )
    assertNoCounterexample(out, FUZZ, 'contract broken')
    t.diagnostic(`faults-fuzz: ${runs} scenarios, exit codes ${JSON.stringify(Object.fromEntries([...codes].sort((a, b) => a[0] - b[0])))}`)

    async function runScenario(s: Scenario): Promise<void> {
      runs++
      // Each file is written for the command that reads it (argvOf): rewriting a file waits on the disk.
      if (s.command === 'service:import') writeFileSync(importFile, s.importDoc)
      if (s.command === 'dns:sync') {
        writeFileSync(recordFile, s.recordDoc)
        writeFileSync(zoneFile, ZONE_TEXT)
      }
      const runEnv: Record<string, string | undefined> = {...env}
      for (const [name, value] of s.env) runEnv[name] = value.replace(/\0/g, '')
      if (s.config) {
        writeFileSync(configFile, s.config)
        runEnv.ROSTER_CONFIG = configFile
      }
      const argv = argvOf(s)
      const before = current
      // ROSTER_FUZZ_LOG=FILE: each scenario before it runs, to find one that hangs the process.
      if (process.env.ROSTER_FUZZ_LOG) {
        writeFileSync(process.env.ROSTER_FUZZ_LOG, JSON.stringify({argv, env: s.env, config: s.config?.toString('latin1')}) + '\n', {
          flag: 'a',
        })
      }
      const r = await runCli(argv, {env: runEnv, timeoutMs: 60_000})
      codes.set(r.code, (codes.get(r.code) ?? 0) + 1)
      checkContract(s, argv, r, before)
      if (r.code === 0 || r.code === 8) current = sha(registryFile)
    }
  },
)
