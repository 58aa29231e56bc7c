// Prints the sample /etc/roster/config.yaml the .deb ships: every key a config file may hold (the
// flag names of every command, from oclif.manifest.json), commented out, with its description,
// default and the commands that take it. Generated at package time so that it never falls behind
// the commands. Usage: node scripts/package-config.mjs [oclif.manifest.json] > config.yaml
import {readFileSync} from 'node:fs'

/** Flags that never come from a config file (src/command/base-command.ts: NOT_LAYERED). */
const NOT_LAYERED = new Set(['json', 'help', 'config'])
const SECRET = /(password|secret|api-key|token)$/

const manifest = JSON.parse(readFileSync(process.argv[2] ?? 'oclif.manifest.json', 'utf8'))
/** name → {flag, commands} */
const keys = new Map()
for (const [id, command] of Object.entries(manifest.commands).sort(([a], [b]) => a.localeCompare(b))) {
  for (const flag of Object.values(command.flags)) {
    if (NOT_LAYERED.has(flag.name)) continue
    const entry = keys.get(flag.name) ?? {flag, commands: []}
    entry.commands.push(id.replaceAll(':', ' '))
    keys.set(flag.name, entry)
  }
}

const groupOf = ({flag, commands}) =>
  flag.helpGroup === 'GLOBAL'
    ? 'every command'
    : flag.helpGroup === 'REGISTRY'
      ? 'the registry (commands that use it)'
      : commands.length > 3
        ? 'list commands'
        : commands.join(', ')
const groups = new Map()
for (const entry of [...keys.values()].sort((a, b) => a.flag.name.localeCompare(b.flag.name))) {
  const group = groupOf(entry)
  groups.set(group, [...(groups.get(group) ?? []), entry])
}
const order = (g) => (g === 'every command' ? 0 : g.startsWith('the registry') ? 1 : g === 'list commands' ? 2 : 3)

const out = [
  '# /etc/roster/config.yaml: roster configuration for every user of this machine.',
  '#',
  '# A dpkg conffile: upgrades keep your edits. Keys are flag names (camelCase works too), and a key',
  '# applies to every command that has the flag. The first found wins: the flag, the environment',
  "# (ROSTER_<FLAG_NAME>), the project's rc files, ~/.config/roster/config.yaml, this file, the",
  '# default. `roster config show` prints the effective values and where each came from.',
  '#',
  '# This file is readable by every user: keep secrets (etcd-password, pdns-api-key,',
  '# rfc2136-tsig-secret, token) out of it. Give them as keychain: references, in a 0600',
  '# ~/.config/roster/config.yaml, or in a root-only EnvironmentFile of a unit.',
  '#',
  '# Every key, commented out, with its default where it has one:',
]
for (const [group, entries] of [...groups].sort(([a], [b]) => order(a) - order(b) || a.localeCompare(b))) {
  out.push('', `# --- ${group} ---`)
  for (const {flag, commands} of entries) {
    out.push('')
    const notes = []
    if (flag.options) notes.push(`One of: ${flag.options.join(', ')}.`)
    if (flag.multiple) notes.push('A list.')
    if (group === 'list commands') notes.push(`Used by: ${commands.join(', ')}.`)
    if (SECRET.test(flag.name)) notes.push('A secret: not in this file.')
    for (const line of wrap(`${(flag.description ?? '').replace(/\s+/g, ' ').trim()} ${notes.join(' ')}`.trim(), 96)) out.push(`# ${line}`)
    const value =
      flag.default !== undefined
        ? JSON.stringify(flag.default)
        : flag.type === 'boolean'
          ? 'false'
          : flag.multiple
            ? '[]'
            : flag.options
              ? flag.options[0]
              : '""'
    out.push(`#${flag.name}: ${value}`)
  }
}
process.stdout.write(out.join('\n') + '\n')

function wrap(text, width) {
  const lines = []
  let line = ''
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else line = line === '' ? word : `${line} ${word}`
  }
  if (line !== '') lines.push(line)
  return lines
}
