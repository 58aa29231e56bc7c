// Generates static shell completion scripts for roster from oclif.manifest.json and package.json's
// oclif topics: `node scripts/package-completions.mjs bash|zsh [DIR]` prints one (bash: the
// file for /usr/share/bash-completion/completions/roster; zsh: _roster for
// /usr/share/zsh/vendor-completions). Static rather than @oclif/plugin-autocomplete's scripts,
// which call back into the CLI: a TAB then costs a word lookup in the shell, not a Node.js start
// (~100 ms and more), and needs no per-user cache set-up (`roster autocomplete`). They cover
// what the manifest knows: topics, commands, flags, and flag values that are a fixed list.
import {readFileSync} from 'node:fs'
import path from 'node:path'

const shell = process.argv[2]
const root = process.argv[3] ?? '.'
if (shell !== 'bash' && shell !== 'zsh') {
  process.stderr.write('usage: node scripts/package-completions.mjs bash|zsh [PROJECT_DIR]\n')
  process.exit(2)
}
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'))
const manifest = JSON.parse(readFileSync(path.join(root, 'oclif.manifest.json'), 'utf8'))
const bin = pkg.oclif.bin
const topics = pkg.oclif.topics ?? {}

/** Plugin commands (not in roster's manifest) that a user types. */
const commands = {
  ...manifest.commands,
  help: {description: 'Display help for roster.', flags: {}},
  autocomplete: {description: 'Display autocomplete installation instructions.', flags: {}},
}
const firstLine = (text) =>
  String(text ?? '')
    .split('\n')[0]
    .trim()

/** path ('' or 'server' or 'config') → child word → description */
const children = new Map()
for (const [id, command] of Object.entries(commands)) {
  const parts = id.split(':')
  for (let i = 0; i < parts.length; i++) {
    const parent = parts.slice(0, i).join(':')
    const word = parts[i]
    const isLeaf = i === parts.length - 1
    const description = isLeaf ? firstLine(command.description) : firstLine(topics[parts.slice(0, i + 1).join(':')]?.description)
    if (!children.has(parent)) children.set(parent, new Map())
    const map = children.get(parent)
    if (!map.has(word) || !isLeaf) map.set(word, description || map.get(word) || '')
  }
}
const sortedIds = Object.keys(commands).sort()
const help = {name: 'help', type: 'boolean', char: 'h', description: 'Show help.'}
const flagsOf = (id) => [...Object.values(commands[id].flags), help].sort((a, b) => a.name.localeCompare(b.name))

const header = `Generated from oclif.manifest.json by scripts/package-completions.mjs (${bin} ${pkg.version}); do not edit.`
process.stdout.write(shell === 'bash' ? bashScript() : zshScript())

function bashScript() {
  const q = (s) => `'${s.replaceAll("'", "'\\''")}'`
  const lines = [
    `# bash completion for ${bin}. ${header}`,
    '# Static: completing a word runs no Node.js process.',
    'declare -gA _roster_children=(',
    ...[...children].map(([p, map]) => `  [${q(p || '.')}]=${q([...map.keys()].sort().join(' '))}`),
    ')',
    'declare -gA _roster_flags=(',
  ]
  const values = []
  for (const id of sortedIds) {
    const words = []
    for (const flag of flagsOf(id)) {
      words.push(`--${flag.name}`)
      if (flag.allowNo) words.push(`--no-${flag.name}`)
      if (flag.char) words.push(`-${flag.char}`)
      if (flag.type === 'option') {
        const list = (flag.options ?? []).join(' ')
        values.push(`  [${q(`${id} --${flag.name}`)}]=${q(list)}`)
        if (flag.char) values.push(`  [${q(`${id} -${flag.char}`)}]=${q(list)}`)
      }
    }
    lines.push(`  [${q(id)}]=${q(words.join(' '))}`)
  }
  lines.push(')', '# "COMMAND FLAG" for every flag that takes a value: its fixed values, or empty (any value).')
  lines.push('declare -gA _roster_values=(', ...values, ')')
  lines.push('', readFileSync(new URL('../packaging/completion/roster-function.bash', import.meta.url), 'utf8'))
  return lines.join('\n')
}

function zshScript() {
  const q = (s) => `'${s.replaceAll("'", "'\\''")}'`
  const esc = (s) => s.replace(/([\\[\]:])/g, '\\$1')
  const lines = [
    `#compdef ${bin}`,
    `# zsh completion for ${bin}. ${header}`,
    '# Static: completing a word runs no Node.js process.',
    'typeset -gA _roster_children _roster_described',
    '_roster_children=(',
    ...[...children].map(([p, map]) => `  ${q(p)} ${q([...map.keys()].sort().join(' '))}`),
    ')',
    '_roster_described=(',
    ...[...children].map(
      ([p, map]) =>
        `  ${q(p)} ${q(
          [...map]
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([w, d]) => `${w.replaceAll(':', '\\:')}:${d.replaceAll('\n', ' ')}`)
            .join('\n'),
        )}`,
    ),
    ')',
    '',
    '_roster() {',
    "  local p='' w",
    '  local -i i=2',
    '  while (( i < CURRENT )); do',
    '    w=${words[i]}',
    '    if (( ${+_roster_children[$p]} )) && [[ " ${_roster_children[$p]} " == *" $w "* ]]; then',
    '      p=${p:+$p:}$w',
    '      (( i++ ))',
    '    else',
    '      break',
    '    fi',
    '  done',
    '  if (( i == CURRENT )) && (( ${+_roster_children[$p]} )) && [[ ${words[CURRENT]} != -* ]]; then',
    '    local -a items',
    '    items=("${(@f)_roster_described[$p]}")',
    "    _describe -t commands 'roster command' items",
    '    return',
    '  fi',
    '  # From here on, the command word is words[1] for _arguments.',
    '  words=("${(@)words[i-1,-1]}")',
    '  (( CURRENT = CURRENT - i + 2 ))',
    '  case $p in',
  ]
  for (const id of sortedIds) {
    const specs = []
    for (const flag of flagsOf(id)) {
      const desc = `[${esc(firstLine(flag.description))}]`
      const value = flag.type === 'option' ? `:${esc(flag.name)}:${flag.options ? `(${flag.options.join(' ')})` : '_default'}` : ''
      const repeat = flag.type === 'option' && flag.multiple ? '*' : ''
      const long = `--${flag.name}${flag.type === 'option' ? '=' : ''}`
      if (flag.char) {
        const excl = repeat ? '' : `(-${flag.char} --${flag.name})`
        specs.push(`${q(`${excl}${repeat}-${flag.char}${desc}${value}`)}`, `${q(`${excl}${repeat}${long}${desc}${value}`)}`)
      } else {
        specs.push(q(`${repeat}${long}${desc}${value}`))
      }
      if (flag.allowNo) specs.push(q(`--no-${flag.name}[${esc(`Negate --${flag.name}.`)}]`))
    }
    specs.push(q('*: :_default'))
    lines.push(`    (${id}) _arguments -s -S \\`, ...specs.map((s, n) => `      ${s}${n < specs.length - 1 ? ' \\' : ''}`), '      ;;')
  }
  lines.push(
    '    (*) _default ;;',
    '  esac',
    '}',
    '',
    'if [[ $zsh_eval_context[-1] == loadautofunc ]]; then',
    '  _roster "$@"',
    'else',
    '  compdef _roster roster',
    'fi',
    '',
  )
  return lines.join('\n')
}
