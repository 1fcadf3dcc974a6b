/**
 * A UDP path comes back after an idle session expired (issue 12: the UDP path
 * must not be given up for WSS for good). Idle peers do not rekey
 * (session-timers.ts): their keys expire, a UDP path can no longer
 * authenticate its probes and dies, while a WSS path (TLS, no session key
 * needed for its probes) stays and carries on as the selected direct path.
 * When traffic resumes a fresh handshake runs over it and both sides send
 * their offers again; an accepted offer must start a UDP attempt even though
 * a direct path is selected, or the pair stays on TCP over TCP until the WSS
 * path breaks. Real relay, real sockets on 127.0.0.1, short session
 * lifetimes so the expiry comes within seconds. Claims: the UDP path is back
 * and selected on both sides, and every frame sent from the moment traffic
 * resumed arrives exactly once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startInProcessMesh, waitUntil } from '../../testkit/in-process-mesh.js';

/** Keys live 4 s; idle peers do not rekey, so an idle session is gone 4 s after its last handshake. */
const SHORT_SESSIONS = { timers: { rekeyAfterTimeMs: 2_000, rejectAfterTimeMs: 4_000, keepaliveTimeoutMs: 1_000, rekeyTimeoutMs: 1_000 } };

test('after an idle session expired and its UDP path died, resumed traffic brings the UDP path back; nothing sent is lost', async () => {
  const mesh = await startInProcessMesh(['alice', 'bob']);
  const { net } = mesh;
  try {
    const a = mesh.node('alice', { peers: SHORT_SESSIONS });
    const b = mesh.node('bob', { peers: SHORT_SESSIONS });
    a.start();
    b.start();
    const bob = net.member('bob').peerId;
    const alice = net.member('alice').peerId;
    const got = new Map<number, number>();
    b.on('payload', (_p: Uint8Array, body: Uint8Array) => {
      const n = Buffer.from(body).readUInt32LE(0);
      got.set(n, (got.get(n) ?? 0) + 1);
    });
    let seq = 0;
    const sendSome = (n: number): void => {
      for (let i = 0; i < n; i++) {
        const buf = Buffer.alloc(64);
        buf.writeUInt32LE(seq++, 0);
        a.send(bob, buf);
      }
    };
    const onUdp = (): boolean => a.paths.pathInfo(bob)?.carrier === 'udp' && b.paths.pathInfo(alice)?.carrier === 'udp';
    await waitUntil('relay admission', () => a.link.established !== null && b.link.established !== null);
    const until = async (what: string, cond: () => boolean, ms: number): Promise<void> => {
      const deadline = Date.now() + ms;
      while (!cond()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: alice sees ${JSON.stringify(a.paths.pathInfo(bob))}`);
        sendSome(2);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await until('a UDP path on both sides', onUdp, 30_000);
    await waitUntil('a WSS path beside it', () => (a.paths.pathInfo(bob)?.directs ?? []).some((d) => d.carrier === 'wss'), 20_000);

    // Idle: the keys expire, the UDP path cannot authenticate its probes and dies; WSS carries on.
    await waitUntil('the UDP path gone and WSS selected after the session expired', () => a.paths.pathInfo(bob)?.carrier === 'wss' && a.udp!.pathsTo(bob).length === 0, 30_000);
    assert.equal(a.paths.pathInfo(bob)?.path, 'direct');

    // Traffic again: a fresh handshake, fresh offers, and the UDP path is punched and selected again.
    const resumedAt = seq;
    await until('the UDP path back on both sides', onUdp, 30_000);
    sendSome(20);
    await waitUntil('every frame sent since traffic resumed', () => { for (let n = resumedAt; n < seq; n++) if (!got.has(n)) return false; return true; }, 20_000);
    for (let n = resumedAt; n < seq; n++) assert.equal(got.get(n), 1, `frame ${n} delivered once`);
    assert.ok(a.udp!.pathsTo(bob).length > 0);
  } finally {
    await mesh.stop();
  }
});
