/**
 * The order of two command IDs, as `a.localeCompare(b)` gives it, without its cost: the first
 * localeCompare of a process sets up ICU's collator, ~6 ms, and oclif sorts every plugin's
 * commands that way on every call (scripts/bundle.mjs puts this in its place). Command IDs are
 * lowercase letters, digits, `-` and `:`; in the root collation (the one of English and of the
 * C/POSIX locale) those compare one character at a time, in this order, a prefix first. Anything
 * else (other characters, or a locale whose collation may differ) goes to localeCompare itself.
 */
const ORDER = '-:0123456789abcdefghijklmnopqrstuvwxyz'
const SIMPLE_ID = /^[-:0-9a-z]*$/
// The locale ICU takes as the default comes from these variables; a tailored collation (Danish
// "aa", Hungarian "cs", Lithuanian "y"...) may order even these characters differently.
const LOCALE_VARIABLES = ['LC_ALL', 'LC_COLLATE', 'LC_MESSAGES', 'LANG'] as const
const ROOT_COLLATION_LOCALE = /^(|C|POSIX|en([_-][A-Za-z0-9]+)?)(\.[\w-]+)?$/

export function compareCommandIds(a: string, b: string, env: NodeJS.ProcessEnv = process.env): number {
  if (!SIMPLE_ID.test(a) || !SIMPLE_ID.test(b) || !rootCollation(env)) return a.localeCompare(b)
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const d = ORDER.indexOf(a[i]!) - ORDER.indexOf(b[i]!)
    if (d !== 0) return d < 0 ? -1 : 1
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1
}

function rootCollation(env: NodeJS.ProcessEnv): boolean {
  return LOCALE_VARIABLES.every((name) => env[name] === undefined || ROOT_COLLATION_LOCALE.test(env[name]))
}
