/**
 * The docs a new user follows run as written. A shell block marked as a walkthrough
 * (```sh walkthrough) is run by bash (`set -euo pipefail`), all the walkthrough blocks of one
 * document in order, in a fresh HOME with `roster` on the PATH: the built CLI (bin/run.js), as
 * an installed roster would be. The docs' example registry, https://roster.example.com:3002,
 * is a real serve started by the test on that HOME's default registry (on loopback,
 * http://127.0.0.1:PORT: roster.example.com is no host of this machine), in the test's process
 * (serve(), what `roster serve` runs): the walkthroughs ask it HTTP only. A command that fails
 * fails the test, naming the document's line.
 *
 * And the systemd drop-in the .deb installs is the one docs/packaging.md shows, complete: it
 * names a registry (ROSTER_REGISTRY, an URL roster accepts) instead of leaving it commented out.
 */
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {remoteBaseUrl} from '../../src/lib/registry/remote-registry.js'
import {BIN, ROOT, isolatedEnv} from '../support/cli.js'
import {type DocBlock, docBlocks, docBlocksWith} from '../support/doc-blocks.js'
import {type InProcessServe, startServeInProcess} from '../support/serve-server.js'

/** The registry URL the docs use in examples. */
const EXAMPLE_REGISTRY = 'https://roster.example.com:3002'

const walkthroughs = new Map<string, DocBlock[]>()
for (const block of docBlocksWith('walkthrough')) walkthroughs.set(block.file, [...(walkthroughs.get(block.file) ?? []), block])

let dir: string
let binDir: string
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'roster-walkthrough-'))
  binDir = path.join(dir, 'bin')
  mkdirSync(binDir)
  writeFileSync(path.join(binDir, 'roster'), `#!/bin/sh\nexec '${process.execPath}' '${BIN}' "$@"\n`)
  chmodSync(path.join(binDir, 'roster'), 0o755)
})
after(() => rmSync(dir, {recursive: true, force: true}))

describe('walkthroughs in the docs', () => {
  it('are marked in the docs a new user starts with', () => {
    for (const file of ['docs/tokens.md', 'docs/serve.md', 'docs/sd.md']) assert.ok(walkthroughs.has(file), `${file} has no walkthrough`)
    for (const blocks of walkthroughs.values()) for (const b of blocks) assert.equal(b.info[0], 'sh', `${b.file}:${b.line}: a sh block`)
  })

  for (const [file, blocks] of walkthroughs) {
    it(`${file}: ${blocks.length} block${blocks.length === 1 ? '' : 's'}, in a fresh HOME`, async () => runWalkthrough(file, blocks))
  }
})

async function runWalkthrough(file: string, blocks: DocBlock[]): Promise<void> {
  const env = isolatedEnv()
  env.PATH = `${binDir}:${path.dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`
  const home = env.HOME!
  let serve: InProcessServe | undefined
  try {
    let registryUrl = EXAMPLE_REGISTRY
    if (blocks.some((b) => b.text.includes(EXAMPLE_REGISTRY))) {
      // The default registry of that HOME, the one the walkthrough's local commands use.
      const data = path.join(home, '.local', 'share', 'roster')
      mkdirSync(data, {recursive: true, mode: 0o700})
      serve = await startServeInProcess({registry: `sqlite:${path.join(data, 'registry.db')}`})
      registryUrl = serve.url
    }
    // The script, and for each of its lines the document's line it comes from.
    const lines = ['set -euo pipefail', `trap 'echo "walkthrough: line $LINENO failed (exit $?)" >&2' ERR`]
    const origin: string[] = ['', '']
    for (const block of blocks) {
      block.text.split('\n').forEach((text, i) => {
        lines.push(text.replaceAll(EXAMPLE_REGISTRY, registryUrl))
        origin.push(`${block.file}:${block.line + 1 + i}: ${text}`)
      })
    }
    const script = path.join(home, 'walkthrough.sh')
    writeFileSync(script, `${lines.join('\n')}\n`)
    // Not spawnSync: the serve answering the walkthrough runs on this process's event loop.
    const r = await runBash(script, home, env)
    const failed = /walkthrough: line (\d+) failed/.exec(r.stderr ?? '')
    const at = failed ? origin[Number(failed[1]) - 1] : undefined
    assert.equal(r.status, 0, `${at ?? file}\nstdout: ${r.stdout}\nstderr: ${r.stderr}${serve ? `\nroster serve: ${serve.stderr()}` : ''}`)
  } finally {
    await serve?.stop()
  }
}

/** Runs `script` with bash; its exit status (null when killed), stdout and stderr. */
function runBash(
  script: string,
  cwd: string,
  env: Record<string, string | undefined>,
): Promise<{status: number | null; stdout: string; stderr: string}> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script], {cwd, env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000})
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    child.on('error', reject)
    child.on('close', (status) => resolve({status, stdout, stderr}))
  })
}

describe('the systemd drop-in the .deb installs', () => {
  const installed = readFileSync(path.join(ROOT, 'packaging', 'deb', 'roster-register.conf'), 'utf8')
  const settings = (text: string) => text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'))

  it('names the registry: ROSTER_REGISTRY set (not commented out) to a URL roster accepts', () => {
    const line = settings(installed).find((l) => /^Environment=.*\bROSTER_REGISTRY=/.test(l))
    assert.ok(line, 'an Environment=ROSTER_REGISTRY=... line')
    const value = /\bROSTER_REGISTRY=(\S+)/.exec(line)![1]!
    assert.doesNotThrow(() => remoteBaseUrl(value), `${value} is a registry URL roster accepts`)
  })

  it('is the one docs/packaging.md shows', () => {
    const shown = docBlocks('docs/packaging.md').filter((b) => b.info[0] === 'ini' && b.text.includes('ExecStartPost=/usr/bin/roster'))
    assert.equal(shown.length, 1, 'one drop-in in docs/packaging.md')
    assert.deepEqual(settings(shown[0]!.text), settings(installed))
  })
})
