/**
 * Relay -> direct migration with real parts, no root: a relay server and two
 * ShadowNodes in one process on 127.0.0.1, the direct path over TLS 1.3 +
 * WebSocket with pinned, identity-signed certificates. A numbered stream
 * sent across the switch arrives complete, once, in order per path switch
 * tolerance; afterwards the relay carries nothing more.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MembershipVerifier } from '../../src/identity/membership.js';
import { RelayServer } from '../../src/relay/relay-server.js';
import { TlsIdentity } from '../../src/relay/tls-identity.js';
import { ShadowNode } from '../../src/node/node.js';
import { createTestNetwork, type TestMember } from '../../src/testkit/test-network.js';

async function waitUntil(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a session starts on the relay, migrates to a direct path, and a numbered stream across the switch arrives complete and once', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sm-node-direct-'));
  const net = await createTestNetwork({ members: ['alice', 'bob'] });
  const verifier = new MembershipVerifier(net.ca);
  const tls = await TlsIdentity.load({ dataDir: join(dir, 'relay'), hostnames: ['127.0.0.1'] }, Date.now());
  const relay = new RelayServer({ verifier, tls }, { host: '127.0.0.1', port: 0 });
  await relay.start();
  const nodes: ShadowNode[] = [];
  try {
    const make = (m: TestMember) => {
      const node = new ShadowNode(
        { signer: m.signer, peerId: m.peerId, certificate: m.certificate, verifier },
        { relay: { url: relay.url, pin: relay.pin }, direct: { listenHost: '127.0.0.1' } },
      );
      node.start();
      nodes.push(node);
      return node;
    };
    const a = make(net.member('alice'));
    const b = make(net.member('bob'));
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
    await Promise.all(nodes.map((n) => n.stop()));
    await relay.stop();
    await net.cleanup();
    await rm(dir, { recursive: true, force: true });
  }
});
