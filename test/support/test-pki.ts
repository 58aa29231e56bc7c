/**
 * Throw-away certificates for the servers the tests start (etcd, roster serve, the Kubernetes test
 * API server) and their clients, made with the openssl CLI: EC P-256 keys, valid two days, in a
 * directory the caller owns and removes.
 */
import {execFileSync} from 'node:child_process'
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'

const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
const DAYS = '2'

function openssl(...args: string[]): void {
  execFileSync('openssl', args, {stdio: ['ignore', 'ignore', 'pipe']})
}

export interface TestCa {
  caFile: string
  caKeyFile: string
}

/** A self-signed CA, `ca.crt` and `ca.key` in `dir`, marked as a CA that signs certificates. */
export function makeCa(dir: string, commonName = 'roster-test-ca'): TestCa {
  const caFile = join(dir, 'ca.crt')
  const caKeyFile = join(dir, 'ca.key')
  const extensions = ['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']
  openssl('req', '-x509', ...NEW_KEY, '-keyout', caKeyFile, '-out', caFile, '-days', DAYS, '-subj', `/CN=${commonName}`, ...extensions)
  return {caFile, caKeyFile}
}

export interface IssueOptions {
  /** The files' base name in the CA's directory: NAME.crt, NAME.key. */
  name: string
  /** The subject, e.g. '/CN=kube-apiserver' or '/CN=alice/O=system:masters'. */
  subject: string
  /** Extension lines (openssl's extfile), e.g. 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth'. */
  extensions: string
}

/** A certificate and its key, signed by `ca`, in the CA's directory. */
export function issueCert(ca: TestCa, {name, subject, extensions}: IssueOptions): {certFile: string; keyFile: string} {
  const f = (suffix: string) => join(ca.caFile, '..', `${name}.${suffix}`)
  openssl('req', ...NEW_KEY, '-keyout', f('key'), '-out', f('csr'), '-subj', subject)
  writeFileSync(f('ext'), `${extensions}\n`)
  // -CAcreateserial keeps the serial in ca.srl beside the CA: certificates of one CA are made one
  // at a time (execFileSync).
  const args = ['x509', '-req', '-in', f('csr'), '-CA', ca.caFile, '-CAkey', ca.caKeyFile, '-CAcreateserial']
  openssl(...args, '-out', f('crt'), '-days', DAYS, '-extfile', f('ext'))
  return {certFile: f('crt'), keyFile: f('key')}
}

/** PEM files for a TLS server on 127.0.0.1 that asks for client certificates: a CA, the server's, a client's. */
export interface TlsFiles {
  caFile: string
  serverCertFile: string
  serverKeyFile: string
  clientCertFile: string
  clientKeyFile: string
}

/** A CA, a certificate for a server on 127.0.0.1 and one for a client, in `dir`. */
export function makeTlsFiles(dir: string): TlsFiles {
  const ca = makeCa(dir)
  const server = issueCert(ca, {
    name: 'server',
    subject: '/CN=roster-test-server',
    extensions: 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth',
  })
  const client = issueCert(ca, {name: 'client', subject: '/CN=roster-test-client', extensions: 'extendedKeyUsage=clientAuth'})
  return {
    caFile: ca.caFile,
    serverCertFile: server.certFile,
    serverKeyFile: server.keyFile,
    clientCertFile: client.certFile,
    clientKeyFile: client.keyFile,
  }
}
