/** Flags whose values are secrets: never printed, logged or put in an error message. */
const SECRET_NAME = /(password|secret|token|api-key|apikey)$/i

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name)
}

export const REDACTED = '<redacted>'

export function redact(name: string, value: unknown): unknown {
  if (value === undefined || value === null || value === '') return value
  // A keychain reference names where the secret is, not the secret: show it.
  if (typeof value === 'string' && value.startsWith('keychain:')) return value
  return isSecretName(name) ? REDACTED : value
}

/** Removes every known secret value from a text (an error message from a library, say). */
export function scrubSecrets(text: string, secrets: Iterable<string>): string {
  let out = text
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join(REDACTED)
  return out
}
