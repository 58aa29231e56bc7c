import {createServer} from 'node:net'

/** A loopback TCP port that was free a moment ago (listen on 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
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
