import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MeshPinger, MESH_PING_ID_BYTES } from '../../src/node/mesh-ping.js';
import { MeshPingCode } from '../../src/node/node-errors.js';
import { PeerManager } from '../../src/node/session/peer-manager.js';
import { FakeClock } from '../../testkit/fake-clock.js';
import { MemoryRelay } from '../../testkit/memory-relay.js';
import { fixtureNetwork, FIXTURE_EPOCH_MS, type FixtureMember } from '../../testkit/member-fixture.js';
import { FrameType, InnerType } from '../../src/wire/constants.js';
import type { MemberCertificate } from '../../src/identity/certificate.js';

const net = fixtureNetwork();
const alice = net.member('alice', '10.10.10.3/24');
const bob = net.member('bob', '10.10.10.4/24');
const carol = net.member('carol', '10.10.10.5/24');

function manager(m: FixtureMember, relay: MemoryRelay, clock: FakeClock): PeerManager<MemberCertificate> {
  const pm = new PeerManager<MemberCertificate>({
    identity: { signer: m.signer, certificate: m.cert.raw, verifier: net.verifier },
    localPeerId: m.peerId,
    transport: relay.transportFor(m.peerId),
    clock,
  });
  relay.attach(m.peerId, (src, frame) => pm.onFrame(src, frame));
  pm.start();
  return pm;
}

function lab(options: { maxOutstanding?: number } = {}) {
  const clock = new FakeClock(FIXTURE_EPOCH_MS);
  const relay = new MemoryRelay();
  const a = manager(alice, relay, clock);
  const b = manager(bob, relay, clock);
  const c = manager(carol, relay, clock);
  const hrtime = () => clock.now();
  const pa = new MeshPinger({ peers: a, clock, hrtimeMs: hrtime }, options);
  const pb = new MeshPinger({ peers: b, clock, hrtimeMs: hrtime });
  const pc = new MeshPinger({ peers: c, clock, hrtimeMs: hrtime });
  pa.start(); pb.start(); pc.start();
  const stop = () => { pa.stop(); pb.stop(); pc.stop(); a.stop(); b.stop(); c.stop(); };
  return { clock, relay, a, b, c, pa, pb, pc, stop };
}

async function settle<T>(p: Promise<T>): Promise<{ ok: T } | { err: { code?: string } }> {
  return p.then((ok) => ({ ok }), (err: { code?: string }) => ({ err }));
}

test('a ping crosses the handshake and returns with the RTT the clock saw; the peer answered it', async () => {
  const { relay, pa, pb, clock, stop } = lab();
  try {
    const p = pa.ping(bob.peerId);
    assert.equal(pa.outstanding, 1);
    clock.advance(3); // time spent "in flight" before the relay delivers
    relay.pump();
    const r = await p;
    assert.equal(r.rttMs, 3);
    assert.equal(pb.stats.pingsAnswered, 1);
    assert.equal(pa.stats.pongsReceived, 1);
    assert.equal(pa.outstanding, 0);
    // a second ping over the established session
    const q = pa.ping(bob.peerId);
    relay.pump();
    assert.equal((await q).rttMs, 0);
  } finally {
    stop();
  }
});

test('no pong within the timeout rejects with SM_ERR_PING_TIMEOUT and frees the slot', async () => {
  const { relay, pa, clock, stop } = lab();
  try {
    relay.intercept = (f) => (f.frame[1] === FrameType.Data ? null : f.frame); // handshakes pass, data is lost
    const p = settle(pa.ping(bob.peerId, 1_000));
    relay.pump();
    clock.advance(999);
    assert.equal(pa.outstanding, 1);
    clock.advance(1);
    const r = await p;
    assert.ok('err' in r && r.err.code === MeshPingCode.TIMEOUT, JSON.stringify(r));
    assert.equal(pa.outstanding, 0);
    assert.equal(pa.stats.timeouts, 1);
  } finally {
    stop();
  }
});

test('the table of outstanding pings is bounded: one more is refused with SM_ERR_PING_BUSY', async () => {
  const { relay, pa, stop } = lab({ maxOutstanding: 2 });
  try {
    const p1 = settle(pa.ping(bob.peerId));
    const p2 = settle(pa.ping(bob.peerId));
    const p3 = await settle(pa.ping(bob.peerId));
    assert.ok('err' in p3 && p3.err.code === MeshPingCode.BUSY);
    relay.pump();
    assert.ok('ok' in (await p1));
    assert.ok('ok' in (await p2));
  } finally {
    stop();
  }
});

test('a pong from another member than the one pinged does not resolve the ping; stray and short bodies are counted', async () => {
  const { relay, b, c, pa, clock, stop } = lab();
  try {
    // Establish the alice<->bob session first.
    const first = pa.ping(bob.peerId);
    relay.pump();
    await first;
    // Capture the id alice uses next by watching bob's side.
    let seenId: Uint8Array | null = null;
    b.on('inner', (_src: Uint8Array, t: number, body: Uint8Array) => { if (t === InnerType.MeshPing) seenId = new Uint8Array(body); });
    relay.intercept = (f) => (Buffer.from(f.src).equals(Buffer.from(bob.peerId)) && f.frame[1] === FrameType.Data ? null : f.frame);
    const p = settle(pa.ping(bob.peerId, 500));
    relay.pump();
    assert.ok(seenId !== null);
    relay.intercept = null;
    // carol replays the id: a pong with the right id from the wrong member
    c.sendInner(alice.peerId, InnerType.MeshPong, seenId!);
    relay.pump();
    assert.equal(pa.drops.wrong_peer, 1);
    assert.equal(pa.outstanding, 1);
    // an unsolicited pong and a short ping
    const stray = new Uint8Array(MESH_PING_ID_BYTES + 3);
    stray.fill(0xee);
    b.sendInner(alice.peerId, InnerType.MeshPong, stray);
    b.sendInner(alice.peerId, InnerType.MeshPing, new Uint8Array(MESH_PING_ID_BYTES - 1));
    relay.pump();
    assert.equal(pa.drops.unsolicited_pong, 1);
    assert.equal(pa.drops.malformed, 1);
    clock.advance(500);
    const r = await p;
    assert.ok('err' in r && r.err.code === MeshPingCode.TIMEOUT);
  } finally {
    stop();
  }
});

test('echo bytes come back unchanged and stop() rejects what is still waiting', async () => {
  const { relay, a, b, pa, stop } = lab();
  try {
    await (async () => { const p = pa.ping(bob.peerId); relay.pump(); await p; })();
    const echoed: Uint8Array[] = [];
    a.on('inner', (_s: Uint8Array, t: number, body: Uint8Array) => { if (t === InnerType.MeshPong) echoed.push(new Uint8Array(body)); });
    const body = new Uint8Array(MESH_PING_ID_BYTES + 5).fill(7);
    a.sendInner(bob.peerId, InnerType.MeshPing, body);
    relay.pump();
    assert.deepEqual(echoed, [body]);
    void b;
    const waiting = settle(pa.ping(bob.peerId));
    pa.stop();
    const r = await waiting;
    assert.ok('err' in r && r.err.code === MeshPingCode.STOPPED);
    const after = await settle(pa.ping(bob.peerId));
    assert.ok('err' in after && after.err.code === MeshPingCode.STOPPED);
  } finally {
    stop();
  }
});

test('options are validated', () => {
  const relay = new MemoryRelay();
  const clock = new FakeClock(FIXTURE_EPOCH_MS);
  const a = manager(alice, relay, clock);
  try {
    assert.throws(() => new MeshPinger({ peers: a }, { maxOutstanding: 0 }), { code: 'SM_ERR_CONFIG_VALUE' });
    assert.throws(() => new MeshPinger({ peers: a }, { bogus: 1 } as never), { code: 'SM_ERR_CONFIG_UNKNOWN_OPTION' });
  } finally {
    a.stop();
  }
});
