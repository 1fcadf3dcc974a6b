/**
 * A UDP path comes back after it died while a WSS path lived on (issue 12:
 * the UDP path must not be given up for WSS for good; docs/architecture.md
 * "Fallback"). Real relay, two ShadowNodes with real sockets on 127.0.0.1.
 *
 *  - An idle session expires: idle peers do not rekey (session-timers.ts),
 *    the UDP path cannot authenticate its probes without the session's key
 *    and dies, the WSS path (TLS underneath) does not. When traffic resumes,
 *    the fresh session's offers must start a UDP punch although a direct
 *    path is selected; until then nothing revives the idle session. Short
 *    session lifetimes bring the expiry within seconds.
 *  - The UDP path goes away while the session lives (alice closes it, as a
 *    path dies whose probes go unanswered: a NAT that dropped the mapping).
 *    No new session means no new offers: only the path manager's tries for
 *    a better carrier (path-timers.ts, with backoff) bring UDP back.
 *
 *  - The same idle expiry with no WSS path (a pair behind NAT has only the
 *    punched UDP path): the UDP path dies, traffic falls back to the relay,
 *    and nothing must start a handshake until traffic resumes. Sending our
 *    offer after the fallback used to start one, so an idle pair re-keyed
 *    every few minutes forever.
 *
 * Claims, every time: the UDP path is back and selected, and every frame
 * sent from the moment it was lost arrives exactly once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeOptions, ShadowNode } from '../../src/node/node.js';
import { startInProcessMesh, waitUntil, type InProcessMesh } from '../../testkit/in-process-mesh.js';
import { numberedStream } from '../../testkit/numbered-stream.js';

/** Keys live 4 s; idle peers do not rekey, so an idle session is gone 4 s after its last handshake. */
const SHORT_SESSIONS: Partial<NodeOptions> = { peers: { timers: { rekeyAfterTimeMs: 2_000, rejectAfterTimeMs: 4_000, keepaliveTimeoutMs: 1_000, rekeyTimeoutMs: 1_000 } } };

/** alice and bob on a UDP path with a WSS path beside it (unless `wss` is false); alice sends numbered frames to bob. */
async function udpPair(mesh: InProcessMesh, options: Partial<NodeOptions> = {}, wss = true) {
  const a: ShadowNode = mesh.node('alice', options);
  const b: ShadowNode = mesh.node('bob', options);
  a.start();
  b.start();
  const bob = mesh.net.member('bob').peerId;
  const alice = mesh.net.member('alice').peerId;
  const stream = numberedStream(a, b, bob);
  const pair = {
    a, b, alice, bob, stream,
    carrier: (): string | undefined => a.paths.pathInfo(bob)?.carrier,
    bothOnUdp: (): boolean => a.paths.pathInfo(bob)?.carrier === 'udp' && b.paths.pathInfo(alice)?.carrier === 'udp',
    /** Send a little every 20 ms until `cond` holds. */
    async until(what: string, cond: () => boolean, ms: number): Promise<void> {
      const deadline = Date.now() + ms;
      while (!cond()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: alice sees ${JSON.stringify(a.paths.pathInfo(bob))}`);
        stream.send(2);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    /** Every frame numbered `from` or later arrived, each once. */
    async allOnceFrom(from: number): Promise<void> {
      stream.send(20);
      await stream.allOnceFrom(from, 20_000);
    },
  };
  await waitUntil('relay admission', () => a.link.established !== null && b.link.established !== null);
  await pair.until('a UDP path on both sides', pair.bothOnUdp, 30_000);
  if (wss) await pair.until('a WSS path beside it', () => (a.paths.pathInfo(bob)?.directs ?? []).some((d) => d.carrier === 'wss'), 20_000);
  return pair;
}

test('after an idle session expired and its UDP path died, resumed traffic brings the UDP path back; nothing sent is lost', async () => {
  const mesh = await startInProcessMesh(['alice', 'bob']);
  try {
    const p = await udpPair(mesh, SHORT_SESSIONS);
    const from = p.stream.sent;
    await waitUntil('the UDP path gone and WSS selected after the session expired', () => p.carrier() === 'wss' && p.a.udp!.pathsTo(p.bob).length === 0, 30_000);
    assert.equal(p.a.paths.pathInfo(p.bob)?.path, 'direct');
    // Idle on WSS: the tries for a better carrier wait for a session (a try's offer would start a handshake).
    await new Promise((r) => setTimeout(r, 4_000));
    const established = (): boolean => p.a.peers.establishedPeers().some((id) => Buffer.from(id).equals(Buffer.from(p.bob)));
    assert.equal(established(), false, 'the idle session stayed expired');
    assert.equal(p.a.udp!.pathsTo(p.bob).length, 0);
    await p.until('the UDP path back on both sides', p.bothOnUdp, 30_000);
    await p.allOnceFrom(from);
  } finally {
    await mesh.stop();
  }
});

test('a UDP path that died while a WSS path carries the peer is punched again and selected; nothing sent is lost', async () => {
  const mesh = await startInProcessMesh(['alice', 'bob']);
  try {
    const p = await udpPair(mesh);
    const from = p.stream.sent;
    for (const path of p.a.udp!.pathsTo(p.bob)) path.close('test: path lost');
    await p.until('WSS selected after the UDP path went', () => p.carrier() === 'wss', 10_000);
    await p.until('the UDP path back and selected', () => p.carrier() === 'udp', 30_000);
    await p.allOnceFrom(from);
  } finally {
    await mesh.stop();
  }
});

test('with only a UDP path, an idle session that expired is not re-keyed while idle; resumed traffic brings the UDP path back', async () => {
  const mesh = await startInProcessMesh(['alice', 'bob']);
  try {
    const p = await udpPair(mesh, { ...SHORT_SESSIONS, direct: { wss: false } }, false);
    const from = p.stream.sent;
    await waitUntil('the UDP path gone and the relay selected after the session expired', () => p.a.paths.pathInfo(p.bob)?.path === 'relay' && p.a.udp!.pathsTo(p.bob).length === 0, 30_000);
    const handshakes = (): number[] => [
      p.a.peers.peers().find((x) => x.peerId === Buffer.from(p.bob).toString('hex'))?.stats.handshakes ?? -1,
      p.b.peers.peers().find((x) => x.peerId === Buffer.from(p.alice).toString('hex'))?.stats.handshakes ?? -1,
    ];
    const before = handshakes();
    // Longer than a whole session lifetime (4 s): a handshake started by the fallback would show.
    await new Promise((r) => setTimeout(r, 6_000));
    assert.deepEqual(handshakes(), before, 'no handshake while idle');
    assert.equal(p.a.peers.establishedPeers().length, 0, 'the idle session stayed expired');
    await p.until('the UDP path back on both sides', p.bothOnUdp, 30_000);
    await p.allOnceFrom(from);
  } finally {
    await mesh.stop();
  }
});
