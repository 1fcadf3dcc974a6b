/**
 * wireDirectPaths (src/node/path/path-wiring.ts): 'want_direct' becomes a
 * connect(), 'path' an addDirectPath(), 'connect_failed' an early retry
 * failure with backoff; the undo function removes every listener. The real
 * DirectTransport must satisfy DirectPathSource (checked by the compiler).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { DirectTransport } from '../../../src/node/path/direct-transport.js';
import { PathManager } from '../../../src/node/path/path-manager.js';
import { wireDirectPaths, type DirectPathSource } from '../../../src/node/path/path-wiring.js';
import { FakeClock } from '../../../src/testkit/fake-clock.js';
import { memoryPathPair } from '../../../src/testkit/memory-path.js';

const A = new Uint8Array(32).fill(1);
const B = new Uint8Array(32).fill(2);

// Compile-time: the direct transport is a DirectPathSource.
export const transportFits = (t: DirectTransport): DirectPathSource => t;

class FakeSource extends EventEmitter {
  connects: string[] = [];
  connect(peerId: Uint8Array): void {
    this.connects.push(Buffer.from(peerId).toString('hex'));
  }
}

test('want_direct -> connect, connect_failed -> backoff from now, path -> carries data; undo removes listeners', () => {
  const clock = new FakeClock();
  const m = new PathManager({ relay: { send: () => true }, clock, random: () => 0 }, { timers: { attemptTimeoutMs: 10_000 } });
  const src = new FakeSource();
  const undo = wireDirectPaths(m, src);
  m.start();
  const outcomes: string[] = [];
  m.on('retry', (_p: Uint8Array, o: string) => outcomes.push(o));
  // a first path that dies: fallback -> want_direct after the base delay
  const first = memoryPathPair({ clock, peerA: A, peerB: B });
  src.emit('path', B, first.a);
  first.b.onFrame = (f) => { if (f[1] === 0x28) first.b.send(Uint8Array.of(...f.subarray(0, 1), 0x29, ...f.subarray(2))); };
  clock.advance(10);
  assert.equal(m.pathInfo(B)!.path, 'direct');
  first.a.close('reset');
  clock.advance(1_050); // base delay, on the 50 ms tick
  assert.equal(src.connects.length, 1, 'asked to connect after the base delay');
  src.emit('connect_failed', B, ['SM_ERR_DIRECT_CONNECT']);
  assert.deepEqual(outcomes, ['failed'], 'counted at once, not at the 10 s deadline');
  clock.advance(1_990);
  assert.equal(src.connects.length, 1);
  clock.advance(50);
  assert.equal(src.connects.length, 2, 'next attempt after 2 s, not 10 s + 2 s');
  const second = memoryPathPair({ clock, peerA: A, peerB: B });
  second.b.onFrame = (f) => { if (f[1] === 0x28) second.b.send(Uint8Array.of(...f.subarray(0, 1), 0x29, ...f.subarray(2))); };
  src.emit('path', B, second.a);
  clock.advance(10);
  assert.equal(m.pathInfo(B)!.path, 'direct');
  assert.deepEqual(outcomes, ['failed', 'ok']);
  undo();
  assert.equal(src.listenerCount('path') + src.listenerCount('connect_failed') + m.listenerCount('want_direct'), 0);
  m.stop();
});
