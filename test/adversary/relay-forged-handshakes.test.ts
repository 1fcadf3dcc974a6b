/**
 * A malicious relay forging handshake frames and sender ids against real
 * ShadowNodes (issue 11, defects 2 and 4; docs/handshake.md §4, §6). The
 * relay holds every member's public certificate and may name any sender, but
 * nothing it forges may keep a genuine member from a session, a re-handshake
 * or admission, and nothing it forges may grow a node's peer state.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startInProcessMesh, waitUntil, type InProcessMesh } from '../../testkit/in-process-mesh.js';
import { forgedInit, junkInit, randomPeerId, unknownIndexData } from '../../testkit/adversary/forged-handshakes.js';
import type { ShadowNode } from '../../src/node/node.js';

const enc = (s: string) => new TextEncoder().encode(s);

function inbox(node: ShadowNode): string[] {
  const got: string[] = [];
  node.on('payload', (_p: Uint8Array, body: Uint8Array) => got.push(Buffer.from(body).toString()));
  return got;
}

async function listed(mesh: InProcessMesh, node: ShadowNode, ...names: string[]): Promise<void> {
  await waitUntil(`${names.join(', ')} listed`, () => node.link.established !== null && names.every((n) => node.directory.get(mesh.net.member(n).peerId) !== undefined));
}

/** `count` frames from `make()`, delivered as from `as` to `to`, yielding to the event loop every `batch`. */
async function flood(mesh: InProcessMesh, to: Uint8Array, as: (i: number) => Uint8Array, make: (i: number) => Uint8Array, count: number, batch = 100): Promise<void> {
  for (let i = 0; i < count; i++) {
    mesh.relay.deliverAs(to, as(i), make(i));
    if (i % batch === batch - 1) await new Promise((r) => setImmediate(r));
  }
}

test('a forged INIT with a member\'s certificate and timestamp 2^53-1, and junk INITs at full rate claiming it, keep it from neither a session nor a re-handshake', async () => {
  const mesh = await startInProcessMesh(['alice', 'bob', 'carol']);
  try {
    const a = mesh.node('alice', { direct: false });
    const b = mesh.node('bob', { direct: false });
    a.start();
    b.start();
    const alice = mesh.net.member('alice');
    const bob = mesh.net.member('bob').peerId;
    const carolCert = mesh.net.member('carol').certBytes;
    await listed(mesh, b, 'alice');
    await listed(mesh, a, 'bob');
    const got = inbox(b);

    // The poison: a real certificate, the largest timestamp the wire allows.
    mesh.relay.deliverAs(bob, alice.peerId, forgedInit(alice.certBytes, Number.MAX_SAFE_INTEGER));
    // Junk claiming alice: undecodable, another member's certificate, a fresh-looking forgery, replayed over and over.
    const junk = [junkInit(), forgedInit(carolCert, Date.now()), forgedInit(alice.certBytes, Date.now() + 60_000), junkInit()];
    const flooding = flood(mesh, bob, () => alice.peerId, (i) => junk[i % junk.length]!, 2_000);
    assert.notEqual(a.send(bob, enc('first')), 'dropped');
    await flooding;
    await waitUntil('the genuine session despite the forgeries', () => got.includes('first'), 30_000);
    assert.ok(b.peers.drops.hs_future_timestamp >= 1, 'the 2^53-1 INIT was refused as later than now + skew');

    // A re-handshake after another poisoning attempt.
    const before = b.peerList().find((p) => p.name === 'alice')!.stats.handshakes;
    mesh.relay.deliverAs(bob, alice.peerId, forgedInit(alice.certBytes, Number.MAX_SAFE_INTEGER));
    const flooding2 = flood(mesh, bob, () => alice.peerId, (i) => junk[i % junk.length]!, 2_000);
    a.peers.rehandshakeAll();
    await flooding2;
    await waitUntil('a re-handshake', () => b.peerList().find((p) => p.name === 'alice')!.stats.handshakes > before, 30_000);
    a.send(bob, enc('after'));
    await waitUntil('traffic on the new keys', () => got.includes('after'), 30_000);
    // The junk cost no work once the budget was under pressure: it got cookies (or, older than the completed
    // handshake, a replay verdict) instead of certificate checks.
    assert.ok(b.peers.drops.hs_cookie_required > 0);
    assert.ok(b.peers.drops.hs_invalid + b.peers.drops.hs_rate_limited < 200, JSON.stringify(b.peers.drops));
  } finally {
    await mesh.stop();
  }
});

test('unknown-index frames from 5,000 forged sender ids (and from the node itself) create no peer state, and a new genuine member still gets in', async () => {
  const mesh = await startInProcessMesh(['alice', 'bob', 'carol']);
  try {
    const a = mesh.node('alice', { direct: false });
    const b = mesh.node('bob', { direct: false });
    a.start();
    b.start();
    const bob = mesh.net.member('bob').peerId;
    const alice = mesh.net.member('alice').peerId;
    await listed(mesh, b, 'alice');
    const got = inbox(b);
    a.send(bob, enc('alice'));
    await waitUntil('alice\'s session', () => got.includes('alice'));

    const ids = Array.from({ length: 5_000 }, () => randomPeerId());
    const data = unknownIndexData();
    const init = forgedInit(mesh.net.member('carol').certBytes, Date.now());
    await flood(mesh, bob, (i) => ids[i]!, (i) => (i % 10 === 0 ? init : data), ids.length);
    // From ourselves: never a session with ourselves.
    mesh.relay.deliverAs(bob, bob, data);
    mesh.relay.deliverAs(bob, bob, forgedInit(mesh.net.member('bob').certBytes, Date.now()));
    await waitUntil('every forged frame seen', () => b.peers.drops.not_member >= ids.length && b.peers.drops.self_frame >= 2);
    assert.equal(b.peerList().length, 1, 'only alice has an entry');
    assert.equal(b.paths.pathInfos().size, 1, 'and only alice has paths');
    assert.equal(b.peers.drops.too_many_peers, 0);

    // A member that joins after the flood gets in.
    const c = mesh.node('carol', { direct: false });
    c.start();
    await listed(mesh, c, 'bob');
    await listed(mesh, b, 'carol');
    c.send(bob, enc('carol'));
    await waitUntil('the new member\'s session', () => got.includes('carol'), 30_000);
    assert.deepEqual(b.peerList().map((p) => p.name).sort(), ['alice', 'carol']);
    void alice;
  } finally {
    await mesh.stop();
  }
});
