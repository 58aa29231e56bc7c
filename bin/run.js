#!/usr/bin/env node
// package.json's "engines" already states the Node.js versions roster runs on; oclif's own
// check at start-up loads semver on every call for nothing.
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1'
const {execute} = await import('../dist/oclif.js')

await execute({dir: import.meta.url})
