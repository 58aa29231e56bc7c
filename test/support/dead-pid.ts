import {spawn} from 'node:child_process'

/** The pid of a process that has exited: what a lock left by a killed holder names. */
export async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], {stdio: 'ignore'})
  await new Promise((resolve) => child.on('exit', resolve))
  return child.pid as number
}
