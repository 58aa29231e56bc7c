/** The password of a login with a user name: a no-echo prompt on a terminal, or all of stdin (password-stdin). */
import {InvalidInputError, setting} from '../errors.js'
import {MAX_SECRET_BYTES} from '../text/input-limits.js'

export async function readPasswordStdin(): Promise<string> {
  const {readInputStream} = await import('../fs/input-file.js')
  const input = await readInputStream(process.stdin, {field: 'password-stdin', label: 'standard input', maxBytes: MAX_SECRET_BYTES})
  const text = input.replace(/\r?\n$/, '')
  if (text === '') throw InvalidInputError.forField('password-stdin', '', 'standard input is empty: pipe the password')
  return text
}

export async function promptPassword(prompt: string): Promise<string> {
  const stdin = process.stdin
  if (!stdin.isTTY) {
    throw InvalidInputError.forField('password', '', `no terminal to ask on: pipe the password with ${setting('password-stdin')}`)
  }
  process.stderr.write(prompt)
  stdin.setRawMode(true)
  stdin.resume()
  stdin.setEncoding('utf8')
  try {
    return await new Promise<string>((resolve, reject) => {
      let value = ''
      const onData = (data: string) => {
        for (const ch of data) {
          if (ch === '\r' || ch === '\n') {
            stdin.off('data', onData)
            process.stderr.write('\n')
            resolve(value)
            return
          }
          if (ch === '\u0003') {
            stdin.off('data', onData)
            process.stderr.write('\n')
            reject(new InvalidInputError('login cancelled'))
            return
          }
          if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1)
          else value += ch
        }
      }
      stdin.on('data', onData)
    })
  } finally {
    stdin.setRawMode(false)
    stdin.pause()
  }
}
