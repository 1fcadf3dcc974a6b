/**
 * Relay -> direct migration with real parts, no root: a relay server and two
 * ShadowNodes in one process on 127.0.0.1, the direct path over TLS 1.3 +
 * WebSocket with pinned, identity-signed certificates. A numbered stream
 * sent across the switch arrives complete and exactly once (order may change
 * at the switch: the session's replay window accepts it); afterwards the
 * relay carries nothing more.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startInProcessMesh, waitUntil } from '../../testkit/in-process-mesh.js';
import { numberedStream } from '../../testkit/numbered-stream.js';

test('a session starts on the relay, migrates to a direct path, and a numbered stream across the switch arrives complete and once', async () => {
  const mesh = await startInProcessMesh(['alice', 'bob']);
  const { net, relay } = mesh;
  try {
    const a = mesh.node('alice');
    const b = mesh.node('bob');
    a.start();
    b.start();
    const bob = net.member('bob').peerId;
    const alice = net.member('alice').peerId;
    const got: number[] = [];
    b.on('payload', (_p: Uint8Array, body: Uint8Array) => got.push(Buffer.from(body).readUInt32LE(0)));
    let seq = 0;
    const sendSome = (n: number) => {
      for (let i = 0; i < n; i++) {
        const buf = Buffer.alloc(64);
        buf.writeUInt32LE(seq++, 0);
        a.send(bob, buf);
      }
    };
    await waitUntil('relay admission', () => a.link.established !== null && b.link.established !== null);
    // Keep a stream going while the session is set up and the path migrates.
    while (a.paths.pathInfo(bob)?.path !== 'direct' || b.paths.pathInfo(alice)?.path !== 'direct') {
      sendSome(20);
      await new Promise((r) => setTimeout(r, 10));
      if (seq > 200_000) throw new Error('no migration');
    }
    sendSome(500);
    await waitUntil('the whole stream', () => got.length >= seq);
    assert.equal(got.length, seq, 'nothing duplicated');
    assert.deepEqual([...new Set(got)].sort((x, y) => x - y), Array.from({ length: seq }, (_, i) => i), 'nothing lost');
    const info = a.paths.pathInfo(bob)!;
    assert.equal(info.path, 'direct');
    assert.match(info.remote, /^127\.0\.0\.1:\d+$/);
    assert.ok(info.migrations.to_direct >= 1);
    // After the switch the relay carries no more of this traffic.
    const routedBefore = relay.snapshot().framesRouted;
    sendSome(200);
    await waitUntil('the last batch', () => got.length >= seq);
    assert.ok(relay.snapshot().framesRouted - routedBefore < 20, `relay routed ${relay.snapshot().framesRouted - routedBefore} frames after migration`);
  } finally {
    await mesh.stop();
  }
});

test('both sides dial each other, and the pair keeps one WSS path: the one the lower peer id dialed; a stream across the close arrives once', async () => {
  const mesh = await startInProcessMesh(['alice', 'bob']);
  try {
    const a = mesh.node('alice', { udp: false });
    const b = mesh.node('bob', { udp: false });
    a.start();
    b.start();
    const bob = mesh.net.member('bob').peerId;
    const alice = mesh.net.member('alice').peerId;
    const stream = numberedStream(a, b, bob);
    const wss = (node: typeof a, peer: Uint8Array): number => (node.paths.pathInfo(peer)?.directs ?? []).filter((d) => d.carrier === 'wss').length;
    await waitUntil('relay admission', () => a.link.established !== null && b.link.established !== null);
    let most = 0;
    const deadline = Date.now() + 20_000;
    // Until both ends held two at some point and are down to one each, sending all along.
    while (!(most === 2 && wss(a, bob) === 1 && wss(b, alice) === 1 && a.paths.pathInfo(bob)?.path === 'direct' && b.paths.pathInfo(alice)?.path === 'direct')) {
      if (Date.now() > deadline) throw new Error(`still ${wss(a, bob)} / ${wss(b, alice)} WSS paths (at most ${most})`);
      most = Math.max(most, wss(a, bob), wss(b, alice));
      stream.send(4);
      await new Promise((r) => setTimeout(r, 10));
    }
    // Both ends kept the same connection: alice's remote is bob's listener, or bob's is alice's.
    const kept = a.paths.pathInfo(bob)!.directs[0]!;
    const lowerIsAlice = Buffer.compare(Buffer.from(alice), Buffer.from(bob)) < 0;
    const dialer = lowerIsAlice ? a : b;
    const listener = lowerIsAlice ? b : a;
    const remoteAtDialer = dialer.paths.pathInfo(lowerIsAlice ? bob : alice)!.directs[0]!.remote;
    assert.equal(Number(remoteAtDialer.split(':').pop()), listener.direct!.port, 'the kept path is the one the lower id dialed');
    assert.equal(kept.selected, true);
    await new Promise((r) => setTimeout(r, 3_000));
    assert.equal(wss(a, bob), 1, 'and it stays one');
    stream.send(100);
    await stream.allOnceFrom(0);
  } finally {
    await mesh.stop();
  }
});
