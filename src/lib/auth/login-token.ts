/**
 * The base command's hook: a remote command given no token (no token setting, from a flag,
 * ROSTER_TOKEN or the config file) uses the stored `roster login` for its registry, refreshed first when it expires soon.
 * Local registries load nothing more.
 */
export async function storedLoginToken(registry: unknown, timeoutMs: number): Promise<string | undefined> {
  if (typeof registry !== 'string' || !/^https?:\/\//i.test(registry.trim())) return undefined
  const {storedBearer} = await import('./login.js')
  return storedBearer(registry.trim(), timeoutMs)
}
