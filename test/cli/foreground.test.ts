/** runUntilStopped: the ready line only after the handlers, SIGHUP reloads, the first SIGTERM/SIGINT (or the service's own stop request) stops once. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { runUntilStopped } from '../../src/cli/foreground.js';
import { silentLogger } from '../../src/util/logger.js';

function fakeProcess(): EventEmitter {
  return new EventEmitter();
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} stops the service once and resolves; the ready line came after every handler was installed`, async () => {
    const signals = fakeProcess();
    const lines: string[] = [];
    let stops = 0;
    let reloads = 0;
    const done = runUntilStopped({ logger: silentLogger, signals, write: (t) => {
      for (const s of ['SIGHUP', 'SIGTERM', 'SIGINT']) assert.equal(signals.listenerCount(s), 1, `${s} handler before the ready line`);
      lines.push(t);
    } }, { readyLine: 'ready', stop: async () => { stops++; }, reload: () => { reloads++; } });
    assert.deepEqual(lines, ['ready\n']);
    signals.emit('SIGHUP', 'SIGHUP');
    signals.emit('SIGHUP', 'SIGHUP');
    assert.equal(reloads, 2);
    signals.emit(signal, signal);
    signals.emit('SIGTERM', 'SIGTERM');
    assert.equal(await done, signal);
    assert.equal(stops, 1);
    for (const s of ['SIGHUP', 'SIGTERM', 'SIGINT']) assert.equal(signals.listenerCount(s), 0, `${s} handler left behind`);
  });
}

test('a failing stop is logged, not thrown', async () => {
  const signals = fakeProcess();
  const errors: string[] = [];
  const logger: typeof silentLogger = Object.assign(Object.create(silentLogger) as typeof silentLogger, { error: (msg: string) => { errors.push(msg); } });
  const done = runUntilStopped({ logger, signals, write: () => undefined }, { readyLine: 'r', stop: () => Promise.reject(new Error('boom')) });
  assert.equal(signals.listenerCount('SIGHUP'), 0, 'no SIGHUP handler without reload');
  signals.emit('SIGINT', 'SIGINT');
  assert.equal(await done, 'SIGINT');
  assert.deepEqual(errors, ['stop failed']);
});

test('the service asking to stop (control shutdown) stops it as a first SIGTERM does, once; a later signal changes nothing', async () => {
  const signals = fakeProcess();
  let stops = 0;
  let ask!: () => void;
  const stopRequested = new Promise<void>((resolve) => { ask = resolve; });
  const done = runUntilStopped({ logger: silentLogger, signals, write: () => undefined }, { readyLine: 'r', stop: async () => { stops++; }, reload: () => undefined, stopRequested });
  ask();
  assert.equal(await done, 'shutdown');
  signals.emit('SIGTERM', 'SIGTERM');
  assert.equal(stops, 1);
  for (const s of ['SIGHUP', 'SIGTERM', 'SIGINT']) assert.equal(signals.listenerCount(s), 0, `${s} handler left behind`);
});
