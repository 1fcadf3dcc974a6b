/**
 * The windowed minimum RTT (src/node/path/rtt-window.ts), on a fake clock:
 * late probes under load cannot raise the estimate while an earlier, faster
 * answer is inside the window; a lasting change is followed once the window
 * has passed; memory stays bounded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RTT_WINDOW_MAX_SAMPLES, RTT_WINDOW_MS, RttWindow } from '../../../src/node/path/rtt-window.js';
import { FakeClock } from '../../../testkit/fake-clock.js';
import { hasCode } from '../../../src/errors.js';

test('null before any sample, then the sample itself', () => {
  const w = new RttWindow();
  assert.equal(w.estimate(0), null);
  assert.equal(w.last, null);
  w.add(0, 7);
  assert.equal(w.estimate(0), 7);
  assert.equal(w.last, 7);
});

test('loaded probes (every 500 ms, 40 ms of queueing) do not raise the estimate within the window', () => {
  const clock = new FakeClock(0);
  const w = new RttWindow();
  for (let i = 0; i < 10; i++) { w.add(clock.now(), 2 + (i % 3) * 0.1); clock.advance(500); }
  const idle = w.estimate(clock.now());
  assert.equal(idle, 2);
  // Load starts: every answer now waits behind queued data.
  const loadStart = clock.now();
  while (clock.now() - loadStart < RTT_WINDOW_MS - 1_000) {
    w.add(clock.now(), 42);
    assert.equal(w.estimate(clock.now()), 2, `at +${clock.now() - loadStart} ms of load the estimate is the idle minimum`);
    assert.equal(w.last, 42);
    clock.advance(500);
  }
});

test('a lasting change is followed once the faster samples have left the window', () => {
  const w = new RttWindow(10_000);
  w.add(0, 2);
  w.add(5_000, 30);
  assert.equal(w.estimate(9_999), 2);
  assert.equal(w.estimate(10_000), 2, 'the window includes its edge');
  assert.equal(w.estimate(10_001), 30);
  w.add(12_000, 25);
  assert.equal(w.estimate(12_000), 25, 'a lower sample replaces a higher one at once');
  w.add(13_000, 40);
  assert.equal(w.estimate(13_000), 25);
  assert.equal(w.estimate(22_001), 40);
});

test('with no sample inside the window, the last one ever stands', () => {
  const w = new RttWindow(1_000);
  w.add(0, 3);
  w.add(100, 9);
  assert.equal(w.estimate(60_000), 9);
});

test('memory is bounded whatever the sample rate', () => {
  const w = new RttWindow(1_000_000);
  for (let i = 0; i < 10_000; i++) w.add(i, 10_000 - i); // ever-lower samples: each evicts the rest
  assert.equal(w.estimate(10_000), 1);
  const up = new RttWindow(1_000_000);
  for (let i = 0; i < 10_000; i++) up.add(i, i); // ever-higher samples: the queue would grow without the bound
  assert.equal(up.estimate(10_000), 10_000 - RTT_WINDOW_MAX_SAMPLES, 'the oldest samples beyond the bound are forgotten');
});

test('a window that is not a positive number of ms is refused with a code', () => {
  for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => new RttWindow(bad), (e: unknown) => hasCode(e, 'SM_ERR_PATH_OPTION'));
  }
});
