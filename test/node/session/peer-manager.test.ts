import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { HELD_INIT_TTL_MS, HELD_INITS_MAX, PEER_COOKIES_PER_SECOND, PeerManager, type PeerManagerOptions } from '../../../src/node/session/peer-manager.js';
import { HandshakeInitiator } from '../../../src/handshake/peer-handshake.js';
import { FakeClock } from '../../../testkit/fake-clock.js';
import { MemoryRelay } from '../../../testkit/memory-relay.js';
import { fixtureNetwork, FIXTURE_EPOCH_MS, type FixtureMember } from '../../../testkit/member-fixture.js';
import { FrameType, InnerType } from '../../../src/wire/constants.js';
import { randomBytes, toHex, utf8 } from '../../../src/crypto/bytes.js';
import type { MemberCertificate } from '../../../src/identity/certificate.js';
import type { FrameTransport } from '../../../src/node/path/path.js';

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

test('idle managers do their housekeeping every ten seconds, not every second', () => {
  const { a, b, relay, clock, got } = lab();
  a.sendPayload(bob.peerId, utf8('hello'));
  relay.pump();
  assert.deepEqual(got.b, ['hello']);
  clock.advance(30_000); // the handshake's responder is gone, the sessions' ticks asleep
  const schedule = mock.method(clock, 'schedule');
  clock.advance(60_000);
  // Two managers: 12 housekeeping passes at 10 s (120 at 1 s), plus what the two idle sessions arm.
  assert.ok(schedule.mock.callCount() <= 16, `${schedule.mock.callCount()} timers in 60 s of idle`);
  schedule.mock.restore();
  assert.equal(a.sendPayload(bob.peerId, utf8('still there')), 'sent');
  relay.pump();
  assert.deepEqual(got.b, ['hello', 'still there']);
  a.stop(); b.stop();
});

test('only frames a session opened are reported as traffic; a keepalive is sent as no traffic and not reported', () => {
  const clock = new FakeClock(FIXTURE_EPOCH_MS);
  const relay = new MemoryRelay();
  const reports = { a: [] as string[], b: [] as string[] };
  const sends = { a: [] as boolean[], b: [] as boolean[] };
  const make = (m: FixtureMember, key: 'a' | 'b'): PeerManager<MemberCertificate> => {
    const inner = relay.transportFor(m.peerId);
    const transport: FrameTransport = {
      send: (id, f, traffic) => {
        sends[key].push(traffic !== false);
        return inner.send(id, f);
      },
      trafficFrom: (hex) => {
        reports[key].push(hex);
      },
    };
    const pm = new PeerManager<MemberCertificate>({ identity: { signer: m.signer, certificate: m.cert.raw, verifier: net.verifier }, localPeerId: m.peerId, transport, clock });
    relay.attach(m.peerId, (src, frame) => pm.onFrame(src, frame));
    pm.start();
    return pm;
  };
  const a = make(alice, 'a');
  const b = make(bob, 'b');
  a.sendPayload(bob.peerId, utf8('one'));
  relay.pump();
  assert.deepEqual(reports.b, [toHex(alice.peerId)], 'the payload, once; the handshake messages are not traffic');
  // A tampered DATA frame reaches bob's manager, fails to open and is not reported.
  relay.intercept = (f) => {
    if (f.frame[1] !== FrameType.Data) return f.frame;
    const t = new Uint8Array(f.frame);
    t[t.length - 20]! ^= 0x80;
    return t;
  };
  a.sendPayload(bob.peerId, utf8('two'));
  relay.pump();
  relay.intercept = null;
  assert.equal(b.peers()[0]!.drops.auth_failed, 1);
  assert.deepEqual(reports.b, [toHex(alice.peerId)]);
  // Bob received and answered nothing: his session owes alice a keepalive, which goes out as no traffic, and which
  // alice opens but does not report.
  const sent0 = sends.b.length;
  clock.advance(11_000);
  clock.advance(1_000);
  relay.pump();
  const later = sends.b.slice(sent0);
  assert.ok(later.length >= 1 && later.every((t) => !t), `bob's sends after 11 s: ${JSON.stringify(later)}`);
  assert.deepEqual(reports.a, []);
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

// ---- issue 11: INIT acceptance, membership, self-sessions (docs/handshake.md §4, §6) ----

/** Bob with a membership predicate over `members` (hex ids) and `options`; alice is a plain manager. */
function gatedLab(members: Set<string>, options: PeerManagerOptions = {}): Lab & { bobMembers: Set<string> } {
  const clock = new FakeClock(FIXTURE_EPOCH_MS);
  const relay = new MemoryRelay();
  const a = manager(alice, relay, clock);
  const b = new PeerManager<MemberCertificate>(
    {
      identity: { signer: bob.signer, certificate: bob.cert.raw, verifier: net.verifier },
      localPeerId: bob.peerId, transport: relay.transportFor(bob.peerId), clock,
      isMember: (id: Uint8Array) => members.has(toHex(id)),
    },
    options,
  );
  relay.attach(bob.peerId, (src, frame) => b.onFrame(src, frame));
  b.start();
  const got = { a: [] as string[], b: [] as string[] };
  a.on('payload', (_p: Uint8Array, body: Uint8Array) => got.a.push(Buffer.from(body).toString()));
  b.on('payload', (_p: Uint8Array, body: Uint8Array) => got.b.push(Buffer.from(body).toString()));
  return { clock, relay, a, b, got, bobMembers: members };
}

/** An HS_INIT anyone can make: a member's public certificate, any timestamp, a fresh KEM key. */
function forgedInit(cert: Uint8Array, timestampMs: number, nowMs: number): Uint8Array {
  const noSigner = { sign(): Uint8Array { throw new Error('an INIT is not signed'); } };
  const init = HandshakeInitiator.start({ signer: noSigner, certificate: cert, verifier: net.verifier }, bob.peerId, 77, timestampMs, nowMs, randomBytes);
  const bytes = init.init;
  init.destroy();
  return bytes;
}

test('an INIT forged with a member\'s real certificate and timestamp 2^53-1 changes nothing: the member still gets a session', () => {
  const { a, b, relay, got, clock } = lab();
  relay.inject(alice.peerId, bob.peerId, forgedInit(alice.cert.raw, Number.MAX_SAFE_INTEGER, clock.now()));
  relay.pump();
  assert.equal(a.sendPayload(bob.peerId, utf8('genuine')), 'queued');
  relay.pump();
  assert.deepEqual(got.b, ['genuine']);
  assert.equal(b.drops.hs_future_timestamp, 1, 'refused as later than now + skew');
  a.stop(); b.stop();
});

test('an unauthenticated INIT with a fresh timestamp records nothing: the genuine INIT right after it is answered', () => {
  const { a, b, relay, got, clock } = lab();
  // Timestamp ahead of the genuine one (within the skew): if it were recorded, the genuine INIT would be a "replay".
  relay.inject(alice.peerId, bob.peerId, forgedInit(alice.cert.raw, clock.now() + 60_000, clock.now()));
  relay.pump();
  assert.equal(a.sendPayload(bob.peerId, utf8('genuine')), 'queued');
  relay.pump();
  assert.deepEqual(got.b, ['genuine'], 'no replay verdict, no rate limit spent by the forgery');
  assert.equal(b.drops.hs_replay, 0);
  a.stop(); b.stop();
});

test('junk INITs claiming a member do not spend its handshake budget', () => {
  const { a, b, relay, got, clock } = lab();
  const eve = net.member('eve-junk', '10.10.10.67/24');
  for (let i = 0; i < 5; i++) {
    relay.inject(alice.peerId, bob.peerId, forgedInit(eve.cert.raw, clock.now(), clock.now())); // another member's certificate
    const garbage = randomBytes(2000);
    garbage.set([1, FrameType.HsInit, 0, 0]);
    relay.inject(alice.peerId, bob.peerId, garbage);
  }
  relay.pump();
  assert.ok(b.drops.hs_invalid >= 5);
  assert.equal(a.sendPayload(bob.peerId, utf8('genuine')), 'queued');
  relay.pump(); // same instant: a budget spent by junk would refuse the genuine INIT now
  assert.deepEqual(got.b, ['genuine']);
  assert.equal(b.drops.hs_rate_limited, 0);
  a.stop(); b.stop();
});

test('a forged INIT does not make the responder abandon its own handshake in progress', () => {
  // The side with the higher peer id answers INITs while initiating; make that side the victim.
  const [hi, lo] = Buffer.compare(Buffer.from(alice.peerId), Buffer.from(bob.peerId)) > 0 ? [alice, bob] : [bob, alice];
  const clock = new FakeClock(FIXTURE_EPOCH_MS);
  const relay = new MemoryRelay();
  const h = manager(hi, relay, clock);
  const l = manager(lo, relay, clock);
  const got: string[] = [];
  l.on('payload', (_p: Uint8Array, body: Uint8Array) => got.push(Buffer.from(body).toString()));
  assert.equal(h.sendPayload(lo.peerId, utf8('mine')), 'queued');
  const noSigner = { sign(): Uint8Array { throw new Error('unsigned'); } };
  const forged = HandshakeInitiator.start({ signer: noSigner, certificate: lo.cert.raw, verifier: net.verifier }, hi.peerId, 5, clock.now(), clock.now(), randomBytes);
  relay.inject(lo.peerId, hi.peerId, forged.init);
  forged.destroy();
  relay.pump();
  assert.deepEqual(got, ['mine'], 'our INIT\'s RESP still completes our handshake');
  h.stop(); l.stop();
});

test('a replayed INIT of a completed handshake is refused without work', () => {
  const { a, b, relay, got } = lab();
  let captured: Uint8Array | null = null;
  relay.intercept = (f) => { if (f.frame[1] === FrameType.HsInit && captured === null) captured = f.frame; return f.frame; };
  a.sendPayload(bob.peerId, utf8('one'));
  relay.pump();
  relay.intercept = null;
  assert.deepEqual(got.b, ['one']);
  relay.inject(alice.peerId, bob.peerId, captured!);
  relay.pump();
  assert.equal(b.drops.hs_replay, 1);
  a.stop(); b.stop();
});

test('frames from senders the directory does not list create no state; the list bounds what a relay can forge', () => {
  const members = new Set<string>();
  const { a, b, relay, got } = gatedLab(members);
  const data = new Uint8Array(64);
  data.set([1, FrameType.Data, 0, 0, 9, 9, 9, 9]);
  for (let i = 0; i < 5_000; i++) b.onFrame(randomBytes(32), data);
  for (let i = 0; i < 10; i++) b.onFrame(randomBytes(32), forgedInit(alice.cert.raw, FIXTURE_EPOCH_MS, FIXTURE_EPOCH_MS));
  assert.equal(b.peers().length, 0);
  assert.equal(b.drops.not_member, 5_010);
  assert.equal(b.drops.too_many_peers, 0);
  // Alice is not listed yet: her INIT is refused, then answered once she is.
  a.sendPayload(bob.peerId, utf8('early'));
  relay.pump();
  assert.equal(b.peers().length, 0);
  members.add(toHex(alice.peerId));
  a.forgetPeer(bob.peerId);
  a.sendPayload(bob.peerId, utf8('listed'));
  relay.pump();
  assert.deepEqual(got.b, ['listed']);
  a.stop(); b.stop();
});

test('an INIT refused because its sender was not listed yet is answered once the member arrives; held INITs are bounded and expire', () => {
  const members = new Set<string>();
  const { a, b, relay, got, clock } = gatedLab(members);
  // Presence named alice, her certificate is still on its way: bob refuses her INIT but keeps it.
  assert.equal(a.sendPayload(bob.peerId, utf8('early')), 'queued');
  relay.pump();
  assert.equal(b.drops.not_member, 1);
  assert.deepEqual(got.b, []);
  members.add(toHex(alice.peerId));
  b.memberArrived(alice.peerId);
  relay.pump();
  assert.deepEqual(got.b, ['early'], 'no wait for the initiator\'s retry');
  // A flood of INITs from unlisted senders keeps at most HELD_INITS_MAX: the first ones are gone.
  const strangers = Array.from({ length: HELD_INITS_MAX + 4 }, () => randomBytes(32));
  for (const id of strangers) b.onFrame(id, forgedInit(alice.cert.raw, clock.now(), clock.now()));
  const before = b.drops.hs_invalid + b.drops.not_member;
  for (const id of strangers.slice(0, 4)) b.memberArrived(id);
  assert.equal(b.drops.hs_invalid + b.drops.not_member, before, 'evicted INITs are not handled again');
  b.memberArrived(strangers[4]!);
  assert.equal(b.drops.hs_invalid + b.drops.not_member, before + 1, 'a held one is handled (and refused: not listed, and not its certificate)');
  // Past HELD_INIT_TTL_MS a held INIT is dropped unhandled.
  clock.advance(HELD_INIT_TTL_MS + 1);
  b.memberArrived(strangers[5]!);
  assert.equal(b.drops.hs_invalid + b.drops.not_member, before + 1);
  a.stop(); b.stop();
});

test('a local send may start a handshake with a peer not listed yet (its certificate is verified in the handshake), and the entry goes once nothing is left of it', () => {
  const members = new Set<string>([toHex(alice.peerId)]);
  const { b, relay, got, clock } = gatedLab(members);
  // Bob has not seen carol's PEER_UP yet, but his user sends to her: a handshake starts.
  const carol = net.member('carol-local', '10.10.10.9/24');
  const c = manager(carol, relay, new FakeClock(FIXTURE_EPOCH_MS));
  const gotC: string[] = [];
  c.on('payload', (_p: Uint8Array, body: Uint8Array) => gotC.push(Buffer.from(body).toString()));
  assert.equal(b.sendPayload(carol.peerId, utf8('before presence')), 'queued');
  relay.pump();
  assert.deepEqual(gotC, ['before presence']);
  assert.equal(b.peers().find((p) => p.peerId === toHex(carol.peerId))?.established, true);
  // A peer id nobody holds: the INIT goes nowhere, the session timers give up, and the sweep removes the entry.
  const nobody = randomBytes(32);
  assert.equal(b.sendPayload(nobody, utf8('lost')), 'queued');
  relay.pump();
  assert.ok(b.peers().some((p) => p.peerId === toHex(nobody)));
  for (let i = 0; i < 100 && b.peers().some((p) => p.peerId === toHex(nobody)); i++) { clock.advance(1_000); relay.pump(); }
  assert.equal(b.peers().some((p) => p.peerId === toHex(nobody)), false, 'the unanswered entry is pruned after the attempt gives up');
  assert.equal(b.peers().find((p) => p.peerId === toHex(carol.peerId))?.established, true, 'the established session stays');
  assert.deepEqual(got.b, []);
  b.stop(); c.stop();
});

test('frames that claim to come from the node itself are dropped and counted; no session with ourselves', () => {
  const { a, b } = lab();
  const data = new Uint8Array(64);
  data.set([1, FrameType.Data, 0, 0, 9, 9, 9, 9]);
  b.onFrame(bob.peerId, data);
  b.onFrame(bob.peerId, forgedInit(bob.cert.raw, FIXTURE_EPOCH_MS, FIXTURE_EPOCH_MS));
  assert.equal(b.drops.self_frame, 2);
  assert.equal(b.sendPayload(bob.peerId, utf8('me')), 'dropped');
  assert.equal(b.peers().length, 0);
  a.stop(); b.stop();
});

test('a member that left the directory keeps its established session; one without a session is pruned', () => {
  const carol = net.member('carol-pruned', '10.10.10.68/24');
  const members = new Set([toHex(alice.peerId), toHex(carol.peerId)]);
  const { a, b, relay, got, clock } = gatedLab(members);
  a.sendPayload(bob.peerId, utf8('one'));
  relay.pump();
  // Carol's unknown-index DATA makes bob initiate to her; she never answers.
  const data = new Uint8Array(64);
  data.set([1, FrameType.Data, 0, 0, 9, 9, 9, 9]);
  b.onFrame(carol.peerId, data);
  assert.equal(b.peers().length, 2);
  members.clear();
  clock.advance(2_000);
  assert.equal(b.peers().length, 2, 'a handshake in progress is kept');
  clock.advance(120_000); // the handshake gives up
  relay.pump();
  assert.deepEqual(b.peers().map((p) => p.peerId), [toHex(alice.peerId)], 'only the established session stays');
  a.sendPayload(bob.peerId, utf8('two'));
  relay.pump();
  assert.deepEqual(got.b, ['one', 'two']);
  a.stop(); b.stop();
});

test('under handshake load the responder answers with a stateless cookie and the genuine initiator gets through', () => {
  const { a, b, relay, got, clock } = gatedLab(new Set([toHex(alice.peerId)]), { handshakesPerSecond: 1, handshakeBurst: 4 });
  const eve = net.member('eve-load', '10.10.10.69/24');
  // Three INITs that pass the cheap checks but fail verification: the global budget drops below half.
  for (let i = 0; i < 3; i++) relay.inject(alice.peerId, bob.peerId, forgedInit(eve.cert.raw, clock.now(), clock.now()));
  relay.pump();
  let cookies = 0;
  relay.intercept = (f) => { if (f.frame[1] === FrameType.HsCookie) cookies++; return f.frame; };
  a.sendPayload(bob.peerId, utf8('through'));
  relay.pump();
  assert.equal(cookies, 1, 'one cookie reply');
  assert.ok(b.drops.hs_cookie_required >= 1);
  assert.deepEqual(got.b, ['through']);
  // Junk without a cookie under load costs no verification.
  const invalidBefore = b.drops.hs_invalid;
  relay.inject(alice.peerId, bob.peerId, forgedInit(eve.cert.raw, clock.now(), clock.now()));
  relay.pump();
  assert.equal(b.drops.hs_invalid, invalidBefore);
  a.stop(); b.stop();
});

test('cookie replies are budgeted per member: a flood of INITs is not reflected back one for one', () => {
  const { a, b, relay, clock } = gatedLab(new Set([toHex(alice.peerId)]), { handshakesPerSecond: 1, handshakeBurst: 2 });
  const eve = net.member('eve-reflect', '10.10.10.70/24');
  // Two INITs that fail verification take the global budget (burst 2) below half.
  for (let i = 0; i < 2; i++) relay.inject(alice.peerId, bob.peerId, forgedInit(eve.cert.raw, clock.now(), clock.now()));
  relay.pump();
  let cookies = 0;
  relay.intercept = (f) => { if (f.frame[1] === FrameType.HsCookie) cookies++; return f.frame; };
  const init = forgedInit(eve.cert.raw, clock.now(), clock.now());
  for (let i = 0; i < 50; i++) relay.inject(alice.peerId, bob.peerId, init);
  relay.pump();
  assert.equal(cookies, PEER_COOKIES_PER_SECOND);
  assert.equal(b.drops.hs_cookie_rate_limited, 50 - PEER_COOKIES_PER_SECOND);
  a.stop(); b.stop();
});

test('device frames: sealed into one scratch buffer while the transport takes them as they are, else fresh; handed to onDeviceFrame with the sender hex', () => {
  const clock = new FakeClock(FIXTURE_EPOCH_MS);
  const relay = new MemoryRelay();
  const base = relay.transportFor(alice.peerId);
  const transient: Array<{ hex: string; buffer: ArrayBufferLike }> = [];
  let refuse = false;
  let takes = true;
  const fresh: ArrayBufferLike[] = [];
  const a = new PeerManager<MemberCertificate>({
    identity: { signer: alice.signer, certificate: alice.cert.raw, verifier: net.verifier }, localPeerId: alice.peerId, clock,
    transport: {
      send: (peerId, frame) => {
        fresh.push(frame.buffer);
        return base.send(peerId, frame);
      },
      takesTransient: (hex) => takes && hex === toHex(bob.peerId),
      sendTransient: (peerId, hex, frame) => {
        transient.push({ hex, buffer: frame.buffer });
        return !refuse && base.send(peerId, frame);
      },
    },
  });
  relay.attach(alice.peerId, (src, frame) => a.onFrame(src, frame));
  a.start();
  const b = manager(bob, relay, clock);
  const devices: Array<{ hex: string; body: string }> = [];
  const inner: number[] = [];
  b.onDeviceFrame = (peerId, hex, body) => {
    assert.deepEqual(peerId, alice.peerId);
    devices.push({ hex, body: Buffer.from(body).toString() });
  };
  b.on('inner', (_p: Uint8Array, type: number) => inner.push(type));
  const bobHex = toHex(bob.peerId);

  assert.equal(a.sendDeviceFrame(bob.peerId, bobHex, utf8('one')), 'queued', 'no key yet: queued as sendInner would');
  assert.equal(transient.length, 0);
  relay.pump();
  assert.equal(a.sendDeviceFrame(bob.peerId, bobHex, utf8('two')), 'sent');
  assert.equal(a.sendDeviceFrame(bob.peerId, bobHex, utf8('three')), 'sent');
  assert.equal(transient.length, 2);
  assert.equal(transient[0]!.hex, bobHex);
  assert.equal(transient[0]!.buffer, transient[1]!.buffer, 'one scratch buffer, no array per frame');
  relay.pump();
  assert.deepEqual(devices, ['one', 'two', 'three'].map((body) => ({ hex: toHex(alice.peerId), body })));
  assert.deepEqual(inner, [], 'device frames do not become events while a sink is set');

  b.onDeviceFrame = null;
  a.sendDeviceFrame(bob.peerId, bobHex, utf8('four'));
  relay.pump();
  assert.deepEqual(inner, [InnerType.DeviceFrame], 'without a sink they are inner events as before');

  // A path that would copy a transient frame (the relay, WSS): a fresh frame, sealed once, no scratch.
  takes = false;
  const before = { transient: transient.length, fresh: fresh.length };
  assert.equal(a.sendDeviceFrame(bob.peerId, bobHex, utf8('via relay')), 'sent');
  assert.equal(transient.length, before.transient, 'no transient frame');
  assert.equal(fresh.length, before.fresh + 1);
  assert.notEqual(fresh.at(-1), transient[0]!.buffer);
  b.onDeviceFrame = (_p, _hex, body) => devices.push({ hex: '', body: Buffer.from(body).toString() });
  relay.pump();
  assert.equal(devices.at(-1)!.body, 'via relay');
  takes = true;

  refuse = true;
  const full = a.drops.transport_full;
  assert.equal(a.sendDeviceFrame(bob.peerId, bobHex, utf8('five')), 'dropped');
  assert.equal(a.drops.transport_full, full + 1);
  a.stop(); b.stop();
});

test('a transport without transient frames gets fresh frames from sendDeviceFrame', () => {
  const { a, b, relay } = lab();
  const got: string[] = [];
  b.onDeviceFrame = (_p, _hex, body) => got.push(Buffer.from(body).toString());
  a.sendDeviceFrame(bob.peerId, toHex(bob.peerId), utf8('x'));
  relay.pump();
  assert.equal(a.sendDeviceFrame(bob.peerId, toHex(bob.peerId), utf8('y')), 'sent');
  relay.pump();
  assert.deepEqual(got, ['x', 'y']);
  a.stop(); b.stop();
});

test('a DATA frame with a bad header is malformed, not a receiver-index miss, and opens nothing', () => {
  const { a, b, relay, got } = lab();
  a.sendPayload(bob.peerId, utf8('hello'));
  relay.pump();
  const captured: Uint8Array[] = [];
  relay.intercept = (f) => {
    if (f.frame[1] === FrameType.Data) captured.push(f.frame);
    return null;
  };
  a.sendPayload(bob.peerId, utf8('later'));
  relay.pump();
  relay.intercept = null;
  const frame = captured[0]!;
  const before = { malformed: b.drops.malformed, unknown: b.drops.unknown_index };
  for (const [at, value] of [[0, 2], [2, 1], [3, 0x80]] as const) {
    const bad = new Uint8Array(frame);
    bad[at] = value;
    relay.inject(alice.peerId, bob.peerId, bad);
  }
  relay.inject(alice.peerId, bob.peerId, frame.subarray(0, 31));
  relay.pump();
  assert.equal(b.drops.malformed, before.malformed + 4);
  assert.equal(b.drops.unknown_index, before.unknown);
  assert.deepEqual(got.b, ['hello']);
  relay.inject(alice.peerId, bob.peerId, frame);
  relay.pump();
  assert.deepEqual(got.b, ['hello', 'later'], 'the genuine frame still opens: nothing above moved the window');
  a.stop(); b.stop();
});
