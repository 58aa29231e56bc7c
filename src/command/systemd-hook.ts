/**
 * `service register` and `service unregister` are what a unit's ExecStartPost=/ExecStopPost= run.
 * Under systemd, a registry left unconfigured would fall back to a private SQLite file in the
 * unit user's home, which no Prometheus reads: the hook would "succeed" into nowhere. So there,
 * no registry is a usage error naming where to set one.
 */
import {InvalidInputError} from '../lib/errors.js'
import type {ValueSource} from '../lib/config/layers.js'

/** Throws (exit 2) when systemd runs the command (INVOCATION_ID is set) and no flag, ROSTER_REGISTRY or config file names the registry. */
export function requireRegistryUnderSystemd(source: ValueSource | undefined, env: NodeJS.ProcessEnv = process.env): void {
  if (!env.INVOCATION_ID || (source !== undefined && source !== 'default')) return
  throw new InvalidInputError(
    "no registry configured: under systemd (INVOCATION_ID is set) roster will not fall back to a private SQLite file in the unit user's home, which no Prometheus reads; set ROSTER_REGISTRY in the unit (Environment=ROSTER_REGISTRY=https://roster.example.com:3002), registry: in /etc/roster/config.yaml, or --registry",
    {field: 'registry'},
  )
}
