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
import { combineDirectSources, wireDirectPaths, type DirectPathSource } from '../../../src/node/path/path-wiring.js';
import type { Path } from '../../../src/node/path/path.js';
import type { UdpTransport } from '../../../src/node/path/udp-transport.js';
import { FakeClock } from '../../../testkit/fake-clock.js';
import { memoryPathPair } from '../../../testkit/memory-path.js';

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

// ---- combineDirectSources: WSS and UDP as one source (issue 5)

// Compile-time: the UDP transport is a DirectPathSource too.
export const udpTransportFits = (t: UdpTransport): DirectPathSource => t;

function combined(n: number): { sources: FakeSource[]; c: ReturnType<typeof combineDirectSources>; paths: [string, Path][]; failed: string[] } {
  const sources = Array.from({ length: n }, () => new FakeSource());
  const c = combineDirectSources(sources);
  const paths: [string, Path][] = [];
  const failed: string[] = [];
  c.on('path', (p: Uint8Array, path: Path) => paths.push([Buffer.from(p).toString('hex'), path]));
  c.on('connect_failed', (p: Uint8Array) => failed.push(Buffer.from(p).toString('hex')));
  return { sources, c, paths, failed };
}

const hexB = Buffer.from(B).toString('hex');

test('combineDirectSources: connect() reaches every source; paths from any source are handed over', () => {
  const { sources, c, paths } = combined(2);
  c.connect(B);
  assert.deepEqual(sources.map((s) => s.connects), [[hexB], [hexB]]);
  const clock = new FakeClock();
  const p1 = memoryPathPair({ clock, peerA: A, peerB: B }).a;
  const p2 = memoryPathPair({ clock, peerA: A, peerB: B }).a;
  sources[1]!.emit('path', B, p1);
  sources[0]!.emit('path', B, p2);
  assert.deepEqual(paths, [[hexB, p1], [hexB, p2]]);
});

test('combineDirectSources: connect_failed only once every source failed since the last connect()', () => {
  const { sources, c, failed } = combined(2);
  sources[0]!.emit('connect_failed', B, ['x']);
  sources[1]!.emit('connect_failed', B, ['x']);
  assert.deepEqual(failed, [], 'failures with no attempt under way are ignored');
  c.connect(B);
  sources[0]!.emit('connect_failed', B, ['SM_ERR_DIRECT_CONNECT']);
  sources[0]!.emit('connect_failed', B, ['SM_ERR_DIRECT_CONNECT']);
  assert.deepEqual(failed, [], 'one source failing twice is still one source');
  sources[1]!.emit('connect_failed', A, ['SM_ERR_UDP_PUNCH_TIMEOUT']);
  assert.deepEqual(failed, [], 'another peer does not count');
  sources[1]!.emit('connect_failed', B, ['SM_ERR_UDP_PUNCH_TIMEOUT']);
  assert.deepEqual(failed, [hexB]);
  sources[0]!.emit('connect_failed', B, ['x']);
  sources[1]!.emit('connect_failed', B, ['x']);
  assert.deepEqual(failed, [hexB], 'reported once per attempt');
  // A new connect() starts a new count: a failure from before it does not carry over.
  c.connect(B);
  sources[0]!.emit('connect_failed', B, ['x']);
  c.connect(B);
  sources[1]!.emit('connect_failed', B, ['x']);
  assert.deepEqual(failed, [hexB]);
  sources[0]!.emit('connect_failed', B, ['x']);
  assert.deepEqual(failed, [hexB, hexB]);
});

test('combineDirectSources: a path from any source suppresses the failure of that attempt', () => {
  const { sources, c, failed, paths } = combined(2);
  const clock = new FakeClock();
  c.connect(B);
  sources[0]!.emit('connect_failed', B, ['SM_ERR_DIRECT_CONNECT']); // WSS refused behind NAT
  sources[1]!.emit('path', B, memoryPathPair({ clock, peerA: A, peerB: B }).a); // UDP punched through
  sources[1]!.emit('connect_failed', B, ['x']);
  assert.deepEqual(failed, []);
  assert.equal(paths.length, 1);
  c.connect(B);
  sources[1]!.emit('path', B, memoryPathPair({ clock, peerA: A, peerB: B }).a);
  sources[0]!.emit('connect_failed', B, ['x']);
  sources[1]!.emit('connect_failed', B, ['x']);
  assert.deepEqual(failed, [], 'the path came first, the later failures are ignored');
});

test('combineDirectSources: detach removes every listener it added', () => {
  const { sources, c, failed } = combined(2);
  c.detach();
  assert.equal(sources.reduce((s, x) => s + x.listenerCount('path') + x.listenerCount('connect_failed'), 0), 0);
  c.connect(B);
  for (const s of sources) s.emit('connect_failed', B, ['x']);
  assert.deepEqual(failed, []);
});

test('the policy gate: a refused peer gets no attempt (a failed one, backed off) and its paths are closed; closeDirectPaths falls back to the relay', () => {
  const clock = new FakeClock();
  const m = new PathManager({ relay: { send: () => true }, clock, random: () => 0 }, { timers: { attemptTimeoutMs: 10_000 } });
  const src = new FakeSource();
  let allowed = true;
  const undo = wireDirectPaths(m, src, () => allowed);
  m.start();
  const outcomes: string[] = [];
  m.on('retry', (_p: Uint8Array, o: string) => outcomes.push(o));
  const echo = (pair: ReturnType<typeof memoryPathPair>): void => {
    pair.b.onFrame = (f) => { if (f[1] === 0x28) pair.b.send(Uint8Array.of(...f.subarray(0, 1), 0x29, ...f.subarray(2))); };
  };
  const first = memoryPathPair({ clock, peerA: A, peerB: B });
  echo(first);
  src.emit('path', B, first.a);
  clock.advance(10);
  assert.equal(m.pathInfo(B)!.path, 'direct');

  allowed = false; // a newer policy keeps A and B apart
  assert.equal(m.closeDirectPaths(B, 'policy'), 1);
  assert.equal(first.a.closed, true);
  assert.equal(m.pathInfo(B)!.path, 'relay', 'traffic goes on over the relay');
  clock.advance(1_050);
  assert.equal(src.connects.length, 0, 'no attempt for a peer the gate refuses');
  assert.deepEqual(outcomes, ['failed'], 'the skipped attempt counts as failed, so retries back off');
  const sneaky = memoryPathPair({ clock, peerA: A, peerB: B });
  echo(sneaky);
  src.emit('path', B, sneaky.a);
  assert.equal(sneaky.a.closed, true, 'a path the peer opened anyway is closed');
  assert.equal(m.pathInfo(B)!.directPaths, 0);
  undo();
  m.stop();
});
