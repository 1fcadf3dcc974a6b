/**
 * Automatic renewal (src/enroll/auto-renew.ts) on a fake clock: when it
 * asks (a third of the lifetime before the end), that it saves before it
 * applies, that it schedules the next renewal from the new certificate,
 * that failures retry after a tenth of what is left within bounds and stop
 * once the certificate has expired, the enrollment record's checks, and
 * that stop() leaves no timer and applies nothing late.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AutoRenew, readEnrollmentTarget, renewAtMs, retryDelayMs, RENEW_RETRY_MAX_MS, RENEW_RETRY_MIN_MS, RENEW_WAKE_MAX_MS } from '../../src/enroll/auto-renew.js';
import type { JoinResult, ServiceTarget } from '../../src/enroll/join-client.js';
import type { MemberCertificate } from '../../src/identity/certificate.js';
import { SmError } from '../../src/errors.js';
import { silentLogger } from '../../src/util/logger.js';
import { FakeClock } from '../../testkit/fake-clock.js';

const TARGET: ServiceTarget = { host: '127.0.0.1', port: 7443, pin: `sha256:${'ab'.repeat(32)}` };
const MINUTE = 60_000;

function cert(notBeforeMs: number, lifetimeMs: number, tag: number): MemberCertificate {
  return { notBeforeMs, notAfterMs: notBeforeMs + lifetimeMs, raw: Uint8Array.of(tag) } as unknown as MemberCertificate;
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

test('renewAtMs is a third of the lifetime before the end; retryDelayMs a tenth of what is left, within bounds', () => {
  assert.equal(renewAtMs({ notBeforeMs: 0, notAfterMs: 120_000 }), 80_000);
  assert.equal(renewAtMs({ notBeforeMs: 1_000, notAfterMs: 1_000 + 365 * 86_400_000 }), 1_000 + 365 * 86_400_000 - Math.floor((365 * 86_400_000) / 3));
  assert.equal(retryDelayMs(40_000), 4_000);
  assert.equal(retryDelayMs(100), RENEW_RETRY_MIN_MS);
  assert.equal(retryDelayMs(-5), RENEW_RETRY_MIN_MS);
  assert.equal(retryDelayMs(365 * 86_400_000), RENEW_RETRY_MAX_MS);
});

test('a 2-minute certificate renews at 80 s, saves before it applies, and the next renewal is due from the new certificate', async () => {
  const clock = new FakeClock();
  const t0 = clock.now();
  let current = cert(t0, 2 * MINUTE, 1);
  const renewedAt: number[] = [];
  const order: string[] = [];
  const next = [cert(t0 + 80_000, 2 * MINUTE, 2), cert(t0 + 160_000, 2 * MINUTE, 3)];
  const r = new AutoRenew({
    clock, logger: silentLogger, target: TARGET,
    current: () => current,
    renew: async (_t, c) => {
      renewedAt.push(clock.now() - t0);
      order.push(`renew ${c.raw[0]}`);
      return { certificate: next.shift()! } as JoinResult;
    },
    save: async (c) => { order.push(`save ${c.raw[0]}`); },
    apply: (raw) => {
      order.push(`apply ${raw[0]}`);
      current = cert(clock.now(), 2 * MINUTE, raw[0]!);
      return 'replaced';
    },
  });
  r.start();
  assert.equal(r.stats.nextAtMs, t0 + 80_000);
  clock.advance(79_999);
  await settle();
  assert.deepEqual(renewedAt, [], 'not before a third of the lifetime is left');
  clock.advance(1);
  await settle();
  assert.deepEqual(renewedAt, [80_000]);
  assert.equal(r.stats.nextAtMs, t0 + 160_000, 'the next renewal is due a third before the new certificate ends');
  clock.advance(80_000);
  await settle();
  assert.deepEqual(renewedAt, [80_000, 160_000]);
  assert.deepEqual(order, ['renew 1', 'save 2', 'apply 2', 'renew 2', 'save 3', 'apply 3']);
  assert.equal(r.stats.renewed, 2);
  await r.stop();
  assert.equal(clock.pendingCount, 0, 'no timer left behind');
});

test('a year-long certificate is not renewed for eight months: its timer wakes daily (setTimeout cannot wait longer than 24.8 days) and asks nothing early', async () => {
  const clock = new FakeClock();
  const t0 = clock.now();
  const DAY = 86_400_000;
  const asked: number[] = [];
  const delays: number[] = [];
  const realSchedule = clock.schedule.bind(clock);
  clock.schedule = (ms, fn) => { delays.push(ms); return realSchedule(ms, fn); };
  const r = new AutoRenew({
    clock, logger: silentLogger, target: TARGET,
    current: () => cert(t0, 365 * DAY, 1),
    renew: async () => { asked.push(clock.now() - t0); throw new SmError('SM_ERR_ENROLL_UNREACHABLE', 'not in this test'); },
    save: async () => undefined,
    apply: () => 'replaced',
  });
  r.start();
  assert.equal(r.stats.nextAtMs, renewAtMs(cert(t0, 365 * DAY, 1)));
  for (let d = 0; d < 30; d++) { clock.advance(DAY); await settle(); }
  assert.deepEqual(asked, [], 'no renewal within the first month of a year-long certificate');
  assert.ok(delays.length >= 30 && delays.every((ms) => ms <= RENEW_WAKE_MAX_MS && ms < 2 ** 31 - 1), `timer delays ${delays.slice(0, 3).join(', ')} ...`);
  clock.advance(renewAtMs(cert(t0, 365 * DAY, 1)) - clock.now());
  await settle();
  assert.equal(asked.length, 1, 'asked once when a third of the year is left');
  assert.equal(asked[0], 365 * DAY - Math.floor((365 * DAY) / 3));
  await r.stop();
});

test('a failed renewal is retried after a tenth of what is left, with its code recorded; an expired certificate stops the retries', async () => {
  const clock = new FakeClock();
  const t0 = clock.now();
  const current = cert(t0, 2 * MINUTE, 1);
  const asked: number[] = [];
  const r = new AutoRenew({
    clock, logger: silentLogger, target: TARGET,
    current: () => current,
    renew: async () => {
      asked.push(clock.now() - t0);
      throw new SmError('SM_ERR_ENROLL_UNREACHABLE', 'connection refused');
    },
    save: async () => assert.fail('nothing to save'),
    apply: () => assert.fail('nothing to apply'),
  });
  r.start();
  clock.advance(80_000);
  await settle();
  assert.deepEqual(asked, [80_000]);
  assert.deepEqual(r.stats.lastError, { code: 'SM_ERR_ENROLL_UNREACHABLE', message: 'connection refused' });
  assert.equal(r.stats.nextAtMs, t0 + 80_000 + 4_000, '40 s left: retry in 4 s');
  for (let i = 0; i < 60 && clock.now() < t0 + 2 * MINUTE + 10_000; i++) {
    clock.advance(1_000);
    await settle();
  }
  assert.ok(asked.length > 5, `retried (${asked.length} attempts)`);
  assert.ok(asked.every((t) => t < 2 * MINUTE), 'no attempt once the certificate has expired');
  assert.equal(r.stats.nextAtMs, null);
  assert.equal(clock.pendingCount, 0);
  assert.equal(r.stats.failed, asked.length);
  await r.stop();
});

test('a renewal answered after stop() is neither saved nor applied', async () => {
  const clock = new FakeClock();
  const t0 = clock.now();
  let release: (v: JoinResult) => void = () => undefined;
  const done: string[] = [];
  const r = new AutoRenew({
    clock, logger: silentLogger, target: TARGET,
    current: () => cert(t0, 2 * MINUTE, 1),
    renew: () => new Promise<JoinResult>((res) => (release = res)),
    save: async () => { done.push('save'); },
    apply: () => { done.push('apply'); return 'replaced'; },
  });
  r.start();
  clock.advance(80_000);
  await settle();
  const stopped = r.stop();
  release({ certificate: cert(t0 + 80_000, 2 * MINUTE, 2) } as JoinResult);
  await stopped;
  assert.deepEqual(done, []);
  assert.equal(clock.pendingCount, 0);
});

test('the enrollment record is read as --join writes it, and anything else is SM_ERR_ENROLL_STATE', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sm-renew-'));
  try {
    const file = join(dir, 'enrollment.json');
    await writeFile(file, JSON.stringify(TARGET));
    assert.deepEqual(await readEnrollmentTarget(file), TARGET);
    for (const bad of ['not json', '{}', JSON.stringify({ ...TARGET, port: 0 }), JSON.stringify({ ...TARGET, pin: 'sha256:zz' }), JSON.stringify({ ...TARGET, host: '' }), 'null']) {
      await writeFile(file, bad);
      await assert.rejects(readEnrollmentTarget(file), (e: Error & { code?: string }) => e.code === 'SM_ERR_ENROLL_STATE', bad);
    }
    await assert.rejects(readEnrollmentTarget(join(dir, 'missing.json')), (e: Error & { code?: string }) => e.code === 'SM_ERR_ENROLL_STATE');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
