/**
 * The registry-wide settings (`replicas`): reading them, and changing them, which changes the
 * topology and so redistributes every service.
 */
import {RETRY} from '../store/cas.js'
import type {RegistryContext} from './context.js'
import {SETTINGS_KEY} from './keys.js'
import type {RegistrySettings, Revisioned} from './model.js'
import {redistribute} from './redistribution.js'
import {requireRevision, validateRevision, withRevision} from './revisions.js'
import {settingsOf, topologyOp} from './topology.js'
import type {SettingsChangeResult, WriteCondition} from './types.js'
import {validateReplicas} from './validation.js'

/** The settings, with the revision of the `settings` key (0: never changed, the defaults). */
export async function getSettings(ctx: RegistryContext): Promise<Revisioned<RegistrySettings>> {
  const kv = await ctx.store.get(SETTINGS_KEY)
  return withRevision(settingsOf(kv), kv?.modRevision ?? 0)
}

/** Changes the settings; a change of `replicas` redistributes every service. */
export async function updateSettings(
  ctx: RegistryContext,
  update: {replicas?: unknown},
  condition: WriteCondition = {},
): Promise<SettingsChangeResult> {
  const replicas = update.replicas === undefined ? undefined : validateReplicas('replicas', update.replicas)
  const expected = condition.expectRevision === undefined ? undefined : validateRevision('revision', condition.expectRevision)
  const outcome = await ctx.cas('settings', async () => {
    const kv = await ctx.store.get(SETTINGS_KEY)
    const revision = kv?.modRevision ?? 0
    requireRevision('settings', expected, revision)
    const current = settingsOf(kv)
    if (!kv && replicas === undefined) return {settings: withRevision(current, revision), redistribute: false}
    if (kv && (replicas === undefined || replicas === current.replicas))
      return {settings: withRevision(current, revision), redistribute: true}
    const next: RegistrySettings = {...current, ...(replicas === undefined ? {} : {replicas})}
    const result = await ctx.store.txn(
      [{key: SETTINGS_KEY, modRevision: revision}],
      [{type: 'put', key: SETTINGS_KEY, value: JSON.stringify(next)}, topologyOp(ctx)],
    )
    return result.succeeded ? {settings: withRevision(next, result.revision), redistribute: true} : RETRY
  })
  if (!outcome.redistribute) return {settings: outcome.settings, checked: 0, moved: 0, unassigned: 0}
  return {settings: outcome.settings, ...(await redistribute(ctx))}
}
