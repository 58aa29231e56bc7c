/**
 * The topology: the candidate server set and the settings, read under the revision of the
 * `topology` key that every change to either rewrites (see keys.ts).
 */
import {type Operation, rangeAll} from '../store/store.js'
import {type RegistryContext, parseJson} from './context.js'
import {SERVERS_PREFIX, SETTINGS_KEY, TOPOLOGY_KEY} from './keys.js'
import type {RegistrySettings, Server} from './model.js'

export const DEFAULT_SETTINGS: RegistrySettings = {replicas: 1, historyRetention: '30d'}

/** The server set and settings, read under one topology revision. */
export interface Topology {
  revision: number
  servers: Server[]
  settings: RegistrySettings
}

/** The settings a stored `settings` record holds (defaults for what it lacks, or when absent). */
export function settingsOf(kv: {key: string; value: string} | undefined): RegistrySettings {
  return kv ? {...DEFAULT_SETTINGS, ...parseJson<Partial<RegistrySettings>>(kv)} : {...DEFAULT_SETTINGS}
}

/**
 * Reads the topology revision first, then the servers and settings it covers. When the revision
 * is the one last read in this process, that read's servers and settings are returned without
 * reading them again: every change to either rewrites the topology key, so an unchanged
 * revision means unchanged servers and settings. A write then costs one get instead of a range
 * over every server (most of a renewal's reads with hundreds of servers). A read that raced a
 * change is kept under the revision read first, which the change has since moved past: it is
 * never returned again, and the write that used it fails its topology compare and reads anew.
 */
export async function readTopology(ctx: RegistryContext): Promise<Topology> {
  const revision = (await ctx.store.get(TOPOLOGY_KEY))?.modRevision ?? 0
  const last = ctx.topology.last
  if (last !== undefined && revision !== 0 && last.revision === revision) return last
  const servers = (await rangeAll(ctx.store, SERVERS_PREFIX)).map((kv) => parseJson<Server>(kv))
  const settings = settingsOf(await ctx.store.get(SETTINGS_KEY))
  const read: Topology = Object.freeze({revision, servers: Object.freeze(servers) as Server[], settings: Object.freeze(settings)})
  ctx.topology.last = read
  return read
}

/** The write that marks a topology change; part of every transaction that changes it. */
export function topologyOp(ctx: RegistryContext): Operation {
  return {type: 'put', key: TOPOLOGY_KEY, value: JSON.stringify({changed: ctx.timestamp()})}
}

/** The topology key's current mod revision (0: never written). */
export async function topologyRevision(ctx: RegistryContext): Promise<number> {
  return (await ctx.store.get(TOPOLOGY_KEY))?.modRevision ?? 0
}
