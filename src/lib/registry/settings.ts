/**
 * The registry-wide settings (`replicas`): reading them, and changing them, which changes the
 * topology and so redistributes every service.
 */
import {RETRY} from '../store/cas.js'
import type {RegistryContext} from './context.js'
import {SETTINGS_KEY} from './keys.js'
import type {RegistrySettings} from './model.js'
import {redistribute} from './redistribution.js'
import {settingsOf, topologyOp} from './topology.js'
import type {RedistributionResult} from './types.js'
import {validateReplicas} from './validation.js'

export async function getSettings(ctx: RegistryContext): Promise<RegistrySettings> {
  return settingsOf(await ctx.store.get(SETTINGS_KEY))
}

/** Changes the settings; a change of `replicas` redistributes every service. */
export async function updateSettings(
  ctx: RegistryContext,
  update: {replicas?: unknown},
): Promise<{settings: RegistrySettings} & RedistributionResult> {
  const replicas = update.replicas === undefined ? undefined : validateReplicas('replicas', update.replicas)
  const outcome = await ctx.cas('settings', async () => {
    const kv = await ctx.store.get(SETTINGS_KEY)
    const current = settingsOf(kv)
    if (!kv && replicas === undefined) return {settings: current, redistribute: false}
    if (kv && (replicas === undefined || replicas === current.replicas)) return {settings: current, redistribute: true}
    const next: RegistrySettings = {...current, ...(replicas === undefined ? {} : {replicas})}
    const result = await ctx.store.txn(
      [{key: SETTINGS_KEY, modRevision: kv?.modRevision ?? 0}],
      [{type: 'put', key: SETTINGS_KEY, value: JSON.stringify(next)}, topologyOp(ctx)],
    )
    return result.succeeded ? {settings: next, redistribute: true} : RETRY
  })
  if (!outcome.redistribute) return {settings: outcome.settings, checked: 0, moved: 0, unassigned: 0}
  return {settings: outcome.settings, ...(await redistribute(ctx))}
}
