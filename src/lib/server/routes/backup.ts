/**
 * GET /v1/backup: a backup of the whole registry, for admins, streamed as it is read (the store
 * at one revision: registry/backup/). A client checks each line as it arrives; a backup that
 * fails half-way is cut off without its trailer, which every reader refuses.
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
    const revision = backup.header.source.revision
    return reply
      .type('application/x-ndjson; charset=utf-8')
      .header('content-disposition', `attachment; filename="roster-backup-${revision}.jsonl"`)
      .header('cache-control', 'no-store')
      .send(Readable.from(backup.chunks))
  })
}
