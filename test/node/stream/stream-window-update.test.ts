/**
 * Tests for src/node/stream/stream-mux.ts (docs/protocol.md §6 "Loss"): an
 * ACK that only grants more credit (same `received`, higher `limit`) is a
 * window update, not a duplicate ACK. A receiver whose reader drains in
 * quarter-window steps while new bytes are in flight sends exactly such
 * ACKs; counting them as duplicates made the sender go back and resend
 * everything in flight with nothing lost. Three ACKs that repeat both
 * fields still trigger the resend.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { StreamMux, type StreamEndpoint, type StreamHandle } from '../../../src/node/stream/stream-mux.js';
import { StreamFrameKind } from '../../../src/wire/constants.js';
import { decodeStreamFrame, encodeStreamFrame, type StreamFrame } from '../../../src/wire/stream-frames.js';
import { FakeClock } from '../../../testkit/fake-clock.js';

const PEER = new Uint8Array(32).fill(0xdd);
const DEST = new Uint8Array([10, 77, 0, 5]);
const W = 32 * 1024;
const STEP = W / 4;

async function sender(): Promise<{ mux: StreamMux; sent: StreamFrame[]; handle: StreamHandle }> {
  const sent: StreamFrame[] = [];
  const mux = new StreamMux({ clock: new FakeClock(), sessions: { sendInner: (_p, _t, body) => { sent.push(decodeStreamFrame(body)); return 'sent'; } } });
  mux.start();
  const opened = mux.open(PEER, DEST, 80);
  mux.onFrame(PEER, encodeStreamFrame({ kind: StreamFrameKind.Accept, streamId: sent[0]!.streamId, opener: false, window: W }));
  const r = await opened;
  assert.ok('handle' in r);
  const end: StreamEndpoint = { deliver: () => {}, end: () => {}, abort: () => {}, resume: () => {} };
  mux.attach(r.handle, end);
  r.handle.write(new Uint8Array(4 * W).fill(1));
  return { mux, sent, handle: r.handle };
}

function ack(mux: StreamMux, id: number, received: number, limit: number): void {
  mux.onFrame(PEER, encodeStreamFrame({ kind: StreamFrameKind.Ack, streamId: id, opener: false, received, limit, fin: false }));
}

function dataSentFrom(sent: StreamFrame[], offset: number): number {
  return sent.filter((f) => f.kind === StreamFrameKind.Data && f.offset === offset).length;
}

describe('stream mux: window updates are not duplicate ACKs', () => {
  it('credit granted in quarter steps while bytes are in flight sends each byte once', async () => {
    const v = await sender();
    try {
      // The first window arrived; the reader has taken nothing yet.
      ack(v.mux, v.handle.id, W, W);
      // The reader drains it in quarter windows; each step's new bytes are still on their way.
      for (let step = 1; step <= 4; step++) ack(v.mux, v.handle.id, W, W + step * STEP);
      assert.equal(v.mux.stats.resends, 0, 'nothing was lost, nothing is resent');
      assert.equal(dataSentFrom(v.sent, W), 1, 'the first byte after the first window went once');
    } finally {
      v.mux.stop();
    }
  });

  it('three ACKs repeating received and limit still go back to the first unacknowledged byte', async () => {
    const v = await sender();
    try {
      ack(v.mux, v.handle.id, W, 2 * W);
      for (let i = 0; i < 3; i++) ack(v.mux, v.handle.id, W, 2 * W);
      assert.equal(v.mux.stats.resends, 1);
      assert.equal(dataSentFrom(v.sent, W), 2);
    } finally {
      v.mux.stop();
    }
  });
});
