/**
 * What the certificate fetcher drops (src/node/cert-fetcher.ts) is visible
 * where an operator looks: `status --json` (`certs.<reason>`) and
 * shadowmesh_drops_total{component="certs"} (docs/architecture.md "Presence
 * at scale", docs/threat-model.md "Malicious relay"). A real `shadowmesh up`
 * daemon for alice (--dev none, relay only, --metrics on 127.0.0.1) is
 * admitted by the in-process MaliciousRelay (testkit/adversary/), which
 * answers alice's CERT_REQUEST for bob with bytes that are not the
 * certificate it announced and pushes CERT frames nobody asked for; both
 * counters must move in both places, and bob is listed only once the relay
 * serves his true certificate.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatPeerId } from '../../src/identity/peer-id.js';
import { MAX_FETCH_ATTEMPTS } from '../../src/node/cert-fetcher.js';
import { startInProcessMesh } from '../../testkit/in-process-mesh.js';
import { runCliAsync, startDaemon, waitFor } from '../../testkit/daemon-process.js';
import { freePort } from '../../testkit/free-port.js';
import { scrape } from '../../testkit/metrics-scrape.js';
import { seriesValue } from '../../testkit/prometheus-exposition.js';

const hexOf = (id: Uint8Array): string => Buffer.from(id).toString('hex');
/** Unsolicited CERT frames the relay pushes. */
const UNSOLICITED = 5;

interface Status {
  drops: Record<string, number>;
}

test('CERT answers the fetcher drops (a substituted certificate, unsolicited ones) show in status and shadowmesh_drops_total', async () => {
  const mesh = await startInProcessMesh(['alice', 'bob']);
  const dir = await mkdtemp(join(tmpdir(), 'sm-certdrop-'));
  let daemon: Awaited<ReturnType<typeof startDaemon>> | undefined;
  try {
    const alice = mesh.net.member('alice');
    const bob = mesh.net.member('bob');
    let honest = false;
    // Every answer to alice about bob is garbage of a plausible size: not the digest the relay announced.
    mesh.relay.onCertRequest = (requester, peerId) =>
      !honest && hexOf(requester) === hexOf(alice.peerId) && hexOf(peerId) === hexOf(bob.peerId) ? new Uint8Array(7_000).fill(0x5a) : 'honest';
    mesh.node('bob').start();
    const sock = join(dir, 'alice.sock');
    const port = await freePort();
    daemon = await startDaemon([
      '--relay', mesh.relay.url, '--pin', mesh.relay.pin, '--ca', mesh.net.caFile, '--cert', alice.certFile, '--dir', alice.dir,
      '--dev', 'none', '--no-direct', '--control', sock, '--metrics', `127.0.0.1:${port}`,
    ]);
    const status = async (): Promise<Status> => {
      const r = await runCliAsync(['status', '--json', '--control', sock]);
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as Status;
    };

    // The relay announces bob; alice asks, is lied to, asks again, gives up after MAX_FETCH_ATTEMPTS.
    const s1 = await waitFor('every answer for bob refused', async () => {
      const s = await status();
      return (s.drops['certs.digest_mismatch'] ?? 0) >= MAX_FETCH_ATTEMPTS ? s : undefined;
    }, 30_000, 200);
    assert.equal(s1.drops['certs.digest_mismatch'], MAX_FETCH_ATTEMPTS, 'asked more often than MAX_FETCH_ATTEMPTS');
    const f1 = await scrape(port);
    assert.equal(seriesValue(f1, 'shadowmesh_drops_total', { component: 'certs', reason: 'digest_mismatch' }), MAX_FETCH_ATTEMPTS);

    // CERT frames nobody asked for: counted as unsolicited.
    for (let i = 0; i < UNSOLICITED; i++) assert.ok(mesh.relay.sendCert(alice.peerId, bob.peerId, bob.certBytes));
    await waitFor('unsolicited answers counted', async () => ((await status()).drops['certs.unsolicited'] ?? 0) >= UNSOLICITED ? true : undefined, 15_000, 200);
    const f2 = await scrape(port);
    assert.equal(seriesValue(f2, 'shadowmesh_drops_total', { component: 'certs', reason: 'unsolicited' }), UNSOLICITED);

    // Nothing listed bob meanwhile; an honest answer after a fresh announcement does.
    const whois = await runCliAsync(['whois', formatPeerId(bob.peerId), '--control', sock]);
    assert.notEqual(whois.status, 0, 'bob was listed from a refused certificate');
    honest = true;
    mesh.relay.onCertRequest = null;
    await mesh.stopRelay();
    await mesh.startRelay();
    await waitFor('bob listed from his true certificate', async () => ((await runCliAsync(['whois', formatPeerId(bob.peerId), '--control', sock])).status === 0 ? true : undefined), 30_000, 300);
  } finally {
    await daemon?.stop();
    await mesh.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
