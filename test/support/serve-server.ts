/**
 * `roster serve` as a user runs it (the built CLI, `node bin/run.js serve`) on a free loopback
 * port, for the serve tests and benchmarks: waits for its "listening on URL" line, keeps its
 * stderr (to grep for secrets), and stops it with SIGTERM. Tokens are made in-process with the
 * TokenAuthority over the same store. startServeInProcess runs serve() in the test's own process,
 * for tests that ask nothing of the process.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {pathToFileURL} from 'node:url'

import {TokenAuthority} from '../../src/lib/auth/tokens.js'
import {SCHEMA_CODE_FILE} from '../../src/lib/server/schema-compilers.js'
import {openStore} from '../../src/lib/store/open-store.js'
import {BIN, ROOT, isolatedEnv} from './cli.js'

export interface ServeProcess {
  url: string
  child: ChildProcess
  /** Everything the process wrote to stderr so far. */
  stderr(): string
  stdout(): string
  /** The exit code (128 for a signal), once the process has exited. */
  exited: Promise<number>
  /** SIGTERM, then the exit code (or 128+ for a signal). */
  stop(signal?: NodeJS.Signals): Promise<number>
}

export interface StartServeOptions {
  registry: string
  args?: string[]
  env?: Record<string, string | undefined>
  /** Options for node itself, before the CLI (e.g. --cpu-prof, which NODE_OPTIONS does not take). */
  nodeArgs?: string[]
  /** The CLI to run; default this tree's bin/run.js (a benchmark may compare another build). */
  bin?: string
  /** How long to wait for the listening line. Default 90 s (a bound for a loaded machine, not a timing check). */
  startTimeoutMs?: number
}

export function startServe(options: StartServeOptions): Promise<ServeProcess> {
  const env = options.env ?? isolatedEnv()
  // A free loopback port, unless the test names its own address (a redirect URI registered beforehand).
  const listen = options.args?.includes('--listen') ? [] : ['--listen', '127.0.0.1:0']
  const args = [
    ...(options.nodeArgs ?? []),
    options.bin ?? BIN,
    'serve',
    '--registry',
    options.registry,
    ...listen,
    ...(options.args ?? []),
  ]
  const child = spawn(process.execPath, args, {env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe']})
  let err = ''
  let out = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d))
  const exited = new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`roster serve did not start within ${options.startTimeoutMs ?? 90_000} ms: ${err}`))
    }, options.startTimeoutMs ?? 90_000)
    const onData = () => {
      const m = /listening on (\S+)/.exec(err)
      if (!m) return
      clearTimeout(timer)
      child.stderr!.off('data', onData)
      resolve({
        url: m[1]!,
        child,
        exited,
        stderr: () => err,
        stdout: () => out,
        stop: async (signal = 'SIGTERM') => {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal)
          return exited
        },
      })
    }
    child.stderr!.on('data', onData)
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`roster serve exited ${code} before listening: ${err}`))
    })
  })
}

/** A serve in this process (`startServeInProcess`): what a test reads of a `ServeProcess`. */
export interface InProcessServe {
  url: string
  /** Its log lines so far, as `roster serve` writes them to stderr. */
  stderr(): string
  /** Stops it as SIGTERM would (the requests in flight finish), then closes its store; 0 once stopped. */
  stop(): Promise<number>
}

export interface InProcessServeOptions {
  registry: string
  /** Default token; `none` makes every caller admin. */
  auth?: 'token' | 'none'
  /** Default a free loopback port. */
  listen?: string
  tlsCert?: string
  tlsKey?: string
  /** People signing in with a provider, as `--oidc-*` gives them (oidcOptionsOf turns the flags into these). */
  oidc?: import('../../src/lib/auth/oidc-verifier.js').OidcOptions
}

/**
 * The library's serve() (what `roster serve` runs once its flags are parsed, with its default
 * limits) in this process, on a free loopback port: for a test that needs a serve to answer HTTP
 * (and the CLI in remote mode) but asks nothing of its process. The first one in a test file
 * costs about what a process's start-up does (loading and compiling the server); every later one
 * a fraction of it, so it pays where a file starts several. What only the process shows (the
 * listening line on stderr, SIGTERM's drain, exit codes) is startServe's.
 */
export async function startServeInProcess(options: InProcessServeOptions): Promise<InProcessServe> {
  const {serve, openStore: openBuiltStore} = await builtServe()
  const store = await openBuiltStore({registry: options.registry, timeoutMs: 10_000})
  let log = ''
  let stop!: () => void
  const stopped = new Promise<void>((resolve) => (stop = resolve))
  let listening!: (url: string) => void
  const url = new Promise<string>((resolve) => (listening = resolve))
  const running = serve({
    openStore: async () => store,
    listen: options.listen ?? '127.0.0.1:0',
    tlsCert: options.tlsCert,
    tlsKey: options.tlsKey,
    auth: options.auth ?? 'token',
    oidc: options.oidc,
    version: 'test',
    // The routes' validators and serializers made at build time, as `roster serve` passes them.
    schemaCode: path.join(ROOT, SCHEMA_CODE_FILE),
    log: (line) => (log += `roster serve: ${line}\n`),
    stop: stopped,
    onListening: listening,
  })
  const ended = running.then(() => 0)
  const closed = ended.finally(() => store.close())
  // A failure after listening is the test's to see at stop(), not an unhandled rejection before it.
  closed.catch(() => undefined)
  try {
    const started = await Promise.race([url, ended.then(() => Promise.reject(new Error(`serve ended before it listened: ${log}`)))])
    return {
      url: started,
      stderr: () => log,
      stop: async () => {
        stop()
        return closed
      },
    }
  } catch (error) {
    stop()
    await closed.catch(() => undefined)
    throw error
  }
}

interface BuiltServe {
  serve: typeof import('../../src/lib/server/serve.js').serve
  openStore: typeof openStore
}

let built: Promise<BuiltServe> | undefined

/**
 * serve() and openStore() of the built CLI (dist/, what runCli runs), from the chunks the serve
 * command imports: their modules are mostly those runCli has loaded already, where importing
 * src/ would load the server's whole module graph a second time, file by file. Loaded on first
 * use: most files never need the app.
 */
function builtServe(): Promise<BuiltServe> {
  built ??= (async () => {
    const command = readFileSync(path.join(ROOT, 'dist', 'commands', 'serve.js'), 'utf8')
    const chunk = (name: string): string => {
      const m = new RegExp(`import\\("\\.\\./(chunks/${name}-\\w+\\.js)"\\)`).exec(command)
      if (!m) throw new Error(`dist/commands/serve.js imports no ${name} chunk: run npm run build`)
      return pathToFileURL(path.join(ROOT, 'dist', m[1]!)).href
    }
    const [{serve}, {openStore: open}] = (await Promise.all([import(chunk('serve')), import(chunk('open-store'))])) as [
      Pick<BuiltServe, 'serve'>,
      Pick<BuiltServe, 'openStore'>,
    ]
    return {serve, openStore: open}
  })()
  return built
}

/**
 * A serve started afresh in this process (startServeInProcess) over `registry`, for as long as
 * `use` runs. For a test that compares a long-running serve's answers with those of a fresh one
 * after each change, without a process for each comparison.
 */
export async function withFreshServe<T>(registry: string, use: (url: string) => Promise<T>): Promise<T> {
  const fresh = await startServeInProcess({registry})
  try {
    return await use(fresh.url)
  } finally {
    await fresh.stop()
  }
}

/** Issues a token against the registry store directly (as `roster token create` does locally). */
export async function createToken(
  registry: string,
  input: {id: string; role: 'admin' | 'service' | 'read'; namespaces: string[]; expiresIn?: string},
): Promise<string> {
  const store = await openStore({registry, timeoutMs: 10_000})
  try {
    const authority = await TokenAuthority.open(store)
    return (await authority.create(input)).token
  } finally {
    await store.close()
  }
}

/** The stored signing key (a private Ed25519 JWK), to forge tokens with chosen claims in tests. */
export async function signingJwk(registry: string): Promise<Record<string, unknown>> {
  const store = await openStore({registry, timeoutMs: 10_000})
  try {
    const kv = await store.get('auth/signing-key')
    if (!kv) throw new Error('no signing key yet')
    return JSON.parse(kv.value) as Record<string, unknown>
  } finally {
    await store.close()
  }
}

/** A GET/POST with an optional bearer token; the status and the text. */
export async function http(
  url: string,
  options: {method?: string; token?: string; body?: string; headers?: Record<string, string>} = {},
): Promise<{status: number; text: string; json: () => unknown}> {
  const headers: Record<string, string> = {...options.headers}
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
  if (options.body !== undefined) headers['content-type'] ??= 'application/json'
  const response = await fetch(url, {method: options.method ?? 'GET', headers, body: options.body})
  const text = await response.text()
  return {status: response.status, text, json: () => JSON.parse(text) as unknown}
}
