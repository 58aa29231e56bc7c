/**
 * A backup taken through `roster serve` (GET /v1/backup, admin tokens only): the server reads
 * its store at one revision and streams the file; this side checks every line as it arrives
 * (read-backup.ts), so a stream that breaks off or was damaged never becomes a backup file.
 *
 * The signing key never leaves through the API (see server/routes/backup.ts): a backup with
 * secrets is taken where the store is.
 */
import {type RemoteRegistryOptions, readCa, remoteBaseUrl} from '../remote-registry.js'
import {BackupParser, verifiedChunks} from './read-backup.js'

export interface RemoteBackup {
  /** The file's bytes, checked as they pass; the iteration fails at the first problem or a cut. */
  chunks: AsyncIterable<Buffer>
  /** Holds the header, counts and trailer of what has passed. */
  parser: BackupParser
}

export async function fetchRemoteBackup(options: RemoteRegistryOptions): Promise<RemoteBackup> {
  const base = remoteBaseUrl(options.url)
  const origin = base.origin + base.pathname.replace(/\/+$/, '')
  const ca = options.caFile === undefined ? undefined : readCa(options.caFile)
  const token = (await options.tokenProvider?.()) ?? options.token
  const {JsonHttpClient} = await import('../../http/json-client.js')
  const http = new JsonHttpClient({
    baseUrl: origin,
    what: 'roster serve',
    timeoutMs: options.timeoutMs,
    headers: token ? {authorization: `Bearer ${token}`} : undefined,
    ca,
  })
  const response = await http.stream('/v1/backup', {headers: {accept: 'application/x-ndjson'}})
  const parser = new BackupParser(`the backup from ${origin}`)
  return {chunks: verifiedChunks(response.body, parser), parser}
}
