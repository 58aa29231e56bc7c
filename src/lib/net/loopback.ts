/**
 * Which hosts are loopback: 127.0.0.0/8, ::1, the IPv4-mapped ::ffff:127.0.0.0/104, and the name
 * `localhost` in any case. A URL's host and a listen address's host are judged by this one rule,
 * so that "http:// only on loopback" and "plaintext only on loopback" mean the same everywhere.
 * Other names are not loopback: what they resolve to can change after the check.
 */
import {BlockList, isIP} from 'node:net'

const LOOPBACK = new BlockList()
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4')
LOOPBACK.addAddress('::1', 'ipv6')
LOOPBACK.addSubnet('::ffff:127.0.0.0', 104, 'ipv6')

/** Whether `host` (an IP address, a name, or a URL's `[v6]` hostname) is loopback. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().replace(/^\[(.*)\]$/, '$1')
  if (h.toLowerCase() === 'localhost') return true
  const family = isIP(h)
  if (family === 0) return false
  return LOOPBACK.check(h, family === 4 ? 'ipv4' : 'ipv6')
}
