/**
 * Tests for src/node/session/session-timers.ts in isolation: option
 * resolution, the hot-path predicates at their boundaries, and the tick
 * against a recording host (lifetimes, retries, jitter, re-entrancy).
 * The same policy seen through PeerSession is in peer-session.test.ts.
 */
import { describe, it, mock } from 'node:test';
import * as assert from 'node:assert/strict';
import { hasCode } from '../../../src/errors.js';
import { REJECT_AFTER_MESSAGES as AEAD_REJECT_AFTER_MESSAGES } from '../../../src/crypto/aead.js';
import { SessionCode } from '../../../src/node/session/session-errors.js';
import {
  DEFAULT_SESSION_TIMERS,
  REJECT_AFTER_MESSAGES,
  SessionTimers,
  resolveSessionTimers,
  type HandshakeReason,
  type SessionTimerHost,
  type SessionTimerOptions,
  type TimedKeyPair,
} from '../../../src/node/session/session-timers.js';
import { FakeClock } from '../../../testkit/fake-clock.js';

interface Kp { createdAtMs: number; retiredAtMs: number | null; isInitiator: boolean; sent: bigint }

class Host implements SessionTimerHost {
  current: Kp | null = null;
  previous: Kp | null = null;
  log: string[] = [];
  timers!: SessionTimers;
  reactions: Partial<Record<HandshakeReason | 'gaveUp', () => void>> = {};
  currentKeyPair(): TimedKeyPair | null { return this.current; }
  previousKeyPair(): TimedKeyPair | null { return this.previous; }
  dropKeyPair(which: 'current' | 'previous'): void {
    this.log.push(`drop:${which}`);
    if (which === 'current') this.current = null;
    else this.previous = null;
  }
  initiateHandshake(reason: HandshakeReason): void {
    this.log.push(`hs:${reason}`);
    this.reactions[reason]?.();
  }
  sendKeepalive(): void { this.log.push('keepalive'); }
  handshakeGaveUp(): void {
    this.log.push('gaveUp');
    this.reactions.gaveUp?.();
  }
}

function setup(options: Partial<SessionTimerOptions> = {}, rng = (n: number) => new Uint8Array(n)) {
  const clock = new FakeClock();
  const host = new Host();
  const timers = new SessionTimers({ clock, host, rng }, options);
  host.timers = timers;
  return { clock, host, timers };
}

describe('session timer options', () => {
  it("defaults are WireGuard's timers, frozen", () => {
    assert.equal(DEFAULT_SESSION_TIMERS.rekeyAfterTimeMs, 120_000);
    assert.equal(DEFAULT_SESSION_TIMERS.rejectAfterTimeMs, 180_000);
    assert.equal(DEFAULT_SESSION_TIMERS.rekeyAttemptTimeMs, 90_000);
    assert.equal(DEFAULT_SESSION_TIMERS.rekeyTimeoutMs, 5_000);
    assert.equal(DEFAULT_SESSION_TIMERS.keepaliveTimeoutMs, 10_000);
    assert.equal(DEFAULT_SESSION_TIMERS.previousKeyGraceMs, 10_000);
    assert.equal(DEFAULT_SESSION_TIMERS.rekeyAfterMessages, 2n ** 60n);
    assert.equal(REJECT_AFTER_MESSAGES, AEAD_REJECT_AFTER_MESSAGES);
    assert.ok(Object.isFrozen(DEFAULT_SESSION_TIMERS));
  });

  it('merges overrides, ignores undefined values and freezes the result', () => {
    const o = resolveSessionTimers({ tickMs: 7, keepaliveTimeoutMs: undefined });
    assert.equal(o.tickMs, 7);
    assert.equal(o.keepaliveTimeoutMs, 10_000);
    assert.ok(Object.isFrozen(o));
    assert.equal(DEFAULT_SESSION_TIMERS.tickMs, 500, 'defaults untouched');
  });

  it('rejects unknown keys, bad values and inconsistent combinations', () => {
    const bad: Array<Partial<SessionTimerOptions> | Record<string, unknown>> = [
      { tickMs: 0 },
      { tickMs: 1.5 },
      { rekeyTimeoutMs: -1 },
      { keepaliveTimeoutMs: Number.NaN },
      { previousKeyGraceMs: 86_400_001 },
      { rekeyTimeoutJitterMs: -1 },
      { rekeyAfterTimeMs: '120000' },
      { rekeyAfterMessages: 0n },
      { rekeyAfterMessages: 5 },
      { rejectAfterMessages: AEAD_REJECT_AFTER_MESSAGES + 1n },
      { rekeyAfterTimeMs: 180_000 },
      { rekeyAfterMessages: 11n, rejectAfterMessages: 10n },
      { rekeyTimeoutMs: 90_001 },
      { rejectAfterTimeMs: 15_000, rekeyAfterTimeMs: 1_000 },
      { surprise: 1 },
    ];
    for (const b of bad) {
      assert.throws(() => resolveSessionTimers(b as Partial<SessionTimerOptions>), (e: unknown) => hasCode(e, SessionCode.OPTION), JSON.stringify(b, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)));
    }
  });
});

describe('SessionTimers predicates', () => {
  it('canSend: current, younger than rejectAfterTime, under the message limit', () => {
    const { timers } = setup({ rejectAfterMessages: 10n, rekeyAfterMessages: 5n });
    const kp: Kp = { createdAtMs: 1_000, retiredAtMs: null, isInitiator: true, sent: 9n };
    assert.equal(timers.canSend(kp, 1_000 + 179_999), true);
    assert.equal(timers.canSend(kp, 1_000 + 180_000), false);
    assert.equal(timers.canSend({ ...kp, sent: 10n }, 1_000), false);
    assert.equal(timers.canSend({ ...kp, retiredAtMs: 1_000 }, 1_000), false);
  });

  it('canReceive: younger than rejectAfterTime and, once retired, within the grace', () => {
    const { timers } = setup();
    const kp: Kp = { createdAtMs: 0, retiredAtMs: null, isInitiator: false, sent: 0n };
    assert.equal(timers.canReceive(kp, 179_999), true);
    assert.equal(timers.canReceive(kp, 180_000), false);
    const retired = { ...kp, retiredAtMs: 50_000 };
    assert.equal(timers.canReceive(retired, 59_999), true);
    assert.equal(timers.canReceive(retired, 60_000), false);
  });

  it('the late rekey age is rejectAfter - keepalive - rekeyTimeout', () => {
    assert.equal(setup().timers.lateRekeyAfterMs, 165_000);
    assert.equal(setup({ rejectAfterTimeMs: 60_000, rekeyAfterTimeMs: 30_000, keepaliveTimeoutMs: 1_000, rekeyTimeoutMs: 2_000 }).timers.lateRekeyAfterMs, 57_000);
  });
});

describe('SessionTimers tick', () => {
  it('drops the previous pair when its grace ends and the current one at rejectAfterTime', () => {
    const { clock, host, timers } = setup();
    const t0 = clock.now();
    host.previous = { createdAtMs: t0 - 60_000, retiredAtMs: t0, isInitiator: true, sent: 3n };
    host.current = { createdAtMs: t0, retiredAtMs: null, isInitiator: true, sent: 0n };
    timers.start();
    clock.advance(9_500);
    assert.deepEqual(host.log, []);
    clock.advance(500);
    assert.deepEqual(host.log, ['drop:previous']);
    clock.advance(170_000);
    assert.deepEqual(host.log, ['drop:previous', 'drop:current']);
  });

  it('a previous pair also dies at its own rejectAfterTime, even inside the grace', () => {
    const { clock, host, timers } = setup();
    const t0 = clock.now();
    host.previous = { createdAtMs: t0 - 179_000, retiredAtMs: t0, isInitiator: true, sent: 0n };
    timers.start();
    clock.advance(1_000);
    assert.deepEqual(host.log, ['drop:previous']);
  });

  it('retry delays are rekeyTimeout plus a jitter bounded by rekeyTimeoutJitterMs', () => {
    for (const fill of [0x00, 0x80, 0xff]) {
      const { clock, host, timers } = setup({ tickMs: 1 }, (n) => new Uint8Array(n).fill(fill));
      timers.start();
      timers.onPacketQueued(clock.now());
      const t0 = clock.now();
      let at = -1;
      for (let i = 0; i < 6_000 && at < 0; i++) {
        clock.advance(1);
        if (host.log.includes('hs:retry')) at = clock.now() - t0;
      }
      const expected = 5_000 + Math.floor(((fill * 0x01010101) >>> 0) / 2 ** 32 * 334);
      assert.equal(at, expected, `fill ${fill}`);
      assert.ok(at >= 5_000 && at <= 5_333);
    }
  });

  it('reports one reason per attempt and re-enters safely from host callbacks', () => {
    const { clock, host, timers } = setup({ rekeyAttemptTimeMs: 20_000 });
    timers.start();
    host.reactions.first_packet = () => timers.onHandshakeStarted(clock.now());
    host.reactions.gaveUp = () => timers.onPacketQueued(clock.now()); // the owner sends again at once
    timers.onPacketQueued(clock.now());
    timers.onPacketQueued(clock.now());
    assert.deepEqual(host.log, ['hs:first_packet']);
    assert.equal(timers.handshakeInProgress, true);
    clock.advance(20_000);
    assert.deepEqual(host.log, ['hs:first_packet', 'hs:retry', 'hs:retry', 'hs:retry', 'gaveUp', 'hs:first_packet']);
    assert.equal(timers.handshakeInProgress, true, 'the re-entrant packet began a new attempt');
    timers.onKeysInstalled();
    assert.equal(timers.handshakeInProgress, false);
    clock.advance(60_000);
    assert.equal(host.log.length, 6);
  });

  it('onHandshakeStarted begins an attempt the owner started on its own', () => {
    const { clock, host, timers } = setup();
    timers.start();
    timers.onHandshakeStarted(clock.now());
    assert.equal(timers.handshakeInProgress, true);
    clock.advance(5_000);
    assert.deepEqual(host.log, ['hs:retry']);
  });

  it('an idle session sleeps until its next deadline instead of ticking twice a second', () => {
    const { clock, host, timers } = setup();
    const t0 = clock.now();
    host.current = { createdAtMs: t0, retiredAtMs: null, isInitiator: true, sent: 5n };
    const ticks = mock.method(timers, 'tick').mock;
    timers.start();
    clock.advance(179_999);
    assert.ok(ticks.callCount() <= 2, `${ticks.callCount()} ticks in 180 s of idle (one per tickMs would be 359)`);
    assert.deepEqual(host.log, []);
    clock.advance(1);
    assert.deepEqual(host.log, ['drop:current'], 'the expiry is met to the millisecond');
    assert.equal(clock.pendingCount, 0, 'no key, no attempt, nothing owed: no timer armed');
    assert.equal(timers.nextTickDelayMs(clock.now()), Infinity);
  });

  it('the first frame wakes a sleeping tick, which then runs every tickMs while data flows', () => {
    const { clock, host, timers } = setup();
    const t0 = clock.now();
    host.current = { createdAtMs: t0, retiredAtMs: null, isInitiator: true, sent: 0n };
    const ticks = mock.method(timers, 'tick').mock;
    timers.start();
    clock.advance(130_000); // idle past the rekey age: idle peers do not rekey
    assert.deepEqual(host.log, []);
    const before = ticks.callCount();
    timers.onDataSent(clock.now());
    clock.advance(500);
    assert.deepEqual(host.log, ['hs:rekey_time'], 'the send after the rekey age rekeys within a tick');
    assert.equal(ticks.callCount() - before, 1);
    for (let i = 0; i < 10; i++) {
      timers.onDataSent(clock.now());
      clock.advance(500);
    }
    assert.equal(ticks.callCount() - before, 11, 'one tick per tickMs while sending');
  });

  it('a keepalive owed while idle is sent at its deadline; new keys bring the grace forward', () => {
    const { clock, host, timers } = setup();
    const t0 = clock.now();
    host.current = { createdAtMs: t0, retiredAtMs: null, isInitiator: false, sent: 0n };
    timers.start();
    clock.advance(20_000);
    timers.onDataReceived(clock.now(), true);
    const got = clock.now();
    clock.advance(9_999);
    assert.deepEqual(host.log, []);
    clock.advance(1);
    assert.deepEqual(host.log, ['keepalive'], 'at the keepalive deadline, not at the pair expiry');
    clock.advance(30_000); // asleep again, until the expiry at t0 + 180 s
    host.previous = { ...host.current, retiredAtMs: clock.now() };
    host.current = { createdAtMs: clock.now(), retiredAtMs: null, isInitiator: true, sent: 0n };
    timers.onKeysInstalled();
    clock.advance(9_999);
    assert.deepEqual(host.log, ['keepalive']);
    clock.advance(1);
    assert.deepEqual(host.log, ['keepalive', 'drop:previous'], 'the grace ends on time although the tick slept');
    assert.ok(clock.now() - got < 180_000 - 20_000);
  });

  it('stop() cancels the tick and forgets the attempt; start() resumes with one tick', () => {
    const { clock, host, timers } = setup();
    timers.start();
    timers.onPacketQueued(clock.now());
    timers.stop();
    assert.equal(clock.pendingCount, 0);
    assert.equal(timers.handshakeInProgress, false);
    clock.advance(100_000);
    assert.deepEqual(host.log, ['hs:first_packet']);
    timers.start();
    timers.start();
    assert.equal(clock.pendingCount, 1);
  });
});
