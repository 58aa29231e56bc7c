/**
 * The registry-wide settings: `replicas` (changing it changes the topology and so redistributes
 * every service) and `historyRetention` (how long the history keeps events).
 */
import {RETRY} from '../store/cas.js'
import type {RegistryContext} from './context.js'
import {historyOp, settingsChange} from './history/record.js'
import {validateRetention} from './history/retention.js'
import {SETTINGS_KEY} from './keys.js'
import type {RegistrySettings} from './model.js'
import {redistribute} from './redistribution.js'
import {settingsOf, topologyOp} from './topology.js'
import type {RedistributionResult, SettingsUpdate} from './types.js'
import {validateReplicas} from './validation.js'

export async function getSettings(ctx: RegistryContext): Promise<RegistrySettings> {
  return settingsOf(await ctx.store.get(SETTINGS_KEY))
}

/**
 * Changes the settings; a change of `replicas` redistributes every service (so does setting the
 * replicas it already has: a check that the assignments follow it).
 */
export async function updateSettings(
  ctx: RegistryContext,
  update: SettingsUpdate,
): Promise<{settings: RegistrySettings} & RedistributionResult> {
  const replicas = update.replicas === undefined ? undefined : validateReplicas('replicas', update.replicas)
  const historyRetention = update.historyRetention === undefined ? undefined : validateRetention(update.historyRetention)
  const outcome = await ctx.cas('settings', async () => {
    const kv = await ctx.store.get(SETTINGS_KEY)
    const current = settingsOf(kv)
    const next: RegistrySettings = {
      ...current,
      ...(replicas === undefined ? {} : {replicas}),
      ...(historyRetention ? {historyRetention} : {}),
    }
    const topologyChanged = next.replicas !== current.replicas
    const check = replicas !== undefined
    if (next.replicas === current.replicas && next.historyRetention === current.historyRetention && (kv || replicas === undefined))
      return {settings: current, redistribute: check && kv !== undefined}
    const result = await ctx.store.txn(
      [{key: SETTINGS_KEY, modRevision: kv?.modRevision ?? 0}],
      [
        {type: 'put', key: SETTINGS_KEY, value: JSON.stringify(next)},
        ...(topologyChanged || !kv ? [topologyOp(ctx)] : []),
        historyOp(ctx, settingsChange(current, next)),
      ],
    )
    if (!result.succeeded) return RETRY
    // A new retention applies at this write's sweep, not at the next one's.
    ctx.history.nextSweepAt = 0
    return {settings: next, redistribute: check}
  })
  if (!outcome.redistribute) return {settings: outcome.settings, checked: 0, moved: 0, unassigned: 0}
  return {settings: outcome.settings, ...(await redistribute(ctx))}
}
