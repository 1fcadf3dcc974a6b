/**
 * Tests for src/node/session/replay-window.ts (RFC 6479 window): examples for
 * each rule, then a property comparing it with a trivially correct model.
 */
import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ReplayWindow,
  REPLAY_WINDOW_DEFAULT_COUNTERS,
  REPLAY_WINDOW_MIN_COUNTERS,
} from '../../../src/node/session/replay-window.js';
import { hasCode } from '../../../src/errors.js';
import { SessionCode } from '../../../src/node/session/session-errors.js';

describe('ReplayWindow', () => {
  it('defaults to 8192 counters', () => {
    assert.equal(new ReplayWindow().windowSize, REPLAY_WINDOW_DEFAULT_COUNTERS);
    assert.equal(REPLAY_WINDOW_DEFAULT_COUNTERS, 8192);
  });

  it('accepts in-order counters starting at 0, each once', () => {
    const w = new ReplayWindow();
    for (let i = 0n; i < 20_000n; i++) {
      assert.equal(w.check(i), true, `check ${i}`);
      assert.equal(w.accept(i), true, `accept ${i}`);
      assert.equal(w.check(i), false, `recheck ${i}`);
    }
    assert.equal(w.highest, 19_999n);
  });

  it('rejects a duplicate, also for check()', () => {
    const w = new ReplayWindow();
    assert.equal(w.accept(5n), true);
    assert.equal(w.check(5n), false);
    assert.equal(w.accept(5n), false);
  });

  it('accepts reordering inside the window exactly once', () => {
    const w = new ReplayWindow(2048);
    assert.equal(w.accept(3000n), true);
    // oldest still inside: highest - c = 2047 < 2048
    for (const c of [2999n, 953n, 1500n, 2047n + 953n - 1000n]) {
      assert.equal(w.check(c), true, `check ${c}`);
      assert.equal(w.accept(c), true, `accept ${c}`);
      assert.equal(w.accept(c), false, `dup ${c}`);
    }
  });

  it('rejects counters older than the window, at the exact boundary', () => {
    const w = new ReplayWindow(2048);
    assert.equal(w.accept(3000n), true);
    assert.equal(w.check(952n), false); // 3000 - 952 = 2048: just outside
    assert.equal(w.accept(952n), false);
    assert.equal(w.check(953n), true);
    assert.equal(w.accept(0n), false);
  });

  it('slides on a far jump: old bits cleared, new region usable', () => {
    const w = new ReplayWindow(2048);
    for (let i = 0n; i < 100n; i++) w.accept(i);
    const far = 1_000_000_000_000n;
    assert.equal(w.accept(far), true);
    assert.equal(w.accept(99n), false, 'too old after the jump');
    // counters just below the new highest whose ring words held old bits
    for (let c = far - 2047n; c < far; c += 97n) {
      assert.equal(w.accept(c), true, `after jump ${c}`);
    }
    assert.equal(w.accept(far), false);
  });

  it('slides by partial jumps without forgetting what is still in the window', () => {
    const w = new ReplayWindow(2048);
    assert.equal(w.accept(100n), true);
    assert.equal(w.accept(1100n), true);
    assert.equal(w.accept(2100n), true); // 100 is now at distance 2000: still inside
    assert.equal(w.accept(100n), false, 'still remembered');
    assert.equal(w.accept(2200n), true); // 100 now at distance 2100: outside
    assert.equal(w.check(100n), false);
    assert.equal(w.accept(1100n), false, 'still remembered');
  });

  it('rejects negative and beyond-2^53 counters', () => {
    const w = new ReplayWindow();
    assert.equal(w.check(-1n), false);
    assert.equal(w.accept(-1n), false);
    assert.equal(w.check(2n ** 53n), false);
    assert.equal(w.accept(2n ** 64n - 1n), false);
    assert.equal(w.accept(2n ** 53n - 1n), true);
  });

  it('reset() forgets accepted counters', () => {
    const w = new ReplayWindow();
    w.accept(7n);
    w.reset();
    assert.equal(w.accept(7n), true);
  });

  it('rejects bad window sizes with a ConfigError code', () => {
    for (const bad of [0, 32, REPLAY_WINDOW_MIN_COUNTERS - 32, 2050, 1.5, Number.NaN, 1 << 21]) {
      assert.throws(() => new ReplayWindow(bad), (e: unknown) => hasCode(e, SessionCode.OPTION), String(bad));
    }
  });

  it('matches a Set-based model on arbitrary sequences (property)', () => {
    const W = 2048;
    // Counters cluster around a moving point so the boundary, duplicates and
    // jumps all occur often; a few are huge.
    const step = fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: -2100, max: 40 }).map((d) => ({ kind: 'rel' as const, d })) },
      { weight: 2, arbitrary: fc.integer({ min: 1, max: 5000 }).map((d) => ({ kind: 'rel' as const, d })) },
      { weight: 2, arbitrary: fc.integer({ min: 2040, max: 2056 }).map((d) => ({ kind: 'edge' as const, d })) },
      { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 2n ** 54n }).map((v) => ({ kind: 'abs' as const, v })) },
      { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((v) => ({ kind: 'abs' as const, v })) },
      { weight: 1, arbitrary: fc.boolean().map((auth) => ({ kind: 'checkOnly' as const, auth })) },
    );
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 300, size: 'max' }), (steps) => {
        const w = new ReplayWindow(W);
        const seen = new Set<bigint>();
        let highest = -1n;
        const model = (c: bigint): boolean =>
          c >= 0n && c <= BigInt(Number.MAX_SAFE_INTEGER) && !seen.has(c) && (c > highest || highest - c < BigInt(W));
        let last = 0n;
        for (const s of steps) {
          let c: bigint;
          if (s.kind === 'rel') c = (highest < 0n ? 0n : highest) + BigInt(s.d);
          else if (s.kind === 'edge') c = highest - BigInt(s.d);
          else if (s.kind === 'abs') c = s.v;
          else c = last;
          last = c;
          const expected = model(c);
          assert.equal(w.check(c), expected, `check(${c}) highest=${highest}`);
          if (s.kind === 'checkOnly' && !s.auth) continue; // failed authentication: no accept
          assert.equal(w.accept(c), expected, `accept(${c}) highest=${highest}`);
          if (expected) {
            seen.add(c);
            if (c > highest) highest = c;
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});
