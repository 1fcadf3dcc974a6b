/**
 * UdpReassembler (src/node/path/udp-reassembly.ts, docs/protocol.md §3.5):
 * whole frames from fragments in any order; every discarded fragment or
 * frame counted by reason; bounded in frames, bytes and time, also under a
 * random stream of fragments (fast-check).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';

import { UdpReassembler, UDP_MAX_PARTIAL_FRAMES, UDP_REASSEMBLY_TIMEOUT_MS } from '../../../src/node/path/udp-reassembly.js';
import type { UdpFragment } from '../../../src/wire/udp-frames.js';
import { FUZZ_TEST_TIMEOUT_MS, fuzzParams } from '../../../testkit/fuzz-config.js';

function frameBytes(n: number, seed = 1): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
}

function split(frame: Uint8Array, frameId: number, per: number): UdpFragment[] {
  const count = Math.ceil(frame.length / per);
  const out: UdpFragment[] = [];
  for (let i = 0; i < count; i++) out.push({ frameId, index: i, count, data: frame.subarray(i * per, (i + 1) * per) });
  return out;
}

function totalDrops(r: UdpReassembler): number {
  return Object.values(r.drops).reduce((s, v) => s + v, 0);
}

test('in order: the last fragment completes the exact frame', () => {
  const r = new UdpReassembler(65_536);
  const frame = frameBytes(5_000);
  const parts = split(frame, 7, 1_220);
  for (const f of parts.slice(0, -1)) assert.equal(r.add(f, 0), null);
  assert.equal(r.pending, 1);
  assert.deepEqual(new Uint8Array(r.add(parts.at(-1)!, 0)!), frame);
  assert.equal(r.pending, 0);
  assert.equal(totalDrops(r), 0);
});

test('out of order, interleaved frames: each completes exactly', () => {
  const r = new UdpReassembler(65_536);
  const f1 = frameBytes(4_000, 1);
  const f2 = frameBytes(3_000, 2);
  const p1 = split(f1, 1, 1_000).reverse();
  const p2 = split(f2, 2, 1_000);
  const done: Uint8Array[] = [];
  const order = [p2[1]!, p1[0]!, p2[2]!, p1[2]!, p1[1]!, p2[0]!, p1[3]!];
  for (const f of order) {
    const w = r.add(f, 0);
    if (w !== null) done.push(new Uint8Array(w));
  }
  assert.deepEqual(done, [f2, f1]);
  assert.equal(r.pending, 0);
});

test('a duplicate fragment is dropped and counted; the frame still completes once', () => {
  const r = new UdpReassembler(65_536);
  const frame = frameBytes(300);
  const [a, b, c] = split(frame, 3, 100) as [UdpFragment, UdpFragment, UdpFragment];
  r.add(a, 0);
  assert.equal(r.add(a, 0), null);
  assert.equal(r.drops.frag_duplicate, 1);
  r.add(b, 0);
  assert.deepEqual(new Uint8Array(r.add(c, 0)!), frame);
  // A late duplicate of a finished frame starts a new partial, which times out later; it never yields a frame.
  assert.equal(r.add(c, 0), null);
});

test('a count that disagrees with the frame in progress drops the frame', () => {
  const r = new UdpReassembler(65_536);
  r.add({ frameId: 9, index: 0, count: 3, data: frameBytes(10) }, 0);
  assert.equal(r.add({ frameId: 9, index: 1, count: 4, data: frameBytes(10) }, 0), null);
  assert.equal(r.drops.frag_mismatch, 1);
  assert.equal(r.pending, 0);
  // The remaining fragments of either shape cannot complete the old frame.
  assert.equal(r.add({ frameId: 9, index: 2, count: 3, data: frameBytes(10) }, 0), null);
  assert.equal(r.add({ frameId: 9, index: 1, count: 3, data: frameBytes(10) }, 0), null);
});

test('a frame growing past maxFrameBytes is dropped and counted', () => {
  const r = new UdpReassembler(250);
  r.add({ frameId: 1, index: 0, count: 3, data: frameBytes(100) }, 0);
  r.add({ frameId: 1, index: 1, count: 3, data: frameBytes(100) }, 0);
  assert.equal(r.add({ frameId: 1, index: 2, count: 3, data: frameBytes(51) }, 0), null);
  assert.equal(r.drops.frag_oversize, 1);
  assert.equal(r.pending, 0);
  // Exactly at the bound is fine.
  r.add({ frameId: 2, index: 0, count: 2, data: frameBytes(125) }, 0);
  assert.notEqual(r.add({ frameId: 2, index: 1, count: 2, data: frameBytes(125) }, 0), null);
});

test('at the bound the oldest frame in progress is evicted and counted', () => {
  const r = new UdpReassembler(65_536, 1_000, 4);
  for (let id = 0; id < 4; id++) r.add({ frameId: id, index: 0, count: 2, data: frameBytes(10, id) }, 0);
  assert.equal(r.pending, 4);
  r.add({ frameId: 4, index: 0, count: 2, data: frameBytes(10, 4) }, 0);
  assert.equal(r.pending, 4);
  assert.equal(r.drops.frag_evicted, 1);
  // Frame 0 was evicted: its second half starts a new partial instead of completing it.
  assert.equal(r.add({ frameId: 0, index: 1, count: 2, data: frameBytes(10, 0) }, 0), null);
  assert.equal(r.drops.frag_evicted, 2, 'and that evicted frame 1');
  // Frame 2 is still there and completes.
  assert.notEqual(r.add({ frameId: 2, index: 1, count: 2, data: frameBytes(10, 2) }, 0), null);
});

test('a frame not complete within the timeout is dropped and counted', () => {
  const r = new UdpReassembler(65_536, 1_000);
  r.add({ frameId: 1, index: 0, count: 2, data: frameBytes(10) }, 0);
  r.add({ frameId: 2, index: 0, count: 2, data: frameBytes(10) }, 600);
  // At 1000 ms frame 1 is still within the bound (<=).
  r.add({ frameId: 3, index: 0, count: 2, data: frameBytes(10) }, 1_000);
  assert.equal(r.drops.frag_timeout, 0);
  assert.equal(r.pending, 3);
  assert.equal(r.add({ frameId: 1, index: 1, count: 2, data: frameBytes(10) }, 1_001), null, 'frame 1 expired first');
  assert.equal(r.drops.frag_timeout, 1);
  assert.notEqual(r.add({ frameId: 2, index: 1, count: 2, data: frameBytes(10) }, 1_500), null, 'frame 2 had time left');
  assert.equal(UDP_REASSEMBLY_TIMEOUT_MS, 1_000);
});

test('clear() forgets frames in progress', () => {
  const r = new UdpReassembler(65_536);
  r.add({ frameId: 1, index: 0, count: 2, data: frameBytes(10) }, 0);
  r.clear();
  assert.equal(r.pending, 0);
  assert.equal(r.add({ frameId: 1, index: 1, count: 2, data: frameBytes(10) }, 0), null);
});

test('random fragment streams: pending never exceeds the bound, every output is a whole frame within the size bound', { timeout: FUZZ_TEST_TIMEOUT_MS }, () => {
  const maxPartial = 8;
  const maxFrameBytes = 4_096;
  const frag = fc
    .tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 2, max: 12 }), fc.nat(11), fc.integer({ min: 1, max: 900 }), fc.integer({ min: 0, max: 300 }))
    .map(([frameId, count, index, len, dt]) => ({ f: { frameId, count, index: index % count, data: new Uint8Array(len).fill(frameId) }, dt }));
  fc.assert(fc.property(fc.array(frag, { maxLength: 400 }), (stream) => {
    const r = new UdpReassembler(maxFrameBytes, 1_000, maxPartial);
    let now = 0;
    for (const { f, dt } of stream) {
      now += dt;
      const out = r.add(f, now);
      assert.ok(r.pending <= maxPartial, `pending ${r.pending}`);
      if (out !== null) {
        assert.ok(out.length <= maxFrameBytes);
        assert.ok(out.every((b) => b === (f.frameId & 0xff)), 'a frame is made of its own fragments only');
      }
    }
  }), fuzzParams(200));
  assert.equal(UDP_MAX_PARTIAL_FRAMES, 32);
});
