/**
 * Unit tests for src/relay/presence.ts with fake connections: who is told
 * what on join and leave, that single changes respect the send queue (dropped
 * and counted), and that a newcomer's initial list is paced by its queue and
 * never dropped, skipping members that left meanwhile.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PeerTable } from '../../src/relay/peer-table.js';
import { RelayPresence, type PresenceMember } from '../../src/relay/presence.js';
import type { DropReason } from '../../src/relay/relay-stats.js';
import { RelayStats } from '../../src/relay/relay-stats.js';
import { FrameType } from '../../src/wire/constants.js';
import { decodeRelayFrame, type RelayFrame } from '../../src/wire/relay-frames.js';

class FakeConn implements PresenceMember {
  readonly peerKey: string;
  readonly peerId: Uint8Array;
  state = 'admitted';
  congested = false;
  readonly sent: RelayFrame[] = [];
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
    if (onWritten !== undefined) this.written.push(onWritten);
    return true;
  }

  /** Peer ids (first byte) announced up / down to this connection, in order. */
  log(): string[] {
    return this.sent.map((f) => (f.type === FrameType.PeerUp ? `up:${f.cert[0]}` : f.type === FrameType.PeerDown ? `down:${f.peerId[0]}` : `other:${f.type}`));
  }
}

function setup(): { stats: RelayStats; table: PeerTable<FakeConn>; presence: RelayPresence<FakeConn>; join: (n: number) => FakeConn; leave: (c: FakeConn) => void } {
  const stats = new RelayStats();
  const table = new PeerTable<FakeConn>();
  const presence = new RelayPresence<FakeConn>({ table, stats });
  return {
    stats,
    table,
    presence,
    // The "certificate" is one byte equal to the member number, enough to tell announcements apart.
    join: (n) => {
      const c = new FakeConn(n, stats);
      table.admit(c.peerKey, c);
      presence.joined(c, Uint8Array.of(n), 1000 + n);
      return c;
    },
    leave: (c) => {
      c.state = 'closed';
      if (table.remove(c.peerKey, c)) presence.left(c);
      else presence.forget(c);
    },
  };
}

test('a newcomer is told about every other member, and every other member about it', () => {
  const { join, stats } = setup();
  const a = join(1);
  assert.deepEqual(a.log(), [], 'alone: nothing to announce');
  const b = join(2);
  const c = join(3);
  assert.deepEqual(a.log(), ['up:2', 'up:3']);
  assert.deepEqual(b.log(), ['up:1', 'up:3']);
  assert.deepEqual(c.log(), ['up:1', 'up:2']);
  const first = c.sent[0];
  assert.ok(first?.type === FrameType.PeerUp && first.onlineSinceMs === 1001, 'onlineSinceMs is the admission time of the announced member');
  assert.equal(stats.peerUpSent, 6);
});

test('a member that leaves is announced down to the others only; closing members are skipped', () => {
  const { join, leave, stats } = setup();
  const a = join(1);
  const b = join(2);
  const c = join(3);
  c.state = 'closing';
  leave(b);
  assert.deepEqual(a.log(), ['up:2', 'up:3', 'down:2']);
  assert.deepEqual(b.log(), ['up:1', 'up:3']);
  assert.deepEqual(c.log(), ['up:1', 'up:2']);
  assert.equal(stats.peerDownSent, 1);
  // A newcomer never hears of the closing member.
  const d = join(4);
  assert.deepEqual(d.log(), ['up:1']);
});

test('single changes towards a full send queue are dropped and counted', () => {
  const { join, leave, stats } = setup();
  const a = join(1);
  a.congested = true;
  const b = join(2);
  leave(b);
  assert.deepEqual(a.log(), []);
  assert.equal(stats.snapshot().drops['presence-queue-full'], 2);
});

test("a newcomer's list is paced by its queue, never dropped, and skips members that left meanwhile", () => {
  const { join, leave, stats, presence, table } = setup();
  const members = Array.from({ length: 50 }, (_, i) => join(i + 1));
  const newcomer = new FakeConn(200, stats);
  newcomer.congested = true;
  table.admit(newcomer.peerKey, newcomer);
  presence.joined(newcomer, Uint8Array.of(200), 5000);
  assert.equal(newcomer.sent.length, 0);
  assert.equal(presence.pendingLists, 1);
  assert.equal(stats.snapshot().drops['presence-queue-full'] ?? 0, 0, 'the list is not dropped');
  // Room for 10 frames, then full again.
  let room = 10;
  const original = newcomer.sendFrame.bind(newcomer);
  newcomer.sendFrame = (bytes, reason, onWritten) => {
    const ok = original(bytes, reason, onWritten);
    if (ok && --room === 0) newcomer.congested = true;
    return ok;
  };
  newcomer.congested = false;
  presence.pump();
  assert.equal(newcomer.sent.length, 10);
  // Member 15 leaves before its turn, while the newcomer's queue is full: that
  // DOWN is dropped (a single change), and the list no longer holds member 15,
  // so the newcomer's view stays right: it never hears of member 15 at all.
  leave(members[14] as FakeConn);
  assert.equal(stats.snapshot().drops['presence-queue-full'], 1);
  // A completed write resumes the list (no sweep needed).
  room = 1_000;
  newcomer.congested = false;
  (newcomer.written.at(-1) as () => void)();
  assert.equal(presence.pendingLists, 0);
  const ups = newcomer.log().filter((s) => s.startsWith('up:'));
  assert.equal(ups.length, 49);
  assert.equal(ups.includes('up:15'), false);
  assert.equal(new Set(ups).size, 49, 'no member announced twice');
  assert.equal(newcomer.log().includes('down:15'), false);
});

test('a list still pending is forgotten when the newcomer closes', () => {
  const { join, leave, presence } = setup();
  join(1);
  join(2);
  const stats = new RelayStats();
  const n = new FakeConn(9, stats);
  n.congested = true;
  presence.joined(n, Uint8Array.of(9), 1);
  assert.equal(presence.pendingLists, 1);
  leave(n);
  assert.equal(presence.pendingLists, 0);
  presence.pump();
  assert.equal(n.sent.length, 0);
});

test('join and leave cost O(members) frames', () => {
  const { join, leave, stats } = setup();
  const N = 300;
  const conns = Array.from({ length: N }, (_, i) => join(i + 1));
  // N joins: each newcomer gets i frames and each of the i others one: N(N-1) in all.
  assert.equal(stats.peerUpSent, N * (N - 1));
  leave(conns[0] as FakeConn);
  assert.equal(stats.peerDownSent, N - 1);
});
