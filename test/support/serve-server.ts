/**
 * `roster serve` as a user runs it (the built CLI, `node bin/run.js serve`) on a free loopback
 * port, for the serve tests and benchmarks: waits for its "listening on URL" line, keeps its
 * stderr (to grep for secrets), and stops it with SIGTERM. Tokens are made in-process with the
 * TokenAuthority over the same store.
 */
import {spawn, type ChildProcess} from 'node:child_process'

import {TokenAuthority} from '../../src/lib/auth/tokens.js'
import {openStore} from '../../src/lib/store/open-store.js'
import {BIN, isolatedEnv} from './cli.js'

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

/**
 * A serve started afresh in this process: the library's serve() (what `roster serve` runs, with
 * its defaults: token auth, default limits) over `registry`, listening on a free loopback port,
 * for as long as `use` runs. For a test that compares a long-running serve's answers with those
 * of a fresh one after each change, without a process for each comparison.
 */
export async function withFreshServe<T>(registry: string, use: (url: string) => Promise<T>): Promise<T> {
  // Loaded here, not at the top: most files that start serve as a process never need the app.
  const {serve} = await import('../../src/lib/server/serve.js')
  const store = await openStore({registry, timeoutMs: 10_000})
  let stop!: () => void
  const stopped = new Promise<void>((resolve) => (stop = resolve))
  let listening!: (url: string) => void
  const url = new Promise<string>((resolve) => (listening = resolve))
  const running = serve({
    openStore: async () => store,
    listen: '127.0.0.1:0',
    auth: 'token',
    version: 'test',
    log: () => undefined,
    stop: stopped,
    onListening: listening,
  })
  try {
    const ended = running.then(() => Promise.reject(new Error('serve ended before it listened')))
    return await use(await Promise.race([url, ended]))
  } finally {
    stop()
    await running
    await store.close()
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
