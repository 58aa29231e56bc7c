import assert from 'node:assert/strict'
import {chmodSync, mkdirSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'
import {describe, it} from 'node:test'

import {buildConfigReport} from '../../src/lib/config/effective-config.js'
import {COSMICONFIG_META_PLACES, loadConfig, userConfigPath} from '../../src/lib/config/load-config.js'
import {InvalidInputError} from '../../src/lib/errors.js'
import {processTempDir} from '../support/cli.js'

describe('loadConfig', () => {
  const tree = () => {
    const root = processTempDir('roster-cfg-')
    const home = path.join(root, 'home')
    const project = path.join(root, 'project', 'sub')
    mkdirSync(path.join(home, '.config', 'roster'), {recursive: true})
    mkdirSync(project, {recursive: true})
    writeFileSync(path.join(root, 'project', 'package.json'), '{"name":"p"}')
    return {root, home, project, env: {HOME: home} as NodeJS.ProcessEnv}
  }

  it('merges the user file under the project rc file, which wins', async () => {
    const {home, project, env, root} = tree()
    writeFileSync(userConfigPath(env), 'registry: sqlite:/user.db\ntimeout: 5s\n')
    writeFileSync(path.join(root, 'project', '.rosterrc.json'), JSON.stringify({registry: 'etcd://127.0.0.1:2379', etcdPrefix: '/x/'}))
    const loaded = await loadConfig({cwd: project, env})
    assert.equal(loaded.values.get('registry')?.value, 'etcd://127.0.0.1:2379')
    assert.equal(loaded.values.get('timeout')?.value, '5s')
    assert.equal(loaded.values.get('etcd-prefix')?.value, '/x/', 'camelCase keys map to flag names')
    assert.deepEqual(
      loaded.parsed.map((p) => p.path),
      [path.join(home, '.config', 'roster', 'config.yaml'), path.join(root, 'project', '.rosterrc.json')],
    )
  })

  it('finds a project file in a parent directory, also where no package.json bounds the search; none where none is', async () => {
    // The working directory is the search's start (and where cosmiconfig reads its meta config):
    // a tree in the temporary directory has no package.json above it.
    const root = processTempDir('roster-cfg-unbounded-')
    const cwd = path.join(root, 'a', 'b')
    mkdirSync(cwd, {recursive: true})
    const env = {HOME: path.join(root, 'home')} as NodeJS.ProcessEnv
    const saved = process.cwd()
    process.chdir(cwd)
    try {
      assert.deepEqual((await loadConfig({env})).parsed, [])
      mkdirSync(path.join(root, 'a', '.config'))
      writeFileSync(path.join(root, 'a', '.config', 'rosterrc.yaml'), 'timeout: 4s\n')
      const loaded = await loadConfig({env})
      assert.equal(loaded.values.get('timeout')?.value, '4s')
      assert.deepEqual(
        loaded.parsed.map((p) => p.path),
        [path.join(root, 'a', '.config', 'rosterrc.yaml')],
      )
    } finally {
      process.chdir(saved)
    }
  })

  it("skips cosmiconfig where nothing can be found only while its meta config's places are those the pre-check looks at", () => {
    const {metaSearchPlaces} = createRequire(import.meta.url)('cosmiconfig/dist/defaults.js') as {metaSearchPlaces: string[]}
    assert.deepEqual(COSMICONFIG_META_PLACES, metaSearchPlaces)
  })

  it('reads only the explicit file when one is given', async () => {
    const {project, env, root} = tree()
    writeFileSync(path.join(root, 'project', '.rosterrc.yaml'), 'timeout: 1s\n')
    const explicit = path.join(root, 'explicit.yaml')
    writeFileSync(explicit, 'timeout: 9s\n')
    const loaded = await loadConfig({cwd: project, env, explicitPath: explicit})
    assert.equal(loaded.values.get('timeout')?.value, '9s')
    assert.deepEqual(loaded.searched, [explicit])
  })

  it('rejects a malformed file with one line naming it', async () => {
    const {project, env, root} = tree()
    const bad = path.join(root, 'project', '.rosterrc.yaml')
    writeFileSync(bad, 'timeout: [1, \n  nope: {\n')
    await assert.rejects(
      loadConfig({cwd: project, env}),
      (e: unknown) => e instanceof InvalidInputError && e.message.includes(bad) && !e.message.includes('\n'),
    )
  })

  it('rejects nested values and a missing explicit file', async () => {
    const {project, env, root} = tree()
    writeFileSync(path.join(root, 'project', '.rosterrc.yaml'), 'registry:\n  url: x\n')
    await assert.rejects(loadConfig({cwd: project, env}), /registry/)
    await assert.rejects(loadConfig({cwd: project, env, explicitPath: '/nonexistent/roster.yaml'}), /no such file/)
  })

  it('warns when a file holding a secret is readable by others, and redacts it in the report', async () => {
    const {project, env, root} = tree()
    const file = path.join(root, 'project', '.rosterrc.yaml')
    writeFileSync(file, 'etcd-password: hunter22\n')
    chmodSync(file, 0o644)
    const loaded = await loadConfig({cwd: project, env})
    assert.equal(loaded.warnings.length, 1)
    assert.match(loaded.warnings[0] ?? '', /etcd-password.*chmod 600/)
    const report = buildConfigReport(loaded, {}, new Map(), {ROSTER_PDNS_API_KEY: 'k3y-value'})
    assert.ok(!JSON.stringify(report).includes('hunter22'))
    assert.ok(!JSON.stringify(report).includes('k3y-value'))
    chmodSync(file, 0o600)
    assert.equal((await loadConfig({cwd: project, env})).warnings.length, 0)
  })
})
