/**
 * The relay daemon's certificate expiry warnings (docs/architecture.md
 * "Certificate expiry"): a TLS certificate from --cert-file that ends in 5
 * days is logged and reported 'expiring' in /stats; the self-signed one,
 * which renews itself, is neither logged nor reported expiring; a CA far
 * from its end is not logged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveCaCertificate } from '../../src/identity/files.js';
import { RelayDaemon } from '../../src/relay-daemon/relay-daemon.js';
import { TlsIdentity } from '../../src/relay/tls-identity.js';
import type { Logger, LogFields } from '../../src/util/logger.js';
import { fixtureNetwork } from '../../testkit/member-fixture.js';

const DAY = 86_400_000;

function recordingLogger(): { logger: Logger; lines: Array<{ level: string; msg: string; fields?: LogFields }> } {
  const lines: Array<{ level: string; msg: string; fields?: LogFields }> = [];
  const rec = (level: string) => (msg: string, fields?: LogFields): void => { lines.push({ level, msg, ...(fields !== undefined ? { fields } : {}) }); };
  const logger = { debug: rec('debug'), info: rec('info'), warn: rec('warn'), error: rec('error'), child: () => logger } as unknown as Logger;
  return { logger, lines };
}

test('a TLS certificate from --cert-file ending in 5 days is warned about; a self-signed one and a far CA are not', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sm-relay-expiry-'));
  try {
    const caFile = join(dir, 'ca.crt');
    await saveCaCertificate(caFile, fixtureNetwork().ca);
    // An operator's certificate: issued elsewhere (here: a 5-day one from a throwaway TLS identity), handed over as files.
    const issued = await TlsIdentity.load({ dataDir: join(dir, 'issuer'), hostnames: ['localhost'], lifetimeMs: 5 * DAY }, Date.now());
    await writeFile(join(dir, 'tls.crt'), issued.material.certPem);
    await writeFile(join(dir, 'tls.key'), issued.material.keyPem, { mode: 0o600 });

    const own = recordingLogger();
    const withFile = await RelayDaemon.load({ logger: own.logger }, { caFile, dataDir: join(dir, 'relay'), certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), server: { host: '127.0.0.1', port: 0, stun: false } });
    await withFile.start();
    try {
      const warned = own.lines.filter((l) => /certificate/.test(l.msg) && (l.level === 'warn' || l.level === 'error'));
      assert.deepEqual(warned.map((l) => [l.level, l.fields?.['cert']]), [['warn', 'tls']], JSON.stringify(own.lines));
      assert.match(warned[0]!.msg, /^relay TLS certificate expires at \S+ \(4d23h left\); renew it$/);
      const c = withFile.server.snapshot().certificates!;
      assert.equal(c.tls.selfSigned, false);
      assert.equal(c.tls.state, 'expiring');
      assert.equal(c.tls.notAfterMs, issued.material.notAfterMs - (issued.material.notAfterMs % 1000));
      assert.equal(c.ca?.state, 'ok');
    } finally {
      await withFile.stop();
    }

    const self = recordingLogger();
    const selfSigned = await RelayDaemon.load({ logger: self.logger }, { caFile, dataDir: join(dir, 'relay2'), certLifetimeMs: 5 * DAY, server: { host: '127.0.0.1', port: 0, stun: false } });
    await selfSigned.start();
    try {
      assert.deepEqual(self.lines.filter((l) => l.level === 'warn' || l.level === 'error'), []);
      const c = selfSigned.server.snapshot().certificates!;
      assert.equal(c.tls.selfSigned, true);
      assert.equal(c.tls.state, 'ok', 'it renews itself');
    } finally {
      await selfSigned.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
