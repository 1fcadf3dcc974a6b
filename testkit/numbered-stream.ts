/**
 * A numbered stream between two in-process ShadowNodes (in-process-mesh.ts):
 * the sender sends 64-byte payloads numbered 0, 1, 2, ... (u32 LE) to one
 * peer, and the receiver counts how often each number arrived. For tests
 * that claim nothing is lost or duplicated across a change of path.
 */
import assert from 'node:assert/strict';
import type { ShadowNode } from '../src/node/node.js';
import { waitUntil } from './in-process-mesh.js';

export interface NumberedStream {
  /** How many were sent (the number the next one gets). */
  readonly sent: number;
  /** Arrivals per number. */
  readonly got: ReadonlyMap<number, number>;
  /** Send `n` more. */
  send(n: number): void;
  /** Wait (up to `ms`) until every number from `from` on arrived, then assert each arrived exactly once. */
  allOnceFrom(from: number, ms?: number): Promise<void>;
}

export function numberedStream(sender: ShadowNode, receiver: ShadowNode, to: Uint8Array): NumberedStream {
  const got = new Map<number, number>();
  receiver.on('payload', (_p: Uint8Array, body: Uint8Array) => {
    const n = Buffer.from(body).readUInt32LE(0);
    got.set(n, (got.get(n) ?? 0) + 1);
  });
  let sent = 0;
  return {
    get sent() {
      return sent;
    },
    got,
    send(n) {
      for (let i = 0; i < n; i++) {
        const buf = Buffer.alloc(64);
        buf.writeUInt32LE(sent++, 0);
        sender.send(to, buf);
      }
    },
    async allOnceFrom(from, ms) {
      await waitUntil(`every frame numbered ${from} or later`, () => { for (let n = from; n < sent; n++) if (!got.has(n)) return false; return true; }, ms);
      for (let n = from; n < sent; n++) assert.equal(got.get(n), 1, `frame ${n} delivered once`);
    },
  };
}
