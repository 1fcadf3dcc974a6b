/**
 * The relay's own TLS certificate is re-issued before it expires, under
 * traffic, without dropping anyone (issue 7 "Lifecycle": relay certificate
 * rotation with a short lifetime; src/relay/tls-identity.ts).
 *
 * A relay process with `--tls-cert-lifetime 10s` (renewed when a quarter is
 * left: every ~7.5 s) and two `up --dev none --no-direct` daemons, alice and
 * bob, on 127.0.0.1, so every frame crosses the relay's TLS connections. A
 * numbered ping stream alice -> bob (10 per second) runs across three
 * renewals. Asserted:
 *   - the relay logs at least three renewals during the stream, and the
 *     certificate it serves changes (new serial, later expiry, at most ~10 s
 *     of validity) while its pin stays the one the nodes were given;
 *   - every ping of the stream is answered, in order, none lost;
 *   - no session is dropped: alice and bob were admitted once (relay
 *     admissions, each node's connects/reconnects), the alice-bob session
 *     kept growing older with no new handshake;
 *   - carol, started after the second renewal with the same pin, is
 *     admitted (the pin check passes against a renewed certificate) and
 *     reaches alice.
 * Loopback processes rather than a netns lab: renewal is a TLS matter
 * between the relay and its clients, which namespaces would not change.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PeersResult, PingResult, StatusResult } from '../../src/node/control/control-protocol.js';
import { pinOfCertificate } from '../../src/relay/tls-identity.js';
import { startRelayProcess, type RelayProcess } from '../../testkit/relay-process.js';
import { createTestNetwork, type TestNetwork } from '../../testkit/test-network.js';
import { runCliAsync, startDaemon, waitFor, type DaemonProcess } from '../../testkit/daemon-process.js';
import { logRecords } from '../../testkit/log-records.js';

const LIFETIME = '10s';
const LIFETIME_MS = 10_000;
/** Renewal when a quarter of the lifetime is left. */
const RENEW_PERIOD_MS = 7_500;
const RENEWALS = 3;
const PING_INTERVAL_MS = 100;
/** Three renewal periods and one more for the phase: 30 s of pings. */
const PING_COUNT = Math.ceil(((RENEWALS + 1) * RENEW_PERIOD_MS) / PING_INTERVAL_MS);
/** The stream takes PING_COUNT × interval; generous bound for a loaded machine. */
const PING_TIMEOUT_MS = 120_000;
/** A renewal is due every 7.5 s; wait up to several periods. */
const RENEWAL_WAIT_MS = 40_000;

let net: TestNetwork;
let relay: RelayProcess;
let dir: string;
const daemons: Record<string, DaemonProcess> = {};

const sock = (name: string): string => join(dir, `${name}.sock`);
const hex = (name: string): string => Buffer.from(net.member(name).peerId).toString('hex');

function upArgs(name: string): string[] {
  const m = net.member(name);
  return ['--relay', relay.url, '--pin', relay.pin, '--ca', net.caFile, '--cert', m.certFile, '--dir', m.dir, '--dev', 'none', '--no-direct', '--control', sock(name)];
}

async function json<T>(args: string[], timeoutMs?: number): Promise<T> {
  const r = await runCliAsync([...args, '--json'], {}, timeoutMs);
  assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
const statusOf = (name: string): Promise<StatusResult> => json<StatusResult>(['status', '--control', sock(name)]);
const peersOf = (name: string): Promise<PeersResult> => json<PeersResult>(['peers', '--control', sock(name)]);

/** Renewals the relay logged so far, with the expiry each announced. */
function renewals(): Array<{ notAfter: string; pin: string }> {
  return logRecords(relay.stderr())
    .filter((r) => r['msg'] === 'TLS certificate renewed').map((r) => ({ notAfter: String(r['notAfter']), pin: String(r['pin']) }));
}

/** The certificate the relay serves right now. */
function servedCertificate(): Promise<{ serial: string; notAfterMs: number; notBeforeMs: number; pin: string }> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port: relay.port, rejectUnauthorized: false, servername: 'localhost' }, () => {
      const c = s.getPeerCertificate();
      s.destroy();
      resolve({ serial: c.serialNumber, notAfterMs: Date.parse(c.valid_to), notBeforeMs: Date.parse(c.valid_from), pin: pinOfCertificate(c.raw) });
    });
    s.setTimeout(10_000, () => s.destroy(new Error('TLS connect to the relay timed out')));
    s.on('error', reject);
  });
}

before(async () => {
  net = await createTestNetwork({ members: ['alice', 'bob', 'carol'] });
  dir = await mkdtemp(join(tmpdir(), 'sm-renew-'));
  relay = await startRelayProcess({ caFile: net.caFile, args: ['--tls-cert-lifetime', LIFETIME] });
  const [a, b] = await Promise.all([startDaemon(upArgs('alice')), startDaemon(upArgs('bob'))]);
  Object.assign(daemons, { alice: a, bob: b });
});

after(async () => {
  for (const d of Object.values(daemons)) await d.stop();
  await relay?.stop();
  await net?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test(`relay certificate renewed ${RENEWALS} times (${LIFETIME} lifetime) under a ping stream over the relay: nothing lost, nobody re-admitted, a later member passes the pin`, { timeout: 180_000 }, async () => {
  await waitFor('alice sees bob', async () => ((await peersOf('alice')).peers.some((p) => p.peerId === hex('bob')) ? true : undefined), 20_000);
  const warm = await json<PingResult>(['ping', 'bob', '--count', '3', '--interval', '100ms', '--control', sock('alice')]);
  assert.equal(warm.summary.received, 3, JSON.stringify(warm.lost));
  const cert0 = await servedCertificate();
  assert.equal(cert0.pin, relay.pin);
  assert.ok(cert0.notAfterMs - Date.now() <= LIFETIME_MS + 1_000, `the served certificate lives ${cert0.notAfterMs - Date.now()} ms more, not ~${LIFETIME_MS}`);
  const aliceBefore = await statusOf('alice');
  const bobBefore = await statusOf('bob');
  const admissionsBefore = (await relay.stats()).admissions;
  assert.equal(admissionsBefore, 2);
  const sessionBefore = (await peersOf('alice')).peers.find((p) => p.peerId === hex('bob'))!;
  const renewed0 = renewals().length;
  const t0 = Date.now();

  // The stream runs on its own while the renewals happen and carol joins.
  const stream = json<PingResult>(['ping', 'bob', '--count', String(PING_COUNT), '--interval', `${PING_INTERVAL_MS}ms`, '--control', sock('alice')], PING_TIMEOUT_MS);

  await waitFor('two renewals', async () => (renewals().length >= renewed0 + 2 ? true : undefined), RENEWAL_WAIT_MS, 200);
  const cert2 = await servedCertificate();
  assert.notEqual(cert2.serial, cert0.serial, 'a renewed certificate is served');
  assert.ok(cert2.notAfterMs > cert0.notAfterMs, 'with a later expiry');
  assert.equal(cert2.pin, relay.pin, 'and the same key');
  // carol joins now, pinning the key the relay printed at start.
  daemons['carol'] = await startDaemon(upArgs('carol'));
  await waitFor('carol sees alice', async () => ((await peersOf('carol')).peers.some((p) => p.peerId === hex('alice')) ? true : undefined), 20_000);
  const carolPing = await json<PingResult>(['ping', 'alice', '--count', '3', '--interval', '100ms', '--control', sock('carol')]);
  assert.equal(carolPing.summary.received, 3, JSON.stringify(carolPing.lost));

  const r = await stream;
  const t1 = Date.now();
  const during = renewals().slice(renewed0);
  assert.ok(during.length >= RENEWALS, `${during.length} renewals during the ${t1 - t0} ms stream, expected ${RENEWALS}: ${relay.stderr().slice(-2_000)}`);
  for (const x of during) assert.equal(x.pin, relay.pin);
  const expiries = during.map((x) => Date.parse(x.notAfter));
  for (let i = 1; i < expiries.length; i++) assert.ok(expiries[i]! > expiries[i - 1]!, `renewal ${i} expires later than the one before`);

  assert.equal(r.summary.sent, PING_COUNT);
  assert.deepEqual(r.lost, [], `lost pings: ${JSON.stringify(r.lost.slice(0, 5))}`);
  assert.deepEqual(r.replies.map((x) => x.seq), Array.from({ length: PING_COUNT }, (_, i) => i + 1), 'every seq answered, in order');
  assert.ok(r.replies.every((x) => x.path === 'relay'), 'over the relay');

  // Nobody dropped: the same admissions, the same links, the same session.
  assert.equal((await relay.stats()).admissions, admissionsBefore + 1, 'only carol was admitted since');
  for (const [name, before] of [['alice', aliceBefore], ['bob', bobBefore]] as const) {
    const now = await statusOf(name);
    assert.equal(now.relay.connects, before.relay.connects, `${name} connected again`);
    assert.equal(now.relay.reconnects, before.relay.reconnects, `${name} reconnected`);
  }
  const sessionAfter = (await peersOf('alice')).peers.find((p) => p.peerId === hex('bob'))!;
  assert.ok(sessionAfter.session.ageMs! >= sessionBefore.session.ageMs! + (t1 - t0) - 1_000, 'the alice-bob session is the same one');
});
