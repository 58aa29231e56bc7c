// `oclif manifest` writes the commands in the order their files finished loading, which varies
// from run to run; CI compares the committed manifest with a fresh one, so sort it.
import {readFileSync, writeFileSync} from 'node:fs'

const file = 'oclif.manifest.json'
const manifest = JSON.parse(readFileSync(file, 'utf8'))
manifest.commands = Object.fromEntries(Object.entries(manifest.commands).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
writeFileSync(file, `${JSON.stringify(manifest, null, 2)}\n`)
