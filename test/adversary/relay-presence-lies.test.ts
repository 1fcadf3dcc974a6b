/**
 * The relay's presence (PEER_UP / PEER_DOWN, the list re-sent on every
 * admission) decides who may be introduced, not who may keep an
 * authenticated session (docs/threat-model.md "Malicious relay"; issue 11,
 * defects 6 and 7). Real ShadowNodes (and one real NodeDaemon) on 127.0.0.1
 * against the in-process MaliciousRelay:
 *
 *   - a forged PEER_DOWN leaves the session, its direct path and the data
 *     plane's route to the member as they were;
 *   - a relay stop, an absence and a restart (a new relay, same key) leave
 *     them too: a numbered stream sent across arrives complete and once, on
 *     the direct path that never changed;
 *   - revocation cuts whatever the relay said before: PEER_DOWN first, the
 *     CRL second, and the revoked member's session is gone (keys wiped);
 *   - a session whose peer certificate expires is cut by the periodic check;
 *   - a relay that announces one certificate digest in PRESENCE and serves
 *     other bytes on CERT_REQUEST (another member's real certificate,
 *     garbage), one that announces another member's digest under a peer id,
 *     and one that pushes CERT frames nobody asked for: each is refused and
 *     counted, and the member is listed only once the true certificate
 *     comes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CERT_CLOCK_SKEW_MS } from '../../src/identity/membership.js';
import { sha256 } from '../../src/crypto/bytes.js';
import { PresenceKind } from '../../src/wire/constants.js';
import { MemoryDevice } from '../../src/node/device/memory-device.js';
import { NodeDaemon } from '../../src/node/daemon.js';
import type { ShadowNode } from '../../src/node/node.js';
import { startInProcessMesh, waitUntil, type InProcessMesh } from '../../testkit/in-process-mesh.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const hexOf = (id: Uint8Array): string => Buffer.from(id).toString('hex');

/** An IPv4/UDP packet from `src` to `dst` whose last byte is `marker`. */
function ipv4(src: Uint8Array, dst: Uint8Array, marker: number): Uint8Array {
  const p = new Uint8Array(28);
  p[0] = 0x45; p[3] = 28; p[8] = 64; p[9] = 17;
  p.set(src, 12); p.set(dst, 16);
  p[27] = marker;
  return p;
}

interface Pair {
  a: ShadowNode;
  b: ShadowNode;
  aDev: MemoryDevice;
  bDev: MemoryDevice;
  alice: Uint8Array;
  bob: Uint8Array;
  /** Numbers of the payloads bob received, in arrival order. */
  got: number[];
  /** Send `n` numbered payloads alice -> bob. */
  sendSome(n: number): void;
  sent(): number;
  /** Falls back to the relay and members dropped, on either side, since the pair was up on its direct path
   *  (a move between direct paths, e.g. WSS to UDP at equal RTT, is not counted). */
  changes: string[];
}

/** alice and bob with memory TUN devices, a session, and a direct path both ways (a stream keeps flowing while it forms). */
async function directPair(mesh: InProcessMesh): Promise<Pair> {
  const aDev = new MemoryDevice({ kind: 'tun', mtu: 1400 });
  const bDev = new MemoryDevice({ kind: 'tun', mtu: 1400 });
  const a = mesh.node('alice');
  const b = mesh.node('bob');
  a.attachDevice(aDev);
  b.attachDevice(bDev);
  a.start();
  b.start();
  const alice = mesh.net.member('alice').peerId;
  const bob = mesh.net.member('bob').peerId;
  const got: number[] = [];
  b.on('payload', (_p: Uint8Array, body: Uint8Array) => got.push(Buffer.from(body).readUInt32LE(0)));
  let seq = 0;
  const sendSome = (n: number): void => {
    for (let i = 0; i < n; i++) {
      const buf = Buffer.alloc(64);
      buf.writeUInt32LE(seq++, 0);
      a.send(bob, buf);
    }
  };
  await waitUntil('both admitted and listed', () => a.directory.get(bob) !== undefined && b.directory.get(alice) !== undefined);
  for (let i = 0; a.paths.pathInfo(bob)?.path !== 'direct' || b.paths.pathInfo(alice)?.path !== 'direct'; i++) {
    if (i > 2_000) throw new Error('no direct path within 20 s');
    sendSome(5);
    await sleep(10);
  }
  const changes: string[] = [];
  for (const [name, n] of [['alice', a], ['bob', b]] as const) {
    n.paths.on('migrated', (_id: Uint8Array, ev: { kind: string }) => { if (ev.kind === 'to_relay') changes.push(`${name}: migrated to the relay`); });
    n.paths.on('fallback', (_id: Uint8Array, reason: string) => changes.push(`${name}: fallback ${reason}`));
    n.on('member_down', (e: { name: string }) => changes.push(`${name}: member_down ${e.name}`));
  }
  return { a, b, aDev, bDev, alice, bob, got, sendSome, sent: () => seq, changes };
}

/** The whole stream arrived, each number once. */
async function assertComplete(p: Pair, what: string): Promise<void> {
  await waitUntil(`the whole stream (${what})`, () => p.got.length >= p.sent(), 15_000);
  assert.equal(p.got.length, p.sent(), `${what}: nothing duplicated`);
  assert.deepEqual([...new Set(p.got)].sort((x, y) => x - y), Array.from({ length: p.sent() }, (_, i) => i), `${what}: nothing lost`);
}

/** A packet alice's device hands her node comes out of bob's device (the data plane still routes bob's address). */
async function assertTunRoutes(p: Pair, marker: number): Promise<void> {
  const aIp = p.b.directory.get(p.alice)?.addresses[0]?.bytes ?? p.a.peers.peerCertificate(p.alice)?.addresses[0];
  const bobAddr = p.a.directory.get(p.bob)?.addresses[0]?.bytes;
  assert.ok(bobAddr !== undefined, 'alice no longer knows which address is bob\'s');
  assert.ok(aIp instanceof Uint8Array, 'bob no longer knows alice\'s address');
  const before = p.bDev.written.length;
  const pkt = ipv4(aIp, bobAddr, marker);
  p.aDev.inject([pkt]);
  await waitUntil(`packet ${marker} out of bob's device`, () => p.bDev.written.slice(before).some((w) => w[27] === marker), 5_000);
}

test('a forged PEER_DOWN leaves the session, its direct path and the route to the member as they were', async () => {
  const mesh = await startInProcessMesh(['alice', 'bob']);
  try {
    const p = await directPair(mesh);
    await assertComplete(p, 'before');
    // The relay tells each that the other went offline; both are still attached and talking directly.
    assert.ok(mesh.relay.announceDown(p.alice, p.bob));
    assert.ok(mesh.relay.announceDown(p.bob, p.alice));
    for (let i = 0; i < 30; i++) {
      p.sendSome(10);
      await sleep(20);
    }
    await assertComplete(p, 'after the forged PEER_DOWN');
    await assertTunRoutes(p, 0x61);
    assert.equal(p.a.directory.isOnline(p.bob), false, 'kept, but as offline at the relay');
    assert.ok(p.a.directory.get(p.bob) !== undefined);
    assert.deepEqual([...p.changes], [], 'traffic fell back to the relay or the member was dropped');
    assert.equal(p.a.paths.pathInfo(p.bob)?.path, 'direct');
    assert.equal(p.b.paths.pathInfo(p.alice)?.path, 'direct');
  } finally {
    await mesh.stop();
  }
});

test('a relay stop, absence and restart leave sessions and direct paths up: a numbered stream across it arrives complete and once', async () => {
  const mesh = await startInProcessMesh(['alice', 'bob']);
  try {
    const p = await directPair(mesh);
    await assertComplete(p, 'before');
    const connects = p.a.link.stats.connects;
    const [bobListed, aliceListed] = [p.a.directory.get(p.bob), p.b.directory.get(p.alice)];
    const stopping = mesh.stopRelay();
    // The stream keeps going while the relay shuts down, is gone, and comes back.
    for (let i = 0; i < 40; i++) {
      p.sendSome(10);
      await sleep(25);
    }
    await stopping;
    assert.equal(p.a.link.established, null, 'the relay is gone');
    for (let i = 0; i < 80; i++) {
      p.sendSome(10);
      await sleep(25);
    }
    await assertTunRoutes(p, 0x62);
    await mesh.startRelay();
    for (let i = 0; p.a.link.stats.connects === connects || p.b.link.established === null; i++) {
      if (i > 1_500) throw new Error('no re-admission within 30 s');
      p.sendSome(2);
      await sleep(20);
    }
    // The relay re-sends its list on admission: each side is announced afresh.
    await waitUntil('the re-sent member lists', () => ![undefined, bobListed].includes(p.a.directory.get(p.bob)) && ![undefined, aliceListed].includes(p.b.directory.get(p.alice)));
    for (let i = 0; i < 20; i++) {
      p.sendSome(10);
      await sleep(20);
    }
    await assertComplete(p, 'across the restart');
    await assertTunRoutes(p, 0x63);
    assert.deepEqual([...p.changes], [], 'traffic fell back to the relay or the member was dropped');
    assert.equal(p.a.paths.pathInfo(p.bob)?.path, 'direct');
    assert.equal(p.b.paths.pathInfo(p.alice)?.path, 'direct');
    assert.ok(p.a.directory.isOnline(p.bob) && p.b.directory.isOnline(p.alice), 'online again once re-announced');
  } finally {
    await mesh.stop();
  }
});

test('PEER_DOWN first, the CRL second: the revoked member\'s session is forgotten all the same', async () => {
  const mesh = await startInProcessMesh(['alice', 'bob', 'carol']);
  const dir = await mkdtemp(join(tmpdir(), 'sm-rly-'));
  let daemon: NodeDaemon | undefined;
  try {
    const m = mesh.net.member('alice');
    daemon = await NodeDaemon.load({}, {
      relayUrl: mesh.relay.url, pin: mesh.relay.pin, caFile: mesh.net.caFile, certFile: m.certFile, crlFile: mesh.net.crlFile,
      identityDir: m.dir, device: 'none', controlPath: join(dir, 'alice.sock'), direct: { host: '127.0.0.1', port: 0 },
    });
    await daemon.start();
    const a = daemon.node;
    const b = mesh.node('bob');
    const c = mesh.node('carol');
    b.start();
    c.start();
    const bob = mesh.net.member('bob').peerId;
    const carol = mesh.net.member('carol').peerId;
    const fromBob: string[] = [];
    a.on('payload', (src: Uint8Array, body: Uint8Array) => { if (hexOf(src) === hexOf(bob)) fromBob.push(Buffer.from(body).toString()); });
    await waitUntil('alice lists bob and carol', () => a.directory.get(bob) !== undefined && a.directory.get(carol) !== undefined);
    for (let i = 0; !a.peers.establishedPeers().some((id) => hexOf(id) === hexOf(bob)) || !a.peers.establishedPeers().some((id) => hexOf(id) === hexOf(carol)); i++) {
      if (i > 500) throw new Error('no sessions within 10 s');
      a.send(bob, Buffer.from('hello'));
      a.send(carol, Buffer.from('hello'));
      await sleep(20);
    }
    const alice = mesh.net.member('alice').peerId;
    await waitUntil('bob has his session too', () => b.peers.pathAuthKey(alice) !== null);

    // The relay says bob went offline; nothing is revoked yet, so his session stays.
    assert.ok(mesh.relay.announceDown(alice, bob));
    await sleep(300);
    assert.ok(a.peers.pathAuthKey(bob) !== null, 'an offline report alone does not end a session');

    // Now the CA revokes bob and alice loads the list; the relay (which never reloads) says nothing.
    await mesh.net.revoke(mesh.net.member('bob'));
    const reload = await daemon.applyRevocations();
    assert.equal(reload.outcome, 'reloaded');
    assert.deepEqual(reload.newlyRevoked, [hexOf(bob)]);
    assert.equal(a.peers.pathAuthKey(bob), null, 'bob\'s session keys are still live');
    assert.ok(!a.peerList().some((p) => p.peerId === hexOf(bob)), 'bob still has a session entry');
    assert.equal(a.paths.pathInfo(bob), null, 'bob still has paths');
    assert.equal(a.directory.get(bob), undefined);
    // What bob sends under the old session no longer opens.
    b.send(alice, Buffer.from('after revocation'));
    await sleep(300);
    assert.deepEqual(fromBob, [], 'alice accepted a payload from a revoked member');
    // carol is untouched.
    assert.ok(a.peers.pathAuthKey(carol) !== null, 'carol\'s session was cut too');
  } finally {
    await daemon?.stop();
    await mesh.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a session whose peer certificate expires is cut by the periodic membership check', async () => {
  const mesh = await startInProcessMesh(['alice', 'bob']);
  try {
    const a = mesh.node('alice');
    const b = mesh.node('bob');
    a.start();
    b.start();
    const bob = mesh.net.member('bob').peerId;
    await waitUntil('alice lists bob', () => a.directory.get(bob) !== undefined);
    for (let i = 0; a.peers.pathAuthKey(bob) === null; i++) {
      if (i > 500) throw new Error('no session within 10 s');
      a.send(bob, Buffer.from('hello'));
      await sleep(20);
    }
    const notAfter = mesh.net.member('bob').certificate.notAfterMs;
    assert.deepEqual(a.recheckMembership(notAfter + CERT_CLOCK_SKEW_MS), { left: 0, cut: [] }, 'within the skew nothing changes');
    const cutEvents: string[] = [];
    a.on('member_cut', (id: Uint8Array) => cutEvents.push(hexOf(id)));
    const r = a.recheckMembership(notAfter + CERT_CLOCK_SKEW_MS + 1);
    assert.deepEqual(r.cut, [hexOf(bob)]);
    assert.deepEqual(cutEvents, [hexOf(bob)], 'the daemon hears of it (its streams with bob close)');
    assert.equal(a.peers.pathAuthKey(bob), null);
    assert.equal(a.directory.get(bob), undefined);
  } finally {
    await mesh.stop();
  }
});

test('a relay serving a certificate other than the one it announced is refused and counted; the true one is listed', async () => {
  const mesh = await startInProcessMesh(['alice', 'bob', 'carol']);
  try {
    const alice = mesh.net.member('alice');
    const bob = mesh.net.member('bob');
    const carol = mesh.net.member('carol');
    const lies: string[] = [];
    let honest = false;
    // For bob's certificate alice first gets carol's (real, CA-signed, but not the announced digest), then garbage.
    mesh.relay.onCertRequest = (requester, peerId) => {
      if (honest || hexOf(requester) !== hexOf(alice.peerId) || hexOf(peerId) !== hexOf(bob.peerId)) return 'honest';
      lies.push(lies.length % 2 === 0 ? 'carol' : 'garbage');
      return lies.length % 2 === 1 ? carol.certBytes : new Uint8Array(7_000).fill(0x5a);
    };
    const a = mesh.node('alice');
    const b = mesh.node('bob');
    const c = mesh.node('carol');
    a.start();
    b.start();
    c.start();
    await waitUntil('alice lists carol', () => a.directory.get(carol.peerId) !== undefined);
    await waitUntil('alice refused every answer for bob', () => a.certs.drops.digest_mismatch >= 3);
    assert.equal(a.directory.get(bob.peerId), undefined, 'nothing listed under bob from a wrong certificate');
    assert.deepEqual(lies, ['carol', 'garbage', 'carol'], 'asked at most 3 times, then given up until bob is announced again');
    assert.equal(a.directory.drops.invalid_cert, 0, 'refused by digest, before any signature check');

    // PRESENCE naming bob with carol's digest, and the relay serving carol's certificate for bob: the digest
    // matches, the CA signed it, but it is not bob's: refused by the directory.
    mesh.relay.onCertRequest = (requester, peerId) => (hexOf(requester) === hexOf(alice.peerId) && hexOf(peerId) === hexOf(bob.peerId) ? carol.certBytes : 'honest');
    assert.ok(mesh.relay.announcePresence(alice.peerId, [{ kind: PresenceKind.Up, peerId: bob.peerId, certDigest: sha256(carol.certBytes), onlineSinceMs: Date.now() }]));
    await waitUntil('the wrong peer refused', () => a.directory.drops.wrong_peer >= 1);
    assert.equal(a.directory.get(bob.peerId), undefined);

    // CERT frames nobody asked for: counted, nothing listed.
    const before = a.certs.drops.unsolicited;
    for (let i = 0; i < 20; i++) mesh.relay.sendCert(alice.peerId, bob.peerId, bob.certBytes);
    await waitUntil('unsolicited answers counted', () => a.certs.drops.unsolicited >= before + 20);
    assert.equal(a.directory.get(bob.peerId), undefined, 'an unsolicited certificate lists nobody');

    // The relay turns honest and announces bob's true digest: alice fetches, verifies and lists him.
    honest = true;
    mesh.relay.onCertRequest = null;
    assert.ok(mesh.relay.announcePresence(alice.peerId, [{ kind: PresenceKind.Up, peerId: bob.peerId, certDigest: sha256(bob.certBytes), onlineSinceMs: Date.now() }]));
    await waitUntil('alice lists bob', () => a.directory.get(bob.peerId)?.name === 'bob');
  } finally {
    await mesh.stop();
  }
});
