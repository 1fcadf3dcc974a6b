/**
 * Core end to end, with real processes on loopback: a relay (`shadowmesh
 * relay`) and member nodes (testkit/node-driver.ts), each its own OS
 * process. Proves: payloads cross end to end; the relay never sees them in
 * plaintext; non-members and revoked members are refused; a relay restart
 * heals by itself; a relay impersonator is refused by the pin.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestNetwork, type TestMember, type TestNetwork } from '../../testkit/test-network.js';
import { startRelayProcess, type RelayProcess } from '../../testkit/relay-process.js';
import { NodeProcess } from '../../testkit/node-process.js';
import { formatPeerId } from '../../src/identity/peer-id.js';

const TAP = fileURLToPath(new URL('../../testkit/relay-tap.js', import.meta.url));
const MARKER = 'SM-PLAINTEXT-MARKER-7f3a9c';

let net: TestNetwork;
let work: string;
const nodes: NodeProcess[] = [];
const relays: RelayProcess[] = [];

before(async () => {
  net = await createTestNetwork({ members: ['alice', 'bob', 'carol'] });
  work = mkdtempSync(join(tmpdir(), 'sm-e2e-'));
});

after(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  await Promise.all(relays.map((r) => r.stop()));
  await net.cleanup();
  rmSync(work, { recursive: true, force: true });
});

function startNode(m: TestMember, relay: { url: string; pin: string }, extra: Partial<ConstructorParameters<typeof NodeProcess>[0]> = {}): NodeProcess {
  const n = new NodeProcess({ dir: m.dir, caFile: net.caFile, certFile: m.certFile, relayUrl: relay.url, pin: relay.pin, ...extra });
  nodes.push(n);
  return n;
}

async function relayWithTap(tapFile: string, extraArgs: string[] = [], dataDir?: string): Promise<RelayProcess> {
  const r = await startRelayProcess({
    caFile: net.caFile,
    crlFile: net.crlFile,
    args: extraArgs,
    ...(dataDir ? { dataDir } : {}),
    env: { NODE_OPTIONS: `--import ${new URL(`file://${TAP}`).href}`, SHADOWMESH_TAP_FILE: tapFile, SHADOWMESH_LOG_LEVEL: 'debug' },
  });
  relays.push(r);
  return r;
}

test('two members exchange payloads end to end through a relay that never sees the plaintext', async () => {
  const tap = join(work, 'tap-1.bin');
  const relay = await relayWithTap(tap);
  const alice = net.member('alice');
  const bob = net.member('bob');
  // Relay only: this test is about what the relay sees, so every frame must cross it (direct paths have their own tests).
  const a = startNode(alice, relay, { extraArgs: ['--no-direct'] });
  const b = startNode(bob, relay, { extraArgs: ['--no-direct'] });
  await a.waitFor((e) => e.event === 'relay');
  await b.waitFor((e) => e.event === 'relay');
  const bobHex = formatPeerId(bob.peerId);
  const aliceHex = formatPeerId(alice.peerId);
  const N = 50;
  for (let i = 0; i < N; i++) a.send(bobHex, `${MARKER} a->b #${i}`);
  await b.waitFor((e) => e.event === 'payload' && Buffer.from(String(e['data']), 'base64').toString() === `${MARKER} a->b #${N - 1}`);
  assert.deepEqual(b.payloadsFrom(aliceHex), Array.from({ length: N }, (_, i) => `${MARKER} a->b #${i}`), 'all arrive once, in order');
  for (let i = 0; i < N; i++) b.send(aliceHex, `${MARKER} b->a #${i}`);
  await a.waitFor((e) => e.event === 'payload' && Buffer.from(String(e['data']), 'base64').toString() === `${MARKER} b->a #${N - 1}`);
  assert.equal(a.payloadsFrom(bobHex).length, N);

  const seen = readFileSync(tap);
  // Positive control: the tap does see what the relay receives (the certificate in HELLO names its member).
  assert.ok(seen.includes(Buffer.from('alice')), 'tap captured relay input');
  assert.ok(seen.length > 2 * N * MARKER.length, 'tap captured the data frames');
  assert.ok(!seen.includes(Buffer.from(MARKER)), 'the marker never reaches the relay in plaintext');
  assert.ok(!relay.stderr().includes(MARKER), 'nor its logs');
  const stats = await relay.stats();
  assert.ok(stats.framesRouted >= 2 * N, `relay routed the frames (${stats.framesRouted})`);
});

test('a non-member and a revoked member are refused admission', async () => {
  const other = await createTestNetwork({ members: ['mallory'], caName: 'other network' });
  try {
    const relay = await relayWithTap(join(work, 'tap-2.bin'));
    const mallory = other.member('mallory');
    // mallory presents a certificate from another CA, pinned to the right relay
    const m = new NodeProcess({ dir: mallory.dir, caFile: other.caFile, certFile: mallory.certFile, relayUrl: relay.url, pin: relay.pin });
    nodes.push(m);
    const refused = await m.waitFor((e) => e.event === 'refused');
    assert.match(String(refused['code']), /NOT_MEMBER|NotMember|NOT_A_MEMBER|MEMBER/i);

    const carol = net.member('carol');
    await net.revoke(carol);
    relay.signal('SIGHUP');
    await new Promise((r) => setTimeout(r, 300));
    const c = startNode(carol, relay);
    const refusedC = await c.waitFor((e) => e.event === 'refused');
    assert.match(String(refusedC['code']), /REVOKED/i);
    const stats = await relay.stats();
    assert.ok(Object.values(stats.admissionsRefused).reduce((x, y) => x + y, 0) >= 2, JSON.stringify(stats.admissionsRefused));
    assert.equal(stats.activeClients, 0);
    await m.stop();
    await c.stop();
  } finally {
    await other.cleanup();
  }
});

test('a relay impersonator with a different certificate is refused by the pin', async () => {
  const real = await relayWithTap(join(work, 'tap-3.bin'));
  const fake = await relayWithTap(join(work, 'tap-3-fake.bin'));
  assert.notEqual(real.pin, fake.pin);
  const a = startNode(net.member('alice'), { url: fake.url, pin: real.pin });
  // Wait for the first pin failure (a node process can take seconds to start on a loaded machine), bounded.
  let st = await a.stats();
  const pinFailures = (s: Record<string, unknown>): number => (s['link'] as { failures: Record<string, number> }).failures['SM_ERR_RELAY_PIN'] ?? 0;
  for (let i = 0; i < 100 && pinFailures(st) < 1; i++) {
    await new Promise((r) => setTimeout(r, 200));
    st = await a.stats();
  }
  assert.ok(pinFailures(st) >= 1, JSON.stringify(st['link']));
  assert.equal(a.events.filter((e) => e.event === 'relay').length, 0, 'never admitted by the impersonator');
  const fs = await fake.stats();
  assert.equal(fs.admissionAttempts, 0, 'the impersonator never got a HELLO');
  await a.stop();
});

test('relay restart: nodes reconnect and payloads flow again without manual action', async () => {
  const dataDir = mkdtempSync(join(work, 'relay-data-'));
  const relay = await relayWithTap(join(work, 'tap-4.bin'), [], dataDir);
  const alice = net.member('alice');
  const bob = net.member('bob');
  const a = startNode(alice, relay);
  const b = startNode(bob, relay);
  await a.waitFor((e) => e.event === 'relay');
  await b.waitFor((e) => e.event === 'relay');
  const bobHex = formatPeerId(bob.peerId);
  a.send(bobHex, 'before restart');
  await b.waitFor((e) => e.event === 'payload');

  await relay.stop();
  const relay2 = await relayWithTap(join(work, 'tap-5.bin'), ['--listen', `127.0.0.1:${relay.port}`], dataDir);
  assert.equal(relay2.pin, relay.pin, 'same TLS key, same pin');
  const aFrom = a.events.length;
  const bFrom = b.events.length;
  await a.waitFor((e) => e.event === 'relay', 30_000, aFrom);
  await b.waitFor((e) => e.event === 'relay', 30_000, bFrom);
  for (let i = 0; i < 20; i++) {
    a.send(bobHex, `after restart ${i}`);
    await new Promise((r) => setTimeout(r, 100));
    if (b.payloadsFrom(formatPeerId(alice.peerId)).some((p) => p.startsWith('after restart'))) break;
  }
  await b.waitFor((e) => e.event === 'payload' && Buffer.from(String(e['data']), 'base64').toString().startsWith('after restart'), 20_000, bFrom);
  await a.stop();
  await b.stop();
});
