/**
 * DirectTransport over real TLS 1.3 on 127.0.0.1 (docs/protocol.md §3,
 * issue 4 §1-3): two transports exchange offers, connect, and both see the
 * 'path' event; frames cross both ways; a man in the middle is refused by
 * the pin before any HTTP is written; a client with an unknown or no
 * certificate is refused by the listener; a wrong session key, a skewed
 * clock and a rotated certificate behave as the design says. Every
 * transport and raw socket is closed in `after`.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { connect as netConnect, type Socket } from 'node:net';
import { createServer as createTlsServer, connect as tlsConnect, type TLSSocket } from 'node:tls';

import { randomBytes } from '../../../src/crypto/bytes.js';
import { DEFAULT_DIRECT_MAX_HANDSHAKES_PER_ADDRESS, type DirectTransport } from '../../../src/node/path/direct-transport.js';
import { DirectCode } from '../../../src/node/path/path-errors.js';
import { DEFAULT_DIRECT_TLS_HANDSHAKE_TIMEOUT_MS } from '../../../src/node/path/direct-timers.js';
import type { DirectPath } from '../../../src/node/path/direct-path.js';
import { signPathOffer } from '../../../src/node/path/rendezvous/path-offer.js';
import { createEphemeralCertificate } from '../../../src/node/path/tls-ephemeral.js';
import { PathAuthCode } from '../../../src/handshake/handshake-errors.js';
import { FrameType, MAX_FRAME_BYTES } from '../../../src/wire/constants.js';
import { FakeSessions, members, next, offersOf, rendezvousOf, skewedClock, until, type Member } from '../../../testkit/direct-transport-fixture.js';

const started: DirectTransport[] = [];
async function up(t: DirectTransport): Promise<DirectTransport> {
  started.push(t);
  await t.start();
  return t;
}

/** A 4-byte-header frame that looks like DATA to the path (the path never decrypts). */
function frame(n: number, fill: number): Uint8Array {
  const f = new Uint8Array(n).fill(fill);
  f[0] = 1;
  f[1] = FrameType.Data;
  f[2] = 0;
  f[3] = 0;
  return f;
}

async function connectPair(a: DirectTransport, b: DirectTransport, mb: Member): Promise<{ pa: DirectPath; pb: DirectPath; ms: number }> {
  const t0 = performance.now();
  const gotA = next<[Uint8Array, DirectPath]>(a, 'path');
  const gotB = next<[Uint8Array, DirectPath]>(b, 'path');
  a.connect(mb.peerId);
  const [[, pa], [, pb]] = await Promise.all([gotA, gotB]);
  return { pa, pb, ms: performance.now() - t0 };
}

describe('DirectTransport on 127.0.0.1', () => {
  let ma: Member, mb: Member, mc: Member;
  let sessions: FakeSessions;
  let a: DirectTransport, b: DirectTransport;

  before(async () => {
    [ma, mb, mc] = members() as [Member, Member, Member];
    sessions = new FakeSessions(members());
    sessions.pair(ma, mb);
    a = await up(sessions.transport(ma));
    b = await up(sessions.transport(mb));
    assert.ok(offersOf(a).accept(mb.peerId, offersOf(b).localOffer()));
    assert.ok(offersOf(b).accept(ma.peerId, offersOf(a).localOffer()));
  });
  after(async () => {
    await Promise.all(started.map((t) => t.stop()));
  });

  it("connects: 'path' on both sides, frames cross both ways, counters move", async () => {
    const { pa, pb, ms } = await connectPair(a, b, mb);
    console.log(`# direct connect (TCP + TLS 1.3 + WebSocket + re-handshake) on loopback: ${ms.toFixed(2)} ms`);
    assert.deepEqual([...pa.peerId], [...mb.peerId]);
    assert.deepEqual([...pb.peerId], [...ma.peerId]);
    assert.equal(pa.kind, 'direct');
    assert.equal(pa.remote, `127.0.0.1:${b.port}`);
    assert.equal(pa.dialed, true);
    assert.equal(pb.dialed, false);
    const atB: Uint8Array[] = [];
    const atA: Uint8Array[] = [];
    pb.onFrame = (f) => atB.push(f);
    pa.onFrame = (f) => atA.push(f);
    const big = frame(MAX_FRAME_BYTES, 0x5a);
    assert.ok(pa.send(frame(100, 1)));
    assert.ok(pa.send(big));
    assert.ok(pb.send(frame(33, 2)));
    await until(() => atB.length === 2 && atA.length === 1, 5_000, 'frames');
    assert.ok(Buffer.from(atB[1]!).equals(Buffer.from(big)), "the 64 KiB frame crossed unchanged");
    assert.equal(atA[0]!.length, 33);
    assert.equal(pa.stats.framesOut, 2);
    assert.equal(pb.stats.framesIn, 2);
    assert.equal(pb.stats.bytesIn, 100 + MAX_FRAME_BYTES);
    assert.equal(pa.send(new Uint8Array(MAX_FRAME_BYTES + 1)), false);
    assert.equal(pa.stats.drops['too_large'], 1);
    // A late re-handshake frame on an open path is dropped and counted, not delivered.
    assert.ok(pa.send(Uint8Array.of(1, 0x25, 0, 0, 9)));
    assert.ok(pa.send(frame(8, 3)));
    await until(() => atB.length === 3, 5_000, 'frame after junk');
    assert.equal(pb.stats.drops['unexpected_path_auth'], 1);
    assert.equal(a.stats.established, 1);
    assert.equal(b.stats.established, 1);
    // Close from one side reaches the other.
    const closed = new Promise<string>((r) => (pb.onClose = r));
    pa.close('test done');
    await closed;
    assert.ok(pb.closed && pa.closed);
    assert.equal(pa.send(frame(8, 1)), false);
    assert.equal(pa.stats.drops['closed'], 1);
  });

  it('sends with backpressure: past the queue bound frames are dropped and counted', async () => {
    const { pa, pb } = await connectPair(a, b, mb);
    let got = 0;
    pb.onFrame = () => got++;
    const f = frame(MAX_FRAME_BYTES, 7);
    let sent = 0;
    for (let i = 0; i < 400; i++) if (pa.send(f)) sent++;
    assert.ok((pa.stats.drops['backpressure'] ?? 0) > 0, `no backpressure drop after ${sent} sends`);
    assert.equal(sent + (pa.stats.drops['backpressure'] ?? 0), 400);
    await until(() => got === sent, 10_000, 'all accepted frames');
    pa.close('done');
  });

  it('a man in the middle on the candidate address is refused by the pin before any HTTP', async () => {
    const mitmCert = await createEphemeralCertificate(Date.now(), 60_000);
    let appBytes = 0;
    const mitm = createTlsServer({ key: mitmCert.keyPem, cert: mitmCert.certPem, minVersion: 'TLSv1.3', requestCert: true, rejectUnauthorized: false }, (s) => {
      s.on('data', (d: Buffer) => (appBytes += d.length));
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => mitm.listen(0, '127.0.0.1', r));
    try {
      const port = (mitm.address() as { port: number }).port;
      // B's genuine pin, but the candidate answers with the MITM's certificate.
      const offer = signPathOffer(mb.signer, { peerId: mb.peerId, timestampMs: Date.now() + 1_000, fingerprint: b.fingerprint!, candidates: [{ address: '127.0.0.1', port }] });
      assert.ok(offersOf(a).accept(mb.peerId, offer));
      const refused = next<[Uint8Array, string]>(a, 'refused');
      const failed = next<[Uint8Array, string[]]>(a, 'connect_failed');
      let paths = 0;
      a.on('path', () => paths++);
      a.connect(mb.peerId);
      const [peer, code] = await refused;
      assert.equal(code, DirectCode.PIN);
      assert.deepEqual([...peer], [...mb.peerId]);
      assert.deepEqual((await failed)[1], [DirectCode.PIN]);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(appBytes, 0, 'the dialer wrote nothing after TLS to the impersonator');
      assert.equal(paths, 0);
      assert.equal(a.stats.refused[DirectCode.PIN], 1);
      a.removeAllListeners('path');
    } finally {
      mitm.close();
      // Restore B's real candidates for later tests.
      const real = signPathOffer(mb.signer, { peerId: mb.peerId, timestampMs: Date.now() + 2_000, fingerprint: b.fingerprint!, candidates: [{ address: '127.0.0.1', port: b.port }] });
      assert.ok(offersOf(a).accept(mb.peerId, real));
    }
  });

  it('the listener refuses a client certificate that is no peer\'s pin, and a client without one', async () => {
    const stranger = await createEphemeralCertificate(Date.now(), 60_000);
    const tryClient = async (withCert: boolean): Promise<string> => {
      const s: TLSSocket = tlsConnect({
        host: '127.0.0.1',
        port: a.port,
        rejectUnauthorized: false,
        minVersion: 'TLSv1.3',
        ...(withCert ? { key: stranger.keyPem, cert: stranger.certPem } : {}),
      });
      let reply = '';
      s.on('data', (d: Buffer) => (reply += d.toString()));
      s.on('error', () => undefined);
      s.once('secureConnect', () => s.write('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'));
      await new Promise((r) => s.once('close', r));
      return reply;
    };
    assert.equal(await tryClient(true), '', 'no HTTP answer to an unknown certificate');
    assert.equal(a.stats.refused[DirectCode.PIN_UNKNOWN], 1);
    assert.equal(await tryClient(false), '');
    assert.equal(a.stats.refused[DirectCode.NO_CLIENT_CERT], 1);
  });

  it('a re-handshake with the wrong session key is refused (no path on either side)', async () => {
    const c = await up(sessions.transport(mc));
    sessions.set(mc, ma, randomBytes(32));
    sessions.set(ma, mc, randomBytes(32));
    assert.ok(offersOf(a).accept(mc.peerId, offersOf(c).localOffer()));
    assert.ok(offersOf(c).accept(ma.peerId, offersOf(a).localOffer()));
    let paths = 0;
    a.on('path', () => paths++);
    c.on('path', () => paths++);
    const refusedAtA = next<[Uint8Array | null, string]>(a, 'refused');
    const failed = next<[Uint8Array, string[]]>(c, 'connect_failed');
    c.connect(ma.peerId);
    const [who, code] = await refusedAtA;
    assert.equal(code, PathAuthCode.SESSION);
    assert.deepEqual([...(who as Uint8Array)], [...mc.peerId]);
    await failed;
    assert.equal(paths, 0);
    a.removeAllListeners('path');
  });

  it('a dialer whose clock is 60 s ahead is refused as stale', async () => {
    const d = await up(sessions.transport(mc, {}, skewedClock(60_000)));
    sessions.pair(mc, ma);
    assert.ok(offersOf(a).accept(mc.peerId, offersOf(d).localOffer()));
    assert.ok(offersOf(d).accept(ma.peerId, offersOf(a).localOffer()));
    const refused = next<[Uint8Array | null, string]>(a, 'refused');
    d.connect(ma.peerId);
    assert.equal((await refused)[1], PathAuthCode.STALE);
    await next(d, 'connect_failed');
  });

  it('connect without an offer or without a session fails at once, coded', async () => {
    const x = await up(sessions.transport(mc));
    const f1 = next<[Uint8Array, string[]]>(x, 'connect_failed');
    x.connect(mb.peerId);
    assert.deepEqual((await f1)[1], [DirectCode.NO_OFFER]);
    assert.ok(offersOf(x).accept(mb.peerId, offersOf(b).localOffer()));
    sessions.keys.delete([...sessions.keys.keys()].find((k) => k.startsWith(Buffer.from(mc.peerId).toString('hex') + '>' + Buffer.from(mb.peerId).toString('hex'))) ?? '');
    const f2 = next<[Uint8Array, string[]]>(x, 'connect_failed');
    x.connect(mb.peerId);
    assert.deepEqual((await f2)[1], [DirectCode.NO_SESSION]);
  });
});

describe('certificate rotation', () => {
  it('rotates before expiry, keeps the open path, changes the offer, and new connections use the new pin', async () => {
    const [ma, mb] = members() as [Member, Member];
    const sessions = new FakeSessions(members());
    sessions.pair(ma, mb);
    const a = await up(sessions.transport(ma, { certLifetimeMs: 1_200 }));
    const b = await up(sessions.transport(mb));
    try {
      assert.ok(offersOf(a).accept(mb.peerId, offersOf(b).localOffer()));
      const offer1 = offersOf(a).localOffer();
      assert.ok(offersOf(b).accept(ma.peerId, offer1));
      const pin1 = a.fingerprint!;
      const { pa, pb } = await connectPair(a, b, mb);
      await next(offersOf(a), 'offer_changed', 5_000);
      assert.notDeepEqual([...a.fingerprint!], [...pin1], 'a new certificate');
      const offer2 = offersOf(a).localOffer();
      assert.notDeepEqual(offer2, offer1);
      // The open path still works both ways.
      const atA: Uint8Array[] = [];
      const atB: Uint8Array[] = [];
      pa.onFrame = (f) => atA.push(f);
      pb.onFrame = (f) => atB.push(f);
      assert.ok(pa.send(frame(64, 1)) && pb.send(frame(64, 2)));
      await until(() => atA.length === 1 && atB.length === 1, 5_000, 'frames after rotation');
      assert.ok(!pa.closed && !pb.closed);
      // B learns the new pin; B dialing A now meets the new certificate and passes.
      assert.ok(offersOf(b).accept(ma.peerId, offer2));
      const fresh = next<[Uint8Array, DirectPath]>(b, 'path');
      b.connect(ma.peerId);
      const [, p2] = await fresh;
      assert.equal(p2.dialed, true);
      assert.equal(b.stats.refused[DirectCode.PIN] ?? 0, 0);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  it('a dialer that only knows a superseded pin is refused (SM_ERR_PATH_PIN)', async () => {
    const [ma, mb] = members() as [Member, Member];
    const sessions = new FakeSessions(members());
    sessions.pair(ma, mb);
    const a = await up(sessions.transport(ma));
    const b = await up(sessions.transport(mb));
    try {
      assert.ok(offersOf(b).accept(ma.peerId, offersOf(a).localOffer()));
      assert.ok(offersOf(a).accept(mb.peerId, offersOf(b).localOffer()));
      await a.rotate();
      await a.rotate(); // two rotations: B's remembered pins (current + previous) are both gone from A's listener
      const refused = next<[Uint8Array, string]>(b, 'refused');
      b.connect(ma.peerId);
      assert.equal((await refused)[1], DirectCode.PIN);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});

describe('listener limits before authentication', () => {
  it('2,000 TCP connections from one address that never start TLS: a genuine peer still connects, the address keeps only its share, the rest close at the handshake timeout', async () => {
    const [ma, mb] = members() as [Member, Member];
    const sessions = new FakeSessions(members());
    sessions.pair(ma, mb);
    const a = await up(sessions.transport(ma));
    const b = await up(sessions.transport(mb));
    const FLOOD = 2_000;
    const sockets: Socket[] = [];
    let closed = 0;
    try {
      assert.ok(offersOf(a).accept(mb.peerId, offersOf(b).localOffer()));
      assert.ok(offersOf(b).accept(ma.peerId, offersOf(a).localOffer()));
      // The attacker's source is another loopback address (all of 127/8 is local on Linux); the peer dials from 127.0.0.1.
      // Opened in batches below the kernel's accept backlog (511), each one waited for, so every SYN is answered at once.
      const share = DEFAULT_DIRECT_MAX_HANDSHAKES_PER_ADDRESS;
      const BATCH = 200;
      for (let opened = 0; opened < FLOOD; ) {
        for (let i = 0; i < BATCH; i++, opened++) {
          const s = netConnect({ host: '127.0.0.1', port: a.port, localAddress: '127.0.0.2' });
          s.on('error', () => undefined);
          s.once('close', () => closed++);
          sockets.push(s);
        }
        await until(() => closed >= opened - share, 10_000, `connections past the per-address share to be cut (opened ${opened}, closed ${closed})`);
      }
      assert.ok(FLOOD - closed <= share, `${FLOOD - closed} unauthenticated connections from one address still open`);
      assert.ok((a.stats.refused[DirectCode.SOURCE_BUSY] ?? 0) >= FLOOD - share);
      const { pa } = await connectPair(b, a, ma);
      assert.equal(pa.dialed, true);
      // Those within the share never finish TLS: closed by the handshake timeout, not Node's 120 s default.
      await until(() => closed === FLOOD, DEFAULT_DIRECT_TLS_HANDSHAKE_TIMEOUT_MS + 5_000, 'the remaining connections to reach the TLS handshake timeout');
      assert.equal(a.stats.failures[DirectCode.TLS_TIMEOUT], FLOOD - (a.stats.refused[DirectCode.SOURCE_BUSY] ?? 0));
      pa.close('done');
    } finally {
      for (const s of sockets) s.destroy();
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});

describe('wss: false', () => {
  it('issues the certificate our offers pin but neither listens nor dials: connect() fails at once with no offer', async () => {
    const [ma, mb] = members() as [Member, Member];
    const sessions = new FakeSessions([ma, mb]);
    sessions.pair(ma, mb);
    const t = await up(sessions.transport(ma, { wss: false }));
    const peer = await up(sessions.transport(mb));
    try {
      assert.equal(t.port, 0, 'no listener');
      assert.ok(t.currentPin() !== null, 'the pin our offer carries exists');
      const offer = offersOf(t).localOffer();
      assert.ok(offersOf(peer).accept(ma.peerId, offer), 'the offer is still valid');
      assert.deepEqual(rendezvousOf(peer).peerCandidates(ma.peerId, 'wss'), [], 'no WSS candidate advertised');
      assert.ok(offersOf(t).accept(mb.peerId, offersOf(peer).localOffer()));
      const failed = next<[Uint8Array, string[]]>(t, 'connect_failed');
      t.connect(mb.peerId);
      const [, codes] = await failed;
      assert.deepEqual(codes, [DirectCode.NO_OFFER]);
      assert.equal(t.stats.dials, 0);
      await t.rotate();
      assert.ok(t.currentPin() !== null, 'rotation works without a listener');
    } finally {
      await t.stop();
      await peer.stop();
    }
  });

  it('is checked like every option', () => {
    const [ma] = members() as [Member];
    assert.throws(() => new FakeSessions([ma]).transport(ma, { wss: 'no' as unknown as boolean }), (err: Error & { code?: string }) => err.code === 'SM_ERR_PATH_OPTION' && /wss/.test(err.message));
  });
});
