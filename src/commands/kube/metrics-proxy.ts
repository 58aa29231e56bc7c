import {Flags} from '@oclif/core'

import {RosterCommand} from '../../command/base-command.js'
import {parseDuration, timerMs} from '../../lib/config/duration.js'
import {InvalidInputError} from '../../lib/errors.js'

export default class KubeMetricsProxy extends RosterCommand<typeof KubeMetricsProxy> {
  static override description = `Serve the metrics of every pod annotated prometheus.io/scrape: "true" (Running and Ready) as one static target.
Each GET /metrics scrapes the pods in parallel and adds pod and namespace labels to every sample (a clashing label becomes exported_<name>) and up{pod,namespace} 0/1 per pod; a pod slower than --scrape-timeout or failing costs only its own up 0. Loopback by default; off loopback it needs --tls-cert/--tls-key or --insecure-plaintext. SIGTERM/SIGINT stop it cleanly.
metrics-k8s-proxy's environment works too, below the flags, ROSTER_* and the config file: POD_LABEL_SELECTOR (--selector), SCRAPE_TIMEOUT (--scrape-timeout) and PORT (--listen 0.0.0.0:PORT, every interface as that tool listens: add --insecure-plaintext or TLS).`

  static override examples = [
    '<%= config.bin %> kube metrics-proxy',
    '<%= config.bin %> kube metrics-proxy --kube-namespace shop -l app=api --scrape-timeout 5s',
    '<%= config.bin %> kube metrics-proxy --listen 0.0.0.0:15090 --tls-cert proxy.crt --tls-key proxy.key --auth-token-file /etc/roster/proxy-token',
    'POD_LABEL_SELECTOR=app=ztunnel PORT=15090 <%= config.bin %> kube metrics-proxy --insecure-plaintext',
  ]

  static override flags = {
    listen: Flags.string({
      description: 'Address to serve on: PORT or :PORT (127.0.0.1), HOST:PORT, [IPv6]:PORT; 0.0.0.0:PORT or [::]:PORT for every interface.',
      default: '127.0.0.1:15090',
    }),
    selector: Flags.string({char: 'l', description: 'Only pods matching this Kubernetes label selector.'}),
    'kube-namespace': Flags.string({description: 'Only pods of this Kubernetes namespace (default: all namespaces).'}),
    'scrape-timeout': Flags.string({description: 'Answer within this long; pods not scraped by then are up 0.', default: '9s'}),
    concurrency: Flags.integer({description: 'Pods scraped at once.', default: 32, min: 1, max: 1024}),
    'tls-cert': Flags.string({description: 'Serve HTTPS with this certificate (PEM).'}),
    'tls-key': Flags.string({description: 'Private key of --tls-cert (PEM).'}),
    'insecure-plaintext': Flags.boolean({description: 'Allow plain HTTP off loopback.'}),
    'auth-token-file': Flags.string({description: 'Require "Authorization: Bearer <the file\'s content>" on every request.'}),
    kubeconfig: Flags.string({
      description: 'Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then the in-cluster service account).',
    }),
    context: Flags.string({description: 'Kubeconfig context to use (default: its current-context).'}),
  }

  async run(): Promise<{requests: number; pods: number}> {
    const f = this.flags
    this.useMetricsK8sProxyEnv()
    const scrapeTimeoutMs = timerMs(parseDuration(f['scrape-timeout'], 'scrape-timeout'))
    const {startMetricsProxy} = await import('../../lib/metrics-proxy/proxy.js')
    const {runUntilSignal} = await import('../../lib/loop/run-until-signal.js')
    const proxy = await startMetricsProxy({
      kubeconfig: f.kubeconfig,
      context: f.context,
      timeoutMs: this.timeoutMs,
      listen: f.listen,
      labelSelector: f.selector,
      kubeNamespace: f['kube-namespace'],
      scrapeTimeoutMs,
      concurrency: f.concurrency,
      tlsCert: f['tls-cert'],
      tlsKey: f['tls-key'],
      insecurePlaintext: f['insecure-plaintext'],
      authTokenFile: f['auth-token-file'],
      onLog: (line) => this.logToStderr(`roster: ${line}`),
    })
    return runUntilSignal(async (signal) => {
      signal.addEventListener('abort', () => void proxy.close(), {once: true})
      await proxy.done
      return proxy.stats()
    })
  }

  /**
   * metrics-k8s-proxy's settings, for a flag that the command line, ROSTER_* and the config file
   * left at its default: that tool's Deployment then runs roster with only its image and args
   * changed. PORT listens on every interface, as metrics-k8s-proxy does.
   */
  private useMetricsK8sProxyEnv(): void {
    const f = this.flags
    const env = process.env
    const unset = (name: string): boolean => this.valueSources.get(name) === 'default'
    if (env.POD_LABEL_SELECTOR && unset('selector')) {
      f.selector = env.POD_LABEL_SELECTOR
      this.valueSources.set('selector', 'env POD_LABEL_SELECTOR')
    }
    if (env.SCRAPE_TIMEOUT && unset('scrape-timeout')) {
      f['scrape-timeout'] = env.SCRAPE_TIMEOUT
      this.valueSources.set('scrape-timeout', 'env SCRAPE_TIMEOUT')
    }
    if (env.PORT && unset('listen')) {
      const port = env.PORT.trim()
      if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
        throw InvalidInputError.forField('PORT', env.PORT, 'expected a port number from 1 to 65535')
      }
      f.listen = `0.0.0.0:${Number(port)}`
      this.valueSources.set('listen', 'env PORT')
    }
  }
}
