import {Args} from '@oclif/core'

import {RosterCommand, registryFlags} from '../../command/base-command.js'
import {InvalidInputError, firstLineOf} from '../../lib/errors.js'
import type {ImportResult} from '../../lib/registry/registry.js'
import {importSummary} from '../../lib/registry/summaries.js'

export default class ServiceImport extends RosterCommand<typeof ServiceImport> {
  static override description = `Import services from a YAML or JSON file: a list of {name, endpoints (or endpoint), namespace, labels, selector, description}.
All entries are validated first (names, URLs, labels, selectors, namespaces, duplicates). If any entry is invalid, NOTHING is written: every bad entry is reported by its position ("entry 3: endpoint ..."), and the command exits 2. Otherwise every service is written in batched transactions (at most 128 operations each); a large import reads the existing services it writes (with one paginated range, or by key when the namespace holds many more than the import) and skips the unchanged ones. Importing again updates in place; rerunning finishes an interrupted import.
An entry may carry the revision its service is expected at (revision, with one endpoint; 0: not registered yet, as service list -o json shows it): the import is then conditional, at most 100 services written in one transaction, and if one of them moved it exits 6 with nothing written.`

  static override examples = ['<%= config.bin %> service import services.yaml', 'cat services.json | <%= config.bin %> service import -']

  static override args = {
    file: Args.string({description: 'YAML or JSON file; "-" reads standard input.', required: true}),
  }

  static override flags = {...registryFlags}

  async run(): Promise<ImportResult> {
    const file = this.args.file
    // Input limits: size and UTF-8 on the bytes, nesting depth before any parser recurses.
    const {checkNestingDepth, checkTextNestingDepth} = await import('../../lib/text/input-limits.js')
    const {readInputFile, readInputStream} = await import('../../lib/fs/input-file.js')
    const text = file === '-' ? await readInputStream(process.stdin, {field: 'file'}) : await readInputFile(file, {field: 'file'})
    const label = `file ${JSON.stringify(file)}`
    checkTextNestingDepth(text, 'file', label)
    const document = await parseDocument(text, file)
    checkNestingDepth(document, 'file', label)
    const registry = await this.registry()
    const result = await registry.importServices(document, `file "${file}"`)
    if (!this.jsonEnabled()) this.log(importSummary(result))
    return result
  }
}

/**
 * JSON first when the text looks like JSON (JSON.parse reads 10,000 entries in milliseconds, the
 * YAML parser takes most of a second), otherwise (or when JSON.parse refuses it) YAML.
 */
async function parseDocument(text: string, file: string): Promise<unknown> {
  if (/^\s*[[{]/.test(text)) {
    try {
      return JSON.parse(text) as unknown
    } catch {
      // Flow-style YAML ([{name: a}]) or broken JSON: the YAML parser decides and explains.
    }
  }
  const YAML = await import('yaml')
  // Warnings (an unresolved tag, say) are refused like errors, and never printed by the library.
  const invalid = (error: unknown) => InvalidInputError.forField('file', file, `not valid YAML or JSON (${firstLineOf(error)})`)
  const doc = YAML.parseDocument(text, {logLevel: 'silent'})
  const problem = doc.errors[0] ?? doc.warnings[0]
  if (problem) throw invalid(problem)
  try {
    return doc.toJS() as unknown
  } catch (error) {
    throw invalid(error)
  }
}
