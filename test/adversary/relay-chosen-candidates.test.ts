/**
 * Issue 11, defect 5 (docs/protocol.md §3.5.6): the relay — by its observed
 * address in ESTABLISHED, and as the default STUN server — and a peer's
 * offer name the addresses a node dials and probes. None of them can aim
 * that traffic at unspecified, multicast, broadcast or (for a node not
 * itself on loopback) loopback addresses, and an offer or a punch attempt
 * cannot make a node send more than the documented caps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes, toHex } from '../../src/crypto/bytes.js';
import { candidateRefusal, filterCandidates, interfaceBroadcasts, MAX_CANDIDATES_PER_OFFER, newRefusalCounts } from '../../src/node/path/rendezvous/candidate-filter.js';
import { signPathOffer, type PathCandidate } from '../../src/node/path/rendezvous/path-offer.js';
import { MAX_PUNCH_PROBES_PER_ATTEMPT, UdpTransport } from '../../src/node/path/udp-transport.js';
import { UdpCode } from '../../src/node/path/path-errors.js';
import { LyingStunServer } from '../../testkit/adversary/lying-stun.js';
import { startInProcessMesh, waitUntil } from '../../testkit/in-process-mesh.js';
import { FakeSessions, members, next, offersOf, rendezvousOf } from '../../testkit/direct-transport-fixture.js';

const LIES = ['0.0.0.0', '224.0.0.1', '255.255.255.255'];

/** A UDP socket on 127.0.0.1 that counts what reaches it. */
async function udpSink(): Promise<{ s: Socket; port: number; count(): number; close(): Promise<void> }> {
  const s = createSocket('udp4');
  let n = 0;
  s.on('message', () => { n++; });
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  return { s, port: s.address().port, count: () => n, close: () => new Promise((r) => s.close(() => r())) };
}

/** A TCP listener on 127.0.0.1 that counts connections. */
async function tcpSink(): Promise<{ port: number; count(): number; close(): Promise<void> }> {
  let n = 0;
  const srv: Server = createServer((c) => { n++; c.destroy(); });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  return { port, count: () => n, close: () => new Promise((r) => srv.close(() => r())) };
}

test('the candidate filter refuses unspecified, multicast, broadcast (limited, directed, IPv4-mapped) and port 0; loopback only for a node on loopback', () => {
  const off = { loopbackAllowed: false, broadcasts: interfaceBroadcasts() };
  const on = { loopbackAllowed: true, broadcasts: interfaceBroadcasts() };
  const cases: [string, number, string | null][] = [
    ['0.0.0.0', 443, 'unspecified'], ['0.1.2.3', 443, 'unspecified'], ['::', 443, 'unspecified'], ['::ffff:0.0.0.0', 443, 'unspecified'],
    ['224.0.0.1', 443, 'multicast'], ['239.255.255.250', 1900, 'multicast'], ['ff02::1', 443, 'multicast'], ['::ffff:224.0.0.1', 443, 'multicast'],
    ['255.255.255.255', 443, 'broadcast'], ['::ffff:255.255.255.255', 443, 'broadcast'],
    ['127.0.0.1', 443, 'loopback'], ['127.1.2.3', 443, 'loopback'], ['::1', 443, 'loopback'], ['::ffff:127.0.0.1', 443, 'loopback'],
    ['192.0.2.7', 0, 'port'], ['not-an-ip', 443, 'not_ip'],
    ['192.0.2.7', 443, null], ['10.1.2.3', 51820, null], ['2001:db8::1', 443, null],
  ];
  for (const [address, port, want] of cases) assert.equal(candidateRefusal(address, port, off), want, `${address}:${port}`);
  for (const a of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) assert.equal(candidateRefusal(a, 443, on), null, `${a} from a node on loopback`);
  for (const a of ['0.0.0.0', '224.0.0.1', '255.255.255.255']) assert.notEqual(candidateRefusal(a, 443, on), null, `${a} even on loopback`);
  // Directed broadcast of a known subnet (a /24 given explicitly, and whatever this host has).
  assert.equal(candidateRefusal('192.0.2.255', 443, { loopbackAllowed: false, broadcasts: new Set(['192.0.2.255']) }), 'broadcast');
  for (const b of interfaceBroadcasts()) assert.equal(candidateRefusal(b, 443, off), 'broadcast', b);
});

test('an offer\'s candidates are capped at MAX_CANDIDATES_PER_OFFER, shared between WSS and UDP, the rest counted', () => {
  const many: PathCandidate[] = [];
  for (let i = 0; i < 1_000; i++) many.push({ address: `10.${(i >> 8) & 255}.${i & 255}.1`, port: 1_000 + (i % 50_000), transport: i < 900 ? 'udp' : 'wss' });
  const counts = newRefusalCounts();
  const taken = filterCandidates(many, { loopbackAllowed: false }, counts);
  assert.equal(taken.length, MAX_CANDIDATES_PER_OFFER);
  assert.equal(taken.filter((c) => c.transport === 'wss').length, MAX_CANDIDATES_PER_OFFER / 2, 'WSS is not crowded out by UDP');
  assert.equal(counts.over_cap, 1_000 - MAX_CANDIDATES_PER_OFFER);
});

test('a relay lying about the observed address (0.0.0.0, 224.0.0.1, 255.255.255.255) and a lying STUN server naming the same: none enters an offer or a peer\'s candidate list', async () => {
  for (const lie of LIES) {
    const mesh = await startInProcessMesh(['alice', 'bob']);
    const stun = new LyingStunServer({ address: lie, port: 4_000 });
    await stun.start('127.0.0.1');
    try {
      mesh.relay.lieObserved = { address: lie, port: 4_000 };
      const opts = { udp: { listenHost: '127.0.0.1', stunServers: [{ host: '127.0.0.1', port: stun.port }] } };
      const a = mesh.node('alice', opts);
      const b = mesh.node('bob', opts);
      a.start();
      b.start();
      const alice = mesh.net.member('alice').peerId;
      await waitUntil('relay admission with the lie', () => a.link.established !== null && b.link.established !== null);
      await waitUntil('a STUN answer', () => stun.requests > 0 && a.udp!.stunStats.answers > 0, 20_000);
      const bob = mesh.net.member('bob').peerId;
      await waitUntil('bob has alice\'s offer', () => {
        a.send(bob, new Uint8Array(8)); // a session, and with it the offers
        return (b.rendezvous!.peerCandidates(alice)?.length ?? 0) > 0;
      }, 20_000);
      assert.equal(a.link.established!.observedAddress, lie, 'the relay did lie');
      const offered = a.rendezvous!.localCandidates().map((c) => c.address);
      assert.ok(!offered.includes(lie), `alice does not offer ${lie}: ${offered.join(', ')}`);
      const atBob = b.rendezvous!.peerCandidates(alice)!.map((c) => c.address);
      assert.ok(!atBob.includes(lie), `bob holds no ${lie}: ${atBob.join(', ')}`);
      const refused = a.rendezvous!.stats.candidatesRefused;
      assert.ok(refused.unspecified + refused.multicast + refused.broadcast >= 1, `the relay's lie counted: ${JSON.stringify(refused)}`);
      const udpRefused = a.udp!.stats.candidatesRefused;
      assert.ok(udpRefused.unspecified + udpRefused.multicast + udpRefused.broadcast >= 1, `the STUN lie counted: ${JSON.stringify(udpRefused)}`);
      assert.ok(!a.udp!.localCandidates().some((c) => c.address === lie));
    } finally {
      await stun.stop();
      await mesh.stop();
    }
  }
});

test('a node not on loopback never probes or dials a loopback, unspecified, multicast or broadcast candidate of a signed offer: the loopback listeners named count nothing', async () => {
  const [ma, mb] = members();
  const sessions = new FakeSessions(members());
  sessions.pair(ma!, mb!);
  const udpSinkNamed = await udpSink();
  const tcpSinkNamed = await tcpSink();
  // A WSS transport bound to every address (not loopback) and a UDP transport on the dual-stack socket.
  const direct = sessions.transport(ma!, { listenHost: '::' });
  const key = randomBytes(32);
  const udp = new UdpTransport({ localPeerId: ma!.peerId, pathAuthKeys: (p) => (toHex(p) === toHex(mb!.peerId) ? [key] : []) }, { listenHost: '::' });
  await direct.start();
  await udp.start();
  try {
    const named: PathCandidate[] = [
      { address: '127.0.0.1', port: udpSinkNamed.port, transport: 'udp' },
      { address: '127.0.0.1', port: tcpSinkNamed.port, transport: 'wss' },
      ...LIES.flatMap((address) => [{ address, port: udpSinkNamed.port, transport: 'udp' as const }, { address, port: tcpSinkNamed.port, transport: 'wss' as const }]),
      { address: '::ffff:127.0.0.1', port: udpSinkNamed.port, transport: 'udp' },
    ];
    const offer = signPathOffer(mb!.signer, { peerId: mb!.peerId, timestampMs: Date.now(), fingerprint: randomBytes(32), candidates: named });
    assert.equal(offersOf(direct).accept(mb!.peerId, offer), true, 'the offer itself is genuine');
    assert.deepEqual(rendezvousOf(direct).peerCandidates(mb!.peerId), [], 'no candidate of it is taken');
    const r = rendezvousOf(direct).stats.candidatesRefused;
    assert.equal(r.loopback, 3);
    assert.equal(r.unspecified + r.multicast + r.broadcast, 6);
    udp.setPeerCandidates(mb!.peerId, named);
    const failed = next<[Uint8Array, string[]]>(udp, 'connect_failed');
    udp.connect(mb!.peerId);
    assert.deepEqual((await failed)[1], [UdpCode.NO_CANDIDATES]);
    const wssFailed = next<[Uint8Array, string[]]>(direct, 'connect_failed');
    direct.connect(mb!.peerId);
    await wssFailed;
    await new Promise((r2) => setTimeout(r2, 300));
    assert.equal(udpSinkNamed.count(), 0, 'no datagram reached the loopback address the offer named');
    assert.equal(tcpSinkNamed.count(), 0, 'no connection reached the loopback address the offer named');
    assert.equal(udp.stats.punchProbes, 0);
    assert.equal(direct.stats.dials, 0);
    // The relay naming loopback (or a lie above) as our observed address: not in our offer either, and counted.
    const before = rendezvousOf(direct).stats.candidatesRefused.loopback;
    rendezvousOf(direct).setAdvertise(['127.0.0.1', ...LIES]);
    const ours = rendezvousOf(direct).localCandidates().map((c) => c.address);
    for (const a of ['127.0.0.1', ...LIES]) assert.ok(!ours.includes(a), `${a} not offered: ${ours.join(', ')}`);
    assert.equal(rendezvousOf(direct).stats.candidatesRefused.loopback, before + 1);
  } finally {
    await udp.stop();
    await direct.stop();
    await udpSinkNamed.close();
    await tcpSinkNamed.close();
  }
});

test('one punch attempt probes at most MAX_CANDIDATES_PER_OFFER candidates and sends at most MAX_PUNCH_PROBES_PER_ATTEMPT probes, whatever the timers', async () => {
  const [ma, mb] = members();
  const key = randomBytes(32);
  const sinks = await Promise.all(Array.from({ length: 32 }, () => udpSink()));
  const udp = new UdpTransport(
    { localPeerId: ma!.peerId, pathAuthKeys: (p) => (toHex(p) === toHex(mb!.peerId) ? [key] : []) },
    { listenHost: '127.0.0.1', punchIntervalMs: 10, punchTimeoutMs: 3_000 },
  );
  await udp.start();
  try {
    udp.setPeerCandidates(mb!.peerId, sinks.map((s) => ({ address: '127.0.0.1', port: s.port, transport: 'udp' as const })));
    assert.equal(udp.stats.candidatesRefused.over_cap, 32 - MAX_CANDIDATES_PER_OFFER);
    const failed = next<[Uint8Array, string[]]>(udp, 'connect_failed', 10_000);
    udp.connect(mb!.peerId);
    assert.deepEqual((await failed)[1], [UdpCode.TIMEOUT]);
    await new Promise((r) => setTimeout(r, 200));
    const counts = sinks.map((s) => s.count());
    const total = counts.reduce((s, v) => s + v, 0);
    assert.equal(counts.filter((c) => c > 0).length, MAX_CANDIDATES_PER_OFFER, `probed candidates: ${counts.join(',')}`);
    assert.ok(total <= MAX_PUNCH_PROBES_PER_ATTEMPT, `${total} probes in one attempt (300 rounds x 16 without the cap)`);
    assert.equal(udp.stats.punchProbes, total);
  } finally {
    await udp.stop();
    await Promise.all(sinks.map((s) => s.close()));
  }
});
