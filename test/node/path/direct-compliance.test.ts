/**
 * The Path compliance suite (testkit/path-compliance.ts) against
 * DirectPath over real pinned TLS 1.3 WebSockets on 127.0.0.1: each case
 * gets a freshly re-handshaken pair from two long-lived transports.
 */
import { after } from 'node:test';

import type { DirectPath } from '../../../src/node/path/direct-path.js';
import type { DirectTransport } from '../../../src/node/path/direct-transport.js';
import { runPathCompliance } from '../../../testkit/path-compliance.js';
import { MAX_FRAME_BYTES } from '../../../src/wire/constants.js';
import { FakeSessions, members, next, offersOf, type Member } from '../../../testkit/direct-transport-fixture.js';

let pair: Promise<{ a: DirectTransport; b: DirectTransport; mb: Member }> | null = null;

function transports(): Promise<{ a: DirectTransport; b: DirectTransport; mb: Member }> {
  pair ??= (async () => {
    const [ma, mb] = members() as [Member, Member];
    const sessions = new FakeSessions(members());
    sessions.pair(ma, mb);
    const a = sessions.transport(ma);
    const b = sessions.transport(mb);
    await Promise.all([a.start(), b.start()]);
    offersOf(a).accept(mb.peerId, offersOf(b).localOffer());
    offersOf(b).accept(ma.peerId, offersOf(a).localOffer());
    return { a, b, mb };
  })();
  return pair;
}

after(async () => {
  if (pair !== null) {
    const { a, b } = await pair;
    await Promise.all([a.stop(), b.stop()]);
  }
});

runPathCompliance('DirectPath (TLS 1.3 WebSocket on 127.0.0.1)', async () => {
  const { a: ta, b: tb, mb } = await transports();
  const gotA = next<[Uint8Array, DirectPath]>(ta, 'path');
  const gotB = next<[Uint8Array, DirectPath]>(tb, 'path');
  ta.connect(mb.peerId);
  const [[, a], [, b]] = await Promise.all([gotA, gotB]);
  const big = new Uint8Array(MAX_FRAME_BYTES);
  return {
    a,
    b,
    closePropagates: true,
    // Real sockets: give the loopback a moment, then let queued bytes drain.
    flush: async () => {
      for (let i = 0; i < 20 && a.bufferedBytes + b.bufferedBytes > 0; i++) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 50));
    },
    // Fill the WebSocket backlog in one synchronous burst: nothing drains until we yield.
    saturate: () => {
      for (let i = 0; i < 1_000 && a.send(big); i++);
    },
    cleanup: () => {
      a.close('cleanup');
      b.close('cleanup');
    },
  };
});
