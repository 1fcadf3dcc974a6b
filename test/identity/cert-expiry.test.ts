/**
 * The certificate expiry decisions (src/identity/cert-expiry.ts) on an
 * injected clock: far future, inside the 30-day window, under a day,
 * expired; when the next check is due; and the watch's log lines at start,
 * at the thresholds and once a day, and none after stop().
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CertExpiryWatch, DEFAULT_EXPIRY_WARNING_MS, EXPIRY_RECHECK_MS, certExpiry, expiryMessage, formatTimeLeft, nextExpiryCheckDelayMs } from '../../src/identity/cert-expiry.js';
import { FakeClock } from '../../testkit/fake-clock.js';
import type { Logger, LogFields } from '../../src/util/logger.js';

const DAY = 86_400_000;
const NOW = 1_800_000_000_000;

test('certExpiry: far future is ok; within 30 days a warning; under a day or past an error', () => {
  assert.deepEqual(certExpiry('member', NOW + 365 * DAY, NOW), { cert: 'member', notAfter: new Date(NOW + 365 * DAY).toISOString(), notAfterMs: NOW + 365 * DAY, remainingMs: 365 * DAY, state: 'ok', level: 'none' });
  assert.equal(certExpiry('ca', NOW + 30 * DAY + 1, NOW).state, 'ok');
  const edge = certExpiry('ca', NOW + 30 * DAY, NOW);
  assert.equal(edge.state, 'expiring');
  assert.equal(edge.level, 'warn');
  assert.equal(certExpiry('member', NOW + 10 * DAY, NOW).level, 'warn');
  assert.equal(certExpiry('member', NOW + DAY, NOW).level, 'warn');
  const soon = certExpiry('member', NOW + DAY - 1, NOW);
  assert.deepEqual([soon.state, soon.level], ['expiring', 'error']);
  const past = certExpiry('member', NOW - 1, NOW);
  assert.deepEqual([past.state, past.level, past.remainingMs], ['expired', 'error', -1]);
  assert.equal(certExpiry('member', NOW, NOW).state, 'expired');
  // A window of 0 (a certificate renewed on its own) only ever says expired.
  assert.equal(certExpiry('tls', NOW + 60_000, NOW, 0).state, 'ok');
  assert.equal(certExpiry('tls', NOW - 60_000, NOW, 0).state, 'expired');
});

test('formatTimeLeft and expiryMessage say how long is left, or since when it ended', () => {
  assert.equal(formatTimeLeft(9 * DAY + 23 * 3_600_000 + 59 * 60_000), '9d23h left');
  assert.equal(formatTimeLeft(5 * 3_600_000 + 30 * 60_000 + 5_000), '5h30m left');
  assert.equal(formatTimeLeft(30_000), '0m left');
  assert.equal(formatTimeLeft(-2 * 3_600_000), 'expired 2h ago');
  assert.match(expiryMessage(certExpiry('ca', NOW + 20 * DAY, NOW)), /^CA certificate expires at \S+ \(20d left\); renew it$/);
  assert.match(expiryMessage(certExpiry('member', NOW - DAY, NOW)), /^member certificate expired at \S+ \(expired 1d ago\)$/);
});

test('nextExpiryCheckDelayMs: the next threshold (30 d, 7 d, 1 d, expiry) of any certificate, at most a day, at least a second', () => {
  // Far future: once a day.
  assert.equal(nextExpiryCheckDelayMs([NOW + 365 * DAY], NOW), EXPIRY_RECHECK_MS);
  // 30 days and 1 hour left: the window is crossed in an hour.
  assert.equal(nextExpiryCheckDelayMs([NOW + 30 * DAY + 3_600_000], NOW), 3_600_000);
  // 7 days and 5 minutes left: the 7-day threshold in 5 minutes.
  assert.equal(nextExpiryCheckDelayMs([NOW + 7 * DAY + 300_000], NOW), 300_000);
  // Two certificates: the earlier crossing wins.
  assert.equal(nextExpiryCheckDelayMs([NOW + 365 * DAY, NOW + DAY + 60_000], NOW), 60_000);
  // 10 minutes left: expiry itself is the next threshold.
  assert.equal(nextExpiryCheckDelayMs([NOW + 600_000], NOW), 600_000);
  // Already expired: once a day; a crossing due now is not scheduled in a tight loop.
  assert.equal(nextExpiryCheckDelayMs([NOW - DAY], NOW), EXPIRY_RECHECK_MS);
  assert.equal(nextExpiryCheckDelayMs([NOW + 7 * DAY + 10], NOW), 1_000);
  // A narrower window has no threshold above it.
  assert.equal(nextExpiryCheckDelayMs([NOW + 10 * DAY + 60_000], NOW, 10 * DAY), 60_000);
  assert.equal(DEFAULT_EXPIRY_WARNING_MS, 30 * DAY);
});

function recordingLogger(): { logger: Logger; lines: Array<{ level: string; msg: string; fields?: LogFields }> } {
  const lines: Array<{ level: string; msg: string; fields?: LogFields }> = [];
  const rec = (level: string) => (msg: string, fields?: LogFields): void => { lines.push({ level, msg, ...(fields !== undefined ? { fields } : {}) }); };
  const logger: Logger = { debug: rec('debug'), info: rec('info'), warn: rec('warn'), error: rec('error'), child: () => logger } as unknown as Logger;
  return { logger, lines };
}

test('CertExpiryWatch: silent for far-future certificates; logs at start, at each threshold and daily; an error under a day; nothing after stop()', () => {
  const clock = new FakeClock(NOW);
  const { logger, lines } = recordingLogger();
  // The member certificate ends in 31 days, the CA's in 10 years.
  const watch = new CertExpiryWatch({ clock, logger, certs: () => [{ cert: 'member', notAfterMs: NOW + 31 * DAY }, { cert: 'ca', notAfterMs: NOW + 3650 * DAY }] });
  watch.start();
  assert.equal(lines.length, 0, 'nothing to say 31 days ahead');
  clock.advance(DAY - 1);
  assert.equal(lines.length, 0);
  clock.advance(1);
  assert.equal(lines.length, 1, 'the 30-day threshold is crossed');
  assert.equal(lines[0]!.level, 'warn');
  assert.match(lines[0]!.msg, /^member certificate expires at .* \(30d left\); renew it$/);
  assert.deepEqual(lines[0]!.fields, { cert: 'member', notAfter: new Date(NOW + 31 * DAY).toISOString(), remainingSeconds: 30 * 86_400 });
  clock.advance(DAY);
  assert.equal(lines.length, 2, 'once a day inside the window');
  clock.advance(22 * DAY);
  assert.equal(lines.length, 24, 'daily until 7 days are left');
  assert.match(lines.at(-1)!.msg, /\(7d left\)/);
  clock.advance(6 * DAY);
  assert.match(lines.at(-1)!.msg, /\(1d left\)/);
  assert.equal(lines.at(-1)!.level, 'warn');
  const before = lines.length;
  clock.advance(DAY);
  assert.equal(lines.length, before + 1, 'the expiry itself is a threshold');
  assert.equal(lines.at(-1)!.level, 'error');
  assert.match(lines.at(-1)!.msg, /^member certificate expired at /);
  assert.deepEqual(watch.current().map((e) => [e.cert, e.state]), [['member', 'expired'], ['ca', 'ok']]);
  watch.stop();
  clock.advance(10 * DAY);
  assert.equal(lines.length, before + 1, 'no line after stop()');
});

test('CertExpiryWatch: a certificate already inside the window is logged at start; an expired CA is an error', () => {
  const clock = new FakeClock(NOW);
  const { logger, lines } = recordingLogger();
  const watch = new CertExpiryWatch({ clock, logger, certs: () => [{ cert: 'member', notAfterMs: NOW + 10 * DAY }, { cert: 'ca', notAfterMs: NOW - 1_000 }] });
  watch.start();
  watch.start();
  assert.deepEqual(lines.map((l) => [l.level, l.fields?.['cert']]), [['warn', 'member'], ['error', 'ca']], 'one line each, a second start() changes nothing');
  watch.stop();
});
