/** CoalescingPass (src/util/coalescing-pass.ts): one pass in flight and at most one waiting, whatever the request rate. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CoalescingPass } from '../../src/util/coalescing-pass.js';

test('a burst of requests during a pass costs one more pass, not one per request', async () => {
  let release: () => void = () => {};
  let running = 0;
  let maxRunning = 0;
  const p = new CoalescingPass(async () => {
    running++;
    maxRunning = Math.max(maxRunning, running);
    await new Promise<void>((r) => { release = r; });
    running--;
  }, (err) => assert.fail(err));
  p.request();
  for (let i = 0; i < 1_000; i++) p.request();
  release();
  await new Promise((r) => setImmediate(r));
  release();
  await p.settled();
  assert.equal(p.passes, 2);
  assert.equal(maxRunning, 1, 'never two passes at once');
});

test('cancelWaiting drops the waiting pass; a failing pass is reported and the next request runs again', async () => {
  const errors: string[] = [];
  let n = 0;
  let release: () => void = () => {};
  const p = new CoalescingPass(async () => {
    n++;
    if (n === 1) await new Promise<void>((r) => { release = r; });
    if (n === 2) throw new Error('boom');
  }, (err) => errors.push(err.message));
  p.request();
  p.request();
  p.cancelWaiting();
  release();
  await p.settled();
  assert.equal(n, 1, 'the waiting pass was dropped');
  p.request();
  await p.settled();
  assert.deepEqual(errors, ['boom']);
  p.request();
  await p.settled();
  assert.equal(n, 3);
});
