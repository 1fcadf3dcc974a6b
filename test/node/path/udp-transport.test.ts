/**
 * The UDP direct transport (src/node/path/udp-transport.ts, udp-path.ts,
 * udp-probe-auth.ts; docs/protocol.md §3.5) on 127.0.0.1 with fake session
 * keys: hole punching on both sides, frames crossing whole and fragmented,
 * probe authentication and freshness (every refusal counted by reason and
 * no path from it), close notices with a drain, connect failures, a junk
 * flood, the bound on outstanding probes, roaming and option checks. Raw
 * dgram sockets play the peer where a test needs to forge or replay.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, hkdfSync } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';

import { randomBytes, toHex } from '../../../src/crypto/bytes.js';
import { encodeProbe } from '../../../src/node/path/probe-frames.js';
import { sealUdpProbe, verifyUdpProbe, UDP_PROBE_KEY_INFO, UdpReplayCache } from '../../../src/node/path/udp-probe-auth.js';
import { UdpPath, type UdpPathHost } from '../../../src/node/path/udp-path.js';
import { UdpTransport, type UdpTransportOptions } from '../../../src/node/path/udp-transport.js';
import { UdpCode } from '../../../src/node/path/path-errors.js';
import { FakeClock } from '../../../testkit/fake-clock.js';
import type { Clock } from '../../../src/util/clock.js';
import { MAX_FRAME_BYTES, UDP_FRAGMENT_HEADER_BYTES, UDP_PROBE_MAC_BYTES, UdpFrameType, UdpProbePurpose } from '../../../src/wire/constants.js';
import { decodeUdpProbe, type UdpProbeFields } from '../../../src/wire/udp-frames.js';
import { next, until } from '../../../testkit/direct-transport-fixture.js';
import { fragmentsOf } from '../../../testkit/adversary/off-path-spoofer.js';

// ------------------------------------------------------------ helpers

/** A DATA-shaped peer frame (version 1, type 0x24) numbered `n`, `size` bytes. */
function dataFrame(n: number, size = 64): Uint8Array {
  const f = new Uint8Array(size);
  f[0] = 1;
  f[1] = 0x24;
  new DataView(f.buffer).setUint32(4, n, true);
  for (let i = 8; i < size; i++) f[i] = (n + i) & 0xff;
  return f;
}

function numberOf(f: Uint8Array): number {
  return new DataView(f.buffer, f.byteOffset, f.byteLength).getUint32(4, true);
}

function dropsTotal(t: UdpTransport): number {
  return Object.values(t.stats.drops).reduce((s, v) => s + v, 0);
}

interface Node {
  id: Uint8Array;
  t: UdpTransport;
}

/** Two transports on 127.0.0.1 sharing one path-auth key, each knowing the other's UDP candidate. */
async function startPair(options: UdpTransportOptions = {}, clocks: [Clock?, Clock?] = []): Promise<{ a: Node; b: Node; key: Uint8Array; stop(): Promise<void> }> {
  const idA = randomBytes(32);
  const idB = randomBytes(32);
  const key = randomBytes(32);
  const keys = new Map<string, Uint8Array>([[toHex(idA), key], [toHex(idB), key]]);
  const mk = (self: Uint8Array, clock?: Clock): UdpTransport =>
    new UdpTransport(
      { localPeerId: self, pathAuthKeys: (p) => (toHex(p) === toHex(self) ? [] : keys.has(toHex(p)) ? [keys.get(toHex(p))!] : []), ...(clock !== undefined ? { clock } : {}) },
      { listenHost: '127.0.0.1', ...options },
    );
  const a = mk(idA, clocks[0]);
  const b = mk(idB, clocks[1]);
  await a.start();
  await b.start();
  a.setPeerCandidates(idB, b.localCandidates());
  b.setPeerCandidates(idA, a.localCandidates());
  return { a: { id: idA, t: a }, b: { id: idB, t: b }, key, stop: async () => { await a.stop(); await b.stop(); } };
}

/** connect() on both sides; resolves with each side's path. */
async function connectBoth(a: Node, b: Node): Promise<[UdpPath, UdpPath]> {
  const gotA = next<[Uint8Array, UdpPath]>(a.t, 'path');
  const gotB = next<[Uint8Array, UdpPath]>(b.t, 'path');
  a.t.connect(b.id);
  b.t.connect(a.id);
  const [[peerOfA, pa], [peerOfB, pb]] = await Promise.all([gotA, gotB]);
  assert.deepEqual(peerOfA, b.id);
  assert.deepEqual(peerOfB, a.id);
  return [pa, pb];
}

interface Raw {
  s: Socket;
  port: number;
  got: { bytes: Buffer; port: number }[];
  send(bytes: Uint8Array, port: number): Promise<void>;
  close(): void;
}

/** A plain UDP socket on 127.0.0.1 that records what it receives. */
async function rawSocket(): Promise<Raw> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const got: { bytes: Buffer; port: number }[] = [];
  s.on('message', (bytes, r) => got.push({ bytes, port: r.port }));
  return {
    s,
    port: s.address().port,
    got,
    send: (bytes, port) => new Promise((resolve, reject) => s.send(bytes, port, '127.0.0.1', (e) => (e ? reject(e) : resolve()))),
    close: () => s.close(),
  };
}

function probe(over: Partial<UdpProbeFields> & { senderPeerId: Uint8Array }): UdpProbeFields {
  return { ack: false, purpose: UdpProbePurpose.Punch, txid: randomBytes(16), timestampMs: Date.now(), embed: new Uint8Array(0), padding: 0, ...over };
}

// ------------------------------------------------------------ probe authentication

test('probe MAC: HMAC-SHA-256 under HKDF(k_path, "", "shadowmesh v1 udp probe") truncated to 16 bytes', () => {
  const k = randomBytes(32);
  const bytes = sealUdpProbe(probe({ senderPeerId: randomBytes(32), embed: encodeProbe({ ack: false, id: 7n, sentAtMs: 1 }) }), k);
  const kUdp = Buffer.from(hkdfSync('sha256', k, new Uint8Array(0), UDP_PROBE_KEY_INFO, 32));
  const expected = createHmac('sha256', kUdp).update(bytes.subarray(0, bytes.length - 16)).digest().subarray(0, 16);
  assert.deepEqual(Buffer.from(bytes.subarray(bytes.length - UDP_PROBE_MAC_BYTES)), expected);
  assert.equal(UDP_PROBE_KEY_INFO, 'shadowmesh v1 udp probe');
});

test('probe MAC: verifies under [K] and [other, K], not under [other] nor []', () => {
  const k = randomBytes(32);
  const other = randomBytes(32);
  const p = decodeUdpProbe(sealUdpProbe(probe({ senderPeerId: randomBytes(32) }), k));
  assert.equal(verifyUdpProbe(p, [k]), true);
  assert.equal(verifyUdpProbe(p, [other, k]), true, 'the previous key of a re-key still verifies');
  assert.equal(verifyUdpProbe(p, [other]), false);
  assert.equal(verifyUdpProbe(p, []), false);
  assert.equal(verifyUdpProbe(p, [new Uint8Array(0)]), false, 'a malformed key verifies nothing, never throws');
});

test('probe MAC: any single flipped bit in the signed part or the MAC fails', () => {
  const k = randomBytes(32);
  const bytes = sealUdpProbe(probe({ senderPeerId: randomBytes(32), purpose: UdpProbePurpose.Liveness, embed: encodeProbe({ ack: false, id: 1n, sentAtMs: 2 }) }), k);
  assert.equal(verifyUdpProbe(decodeUdpProbe(bytes), [k]), true);
  let refused = 0;
  for (let bit = 0; bit < bytes.length * 8; bit++) {
    const b = bytes.slice();
    b[bit >> 3]! ^= 1 << (bit & 7);
    let ok = false;
    try {
      ok = verifyUdpProbe(decodeUdpProbe(b), [k]);
    } catch {
      ok = false; // does not even decode: refused too
    }
    assert.equal(ok, false, `bit ${bit} flipped still verifies`);
    refused++;
  }
  assert.equal(refused, bytes.length * 8);
});

test('UdpReplayCache: over capacity the oldest txid goes and its timestamp becomes a floor, so an evicted txid replayed is still refused', () => {
  const c = new UdpReplayCache(30_000);
  const now = 1_000_000;
  const txids = Array.from({ length: 10 }, () => randomBytes(16));
  txids.forEach((t, i) => assert.equal(c.checkAndRecord(t, now + i, now, 4), false, `fresh txid ${i}`));
  assert.equal(c.size, 4);
  txids.forEach((t, i) => assert.equal(c.checkAndRecord(t, now + i, now, 4), true, `txid ${i} replayed`));
  assert.equal(c.checkAndRecord(randomBytes(16), now + 10, now, 4), false, 'a newer genuine probe passes');
  // Expired entries make room without raising the floor.
  const later = now + 100_000;
  assert.equal(c.checkAndRecord(randomBytes(16), later - 1, later, 4), false);
  assert.equal(c.size, 1);
});

// ------------------------------------------------------------ UdpPath with a fake host

class FakeHost implements UdpPathHost {
  sent: Uint8Array[] = [];
  queue = 0;
  refuse = false;
  readonly maxSendQueueBytes = 64 * 1024;
  liveness: Uint8Array[] = [];
  closed: string[] = [];
  /** Segment sizes of each sendDatagrams() call. */
  batches: number[] = [];
  sendDatagram(bytes: Uint8Array): boolean {
    if (this.refuse) return false;
    this.sent.push(bytes);
    return true;
  }
  sendDatagrams(bytes: Uint8Array, segment: number): boolean {
    if (this.refuse) return false;
    this.batches.push(segment);
    for (let off = 0; off < bytes.length; off += segment) this.sent.push(bytes.slice(off, off + segment));
    return true;
  }
  sendQueueBytes(): number {
    return this.queue;
  }
  sendLiveness(_p: UdpPath, embedded: Uint8Array): boolean {
    this.liveness.push(Uint8Array.from(embedded));
    return true;
  }
  pathClosed(_p: UdpPath, reason: string): void {
    this.closed.push(reason);
  }
}

function fakePath(host: FakeHost, maxDatagram = 1_232): UdpPath {
  return new UdpPath({ host, peerId: new Uint8Array(32).fill(7), address: '127.0.0.1', port: 9, maxDatagram, clock: new FakeClock() });
}

test('UdpPath: a frame within the datagram size goes whole, a larger one as fragments no larger than it, reassembled exactly', () => {
  const host = new FakeHost();
  const p = fakePath(host);
  assert.equal(p.carrier, 'udp');
  assert.equal(p.remote, '127.0.0.1:9');
  const small = dataFrame(1, 1_232);
  assert.equal(p.send(small), true);
  assert.equal(host.sent.length, 1);
  assert.deepEqual(new Uint8Array(host.sent[0]!), small);
  assert.deepEqual(host.batches, [], 'a whole frame is one plain datagram');
  for (const size of [1_233, 65_536, MAX_FRAME_BYTES]) {
    host.sent = [];
    host.batches = [];
    const big = dataFrame(size, size);
    assert.equal(p.send(big), true);
    assert.equal(host.sent.length, Math.ceil(size / (1_232 - UDP_FRAGMENT_HEADER_BYTES)));
    assert.ok(host.sent.every((d) => d.length <= 1_232 && d[1] === UdpFrameType.UdpFragment));
    // One hand-over, every fragment but the last exactly the datagram size: what segmentation offload needs.
    assert.deepEqual(host.batches, [1_232]);
    assert.ok(host.sent.slice(0, -1).every((d) => d.length === 1_232));
    // The far end: a second path fed these datagrams in reverse order.
    const far = fakePath(new FakeHost());
    const got: Uint8Array[] = [];
    far.onFrame = (f) => got.push(new Uint8Array(f));
    for (const d of [...host.sent].reverse()) far.receiveDatagram(d);
    assert.deepEqual(got, [big]);
  }
  assert.equal(p.stats.framesOut, 4);
});

test('UdpPath: refusals are false returns counted by reason, never throws', () => {
  const host = new FakeHost();
  const p = fakePath(host, 548);
  assert.equal(p.send(new Uint8Array(0)), false);
  assert.equal(p.stats.drops.empty, 1);
  assert.equal(p.send(new Uint8Array(MAX_FRAME_BYTES + 1)), false);
  assert.equal(p.stats.drops.too_large, 1);
  // 255 fragments of 536 bytes hold 136,680 bytes: at the smallest datagram a max-size frame still fits.
  assert.equal(p.send(dataFrame(1, MAX_FRAME_BYTES)), true);
  host.queue = 64 * 1024 + 1;
  assert.equal(p.send(dataFrame(2)), false);
  assert.equal(p.stats.drops.backpressure, 1);
  host.queue = 0;
  host.refuse = true;
  assert.equal(p.send(dataFrame(3)), false);
  assert.equal(p.stats.drops.socket, 1);
  host.refuse = false;
  // A path probe is handed to the host to be wrapped, not sent bare.
  host.sent = [];
  assert.equal(p.send(encodeProbe({ ack: false, id: 5n, sentAtMs: 1 })), true);
  assert.equal(host.sent.length, 0);
  assert.equal(host.liveness.length, 1);
  // A datagram of no known type is counted; with no handler, counted too.
  p.receiveDatagram(Uint8Array.of(1, 0x01, 0, 0));
  assert.equal(p.stats.drops.unknown_type, 1);
  p.receiveDatagram(dataFrame(9));
  assert.equal(p.stats.drops.no_handler, 1);
  p.onFrame = () => { throw new Error('handler bug'); };
  p.receiveDatagram(dataFrame(9));
  assert.equal(p.stats.drops.handler_error, 1);
  const closes: string[] = [];
  p.onClose = (r) => closes.push(r);
  p.close('bye');
  p.close('again');
  p.closeFromRemote('remote');
  assert.deepEqual(closes, ['bye']);
  assert.deepEqual(host.closed, ['bye'], 'the host hears of our close once');
  assert.equal(p.send(dataFrame(4)), false);
  assert.equal(p.stats.drops.closed, 1);
});

test('UdpPath: a path probe or ack from the path\'s address, whole or reassembled from fragments, never reaches the owner; only an authenticated one does', () => {
  const host = new FakeHost();
  const counted: string[] = [];
  (host as FakeHost & { unauthenticatedDrop(r: string): void }).unauthenticatedDrop = (r) => counted.push(r);
  const p = fakePath(host);
  const got: Uint8Array[] = [];
  p.onFrame = (f) => got.push(new Uint8Array(f));
  const heardAt = p.lastReceiveMs;
  for (const ack of [true, false]) {
    const frame = encodeProbe({ ack, id: 1n, sentAtMs: 1 });
    p.receiveDatagram(frame);
    for (const f of fragmentsOf(frame, ack ? 1 : 2)) p.receiveDatagram(f);
  }
  // Reassembled bytes of no peer frame type are refused too.
  for (const f of fragmentsOf(Uint8Array.of(1, 0x01, 0, 0, 9, 9), 3)) p.receiveDatagram(f);
  assert.deepEqual(got, []);
  assert.equal(p.stats.drops.unauthenticated_probe, 4);
  assert.equal(p.stats.drops.unknown_type, 1);
  assert.deepEqual(counted, ['unauthenticated_probe', 'unauthenticated_probe', 'unauthenticated_probe', 'unauthenticated_probe', 'not_peer_frame']);
  assert.equal(p.lastReceiveMs, heardAt, 'unauthenticated datagrams do not count as heard');
  // A reassembled peer frame passes; the transport's authenticated door passes probes and nothing else.
  for (const f of fragmentsOf(dataFrame(7, 100), 4)) p.receiveDatagram(f);
  p.deliverAuthenticated(encodeProbe({ ack: true, id: 2n, sentAtMs: 1 }), heardAt + 5);
  p.deliverAuthenticated(dataFrame(8), heardAt + 6);
  assert.equal(got.length, 2);
  assert.equal(numberOf(got[0]!), 7);
  assert.equal(got[1]![1], 0x29);
  assert.equal(p.stats.drops.not_probe, 1);
  assert.equal(p.lastReceiveMs, heardAt + 5);
});

// ------------------------------------------------------------ two transports on 127.0.0.1

test('connect() on both sides gives a path on both; frames cross whole and fragmented up to MAX_FRAME_BYTES; MTU probes raise the datagram size', async () => {
  const { a, b, stop } = await startPair();
  try {
    assert.equal(a.t.localCandidates().length, 1);
    assert.deepEqual(a.t.localCandidates()[0], { address: '127.0.0.1', port: a.t.port, transport: 'udp', reflexive: false });
    const [pa, pb] = await connectBoth(a, b);
    assert.equal(pa.remote, `127.0.0.1:${b.t.port}`);
    assert.equal(pb.remote, `127.0.0.1:${a.t.port}`);
    assert.deepEqual(a.t.pathsTo(b.id), [pa]);
    await until(() => pa.maxDatagram === 1_472 && pb.maxDatagram === 1_472, 5_000, 'MTU probes at 1400 and 1472 answered');

    const gotB: Uint8Array[] = [];
    const gotA: Uint8Array[] = [];
    pb.onFrame = (f) => gotB.push(new Uint8Array(f));
    pa.onFrame = (f) => gotA.push(new Uint8Array(f));
    const sent: Uint8Array[] = [];
    const realSend = a.t.sendDatagram.bind(a.t);
    a.t.sendDatagram = (bytes, address, port) => {
      sent.push(Uint8Array.from(bytes));
      return realSend(bytes, address, port);
    };
    // Fragments go as one batch (segmentation offload); record them as the datagrams the kernel makes of it.
    const realBatch = a.t.sendDatagrams.bind(a.t);
    a.t.sendDatagrams = (bytes, segment, address, port) => {
      for (let off = 0; off < bytes.length; off += segment) sent.push(bytes.slice(off, off + segment));
      const before = sent.length;
      const ok = realBatch(bytes, segment, address, port);
      sent.length = before; // what the batch fell back to one by one is already recorded above
      return ok;
    };
    const small = dataFrame(1, 200);
    assert.equal(pa.send(small), true);
    assert.equal(sent.length, 1, 'a small frame is one datagram');
    assert.deepEqual(sent[0], small, 'sent as is, unfragmented');
    await until(() => gotB.length === 1, 5_000, 'the small frame');
    assert.deepEqual(gotB[0], small);

    const sizes = [1_473, 8_192, 60_000, 65_536, MAX_FRAME_BYTES];
    for (const [i, size] of sizes.entries()) {
      sent.length = 0;
      assert.equal(pa.send(dataFrame(10 + i, size)), true);
      assert.equal(sent.length, Math.ceil(size / (1_472 - UDP_FRAGMENT_HEADER_BYTES)));
      assert.ok(sent.every((d) => d.length <= 1_472 && d[1] === UdpFrameType.UdpFragment));
      await until(() => gotB.length === 2 + i, 5_000, `the ${size}-byte frame`);
      assert.deepEqual(gotB[1 + i], dataFrame(10 + i, size), `${size} bytes intact`);
    }
    const fragments = sizes.reduce((n, size) => n + Math.ceil(size / (1_472 - UDP_FRAGMENT_HEADER_BYTES)), 0);
    assert.equal(a.t.stats.sends.segmented, fragments, `every fragment went by segmentation offload: ${JSON.stringify(a.t.stats.sends)}`);
    assert.equal(pb.send(dataFrame(99, 30_000)), true);
    await until(() => gotA.length === 1, 5_000, 'a frame the other way');
    assert.deepEqual(gotA[0], dataFrame(99, 30_000));
    assert.equal(pb.stats.framesIn, 1 + sizes.length);
    for (const t of [a.t, b.t]) {
      assert.equal(t.stats.drops.bad_mac + t.stats.drops.replay + t.stats.drops.stale, 0);
    }
  } finally {
    await stop();
  }
});

test('refused probes are counted by reason and open no path: unknown peer, bad MAC, stale, replay, self, unanswered ack, unknown source, malformed', async () => {
  const { a, b, key, stop } = await startPair({ skewMs: 2_000 });
  const raw = await rawSocket();
  let paths = 0;
  b.t.on('path', () => paths++);
  const drop = async (reason: keyof UdpTransport['stats']['drops'], bytes: Uint8Array): Promise<void> => {
    const before = { ...b.t.stats.drops };
    await raw.send(bytes, b.t.port);
    await until(() => b.t.stats.drops[reason] === before[reason] + 1, 5_000, `a '${reason}' drop`);
    assert.equal(dropsTotal(b.t), Object.values(before).reduce((s, v) => s + v, 0) + 1, `only '${reason}' counted`);
  };
  try {
    await drop('unknown_peer', sealUdpProbe(probe({ senderPeerId: randomBytes(32) }), key));
    await drop('bad_mac', sealUdpProbe(probe({ senderPeerId: a.id }), randomBytes(32)));
    await drop('stale', sealUdpProbe(probe({ senderPeerId: a.id, timestampMs: Date.now() - 60_000 }), key));
    await drop('stale', sealUdpProbe(probe({ senderPeerId: a.id, timestampMs: Date.now() + 60_000 }), key));
    await drop('self', sealUdpProbe(probe({ senderPeerId: b.id }), key));
    await drop('ack_unknown', sealUdpProbe(probe({ senderPeerId: a.id, ack: true }), key));
    await drop('ack_unknown', sealUdpProbe(probe({ senderPeerId: a.id, ack: true, purpose: UdpProbePurpose.Mtu }), key));
    await drop('unknown_source', dataFrame(1));
    await drop('unknown_source', Uint8Array.of(1, UdpFrameType.UdpFragment, 0, 0, 1, 0, 0, 0, 0, 2, 0, 0, 9));
    await drop('malformed', Uint8Array.of(1, UdpFrameType.UdpProbe, 0, 0, 1));
    assert.equal(paths, 0);
    assert.equal(b.t.stats.established, 0);
    assert.equal(raw.got.length, 0, 'nothing refused is answered');

    // A valid punch is answered at its source (echoing the txid) and probed back;
    // the same bytes again are a replay.
    const punch = sealUdpProbe(probe({ senderPeerId: a.id }), key);
    await raw.send(punch, b.t.port);
    await until(() => raw.got.length >= 2, 5_000, 'an ack and a probe back');
    const answers = raw.got.map((g) => decodeUdpProbe(g.bytes));
    for (const p of answers) {
      assert.deepEqual(new Uint8Array(p.senderPeerId), b.id);
      assert.equal(verifyUdpProbe(p, [key]), true);
    }
    const ack = answers.find((p) => p.ack)!;
    const back = answers.find((p) => !p.ack)!;
    assert.deepEqual(new Uint8Array(ack.txid), decodeUdpProbe(punch).txid, 'the ack echoes the txid');
    assert.equal(back.purpose, UdpProbePurpose.Punch);
    await drop('replay', punch);
    assert.equal(paths, 0, 'answering a punch alone opens no path');

    // Answering the probe back (the peer-reflexive candidate) opens a path to the raw socket's address.
    const gotPath = next<[Uint8Array, UdpPath]>(b.t, 'path');
    await raw.send(sealUdpProbe(probe({ senderPeerId: a.id, ack: true, txid: back.txid }), key), b.t.port);
    const [, path] = await gotPath;
    assert.equal(path.remote, `127.0.0.1:${raw.port}`);
    // The same ack again no longer matches an outstanding txid.
    await drop('ack_unknown', sealUdpProbe(probe({ senderPeerId: a.id, ack: true, txid: back.txid }), key));
    // Data from that address is now a path's, not 'unknown_source'.
    const onPath: Uint8Array[] = [];
    path.onFrame = (f) => onPath.push(new Uint8Array(f));
    await raw.send(dataFrame(5), b.t.port);
    await until(() => onPath.length === 1, 5_000, 'a frame on the new path');
  } finally {
    raw.close();
    await stop();
  }
});

test('replay cache per peer path: probes of 40 peers (beyond what one node-wide cache of 4,096 txids held) are all answered, and every one of them replayed is refused', async () => {
  const PEERS = 40;
  const PER_PEER = 110; // 40 x 110 = 4,400 fresh txids within one skew window
  const self = randomBytes(32);
  const key = randomBytes(32);
  const peers = Array.from({ length: PEERS }, () => randomBytes(32));
  const t = new UdpTransport({ localPeerId: self, pathAuthKeys: (p) => (toHex(p) === toHex(self) ? [] : [key]) }, { listenHost: '127.0.0.1' });
  await t.start();
  const raw = await rawSocket();
  try {
    for (const id of peers) t.setPeerCandidates(id, []);
    const sent: Uint8Array[] = [];
    for (let i = 0; i < PER_PEER; i++) for (const id of peers) sent.push(sealUdpProbe(probe({ senderPeerId: id }), key));
    // Paced under the 1,000/s verification limit for addresses without a path.
    for (let i = 0; i < sent.length; i += 400) {
      await Promise.all(sent.slice(i, i + 400).map((d) => raw.send(d, t.port)));
      await new Promise((r) => setTimeout(r, 500));
    }
    const acks = (): number => raw.got.filter((g) => decodeUdpProbe(g.bytes).ack).length;
    await until(() => acks() === sent.length, 10_000, 'an ack for every genuine probe');
    assert.equal(t.stats.drops.replay, 0, 'no genuine probe refused as a replay');
    assert.equal(t.stats.drops.rate_limited, 0);
    // The oldest txid of every peer, sent again: all refused.
    const before = raw.got.length;
    for (const d of sent.slice(0, PEERS)) await raw.send(d, t.port);
    await until(() => t.stats.drops.replay === PEERS, 5_000, `${PEERS} replays refused (got ${t.stats.drops.replay})`);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(raw.got.length, before, 'no replay answered');
  } finally {
    raw.close();
    await t.stop();
  }
});

test('a punch answered with a forged MAC opens no path; the correct answer does', async () => {
  const { a, key, stop } = await startPair();
  const raw = await rawSocket();
  const peer = randomBytes(32);
  const t = new UdpTransport({ localPeerId: randomBytes(32), pathAuthKeys: (p) => (toHex(p) === toHex(peer) ? [key] : []) }, { listenHost: '127.0.0.1' });
  await t.start();
  try {
    t.setPeerCandidates(peer, [{ address: '127.0.0.1', port: raw.port, transport: 'udp' }, { address: '127.0.0.1', port: a.t.port, transport: 'wss' }]);
    t.connect(peer);
    await until(() => raw.got.length >= 1, 5_000, 'a punch probe');
    const p = decodeUdpProbe(raw.got[0]!.bytes);
    assert.equal(p.purpose, UdpProbePurpose.Punch);
    assert.equal(verifyUdpProbe(p, [key]), true);
    await raw.send(sealUdpProbe(probe({ senderPeerId: peer, ack: true, txid: p.txid }), randomBytes(32)), t.port);
    await until(() => t.stats.drops.bad_mac === 1, 5_000, 'bad_mac');
    assert.equal(t.pathsTo(peer).length, 0);
    const gotPath = next<[Uint8Array, UdpPath]>(t, 'path');
    await raw.send(sealUdpProbe(probe({ senderPeerId: peer, ack: true, txid: p.txid }), key), t.port);
    const [, path] = await gotPath;
    assert.equal(path.remote, `127.0.0.1:${raw.port}`);
    assert.ok(raw.got.every((g) => g.port === t.port), 'only the UDP candidate was punched, not the WSS one');
  } finally {
    raw.close();
    await t.stop();
    await stop();
  }
});

test('close() on one side closes the other at once (close notice); frames already in flight still arrive', async () => {
  const { a, b, stop } = await startPair();
  try {
    const [pa, pb] = await connectBoth(a, b);
    const gotA: number[] = [];
    pa.onFrame = (f) => gotA.push(numberOf(f));
    const closedB = new Promise<string>((resolve) => { pb.onClose = resolve; });
    for (let i = 0; i < 20; i++) assert.equal(pb.send(dataFrame(i, i % 2 === 0 ? 100 : 5_000)), true);
    pa.close('bye'); // before any of b's datagrams were read
    assert.equal(pa.closed, true);
    assert.equal(pa.send(dataFrame(1)), false);
    assert.equal(await closedB, 'remote_closed', 'b closed on the notice, not at a probe timeout');
    assert.equal(pb.closed, true);
    await until(() => gotA.length === 20, 5_000, 'late frames within the drain');
    // Answers to punch probes sent before the close did not reopen a path on either side.
    assert.equal(a.t.stats.established, 1);
    assert.equal(b.t.stats.established, 1);
    assert.deepEqual(gotA.sort((x, y) => x - y), [...Array(20).keys()]);
    assert.deepEqual(a.t.pathsTo(b.id), []);
    assert.deepEqual(b.t.pathsTo(a.id), []);
    // A new punch makes new paths (once the first punch's grace for extra answers is over).
    await new Promise((r) => setTimeout(r, 300));
    const [pa2, pb2] = await connectBoth(a, b);
    assert.notEqual(pa2.id, pa.id);
    assert.equal(pb2.closed, false);
  } finally {
    await stop();
  }
});

test('connect failures: no session, no candidates, and a punch nobody answers (defaults: every 200 ms for 5 s)', async () => {
  const clock = new FakeClock(Date.now());
  const key = randomBytes(32);
  const known = randomBytes(32);
  const t = new UdpTransport({ localPeerId: randomBytes(32), pathAuthKeys: (p) => (toHex(p) === toHex(known) ? [key] : []), clock }, { listenHost: '127.0.0.1' });
  const silent = await rawSocket();
  const silent2 = await rawSocket();
  const failures: [string, string[]][] = [];
  t.on('connect_failed', (p: Uint8Array, codes: string[]) => failures.push([toHex(p), codes]));
  await t.start();
  try {
    const stranger = randomBytes(32);
    t.connect(stranger);
    assert.deepEqual(failures, [[toHex(stranger), [UdpCode.NO_SESSION]]]);
    assert.equal(UdpCode.NO_SESSION, 'SM_ERR_UDP_NO_SESSION');
    t.connect(known);
    assert.deepEqual(failures[1], [toHex(known), ['SM_ERR_UDP_NO_CANDIDATES']]);
    t.setPeerCandidates(known, [{ address: '127.0.0.1', port: 9, transport: 'wss' }]);
    t.connect(known);
    assert.deepEqual(failures[2], [toHex(known), ['SM_ERR_UDP_NO_CANDIDATES']], 'WSS candidates are not UDP candidates');

    t.setPeerCandidates(known, [{ address: '127.0.0.1', port: silent.port, transport: 'udp' }, { address: '127.0.0.1', port: silent2.port, transport: 'udp', reflexive: true }]);
    t.connect(known);
    t.connect(known); // a punch under way is left alone
    clock.advance(4_999);
    assert.equal(failures.length, 3, 'still punching before the timeout');
    clock.advance(1);
    assert.deepEqual(failures[3], [toHex(known), ['SM_ERR_UDP_PUNCH_TIMEOUT']]);
    assert.equal(t.stats.punches, 1);
    assert.equal(t.stats.punchProbes, 25 * 2, 'both candidates probed every 200 ms for 5 s');
    clock.advance(10_000);
    assert.equal(t.stats.punchProbes, 50, 'no probes after the timeout');
    assert.equal(failures.length, 4);
    await until(() => silent.got.length === 25 && silent2.got.length === 25, 5_000, 'the probes on the wire');
  } finally {
    silent.close();
    silent2.close();
    await t.stop();
  }
});

test('outstanding probes are bounded: an ack for a txid pushed out long ago is ack_unknown, a recent one opens the path', async () => {
  const clock = new FakeClock(Date.now());
  const key = randomBytes(32);
  const peer = randomBytes(32);
  const t = new UdpTransport({ localPeerId: randomBytes(32), pathAuthKeys: (p) => (toHex(p) === toHex(peer) ? [key] : []), clock }, { listenHost: '127.0.0.1', punchIntervalMs: 10, punchTimeoutMs: 1_000 });
  const sinks = await Promise.all(Array.from({ length: 16 }, () => rawSocket()));
  await t.start();
  try {
    t.setPeerCandidates(peer, sinks.map((s) => ({ address: '127.0.0.1', port: s.port, transport: 'udp' as const })));
    t.connect(peer);
    const first = sinks[0]!;
    await until(() => first.got.length === 1, 5_000, 'the first punch');
    const oldest = decodeUdpProbe(first.got[0]!.bytes).txid;
    // One attempt sends at most MAX_PUNCH_PROBES_PER_ATTEMPT (400): twelve attempts' txids are above the 4096 bound.
    const ATTEMPTS = 12;
    const perAttempt = 400 / 16;
    for (let i = 1; i < ATTEMPTS; i++) {
      clock.advance(1_000); // the attempt times out
      t.connect(peer);
      await until(() => first.got.length >= i * perAttempt + 1, 5_000, `attempt ${i} on the first sink`);
    }
    clock.advance(500);
    assert.ok(t.stats.punchProbes > 4_096 + 16, `${t.stats.punchProbes} punch probes`);
    await until(() => first.got.length === ATTEMPTS * perAttempt, 5_000, `every round on the first sink (${first.got.length}, ${t.stats.punchProbes}, ${sinks.map((s) => s.got.length).join(',')}, ${JSON.stringify(t.stats.drops)})`);
    const recent = decodeUdpProbe(first.got.at(-1)!.bytes).txid;
    await first.send(sealUdpProbe(probe({ senderPeerId: peer, ack: true, txid: oldest, timestampMs: clock.now() }), key), t.port);
    await until(() => t.stats.drops.ack_unknown === 1, 5_000, 'the forgotten txid refused');
    assert.equal(t.pathsTo(peer).length, 0);
    const gotPath = next<[Uint8Array, UdpPath]>(t, 'path');
    await first.send(sealUdpProbe(probe({ senderPeerId: peer, ack: true, txid: recent, timestampMs: clock.now() }), key), t.port);
    await gotPath;
  } finally {
    for (const s of sinks) s.close();
    await t.stop();
  }
});

test('a flood of 10,000 junk datagrams is counted, never throws, and the path still works', async () => {
  const { a, b, stop } = await startPair();
  const raw = await rawSocket();
  try {
    const [pa, pb] = await connectBoth(a, b);
    const before = dropsTotal(b.t);
    let seed = 12_345;
    const rnd = (n: number): number => {
      seed = (seed * 1_103_515_245 + 12_345) & 0x7fff_ffff;
      return seed % n;
    };
    const junk = (i: number): Uint8Array => {
      const len = rnd(200);
      const out = Uint8Array.from({ length: len }, () => rnd(256));
      if (len >= 2 && i % 3 === 1) {
        out[0] = 1;
        out[1] = [UdpFrameType.UdpProbe, UdpFrameType.UdpProbeAck, UdpFrameType.UdpFragment, 0x24][rnd(4)]!;
      }
      if (i % 3 === 2) {
        // Well-formed probes in a's name with a garbage MAC: each costs an HMAC until the rate limit.
        return Uint8Array.from(Buffer.concat([Buffer.from(sealUdpProbe(probe({ senderPeerId: a.id }), randomBytes(32)))]));
      }
      return out;
    };
    // Paced in small bursts so the kernel's receive buffer does not overflow: every datagram must be accounted for.
    for (let i = 0; i < 10_000; i += 20) {
      await Promise.all(Array.from({ length: 20 }, (_, j) => raw.send(junk(i + j), b.t.port)));
      await new Promise((r) => setImmediate(r));
    }
    await until(() => dropsTotal(b.t) - before === 10_000, 10_000, 'every junk datagram counted');
    assert.ok(b.t.stats.drops.unknown_source > 0);
    assert.ok(b.t.stats.drops.bad_mac > 0);
    assert.equal(b.t.stats.established, 1, 'junk opened no path');
    assert.equal(pb.closed, false);
    const got: Uint8Array[] = [];
    pb.onFrame = (f) => got.push(new Uint8Array(f));
    assert.equal(pa.send(dataFrame(1, 20_000)), true);
    await until(() => got.length === 1, 5_000, 'a frame after the flood');
    assert.deepEqual(got[0], dataFrame(1, 20_000));
  } finally {
    raw.close();
    await stop();
  }
});

test('roaming: an authenticated liveness probe from a new address moves the path there; an unauthenticated one does not', async () => {
  const { a, b, key, stop } = await startPair();
  const raw = await rawSocket();
  try {
    const [, pb] = await connectBoth(a, b);
    const got: Uint8Array[] = [];
    pb.onFrame = (f) => got.push(new Uint8Array(f));
    const embed = encodeProbe({ ack: false, id: 42n, sentAtMs: 1 });
    await raw.send(sealUdpProbe(probe({ senderPeerId: a.id, purpose: UdpProbePurpose.Liveness, embed }), randomBytes(32)), b.t.port);
    await until(() => b.t.stats.drops.bad_mac === 1, 5_000, 'bad_mac');
    assert.equal(pb.remote, `127.0.0.1:${a.t.port}`);
    await raw.send(sealUdpProbe(probe({ senderPeerId: a.id, purpose: UdpProbePurpose.Liveness, embed }), key), b.t.port);
    await until(() => b.t.stats.roams === 1, 5_000, 'the path moved');
    assert.equal(pb.remote, `127.0.0.1:${raw.port}`);
    assert.deepEqual(got, [embed], 'the embedded PATH_PROBE reaches the path manager');
    // Data now goes to the new address.
    assert.equal(pb.send(dataFrame(3)), true);
    await until(() => raw.got.some((g) => g.bytes[1] === 0x24), 5_000, 'data at the new address');
  } finally {
    raw.close();
    await stop();
  }
});

test('options are validated: unknown key, bad port, bad listenHost, bad deps -> PathCode.OPTION', async () => {
  const deps = { localPeerId: randomBytes(32), pathAuthKeys: () => [] };
  const bad: unknown[] = [
    { nope: 1 },
    { listenPort: 70_000 },
    { listenPort: -1 },
    { listenPort: 1.5 },
    { listenHost: 'localhost' },
    { listenHost: '127.0.0.256' },
    { listenHost: 7 },
    { punchIntervalMs: 0 },
    { punchTimeoutMs: 'x' },
    { initialMaxDatagram: 1_473 },
    { stunServers: [{ host: '', port: 3478 }] },
    { stunServers: [{ host: 'a', port: 0 }] },
  ];
  for (const o of bad) {
    assert.throws(() => new UdpTransport(deps, o as UdpTransportOptions), (e: Error & { code?: string }) => e.code === 'SM_ERR_PATH_OPTION' && e.name === 'ConfigError', JSON.stringify(o));
  }
  assert.throws(() => new UdpTransport({ ...deps, localPeerId: new Uint8Array(31) }), { code: 'SM_ERR_PATH_OPTION' });
  assert.throws(() => new UdpTransport({ localPeerId: randomBytes(32) } as never), { code: 'SM_ERR_PATH_OPTION' });
  const t = new UdpTransport(deps, { listenHost: '127.0.0.1', punchTimeoutMs: undefined });
  assert.equal(t.options.punchTimeoutMs, 5_000, 'undefined means the default');
  assert.ok(Object.isFrozen(t.options));
  await t.start();
  await assert.rejects(t.start(), { code: 'SM_ERR_PATH_ARG' });
  await t.stop();
  await t.stop();
});

test('IPv6: two transports on ::1 punch, carry whole and fragmented frames, and name the remote in brackets', async () => {
  const { a, b, stop } = await startPair({ listenHost: '::1' });
  try {
    assert.deepEqual(a.t.localCandidates(), [{ address: '::1', port: a.t.port, transport: 'udp', reflexive: false }]);
    const [pa, pb] = await connectBoth(a, b);
    assert.equal(pa.remote, `[::1]:${b.t.port}`);
    assert.equal(pb.remote, `[::1]:${a.t.port}`);
    const got: number[] = [];
    pb.onFrame = (f) => got.push(numberOf(f));
    for (let i = 0; i < 20; i++) assert.equal(pa.send(dataFrame(i, i % 2 === 0 ? 64 : 20_000)), true);
    await until(() => got.length === 20, 5_000, 'all 20 frames on ::1');
    assert.deepEqual([...got].sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i));
  } finally {
    await stop();
  }
});

test('dual stack: a transport on :: reaches an IPv4 peer at its plain IPv4 candidate (sent as IPv4-mapped) and names it without ::ffff:', async () => {
  const idA = randomBytes(32);
  const idB = randomBytes(32);
  const key = randomBytes(32);
  const keysOf = (self: Uint8Array) => (p: Uint8Array): Uint8Array[] => (toHex(p) === toHex(self) ? [] : [key]);
  // On one host the IPv4 peer is a loopback candidate, which a socket not bound to loopback refuses unless told (§3.5.6).
  const dual = new UdpTransport({ localPeerId: idA, pathAuthKeys: keysOf(idA) }, { listenHost: '::', allowLoopbackCandidates: true });
  const v4 = new UdpTransport({ localPeerId: idB, pathAuthKeys: keysOf(idB) }, { listenHost: '127.0.0.1' });
  await dual.start();
  await v4.start();
  try {
    dual.setPeerCandidates(idB, v4.localCandidates());
    v4.setPeerCandidates(idA, [{ address: '127.0.0.1', port: dual.port, transport: 'udp' }]);
    const [pd, p4] = await connectBoth({ id: idA, t: dual }, { id: idB, t: v4 });
    assert.equal(pd.remote, `127.0.0.1:${v4.port}`, 'no ::ffff: prefix in the remote');
    assert.equal(p4.remote, `127.0.0.1:${dual.port}`);
    const got: number[] = [];
    p4.onFrame = (f) => got.push(numberOf(f));
    assert.equal(pd.send(dataFrame(7, 30_000)), true);
    await until(() => got.length === 1, 5_000, 'a fragmented frame from the dual-stack socket');
    assert.deepEqual(got, [7]);
    assert.ok(dual.stats.sends.native > 0 && dual.stats.sends.dgram === 0, `IPv4-mapped destinations go native too: ${JSON.stringify(dual.stats.sends)}`);
  } finally {
    await dual.stop();
    await v4.stop();
  }
});

test('connect() on a transport with no socket (never started, or stopped) fails at once with SM_ERR_UDP_NOT_RUNNING', async () => {
  const peer = randomBytes(32);
  const t = new UdpTransport({ localPeerId: randomBytes(32), pathAuthKeys: () => [randomBytes(32)] }, { listenHost: '127.0.0.1' });
  const failures: string[][] = [];
  t.on('connect_failed', (_p: Uint8Array, codes: string[]) => failures.push(codes));
  t.connect(peer);
  await t.start();
  await t.stop();
  t.connect(peer);
  assert.deepEqual(failures, [[UdpCode.NOT_RUNNING], [UdpCode.NOT_RUNNING]]);
});
