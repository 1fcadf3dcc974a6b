import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TlsIdentity, TLS_KEY_FILE_NAME, SELF_SIGNED_VALIDITY_MS, RENEW_BEFORE_EXPIRY_MS, pinOfCertificate, defaultRelayDataDir, spkiPin } from '../../src/relay/tls-identity.js';
import { relayPinOf } from '../../src/node/path/relay-link.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'sm-tls-'));
}

test('self-signed: key persisted 0600, pin stable across loads and renewals', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const now = Date.now();
  const first = await TlsIdentity.load({ dataDir: join(dir, 'relay') }, now);
  assert.equal(first.selfSigned, true);
  assert.match(first.pin, /^sha256:[0-9a-f]{64}$/);
  assert.equal(statSync(join(dir, 'relay', TLS_KEY_FILE_NAME)).mode & 0o777, 0o600);
  const again = await TlsIdentity.load({ dataDir: join(dir, 'relay') }, now + 1_000);
  assert.equal(again.pin, first.pin, 'a restart keeps the pin');
  assert.notEqual(again.material.certPem, first.material.certPem, 'but issues a new certificate');
  const oldCert = first.material.certPem;
  await first.renew(now + 20 * 3_600_000);
  assert.equal(first.pin, again.pin);
  assert.notEqual(first.material.certPem, oldCert);
});

test('the certificate is ECDSA P-256, valid 24 h, and the pin hashes its SPKI', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const now = Date.now();
  const id = await TlsIdentity.load({ dataDir: dir, hostnames: ['127.0.0.1', 'relay.example'] }, now);
  const cert = new X509Certificate(id.material.certPem);
  assert.equal(cert.publicKey.asymmetricKeyType, 'ec');
  assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  const lifetime = Date.parse(cert.validTo) - now;
  assert.ok(Math.abs(lifetime - SELF_SIGNED_VALIDITY_MS) < 2_000, `lifetime ${lifetime}`);
  assert.match(cert.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
  assert.match(cert.subjectAltName ?? '', /DNS:relay\.example/);
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  assert.equal(id.pin, spkiPin(spki));
  assert.equal(id.pin, relayPinOf(spki), 'the link computes the same pin');
  assert.equal(id.pin, pinOfCertificate(id.material.certPem));
});

test('needsRenewal turns true RENEW_BEFORE_EXPIRY_MS before expiry', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const now = Date.now();
  const id = await TlsIdentity.load({ dataDir: dir }, now);
  assert.equal(id.needsRenewal(now), false);
  assert.equal(id.needsRenewal(id.material.notAfterMs - RENEW_BEFORE_EXPIRY_MS - 1), false);
  assert.equal(id.needsRenewal(id.material.notAfterMs - RENEW_BEFORE_EXPIRY_MS), true);
});

test('a key file readable by others is refused', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await TlsIdentity.load({ dataDir: dir }, Date.now());
  chmodSync(join(dir, TLS_KEY_FILE_NAME), 0o644);
  await assert.rejects(TlsIdentity.load({ dataDir: dir }, Date.now()), (e: Error & { code?: string }) => e.code === 'SM_ERR_CONFIG_VALUE' && /chmod 600/.test(e.message));
});

test('operator files: served as given, never renewed; mismatched pair refused', async (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const selfSigned = await TlsIdentity.load({ dataDir: join(dir, 'gen') }, Date.now());
  writeFileSync(join(dir, 'cert.pem'), selfSigned.material.certPem);
  writeFileSync(join(dir, 'key.pem'), selfSigned.material.keyPem, { mode: 0o600 });
  const op = await TlsIdentity.load({ certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') }, Date.now());
  assert.equal(op.selfSigned, false);
  assert.equal(op.pin, selfSigned.pin);
  assert.equal(op.needsRenewal(Number.MAX_SAFE_INTEGER), false);
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  writeFileSync(join(dir, 'other.pem'), other, { mode: 0o600 });
  await assert.rejects(TlsIdentity.load({ certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'other.pem') }, Date.now()), (e: Error & { code?: string }) => e.code === 'SM_ERR_CONFIG_VALUE');
  await assert.rejects(TlsIdentity.load({ certFile: join(dir, 'cert.pem') }, Date.now()), (e: Error & { code?: string }) => e.code === 'SM_ERR_CONFIG_VALUE' && /--key/.test(e.message));
});

test('default data dir follows SHADOWMESH_HOME', () => {
  assert.equal(defaultRelayDataDir({ SHADOWMESH_HOME: '/srv/sm' }), '/srv/sm/relay');
  assert.match(defaultRelayDataDir({}), /\.shadowmesh\/relay$/);
});
