/**
 * Unit tests for src/relay/presence.ts with fake connections and a manual
 * flush timer: who is told what on join and leave, that changes are
 * coalesced into PRESENCE frames (latest state per member), that a congested
 * receiver keeps a bounded pending set (one entry per member, however many
 * changes happen) instead of a queue of frames, and that nothing is dropped.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sha256 } from '../../src/crypto/bytes.js';
import { PeerTable } from '../../src/relay/peer-table.js';
import { PRESENCE_FLUSH_MS, PRESENCE_FRAMES_PER_SEC, PRESENCE_SEND_ENTRIES, presenceFlushMs, RelayPresence, type PresenceMember } from '../../src/relay/presence.js';
import type { DropReason } from '../../src/relay/relay-stats.js';
import { RelayStats } from '../../src/relay/relay-stats.js';
import { FrameType, MAX_PRESENCE_ENTRIES, PresenceKind } from '../../src/wire/constants.js';
import { decodeRelayFrame, encodePresenceEntry, presenceFrame, type RelayFrame } from '../../src/wire/relay-frames.js';

class FakeConn implements PresenceMember {
  readonly peerKey: string;
  readonly peerId: Uint8Array;
  state = 'admitted';
  congested = false;
  readonly sent: RelayFrame[] = [];
  /** The buffers handed to sendFrame, as given. */
  readonly raw: Uint8Array[] = [];
  readonly written: Array<() => void> = [];
  readonly #stats: RelayStats;

  constructor(n: number, stats: RelayStats) {
    // Byte 0 is n (what the logs show), bytes 1..4 keep ids unique past 255.
    this.peerId = new Uint8Array(32).fill(n & 0xff);
    new DataView(this.peerId.buffer).setUint32(1, n, true);
    this.peerKey = Buffer.from(this.peerId).toString('hex');
    this.#stats = stats;
  }

  sendFrame(bytes: Uint8Array, dropReason: DropReason = 'queue-full', onWritten?: () => void): boolean {
    if (this.state !== 'admitted') return false;
    if (this.congested) {
      this.#stats.drop(dropReason);
      return false;
    }
    this.sent.push(decodeRelayFrame(bytes));
    this.raw.push(bytes);
    if (onWritten !== undefined) this.written.push(onWritten);
    return true;
  }

  /** The socket wrote what it was handed so far: run those write callbacks (which may send more). */
  completeWrites(): number {
    const run = this.written.splice(0);
    for (const fn of run) fn();
    return run.length;
  }

  /** Entries announced to this connection, in order, as "up:n" / "down:n" (n = peer id byte 0). */
  log(): string[] {
    const out: string[] = [];
    for (const f of this.sent) {
      if (f.type !== FrameType.Presence) out.push(`other:${f.type}`);
      else for (const e of f.entries) out.push(`${e.kind === PresenceKind.Up ? 'up' : 'down'}:${e.peerId[0]}`);
    }
    return out;
  }
}

interface Setup {
  stats: RelayStats;
  table: PeerTable<FakeConn>;
  presence: RelayPresence<FakeConn>;
  join: (n: number) => FakeConn;
  leave: (c: FakeConn) => void;
  /** Run the pending flush timer, as the clock would after PRESENCE_FLUSH_MS, then let every socket write what it got. */
  tick: () => void;
  timers: () => number;
}

function setup(): Setup {
  const stats = new RelayStats();
  const table = new PeerTable<FakeConn>();
  let due: Array<() => void> = [];
  const conns: FakeConn[] = [];
  const presence = new RelayPresence<FakeConn>({
    table,
    stats,
    schedule: (ms, fn) => {
      assert.ok(ms >= PRESENCE_FLUSH_MS);
      due.push(fn);
      return { cancel: () => { due = due.filter((f) => f !== fn); } };
    },
  });
  return {
    stats,
    table,
    presence,
    // The "certificate" is one byte equal to the member number.
    join: (n) => {
      const c = new FakeConn(n, stats);
      conns.push(c);
      table.admit(c.peerKey, c);
      presence.joined(c, Uint8Array.of(n), 1000 + n);
      return c;
    },
    leave: (c) => {
      c.state = 'closed';
      if (table.remove(c.peerKey, c)) presence.left(c);
      else presence.forget(c);
    },
    tick: () => {
      const run = due;
      due = [];
      for (const fn of run) fn();
      // Bounded: each round sends at most one frame per receiver.
      for (let round = 0; round < 1_000 && conns.some((c) => c.written.length > 0); round++) for (const c of conns) c.completeWrites();
    },
    timers: () => due.length,
  };
}

test('a newcomer is told about every other member, and every other member about it, with the digest of its certificate', () => {
  const { join, stats, tick } = setup();
  const a = join(1);
  tick();
  assert.deepEqual(a.log(), [], 'alone: nothing to announce');
  const b = join(2);
  tick();
  const c = join(3);
  tick();
  assert.deepEqual(a.log(), ['up:2', 'up:3']);
  assert.deepEqual(b.log(), ['up:1', 'up:3']);
  assert.deepEqual(c.log(), ['up:1', 'up:2']);
  const first = c.sent[0];
  assert.ok(first?.type === FrameType.Presence);
  const e = first.entries[0];
  assert.ok(e?.kind === PresenceKind.Up);
  assert.equal(e.onlineSinceMs, 1001, 'onlineSinceMs is the admission time of the announced member');
  assert.deepEqual(e.certDigest, sha256(Uint8Array.of(1)), 'the SHA-256 of the certificate, not the certificate');
  assert.equal(stats.peerUpSent, 6);
  assert.ok(stats.presenceBytesSent > 0);
});

test('changes within one flush interval reach each member as one frame', () => {
  const { join, tick } = setup();
  const a = join(1);
  tick();
  for (let n = 2; n <= 40; n++) join(n);
  assert.deepEqual(a.log(), [], 'nothing goes out before the flush');
  tick();
  assert.equal(a.sent.length, 1, 'one PRESENCE frame');
  assert.equal(a.log().length, 39);
});

test('a member that leaves is announced down to the others only; closing members are skipped', () => {
  const { join, leave, stats, tick } = setup();
  const a = join(1);
  const b = join(2);
  const c = join(3);
  tick();
  c.state = 'closing';
  leave(b);
  tick();
  assert.deepEqual(a.log(), ['up:2', 'up:3', 'down:2']);
  assert.deepEqual(b.log(), ['up:1', 'up:3']);
  assert.equal(stats.peerDownSent, 1);
  // A newcomer never hears of the closing member.
  const d = join(4);
  tick();
  assert.deepEqual(d.log(), ['up:1']);
});

test('an up and a down of one member within a flush coalesce to its latest state', () => {
  const { join, leave, tick } = setup();
  const a = join(1);
  tick();
  const b = join(2);
  leave(b);
  tick();
  assert.deepEqual(a.log(), ['down:2']);
});

test('a congested member keeps one pending entry per member, however many changes; nothing is dropped', () => {
  const { join, leave, stats, presence, tick } = setup();
  const a = join(1);
  tick();
  a.congested = true;
  // 100 members each join and leave 5 times while a's queue is full: 1,000 changes.
  for (let round = 0; round < 5; round++) {
    const conns = Array.from({ length: 100 }, (_, i) => join(i + 2));
    for (const c of conns) leave(c);
    tick();
  }
  assert.equal(presence.pendingFor(a), 100, 'latest state per member, not a queue of changes');
  assert.equal(a.sent.length, 0);
  assert.equal(stats.snapshot().drops['presence-queue-full'] ?? 0, 0, 'held, not dropped');
  a.congested = false;
  presence.pump();
  assert.equal(presence.pendingFor(a), 0);
  const log = a.log();
  assert.equal(log.length, 100);
  assert.ok(log.every((s) => s.startsWith('down:')), 'only the latest state of each member');
});

test('a frame of PRESENCE_SEND_ENTRIES ups, with its WebSocket header and TLS record overhead, fits one 16 KiB TLS buffer, and receivers accept it', () => {
  assert.ok(PRESENCE_SEND_ENTRIES <= MAX_PRESENCE_ENTRIES);
  const up = (i: number): Uint8Array => encodePresenceEntry({ kind: PresenceKind.Up, peerId: new Uint8Array(32).fill(i & 255), certDigest: new Uint8Array(32), onlineSinceMs: i });
  const frame = presenceFrame(Array.from({ length: PRESENCE_SEND_ENTRIES }, (_, i) => up(i)));
  // RFC 6455 §5.2: a 16-bit extended length, 4 bytes; RFC 8446 §5.2: 5-byte header, content type, 16-byte tag.
  assert.ok(frame.length + 4 + 5 + 1 + 16 <= 16_384, `${frame.length} bytes`);
  const f = decodeRelayFrame(frame);
  assert.ok(f.type === FrameType.Presence && f.entries.length === PRESENCE_SEND_ENTRIES);
});

test("a newcomer's list is paced by its queue in frames of at most PRESENCE_SEND_ENTRIES, skipping members that left meanwhile", () => {
  const { join, leave, stats, presence, table, tick } = setup();
  // Two full frames: the first while the queue has room for one, the second once that one is written.
  const N = 2 * PRESENCE_SEND_ENTRIES;
  const members = Array.from({ length: N }, (_, i) => join(i + 1));
  tick();
  const newcomer = new FakeConn(N + 10, stats);
  newcomer.congested = true;
  table.admit(newcomer.peerKey, newcomer);
  presence.joined(newcomer, Uint8Array.of(7), 5000);
  tick();
  assert.equal(newcomer.sent.length, 0);
  assert.equal(presence.pendingFor(newcomer), N);
  // Member 15 leaves before the newcomer's queue drains: its entry becomes a down in place.
  leave(members[14] as FakeConn);
  assert.equal(presence.pendingFor(newcomer), N, 'replaced in place, not added');
  newcomer.congested = false;
  // One frame of room, then full again: a completed write resumes.
  const original = newcomer.sendFrame.bind(newcomer);
  newcomer.sendFrame = (bytes, reason, onWritten) => {
    const ok = original(bytes, reason, onWritten);
    newcomer.congested = true;
    return ok;
  };
  presence.pump();
  assert.equal(newcomer.sent.length, 1);
  const first = newcomer.sent[0];
  assert.ok(first?.type === FrameType.Presence && first.entries.length === PRESENCE_SEND_ENTRIES);
  newcomer.congested = false;
  newcomer.sendFrame = original;
  (newcomer.written.at(-1) as () => void)();
  assert.equal(stats.snapshot().drops['presence-queue-full'] ?? 0, 0);
  tick();
  const log = newcomer.log();
  assert.equal(log.length, N);
  assert.equal(log.filter((s) => s.startsWith('up:')).length, N - 1);
  assert.equal(presence.pendingLists, 0);
});

test('a pending set is forgotten when its receiver closes', () => {
  const { join, leave, presence, tick } = setup();
  join(1);
  join(2);
  const n = join(9);
  n.congested = true;
  tick();
  assert.equal(presence.pendingFor(n), 2);
  leave(n);
  assert.equal(presence.pendingFor(n), 0);
  presence.pump();
  assert.equal(n.sent.length, 0);
});

test('remote members are announced, their certificates kept for CERT_REQUEST, and dropped when admitted here', () => {
  const { join, presence, tick } = setup();
  const a = join(1);
  tick();
  const remoteId = new Uint8Array(32).fill(77);
  const key = Buffer.from(remoteId).toString('hex');
  presence.remoteUp(key, remoteId, Uint8Array.of(1, 2, 3), 42);
  tick();
  assert.deepEqual(a.log(), ['up:77']);
  assert.deepEqual(presence.remoteCertificate(key), Uint8Array.of(1, 2, 3));
  presence.remoteDown(key, remoteId);
  tick();
  assert.deepEqual(a.log(), ['up:77', 'down:77']);
  assert.equal(presence.remoteCertificate(key), undefined);
});

test('join and leave cost O(members) entries and one timer per flush', () => {
  const { join, leave, stats, tick, timers } = setup();
  const N = 300;
  const conns = Array.from({ length: N }, (_, i) => join(i + 1));
  assert.equal(timers(), 1, 'one flush timer however many changes');
  tick();
  assert.equal(stats.peerUpSent, N * (N - 1));
  leave(conns[0] as FakeConn);
  tick();
  assert.equal(stats.peerDownSent, N - 1);
});

test('the flush interval grows with the receivers so the frame rate stays bounded', () => {
  assert.equal(presenceFlushMs(1), PRESENCE_FLUSH_MS);
  assert.equal(presenceFlushMs(100), PRESENCE_FLUSH_MS);
  assert.equal(presenceFlushMs(10_000), Math.ceil((10_000 * 1000) / PRESENCE_FRAMES_PER_SEC));
  for (const n of [1, 500, 2_000, 10_000, 50_000]) assert.ok(n / (presenceFlushMs(n) / 1000) <= Math.max(PRESENCE_FRAMES_PER_SEC, 1000 / PRESENCE_FLUSH_MS), `${n} receivers`);
});

test('receivers with the same changes share one frame buffer; a receiver with other changes gets its own', () => {
  const { join, tick } = setup();
  const members = Array.from({ length: 20 }, (_, i) => join(i + 1));
  tick();
  const before = members.map((m) => m.raw.length);
  join(30);
  join(31);
  tick();
  const frames = members.map((m, i) => m.raw[before[i] as number]);
  assert.ok(frames.every((f) => f === frames[0]), 'one buffer for all twenty');
  assert.deepEqual(members[0]?.log().slice(-2), ['up:30', 'up:31']);
});

test("newcomers' initial lists share their full frames across flushes", () => {
  const { join, tick } = setup();
  Array.from({ length: PRESENCE_SEND_ENTRIES + 10 }, (_, i) => join(i + 1));
  tick();
  const x = join(5_001);
  tick();
  const y = join(5_002);
  tick();
  assert.equal(x.raw[0]?.length, y.raw[0]?.length);
  assert.ok(x.raw[0] === y.raw[0], 'the first PRESENCE_SEND_ENTRIES members, one buffer for both newcomers');
  assert.ok(x.raw[1] !== y.raw[1], 'the rest differs (y also lists x)');
});

test('one frame in flight per receiver: the next goes when the socket has written the last', () => {
  const { join, presence, tick, table, stats } = setup();
  Array.from({ length: 3 * PRESENCE_SEND_ENTRIES }, (_, i) => join(i + 1));
  tick();
  const newcomer = new FakeConn(9_000, stats);
  table.admit(newcomer.peerKey, newcomer);
  presence.joined(newcomer, Uint8Array.of(1), 1);
  presence.pump();
  presence.pump();
  assert.equal(newcomer.sent.length, 1, 'nothing more until the write completes');
  for (let i = 2; i <= 3; i++) {
    assert.equal(newcomer.completeWrites(), 1);
    assert.equal(newcomer.sent.length, i);
  }
  newcomer.completeWrites();
  assert.equal(newcomer.log().length, 3 * PRESENCE_SEND_ENTRIES);
  assert.equal(presence.pendingFor(newcomer), 0);
});
