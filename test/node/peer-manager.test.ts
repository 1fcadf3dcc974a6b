import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PeerManager } from '../../src/node/peer-manager.js';
import { FakeClock } from '../../src/testkit/fake-clock.js';
import { MemoryRelay } from '../../src/testkit/memory-relay.js';
import { fixtureNetwork, FIXTURE_EPOCH_MS, type FixtureMember } from '../../src/testkit/member-fixture.js';
import { FrameType } from '../../src/wire/constants.js';
import { utf8 } from '../../src/crypto/bytes.js';
import type { MemberCertificate } from '../../src/identity/certificate.js';

const net = fixtureNetwork();
const alice = net.member('alice', '10.10.10.3/24');
const bob = net.member('bob', '10.10.10.4/24');

interface Lab {
  clock: FakeClock;
  relay: MemoryRelay;
  a: PeerManager<MemberCertificate>;
  b: PeerManager<MemberCertificate>;
  got: { a: string[]; b: string[] };
}

function manager(m: FixtureMember, relay: MemoryRelay, clock: FakeClock, timers = {}): PeerManager<MemberCertificate> {
  const pm = new PeerManager<MemberCertificate>(
    { identity: { signer: m.signer, certificate: m.cert.raw, verifier: net.verifier }, localPeerId: m.peerId, transport: relay.transportFor(m.peerId), clock },
    { timers },
  );
  relay.attach(m.peerId, (src, frame) => pm.onFrame(src, frame));
  pm.start();
  return pm;
}

function lab(timers = {}): Lab {
  const clock = new FakeClock(FIXTURE_EPOCH_MS);
  const relay = new MemoryRelay();
  const a = manager(alice, relay, clock, timers);
  const b = manager(bob, relay, clock, timers);
  const got = { a: [] as string[], b: [] as string[] };
  a.on('payload', (_p: Uint8Array, body: Uint8Array) => got.a.push(Buffer.from(body).toString()));
  b.on('payload', (_p: Uint8Array, body: Uint8Array) => got.b.push(Buffer.from(body).toString()));
  return { clock, relay, a, b, got };
}

test('first payload waits for the handshake, then everything arrives in order, both ways', () => {
  const { a, b, relay, got } = lab();
  assert.equal(a.sendPayload(bob.peerId, utf8('one')), 'queued');
  assert.equal(a.sendPayload(bob.peerId, utf8('two')), 'queued');
  relay.pump();
  assert.deepEqual(got.b, ['one', 'two']);
  assert.equal(b.sendPayload(alice.peerId, utf8('back')), 'sent');
  relay.pump();
  assert.deepEqual(got.a, ['back']);
  assert.equal(a.peers()[0]!.established, true);
  assert.equal(a.peers()[0]!.name, 'bob');
  a.stop(); b.stop();
});

test('a tampered DATA frame is dropped and counted; a replayed one is rejected', () => {
  const { a, b, relay, got } = lab();
  a.sendPayload(bob.peerId, utf8('hello'));
  relay.pump();
  let captured: Uint8Array | null = null;
  relay.intercept = (f) => {
    if (f.frame[1] === FrameType.Data) {
      captured = f.frame;
      const t = new Uint8Array(f.frame);
      t[t.length - 20]! ^= 0x80;
      return t;
    }
    return f.frame;
  };
  a.sendPayload(bob.peerId, utf8('secret'));
  relay.pump();
  assert.deepEqual(got.b, ['hello'], 'tampered frame must not be delivered');
  assert.equal(b.peers()[0]!.drops.auth_failed, 1);
  relay.intercept = null;
  relay.inject(alice.peerId, bob.peerId, captured!);
  relay.pump();
  assert.deepEqual(got.b, ['hello', 'secret'], 'the untampered original is accepted once');
  relay.inject(alice.peerId, bob.peerId, captured!);
  relay.pump();
  assert.deepEqual(got.b, ['hello', 'secret'], 'its replay is not');
  assert.equal(b.peers()[0]!.drops.replay, 1);
  a.stop(); b.stop();
});

test('after a rekey, old-key frames are accepted within the grace period and refused after', () => {
  const { a, b, relay, got, clock } = lab({ rekeyAfterTimeMs: 10_000, previousKeyGraceMs: 3_000 });
  a.sendPayload(bob.peerId, utf8('k1'));
  relay.pump();
  // hold back a frame sealed under the first key
  let held: Uint8Array | null = null;
  relay.intercept = (f) => { if (f.frame[1] === FrameType.Data && !held) { held = f.frame; return null; } return f.frame; };
  a.sendPayload(bob.peerId, utf8('late-1'));
  relay.pump();
  relay.intercept = null;
  const handshakesBefore = b.peers()[0]!.stats.handshakes;
  clock.advance(11_000);
  a.sendPayload(bob.peerId, utf8('k2')); // sending on an old key is what triggers the time-based rekey
  clock.advance(600); // on the session's next tick
  relay.pump();
  assert.ok(b.peers()[0]!.stats.handshakes > handshakesBefore, 'a rekey happened');
  a.sendPayload(bob.peerId, utf8('k3'));
  relay.pump();
  relay.inject(alice.peerId, bob.peerId, held!);
  relay.pump();
  assert.deepEqual(got.b, ['k1', 'k2', 'k3', 'late-1'], 'old-key frame accepted within grace');

  let held2: Uint8Array | null = null;
  relay.intercept = (f) => { if (f.frame[1] === FrameType.Data && !held2) { held2 = f.frame; return null; } return f.frame; };
  a.sendPayload(bob.peerId, utf8('late-2'));
  relay.pump();
  relay.intercept = null;
  clock.advance(11_000);
  a.sendPayload(bob.peerId, utf8('k4'));
  clock.advance(600);
  relay.pump();
  clock.advance(4_000);
  relay.pump();
  relay.inject(alice.peerId, bob.peerId, held2!);
  relay.pump();
  assert.ok(!got.b.includes('late-2'), 'old-key frame refused after grace');
  a.stop(); b.stop();
});

test('a relay that swaps a handshake message gets no session and delivers nothing', () => {
  const { a, b, relay, got } = lab();
  const eve = net.member('eve', '10.10.10.66/24');
  const eveSide = new PeerManager<MemberCertificate>(
    { identity: { signer: eve.signer, certificate: eve.cert.raw, verifier: net.verifier }, localPeerId: eve.peerId, transport: relay.transportFor(eve.peerId), clock: new FakeClock(FIXTURE_EPOCH_MS) },
  );
  void eveSide;
  relay.intercept = (f) => {
    if (f.frame[1] !== FrameType.HsResp) return f.frame;
    const t = new Uint8Array(f.frame);
    t[20]! ^= 1; // inside the KEM ciphertext
    return t;
  };
  a.sendPayload(bob.peerId, utf8('never'));
  relay.pump();
  assert.deepEqual(got.b, []);
  assert.equal(a.peers()[0]!.established, false);
  assert.ok(a.drops.hs_invalid >= 1);
  a.stop(); b.stop();
});

test('simultaneous first packets converge on one session that keeps working past the grace period', () => {
  const { a, b, relay, got, clock } = lab({ previousKeyGraceMs: 2_000 });
  a.sendPayload(bob.peerId, utf8('from-a'));
  b.sendPayload(alice.peerId, utf8('from-b'));
  relay.pump();
  clock.advance(6_000);
  relay.pump();
  assert.deepEqual(got.b, ['from-a']);
  assert.deepEqual(got.a, ['from-b']);
  clock.advance(5_000);
  relay.pump();
  a.sendPayload(bob.peerId, utf8('later-a'));
  b.sendPayload(alice.peerId, utf8('later-b'));
  relay.pump();
  assert.deepEqual(got.b, ['from-a', 'later-a']);
  assert.deepEqual(got.a, ['from-b', 'later-b']);
  a.stop(); b.stop();
});

test('a peer that restarted (lost its keys) is re-keyed and traffic resumes', () => {
  const { a, b, relay, got, clock } = lab();
  a.sendPayload(bob.peerId, utf8('before'));
  relay.pump();
  b.stop();
  relay.detach(bob.peerId);
  const b2 = manager(bob, relay, clock);
  const got2: string[] = [];
  b2.on('payload', (_p: Uint8Array, body: Uint8Array) => got2.push(Buffer.from(body).toString()));
  clock.advance(1_000);
  a.sendPayload(bob.peerId, utf8('lost-while-rekeying'));
  relay.pump();
  a.sendPayload(bob.peerId, utf8('after'));
  relay.pump();
  assert.deepEqual(got.b, ['before']);
  assert.ok(got2.includes('after'), `restarted peer receives again: ${JSON.stringify(got2)}`);
  a.stop(); b2.stop();
});

test('garbage from the transport is counted, never thrown', () => {
  const { a, b } = lab();
  a.onFrame(bob.peerId, new Uint8Array([1, 2, 3]));
  a.onFrame(bob.peerId, new Uint8Array(5000));
  a.onFrame(bob.peerId, new Uint8Array([1, 0x24, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]));
  assert.ok(a.drops.malformed >= 2);
  assert.ok(a.drops.unknown_index >= 1);
  a.stop(); b.stop();
});

test('forgetPeer drops the session at once: its frames are no longer opened', () => {
  const { a, b, relay, got } = lab();
  a.sendPayload(bob.peerId, utf8('before'));
  relay.pump();
  assert.deepEqual(got.b, ['before']);
  b.forgetPeer(alice.peerId);
  assert.equal(b.peers().length, 0);
  assert.equal(b.pathAuthKey(alice.peerId), null);
  let held: Uint8Array | null = null;
  relay.intercept = (f) => { if (f.frame[1] === FrameType.Data && !held) { held = f.frame; return null; } return f.frame; };
  a.sendPayload(bob.peerId, utf8('after'));
  relay.pump();
  relay.intercept = null;
  const before = b.drops.unknown_index;
  relay.inject(alice.peerId, bob.peerId, held!);
  relay.pump();
  assert.ok(!got.b.includes('after'), 'a frame under the forgotten session is not opened');
  assert.equal(b.drops.unknown_index, before + 1);
  a.stop(); b.stop();
});
