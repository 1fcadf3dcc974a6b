/**
 * Tests for src/node/session/peer-session.ts: DATA sealing and opening between
 * two sessions, drops by reason, the queue, key rotation and wiping, and the
 * timer policy of session-timers.ts as seen through the session, all on a
 * FakeClock.
 */
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { AeadSealer } from '../../../src/crypto/aead.js';
import { hasCode } from '../../../src/errors.js';
import { PeerSession, DROP_REASONS } from '../../../src/node/session/peer-session.js';
import { SessionCode } from '../../../src/node/session/session-errors.js';
import { writeDataHeader } from '../../../src/wire/peer-frames.js';
import { DATA_COUNTER_OFFSET, DATA_HEADER_BYTES, InnerType } from '../../../src/wire/constants.js';
import {
  FakeClock, RecordingEvents, bytes, dataView, isZero, makeSession, matchingKeys, rawView, zeroRng,
} from '../../../testkit/session-fixtures.js';

const PAYLOAD = InnerType.Payload;
const KEEPALIVE = InnerType.Keepalive;

function totalDrops(s: PeerSession): number {
  let n = 0;
  for (const r of DROP_REASONS) n += s.drops[r];
  return n;
}

/** Two started sessions sharing one fresh key pair: a initiated. */
function pair(clock: FakeClock, aOpts = {}, bOpts = {}) {
  const A = makeSession(clock, aOpts);
  const B = makeSession(clock, bOpts);
  A.session.start();
  B.session.start();
  const k = matchingKeys(clock.now(), 11, 22);
  A.session.installKeys(k.a);
  B.session.installKeys(k.b);
  return { A, B, k };
}

function send(from: PeerSession, body: Uint8Array): Uint8Array {
  const f = from.encrypt(PAYLOAD, body);
  assert.ok(f, 'expected a sealed frame');
  return f;
}

describe('PeerSession: sealing and opening', () => {
  it('round-trips payloads both ways and counts frames and bytes', () => {
    const clock = new FakeClock();
    const { A, B } = pair(clock);
    const f = send(A.session, bytes(1, 2, 3));
    assert.equal(f.length, 16 + 1 + 3 + 16);
    const got = B.session.decrypt(dataView(f));
    assert.ok(got);
    assert.equal(got.innerType, PAYLOAD);
    assert.deepEqual([...got.body], [1, 2, 3]);
    const back = B.session.decrypt(dataView(send(B.session, new Uint8Array(0))));
    assert.equal(back, null, 'B cannot open its own frame: wrong index/direction');
    const r = A.session.decrypt(dataView(send(B.session, bytes(9))));
    assert.ok(r);
    assert.deepEqual([...r.body], [9]);
    assert.equal(A.session.stats.framesOut, 1);
    assert.equal(A.session.stats.bytesOut, f.length);
    assert.equal(B.session.stats.framesIn, 1);
    assert.equal(B.session.stats.bytesIn, f.length);
    assert.equal(A.session.stats.handshakes, 1);
    assert.equal(A.session.stats.sessionStartedAtMs, clock.now());
  });

  it('frames carry the peer index, and counters strictly increase from 0 per key pair', () => {
    const clock = new FakeClock();
    const { A } = pair(clock);
    for (let i = 0; i < 50; i++) {
      const v = dataView(send(A.session, bytes(i)));
      assert.equal(v.receiverIndex, 22);
      assert.equal(v.counter, BigInt(i));
    }
    const k2 = matchingKeys(clock.now(), 33, 44);
    A.session.installKeys(k2.a);
    const v = dataView(send(A.session, bytes(0)));
    assert.equal(v.receiverIndex, 44, 'the new pair sends; the previous never does');
    assert.equal(v.counter, 0n);
  });

  it('works with AES-256-GCM', () => {
    const clock = new FakeClock();
    const { A, B } = pair(clock, { aead: 'aes-256-gcm' }, { aead: 'aes-256-gcm' });
    const got = B.session.decrypt(dataView(send(A.session, bytes(7, 7))));
    assert.ok(got);
    assert.deepEqual([...got.body], [7, 7]);
  });

  it('a keepalive opens with an empty body', () => {
    const clock = new FakeClock();
    const { A, B } = pair(clock);
    const f = A.session.encrypt(KEEPALIVE, new Uint8Array(0));
    assert.ok(f);
    const got = B.session.decrypt(dataView(f));
    assert.ok(got);
    assert.equal(got.innerType, KEEPALIVE);
    assert.equal(got.body.length, 0);
  });

  it('decrypts in place: body is a view of the frame; a replay or an unknown index leaves the frame untouched', () => {
    const clock = new FakeClock();
    const { A, B } = pair(clock);
    const f = send(A.session, bytes(7, 8, 9));
    const copy = Uint8Array.from(f);
    const got = B.session.decrypt(dataView(f));
    assert.ok(got);
    assert.equal(got.body.buffer, f.buffer, 'no plaintext array per packet');
    assert.equal(got.body.byteOffset, f.byteOffset + DATA_HEADER_BYTES + 1);
    assert.deepEqual([...got.body], [7, 8, 9]);
    const replayed = Uint8Array.from(copy);
    assert.equal(B.session.decrypt(dataView(replayed)), null);
    assert.equal(B.session.drops.replay, 1);
    assert.deepEqual(replayed, copy, 'a replay is refused before its bytes are touched');
    const unknown = Uint8Array.from(copy);
    unknown[4] = 0x7e;
    assert.equal(B.session.decrypt(rawView(unknown)), null);
    assert.equal(B.session.drops.unknown_index, 1);
    unknown[4] = copy[4]!;
    assert.deepEqual(unknown, copy, 'an unknown index is refused before its bytes are touched');
  });

  it('rejects misuse of encrypt with SM_ERR_SESSION_ARG', () => {
    const clock = new FakeClock();
    const { A } = pair(clock);
    const arg = (e: unknown) => hasCode(e, SessionCode.ARG);
    assert.throws(() => A.session.encrypt(0x7f, bytes(1)), arg);
    assert.throws(() => A.session.encrypt(KEEPALIVE, bytes(1)), arg);
    assert.throws(() => A.session.encrypt(PAYLOAD, new Uint8Array(70_000)), arg);
    assert.equal(A.session.stats.framesOut, 0);
  });
});

describe('PeerSession: sealInto (the per-packet path)', () => {
  it('seals into the scratch buffer with the counters encrypt() uses, and the peer opens it', () => {
    const clock = new FakeClock();
    const { A, B } = pair(clock);
    const scratch = new Uint8Array(256);
    const first = send(A.session, bytes(1));
    const f = A.session.sealInto(InnerType.DeviceFrame, bytes(7, 8, 9), scratch);
    assert.ok(f, 'a usable key seals');
    assert.equal(f.buffer, scratch.buffer, 'a view of the scratch buffer, not a fresh array');
    assert.equal(f.byteOffset, scratch.byteOffset);
    assert.equal(f.length, 16 + 1 + 3 + 16);
    const v = dataView(new Uint8Array(f));
    assert.equal(v.counter, dataView(first).counter + 1n, 'one counter sequence with encrypt()');
    const third = send(A.session, bytes(2));
    assert.equal(dataView(third).counter, v.counter + 1n);
    const got = B.session.decrypt(v);
    assert.ok(got);
    assert.equal(got.innerType, InnerType.DeviceFrame);
    assert.deepEqual([...got.body], [7, 8, 9]);
    assert.equal(A.session.stats.framesOut, 3);
    assert.equal(A.session.stats.bytesOut, first.length + f.length + third.length);
  });

  it('does nothing without a usable key or room: null, nothing counted, nothing queued', () => {
    const clock = new FakeClock();
    const lone = makeSession(clock);
    lone.session.start();
    const scratch = new Uint8Array(256).fill(0xaa);
    assert.equal(lone.session.sealInto(InnerType.DeviceFrame, bytes(1), scratch), null);
    assert.equal(totalDrops(lone.session), 0);
    assert.equal(lone.session.stats.framesOut, 0);
    assert.ok(scratch.every((b) => b === 0xaa), 'scratch untouched');
    assert.deepEqual(lone.events.handshakes, [], 'no handshake asked for: encrypt() decides that');
    const { A } = pair(clock);
    assert.equal(A.session.sealInto(InnerType.DeviceFrame, new Uint8Array(300), scratch), null, 'frame larger than the scratch');
    assert.equal(A.session.stats.framesOut, 0);
    clock.advance(200_000);
    assert.equal(A.session.sealInto(InnerType.DeviceFrame, bytes(1), scratch), null, 'a pair past its send lifetime');
    assert.equal(A.session.stats.framesOut, 0);
  });
});

describe('PeerSession: drops (never throws on network input)', () => {
  it('a flipped bit anywhere in header or sealed drops the frame and moves no replay state', () => {
    const clock = new FakeClock();
    const { A, B } = pair(clock);
    const f = send(A.session, bytes(0xaa, 0xbb, 0xcc));
    for (let bit = 0; bit < f.length * 8; bit++) {
      const t = Uint8Array.from(f);
      t[bit >> 3]! ^= 1 << (bit & 7);
      const before = totalDrops(B.session);
      assert.equal(B.session.decrypt(rawView(t)), null, `bit ${bit}`);
      assert.equal(totalDrops(B.session), before + 1, `bit ${bit} counted once`);
    }
    // Flips in the tag, ciphertext, version/type/reserved and low counter bits all fail the tag.
    assert.ok(B.session.drops.auth_failed > 200, `auth_failed=${B.session.drops.auth_failed}`);
    assert.equal(B.session.stats.framesIn, 0);
    const ok = B.session.decrypt(dataView(f));
    assert.ok(ok, 'the untampered frame still opens: no forged frame advanced the window');
    assert.deepEqual([...ok.body], [0xaa, 0xbb, 0xcc]);
  });

  it('a forged far-future counter is auth_failed and does not slide the window', () => {
    const clock = new FakeClock();
    const { A, B } = pair(clock);
    const first = send(A.session, bytes(1));
    const second = send(A.session, bytes(2));
    const forged = Uint8Array.from(second);
    forged[DATA_COUNTER_OFFSET + 3] = 0x40; // counter + 2^30
    assert.equal(B.session.decrypt(rawView(forged)), null);
    assert.equal(B.session.drops.auth_failed, 1);
    assert.ok(B.session.decrypt(dataView(second)));
    assert.ok(B.session.decrypt(dataView(first)), 'counter 0 still inside the window');
  });

  it('drops replays, accepts reordering inside the window once, rejects too-old counters', () => {
    const clock = new FakeClock();
    const { A, B } = pair(clock);
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 3000; i++) frames.push(send(A.session, bytes(i & 0xff)));
    // A path switch: the direct path delivers the newest first, the relay the rest later.
    for (let i = 2000; i < 3000; i++) assert.ok(B.session.decrypt(dataView(frames[i]!)), `late ${i}`);
    for (let i = 0; i < 2000; i++) assert.ok(B.session.decrypt(dataView(frames[i]!)), `early ${i}`);
    assert.equal(B.session.decrypt(dataView(frames[0]!)), null);
    assert.equal(B.session.decrypt(dataView(frames[2999]!)), null);
    assert.equal(B.session.drops.replay, 2);
    // Push the window 8192 past counter 3000.
    let last = frames[0]!;
    for (let i = 0; i < 8200; i++) last = send(A.session, new Uint8Array(0));
    assert.ok(B.session.decrypt(dataView(last)));
    const old = send(A.session, bytes(1)); // counter 11200: fine
    assert.ok(B.session.decrypt(dataView(old)));
    assert.equal(B.session.stats.framesIn, 3002);
  });

  it('counts unknown_index, no_session, too_short and bad_inner_type', () => {
    const clock = new FakeClock();
    const lonely = makeSession(clock).session;
    const { A, B, k } = pair(clock);
    const f = send(A.session, bytes(1));
    assert.equal(lonely.decrypt(dataView(f)), null);
    assert.equal(lonely.drops.no_session, 1);

    const wrong = Uint8Array.from(f);
    wrong[4] = 99;
    assert.equal(B.session.decrypt(rawView(wrong)), null);
    assert.equal(B.session.drops.unknown_index, 1);

    const short = Uint8Array.from(f.subarray(0, 32)); // sealed = tag only, no room for the inner type
    assert.equal(B.session.decrypt(rawView(short)), null);
    assert.equal(B.session.drops.too_short, 1);

    // Authentic frames with an inner type v1 does not know, or a keepalive with a body.
    const sealer = new AeadSealer('chacha20-poly1305', k.b.recvKey);
    for (const [inner, len] of [[0x7f, 0], [0x00, 2], [KEEPALIVE, 1]] as const) {
      const buf = new Uint8Array(DATA_HEADER_BYTES + 1 + len + 16);
      writeDataHeader(buf, 0, 22);
      buf[DATA_HEADER_BYTES] = inner;
      sealer.sealInPlace(buf, 0, DATA_HEADER_BYTES, DATA_COUNTER_OFFSET, 1 + len);
      assert.equal(B.session.decrypt(dataView(buf)), null, `inner ${inner}`);
      // The counter was spent: the same frame again is a replay, not re-examined.
      assert.equal(B.session.decrypt(dataView(buf)), null);
    }
    sealer.destroy();
    assert.equal(B.session.drops.bad_inner_type, 3);
    assert.equal(B.session.drops.replay, 3);
    assert.equal(B.session.stats.framesIn, 0);
  });
});

describe('PeerSession: queue and flush', () => {
  it('queues without a key, asks for one handshake, flushes in order after installKeys', () => {
    const clock = new FakeClock();
    const A = makeSession(clock);
    const B = makeSession(clock);
    A.session.start();
    assert.equal(A.session.encrypt(PAYLOAD, bytes(1)), null);
    assert.equal(A.session.encrypt(PAYLOAD, bytes(2)), null);
    assert.equal(A.session.encrypt(KEEPALIVE, new Uint8Array(0)), null, 'keepalives are not queued');
    assert.equal(A.session.queuedPackets, 2);
    assert.deepEqual(A.events.handshakes, ['first_packet']);
    assert.equal(A.session.drops.no_session, 1);
    const k = matchingKeys(clock.now(), 1, 2);
    B.session.installKeys(k.b);
    A.session.installKeys(k.a);
    assert.equal(A.session.queuedPackets, 0);
    assert.equal(A.flushed.length, 2);
    assert.deepEqual(A.flushed.map((f) => [...B.session.decrypt(dataView(f))!.body]), [[1], [2]]);
    assert.deepEqual(A.flushed.map((f) => dataView(f).counter), [0n, 1n]);
  });

  it('the queue bound holds under a flood: oldest dropped and counted, newest flushed', () => {
    const clock = new FakeClock();
    const A = makeSession(clock, { maxQueuedPackets: 8 });
    const B = makeSession(clock);
    for (let i = 0; i < 10_000; i++) {
      const p = new Uint8Array(4);
      new DataView(p.buffer).setUint32(0, i, true);
      assert.equal(A.session.encrypt(PAYLOAD, p), null);
    }
    assert.equal(A.session.queuedPackets, 8);
    assert.equal(A.session.drops.queue_full, 10_000 - 8);
    assert.deepEqual(A.events.handshakes, ['first_packet']);
    const k = matchingKeys(clock.now(), 1, 2);
    B.session.installKeys(k.b);
    A.session.installKeys(k.a);
    const seqs = A.flushed.map((f) => {
      const b = B.session.decrypt(dataView(f))!.body;
      return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true);
    });
    assert.deepEqual(seqs, [9992, 9993, 9994, 9995, 9996, 9997, 9998, 9999]);
  });

  it('a flush sink may re-enter encrypt()', () => {
    const clock = new FakeClock();
    const A = makeSession(clock);
    const out: Uint8Array[] = [];
    A.session.onFlush = (f) => {
      out.push(f);
      if (out.length === 1) out.push(A.session.encrypt(PAYLOAD, bytes(9))!);
    };
    A.session.encrypt(PAYLOAD, bytes(1));
    A.session.encrypt(PAYLOAD, bytes(2));
    A.session.installKeys(matchingKeys(clock.now(), 1, 2).a);
    assert.equal(out.length, 3);
    assert.deepEqual(out.map((f) => dataView(f).counter), [0n, 1n, 2n]);
  });

  it('without onFlush, queued packets are dropped as no_session', () => {
    const clock = new FakeClock();
    const A = makeSession(clock);
    A.session.onFlush = null;
    A.session.encrypt(PAYLOAD, bytes(1));
    A.session.installKeys(matchingKeys(clock.now(), 1, 2).a);
    assert.equal(A.session.queuedPackets, 0);
    assert.equal(A.session.drops.no_session, 1);
  });
});

describe('PeerSession: key rotation and wiping', () => {
  it('accepts the previous key within the grace, rejects it after, and zeroes the given buffers when it lapses', () => {
    const clock = new FakeClock();
    const { A, B, k } = pair(clock);
    const inFlight = [send(A.session, bytes(1)), send(A.session, bytes(2))];
    clock.advance(1_000);
    const k2 = matchingKeys(clock.now(), 33, 44);
    A.session.installKeys(k2.a);
    B.session.installKeys(k2.b);
    assert.deepEqual(B.session.localIndices(), [44, 22]);
    assert.ok(isZero(k.b.sendKey), 'a retired pair never sends: its send key goes at once');
    assert.ok(!isZero(k.b.recvKey), 'still needed during the grace');
    clock.advance(9_000);
    assert.ok(B.session.decrypt(dataView(inFlight[0]!)), 'previous key within grace');
    assert.ok(B.session.decrypt(dataView(send(A.session, bytes(3)))), 'new key');
    clock.advance(1_000); // grace (10 s) over; the tick drops the previous pair
    assert.deepEqual(B.session.localIndices(), [44]);
    for (const buf of [k.a.sendKey, k.a.recvKey, k.a.pathAuthKey, k.b.sendKey, k.b.recvKey, k.b.pathAuthKey]) {
      assert.ok(isZero(buf), 'handed-over buffer zeroed');
    }
    assert.ok(!isZero(k2.b.recvKey) && !isZero(k2.b.sendKey) && !isZero(k2.b.pathAuthKey));
    assert.equal(B.session.decrypt(dataView(inFlight[1]!)), null);
    assert.equal(B.session.drops.unknown_index, 1);
  });

  it('between the grace lapsing and the next tick, the previous key is expired_key', () => {
    const clock = new FakeClock();
    const { A, B } = pair(clock, { timers: { tickMs: 60_000 } }, { timers: { tickMs: 60_000 } });
    const old = send(A.session, bytes(1));
    const k2 = matchingKeys(clock.now(), 33, 44);
    B.session.installKeys(k2.b);
    clock.advance(10_000);
    assert.equal(B.session.decrypt(dataView(old)), null);
    assert.equal(B.session.drops.expired_key, 1);
  });

  it('a third installKeys wipes the oldest pair at once', () => {
    const clock = new FakeClock();
    const B = makeSession(clock).session;
    const k1 = matchingKeys(clock.now(), 1, 2).b;
    const k2 = matchingKeys(clock.now(), 3, 4).b;
    const k3 = matchingKeys(clock.now(), 5, 6).b;
    B.installKeys(k1);
    B.installKeys(k2);
    assert.ok(!isZero(k1.recvKey));
    B.installKeys(k3);
    assert.ok(isZero(k1.recvKey) && isZero(k1.sendKey) && isZero(k1.pathAuthKey));
    assert.deepEqual(B.localIndices(), [6, 4]);
    assert.equal(B.stats.handshakes, 3);
  });

  it('exposes the current path-auth key and rejects malformed or duplicate keys', () => {
    const clock = new FakeClock();
    const B = makeSession(clock).session;
    const k = matchingKeys(clock.now(), 1, 2).b;
    assert.equal(B.currentPathAuthKey(), null);
    B.installKeys(k);
    assert.equal(B.currentPathAuthKey(), k.pathAuthKey);
    const keysErr = (e: unknown) => hasCode(e, SessionCode.KEYS);
    assert.throws(() => B.installKeys({ ...matchingKeys(0, 9, 2).b }), keysErr, 'localIndex in use');
    const short = matchingKeys(0, 7, 8).b;
    assert.throws(() => B.installKeys({ ...short, sendKey: new Uint8Array(31) }), keysErr);
    assert.throws(() => B.installKeys({ ...short, localIndex: -1 }), keysErr);
    assert.throws(() => B.installKeys({ ...short, localIndex: 2 ** 32 }), keysErr);
    const shared = new Uint8Array(64);
    assert.throws(() => B.installKeys({ ...short, sendKey: shared.subarray(0, 32), recvKey: shared.subarray(16, 48) }), keysErr);
    assert.deepEqual(B.localIndices(), [2], 'failed installs change nothing');
  });

  it('stop() wipes every key, drops the queue, is idempotent; start() is idempotent', () => {
    const clock = new FakeClock();
    const A = makeSession(clock);
    A.session.start();
    A.session.start();
    assert.equal(clock.pendingCount, 1, 'one periodic tick, not two');
    const k1 = matchingKeys(clock.now(), 1, 2).a;
    const k2 = matchingKeys(clock.now(), 3, 4).a;
    A.session.installKeys(k1);
    A.session.installKeys(k2);
    A.session.stop();
    A.session.stop();
    assert.equal(clock.pendingCount, 0);
    for (const b of [k1.recvKey, k1.pathAuthKey, k2.sendKey, k2.recvKey, k2.pathAuthKey]) assert.ok(isZero(b));
    assert.deepEqual(A.session.localIndices(), []);
    assert.equal(A.session.hasUsableKey(), false);
    assert.equal(A.session.stats.sessionStartedAtMs, null);
  });
});

describe('PeerSession: timers', () => {
  it('a pair older than rejectAfterTime is never used to send or receive, and is wiped', () => {
    const clock = new FakeClock();
    const { A, B, k } = pair(clock, { timers: { tickMs: 200_000 } }, { timers: { tickMs: 200_000 } });
    const late = send(A.session, bytes(1));
    clock.advance(179_999);
    assert.equal(A.session.hasUsableKey(), true);
    clock.advance(1);
    assert.equal(A.session.hasUsableKey(), false);
    assert.equal(A.session.encrypt(PAYLOAD, bytes(2)), null, 'queued instead');
    assert.equal(A.session.queuedPackets, 1);
    assert.deepEqual(A.events.handshakes, ['first_packet']);
    assert.equal(B.session.decrypt(dataView(late)), null);
    assert.equal(B.session.drops.expired_key, 1);
    clock.advance(20_000); // the (slow) tick runs
    assert.ok(isZero(k.b.recvKey) && isZero(k.b.pathAuthKey) && isZero(k.a.sendKey));
    assert.deepEqual(B.session.localIndices(), []);
    assert.equal(B.session.stats.sessionStartedAtMs, null);
  });

  it('the initiator asks for a rekey after rekeyAfterTime while sending; the responder does not', () => {
    const clock = new FakeClock();
    const { A, B } = pair(clock);
    const t0 = clock.now();
    let firstAt = -1;
    for (let s = 1; s <= 130; s++) {
      clock.advance(500);
      if (firstAt < 0 && A.events.handshakes.length > 0) firstAt = clock.now() - t0;
      clock.advance(500);
      send(A.session, bytes(s & 0xff));
      send(B.session, bytes(s & 0xff));
    }
    // The first send at age >= REKEY_AFTER_TIME (120.0 s) is seen by the next tick (120.5 s).
    assert.equal(firstAt, 120_500);
    assert.equal(A.events.handshakes[0], 'rekey_time');
    assert.ok(A.events.handshakes.slice(1).every((r) => r === 'retry'), 'one reason per attempt, then retries');
    assert.deepEqual(B.events.handshakes, [], 'the responder leaves time-based rekeying to the initiator');
    // The rekey lands: attempts stop, the new pair is fresh.
    const k2 = matchingKeys(clock.now(), 5, 6);
    A.session.installKeys(k2.a);
    const n = A.events.handshakes.length;
    for (let s = 0; s < 60; s++) {
      clock.advance(1_000);
      send(A.session, bytes(1));
    }
    assert.equal(A.events.handshakes.length, n);
  });

  it('a responder still sending rekeys at rejectAfter - keepalive - rekeyTimeout (165 s)', () => {
    const clock = new FakeClock();
    const { B } = pair(clock);
    const t0 = clock.now();
    let at = -1;
    for (let s = 1; s <= 170 && at < 0; s++) {
      clock.advance(500);
      if (B.events.handshakes.length > 0) at = clock.now() - t0;
      clock.advance(500);
      send(B.session, bytes(1));
    }
    // The send at 165.0 s is seen by the tick at 165.5 s.
    assert.equal(at, 165_500);
    assert.deepEqual(B.events.handshakes, ['rekey_time']);
  });

  it('a receive-only initiator rekeys at 165 s', () => {
    const clock = new FakeClock();
    const { A, B } = pair(clock);
    const t0 = clock.now();
    let at = -1;
    for (let s = 1; s <= 170 && at < 0; s++) {
      clock.advance(500);
      if (A.events.handshakes.length > 0) at = clock.now() - t0;
      clock.advance(500);
      assert.ok(A.session.decrypt(dataView(send(B.session, bytes(1)))));
    }
    assert.equal(at, 165_500);
    assert.deepEqual(A.events.handshakes, ['rekey_time']);
  });

  it('an idle initiator does not rekey on time; its key just expires', () => {
    const clock = new FakeClock();
    const { A } = pair(clock);
    clock.advance(179_000);
    assert.deepEqual(A.events.handshakes, []);
    clock.advance(1_000);
    assert.equal(A.session.hasUsableKey(), false);
    assert.deepEqual(A.events.handshakes, [], 'no traffic, no handshake');
  });

  it('rekeys on message count, on either side', () => {
    const clock = new FakeClock();
    const t = { timers: { rekeyAfterMessages: 5n } };
    const { A, B } = pair(clock, t, t);
    for (let i = 0; i < 4; i++) send(B.session, bytes(i));
    clock.advance(500);
    assert.deepEqual(B.events.handshakes, []);
    send(B.session, bytes(4));
    clock.advance(500);
    assert.deepEqual(B.events.handshakes, ['rekey_messages']);
    assert.deepEqual(A.events.handshakes, []);
  });

  it('never sends or accepts counters past rejectAfterMessages', () => {
    const clock = new FakeClock();
    const { A, B } = pair(
      clock,
      { timers: { rekeyAfterMessages: 5n, rejectAfterMessages: 20n } },
      { timers: { rekeyAfterMessages: 5n, rejectAfterMessages: 10n } },
    );
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 20; i++) frames.push(send(A.session, bytes(i)));
    assert.equal(A.session.hasUsableKey(), false);
    assert.equal(A.session.encrypt(PAYLOAD, bytes(99)), null, 'the 21st frame is queued');
    let ok = 0;
    for (const f of frames) if (B.session.decrypt(dataView(f))) ok++;
    assert.equal(ok, 10);
    assert.equal(B.session.drops.expired_key, 10);
  });

  it('asks for a keepalive when data arrived and nothing was sent for keepaliveTimeout', () => {
    const clock = new FakeClock();
    const { A, B } = pair(clock);
    assert.ok(B.session.decrypt(dataView(send(A.session, bytes(1)))));
    clock.advance(9_500);
    assert.equal(B.events.keepalives, 0);
    clock.advance(500);
    assert.equal(B.events.keepalives, 1);
    clock.advance(30_000);
    assert.equal(B.events.keepalives, 1, 'once per unanswered burst');

    // Answered in time: no keepalive.
    assert.ok(B.session.decrypt(dataView(send(A.session, bytes(2)))));
    clock.advance(5_000);
    send(B.session, bytes(3));
    clock.advance(20_000);
    assert.equal(B.events.keepalives, 1);

    // A received keepalive never triggers one (no ping-pong).
    assert.ok(B.session.decrypt(dataView(A.session.encrypt(KEEPALIVE, new Uint8Array(0))!)));
    clock.advance(20_000);
    assert.equal(B.events.keepalives, 1);
    assert.equal(A.events.keepalives, 0);
  });

  it('retries every rekeyTimeout while packets wait and gives up after rekeyAttemptTime', () => {
    const clock = new FakeClock();
    const A = makeSession(clock);
    A.session.start();
    A.events.onInitiate = () => A.session.handshakeStarted(); // the owner starts at once, re-entering
    A.session.encrypt(PAYLOAD, bytes(1));
    A.session.encrypt(PAYLOAD, bytes(2));
    assert.deepEqual(A.events.handshakes, ['first_packet']);
    clock.advance(4_999);
    assert.equal(A.events.handshakes.length, 1);
    clock.advance(1);
    assert.deepEqual(A.events.handshakes, ['first_packet', 'retry']);
    clock.advance(84_999);
    assert.equal(A.events.gaveUp, 0);
    assert.equal(A.events.handshakes.length, 18, 'a retry every 5 s up to 85 s');
    clock.advance(5_001);
    assert.equal(A.events.gaveUp, 1);
    assert.equal(A.session.queuedPackets, 0);
    assert.equal(A.session.drops.no_session, 2);
    assert.equal(A.session.handshakeInProgress, false);
    clock.advance(60_000);
    assert.equal(A.events.handshakes.length, 18, 'no retries after giving up');
    A.session.encrypt(PAYLOAD, bytes(3));
    assert.equal(A.events.handshakes.at(-1), 'first_packet', 'a new packet starts a new attempt');
  });

  it('adds jitter from the injected rng to each retry', () => {
    const clock = new FakeClock();
    const max = makeSession(clock, { timers: { tickMs: 1 } }, (n) => new Uint8Array(n).fill(0xff));
    max.session.start();
    max.session.encrypt(PAYLOAD, bytes(1));
    clock.advance(5_332);
    assert.equal(max.events.handshakes.length, 1);
    clock.advance(1);
    assert.deepEqual(max.events.handshakes, ['first_packet', 'retry'], 'retry at 5000 + 333 ms');
  });

  it('a failed handshake is retried after the timeout; installKeys ends the attempt', () => {
    const clock = new FakeClock();
    const A = makeSession(clock);
    A.session.start();
    A.session.encrypt(PAYLOAD, bytes(1));
    clock.advance(3_000);
    A.session.handshakeFailed();
    clock.advance(4_999);
    assert.equal(A.events.handshakes.length, 1, 'the retry counts from the failure');
    clock.advance(1);
    assert.deepEqual(A.events.handshakes, ['first_packet', 'retry']);
    A.session.installKeys(matchingKeys(clock.now(), 1, 2).a);
    assert.equal(A.flushed.length, 1);
    clock.advance(100_000);
    assert.equal(A.events.handshakes.length, 2);
    assert.equal(A.events.gaveUp, 0);
  });

  it('stop() from inside an event ends the tick', () => {
    const clock = new FakeClock();
    const A = makeSession(clock);
    A.session.start();
    A.events.onInitiate = (r) => { if (r === 'retry') A.session.stop(); };
    A.session.encrypt(PAYLOAD, bytes(1));
    clock.advance(6_000);
    assert.equal(clock.pendingCount, 0);
    clock.advance(100_000);
    assert.deepEqual(A.events.handshakes, ['first_packet', 'retry']);
  });
});

describe('PeerSession: options', () => {
  it('rejects unknown or out-of-range options with SM_ERR_SESSION_OPTION', () => {
    const clock = new FakeClock();
    const deps = { clock, events: new RecordingEvents(), rng: zeroRng };
    const opt = (e: unknown) => hasCode(e, SessionCode.OPTION);
    assert.throws(() => new PeerSession(deps, { nope: 1 } as never), opt);
    assert.throws(() => new PeerSession(deps, { maxQueuedPackets: -1 }), opt);
    assert.throws(() => new PeerSession(deps, { maxQueuedPackets: 1.5 }), opt);
    assert.throws(() => new PeerSession(deps, { aead: 'rot13' as never }), opt);
    assert.throws(() => new PeerSession(deps, { replayWindow: 100 }), opt);
    assert.throws(() => new PeerSession(deps, { timers: { rekeyAfterTimeMs: 200_000 } }), opt);
    assert.throws(() => new PeerSession(deps, { timers: { bogus: 1 } as never }), opt);
  });

  it('treats undefined options as defaults', () => {
    const clock = new FakeClock();
    const s = new PeerSession(
      { clock, events: new RecordingEvents() },
      { aead: undefined, timers: undefined, maxQueuedPackets: undefined },
    );
    assert.equal(s.timerOptions.rekeyAfterTimeMs, 120_000);
    assert.equal(s.timerOptions.previousKeyGraceMs, 10_000);
  });
});
