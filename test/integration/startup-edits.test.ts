/**
 * roster's edits to third-party code, each observed in the built CLI as a user runs it: the work
 * an edit removes is not done, and what it replaces still works. A test here fails when its edit
 * stops taking effect (a new version that reaches the same work another way), not only when the
 * code it replaces moved, which fails `npm run build`.
 *
 * The edits: in scripts/bundle.mjs, @oclif/core's command sort, its package.json and manifest
 * reads, its plugin lookup and its plugin-name matching, cosmiconfig's reads, the built-ins and
 * packages loaded on first use, better-sqlite3's addon lookup, and @kubernetes/client-node's
 * imports; in src/oclif.ts, oclif's module loader (the commands and hooks come from the bundle);
 * in src/lib/cluster/cluster-client.ts, client-node's applyOptions. etcd3's (scripts/bundle-etcd.mjs)
 * are in etcd-bundle.test.ts. The code cache (bin/run.js) is in startup-code-cache.test.ts.
 */
import assert from 'node:assert/strict'
import {cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {isolatedEnv, processTempDir, ROOT, runBin} from '../support/cli.js'
import {startKubeApiServer, type KubeApiServer} from '../support/kube-api-server.js'
import {makeNode} from '../support/kube-objects.js'
import {observeBin, type Observed} from '../support/observe-bin.js'

type Env = Record<string, string | undefined>

/**
 * The observed runs in one HOME, of one installation's bin: each distinct call (arguments and
 * working directory) runs once, observed, and every test that asserts something of it reads that
 * one run. Unobserved calls first write the code cache (V8 takes it under the observer's coverage
 * too), so every observed call starts as a user's usual call does, with its cache: `seed`'s calls,
 * else the first observed call's own arguments.
 */
class Observations {
  private readonly runs = new Map<string, Promise<Observed>>()
  private warm: Promise<unknown> | undefined

  constructor(
    readonly env: Env,
    private readonly options: {bin?: string; seed?: string[][]} = {},
  ) {}

  /** `roster ...args`, observed once in this HOME; it must exit 0. */
  of(args: string[], cwd?: string): Promise<Observed> {
    const key = JSON.stringify([cwd, args])
    let run = this.runs.get(key)
    if (!run) {
      run = this.warmed(this.options.seed ?? [args]).then(async () => {
        const r = await observeBin(args, {env: this.env, bin: this.options.bin, cwd})
        assert.equal(r.code, 0, `roster ${args.join(' ')}: ${r.stderr}`)
        return r
      })
      this.runs.set(key, run)
    }
    return run
  }

  /** Any other call, observed, after the seed (not kept: for a call that changes the registry or fails). */
  async once(args: string[]): Promise<Observed> {
    await this.warmed(this.options.seed ?? [args])
    return observeBin(args, {env: this.env, bin: this.options.bin})
  }

  private warmed(calls: string[][]): Promise<unknown> {
    this.warm ??= (async () => {
      for (const args of calls) {
        const r = await runBin(args, {env: this.env, bin: this.options.bin})
        assert.equal(r.code, 0, `roster ${args.join(' ')}: ${r.stderr}`)
      }
    })()
    return this.warm
  }
}

/** A fresh HOME whose SQLite registry the seed calls give one server and one service. */
function seeded(bin?: string): Observations {
  // Another installation's cache in its own HOME: in the directory isolatedEnv shares, each build's
  // cache replaces the other's.
  const env = isolatedEnv(bin ? {XDG_CACHE_HOME: undefined} : {})
  env.ROSTER_REGISTRY = `sqlite:${path.join(env.HOME!, 'registry.db')}`
  const seed = [
    ['server', 'register', 'prom-a', '-l', 'dc=a'],
    ['service', 'register', 'node', '-e', 'http://127.0.0.1:9100/metrics'],
  ]
  return new Observations(env, {bin, seed})
}

/** The repository's bin in one seeded HOME, shared by the tests below that need nothing else. */
const repository = seeded()

const COMMANDS = [['--version'], ['server', 'list'], ['service', 'list', '-o', 'json']]

describe("@oclif/core's start-up, as edited in the bundle", () => {
  it('sorts the commands without localeCompare (no ICU collator is set up)', async () => {
    for (const args of COMMANDS) assert.equal((await repository.of(args)).localeCompare, 0, args.join(' '))
  })

  it('reads package.json files and manifests synchronously', async () => {
    for (const args of COMMANDS) {
      const r = await repository.of(args)
      assert.deepEqual(r.asyncFs, [], args.join(' '))
      for (const file of [
        path.join(ROOT, 'oclif.manifest.json'),
        path.join(ROOT, 'node_modules', '@oclif', 'plugin-help', 'package.json'),
        path.join(ROOT, 'node_modules', '@oclif', 'plugin-autocomplete', 'oclif.manifest.json'),
      ]) {
        assert.ok(r.syncReads.includes(file), `${args.join(' ')} did not read ${file}: ${r.syncReads.join(', ')}`)
      }
    }
  })

  it("finds its plugins in the root's node_modules without require.resolve", async () => {
    for (const args of COMMANDS) {
      const r = await repository.of(args)
      assert.deepEqual(
        r.resolved.filter((request) => request.includes('@oclif/')),
        [],
        args.join(' '),
      )
    }
  })

  it('matches plugin names without minimatch', async () => {
    for (const args of COMMANDS) {
      // minimatch() checks every pattern with assertValidPattern first.
      assert.equal((await repository.of(args)).calls('throw new TypeError("pattern is too long")'), 0, args.join(' '))
    }
  })

  it('loads the built-ins and packages that only rare paths use on first use, and they work there', async () => {
    for (const args of COMMANDS) {
      const r = await repository.of(args)
      for (const builtin of ['child_process', 'readline', 'perf_hooks', 'crypto', 'fs/promises'])
        assert.ok(!r.builtins.includes(builtin), `${args.join(' ')} loaded ${builtin}`)
      // The top level of tinyglobby (a regular expression it defines there) and of lilconfig (its loaders).
      assert.equal(r.calls(String.raw`/^(\/?\.\.)+$/`), 0, `${args.join(' ')} loaded tinyglobby`)
      const lilconfig = /Object\.freeze\(\{"\.js":[\w$]+,"\.json":[\w$]+,"\.cjs":[\w$]+,noExt:/.exec(
        readFileSync(path.join(ROOT, 'dist', 'roster.cjs'), 'latin1'),
      )
      assert.ok(lilconfig, "lilconfig's loaders are not in the bundle as expected: the test needs another needle")
      assert.equal(r.calls(lilconfig[0]), 0, `${args.join(' ')} loaded lilconfig`)
    }
    // A built-in loaded on first use, used: a service is given to its servers by rendezvous scores (crypto.hash).
    const register = await repository.once(['service', 'register', 'web', '-e', 'http://127.0.0.1:9200/metrics', '--json'])
    assert.equal(register.code, 0, register.stderr)
    assert.ok(register.builtins.includes('crypto'), register.builtins.join(', '))
    assert.deepEqual((JSON.parse(register.stdout) as {services: {servers: string[]}[]}).services[0]?.servers, ['prom-a'])
  })
})

describe("cosmiconfig's search, as edited in the bundle", () => {
  it("reads the project's rc files synchronously, and their settings apply", async () => {
    const project = processTempDir('roster-project-')
    writeFileSync(path.join(project, 'package.json'), '{"name": "a-project"}\n')
    mkdirSync(path.join(project, 'deep', 'er'), {recursive: true})
    writeFileSync(path.join(project, '.rosterrc.yaml'), 'output: json\n')
    const r = await repository.of(['server', 'list'], path.join(project, 'deep', 'er'))
    assert.deepEqual(r.asyncFs, [])
    assert.ok(r.syncReads.includes(path.join(project, '.rosterrc.yaml')), r.syncReads.join(', '))
    assert.deepEqual(
      (JSON.parse(r.stdout) as {name: string}[]).map((s) => s.name),
      ['prom-a'],
    )
  })
})

describe("better-sqlite3's addon, as the bundle loads it", () => {
  it('comes from its build/Release without the bindings package searching for it', async () => {
    const r = await repository.of(['server', 'list'])
    assert.ok(!r.resolved.includes('bindings'), r.resolved.join(', '))
    assert.ok(
      r.resolved.includes(path.join(ROOT, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node')),
      r.resolved.join(', '),
    )
  })
})

describe("oclif's module loader, as src/oclif.ts sets it for the bundle", () => {
  let install: string
  let bundleOnly: Observations

  before(async () => {
    // An installation whose dist/ holds the bundle alone, and whose two plugins have no commands
    // on disk: every command and hook must come from the bundle.
    install = mkdtempSync(path.join(tmpdir(), 'roster-bundle-only-'))
    for (const entry of ['bin', 'package.json', 'oclif.manifest.json'])
      cpSync(path.join(ROOT, entry), path.join(install, entry), {recursive: true})
    mkdirSync(path.join(install, 'dist'))
    cpSync(path.join(ROOT, 'dist', 'roster.cjs'), path.join(install, 'dist', 'roster.cjs'))
    const modules = path.join(install, 'node_modules')
    mkdirSync(path.join(modules, '@oclif'), {recursive: true})
    for (const entry of readdirSync(path.join(ROOT, 'node_modules'))) {
      if (entry !== '@oclif') symlinkSync(path.join(ROOT, 'node_modules', entry), path.join(modules, entry))
    }
    for (const entry of readdirSync(path.join(ROOT, 'node_modules', '@oclif'))) {
      const from = path.join(ROOT, 'node_modules', '@oclif', entry)
      if (!entry.startsWith('plugin-')) {
        symlinkSync(from, path.join(modules, '@oclif', entry))
        continue
      }
      cpSync(from, path.join(modules, '@oclif', entry), {recursive: true, dereference: true})
      rmSync(path.join(modules, '@oclif', entry, 'lib', 'commands'), {recursive: true, force: true})
    }
    bundleOnly = seeded(path.join(install, 'bin', 'run.js'))
  })
  after(() => rmSync(install, {recursive: true, force: true}))

  it("runs roster's commands, its plugins' commands and its hook from the bundle", async () => {
    const list = await bundleOnly.of(['server', 'list', '-o', 'json'])
    assert.deepEqual(
      (JSON.parse(list.stdout) as {name: string}[]).map((s) => s.name),
      ['prom-a'],
    )
    assert.match((await bundleOnly.of(['help', 'server', 'list'])).stdout, /List the scrape servers/)
    assert.match((await bundleOnly.of(['autocomplete', 'script', 'bash'])).stdout, /roster/)
    // command_not_found (dist/hooks/command-not-found.js, not on disk here) suggests the command.
    const typo = await bundleOnly.once(['server', 'lst'])
    assert.equal(typo.code, 2, typo.stderr)
    assert.match(typo.stderr, /server list/)
  })
})

describe('@kubernetes/client-node, as the bundle carries it and cluster-client.ts uses it', () => {
  let api: KubeApiServer
  before(async () => {
    api = await startKubeApiServer({nodes: [makeNode({name: 'n1', roles: ['worker']})]})
  })
  after(async () => {
    await api?.stop()
  })

  it('leaves out its generated API, proxy agents and node-fetch', () => {
    const dist = [
      path.join(ROOT, 'dist', 'roster.cjs'),
      ...readdirSync(path.join(ROOT, 'dist', 'chunks')).map((f) => path.join(ROOT, 'dist', 'chunks', f)),
    ]
    const built = dist.map((f) => readFileSync(f, 'utf8')).join('\n')
    const modules = path.join(ROOT, 'node_modules')
    for (const [file, needle] of [
      ['@kubernetes/client-node/dist/gen/index.js', 'CoreV1Api'],
      ['hpagent/index.js', 'Bad response'],
      ['socks-proxy-agent/dist/index.js', 'socks4a'],
      ['node-fetch/lib/index.js', 'FetchError'],
    ] as const) {
      assert.ok(
        readFileSync(path.join(modules, file), 'utf8').includes(needle),
        `${file} no longer holds ${needle}: the test needs another needle`,
      )
      assert.ok(!built.includes(needle), `${file} is in the built CLI`)
    }
  })

  it('authenticates node-status with the kubeconfig user (its applyOptions), without loading undici or openid-client', async () => {
    const cluster = new Observations(isolatedEnv())
    for (const [auth, user] of [
      ['token', 'admin'],
      ['cert', 'carol'],
    ] as const) {
      const before = api.requests.length
      const r = await cluster.of(['node-status', '--kubeconfig', api.kubeconfigPath({auth, user})])
      assert.match(r.stdout, /1\/1 nodes ready/)
      const users = api.requests.slice(before).map((q) => q.user)
      assert.ok(users.length > 0 && users.every((u) => u === user), `${auth}: the API server saw ${users.join(', ')}`)
      assert.ok(!r.builtins.some((b) => b.includes('undici')), `${auth}: undici was loaded`)
      assert.equal(r.calls('"oauth4webapi/v'), 0, `${auth}: openid-client was loaded`)
    }
  })
})
