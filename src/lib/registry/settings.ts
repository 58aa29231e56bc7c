/**
 * The registry-wide settings: `replicas` (changing it changes the topology and so redistributes
 * every service) and `historyRetention` (how long the history keeps events).
 */
import {RETRY} from '../store/cas.js'
import type {RegistryContext} from './context.js'
import {historyOp, settingsChange} from './history/record.js'
import {validateRetention} from './history/retention.js'
import {SETTINGS_KEY} from './keys.js'
import type {RegistrySettings, Revisioned} from './model.js'
import {redistribute} from './redistribution.js'
import {requireRevision, validateRevision, withRevision} from './revisions.js'
import {settingsOf, topologyOp} from './topology.js'
import type {SettingsChangeResult, SettingsUpdate, WriteCondition} from './types.js'
import {validateReplicas} from './validation.js'

/** The settings, with the revision of the `settings` key (0: never changed, the defaults). */
export async function getSettings(ctx: RegistryContext): Promise<Revisioned<RegistrySettings>> {
  const kv = await ctx.store.get(SETTINGS_KEY)
  return withRevision(settingsOf(kv), kv?.modRevision ?? 0)
}

/**
 * Changes the settings; a change of `replicas` redistributes every service (so does setting the
 * replicas it already has: a check that the assignments follow it).
 */
export async function updateSettings(
  ctx: RegistryContext,
  update: SettingsUpdate,
  condition: WriteCondition = {},
): Promise<SettingsChangeResult> {
  const replicas = update.replicas === undefined ? undefined : validateReplicas('replicas', update.replicas)
  const historyRetention = update.historyRetention === undefined ? undefined : validateRetention(update.historyRetention)
  const expected = condition.expectRevision === undefined ? undefined : validateRevision('revision', condition.expectRevision)
  const outcome = await ctx.cas('settings', async () => {
    const kv = await ctx.store.get(SETTINGS_KEY)
    const revision = kv?.modRevision ?? 0
    requireRevision('settings', expected, revision)
    const current = settingsOf(kv)
    const next: RegistrySettings = {
      ...current,
      ...(replicas === undefined ? {} : {replicas}),
      ...(historyRetention ? {historyRetention} : {}),
    }
    const topologyChanged = next.replicas !== current.replicas
    const check = replicas !== undefined
    if (next.replicas === current.replicas && next.historyRetention === current.historyRetention && (kv || replicas === undefined))
      return {settings: withRevision(current, revision), redistribute: check && kv !== undefined}
    const result = await ctx.store.txn(
      [{key: SETTINGS_KEY, modRevision: revision}],
      [
        {type: 'put', key: SETTINGS_KEY, value: JSON.stringify(next)},
        ...(topologyChanged || !kv ? [topologyOp(ctx)] : []),
        historyOp(ctx, settingsChange(current, next)),
      ],
    )
    if (!result.succeeded) return RETRY
    // A new retention applies at this write's sweep, not at the next one's.
    ctx.history.nextSweepAt = 0
    return {settings: withRevision(next, result.revision), redistribute: check}
  })
  if (!outcome.redistribute) return {settings: outcome.settings, checked: 0, moved: 0, unassigned: 0}
  return {settings: outcome.settings, ...(await redistribute(ctx))}
}
