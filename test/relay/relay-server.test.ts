/**
 * RelayServer in process: TLS certificate renewal through the sweep keeps
 * the pin, and start/stop are idempotent. (Admission and routing are tested
 * against the real process in relay-admission / relay-routing.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { RelayServer } from '../../src/relay/relay-server.js';
import { TlsIdentity, SELF_SIGNED_VALIDITY_MS, RENEW_BEFORE_EXPIRY_MS } from '../../src/relay/tls-identity.js';
import { relayPinOf } from '../../src/node/path/relay-link.js';
import { systemClock, type Clock } from '../../src/util/clock.js';
import { eventually } from '../../testkit/raw-relay-client.js';

/** Real timers, but a wall clock the test can move forward. */
function shiftedClock(): Clock & { shiftMs: number } {
  const c = {
    shiftMs: 0,
    now: () => Date.now() + c.shiftMs,
    schedule: (ms: number, fn: () => void) => systemClock.schedule(ms, fn),
  };
  return c;
}

function peerCertificate(port: number): Promise<{ serial: string; pin: string }> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const cert = s.getPeerX509Certificate();
      if (cert === undefined) return reject(new Error('no certificate'));
      resolve({ serial: cert.serialNumber, pin: relayPinOf(cert.publicKey.export({ type: 'spki', format: 'der' })) });
      s.destroy();
    });
    s.on('error', reject);
  });
}

const noMembers = {
  verify(): never {
    throw Object.assign(new Error('no members in this test'), { code: 'SM_ERR_CERT_NOT_MEMBER' });
  },
  isRevoked: () => false,
};

test('the sweep re-issues the certificate before expiry with the same key; start/stop are idempotent', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sm-relay-server-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const clock = shiftedClock();
  const tls = await TlsIdentity.load({ dataDir: dir }, clock.now());
  const server = new RelayServer({ verifier: noMembers, tls, clock }, { host: '127.0.0.1', port: 0, closeGraceMs: 100, heartbeatMs: 200, idleTimeoutMs: 1_000 });
  await Promise.all([server.start(), server.start()]);
  try {
    assert.ok(server.port > 0);
    assert.equal(server.url, `wss://127.0.0.1:${server.port}`);
    const before = await peerCertificate(server.port);
    assert.equal(before.pin, server.pin);
    clock.shiftMs = SELF_SIGNED_VALIDITY_MS - RENEW_BEFORE_EXPIRY_MS + 60_000;
    const after = await eventually('a renewed certificate', async () => {
      const c = await peerCertificate(server.port);
      return c.serial !== before.serial ? c : undefined;
    });
    assert.equal(after.pin, before.pin, 'renewal keeps the pin');
    assert.equal(server.pin, before.pin);
  } finally {
    await Promise.all([server.stop(), server.stop()]);
  }
  await assert.rejects(peerCertificate(server.port));
});
