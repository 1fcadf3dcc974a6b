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
