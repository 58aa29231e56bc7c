import {readFileSync} from 'node:fs'
import {createServer} from 'node:net'

/** The lowest port of the kernel's ephemeral range (what it gives port-0 listeners and outgoing connections). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0])
    return Number.isInteger(low) && low > 11_000 ? low : 32_768
  } catch {
    return 32_768
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.unref()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/**
 * A loopback TCP port that was free a moment ago, for a server a test starts. Picked at random
 * below the kernel's ephemeral range: a port the kernel handed out (listen on 0) can be taken, between
 * the check and the server's bind, by any outgoing connection's local port (an etcd member dialing its
 * peers took another member's port that way). Here only another test's pick could, one in ~20,000.
 */
export async function freePort(): Promise<number> {
  const low = 10_000
  const high = ephemeralLow()
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low))
    if (await canListen(port)) return port
  }
  throw new Error(`no free loopback port found in ${low}-${high - 1} after 100 tries`)
}

/**
 * A loopback port where nothing listens, for "backend unreachable" tests. Below the kernel's
 * ephemeral range, so that no server a parallel test starts on port 0 (and no outgoing
 * connection) can take it between the check and the test's use, as a port freed by a stopped
 * server can be. Checked to refuse a connection.
 */
export async function closedPort(): Promise<number> {
  const {connect} = await import('node:net')
  for (const port of [1, 9, 11, 13]) {
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect({host: '127.0.0.1', port})
      socket.once('connect', () => (socket.destroy(), resolve(false)))
      socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'))
    })
    if (refused) return port
  }
  throw new Error('no closed loopback port below 1024: something listens on 1, 9, 11 and 13')
}
