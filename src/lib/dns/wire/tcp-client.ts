/**
 * DNS over TCP (RFC 1035 §4.2.2, RFC 7766): each message is preceded by its length in two
 * octets. One connection carries the requests one after another; `receive()` hands out the
 * response messages in the order they arrive (an AXFR answers with many).
 */
import {Socket} from 'node:net'

/** A connection failure or a timeout; the provider turns it into BackendUnavailableError. */
export class DnsTransportError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message)
    this.name = 'DnsTransportError'
  }
}

export const MAX_TCP_MESSAGE = 0xffff

export class DnsTcpClient {
  private pending: Buffer = Buffer.alloc(0)
  private readonly ready: Buffer[] = []
  private waiter: {resolve: (b: Buffer) => void; reject: (e: Error) => void} | undefined
  private failure: Error | undefined

  private constructor(
    private readonly socket: Socket,
    private readonly address: string,
    private readonly timeoutMs: number,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('error', (err: NodeJS.ErrnoException) => this.fail(new DnsTransportError(`${address}: ${err.code ?? err.message}`, err.code)))
    socket.on('close', () => this.fail(new DnsTransportError(`${address}: the server closed the connection`, 'ECONNRESET')))
  }

  /** Opens a connection; rejects with DnsTransportError when refused or not established in time. */
  static connect(host: string, port: number, timeoutMs: number): Promise<DnsTcpClient> {
    const address = `${host}:${port}`
    return new Promise((resolve, reject) => {
      const socket = new Socket()
      const timer = setTimeout(() => {
        socket.destroy()
        reject(new DnsTransportError(`${address}: no connection within ${timeoutMs} ms`, 'ETIMEDOUT'))
      }, timeoutMs)
      socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer)
        socket.destroy()
        reject(new DnsTransportError(`${address}: ${err.code ?? err.message}`, err.code))
      })
      socket.connect({host, port}, () => {
        clearTimeout(timer)
        socket.removeAllListeners('error')
        socket.setNoDelay(true)
        resolve(new DnsTcpClient(socket, address, timeoutMs))
      })
    })
  }

  send(message: Buffer): void {
    if (this.failure) throw this.failure
    if (message.length > MAX_TCP_MESSAGE)
      throw new DnsTransportError(`${this.address}: a message of ${message.length} octets exceeds 65535`)
    const length = Buffer.alloc(2)
    length.writeUInt16BE(message.length)
    this.socket.write(Buffer.concat([length, message]))
  }

  /** The next message from the server; rejects after `timeoutMs` without one. */
  receive(): Promise<Buffer> {
    const next = this.ready.shift()
    if (next) return Promise.resolve(next)
    if (this.failure) return Promise.reject(this.failure)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined
        reject(new DnsTransportError(`${this.address}: no answer within ${this.timeoutMs} ms`, 'ETIMEDOUT'))
      }, this.timeoutMs)
      this.waiter = {
        resolve: (b) => {
          clearTimeout(timer)
          resolve(b)
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        },
      }
    })
  }

  close(): void {
    this.failure ??= new DnsTransportError(`${this.address}: connection closed`)
    this.socket.destroy()
  }

  private onData(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk])
    while (this.pending.length >= 2) {
      const length = this.pending.readUInt16BE(0)
      if (this.pending.length < 2 + length) break
      const message = Buffer.from(this.pending.subarray(2, 2 + length))
      this.pending = this.pending.subarray(2 + length)
      const waiter = this.waiter
      if (waiter) {
        this.waiter = undefined
        waiter.resolve(message)
      } else {
        this.ready.push(message)
      }
    }
  }

  private fail(error: Error): void {
    if (this.failure) return
    this.failure = error
    const waiter = this.waiter
    this.waiter = undefined
    waiter?.reject(error)
  }
}
