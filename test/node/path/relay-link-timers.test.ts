import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_RECONNECT_BASE_MS,
  DEFAULT_RECONNECT_MAX_MS,
  idleCheckPeriodMs,
  LINK_CLOSE_GRACE_MS,
  reconnectDelayMs,
  RelayLinkTimers,
  type RelayLinkTimerOptions,
} from '../../../src/node/path/relay-link-timers.js';
import { FakeClock } from '../../../testkit/fake-clock.js';

const OPTIONS: RelayLinkTimerOptions = { connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS, reconnectBaseMs: DEFAULT_RECONNECT_BASE_MS, reconnectMaxMs: DEFAULT_RECONNECT_MAX_MS };

function timers(random = 0.5, options: RelayLinkTimerOptions = OPTIONS): { clock: FakeClock; t: RelayLinkTimers } {
  const clock = new FakeClock();
  return { clock, t: new RelayLinkTimers({ clock, random: () => random }, options) };
}

test('the connect deadline fires after connectTimeoutMs and not before; cancelled, never', () => {
  const { clock, t } = timers();
  let fired = 0;
  t.connectDeadline(() => fired++);
  clock.advance(DEFAULT_CONNECT_TIMEOUT_MS - 1);
  assert.equal(fired, 0);
  clock.advance(1);
  assert.equal(fired, 1);
  const h = t.connectDeadline(() => fired++);
  h.cancel();
  h.cancel();
  clock.advance(DEFAULT_CONNECT_TIMEOUT_MS * 2);
  assert.equal(fired, 1);
});

test('reconnect delays use full jitter under a ceiling that doubles per failure up to the cap', () => {
  assert.equal(reconnectDelayMs(OPTIONS, 0, 0), 0);
  assert.equal(reconnectDelayMs(OPTIONS, 0, 0.999), Math.floor(0.999 * 500));
  assert.equal(reconnectDelayMs(OPTIONS, 1, 0.5), 500);
  assert.equal(reconnectDelayMs(OPTIONS, 3, 0.5), 2_000);
  assert.equal(reconnectDelayMs(OPTIONS, 30, 0.5), DEFAULT_RECONNECT_MAX_MS / 2);
  assert.ok(reconnectDelayMs(OPTIONS, 1_000, 0.9999) < DEFAULT_RECONNECT_MAX_MS);
});

test('each failure backs off further; an admission starts again from the base', () => {
  const { clock, t } = timers(0.5);
  /** Arms the reconnect and returns after how many ms it fell due (checked to the millisecond). */
  const delayOfNext = (): number => {
    let due = false;
    t.reconnectAfterFailure(() => { due = true; });
    let waited = 0;
    while (!due && waited < DEFAULT_RECONNECT_MAX_MS) {
      clock.advance(1);
      waited++;
    }
    assert.ok(due);
    return waited;
  };
  // Half of a ceiling of 500, 1000, 2000, 4000 ms.
  assert.deepEqual([delayOfNext(), delayOfNext(), delayOfNext(), delayOfNext()], [250, 500, 1_000, 2_000]);
  assert.equal(t.failures, 4);
  t.admitted();
  assert.equal(t.failures, 0);
  assert.equal(delayOfNext(), 250);
});

test('the idle watch declares the relay dead once, within a quarter of the timeout after the silence passed it', () => {
  const { clock, t } = timers();
  const idleMs = 4_000;
  assert.equal(idleCheckPeriodMs(idleMs), 1_000);
  assert.equal(idleCheckPeriodMs(2), 1);
  let lastSeen = clock.now();
  const dead: number[] = [];
  t.watchIdle(idleMs, () => lastSeen, (silentMs) => dead.push(silentMs));
  // Traffic keeps it alive.
  for (let i = 0; i < 10; i++) {
    clock.advance(1_000);
    lastSeen = clock.now();
  }
  assert.deepEqual(dead, []);
  const silentFrom = clock.now();
  clock.advance(idleMs);
  assert.deepEqual(dead, [], 'silent exactly the timeout is not yet dead');
  clock.advance(idleCheckPeriodMs(idleMs));
  assert.equal(dead.length, 1);
  assert.equal(dead[0], clock.now() - silentFrom);
  assert.ok(dead[0]! <= idleMs * 1.25);
  clock.advance(idleMs * 10);
  assert.equal(dead.length, 1, 'the watch ends when it declared the relay dead');
  assert.equal(clock.pendingCount, 0);
});

test('a cancelled idle watch never fires and leaves no timer armed', () => {
  const { clock, t } = timers();
  const dead: number[] = [];
  const h = t.watchIdle(1_000, () => clock.now(), (s) => dead.push(s));
  clock.advance(250);
  h.cancel();
  clock.advance(10_000);
  assert.deepEqual(dead, []);
  assert.equal(clock.pendingCount, 0);
});

test('the close grace runs after LINK_CLOSE_GRACE_MS', () => {
  const { clock, t } = timers();
  let cut = false;
  t.closeGrace(() => { cut = true; });
  clock.advance(LINK_CLOSE_GRACE_MS - 1);
  assert.equal(cut, false);
  clock.advance(1);
  assert.equal(cut, true);
});
