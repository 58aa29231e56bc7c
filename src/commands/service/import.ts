import {readFile} from 'node:fs/promises'
import {Args} from '@oclif/core'

import {RosterCommand, registryFlags} from '../../lib/command/base-command.js'
import {InvalidInputError} from '../../lib/errors.js'
import {type ImportResult, Registry} from '../../lib/registry/registry.js'

export default class ServiceImport extends RosterCommand<typeof ServiceImport> {
  static override description = `Import services from a YAML or JSON file: a list of {name, endpoints (or endpoint), namespace, labels, selector, description}.
All entries are validated first (names, URLs, labels, selectors, namespaces, duplicates). If any entry is invalid, NOTHING is written: every bad entry is reported by its position ("entry 3: endpoint ..."), and the command exits 2. Otherwise every service is written in batched transactions (at most 128 operations each). Importing again updates in place; rerunning finishes an interrupted import.`

  static override examples = ['<%= config.bin %> service import services.yaml', 'cat services.json | <%= config.bin %> service import -']

  static override args = {
    file: Args.string({description: 'YAML or JSON file; "-" reads standard input.', required: true}),
  }

  static override flags = {...registryFlags}

  async run(): Promise<ImportResult> {
    const file = this.args.file
    let text: string
    try {
      text = file === '-' ? await readStdin() : await readFile(file, 'utf8')
    } catch (error) {
      throw InvalidInputError.forField('file', file, `cannot read it (${(error as NodeJS.ErrnoException).code ?? String(error)})`)
    }
    const {parse} = await import('yaml')
    let document: unknown
    try {
      document = parse(text)
    } catch (error) {
      throw InvalidInputError.forField('file', file, `not valid YAML or JSON (${String((error as Error).message).split('\n')[0]})`)
    }
    const registry = new Registry(await this.openStore())
    const result = await registry.importServices(document, `file "${file}"`)
    if (!this.jsonEnabled())
      this.log(`imported ${result.services} services from ${result.entries} entries: ${result.created} created, ${result.updated} updated, ${result.unchanged} unchanged`)
    return result
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}
