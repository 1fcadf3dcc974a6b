/**
 * One relay's side of the cluster (src/relay/cluster/relay-cluster.ts) on an
 * in-memory bus and a fake clock: presence crosses relays, frames are
 * forwarded byte for byte, a silent relay's members go down after three
 * heartbeats, a member reappearing elsewhere is routed there at once, the
 * cluster re-syncs after an outage, and bad messages are counted, not thrown.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { RelayCluster, type ClusterHost, type ClusterTransport } from '../../../src/relay/cluster/relay-cluster.js';
import type { NatsLinkHandlers } from '../../../src/relay/cluster/nats-link.js';
import { FrameType, PROTOCOL_VERSION } from '../../../src/wire/constants.js';
import { FakeClock } from '../../../testkit/fake-clock.js';

const HEARTBEAT_MS = 2_000;
const CA = new Uint8Array([1, 2, 3]);

/** NATS in memory: messages queue up and flush() delivers them, so no handler is re-entered. */
class Bus {
  readonly endpoints: Endpoint[] = [];
  readonly queue: { from: Endpoint; subject: string; data: Uint8Array }[] = [];
  flush(): void {
    for (let guard = 0; this.queue.length > 0 && guard < 100_000; guard++) {
      const m = this.queue.shift()!;
      for (const e of this.endpoints) if (e !== m.from && e.connected && e.subjects.has(m.subject)) e.handlers.onMessage(m.subject, Uint8Array.from(m.data));
    }
  }
}

class Endpoint implements ClusterTransport {
  connected = false;
  readonly subjects = new Set<string>();
  constructor(readonly bus: Bus, readonly handlers: NatsLinkHandlers) {
    bus.endpoints.push(this);
  }
  subscribe(subject: string): void {
    this.subjects.add(subject);
  }
  publish(subject: string, data: Uint8Array): boolean {
    if (!this.connected) return false;
    this.bus.queue.push({ from: this, subject, data: Uint8Array.from(data) });
    return true;
  }
  start(): void {
    this.up();
  }
  up(): void {
    this.connected = true;
    this.handlers.onUp();
  }
  down(): void {
    this.connected = false;
    this.handlers.onDown();
  }
  async stop(): Promise<void> {
    this.connected = false;
  }
}

/** A relay server stand-in: certificates are any bytes; the peer id is their hash; 0xff first means "not a member". */
class FakeHost implements ClusterHost {
  readonly local = new Map<string, { peerId: Uint8Array; cert: Uint8Array; admittedAtMs: number }>();
  readonly remote = new Map<string, number>();
  readonly events: string[] = [];
  readonly delivered: { key: string; frame: number[] }[] = [];
  localMembers() {
    return [...this.local.values()];
  }
  localAdmission(key: string) {
    return this.local.get(key)?.admittedAtMs;
  }
  verifyMember(cert: Uint8Array): Uint8Array {
    if (cert[0] === 0xff) throw new Error('not a member');
    return peerIdOf(cert);
  }
  remoteUp(key: string, _p: Uint8Array, _c: Uint8Array, at: number): void {
    if (this.local.delete(key)) this.events.push(`replaced ${key.slice(0, 4)}`);
    this.remote.set(key, at);
    this.events.push(`up ${key.slice(0, 4)}`);
  }
  remoteDown(key: string): void {
    this.remote.delete(key);
    this.events.push(`down ${key.slice(0, 4)}`);
  }
  deliver(key: string, frame: Uint8Array) {
    if (!this.local.has(key)) return 'unreachable' as const;
    this.delivered.push({ key, frame: [...frame] });
    return 'delivered' as const;
  }
}

function peerIdOf(cert: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(cert).digest());
}
const keyOf = (cert: Uint8Array): string => Buffer.from(peerIdOf(cert)).toString('hex');

interface Relay {
  host: FakeHost;
  cluster: RelayCluster;
  link: Endpoint;
  join(cert: Uint8Array): void;
  leave(cert: Uint8Array): void;
}

function lab(n: number): { bus: Bus; clock: FakeClock; relays: Relay[] } {
  const bus = new Bus();
  const clock = new FakeClock();
  const relays: Relay[] = [];
  for (let i = 0; i < n; i++) {
    const host = new FakeHost();
    let link!: Endpoint;
    const cluster = new RelayCluster(
      { host, caRaw: CA, clock, random: (k) => new Uint8Array(k).fill(0x10 + i), transport: (h) => (link = new Endpoint(bus, h)) },
      { servers: ['nats://127.0.0.1:4222'], name: `relay-${i}`, heartbeatMs: HEARTBEAT_MS },
    );
    const r: Relay = {
      host,
      cluster,
      get link() {
        return link;
      },
      join(cert) {
        const peerId = peerIdOf(cert);
        const entry = { peerId, cert, admittedAtMs: clock.now() };
        host.local.set(keyOf(cert), entry);
        cluster.localJoined(peerId, cert, entry.admittedAtMs);
      },
      leave(cert) {
        const e = host.local.get(keyOf(cert));
        host.local.delete(keyOf(cert));
        if (e !== undefined) cluster.localLeft(e.peerId, e.admittedAtMs);
      },
    };
    relays.push(r);
  }
  for (const r of relays) r.cluster.start();
  bus.flush();
  return { bus, clock, relays };
}

const ALICE = new Uint8Array([1, 1, 1]);
const BOB = new Uint8Array([2, 2, 2]);

function deliverFrame(src: Uint8Array, payload: number[]): Uint8Array {
  const f = new Uint8Array(36 + payload.length);
  f[0] = PROTOCOL_VERSION;
  f[1] = FrameType.Deliver;
  f.set(src, 4);
  f.set(payload, 36);
  return f;
}

test('a member admitted on one relay is up on the others, and its frames reach it byte for byte', () => {
  const { bus, relays } = lab(3);
  const [a, b, c] = relays as [Relay, Relay, Relay];
  a.join(ALICE);
  b.join(BOB);
  bus.flush();
  assert.ok(b.host.remote.has(keyOf(ALICE)) && c.host.remote.has(keyOf(ALICE)));
  assert.ok(a.host.remote.has(keyOf(BOB)));
  const frame = deliverFrame(peerIdOf(BOB), [9, 8, 7, 6]);
  assert.equal(b.cluster.forward(peerIdOf(ALICE), frame), true);
  bus.flush();
  assert.deepEqual(a.host.delivered, [{ key: keyOf(ALICE), frame: [...frame] }]);
  assert.equal(c.host.delivered.length, 0, 'only the owning relay gets it');
  assert.equal(b.cluster.snapshot().forwarding['relay-0']?.framesOut, 1);
  assert.equal(a.cluster.snapshot().forwarding['relay-1']?.framesIn, 1);
  a.leave(ALICE);
  bus.flush();
  assert.equal(b.host.remote.has(keyOf(ALICE)), false);
  assert.equal(b.cluster.forward(peerIdOf(ALICE), frame), false, 'nobody holds it any more');
});

test('a relay that stops heartbeating is down after three heartbeats, its members with it, then re-syncs', () => {
  const { bus, clock, relays } = lab(2);
  const [a, b] = relays as [Relay, Relay];
  a.join(ALICE);
  b.join(BOB);
  bus.flush();
  a.link.down();
  // Frames for a remote member are dropped while NATS is down.
  assert.equal(a.cluster.forward(peerIdOf(BOB), deliverFrame(peerIdOf(ALICE), [1])), false);
  assert.equal(a.cluster.snapshot().drops['nats-down'], 1);
  b.leave(BOB);
  const carol = new Uint8Array([3, 3, 3]);
  b.join(carol);
  for (let t = 0; t < 3; t++) {
    clock.advance(HEARTBEAT_MS);
    bus.flush();
  }
  assert.ok(b.host.remote.has(keyOf(ALICE)), 'not before the bound');
  clock.advance(HEARTBEAT_MS);
  bus.flush();
  assert.equal(b.host.remote.has(keyOf(ALICE)), false);
  assert.deepEqual(b.host.events.slice(-1), [`down ${keyOf(ALICE).slice(0, 4)}`]);
  // Back: HELLO and full lists both ways.
  a.link.up();
  bus.flush();
  assert.ok(b.host.remote.has(keyOf(ALICE)));
  assert.ok(a.host.remote.has(keyOf(carol)), 'what happened while cut off is learned too');
  assert.equal(a.host.remote.has(keyOf(BOB)), false);
});

test('a full list after an outage removes members that left meanwhile', () => {
  const { bus, relays } = lab(2);
  const [a, b] = relays as [Relay, Relay];
  a.join(ALICE);
  bus.flush();
  a.link.down();
  a.leave(ALICE); // the LEAVE is lost
  a.link.up();
  bus.flush();
  assert.equal(b.host.remote.has(keyOf(ALICE)), false);
});

test('a member reappearing on another relay is routed there at once; the older connection is replaced', () => {
  const { bus, clock, relays } = lab(3);
  const [a, b, c] = relays as [Relay, Relay, Relay];
  a.join(ALICE);
  c.join(BOB);
  bus.flush();
  clock.advance(10);
  b.join(ALICE); // failover: A has not noticed yet
  bus.flush();
  assert.ok(a.host.events.includes(`replaced ${keyOf(ALICE).slice(0, 4)}`));
  assert.equal(c.cluster.table.owner(keyOf(ALICE))?.relayId, b.cluster.relayIdHex);
  c.cluster.forward(peerIdOf(ALICE), deliverFrame(peerIdOf(BOB), [5]));
  bus.flush();
  assert.equal(b.host.delivered.length, 1);
  assert.equal(a.host.delivered.length, 0);
  // A late LEAVE from A does not take ALICE down on C.
  a.cluster.localLeft(peerIdOf(ALICE), clock.now() - 10);
  bus.flush();
  assert.equal(c.cluster.table.owner(keyOf(ALICE))?.relayId, b.cluster.relayIdHex);
  // An older announcement arriving late is stale.
  const before = c.cluster.snapshot().drops['stale'] ?? 0;
  a.cluster.localJoined(peerIdOf(ALICE), ALICE, clock.now() - 10);
  bus.flush();
  assert.equal(c.cluster.snapshot().drops['stale'], before + 1);
  assert.equal(c.cluster.table.owner(keyOf(ALICE))?.relayId, b.cluster.relayIdHex);
});

test('bad NATS messages are dropped and counted, never thrown', () => {
  const { bus, relays } = lab(2);
  const [a, b] = relays as [Relay, Relay];
  const presence = a.cluster.subjects.presence;
  const frames = a.cluster.subjects.frames(a.cluster.relayIdHex);
  a.cluster.receive(presence, new Uint8Array([1, 2, 3]));
  a.cluster.receive(presence, new Uint8Array(40).fill(0xee));
  // A member list with a certificate the CA did not sign.
  b.cluster.localJoined(new Uint8Array(32), new Uint8Array([0xff, 1]), 1);
  bus.flush();
  // A frame from a member the sending relay does not hold.
  b.join(BOB);
  bus.flush();
  a.join(ALICE);
  bus.flush();
  const spoofed = deliverFrame(new Uint8Array(32).fill(0x77), [1]);
  b.cluster.forward(peerIdOf(ALICE), spoofed);
  bus.flush();
  // A FORWARD on the presence subject.
  a.cluster.receive(presence, Uint8Array.from([1, 7, ...new Uint8Array(16).fill(0x11), ...peerIdOf(ALICE), ...deliverFrame(peerIdOf(BOB), [1])]));
  void frames;
  const drops = a.cluster.snapshot().drops;
  assert.equal(drops['truncated'], 1);
  assert.equal(drops['version'], 1);
  assert.equal(drops['bad-certificate'], 1);
  assert.equal(drops['unknown-source'], 1);
  assert.equal(drops['subject'], 1);
  assert.equal(a.host.delivered.length, 0);
});

test('the table is bounded: relays beyond maxRelays are refused and counted', () => {
  const bus = new Bus();
  const clock = new FakeClock();
  const host = new FakeHost();
  const cluster = new RelayCluster({ host, caRaw: CA, clock, transport: (h) => new Endpoint(bus, h) }, { servers: ['nats://x:1'], maxRelays: 2 });
  cluster.start();
  for (let i = 0; i < 5; i++) {
    const id = new Uint8Array(16).fill(0x40 + i);
    cluster.receive(cluster.subjects.presence, Uint8Array.from([1, 2, ...id, 1, 0x41, 0, 0, 0, 0]));
  }
  assert.equal(cluster.table.relayCount, 2);
  assert.equal(cluster.snapshot().drops['relays-full'], 3);
});
