/**
 * Timer policy of the direct WSS transport (src/node/path/direct-timers.ts)
 * and the transport's rotation timers on a fake clock: when the certificate
 * is rotated, and that a rotation that keeps failing keeps being retried.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';

import { MIN_CERT_LIFETIME_MS, ROTATE_BEFORE_EXPIRY_FRACTION, ROTATION_RETRY_BASE_MS, ROTATION_RETRY_MAX_MS, rotationDelayMs, rotationRetryDelayMs } from '../../../src/node/path/direct-timers.js';
import { DirectTransport } from '../../../src/node/path/direct-transport.js';
import { Rendezvous } from '../../../src/node/path/rendezvous/rendezvous.js';
import { createEphemeralCertificate } from '../../../src/node/path/tls-ephemeral.js';
import { FakeClock } from '../../../testkit/fake-clock.js';

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('direct timers', () => {
  it('rotates a quarter of the lifetime before expiry, at once when that is past', () => {
    const lifetime = 24 * 3_600_000;
    const now = 1_000_000;
    assert.equal(ROTATE_BEFORE_EXPIRY_FRACTION, 0.25);
    assert.equal(rotationDelayMs(now + lifetime, lifetime, now), lifetime * 0.75);
    assert.equal(rotationDelayMs(now + 1_000, lifetime, now), 0);
    assert.equal(rotationDelayMs(now + 4_000, 4_000, now), 3_000);
  });

  it('retries a failed rotation after a second, then backs off to a minute', () => {
    assert.equal(ROTATION_RETRY_BASE_MS, 1_000);
    assert.ok(ROTATION_RETRY_BASE_MS <= MIN_CERT_LIFETIME_MS);
    assert.deepEqual([1, 2, 3, 4].map(rotationRetryDelayMs), [1_000, 2_000, 4_000, 8_000]);
    assert.equal(rotationRetryDelayMs(100), ROTATION_RETRY_MAX_MS);
  });
});

describe('DirectTransport certificate rotation on a fake clock', () => {
  /** A transport whose certificate issuing fails `failures()` more times before it works again. */
  async function rotating(lifetimeMs: number): Promise<{ t: DirectTransport; clock: FakeClock; fail(n: number): void; issued(): number }> {
    const clock = new FakeClock(Date.now());
    let failing = 0;
    let issued = 0;
    const t = new DirectTransport(
      {
        pathAuthKey: () => null,
        rendezvous: new Rendezvous(),
        clock,
        createCertificate: async (nowMs, life) => {
          if (failing > 0) {
            failing--;
            throw new Error('key generation failed');
          }
          issued++;
          return createEphemeralCertificate(nowMs, life);
        },
      },
      { listenHost: '127.0.0.1', certLifetimeMs: lifetimeMs },
    );
    await t.start();
    return { t, clock, fail: (n) => { failing = n; }, issued: () => issued };
  }

  /** Advance the fake clock in steps of `stepMs`, letting the (real) certificate work finish between steps, until `done`. */
  async function advanceUntil(clock: FakeClock, stepMs: number, steps: number, done: () => boolean): Promise<void> {
    for (let i = 0; i < steps && !done(); i++) {
      clock.advance(stepMs);
      for (let j = 0; j < 50 && !done(); j++) await settle();
    }
  }

  it('rotates at three quarters of the lifetime: a new pin and a pin_changed', async () => {
    const { t, clock, issued } = await rotating(60_000);
    try {
      const first = t.fingerprint!;
      let changed = 0;
      t.on('pin_changed', () => changed++);
      clock.advance(44_999);
      await settle();
      assert.equal(issued(), 1, 'not before its time');
      await advanceUntil(clock, 1, 1, () => changed > 0);
      for (let j = 0; j < 200 && changed === 0; j++) await new Promise((r) => setTimeout(r, 5));
      assert.equal(changed, 1);
      assert.notDeepEqual(t.fingerprint, first);
    } finally {
      await t.stop();
    }
  });

  it('a rotation that fails again and again is retried until it succeeds', async () => {
    const { t, clock, fail } = await rotating(600_000);
    try {
      const first = t.fingerprint!;
      let changed = 0;
      t.on('pin_changed', () => changed++);
      fail(4);
      clock.advance(450_000);
      // Up to ten simulated minutes, a second at a time, with real time for each new key.
      for (let i = 0; i < 600 && changed === 0; i++) {
        for (let j = 0; j < 20 && changed === 0; j++) await settle();
        if (changed === 0) clock.advance(1_000);
      }
      for (let j = 0; j < 200 && changed === 0; j++) await new Promise((r) => setTimeout(r, 5));
      assert.equal(changed, 1, 'the certificate was rotated after the failures');
      assert.notDeepEqual(t.fingerprint, first);
    } finally {
      await t.stop();
    }
  });

  it('a failed rotate() leaves a retry scheduled', async () => {
    const { t, clock, fail } = await rotating(600_000);
    try {
      let changed = 0;
      t.on('pin_changed', () => changed++);
      fail(1);
      await assert.rejects(t.rotate(), /key generation failed/);
      for (let i = 0; i < 120 && changed === 0; i++) {
        clock.advance(1_000);
        for (let j = 0; j < 20 && changed === 0; j++) await settle();
      }
      for (let j = 0; j < 200 && changed === 0; j++) await new Promise((r) => setTimeout(r, 5));
      assert.equal(changed, 1, 'rotated by the retry, long before the scheduled rotation');
    } finally {
      await t.stop();
    }
  });
});
