/**
 * NodeDaemon.replaceCertificate on a running daemon (docs/architecture.md
 * "Certificate renewal"), in process: a real relay server on loopback
 * (testkit/in-process-mesh.ts), member alice as a NodeDaemon loaded from
 * files (`--dev none`), bob as a ShadowNode, with a session between them.
 *
 * Shows: a certificate of another key, from the file or as bytes, is refused
 * with SM_ERR_CERT_REPLACE_KEY and changes nothing (no re-admission, the
 * same certificate in force); the renewed certificate (signMember of the
 * same key, name and address) is put in force: the relay link re-admits
 * once, marked as a renewal, the relay re-announces alice with it so bob's
 * directory holds it, the session keeps its keys (no handshake at bob) and
 * carries payloads on; the same certificate again is 'unchanged'.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signMember } from '../../src/identity/ca.js';
import { saveMemberCertificate } from '../../src/identity/files.js';
import { toHex } from '../../src/crypto/bytes.js';
import { NodeDaemon } from '../../src/node/daemon.js';
import type { RelayEstablished } from '../../src/node/path/relay-link.js';
import { startInProcessMesh, waitUntil } from '../../testkit/in-process-mesh.js';
import { throwsWithCode } from '../../testkit/expect-code.js';

const DAY_MS = 86_400_000;

test('replaceCertificate: another key is refused and changes nothing; a renewal re-admits once and keeps the session', { timeout: 60_000 }, async () => {
  const mesh = await startInProcessMesh(['alice', 'bob']);
  const dir = await mkdtemp(join(tmpdir(), 'sm-renew-'));
  let daemon: NodeDaemon | undefined;
  try {
    const m = mesh.net.member('alice');
    daemon = await NodeDaemon.load({}, {
      relayUrl: mesh.relay.url, pin: mesh.relay.pin, caFile: mesh.net.caFile, certFile: m.certFile, crlFile: mesh.net.crlFile,
      identityDir: m.dir, device: 'none', controlPath: join(dir, 'alice.sock'), direct: { host: '127.0.0.1', port: 0 },
    });
    await daemon.start();
    const a = daemon.node;
    const b = mesh.node('bob');
    b.start();
    const bob = mesh.net.member('bob').peerId;
    const fromAlice: string[] = [];
    b.on('payload', (_src: Uint8Array, body: Uint8Array) => fromAlice.push(Buffer.from(body).toString()));
    await waitUntil('alice lists bob', () => a.directory.get(bob) !== undefined);
    for (let i = 0; !a.peers.establishedPeers().some((id) => toHex(id) === toHex(bob)); i++) {
      if (i > 500) throw new Error('no session within 10 s');
      a.send(bob, Buffer.from('hello'));
      await new Promise((r) => setTimeout(r, 20));
    }
    await waitUntil('bob has his session too', () => b.peers.pathAuthKey(m.peerId) !== null);
    const oldNotAfter = daemon.certificate.notAfterMs;

    // Another key's certificate: refused with its code, nothing changes.
    const other = await mesh.net.addMember('mallory');
    throwsWithCode(() => daemon!.replaceCertificate(other.certBytes), 'SM_ERR_CERT_REPLACE_KEY');
    await assert.rejects(daemon.reloadCertificate(other.certFile), (err: { code?: string }) => err.code === 'SM_ERR_CERT_REPLACE_KEY');
    assert.equal(daemon.certificate.notAfterMs, oldNotAfter);
    assert.equal(a.link.stats.renewals, 0);
    assert.equal(a.link.stats.connects, 1);

    // The renewal, through the file as SIGHUP reads it.
    const renewed = await signMember(mesh.net.caDir, { name: 'alice', addresses: [...m.certificate.addresses], publicKey: m.publicKey, validMs: 400 * DAY_MS });
    assert.ok(renewed.notAfterMs > oldNotAfter);
    const renewedFile = join(dir, 'alice-renewed.crt');
    await saveMemberCertificate(renewedFile, renewed);
    const handshakesAtBob = b.peers.peers().find((p) => p.peerId === toHex(m.peerId))!.stats.handshakes;
    const admissions: RelayEstablished[] = [];
    a.link.on('established', (info: RelayEstablished) => admissions.push(info));
    assert.equal(await daemon.reloadCertificate(renewedFile), 'replaced');
    assert.equal(daemon.certificate.notAfterMs, renewed.notAfterMs, 'daemon.certificate is the new one at once');
    assert.equal(a.certificate.notAfterMs, renewed.notAfterMs);
    await waitUntil('the relay re-admits alice', () => admissions.length === 1);
    assert.equal(admissions[0]!.renewal, true);
    assert.equal(a.link.stats.renewals, 1);
    await waitUntil('bob\'s directory holds the renewed certificate', () => b.directory.get(m.peerId)?.cert.notAfterMs === renewed.notAfterMs);

    // The session carried on: no handshake at bob, payloads still arrive.
    for (let i = 0; !fromAlice.includes('after'); i++) {
      if (i > 250) throw new Error(`no payload after the renewal within 5 s (${JSON.stringify(fromAlice)})`);
      a.send(bob, Buffer.from('after'));
      await new Promise((r) => setTimeout(r, 20));
    }
    // Time for a handshake to complete had one been started (one takes tens of ms on loopback).
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal(b.peers.peers().find((p) => p.peerId === toHex(m.peerId))!.stats.handshakes, handshakesAtBob, 'no handshake was forced');
    assert.equal(b.peers.peerCertificate(m.peerId)?.notAfterMs, oldNotAfter, 'bob\'s session still holds the certificate of its last handshake; the next rekey brings the new one');

    // The same certificate again changes nothing.
    assert.equal(await daemon.reloadCertificate(renewedFile), 'unchanged');
    assert.equal(daemon.replaceCertificate(renewed.raw), 'unchanged');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(a.link.stats.renewals, 1);
    assert.equal(admissions.length, 1);
  } finally {
    await daemon?.stop();
    await mesh.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
