/**
 * Clients that misbehave, for the hostile-client suite and its benchmark, run in a child process
 * of their own (`startHostileClients`) so that their work and their file descriptors are not the
 * test's: idle TCP connections, headers or bodies sent a byte a second, TLS handshakes never
 * finished, and a reconnect storm. Every client connects from a loopback address of its own
 * group (127.0.x.y, Linux routes all of 127.0.0.0/8 to lo), so that the per-address limit sees
 * several clients; the test's well-behaved clients use 127.0.0.1. A slow client the server closes
 * comes back a second later, as a determined one would; idle connections are opened once.
 *
 * The child is this file run with an IPC channel; it takes one attack, runs it until told to
 * stop, closes every connection, and answers with its counts.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {request as httpsRequest} from 'node:https'
import {connect as netConnect, type Socket} from 'node:net'
import {Duplex} from 'node:stream'
import {type ConnectionOptions, connect as tlsConnect, type TLSSocket} from 'node:tls'
import {fileURLToPath} from 'node:url'

export type AttackName = 'idle-tcp' | 'slow-headers' | 'tls-handshakes' | 'slow-bodies' | 'storm'

export interface Attack {
  name: AttackName
  /** serve's loopback port (TLS). */
  port: number
  /** serve's CA certificate (PEM). */
  ca: string
  /** How many clients (for the storm: how many connect at once in each wave). */
  clients: number
  /** Client addresses: clients are spread over this many 127.0.<group>.x addresses. */
  addresses: number
  /** The third byte of the client addresses, one per attack, so attacks do not share addresses. */
  group: number
  /** A bearer token: slow bodies use a service token (so serve reads the body); the storm a read token. */
  token?: string
  /** The storm: time from the start of one wave to the start of the next. */
  waveMs?: number
  /** The storm: http_sd path it asks for. */
  path?: string
}

export interface AttackCounts {
  /** Connections opened (a reconnect counts again). */
  opened: number
  /** Connections the server closed. */
  closedByServer: number
  /** Open when told to stop. */
  openAtStop: number
  /** The storm: answers by status, and connection errors by code. */
  statuses: Record<string, number>
  /** The storm: how long each wave took, from its start until its last answer, ms. */
  waves: number[]
}

const BYTE_EVERY_MS = 1000
const RECONNECT_AFTER_MS = 1000

/** Runs in the child: one attack until stop(). */
class Attacker {
  private running = true
  private readonly open = new Set<Socket>()
  private readonly counts: AttackCounts = {opened: 0, closedByServer: 0, openAtStop: 0, statuses: {}, waves: []}
  private readonly timers = new Set<NodeJS.Timeout>()
  private clientHello?: Buffer

  constructor(private readonly attack: Attack) {}

  async start(): Promise<void> {
    const a = this.attack
    if (a.name === 'tls-handshakes') this.clientHello = await captureClientHello()
    if (a.name === 'storm') {
      void this.storm()
      return
    }
    // Opened in batches, as fast as a client opens many connections, without a SYN flood.
    for (let i = 0; i < a.clients && this.running; i++) {
      this.client(i)
      if (i % 250 === 249) await sleep(50)
    }
  }

  stop(): AttackCounts {
    this.running = false
    for (const timer of this.timers) clearTimeout(timer)
    this.counts.openAtStop = this.open.size
    for (const socket of this.open) socket.destroy()
    return this.counts
  }

  private address(i: number): string {
    return `127.0.${this.attack.group}.${1 + (i % this.attack.addresses)}`
  }

  private later(ms: number, f: () => void): void {
    if (!this.running) return
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      if (this.running) f()
    }, ms)
    this.timers.add(timer)
  }

  /** One client of a slow attack: connects, misbehaves, and comes back when the server closes it. */
  private client(i: number): void {
    const a = this.attack
    const localAddress = this.address(i)
    const tls = a.name === 'slow-headers' || a.name === 'slow-bodies'
    const socket: Socket = tls
      ? tlsConnect({host: '127.0.0.1', port: a.port, ca: a.ca, localAddress} as ConnectionOptions)
      : netConnect({host: '127.0.0.1', port: a.port, localAddress})
    this.counts.opened++
    this.open.add(socket)
    socket.on('error', () => undefined)
    socket.on('data', () => undefined)
    socket.once('close', () => {
      this.open.delete(socket)
      if (!this.running) return
      this.counts.closedByServer++
      if (a.name !== 'idle-tcp') this.later(RECONNECT_AFTER_MS, () => this.client(i))
    })
    const trickle = (bytes: Buffer): void => {
      let at = 0
      const next = (): void => {
        if (socket.destroyed || at >= bytes.length) return
        socket.write(bytes.subarray(at, at + 1))
        at++
        this.later(BYTE_EVERY_MS, next)
      }
      next()
    }
    if (a.name === 'idle-tcp') return
    if (a.name === 'tls-handshakes') {
      socket.once('connect', () => {
        // Half send the whole ClientHello and never answer the server's reply; half send it a byte a second.
        if (i % 2 === 0) socket.write(this.clientHello!)
        else trickle(this.clientHello!)
      })
      return
    }
    const head =
      a.name === 'slow-headers'
        ? `GET /v1/sd/prom1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow-headers\r\n\r\n`
        : `POST /v1/services HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${a.token}\r\nContent-Type: application/json\r\nContent-Length: ${1024 * 1024}\r\n\r\n`
    ;(socket as TLSSocket).once('secureConnect', () => {
      if (a.name === 'slow-headers') trickle(Buffer.from(head))
      else {
        socket.write(head)
        trickle(Buffer.alloc(1024 * 1024, ' '))
      }
    })
  }

  /** Waves of clients that all connect at once (after a network blip), each asking once on a new connection. */
  private async storm(): Promise<void> {
    const a = this.attack
    while (this.running) {
      const started = Date.now()
      await Promise.all(Array.from({length: a.clients}, (_, i) => this.ask(i)))
      this.counts.waves.push(Date.now() - started)
      await sleep(Math.max(0, (a.waveMs ?? 1000) - (Date.now() - started)))
    }
  }

  private ask(i: number): Promise<void> {
    const a = this.attack
    this.counts.opened++
    return new Promise((resolve) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port: a.port,
          path: a.path ?? '/v1/sd/prom1',
          ca: a.ca,
          agent: false,
          localAddress: this.address(i),
          headers: {authorization: `Bearer ${a.token}`, 'accept-encoding': 'gzip'},
        },
        (res) => {
          res.resume()
          res.once('end', () => {
            this.counts.statuses[String(res.statusCode)] = (this.counts.statuses[String(res.statusCode)] ?? 0) + 1
            resolve()
          })
          res.once('error', () => resolve())
        },
      )
      req.on('socket', (socket) => {
        this.open.add(socket)
        socket.once('close', () => this.open.delete(socket))
      })
      req.once('error', (error: NodeJS.ErrnoException) => {
        const code = error.code ?? 'error'
        this.counts.statuses[code] = (this.counts.statuses[code] ?? 0) + 1
        resolve()
      })
      req.end()
    })
  }
}

/** The first flight of a TLS client (its ClientHello), as bytes to send on any connection. */
export async function captureClientHello(): Promise<Buffer> {
  return new Promise((resolve) => {
    const fake = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        resolve(Buffer.from(chunk))
        callback()
      },
    })
    const client = tlsConnect({socket: fake, rejectUnauthorized: false})
    client.on('error', () => undefined)
    setImmediate(() => client.destroy())
  })
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

export interface HostileClients {
  /** Stops the attack, closes its connections; its counts. */
  stop(): Promise<AttackCounts>
  child: ChildProcess
}

/**
 * Starts `attack` in a child process whose open-file limit is raised to `files` first (`ulimit
 * -n` in the child's shell: it works where the hard limit allows, as root always), at a lower CPU
 * priority (nice 10): hostile clients run on other machines than serve, and on a shared one they
 * should not take serve's CPU, or a bound on serve's answers would measure the load generator.
 * Resolves once every client was started.
 */
export async function startHostileClients(attack: Attack, files = 20_000): Promise<HostileClients> {
  const self = fileURLToPath(import.meta.url)
  const execArgv = self.endsWith('.ts') ? ['--import', 'tsx'] : []
  const child = spawn(
    'sh',
    ['-c', `ulimit -n ${files} 2>/dev/null; exec "$0" "$@"`, process.execPath, ...execArgv, self, 'hostile-clients'],
    {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  )
  const message = <T>(type: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const onMessage = (m: {type: string; value: T}): void => {
        if (m.type !== type) return
        child.off('message', onMessage)
        child.off('exit', onExit)
        resolve(m.value)
      }
      const onExit = (code: number | null): void => reject(new Error(`hostile clients exited ${code} before "${type}"`))
      child.on('message', onMessage)
      child.once('exit', onExit)
    })
  await message('ready')
  child.send({type: 'start', attack})
  await message('started')
  return {
    child,
    stop: async () => {
      child.send({type: 'stop'})
      const counts = await message<AttackCounts>('stopped')
      child.disconnect()
      return counts
    },
  }
}

if (process.argv[2] === 'hostile-clients' && process.send) {
  let attacker: Attacker | undefined
  process.on('message', (m: {type: 'start'; attack: Attack} | {type: 'stop'}) => {
    if (m.type === 'start') {
      attacker = new Attacker(m.attack)
      void attacker.start().then(() => process.send!({type: 'started'}))
    } else {
      process.send!({type: 'stopped', value: attacker?.stop()}, () => setTimeout(() => process.exit(0), 100).unref())
    }
  })
  process.on('disconnect', () => process.exit(0))
  process.send({type: 'ready'})
}
