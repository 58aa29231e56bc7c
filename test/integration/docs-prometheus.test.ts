/**
 * Every Prometheus configuration the docs show works against a real Prometheus. Each ```yaml
 * block of README.md and docs/*.md that holds `scrape_configs` is read as written; only what
 * names this machine is filled in: an http_sd URL's scheme, host and port become those of a real
 * `roster serve` (TLS, a test CA) started by the test, `credentials_file` a file holding a `read`
 * token, `ca_file` the test CA, a file_sd directory the one `roster sd export` wrote, and a
 * blackbox exporter's address a real one. The registry holds a real node_exporter in the
 * namespace each job reads (a blackbox namespace for a blackbox job), and Prometheus must scrape
 * it through the job: `up` for a scrape, `probe_success` for a probe. A snippet that stops working
 * (the wrong authorization, a URL serve does not answer, a relabelling that loses the target)
 * fails here.
 */
import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {parse as parseYaml} from 'yaml'

import {type CliResult, isolatedEnv, runCli} from '../support/cli.js'
import {type DocBlock, docBlocksWith} from '../support/doc-blocks.js'
import {type TlsFiles, makeTlsFiles} from '../support/test-pki.js'
import {type BlackboxExporter, type NodeExporter, startBlackboxExporter, startNodeExporter} from '../support/node-exporter.js'
import {PROMETHEUS_POLL_MS, type PrometheusServer, startPrometheus} from '../support/prometheus-server.js'
import {until} from '../support/until.js'
import {type ServeProcess, startServe} from '../support/serve-server.js'

interface ScrapeConfig {
  job_name: string
  metrics_path?: string
  http_sd_configs?: {url: string; authorization?: {credentials_file?: string}; tls_config?: {ca_file?: string}}[]
  file_sd_configs?: {files: string[]}[]
  relabel_configs?: {target_label?: string; replacement?: string}[]
}

const SERVER = 'prom1'

/** The docs' Prometheus configurations: yaml blocks with `scrape_configs`. */
const snippets = docBlocksWith('yaml').filter((b) => b.info[0] === 'yaml' && /^\s*scrape_configs:/m.test(b.text))

/** A job that probes through the blackbox exporter: its targets are URLs, its address the exporter's. */
function isBlackbox(job: ScrapeConfig): boolean {
  return job.metrics_path === '/probe' || (job.relabel_configs ?? []).some((r) => r.target_label === '__param_target')
}

function ok(r: CliResult, what: string): CliResult {
  assert.equal(r.code, 0, `${what}: exit ${r.code}: ${r.stderr}`)
  return r
}

describe('the docs show Prometheus configurations', () => {
  it('in README.md, docs/serve.md and docs/sd.md, with http_sd and file_sd', () => {
    const files = new Set(snippets.map((s) => s.file))
    for (const file of ['README.md', 'docs/serve.md', 'docs/sd.md']) assert.ok(files.has(file), `no snippet found in ${file}`)
    assert.ok(snippets.some((s) => s.text.includes('http_sd_configs')) && snippets.some((s) => s.text.includes('file_sd_configs')))
  })
})

// The snippets run at once, each with its own registry, serve and Prometheus: a snippet's time is
// mostly Prometheus's fixed discovery ticks (5 s), which wait just as well side by side.
describe('every Prometheus snippet in the docs scrapes a registered node_exporter', {concurrency: true}, () => {
  let dir: string
  let tls: TlsFiles
  let exporter: NodeExporter
  let blackbox: BlackboxExporter
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'roster-docs-prometheus-'))
    // One test CA and serve certificate for every snippet: each serve is on 127.0.0.1.
    tls = makeTlsFiles(dir)
    exporter = await startNodeExporter()
    blackbox = await startBlackboxExporter()
  })
  after(async () => {
    await exporter?.stop()
    await blackbox?.stop()
    rmSync(dir, {recursive: true, force: true})
  })

  for (const snippet of snippets) {
    it(`${snippet.file}:${snippet.line}`, async () => {
      await scrapeThrough(snippet, path.join(dir, `${path.basename(snippet.file, '.md')}-${snippet.line}`), {exporter, blackbox, tls})
    })
  }
})

async function scrapeThrough(
  snippet: DocBlock,
  work: string,
  {exporter, blackbox, tls}: {exporter: NodeExporter; blackbox: BlackboxExporter; tls: TlsFiles},
): Promise<void> {
  const where = `${snippet.file}:${snippet.line}`
  const jobs = (parseYaml(snippet.text) as {scrape_configs: ScrapeConfig[]}).scrape_configs
  assert.ok(Array.isArray(jobs) && jobs.length > 0, `${where}: scrape_configs is a list`)
  mkdirSync(work, {recursive: true})
  const env = isolatedEnv({ROSTER_REGISTRY: `sqlite:${path.join(work, 'registry.db')}`})
  const cli = async (...argv: string[]) => ok(await runCli(argv, {env}), `roster ${argv.join(' ')}`)
  await cli('server', 'register', SERVER)

  // The namespace each job reads, and the node_exporter registered in it.
  const registered = new Set<string>()
  const register = async (namespace: string, blackboxExport: boolean): Promise<void> => {
    if (registered.has(namespace)) return
    registered.add(namespace)
    if (namespace !== 'default') await cli('namespace', 'register', namespace, '--export', blackboxExport ? 'blackbox' : 'standard')
    await cli('service', 'register', 'node', '-e', exporter.metricsUrl, '-n', namespace)
  }
  for (const job of jobs) {
    for (const sd of job.http_sd_configs ?? []) {
      const url = new URL(sd.url)
      const [, , , server, namespace] = url.pathname.split('/')
      assert.equal(server, SERVER, `${where}: ${sd.url} names the server`)
      await register(namespace ?? 'default', isBlackbox(job) && url.searchParams.get('config') === null)
    }
    if (job.file_sd_configs) await register(isBlackbox(job) ? 'websites' : 'default', isBlackbox(job))
  }

  // What names this machine, filled in.
  let serve: ServeProcess | undefined
  let prometheus: PrometheusServer | undefined
  try {
    if (jobs.some((j) => j.http_sd_configs)) {
      serve = await startServe({registry: env.ROSTER_REGISTRY!, args: ['--tls-cert', tls.serverCertFile, '--tls-key', tls.serverKeyFile]})
    }
    const tokenFile = path.join(work, 'read.token')
    writeFileSync(tokenFile, (await cli('token', 'create', 'prometheus', '--role', 'read', '-n', '*')).stdout.trim(), {mode: 0o600})
    const sdDir = path.join(work, 'file-sd')
    mkdirSync(sdDir)
    if (jobs.some((j) => j.file_sd_configs)) await cli('sd', 'export', '--server', SERVER, '--dir', sdDir, '--once')
    for (const job of jobs) {
      for (const sd of job.http_sd_configs ?? []) {
        const url = new URL(sd.url)
        sd.url = `${serve!.url}${url.pathname}${url.search}`
        if (sd.authorization?.credentials_file) sd.authorization.credentials_file = tokenFile
        if (sd.tls_config?.ca_file) sd.tls_config.ca_file = tls.caFile
      }
      for (const sd of job.file_sd_configs ?? []) sd.files = sd.files.map((f) => path.join(sdDir, path.basename(f)))
      for (const r of job.relabel_configs ?? []) if (r.target_label === '__address__' && r.replacement) r.replacement = blackbox.hostPort
    }

    prometheus = await startPrometheus({scrapeConfigs: jobs})
    const p = prometheus
    for (const job of jobs) {
      const probe = isBlackbox(job)
      const target = await until(
        `${where}: job ${job.job_name} ${probe ? 'probing' : 'scraping'} ${exporter.metricsUrl}`,
        async () =>
          (await p.activeTargets()).find(
            (t) =>
              t.scrapePool === job.job_name &&
              t.health === 'up' &&
              (probe ? t.labels.instance === exporter.metricsUrl : t.scrapeUrl === exporter.metricsUrl),
          ),
        {timeoutMs: 90_000, intervalMs: PROMETHEUS_POLL_MS, describe: () => `${p.log()}\n${serve?.stderr() ?? ''}`},
      )
      if (probe) {
        const success = await p.query(`probe_success{job="${job.job_name}",instance="${exporter.metricsUrl}"}`)
        assert.equal(success[0]?.value[1], '1', `${where}: the probe of ${exporter.metricsUrl} through ${target.scrapeUrl} succeeds`)
      }
    }
  } finally {
    await prometheus?.stop()
    await serve?.stop()
  }
}
