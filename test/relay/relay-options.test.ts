import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_CERT_CACHE_ENTRIES, DEFAULT_MAX_PENDING_PER_ADDRESS, RELAY_DEFAULTS, resolveRelayOptions, sweepIntervalMs, MIN_SWEEP_INTERVAL_MS, MAX_SWEEP_INTERVAL_MS } from '../../src/relay/relay-options.js';
import { MAX_FRAME_BYTES } from '../../src/wire/constants.js';

const hasCode = (code: string, re?: RegExp) => (e: unknown) => {
  const err = e as { code?: string; message?: string };
  return err.code === code && (re === undefined || re.test(err.message ?? ''));
};

test('defaults are frozen and match the documented values', () => {
  assert.ok(Object.isFrozen(RELAY_DEFAULTS));
  assert.equal(RELAY_DEFAULTS.heartbeatMs, 30_000);
  assert.equal(RELAY_DEFAULTS.idleTimeoutMs, 90_000);
  assert.equal(RELAY_DEFAULTS.handshakeTimeoutMs, 10_000);
  assert.equal(RELAY_DEFAULTS.maxClients, 10_000);
  assert.equal(RELAY_DEFAULTS.maxFrameBytes, MAX_FRAME_BYTES);
  assert.equal(RELAY_DEFAULTS.sendQueueBytes, 4 * 1024 * 1024);
});

test('merges over defaults and freezes the result', () => {
  const o = resolveRelayOptions({ port: 0, heartbeatMs: 100, idleTimeoutMs: 300 });
  assert.equal(o.port, 0);
  assert.equal(o.heartbeatMs, 100);
  assert.equal(o.maxClients, RELAY_DEFAULTS.maxClients);
  assert.ok(Object.isFrozen(o));
  assert.throws(() => {
    (o as { port: number }).port = 1;
  });
});

test('undefined values fall back to defaults', () => {
  assert.equal(resolveRelayOptions({ maxClients: undefined }).maxClients, RELAY_DEFAULTS.maxClients);
});

test('unknown keys are rejected by name', () => {
  assert.throws(() => resolveRelayOptions({ maxClient: 5 } as never), hasCode('SM_ERR_CONFIG_UNKNOWN_OPTION', /maxClient/));
});

test('bad values name the option and the value', () => {
  assert.throws(() => resolveRelayOptions({ port: 70_000 }), hasCode('SM_ERR_CONFIG_VALUE', /port.*70000/));
  assert.throws(() => resolveRelayOptions({ maxFrameBytes: MAX_FRAME_BYTES + 1 }), hasCode('SM_ERR_CONFIG_VALUE', /maxFrameBytes/));
  assert.throws(() => resolveRelayOptions({ maxFrameBytes: 10 }), hasCode('SM_ERR_CONFIG_VALUE', /maxFrameBytes/));
  assert.throws(() => resolveRelayOptions({ maxClients: 1.5 }), hasCode('SM_ERR_CONFIG_VALUE', /maxClients/));
  assert.throws(() => resolveRelayOptions({ host: '' }), hasCode('SM_ERR_CONFIG_VALUE', /host/));
  assert.throws(() => resolveRelayOptions({ heartbeatMs: '5' as unknown as number }), hasCode('SM_ERR_CONFIG_VALUE', /heartbeatMs/));
});

test('idle timeout must exceed the heartbeat', () => {
  assert.throws(() => resolveRelayOptions({ heartbeatMs: 1_000, idleTimeoutMs: 1_000 }), hasCode('SM_ERR_CONFIG_VALUE', /idleTimeoutMs/));
});

test('the byte burst can hold one largest frame', () => {
  assert.throws(() => resolveRelayOptions({ rateByteBurst: 1_000 }), hasCode('SM_ERR_CONFIG_VALUE', /rateByteBurst/));
});

test('the steady sweep period follows the heartbeat and idle timeout within bounds, not the short-lived deadlines', () => {
  // Defaults: a quarter of the 30 s heartbeat.
  assert.equal(sweepIntervalMs(resolveRelayOptions({})), 7_500);
  // Handshake and close-grace deadlines are met by sweeps armed at them (relay-server.ts), not by a finer period.
  assert.equal(sweepIntervalMs(resolveRelayOptions({ closeGraceMs: 10, handshakeTimeoutMs: 100 })), 7_500);
  assert.equal(sweepIntervalMs(resolveRelayOptions({ heartbeatMs: 600_000, idleTimeoutMs: 900_000 })), MAX_SWEEP_INTERVAL_MS);
  assert.equal(sweepIntervalMs(resolveRelayOptions({ heartbeatMs: 200, idleTimeoutMs: 800, handshakeTimeoutMs: 400 })), 50);
  assert.equal(sweepIntervalMs(resolveRelayOptions({ heartbeatMs: 1, idleTimeoutMs: 2, handshakeTimeoutMs: 1 })), MIN_SWEEP_INTERVAL_MS);
});

test('the per-address pending share is at most maxPending and follows a small maxPending down when unset; the certificate cache may be off', () => {
  assert.equal(resolveRelayOptions().maxPendingPerAddress, DEFAULT_MAX_PENDING_PER_ADDRESS);
  assert.equal(resolveRelayOptions({ maxPending: 8 }).maxPendingPerAddress, 8);
  assert.equal(resolveRelayOptions({ maxPending: 8, maxPendingPerAddress: 2 }).maxPendingPerAddress, 2);
  assert.throws(() => resolveRelayOptions({ maxPending: 8, maxPendingPerAddress: 9 }), hasCode('SM_ERR_CONFIG_VALUE', /maxPendingPerAddress.*\[1, 8\].*9/));
  assert.throws(() => resolveRelayOptions({ maxPendingPerAddress: 0 }), hasCode('SM_ERR_CONFIG_VALUE', /maxPendingPerAddress/));
  assert.equal(resolveRelayOptions({ certCacheEntries: 0 }).certCacheEntries, 0);
  assert.equal(resolveRelayOptions().certCacheEntries, DEFAULT_CERT_CACHE_ENTRIES);
  assert.throws(() => resolveRelayOptions({ certCacheEntries: -1 }), hasCode('SM_ERR_CONFIG_VALUE', /certCacheEntries/));
});
