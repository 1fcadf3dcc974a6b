/**
 * Tests for src/node/stream/stream-mux.ts (docs/threat-model.md "Streams"):
 * a stream a peer opened holds its slot until the acceptor's connect has
 * settled, even when the peer resets it first. Otherwise OPEN then RESET in
 * a loop starts any number of outgoing TCP connects (each a socket kept for
 * up to the acceptor's connect timeout) while the stream count stays at
 * zero: the bound on what one peer makes us keep would not hold.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { StreamMux, type StreamEndpoint } from '../../../src/node/stream/stream-mux.js';
import { StreamFrameKind, StreamReason } from '../../../src/wire/constants.js';
import { decodeStreamFrame, encodeStreamFrame } from '../../../src/wire/stream-frames.js';
import { FakeClock } from '../../../testkit/fake-clock.js';

const WINDOW = 32 * 1024;
const PER_PEER = 4;
const ID_A = new Uint8Array(32).fill(0xaa);
const HEX_A = Buffer.from(ID_A).toString('hex');
const DEST = new Uint8Array([10, 77, 0, 3]);

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

/** A mux whose acceptor connects nowhere until the test settles each call (a destination that never answers). */
function victim(maxStreams = 4_096): {
  mux: StreamMux;
  pending: ((r: StreamEndpoint | number) => void)[];
  sent: Uint8Array[];
} {
  const pending: ((r: StreamEndpoint | number) => void)[] = [];
  const sent: Uint8Array[] = [];
  const mux = new StreamMux({
    clock: new FakeClock(),
    sessions: { sendInner: (_p, _t, body) => { sent.push(body); return 'sent'; } },
    acceptor: { accept: () => new Promise((resolve) => { pending.push(resolve); }) },
  }, { windowBytes: WINDOW, maxStreamsPerPeer: PER_PEER, maxStreams });
  mux.start();
  return { mux, pending, sent };
}

function openThenReset(mux: StreamMux, id: number): void {
  mux.onFrame(ID_A, encodeStreamFrame({ kind: StreamFrameKind.Open, streamId: id, opener: true, window: WINDOW, address: DEST, port: 80 }));
  mux.onFrame(ID_A, encodeStreamFrame({ kind: StreamFrameKind.Reset, streamId: id, opener: true, reason: StreamReason.Aborted }));
}

describe('stream mux: a reset while the acceptor connects', () => {
  it('OPEN+RESET in a loop starts at most maxStreamsPerPeer connects; the rest are refused Busy', async () => {
    const v = victim();
    try {
      for (let id = 1; id <= 200; id++) openThenReset(v.mux, id);
      await settle();
      assert.equal(v.pending.length, PER_PEER, 'connects started');
      assert.equal(v.mux.size, 0, 'no stream is open');
      assert.equal(v.mux.heldFor(HEX_A), PER_PEER, 'the connecting slots stay counted');
      assert.equal(v.mux.drops.busy, 200 - PER_PEER);
      const refusals = v.sent.map((b) => decodeStreamFrame(b)).filter((f) => f.kind === StreamFrameKind.Refuse);
      assert.equal(refusals.length, 200 - PER_PEER);
    } finally {
      v.mux.stop();
    }
  });

  it('a connect that settles after the reset frees its slot, and its socket is aborted', async () => {
    const v = victim();
    try {
      for (let id = 1; id <= PER_PEER; id++) openThenReset(v.mux, id);
      await settle();
      const aborted: number[] = [];
      const end: StreamEndpoint = { deliver: () => {}, end: () => {}, abort: (r) => { aborted.push(r); }, resume: () => {} };
      v.pending[0]!(end);
      v.pending[1]!(StreamReason.ConnectRefused);
      await settle();
      assert.deepEqual(aborted, [StreamReason.Aborted]);
      assert.equal(v.mux.heldFor(HEX_A), PER_PEER - 2);
      // Two slots are free again: two new OPENs reach the acceptor, a third is Busy.
      for (let id = 100; id < 103; id++) {
        v.mux.onFrame(ID_A, encodeStreamFrame({ kind: StreamFrameKind.Open, streamId: id, opener: true, window: WINDOW, address: DEST, port: 80 }));
      }
      await settle();
      assert.equal(v.pending.length, PER_PEER + 2);
      assert.equal(v.mux.size, 2);
      assert.equal(v.mux.drops.busy, 1);
      for (const r of v.pending.slice(2)) r(StreamReason.Unreachable);
      await settle();
      assert.equal(v.mux.heldFor(HEX_A), 0);
      assert.equal(v.mux.size, 0);
    } finally {
      v.mux.stop();
    }
  });

  it('connects left behind by resets count against maxStreams across peers too', async () => {
    const v = victim(3);
    try {
      for (let id = 1; id <= 50; id++) openThenReset(v.mux, id);
      await settle();
      assert.equal(v.pending.length, 3);
      assert.equal(v.mux.drops.busy, 47);
      // stop() while connects are pending: their late answers are aborted and nothing is counted below zero.
      v.mux.stop();
      const aborted: number[] = [];
      for (const r of v.pending) r({ deliver: () => {}, end: () => {}, abort: (x) => { aborted.push(x); }, resume: () => {} });
      await settle();
      assert.equal(aborted.length, 3);
      assert.equal(v.mux.heldFor(HEX_A), 0);
    } finally {
      v.mux.stop();
    }
  });
});
