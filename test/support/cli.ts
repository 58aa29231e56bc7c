/**
 * Runs roster as a user would, with an isolated HOME and XDG dirs.
 *
 * `runCli` runs the built CLI (dist/, what bin/run.js loads) in this process: oclif's Config is
 * loaded once per test file, the command runs with the argv, its stdout and stderr are captured,
 * and the exit code is the one bin/run.js would exit with (error classes' exitCode, parse errors
 * 2). Per call, the environment, the working directory, stdin and whether each stream is a
 * terminal are those of the call and are restored after it, so calls run one at a time (a queue).
 *
 * `startCli` starts such a run and returns at once, for a command read or stopped while it runs.
 *
 * `runBin` spawns `node bin/run.js` for what only a process shows: the exit status end to end,
 * signals, pipes, NODE_OPTIONS, and many commands at once. `runBinAs` spawns it as another user
 * (root ignores file modes, so permission cases run as `nobody`), from a copy that user can read;
 * `runCliAs` runs many commands as another user in one such process, each as `runCli` does.
 */
import {spawn} from 'node:child_process'
import {
  chmodSync,
  copyFileSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {Readable} from 'node:stream'
import {fileURLToPath, pathToFileURL} from 'node:url'

/**
 * The repository: the real directory of the package.json two levels up, also when this file runs
 * from npm test's compiled copy (.test-build, whose package.json links to the repository's).
 */
export const ROOT = path.dirname(realpathSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'package.json')))
export const BIN = path.join(ROOT, 'bin', 'run.js')

export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

export interface CliOptions {
  env?: Record<string, string | undefined>
  cwd?: string
  /** Standard input: text, or bytes (which need not be UTF-8). */
  input?: string | Uint8Array
  timeoutMs?: number
  /** runBin only: another bin/run.js (that of a copy of the installation). */
  bin?: string
  /** In-process only: which streams are terminals (all three with `true`). Default: none, as under a pipe. */
  tty?: boolean | {stdin?: boolean; stdout?: boolean; stderr?: boolean}
}

/**
 * A fresh HOME with XDG dirs under it, so no user or project config leaks into a test. The cache
 * directory (XDG_CACHE_HOME, where bin/run.js keeps its code cache) is the tests' shared one
 * (`TEST_CACHE_VARIABLE`): a user's calls after their first find the cache written, and so do the
 * bin's calls here, where a call in a fresh cache would compile the whole bundle again. The cache
 * itself is tested in startup-code-cache.test.ts, in caches of its own (pass XDG_CACHE_HOME:
 * undefined for $HOME/.cache).
 */
export function isolatedEnv(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  const home = processTempDir('roster-home-')
  const env: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    XDG_DATA_HOME: path.join(home, '.local', 'share'),
    XDG_CACHE_HOME: sharedCacheHome(),
    LANG: 'C.UTF-8',
  }
  return {...env, ...extra}
}

/**
 * The tests' cache directory, one for the whole run: scripts/run-tests.mjs makes it, names it in
 * this variable for every file's process, and removes it at the end. bin/run.js keys its cache by
 * the build and Node and writes it whole (write, then rename), so concurrent files share it safely.
 * A file run on its own (`node --test x.test.ts`) makes one for its process.
 */
export const TEST_CACHE_VARIABLE = 'ROSTER_TEST_CACHE_HOME'

let cacheHome: string | undefined

function sharedCacheHome(): string {
  cacheHome ??= process.env[TEST_CACHE_VARIABLE]
  cacheHome ??= processTempDir('roster-cache-')
  return cacheHome
}

const processTempDirs: string[] = []

/** A fresh directory in the temporary directory, removed (with what is in it) when this process exits. */
export function processTempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix))
  if (processTempDirs.length === 0)
    process.once('exit', () => {
      for (const made of processTempDirs) rmSync(made, {recursive: true, force: true})
    })
  processTempDirs.push(dir)
  return dir
}

interface LoadedConfig {
  getPluginsList(): {commands: {id: string; aliases?: string[]}[]}[]
}

interface RosterEntry {
  Config: {load(root: string): Promise<LoadedConfig>}
  runRoster(argv: string[], config: unknown): Promise<number>
}

interface Loaded {
  entry: RosterEntry
  config: LoadedConfig
  /** Puts back what a run changed in the commands every run shares. */
  restoreCommands(): void
}

let loaded: Promise<Loaded> | undefined

function loadRoster(): Promise<Loaded> {
  loaded ??= (async () => {
    const entry = (await import(pathToFileURL(path.join(ROOT, 'dist', 'oclif.js')).href)) as RosterEntry
    const config = await entry.Config.load(ROOT)
    // Every run builds its Config from these plugins and their command objects, and oclif's help
    // writes the ids it prints into them ("server:list" becomes "server list"): a process ends after
    // its help, but here the next run would find no "server:list" and exit 2 (unknown command).
    const commands = config.getPluginsList().flatMap((plugin) => plugin.commands)
    const ids = commands.map((command) => ({command, id: command.id, aliases: command.aliases}))
    const restoreCommands = (): void => {
      for (const {command, id, aliases} of ids) {
        command.id = id
        if (aliases) command.aliases = aliases
      }
    }
    return {entry, config, restoreCommands}
  })()
  return loaded
}

let queue: Promise<unknown> = Promise.resolve()

/** A run in this process once the runs queued before it have ended. */
function enqueue(args: string[], options: CliOptions, watch?: Watch): Promise<CliResult> {
  const running = queue.then(() => runInProcess(args, options, watch))
  queue = running.catch(() => undefined)
  return running
}

/** Runs `roster ...args` in this process (see the file comment); calls queue up. */
export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const running = enqueue(args, options)
  if (!options.timeoutMs) return running
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`roster ${args.join(' ')}: no exit within ${options.timeoutMs} ms`)), options.timeoutMs)
  })
  return Promise.race([running, timedOut]).finally(() => clearTimeout(timer))
}

/** A command running in this process (`startCli`), read while it runs. */
export interface RunningCli {
  stdout(): string
  stderr(): string
  /** The exit code, once it has exited. */
  exited: Promise<number>
  /** The whole result, once it has exited. */
  done: Promise<CliResult>
  /** Resolves with the first match of `pattern` in stderr (or stdout with `stream`); rejects when the command exits first. */
  waitFor(pattern: RegExp, options?: {stream?: 'stdout' | 'stderr'; timeoutMs?: number}): Promise<RegExpExecArray>
  /**
   * Delivers `signal` (SIGTERM) to the handlers the command installed, as the signal would (one
   * that installed none runs on to its end); resolves with its exit code.
   */
  stop(signal?: NodeJS.Signals): Promise<number>
}

/**
 * Runs `roster ...args` in this process as `runCli` does, but returns at once: for a command the
 * test reads or stops while it runs (a login printing its URL, a follow). Other `runCli` calls wait
 * until it exits. `stop` calls the signal handlers the command added (a process's SIGTERM or
 * SIGINT would call them), never those of the test process.
 */
export function startCli(args: string[], options: CliOptions = {}): RunningCli {
  let out = ''
  let err = ''
  let done = false
  let before: Map<NodeJS.Signals, unknown[]> | undefined
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP']
  const watch: Watch = {
    onStart: () => (before = new Map(signals.map((signal) => [signal, process.listeners(signal)]))),
    onOutput: (stdout, stderr) => {
      out = stdout
      err = stderr
    },
  }
  const finished = enqueue(args, options, watch).finally(() => (done = true))
  const exited = finished.then((r) => r.code)
  return {
    stdout: () => out,
    stderr: () => err,
    exited,
    done: finished,
    async waitFor(pattern, {stream = 'stderr', timeoutMs = 120_000} = {}) {
      // Imported here: runCliAs's copy of this file runs alone, without its neighbours.
      const {until} = await import('./until.js')
      const found = await until(
        `roster ${args.join(' ')} printing ${pattern}`,
        () => pattern.exec(stream === 'stderr' ? err : out) ?? (done ? 'exited' : undefined),
        {timeoutMs, describe: () => `${out}\n${err}`},
      )
      if (found === 'exited') throw new Error(`roster ${args.join(' ')} exited before printing ${pattern}:\n${out}\n${err}`)
      return found
    },
    async stop(signal = 'SIGTERM') {
      if (!done && before) {
        const theirs = process.listeners(signal).filter((listener) => !before!.get(signal)?.includes(listener))
        for (const listener of theirs) (listener as (signal: NodeJS.Signals) => void)(signal)
      }
      return exited
    },
  }
}

type Writer = NodeJS.WriteStream['write']

/** What startCli watches of a run: its output as it comes, and the moment it starts. */
interface Watch {
  onStart(): void
  onOutput(stdout: string, stderr: string): void
}

async function runInProcess(args: string[], options: CliOptions, watch?: Watch): Promise<CliResult> {
  const {entry, config, restoreCommands} = await loadRoster()
  const env = options.env ?? isolatedEnv()
  const tty = typeof options.tty === 'object' ? options.tty : {stdin: options.tty, stdout: options.tty, stderr: options.tty}

  const savedEnv = {...process.env}
  const savedCwd = process.cwd()
  const savedExitCode = process.exitCode
  const stdinDescriptor = Object.getOwnPropertyDescriptor(process, 'stdin')
  const saved = {
    stdoutWrite: process.stdout.write,
    stderrWrite: process.stderr.write,
    stdoutTTY: Object.getOwnPropertyDescriptor(process.stdout, 'isTTY'),
    stderrTTY: Object.getOwnPropertyDescriptor(process.stderr, 'isTTY'),
  }
  let stdout = ''
  let stderr = ''
  // node:test's child process reports its events on stdout, v8-serialized (0xFF 0x0F, never
  // UTF-8 text): those go on to the real stream while the command's own output is captured.
  const capture = (append: (text: string) => void, original: Writer, stream: NodeJS.WriteStream): Writer =>
    function (this: unknown, chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
      if (chunk instanceof Uint8Array && chunk[0] === 0xff && chunk[1] === 0x0f) {
        return (original as (...a: unknown[]) => boolean).call(stream, chunk, encoding, callback)
      }
      const done = typeof encoding === 'function' ? encoding : callback
      append(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'))
      if (typeof done === 'function') process.nextTick(done as () => void)
      return true
    } as Writer

  try {
    for (const key of Object.keys(process.env)) delete process.env[key]
    for (const [key, value] of Object.entries(env)) if (value !== undefined) process.env[key] = value
    process.chdir(options.cwd ?? env.HOME ?? ROOT)
    const stdin = Readable.from(options.input === undefined || options.input.length === 0 ? [] : [Buffer.from(options.input)])
    Object.assign(stdin, {isTTY: tty.stdin ? true : undefined, fd: 0})
    Object.defineProperty(process, 'stdin', {value: stdin, configurable: true, enumerable: true, writable: true})
    Object.defineProperty(process.stdout, 'isTTY', {value: tty.stdout ? true : undefined, configurable: true, writable: true})
    Object.defineProperty(process.stderr, 'isTTY', {value: tty.stderr ? true : undefined, configurable: true, writable: true})
    process.stdout.write = capture((text) => ((stdout += text), watch?.onOutput(stdout, stderr)), saved.stdoutWrite, process.stdout)
    process.stderr.write = capture((text) => ((stderr += text), watch?.onOutput(stdout, stderr)), saved.stderrWrite, process.stderr)

    watch?.onStart()
    const code = await entry.runRoster(args, config)
    return {code, stdout, stderr}
  } finally {
    restoreCommands()
    process.stdout.write = saved.stdoutWrite
    process.stderr.write = saved.stderrWrite
    restoreProperty(process.stdout, 'isTTY', saved.stdoutTTY)
    restoreProperty(process.stderr, 'isTTY', saved.stderrTTY)
    restoreProperty(process, 'stdin', stdinDescriptor)
    process.chdir(savedCwd)
    for (const key of Object.keys(process.env)) delete process.env[key]
    Object.assign(process.env, savedEnv)
    process.exitCode = savedExitCode
  }
}

function restoreProperty(target: object, name: string, descriptor: PropertyDescriptor | undefined): void {
  if (descriptor) Object.defineProperty(target, name, descriptor)
  else delete (target as Record<string, unknown>)[name]
}

/** Runs `node bin/run.js ...args` as a child process. */
export function runBin(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const env = options.env ?? isolatedEnv()
  return runProcess(process.execPath, [options.bin ?? BIN, ...args], {...options, env, cwd: options.cwd ?? env.HOME ?? ROOT})
}

/** A user for `runBinAs`: a uid with a passwd entry (os.userInfo() needs one), its group and supplementary groups. */
export interface OtherUser {
  uid: number
  gid: number
  /** Supplementary groups; none by default. */
  groups?: number[]
}

export const NOBODY: OtherUser = {uid: 65534, gid: 65534}

/** The built CLI as another user (setpriv(1) execs it: no process in between), from `installationForOtherUsers()`. */
export function runBinAs(user: OtherUser, args: string[], options: CliOptions = {}): Promise<CliResult> {
  const installed = installationForOtherUsers()
  const groups = user.groups?.length ? `--groups=${user.groups.join(',')}` : '--clear-groups'
  const argv = [`--reuid=${user.uid}`, `--regid=${user.gid}`, groups, '--', installed.node, installed.bin, ...args]
  return runProcess('setpriv', argv, {...options, env: options.env ?? isolatedEnv(), cwd: options.cwd ?? '/'})
}

function runProcess(command: string, argv: string[], options: CliOptions & {cwd: string}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, {cwd: options.cwd, env: options.env as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({code: code ?? (signal ? 128 : 1), stdout, stderr})
    })
    // A command that exits without reading its input (most do) closes the pipe first: EPIPE is then
    // no failure of the run, whose exit code and output tell what happened.
    child.stdin.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') reject(error)
    })
    child.stdin.end(options.input ?? '')
  })
}

/**
 * Runs each of `runs` as `user`, one after another, in one process of its own (this file run as a
 * script from `installationForOtherUsers()`, each command as `runCli` runs it): for many commands
 * where what matters is the user the files are opened as, without a process start for each (about
 * 0.2 s of CPU apiece). Each run's working directory is its `cwd`, else `/`.
 */
export function runCliAs(user: OtherUser, runs: {args: string[]; options?: CliOptions}[]): Promise<CliResult[]> {
  const installed = installationForOtherUsers()
  const batch = runs.map(({args, options = {}}) => ({
    args,
    env: options.env ?? isolatedEnv(),
    cwd: options.cwd ?? '/',
    input: options.input === undefined ? undefined : Buffer.from(options.input).toString('base64'),
    timeoutMs: options.timeoutMs,
  }))
  const groups = user.groups?.length ? `--groups=${user.groups.join(',')}` : '--clear-groups'
  const argv = [`--reuid=${user.uid}`, `--regid=${user.gid}`, groups, '--', installed.node, installed.cli, BATCH_ARGUMENT]
  const timeoutMs = batch.reduce((sum, run) => sum + (run.timeoutMs ?? 60_000), 0)
  return runProcess('setpriv', argv, {
    env: {PATH: process.env.PATH, LANG: 'C.UTF-8'},
    cwd: '/',
    input: JSON.stringify(batch),
    timeoutMs,
  }).then((r) => {
    if (r.code !== 0) throw new Error(`the batch of ${runs.length} commands as uid ${user.uid} exited ${r.code}: ${r.stderr.trim()}`)
    return JSON.parse(r.stdout) as CliResult[]
  })
}

const BATCH_ARGUMENT = '--roster-test-batch'

// As `runCliAs`'s process: the runs (JSON) on stdin, their results (JSON) on stdout.
if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === BATCH_ARGUMENT) {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  const runs = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
    args: string[]
    env: Record<string, string>
    cwd: string
    input?: string
    timeoutMs?: number
  }[]
  const results: CliResult[] = []
  for (const run of runs) {
    const input = run.input === undefined ? undefined : Buffer.from(run.input, 'base64')
    results.push(await runCli(run.args, {env: run.env, cwd: run.cwd, input, timeoutMs: run.timeoutMs}))
  }
  process.stdout.write(JSON.stringify(results), () => process.exit(0))
}

let installation: {root: string; bin: string; node: string; cli: string} | undefined

/**
 * The built CLI where every user can read it: the repository may sit in a directory only its
 * owner may enter (a clone in a `mktemp -d` directory is 0700), and then no other user can load
 * bin/run.js from there. bin/, dist/, node_modules/, package.json and the manifest are linked
 * (or copied, across file systems or when a file is not world-readable) into the tests' cache
 * directory (sharedCacheHome: one per `npm test` run, removed at its end), once for the whole run
 * since linking node_modules is tens of thousands of files; so is Node when its own path is closed
 * to others. Concurrent files each build it aside and rename it into place: the first rename
 * wins, the others use that one. Throws, saying why, when no such place can be made.
 */
export function installationForOtherUsers(): {root: string; bin: string; node: string; cli: string} {
  if (installation) return installation
  const shared = sharedCacheHome()
  // Other users pass through it to the installation (the code cache files in it are the owner's only).
  chmodSync(shared, 0o711)
  const closed = closedAncestor(path.join(shared, 'installed'))
  if (closed) {
    throw new Error(
      `cannot run the CLI as another user: ${closed} (on the way to the temporary directory ${tmpdir()}) is closed to other users; set TMPDIR to a directory they may enter`,
    )
  }
  const final = path.join(shared, 'installed')
  const self = fileURLToPath(import.meta.url)
  const cli = path.join(final, 'test', 'support', path.basename(self))
  let node = process.execPath
  const copyNode = closedAncestor(node) !== undefined || (statSync(node).mode & 0o005) !== 0o005
  if (copyNode) node = path.join(final, 'node')
  if (!existsSync(final)) {
    const root = mkdtempSync(path.join(shared, 'installing-'))
    try {
      buildInstallation(root, self, copyNode)
      renameSync(root, final)
    } catch (error) {
      // Another file's process renamed its own into place first.
      if (!existsSync(final)) throw error
    } finally {
      rmSync(root, {recursive: true, force: true})
    }
  }
  installation = {root: final, bin: path.join(final, 'bin', 'run.js'), node, cli}
  return installation
}

function buildInstallation(root: string, self: string, copyNode: boolean): void {
  chmodSync(root, 0o755)
  for (const name of ['bin', 'dist', 'node_modules', 'package.json', 'oclif.manifest.json']) {
    shareTree(path.join(ROOT, name), path.join(root, name))
  }
  // This file (compiled or not), at the same place, for runCliAs: its ROOT is then the copy.
  const cli = path.join(root, 'test', 'support', path.basename(self))
  mkdirSync(path.dirname(cli), {recursive: true, mode: 0o755})
  for (const dir of [path.join(root, 'test'), path.dirname(cli)]) chmodSync(dir, 0o755)
  shareTree(self, cli)
  if (copyNode) shareTree(process.execPath, path.join(root, 'node'))
}

/** The first directory of `file`'s path that other users may not search (no o+x), or undefined. */
function closedAncestor(file: string): string | undefined {
  for (let dir = path.dirname(path.resolve(file)); ; dir = path.dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return dir
    if (path.dirname(dir) === dir) return undefined
  }
}

/** `from` at `to`, readable by everyone: directories made 0755, files hard-linked when already world-readable, else copied. */
function shareTree(from: string, to: string): void {
  const stat = lstatSync(from)
  if (stat.isSymbolicLink()) {
    symlinkSync(readlinkSync(from), to)
  } else if (stat.isDirectory()) {
    mkdirSync(to, {mode: 0o755})
    chmodSync(to, 0o755)
    for (const name of readdirSync(from)) shareTree(path.join(from, name), path.join(to, name))
  } else if (stat.isFile()) {
    const executable = (stat.mode & 0o100) !== 0
    if ((stat.mode & 0o004) !== 0 && (!executable || (stat.mode & 0o001) !== 0)) {
      try {
        linkSync(from, to)
        return
      } catch {
        // another file system, or links refused: a copy
      }
    }
    copyFileSync(from, to)
    chmodSync(to, executable ? 0o755 : 0o644)
  }
}
