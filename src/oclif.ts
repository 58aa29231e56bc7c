// The entry bin/run.js loads: oclif's executor, from the same bundled copy of @oclif/core that
// the commands use (see scripts/bundle.mjs).
import {Config} from '@oclif/core'

// oclif's Config.runCommand calls the command class's static run(argv, config), and Command.run
// passes that loaded Config to Config.load, which builds and loads a new one (~25 ms: every
// plugin's manifest again) so that a command compiled against another copy of @oclif/core gets
// a Config of its own. Every command here uses this same bundled copy, so a Config loaded by it
// is handed back as it is; anything else (a path, options, a foreign Config) loads as before.
const load = Config.load.bind(Config)
Config.load = (async (opts?: Parameters<typeof Config.load>[0]) =>
  opts instanceof Config && loaded.has(opts) ? opts : remember(await load(opts))) as typeof Config.load
const loaded = new WeakSet<Config>()
function remember(config: Config): Config {
  loaded.add(config)
  return config
}

export {execute} from '@oclif/core'
