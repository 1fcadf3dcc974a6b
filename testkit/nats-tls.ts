/**
 * Throwaway TLS material for a test nats-server (docs/configuration.md
 * "Relay cluster", TLS): a CA, a server certificate it signs for 127.0.0.1
 * and localhost, and a second, unrelated CA that signs nothing here (what a
 * relay configured with the wrong relay.cluster.tlsCa holds).
 *
 *     const tls = makeNatsTls();          // files in a fresh temp dir
 *     const nats = await startNatsServer({ tls: { certFile: tls.certFile, keyFile: tls.keyFile } });
 *     // relay: --cluster nats.url --cluster-ca tls.caFile
 *     tls.cleanup();
 *
 * Made with the `openssl` command (P-256 keys, one day of validity): the
 * network's own certificates are ML-DSA and nats-server speaks only
 * classical TLS. Throws when openssl is missing.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface NatsTls {
  dir: string;
  /** The CA that signed the server certificate. */
  caFile: string;
  /** A CA that signed nothing the server presents. */
  otherCaFile: string;
  certFile: string;
  keyFile: string;
  cleanup(): void;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makeNatsTls(): NatsTls {
  const dir = mkdtempSync(join(tmpdir(), 'sm-nats-tls-'));
  const f = (name: string): string => join(dir, name);
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  for (const ca of ['ca', 'other-ca']) {
    openssl(['req', '-x509', ...key, '-keyout', f(`${ca}-key.pem`), '-out', f(`${ca}.pem`), '-days', '1', '-subj', `/CN=shadowmesh test NATS ${ca}`]);
  }
  openssl(['req', ...key, '-keyout', f('server-key.pem'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1']);
  writeFileSync(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca-key.pem'), '-CAcreateserial', '-out', f('server.pem'), '-days', '1', '-extfile', f('ext.cnf')]);
  return {
    dir,
    caFile: f('ca.pem'),
    otherCaFile: f('other-ca.pem'),
    certFile: f('server.pem'),
    keyFile: f('server-key.pem'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
