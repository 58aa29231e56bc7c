// oclif's executor, from the same bundled copy of @oclif/core that the commands use (see
// scripts/bundle.mjs): bin/run.js runs it from dist/roster.cjs (where useBundledModules hands
// oclif the bundled commands), and the test runner (test/support/cli.ts) loads dist/oclif.js to
// run commands in-process through `runRoster` with the same Config class the commands see.
import {join, relative, sep} from 'node:path'

import {Config, Errors, ModuleLoader, run} from '@oclif/core'

export {Config}

// Whether this process ran a command (not only --version or --help), as seen by the bundled module
// loader below: oclif loads a command's module only to run it. bin/run.js keeps a code cache made
// by a call that ran none only until a call that runs one can replace it.
let commandRan = false
export const ranCommand = (): boolean => commandRan

type LoadedModule = {filePath: string; isESM: boolean; module: unknown}
type CachedCommand = {pluginName?: string; relativePath?: string[]; isESM?: boolean}

/**
 * The single-file bundle (dist/roster.cjs, see scripts/bundle.mjs) holds every command and hook
 * of roster and of its plugins: `modules` maps each one's `PLUGIN/RELATIVE/PATH.js` (as the
 * manifests name it) to its bundled module. oclif's module loader is told to take a module from
 * there instead of importing the file; anything else (a plugin installed later) loads the usual way.
 */
export function useBundledModules(modules: Record<string, () => Promise<unknown>>): void {
  const loader = ModuleLoader as unknown as {
    loadWithData(plugin: {name?: string; root?: string; type?: string}, modulePath: string): Promise<LoadedModule>
    loadWithDataFromManifest(cached: CachedCommand, root: string): Promise<LoadedModule>
  }
  const {loadWithData, loadWithDataFromManifest} = loader
  loader.loadWithDataFromManifest = async (cached, root) => {
    const load = cached.relativePath && modules[`${cached.pluginName}/${cached.relativePath.join('/')}`]
    if (!load) return loadWithDataFromManifest(cached, root)
    commandRan = true
    return {filePath: join(root, ...cached.relativePath!), isESM: cached.isESM ?? true, module: await load()}
  }
  // Hooks: oclif passes the plugin and the hook's absolute path.
  loader.loadWithData = async (plugin, modulePath) => {
    const rel = plugin.type !== undefined && plugin.root ? relative(plugin.root, modulePath) : undefined
    const load = rel && !rel.startsWith('..') ? modules[`${plugin.name}/${rel.split(sep).join('/')}`] : undefined
    if (!load) return loadWithData(plugin, modulePath)
    return {filePath: modulePath, isESM: true, module: await load()}
  }
}

/**
 * Runs roster with `argv` and resolves to the exit code the process must end with. Never calls
 * process.exit: errors are printed (one line, as oclif's handler would, for those that reach
 * here outside a command) and turned into their code, so the caller decides how to exit.
 */
export async function runRoster(argv: string[], config: Config | string): Promise<number> {
  try {
    process.exitCode = undefined
    await run(argv, config)
    // A command that succeeds with a code of its own (dns sync --detailed-exitcode) sets process.exitCode.
    return Number(process.exitCode ?? 0)
  } catch (error) {
    return exitCodeOfRun(error)
  }
}

/** The exit code of an error `run` threw; prints what oclif's handler would print. */
function exitCodeOfRun(error: unknown): number {
  const e = error as (Error & {oclif?: {exit?: number}; skipOclifErrorHandling?: boolean}) | undefined
  if (e instanceof Errors.ExitError) return e.oclif.exit ?? 1
  if (e && !e.skipOclifErrorHandling) {
    const message = (e.message || String(e)).split('\n')[0]?.trim() ?? ''
    process.stderr.write(`roster: ${message}\n`)
  }
  return typeof e?.oclif?.exit === 'number' ? e.oclif.exit : 1
}

/** Resolves when everything written to the stream so far has been handed to the OS. */
function drained(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || !stream.writable) return resolve()
    stream.write('', () => resolve())
  })
}

let epipeInstalled = false

/**
 * What bin/run.js calls. The exit code is set through process.exitCode; the process is ended
 * explicitly only once stdout and stderr have flushed everything (a large --json error to a slow
 * pipe arrives whole), so that a lingering handle (a client's keep-alive socket) cannot keep a
 * failed command alive. A closed stdout (`roster ... | head`) ends the command quietly.
 */
export async function execute(options: {dir: string; args?: string[]}): Promise<void> {
  if (!epipeInstalled) {
    epipeInstalled = true
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(0)
    })
  }
  const code = await runRoster(options.args ?? process.argv.slice(2), options.dir)
  process.exitCode = code
  await Promise.all([drained(process.stdout), drained(process.stderr)])
  if (code !== 0) process.exit(code)
}
