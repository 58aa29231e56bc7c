// The entry bin/run.js loads: oclif's executor, from the same bundled copy of @oclif/core that
// the commands use (see scripts/bundle.mjs).
export {execute} from '@oclif/core'
