/**
 * The Path compliance suite (docs/conventions.md §15): one set of node:test cases
 * every Path implementation passes — the relay path (over a memory relay),
 * the memory paths, and the direct paths (direct-*.ts, run by their tests).
 * It checks the contract of src/node/path/path.ts: send and receive in both
 * directions with counters, copies on send, delivery of everything sent on
 * a healthy path (as a set: order is not part of the contract), close
 * semantics (idempotent, onClose once, sends refused and counted as
 * 'closed', frames sent before a graceful close still arrive), frames with
 * no handler counted as 'no_handler', and backpressure as a false return.
 *
 * What factories must know: each case calls the factory once and cleanup()
 * in a finally. `flush()` must deliver everything in flight (advance a fake
 * clock, pump a memory relay, or wait on real sockets).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Path } from '../src/node/path/path.js';

export interface PathPairUnderTest {
  /** The end under test, toward `b`'s node. */
  a: Path;
  /** The far end, toward `a`'s node. */
  b: Path;
  flush(): void | Promise<void>;
  /** Make a.send() refuse (full queue, link down) until cleanup. */
  saturate(): void | Promise<void>;
  /** True when closing `a` closes `b` too (direct paths); false for the relay, which outlives one peer's path. */
  closePropagates: boolean;
  cleanup(): void | Promise<void>;
}

export type PathPairFactory = () => PathPairUnderTest | Promise<PathPairUnderTest>;

function frame(n: number, size = 64): Uint8Array {
  const f = new Uint8Array(size);
  new DataView(f.buffer).setUint32(0, n, true);
  f.fill(n & 0xff, 4);
  return f;
}

function numberOf(f: Uint8Array): number {
  return new DataView(f.buffer, f.byteOffset, f.byteLength).getUint32(0, true);
}

function dropsTotal(p: Path): number {
  return Object.values(p.stats.drops).reduce((s, v) => s + v, 0);
}

async function withPair(factory: PathPairFactory, body: (t: PathPairUnderTest) => Promise<void> | void): Promise<void> {
  const t = await factory();
  try {
    await body(t);
  } finally {
    await t.cleanup();
  }
}

export function runPathCompliance(name: string, factory: PathPairFactory): void {
  test(`${name}: identity fields and fresh counters`, () =>
    withPair(factory, ({ a, b }) => {
      for (const p of [a, b]) {
        assert.ok(p.kind === 'relay' || p.kind === 'direct', `kind ${String(p.kind)}`);
        assert.equal(typeof p.id, 'string');
        assert.ok(p.id.length > 0);
        assert.ok(p.remote.length > 0);
        if (p.kind === 'relay') assert.equal(p.remote, 'relay');
        else assert.match(p.remote, /^(\[[0-9a-f:.]+\]|[0-9.]+):\d+$/i);
        assert.ok(p.peerId instanceof Uint8Array && p.peerId.length > 0);
        assert.equal(p.closed, false);
        assert.deepEqual([p.stats.framesIn, p.stats.framesOut, p.stats.bytesIn, p.stats.bytesOut], [0, 0, 0, 0]);
        assert.equal(dropsTotal(p), 0);
      }
      assert.notEqual(a.id, b.id, 'ids are unique per instance');
    }));

  test(`${name}: frames cross both ways, counted in stats`, () =>
    withPair(factory, async ({ a, b, flush }) => {
      const atB: Uint8Array[] = [];
      const atA: Uint8Array[] = [];
      b.onFrame = (f) => atB.push(new Uint8Array(f));
      a.onFrame = (f) => atA.push(new Uint8Array(f));
      for (let i = 0; i < 100; i++) assert.equal(a.send(frame(i, 40 + i)), true);
      for (let i = 0; i < 10; i++) assert.equal(b.send(frame(1000 + i)), true);
      await flush();
      assert.deepEqual(atB.map(numberOf).sort((x, y) => x - y), [...Array(100).keys()], 'every frame a sent reached b once');
      assert.deepEqual(atA.map(numberOf).sort((x, y) => x - y), [...Array(10).keys()].map((i) => 1000 + i));
      for (const f of atB) assert.deepEqual(f, frame(numberOf(f), f.length), 'bytes unchanged');
      const bytesA = [...Array(100).keys()].reduce((s, i) => s + 40 + i, 0);
      assert.equal(a.stats.framesOut, 100);
      assert.equal(a.stats.bytesOut, bytesA);
      assert.equal(b.stats.framesIn, 100);
      assert.equal(b.stats.bytesIn, bytesA);
      assert.equal(b.stats.framesOut, 10);
      assert.equal(a.stats.framesIn, 10);
    }));

  test(`${name}: send does not keep the caller's buffer`, () =>
    withPair(factory, async ({ a, b, flush }) => {
      const got: Uint8Array[] = [];
      b.onFrame = (f) => got.push(new Uint8Array(f));
      const buf = frame(7);
      assert.equal(a.send(buf), true);
      buf.fill(0xee);
      await flush();
      assert.equal(got.length, 1);
      assert.deepEqual(got[0], frame(7));
    }));

  test(`${name}: close is idempotent, fires onClose once, refuses and counts later sends`, () =>
    withPair(factory, async ({ a, b, flush, closePropagates }) => {
      const reasons: string[] = [];
      const remoteReasons: string[] = [];
      a.onClose = (r) => {
        reasons.push(r);
        a.close('again from the handler'); // reentrant close is harmless
      };
      b.onClose = (r) => remoteReasons.push(r);
      const got: number[] = [];
      b.onFrame = (f) => got.push(numberOf(f));
      for (let i = 0; i < 5; i++) assert.equal(a.send(frame(i)), true);
      a.close('test');
      a.close('twice');
      assert.equal(a.closed, true);
      assert.deepEqual(reasons, ['test']);
      const before = a.stats.drops.closed ?? 0;
      assert.equal(a.send(frame(99)), false);
      assert.equal(a.stats.drops.closed ?? 0, before + 1, "a refused send after close counts 'closed'");
      assert.equal(a.stats.framesOut, 5);
      await flush();
      assert.deepEqual(got.sort((x, y) => x - y), [0, 1, 2, 3, 4], 'frames sent before a graceful close still arrive');
      if (closePropagates) {
        assert.equal(b.closed, true, 'the far end closes');
        assert.equal(remoteReasons.length, 1);
        assert.equal(b.send(frame(1)), false);
      } else {
        assert.equal(b.closed, false, 'the far end stays open');
        assert.deepEqual(remoteReasons, []);
      }
    }));

  test(`${name}: a frame with no handler is dropped and counted`, () =>
    withPair(factory, async ({ a, b, flush }) => {
      b.onFrame = null;
      assert.equal(a.send(frame(1)), true);
      await flush();
      assert.equal(b.stats.drops.no_handler ?? 0, 1);
      assert.equal(b.stats.framesIn, 0);
    }));

  test(`${name}: backpressure is a false return, counted, never a throw`, () =>
    withPair(factory, async ({ a, saturate }) => {
      await saturate();
      const before = dropsTotal(a);
      let refused = 0;
      for (let i = 0; i < 100; i++) if (!a.send(frame(i))) refused++;
      assert.ok(refused > 0, 'some sends were refused');
      assert.equal(dropsTotal(a), before + refused, 'each refusal is counted');
      assert.equal(a.closed, false, 'backpressure does not close the path');
    }));
}
