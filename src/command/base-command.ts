/**
 * The one base command (oclif's base-class pattern): global flags, the flag → environment →
 * config file → default precedence, client construction, output, and a `catch` that turns every
 * error into one line on stderr (or a JSON error under --json) and its documented exit code.
 */
import {Command, Errors, Flags, type Interfaces} from '@oclif/core'

import type {LoadedConfig} from '../lib/config/load-config.js'
import type {Store} from '../lib/store/store.js'
import type {RegistryClient} from '../lib/registry/registry-client.js'
import type {Actor} from '../lib/registry/history/event.js'
import type {RemoteRegistryOptions} from '../lib/registry/remote-registry.js'
import type {TokenClient} from '../lib/auth/token-client.js'
import type {Column} from '../lib/output/print-rows.js'
import {ExitCode, InvalidInputError, RosterError, exitCodeOf} from '../lib/errors.js'
import {parseDuration, timerMs} from '../lib/config/duration.js'
import {checkNoReplacementCharacter} from '../lib/text/input-limits.js'
import {NOT_LAYERED, type FlagSpec, type ValueSource, envNameOf, layeredValue} from '../lib/config/layers.js'
import {isSecretName, scrubSecrets} from '../lib/config/secrets.js'
import {isRemoteRegistry} from '../lib/store/open-store.js'
import {type ParseContext, parseErrorAsInvalidInput} from './parse-error.js'
import {holdsNoKey, registryFileToCreate, removeRegistryFile} from './registry-file.js'
import {watchRemoteCalls} from './remote-calls.js'
import {nameSettings, typedName} from './settings.js'

export type RosterFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof RosterCommand)['baseFlags'] & T['flags']>
export type RosterArgs<T extends typeof Command> = Interfaces.InferredArgs<T['args']>
export {envNameOf, type ValueSource}
export {etcdFlagsFor, registryFlags, storeFlags} from './registry-flags.js'

/** A one-line error message is cut here (the --json error keeps every problem in `problems`). */
const MAX_MESSAGE_CHARS = 2000

/** `-o/--output` and `--no-headers`, for list commands. */
export function outputFlags<F extends string>(formats: readonly F[], defaultFormat?: F) {
  return {
    output: Flags.option({
      char: 'o',
      description: 'Output format.',
      options: formats,
      default: defaultFormat ?? formats[0],
    })(),
    'no-headers': Flags.boolean({description: 'Omit the header line of tables and CSV.'}),
  }
}

export abstract class RosterCommand<T extends typeof Command> extends Command {
  static override enableJsonFlag = true

  static override baseFlags = {
    timeout: Flags.string({
      description: 'Give up on unreachable backends after this long (500ms, 10s, 1m).',
      default: '30s',
      helpGroup: 'GLOBAL',
    }),
    debug: Flags.boolean({description: 'Print stack traces with errors.', helpGroup: 'GLOBAL'}),
    'no-color': Flags.boolean({description: 'Never colour states in tables (also NO_COLOR).', helpGroup: 'GLOBAL'}),
    config: Flags.string({
      description: 'Read only this config file (also ROSTER_CONFIG) instead of searching for one.',
      helpGroup: 'GLOBAL',
    }),
  }

  protected flags!: RosterFlags<T>
  protected args!: RosterArgs<T>
  /** Every argument after the flags, as parsed (all of them for a command with `strict = false`). */
  protected argvParsed: string[] = []
  /** The --timeout flag in milliseconds. */
  protected timeoutMs = 30_000
  /** Effective config: the files read and where each flag's value came from. */
  protected loadedConfig?: LoadedConfig
  protected valueSources = new Map<string, ValueSource>()
  /** Names of this command's flags (global ones included) that take env and file values. */
  protected declaredFlagNames: string[] = []
  private store?: Store
  /** The SQLite file this command's store creates, removed again if the command fails with nothing stored. */
  private newRegistryFile?: string
  /** Stops the progress line and Ctrl-C message of remote calls (src/command/remote-calls.ts). */
  private stopWatchingCalls?: () => void
  /** The stored login's token source (refreshed before it expires), when the token came from roster login. */
  private loginToken?: () => Promise<string | undefined>

  public override async init(): Promise<void> {
    await super.init()
    this.stopWatchingCalls = await watchRemoteCalls({quiet: this.jsonEnabled()})
    const ctor = this.ctor as typeof RosterCommand
    const typedConfig = argvValue(this.argv, 'config')
    const explicitConfig = typedConfig ?? process.env.ROSTER_CONFIG
    // Read before the flags are parsed: an error about the file names --config or ROSTER_CONFIG as typed.
    if (explicitConfig) this.valueSources.set('config', typedConfig === undefined ? 'env ROSTER_CONFIG' : 'flag')
    const {loadConfig} = await import('../lib/config/load-config.js')
    this.loadedConfig = await loadConfig({explicitPath: explicitConfig || undefined})
    const {checkConfigKeys} = await import('../lib/config/layers.js')
    checkConfigKeys(this.loadedConfig, this.knownFlagNames())
    for (const warning of this.loadedConfig.warnings) process.stderr.write(`roster: warning: ${warning}\n`)

    const declared = {...ctor.baseFlags, ...ctor.flags} as Record<string, Interfaces.Flag<unknown>>
    const layered: Record<string, Interfaces.Flag<unknown>> = {}
    for (const [name, def] of Object.entries(declared)) {
      layered[name] = NOT_LAYERED.has(name) ? def : this.layerFlag(name, def)
    }
    const {flags, args, argv} = await this.parse({
      strict: ctor.strict,
      args: ctor.args,
      flags: layered as never,
      baseFlags: {},
      enableJsonFlag: ctor.enableJsonFlag,
      '--': (ctor as unknown as Record<string, unknown>)['--'],
    } as never)
    this.declaredFlagNames = Object.keys(layered).filter((n) => !NOT_LAYERED.has(n))
    // A flag's layered default records where its value came from; a value without a record was typed.
    for (const [name, value] of Object.entries(flags as Record<string, unknown>)) {
      if (value !== undefined && !this.valueSources.has(name)) this.valueSources.set(name, 'flag')
    }
    this.checkUtf8(flags as Record<string, unknown>, args as Record<string, unknown>)
    await this.resolveKeychainReferences(flags as Record<string, unknown>)
    this.flags = flags as RosterFlags<T>
    this.args = args as RosterArgs<T>
    this.argvParsed = (argv as unknown[]).map(String)
    const timeout = (flags as {timeout?: string}).timeout
    if (timeout !== undefined) this.timeoutMs = timerMs(parseDuration(timeout, 'timeout'))
    // roster login: without --token, ROSTER_TOKEN or config token:, a remote command uses the stored login.
    const f = flags as Record<string, unknown>
    const remote = typeof f.registry === 'string' && isRemoteRegistry(f.registry)
    if (remote && 'token' in layered && f.token === undefined && !(ctor as {skipStoredLogin?: boolean}).skipStoredLogin) {
      const {storedLoginToken} = await import('../lib/auth/login-token.js')
      f.token = await storedLoginToken(f.registry, this.timeoutMs)
      if (f.token) this.loginToken = () => storedLoginToken(f.registry, this.timeoutMs)
    }
  }

  /** Every flag name of every command: what a config file may set (a file is shared by all commands). */
  protected knownFlagNames(): Set<string> {
    const names = new Set<string>()
    for (const command of this.config.commands) for (const name of Object.keys(command.flags ?? {})) names.add(name)
    const ctor = this.ctor as typeof RosterCommand
    for (const name of Object.keys({...ctor.baseFlags, ...ctor.flags})) names.add(name)
    return names
  }

  /**
   * Refuses flag and argument values holding U+FFFD: Node decodes argv, the environment and the
   * config file before roster sees them and turns bytes that are not UTF-8 into it.
   * The field is named as the user gave it: --flag, ROSTER_FLAG, or the key in its file.
   */
  private checkUtf8(flags: Record<string, unknown>, args: Record<string, unknown>): void {
    const values = (v: unknown): string[] => (typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((x) => typeof x === 'string') : [])
    for (const [name, value] of Object.entries(flags)) {
      for (const text of values(value)) checkNoReplacementCharacter(typedName(name, this.valueSources.get(name)), text)
    }
    for (const [name, value] of Object.entries(args)) for (const text of values(value)) checkNoReplacementCharacter(name, text)
  }

  /** Replaces `keychain:[ACCOUNT]` values of secret flags by the secret (keytar loads only then). */
  private async resolveKeychainReferences(flags: Record<string, unknown>): Promise<void> {
    for (const [name, value] of Object.entries(flags)) {
      if (!isSecretName(name) || typeof value !== 'string' || !value.startsWith('keychain:')) continue
      if ((this.ctor as {skipKeychain?: boolean}).skipKeychain) continue
      const {keychainAccount, readSecret} = await import('../lib/auth/keychain.js')
      flags[name] = await readSecret(keychainAccount(name, value))
      this.valueSources.set(name, `${this.valueSources.get(name) ?? 'flag'} (keychain)` as ValueSource)
    }
  }

  /** Wraps a flag's default so that the environment, then the config file, come before it (see config/layers.ts). */
  private layerFlag(name: string, def: Interfaces.Flag<unknown>): Interfaces.Flag<unknown> {
    const original = def.default as unknown
    const option = def as Interfaces.OptionFlag<unknown>
    const spec: FlagSpec = {
      kind: def.type === 'boolean' ? 'boolean' : 'option',
      options: option.options,
      multiple: option.multiple,
      delimiter: option.delimiter,
      parse: option.parse ? (text) => Promise.resolve(option.parse(text, this as never, option)) : undefined,
    }
    const defaultFn = async (ctx: {options: unknown; flags: Record<string, unknown>}): Promise<unknown> => {
      const layered = await layeredValue(name, spec, {env: process.env, loaded: this.loadedConfig})
      if (layered) {
        this.valueSources.set(name, layered.source)
        return layered.value
      }
      this.valueSources.set(name, 'default')
      return typeof original === 'function' ? (original as (c: unknown) => unknown)(ctx) : original
    }
    return {...def, default: defaultFn} as Interfaces.Flag<unknown>
  }

  /** The registry store named by the registry flags, opened once and closed when the command ends. */
  protected async openStore(): Promise<Store> {
    if (this.store) return this.store
    const {openStore} = await import('../lib/store/open-store.js')
    const {storeOptionsFromFlags} = await import('./registry-flags.js')
    if (!this.readOnlyStore()) this.newRegistryFile = registryFileToCreate((this.flags as {registry?: string}).registry)
    this.store = await openStore({
      ...storeOptionsFromFlags(this.flags as Record<string, unknown>, this.timeoutMs),
      readOnly: this.readOnlyStore(),
    })
    return this.store
  }

  /**
   * Whether this run only reads the registry: then a SQLite file is opened read-only and never
   * created. `static readOnly = true` on a command class says so; a command that reads or writes
   * by its flags overrides this method.
   */
  protected readOnlyStore(): boolean {
    return (this.ctor as {readOnly?: boolean}).readOnly === true
  }

  /**
   * The registry the registry flags name: local (the registry logic over the store) for sqlite:
   * and etcd://, or the HTTP client of `roster serve` for https:// (http:// on loopback only).
   * Commands hold the RegistryClient interface and never know which. A local registry records
   * its writes as `actor`'s (default: the local user and host); `roster serve` records its caller.
   */
  protected async registry(options: {actor?: Actor} = {}): Promise<RegistryClient> {
    const f = this.flags as Record<string, string | undefined>
    if (isRemoteRegistry(f.registry)) {
      const {openRemoteRegistry} = await import('../lib/registry/remote-registry.js')
      return openRemoteRegistry(this.remoteRegistryOptions())
    }
    const {Registry} = await import('../lib/registry/registry.js')
    return new Registry(await this.openStore(), {actor: options.actor ?? (await this.localActor())})
  }

  /** Who this command's writes to a local registry are recorded as: the Unix user and host. */
  protected async localActor(): Promise<Actor> {
    const {localActor} = await import('../lib/registry/history/actor.js')
    return localActor()
  }

  /** How to reach the https:// registry the registry flags name: its URL, the token (or the login's), the CA. */
  protected remoteRegistryOptions(): RemoteRegistryOptions {
    const f = this.flags as Record<string, string | undefined>
    return {url: f.registry ?? '', token: f.token, tokenProvider: this.loginToken, caFile: f['registry-ca'], timeoutMs: this.timeoutMs}
  }

  /** The token commands' client the registry flags name: local over the store, or remote for https://. */
  protected async tokenClient(): Promise<TokenClient> {
    const f = this.flags as Record<string, string | undefined>
    const {openTokenClient} = await import('../lib/auth/token-client.js')
    return openTokenClient({
      registry: f.registry,
      token: f.token,
      registryCa: f['registry-ca'],
      timeoutMs: this.timeoutMs,
      openStore: () => this.openStore(),
      actor: await this.localActor(),
    })
  }

  /** Prints rows per -o/--output and --no-headers; nothing under --json (run() returns the data). */
  protected async printRows<R>(rows: R[], columns: Column<R>[], data?: unknown): Promise<void> {
    if (this.jsonEnabled()) return
    const f = this.flags as {output?: string; 'no-headers'?: boolean; 'no-color'?: boolean}
    const {formatRows} = await import('../lib/output/print-rows.js')
    const {colourEnabled} = await import('../lib/output/colour.js')
    const tty = Boolean(process.stdout.isTTY)
    const text = await formatRows(rows, columns, {
      format: f.output ?? 'table',
      headers: !f['no-headers'],
      tty,
      data,
      colour: colourEnabled({tty, noColor: f['no-color']}),
    })
    if (text !== '') this.log(text)
  }

  /**
   * Streams rows to stdout as they are read (see formatRowsStream), `pageSize` rows at a time
   * (default: formatRowsStream's), waiting for stdout to drain.
   * Prints under --json too, as JSON: a command that streams returns nothing for oclif to print.
   */
  protected async streamRows<R>(rows: AsyncIterable<R>, columns: Column<R>[], pageSize?: number): Promise<void> {
    const f = this.flags as {output?: string; 'no-headers'?: boolean}
    const format = this.jsonEnabled() ? 'json' : (f.output ?? 'table')
    const {formatRowsStream} = await import('../lib/output/print-rows.js')
    for await (const text of formatRowsStream(rows, columns, {format, headers: !f['no-headers']}, pageSize)) {
      if (!process.stdout.write(text)) await new Promise((resolve) => process.stdout.once('drain', resolve))
    }
  }

  /** Values of secret flags, to scrub from any message. */
  protected secretValues(): string[] {
    const flags = (this.flags ?? {}) as Record<string, unknown>
    return Object.entries(flags)
      .filter(([name, value]) => isSecretName(name) && typeof value === 'string')
      .map(([, value]) => value as string)
  }

  /**
   * A library error as the user should read it: naming the flag, ROSTER_ variable or config key
   * they gave instead of the setting (src/command/settings.ts). For errors a command reports
   * itself (a failed pass of a loop) as well as those that end it.
   */
  protected nameSettings<E>(error: E): E {
    const ctor = this.ctor as typeof RosterCommand
    return nameSettings(error, {
      flags: new Set(Object.keys({...ctor.baseFlags, ...ctor.flags})),
      args: new Set(Object.keys(ctor.args ?? {})),
      sources: this.valueSources,
    })
  }

  protected override async catch(caught: Error & {exitCode?: number}): Promise<unknown> {
    if (caught instanceof Errors.ExitError) throw caught
    const error = this.nameSettings(parseErrorAsInvalidInput(caught, this.parseContext()) ?? caught)
    const exitCode = exitCodeOf(error)
    const debug = this.argv.includes('--debug') || isTruthy(process.env.ROSTER_DEBUG)
    let message = scrubSecrets(this.oneLine(error, exitCode), this.secretValues())
    if (!(error instanceof RosterError) && exitCode === ExitCode.failure && !debug) {
      message += ' (run with --debug for details)'
    }
    if (this.jsonEnabled()) {
      const code = error instanceof RosterError ? error.code : exitCode === ExitCode.invalidInput ? 'invalid_input' : 'failure'
      const field = error instanceof InvalidInputError ? error.field : undefined
      const problems = error instanceof InvalidInputError ? error.problems?.map((p) => scrubSecrets(p, this.secretValues())) : undefined
      this.logJson({error: {code, message, exitCode, ...(field ? {field} : {}), ...(problems ? {problems} : {})}})
    } else {
      process.stderr.write(`roster: ${message}\n`)
    }
    if (debug && error.stack) process.stderr.write(`${scrubSecrets(error.stack, this.secretValues())}\n`)
    this.exit(exitCode)
    return undefined
  }

  /** This command's flags (global ones included) and arguments, and the argv, for parse errors. */
  private parseContext(): ParseContext {
    const ctor = this.ctor as typeof RosterCommand
    return {argv: this.argv, flags: {...ctor.baseFlags, ...ctor.flags}, args: ctor.args ?? {}}
  }

  /**
   * One line: a message's later lines are joined to the first, oclif's "See more help with
   * --help" dropped; a line longer than MAX_MESSAGE_CHARS is cut.
   */
  private oneLine(error: Error, exitCode: number): string {
    const lines = String(error.message || error.name || 'error')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !/^See more help with --help$/.test(l))
    let text = lines.join(' ').replace(/\s+/g, ' ')
    if (exitCode === ExitCode.invalidInput && !(error instanceof RosterError)) text += ' (see --help)'
    if (text.length > MAX_MESSAGE_CHARS) text = `${text.slice(0, MAX_MESSAGE_CHARS)}…(${text.length - MAX_MESSAGE_CHARS} more characters)`
    return text
  }

  protected override async finally(error: Error | undefined): Promise<unknown> {
    this.stopWatchingCalls?.()
    const store = this.store
    this.store = undefined
    const failed = error !== undefined && exitCodeOf(error) !== ExitCode.ok
    const remove = store && failed && this.newRegistryFile ? await holdsNoKey(store).catch(() => false) : false
    if (store) await store.close().catch(() => undefined)
    if (remove && this.newRegistryFile) removeRegistryFile(this.newRegistryFile)
    return super.finally(error)
  }
}

function argvValue(argv: string[], name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? ''
    if (arg === '--') return undefined
    if (arg === `--${name}`) return argv[i + 1]
    if (arg.startsWith(`--${name}=`)) return arg.slice(name.length + 3)
  }
  return undefined
}

function isTruthy(value: string | undefined): boolean {
  return value !== undefined && ['1', 'true', 'yes', 'on'].includes(value.toLowerCase())
}
