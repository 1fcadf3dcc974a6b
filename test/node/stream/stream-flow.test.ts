/**
 * Tests for src/node/stream/stream-flow.ts (docs/protocol.md §6 "Flow
 * control"): a sender never goes past the credit it was granted, a
 * receiver takes bytes only in order and never holds more than its window,
 * and what arrives is what was written, whatever the loss and resends.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ReceiveWindow, SendWindow } from '../../../src/node/stream/stream-flow.js';

const RUNS = Number(process.env.SM_FUZZ_RUNS ?? 200);

describe('stream flow control', () => {
  it('take stops at the credit and resumes when the ACK grants more', () => {
    const s = new SendWindow(10);
    s.write(new Uint8Array(25));
    assert.deepEqual(s.take(4), { offset: 0, bytes: new Uint8Array(4) });
    assert.equal(s.take(100)?.bytes.length, 6);
    assert.equal(s.take(100), null);
    assert.equal(s.onAck(10, 20, false), true);
    assert.equal(s.take(100)?.offset, 10);
    assert.equal(s.buffered, 15);
  });

  it('an ACK of bytes never written, or of a FIN never sent, is refused', () => {
    const s = new SendWindow(10);
    s.write(new Uint8Array(5));
    assert.equal(s.onAck(6, 10, false), false);
    assert.equal(s.onAck(5, 10, true), false);
    s.finish();
    // Written and queued, but nothing sent yet: neither the bytes nor the FIN may be acknowledged.
    assert.equal(s.onAck(5, 10, false), false);
    assert.equal(s.onAck(5, 10, true), false);
    assert.equal(s.take(100)?.bytes.length, 5);
    assert.equal(s.onAck(5, 10, true), false);
    assert.equal(s.finDue, true);
    s.markFinSent();
    assert.equal(s.onAck(5, 10, true), true);
    assert.equal(s.done, true);
  });

  it('the receiver refuses bytes past its credit and after a gap takes nothing', () => {
    const r = new ReceiveWindow(8);
    assert.equal(r.onData(0, new Uint8Array(9)).kind, 'violation');
    assert.equal(r.onData(2, new Uint8Array(2)).kind, 'gap');
    assert.equal(r.onData(0, new Uint8Array(4)).kind, 'accept');
    assert.equal(r.onData(0, new Uint8Array(4)).kind, 'duplicate');
    const tail = r.onData(2, Uint8Array.from([1, 2, 3, 4]));
    assert.deepEqual(tail, { kind: 'accept', bytes: Uint8Array.from([3, 4]) });
    assert.equal(r.held, 6);
    assert.equal(r.onData(6, new Uint8Array(3)).kind, 'violation', 'credit is 8 until the reader takes bytes');
    r.onConsumed(6);
    assert.equal(r.grant(), 14);
    assert.equal(r.onData(6, new Uint8Array(3)).kind, 'accept');
    assert.equal(r.onFin(5), false, 'a FIN before bytes already received');
    assert.equal(r.onFin(9), true);
    assert.equal(r.finished, true);
    assert.equal(r.onData(9, new Uint8Array(1)).kind, 'violation', 'no byte after the FIN');
  });

  it('property: over a lossy, reordering link the bytes arrive whole and in order, credit never exceeded', () => {
    fc.assert(fc.property(
      fc.array(fc.uint8Array({ minLength: 1, maxLength: 50 }), { minLength: 1, maxLength: 30 }),
      fc.integer({ min: 8, max: 64 }),
      fc.array(fc.nat(99), { minLength: 50, maxLength: 50 }),
      (writes, window, dice) => {
        const s = new SendWindow(window);
        const r = new ReceiveWindow(window);
        const out: number[] = [];
        for (const w of writes) s.write(w);
        s.finish();
        const expected = writes.flatMap((w) => [...w]);
        let roll = 0;
        const die = (): number => dice[roll++ % dice.length]!;
        for (let round = 0; round < 5_000 && !(s.done && r.finished); round++) {
          const inFlight: { offset: number; bytes: Uint8Array }[] = [];
          for (let c = s.take(7); c !== null; c = s.take(7)) {
            assert.ok(c.offset + c.bytes.length <= s.limit, 'sender stays within the credit');
            inFlight.push(c);
          }
          if (die() % 3 === 0) inFlight.reverse();
          for (const c of inFlight) {
            if (die() < 20 && round < 200) continue; // lost (for a while: then the link heals)
            const got = r.onData(c.offset, c.bytes);
            assert.notEqual(got.kind, 'violation');
            if (got.kind === 'accept') out.push(...got.bytes);
          }
          assert.ok(r.held <= window, 'receiver holds at most one window');
          if (s.finDue) { s.markFinSent(); if (die() >= 20 || round >= 200) r.onFin(s.written); }
          if (die() % 2 === 0) r.onConsumed(r.held); // the reader takes it all, or not this round
          if (die() >= 20 || round >= 200) assert.equal(s.onAck(r.received, r.grant(), r.finished), true);
          s.rewind(); // every round ends as if the RTO fired
        }
        assert.deepEqual(out, expected);
        assert.equal(r.finished, true);
      },
    ), { numRuns: RUNS });
  });
});
