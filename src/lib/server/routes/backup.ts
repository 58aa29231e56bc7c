/**
 * GET /v1/backup: a backup of the whole registry, for admins, streamed as it is read (the store
 * at one revision: registry/backup/). A client checks each line as it arrives; a backup that
 * fails half-way is cut off without its trailer, which every reader refuses.
 *
 * serve's limits (limits.ts) hold for it as for any route: it counts against the connection
 * limits while it streams (a connection with an answer in flight is not idle, so it is never the
 * one a new connection takes the place of), and Node's headers and request timeouts bound only
 * the request, not how long the answer takes, so a large registry is not cut off.
 *
 * Never with the token signing key: whoever holds it signs tokens of any role, for ever, and
 * nothing revokes that. An admin token is revocable and expires; letting it carry the key away
 * would make one leaked admin token permanent. A backup with secrets is taken where the store is
 * (the SQLite file or etcd's credentials), by whoever may read the key there already.
 */
import {Readable} from 'node:stream'

import {takeBackup} from '../../registry/backup/write-backup.js'
import type {AppContext, ServeApp} from '../app-context.js'
import {adminOnly, withAccess} from '../authorization.js'
import {routes} from '../schemas.js'

export function registerBackupRoute(app: ServeApp, {store, version}: AppContext): void {
  app.get('/v1/backup', withAccess(routes.backup, adminOnly), async (_request, reply) => {
    const backup = await takeBackup(store, {includeSecrets: false, rosterVersion: version})
    // The snapshot is released however the answer ends, also when the client goes away before
    // the stream is first read (its generator then never starts, so its own cleanup never runs):
    // a SQLite snapshot left open would keep the WAL from being checkpointed.
    reply.raw.once('close', () => void backup.close())
    const revision = backup.header.source.revision
    return reply
      .type('application/x-ndjson; charset=utf-8')
      .header('content-disposition', `attachment; filename="roster-backup-${revision}.jsonl"`)
      .header('cache-control', 'no-store')
      .send(Readable.from(backup.chunks))
  })
}
