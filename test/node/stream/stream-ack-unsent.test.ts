/**
 * Tests for src/node/stream/stream-flow.ts through the mux
 * (docs/protocol.md §6 "Flow control"; docs/threat-model.md "Streams"):
 * an ACK may only acknowledge bytes (and a FIN) that were sent. A peer that
 * acknowledges what its credit kept us from sending would make us drop
 * those bytes unsent while the stream goes on as if they had arrived; the
 * stream is reset (protocol) and counted instead.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { StreamMux, type StreamEndpoint, type StreamHandle } from '../../../src/node/stream/stream-mux.js';
import { StreamFrameKind, StreamReason } from '../../../src/wire/constants.js';
import { decodeStreamFrame, encodeStreamFrame, type StreamFrame } from '../../../src/wire/stream-frames.js';
import { FakeClock } from '../../../testkit/fake-clock.js';

const PEER = new Uint8Array(32).fill(0xcc);
const DEST = new Uint8Array([10, 77, 0, 9]);
const PEER_WINDOW = 1_000;
const WRITTEN = 5_000;

async function openedStream(): Promise<{ mux: StreamMux; sent: StreamFrame[]; handle: StreamHandle; aborted: number[] }> {
  const sent: StreamFrame[] = [];
  const mux = new StreamMux({ clock: new FakeClock(), sessions: { sendInner: (_p, _t, body) => { sent.push(decodeStreamFrame(body)); return 'sent'; } } });
  mux.start();
  const opened = mux.open(PEER, DEST, 80);
  const id = sent[0]!.streamId;
  // The peer (the attacker) accepts with a small credit.
  mux.onFrame(PEER, encodeStreamFrame({ kind: StreamFrameKind.Accept, streamId: id, opener: false, window: PEER_WINDOW }));
  const r = await opened;
  assert.ok('handle' in r);
  const aborted: number[] = [];
  const end: StreamEndpoint = { deliver: () => {}, end: () => {}, abort: (x) => { aborted.push(x); }, resume: () => {} };
  mux.attach(r.handle, end);
  r.handle.write(new Uint8Array(WRITTEN).fill(7));
  return { mux, sent, handle: r.handle, aborted };
}

function sentData(sent: StreamFrame[]): number {
  let n = 0;
  for (const f of sent) if (f.kind === StreamFrameKind.Data) n = Math.max(n, f.offset + f.bytes.length);
  return n;
}

describe('stream mux: an ACK of bytes never sent', () => {
  it('acknowledging bytes held back by credit resets the stream (protocol)', async () => {
    const v = await openedStream();
    try {
      assert.equal(sentData(v.sent), PEER_WINDOW, 'the credit held the rest back');
      v.mux.onFrame(PEER, encodeStreamFrame({ kind: StreamFrameKind.Ack, streamId: v.handle.id, opener: false, received: WRITTEN, limit: WRITTEN + PEER_WINDOW, fin: false }));
      assert.equal(v.mux.drops.protocol, 1);
      assert.equal(v.mux.size, 0);
      assert.deepEqual(v.aborted, [StreamReason.Protocol]);
      const reset = v.sent.at(-1)!;
      assert.equal(reset.kind, StreamFrameKind.Reset);
    } finally {
      v.mux.stop();
    }
  });

  it('acknowledging a FIN that was queued but not sent resets the stream', async () => {
    const v = await openedStream();
    try {
      v.handle.finish();
      assert.ok(!v.sent.some((f) => f.kind === StreamFrameKind.Fin), 'no FIN went out yet');
      // Everything up to what was sent, honestly: still fine.
      v.mux.onFrame(PEER, encodeStreamFrame({ kind: StreamFrameKind.Ack, streamId: v.handle.id, opener: false, received: PEER_WINDOW, limit: PEER_WINDOW, fin: false }));
      assert.equal(v.mux.drops.protocol, 0);
      assert.equal(v.mux.size, 1);
      v.mux.onFrame(PEER, encodeStreamFrame({ kind: StreamFrameKind.Ack, streamId: v.handle.id, opener: false, received: WRITTEN, limit: WRITTEN, fin: true }));
      assert.equal(v.mux.drops.protocol, 1);
      assert.equal(v.mux.size, 0);
    } finally {
      v.mux.stop();
    }
  });

  it('an honest ACK of sent bytes moves the window and the stream completes', async () => {
    const v = await openedStream();
    try {
      v.handle.finish();
      for (let i = 0; i < 20 && v.mux.size > 0; i++) {
        const upTo = sentData(v.sent);
        const finSent = v.sent.some((f) => f.kind === StreamFrameKind.Fin);
        v.mux.onFrame(PEER, encodeStreamFrame({ kind: StreamFrameKind.Ack, streamId: v.handle.id, opener: false, received: upTo, limit: upTo + PEER_WINDOW, fin: finSent }));
        // The peer finishes its own direction too, so the stream can complete.
        if (finSent) v.mux.onFrame(PEER, encodeStreamFrame({ kind: StreamFrameKind.Fin, streamId: v.handle.id, opener: false, offset: 0 }));
        await new Promise((r) => setImmediate(r));
      }
      assert.equal(sentData(v.sent), WRITTEN);
      assert.equal(v.mux.drops.protocol, 0);
    } finally {
      v.mux.stop();
    }
  });
});
