/**
 * Tests for src/node/stream/stream-mux.ts (docs/protocol.md §6) on a fake
 * clock: two muxes joined by a fake session that can lose frames. A stream
 * carries its bytes whole over loss; a stalled reader holds one window and
 * does not stop another stream; RESET and completion free all state; and
 * what a malicious peer sends (garbage, credit overruns, OPEN floods) is
 * dropped, counted and bounded.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { StreamMux, type StreamEndpoint, type StreamHandle } from '../../../src/node/stream/stream-mux.js';
import { InnerType, StreamFrameKind, StreamReason } from '../../../src/wire/constants.js';
import { encodeStreamFrame, decodeStreamFrame } from '../../../src/wire/stream-frames.js';
import { FakeClock } from '../../../testkit/fake-clock.js';

const RUNS = Number(process.env.SM_FUZZ_RUNS ?? 30);
const WINDOW = 32 * 1024;
const ID_A = new Uint8Array(32).fill(0xaa);
const ID_B = new Uint8Array(32).fill(0xbb);
const DEST = new Uint8Array([10, 77, 0, 3]);

class MemEnd implements StreamEndpoint {
  readonly got: number[] = [];
  untaken: (() => void)[] = [];
  held = 0;
  maxHeld = 0;
  ended = false;
  aborted: number | null = null;
  resumes = 0;
  constructor(public reading = true) {}
  deliver(bytes: Uint8Array, taken: () => void): void {
    this.got.push(...bytes);
    this.held += bytes.length;
    this.maxHeld = Math.max(this.maxHeld, this.held);
    const n = bytes.length;
    this.untaken.push(() => { this.held -= n; taken(); });
    if (this.reading) this.read();
  }
  read(): void { for (const t of this.untaken.splice(0)) t(); }
  end(): void { this.ended = true; }
  abort(reason: number): void { this.aborted = reason; }
  resume(): void { this.resumes++; }
}

interface Pair {
  clock: FakeClock;
  a: StreamMux;
  b: StreamMux;
  ends: MemEnd[];
  handles: StreamHandle[];
  /** Frames to B (from A) in flight; the test can drop or inject. */
  pump(lossPercent?: number, rng?: () => number): void;
  wire: { to: 'a' | 'b'; body: Uint8Array }[];
  run(ms: number, lossPercent?: number, rng?: () => number): void;
}

function pair(bReading = true): Pair {
  const clock = new FakeClock();
  const wire: { to: 'a' | 'b'; body: Uint8Array }[] = [];
  const ends: MemEnd[] = [];
  const handles: StreamHandle[] = [];
  const a = new StreamMux({ clock, sessions: { sendInner: (_p, t, body) => { assert.equal(t, InnerType.Stream); wire.push({ to: 'b', body }); return 'sent'; } } }, { windowBytes: WINDOW });
  const b = new StreamMux({
    clock,
    sessions: { sendInner: (_p, _t, body) => { wire.push({ to: 'a', body }); return 'sent'; } },
    acceptor: {
      accept: (_peer, address, port, handle) => {
        if (port === 9) return Promise.resolve(StreamReason.ConnectRefused);
        assert.deepEqual([...address], [...DEST]);
        const e = new MemEnd(bReading);
        ends.push(e);
        handles.push(handle);
        return Promise.resolve(e);
      },
    },
  }, { windowBytes: WINDOW, maxStreamsPerPeer: 4 });
  a.start();
  b.start();
  const p: Pair = {
    clock, a, b, ends, handles, wire,
    pump(loss = 0, rng = Math.random) {
      for (let i = 0; i < 10_000 && wire.length > 0; i++) {
        const f = wire.shift()!;
        if (rng() * 100 < loss) continue;
        if (f.to === 'b') b.onFrame(ID_A, f.body);
        else a.onFrame(ID_B, f.body);
      }
    },
    run(ms, loss = 0, rng = Math.random) {
      for (let t = 0; t < ms; t += 10) {
        p.pump(loss, rng);
        clock.advance(10);
      }
      p.pump(loss, rng);
    },
  };
  return p;
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

async function openAB(p: Pair, port = 80): Promise<{ handle: StreamHandle; end: MemEnd } | number> {
  const opened = p.a.open(ID_B, DEST, port);
  p.pump();
  await settle();
  p.pump();
  const r = await opened;
  if ('refused' in r) return r.refused;
  const end = new MemEnd();
  p.a.attach(r.handle, end);
  return { handle: r.handle, end };
}

function mulberry(seed: number): () => number {
  let t = seed >>> 0;
  return () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let x = Math.imul(t ^ (t >>> 15), 1 | t);
    x ^= x + Math.imul(x ^ (x >>> 7), 61 | x);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

describe('stream mux', () => {
  it('opens, carries bytes both ways, half-closes and frees all state', async () => {
    const p = pair();
    const s = await openAB(p);
    assert.ok(typeof s !== 'number');
    s.handle.write(Uint8Array.from([1, 2, 3]));
    s.handle.finish();
    p.run(50);
    assert.deepEqual(p.ends[0]!.got, [1, 2, 3]);
    assert.equal(p.ends[0]!.ended, true);
    // Half-closed: B still sends.
    p.handles[0]!.write(Uint8Array.from([4, 5]));
    p.run(50);
    assert.deepEqual(s.end.got, [4, 5]);
    p.handles[0]!.finish();
    p.run(50);
    assert.equal(s.end.ended, true);
    assert.equal(p.a.size, 0);
    assert.equal(p.b.size, 0);
  });

  it('an idle mux arms no timer: the tick runs while a stream is held and stops with the last one', async () => {
    const p = pair();
    assert.equal(p.clock.pendingCount, 0, 'started, no stream: nothing armed');
    const s = await openAB(p);
    assert.ok(typeof s !== 'number');
    assert.equal(p.clock.pendingCount, 2, 'one tick on each side');
    s.handle.write(Uint8Array.from([1]));
    s.handle.finish();
    p.handles[0]!.finish();
    p.run(300);
    assert.equal(p.a.size + p.b.size, 0);
    assert.equal(p.clock.pendingCount, 0, 'the last stream gone: no tick left');
    const again = await openAB(p);
    assert.ok(typeof again !== 'number');
    assert.equal(p.clock.pendingCount, 2, 'a new stream arms it again');
    p.a.stop();
    p.b.stop();
    assert.equal(p.clock.pendingCount, 0);
  });

  it('a refusal reaches the opener with its reason and keeps nothing', async () => {
    const p = pair();
    assert.equal(await openAB(p, 9), StreamReason.ConnectRefused);
    assert.equal(p.a.size, 0);
    assert.equal(p.b.size, 0);
  });

  it('property: over a lossy session every byte arrives once and in order, and the state is freed', async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 200_000 }), fc.integer({ min: 0, max: 25 }), fc.integer(), async (size, loss, seed) => {
      const p = pair();
      const rng = mulberry(seed);
      const s = await openAB(p);
      assert.ok(typeof s !== 'number');
      const data = new Uint8Array(size);
      for (let i = 0; i < size; i++) data[i] = (i * 7 + seed) & 0xff;
      for (let at = 0; at < size; at += 5_000) s.handle.write(data.subarray(at, at + 5_000));
      s.handle.finish();
      // Correctness, not speed: at 25 % loss the RTO backs off to 8 s, and a stream may need a minute.
      const until = (done: () => boolean): void => {
        for (let t = 0; t < 180_000 && !done(); t += 1_000) p.run(1_000, loss, rng);
      };
      until(() => p.ends[0]!.ended);
      p.handles[0]!.finish();
      until(() => s.end.ended);
      assert.equal(s.end.ended, true);
      assert.equal(p.ends[0]!.got.length, size);
      assert.ok(p.ends[0]!.got.every((v, i) => v === data[i]));
      assert.equal(p.ends[0]!.ended, true);
      assert.ok(p.ends[0]!.maxHeld <= WINDOW);
      until(() => p.b.size + p.a.size <= 1);
      assert.equal(p.b.size + p.a.size <= 1, true, 'at most one side waits for the last lost ACK');
      p.run(40_000, 0, rng);
      assert.equal(p.a.size, 0);
      assert.equal(p.b.size, 0);
      p.a.stop(); p.b.stop();
    }), { numRuns: RUNS });
  });

  it('a stalled reader holds one window and another stream still completes', async () => {
    const p = pair();
    const slow = await openAB(p);
    const fast = await openAB(p);
    assert.ok(typeof slow !== 'number' && typeof fast !== 'number');
    p.ends[0]!.reading = false;
    let slowAccepted = 0;
    for (let i = 0; i < 20; i++) if (slow.handle.write(new Uint8Array(16 * 1024))) slowAccepted++;
    const big = new Uint8Array(1024 * 1024).fill(5);
    fast.handle.write(big);
    fast.handle.finish();
    p.run(5_000);
    assert.equal(p.ends[1]!.got.length, big.length);
    assert.equal(p.ends[1]!.ended, true);
    assert.equal(p.ends[0]!.held, WINDOW, 'the stalled stream stopped at its window');
    assert.ok(slowAccepted < 20, 'the slow writer was told to pause');
    p.ends[0]!.reading = true;
    p.ends[0]!.read();
    p.run(5_000);
    assert.equal(p.ends[0]!.got.length, 20 * 16 * 1024);
  });

  it('dropPeer (the peer was revoked) aborts and forgets every stream with it', async () => {
    const p = pair();
    const s1 = await openAB(p);
    const s2 = await openAB(p);
    assert.ok(typeof s1 !== 'number' && typeof s2 !== 'number');
    assert.equal(p.b.size, 2);
    p.b.dropPeer(Buffer.from(ID_A).toString('hex'));
    assert.equal(p.b.size, 0);
    assert.equal(p.b.heldFor(Buffer.from(ID_A).toString('hex')), 0);
    assert.equal(p.ends[0]!.aborted, StreamReason.Aborted);
    assert.equal(p.ends[1]!.aborted, StreamReason.Aborted);
  });

  it('RESET frees the state on both sides and aborts the other end', async () => {
    const p = pair();
    const s = await openAB(p);
    assert.ok(typeof s !== 'number');
    s.handle.write(new Uint8Array(1000));
    p.run(20);
    s.handle.reset(StreamReason.Aborted);
    p.run(20);
    assert.equal(p.ends[0]!.aborted, StreamReason.Aborted);
    assert.equal(p.a.size, 0);
    assert.equal(p.b.size, 0);
  });

  it('a peer that ignores credit is reset and counted; garbage is dropped and counted', async () => {
    const p = pair(false);
    const s = await openAB(p);
    assert.ok(typeof s !== 'number');
    const id = decodeStreamFrame(p.wire.length > 0 ? p.wire[0]!.body : encodeStreamFrame({ kind: StreamFrameKind.Reset, streamId: 1, opener: true, reason: 0 })).streamId;
    p.b.onFrame(ID_A, encodeStreamFrame({ kind: StreamFrameKind.Data, streamId: id, opener: true, offset: WINDOW - 10, bytes: new Uint8Array(11) }));
    assert.equal(p.b.drops.protocol, 1);
    assert.equal(p.b.size, 0);
    p.b.onFrame(ID_A, new Uint8Array([0xff, 1, 2]));
    p.b.onFrame(ID_A, new Uint8Array(0));
    assert.equal(p.b.drops.malformed, 2);
  });

  it('an OPEN flood keeps at most maxStreamsPerPeer streams; the rest are refused Busy without state', async () => {
    const p = pair();
    for (let id = 1; id <= 100; id++) {
      p.b.onFrame(ID_A, encodeStreamFrame({ kind: StreamFrameKind.Open, streamId: id, opener: true, window: WINDOW, address: DEST, port: 80 }));
    }
    await settle();
    assert.equal(p.b.size, 4);
    assert.equal(p.b.heldFor(Buffer.from(ID_A).toString('hex')), 4);
    assert.equal(p.b.drops.busy, 96);
    const refusals = p.wire.filter((f) => f.to === 'a').map((f) => decodeStreamFrame(f.body)).filter((f) => f.kind === StreamFrameKind.Refuse);
    assert.equal(refusals.length, 96);
    // DATA for a stream it never opened: answered with RESET, nothing kept.
    p.b.onFrame(ID_A, encodeStreamFrame({ kind: StreamFrameKind.Data, streamId: 5000, opener: true, offset: 0, bytes: new Uint8Array(1) }));
    assert.equal(p.b.drops.unknown_stream, 1);
    assert.equal(p.b.size, 4);
  });
});
