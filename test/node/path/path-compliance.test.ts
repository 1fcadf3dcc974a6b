/**
 * The Path compliance suite (testkit/path-compliance.ts) against the
 * memory paths (direct and relay kinds) and the relay path over a memory
 * relay. The direct transports run the same suite in their own tests.
 */
import { RelayPath } from '../../../src/node/path/relay-path.js';
import { FakeClock } from '../../../testkit/fake-clock.js';
import { memoryPathPair } from '../../../testkit/memory-path.js';
import { MemoryRelay } from '../../../testkit/memory-relay.js';
import { runPathCompliance } from '../../../testkit/path-compliance.js';

const A = new Uint8Array(32).fill(0xa1);
const B = new Uint8Array(32).fill(0xb2);

runPathCompliance('MemoryPath (direct)', () => {
  const clock = new FakeClock();
  const { a, b, link } = memoryPathPair({ clock, peerA: A, peerB: B }, { latencyMs: 5 });
  return {
    a, b, closePropagates: true,
    flush: () => clock.advance(1_000),
    saturate: () => { link.capacity = 0; },
    cleanup: () => { a.close('cleanup'); b.close('cleanup'); },
  };
});

runPathCompliance('MemoryPath (relay kind, zero latency)', () => {
  const clock = new FakeClock();
  const { a, b, link } = memoryPathPair({ clock, peerA: A, peerB: B }, { kind: 'relay', remoteOfA: 'relay', remoteOfB: 'relay' });
  return {
    a, b, closePropagates: true,
    flush: () => clock.advance(0),
    saturate: () => { link.capacity = 0; },
    cleanup: () => { a.close('cleanup'); },
  };
});

runPathCompliance('RelayPath over a memory relay', () => {
  const relay = new MemoryRelay();
  let blocked = false;
  const toA = relay.transportFor(A);
  const linkA = { send: (dst: Uint8Array, f: Uint8Array) => !blocked && toA.send(dst, f) };
  const a = new RelayPath({ link: linkA, peerId: B });
  const b = new RelayPath({ link: relay.transportFor(B), peerId: A });
  relay.attach(A, (_src, f) => a.deliver(f));
  relay.attach(B, (_src, f) => b.deliver(f));
  return {
    a, b, closePropagates: false,
    flush: () => { relay.pump(); },
    saturate: () => { blocked = true; },
    cleanup: () => { relay.detach(A); relay.detach(B); },
  };
});
