/**
 * Relay -> UDP direct migration with real parts, no root: a relay and two
 * ShadowNodes in one process on 127.0.0.1. The UDP transport punches to the
 * peer's candidates from the signed PATH_OFFER, the path manager prefers
 * the UDP path over the WSS one at equal RTT, and a numbered stream across
 * the switch — including frames far above the datagram size, which cross
 * as fragments — arrives complete and exactly once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startInProcessMesh, waitUntil } from '../../testkit/in-process-mesh.js';

test('a session migrates from the relay to a UDP path; small and fragmented frames arrive complete and once', async () => {
  const mesh = await startInProcessMesh(['alice', 'bob']);
  const { net, relay } = mesh;
  try {
    const a = mesh.node('alice');
    const b = mesh.node('bob');
    a.start();
    b.start();
    const bob = net.member('bob').peerId;
    const alice = net.member('alice').peerId;
    const got = new Map<number, number>();
    b.on('payload', (_p: Uint8Array, body: Uint8Array) => {
      const n = Buffer.from(body).readUInt32LE(0);
      const len = body.length;
      assert.equal(Buffer.from(body).readUInt32LE(len - 4), n, 'payload intact end to end');
      got.set(n, (got.get(n) ?? 0) + 1);
    });
    let seq = 0;
    const sendSome = (n: number, size: number) => {
      for (let i = 0; i < n; i++) {
        const buf = Buffer.alloc(size);
        buf.writeUInt32LE(seq, 0);
        buf.writeUInt32LE(seq, size - 4);
        seq++;
        a.send(bob, buf);
      }
    };
    await waitUntil('relay admission', () => a.link.established !== null && b.link.established !== null);
    while (a.paths.pathInfo(bob)?.carrier !== 'udp' || b.paths.pathInfo(alice)?.carrier !== 'udp') {
      sendSome(5, 64);
      await new Promise((r) => setTimeout(r, 10));
      if (seq > 100_000) throw new Error(`no UDP path: ${JSON.stringify(a.paths.pathInfo(bob))}`);
    }
    // Small frames, and frames of 8 KiB and 60 KiB that must be fragmented (paced: UDP has no flow control).
    for (let round = 0; round < 20; round++) {
      sendSome(10, 64);
      sendSome(2, 8_192);
      sendSome(1, 60_000);
      await new Promise((r) => setTimeout(r, 5));
    }
    await waitUntil('the whole stream', () => got.size >= seq);
    assert.equal(got.size, seq, 'nothing lost');
    assert.ok([...got.values()].every((c) => c === 1), 'nothing duplicated');
    const info = a.paths.pathInfo(bob)!;
    assert.equal(info.path, 'direct');
    assert.equal(info.carrier, 'udp');
    assert.match(info.remote, /^127\.0\.0\.1:\d+$/);
    assert.equal(a.udp!.stats.drops.bad_mac, 0);
    // After the switch the relay carries no more of this traffic.
    const routedBefore = relay.snapshot().framesRouted;
    sendSome(200, 64);
    await waitUntil('the last batch', () => got.size >= seq);
    assert.ok(relay.snapshot().framesRouted - routedBefore < 20, `relay routed ${relay.snapshot().framesRouted - routedBefore} frames after migration`);
  } finally {
    await mesh.stop();
  }
});
