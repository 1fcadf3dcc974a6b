/**
 * Unit tests for src/node/cert-fetcher.ts with a fake link and a manual
 * clock: pacing (at most maxOutstanding in flight), the digest check, the
 * cache (no refetch after a re-admission), retries bounded by
 * MAX_FETCH_ATTEMPTS, timeouts, and the bounds on what a relay can make a
 * node keep (announced members, requests in flight, cached certificates).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sha256, toHex } from '../../src/crypto/bytes.js';
import { CertFetcher, MAX_FETCH_ATTEMPTS } from '../../src/node/cert-fetcher.js';
import type { Clock, TimerHandle } from '../../src/util/clock.js';

class ManualClock implements Clock {
  t = 1_000_000;
  timers: Array<{ at: number; fn: () => void; done: boolean }> = [];
  now(): number {
    return this.t;
  }
  schedule(delayMs: number, fn: () => void): TimerHandle {
    const timer = { at: this.t + delayMs, fn, done: false };
    this.timers.push(timer);
    return { cancel: () => { timer.done = true; } };
  }
  advance(ms: number): void {
    this.t += ms;
    for (const timer of this.timers.filter((x) => !x.done && x.at <= this.t)) {
      timer.done = true;
      timer.fn();
    }
  }
}

const id = (n: number): Uint8Array => { const b = new Uint8Array(32); new DataView(b.buffer).setUint32(0, n); return b; };
const certOf = (n: number, version = 0): Uint8Array => Uint8Array.from([n & 0xff, (n >> 8) & 0xff, version, 1, 2, 3]);

function setup(options: ConstructorParameters<typeof CertFetcher>[1] = {}) {
  const clock = new ManualClock();
  const requests: string[] = [];
  const accepted: Array<{ peer: string; cert: Uint8Array }> = [];
  const downs: string[] = [];
  let linkUp = true;
  let refuse = false;
  const fetcher = new CertFetcher({
    request: (peerId) => { if (!linkUp) return false; requests.push(toHex(peerId)); return true; },
    accept: (cert, _since, peerId) => { if (refuse) return null; accepted.push({ peer: toHex(peerId), cert }); return {}; },
    down: (peerId) => downs.push(toHex(peerId)),
    clock,
  }, { maxOutstanding: 4, timeoutMs: 1_000, ...options });
  return { clock, fetcher, requests, accepted, downs, setLink: (up: boolean) => { linkUp = up; }, setRefuse: (r: boolean) => { refuse = r; } };
}

test('announced members are fetched with at most maxOutstanding requests in flight, in order, and listed when the digest matches', () => {
  const { fetcher, requests, accepted } = setup();
  for (let n = 1; n <= 10; n++) fetcher.up(id(n), sha256(certOf(n)), 5);
  assert.deepEqual(requests, [1, 2, 3, 4].map((n) => toHex(id(n))));
  assert.equal(fetcher.outstanding, 4);
  fetcher.cert(id(1), certOf(1));
  assert.equal(requests.length, 5, 'an answer frees a slot');
  for (let n = 2; n <= 10; n++) fetcher.cert(id(n), certOf(n));
  assert.equal(accepted.length, 10);
  assert.equal(fetcher.fetched, 10);
  assert.equal(fetcher.outstanding, 0);
});

test('a certificate whose digest is not the announced one is dropped, asked again, and given up after MAX_FETCH_ATTEMPTS', () => {
  const { fetcher, requests, accepted } = setup();
  fetcher.up(id(1), sha256(certOf(1)), 5);
  for (let i = 0; i < MAX_FETCH_ATTEMPTS; i++) fetcher.cert(id(1), certOf(99));
  assert.equal(fetcher.drops.digest_mismatch, MAX_FETCH_ATTEMPTS);
  assert.equal(requests.length, MAX_FETCH_ATTEMPTS, 'no request past the limit');
  assert.equal(accepted.length, 0);
  // Announced again (a new admission): tried afresh.
  fetcher.up(id(1), sha256(certOf(1)), 6);
  fetcher.cert(id(1), certOf(1));
  assert.equal(accepted.length, 1);
});

test('unsolicited answers and answers for members no longer announced are dropped and counted', () => {
  const { fetcher, accepted, downs } = setup();
  fetcher.cert(id(7), certOf(7));
  assert.equal(fetcher.drops.unsolicited, 1);
  fetcher.up(id(1), sha256(certOf(1)), 5);
  fetcher.down(id(1));
  assert.deepEqual(downs, [], 'never listed: nothing to tell the directory');
  fetcher.cert(id(1), certOf(1));
  assert.equal(fetcher.drops.not_announced, 1);
  assert.equal(accepted.length, 0);
});

test('a cached certificate is not fetched again after a re-admission; a refused one leaves the cache', () => {
  const { fetcher, requests, accepted, downs, setRefuse } = setup();
  fetcher.up(id(1), sha256(certOf(1)), 5);
  fetcher.cert(id(1), certOf(1));
  fetcher.down(id(1));
  assert.deepEqual(downs, [toHex(id(1))]);
  fetcher.reset();
  fetcher.up(id(1), sha256(certOf(1)), 6);
  assert.equal(requests.length, 1, 'served from the cache');
  assert.equal(accepted.length, 2);
  // A new certificate of the same member (renewal) is fetched.
  fetcher.up(id(1), sha256(certOf(1, 1)), 7);
  assert.equal(requests.length, 2);
  setRefuse(true);
  fetcher.cert(id(1), certOf(1, 1));
  setRefuse(false);
  fetcher.up(id(1), sha256(certOf(1, 1)), 8);
  assert.equal(requests.length, 3, 'a certificate the directory refused is not served from the cache');
});

test('unanswered requests time out, are counted and asked again; a link that refuses is retried by the timer', () => {
  const { clock, fetcher, requests, setLink } = setup();
  fetcher.up(id(1), sha256(certOf(1)), 5);
  clock.advance(1_001);
  assert.equal(fetcher.drops.timeout, 1);
  assert.equal(requests.length, 2);
  setLink(false);
  clock.advance(1_001);
  assert.equal(fetcher.drops.not_sent, 1);
  setLink(true);
  clock.advance(1_001);
  assert.equal(requests.length, 3);
  clock.advance(1_001);
  assert.equal(requests.length, 3, `given up after ${MAX_FETCH_ATTEMPTS} attempts`);
  fetcher.stop();
});

test('what a relay can make a node keep is bounded: announced members, requests in flight, cached certificates', () => {
  const { fetcher, requests } = setup({ maxMembers: 100, cacheEntries: 10 });
  for (let n = 0; n < 10_000; n++) fetcher.up(id(n), sha256(certOf(n)), 5);
  assert.equal(fetcher.drops.too_many, 9_900);
  assert.equal(fetcher.outstanding, 4);
  // Answer everything: the cache keeps only the last 10.
  for (let i = 0; i < 100; i++) {
    const hex = requests[i] as string;
    const n = Number.parseInt(hex.slice(0, 8), 16);
    fetcher.cert(id(n), certOf(n));
  }
  assert.equal(fetcher.fetched, 100);
  fetcher.reset();
  const before = requests.length;
  for (let n = 0; n < 100; n++) fetcher.up(id(n), sha256(certOf(n)), 6);
  assert.equal(requests.length - before, 4, 'all but the cached ones are fetched again, 4 at a time');
});

test('a new digest announced while a request is in flight is asked for again at once; one delivery, at most two requests per peer', () => {
  // The relay drops a request for a member between its connections (a renewal): the first request may never be answered.
  const { clock, fetcher, requests, accepted } = setup();
  const peer = toHex(id(1));
  fetcher.up(id(1), sha256(certOf(1)), 5);
  fetcher.up(id(1), sha256(certOf(1, 1)), 6);
  assert.deepEqual(requests, [peer, peer], 'asked again without waiting for the deadline');
  assert.equal(fetcher.outstanding, 1, 'one peer in flight');
  fetcher.cert(id(1), certOf(1, 1));
  assert.deepEqual(accepted.map((a) => a.cert), [certOf(1, 1)]);
  clock.advance(1_001);
  assert.equal(requests.length, 2, 'the first request unanswered: nothing asked after the delivery');
  assert.equal(fetcher.drops.timeout, 1);

  // Both answered, older bytes first: the mismatch is counted and not asked for again, the newer delivered once.
  fetcher.up(id(2), sha256(certOf(2)), 5);
  fetcher.up(id(2), sha256(certOf(2, 1)), 6);
  fetcher.cert(id(2), certOf(2));
  fetcher.cert(id(2), certOf(2, 1));
  // Both answered with the newer bytes: delivered once, nothing counted.
  fetcher.up(id(3), sha256(certOf(3)), 5);
  fetcher.up(id(3), sha256(certOf(3, 1)), 6);
  fetcher.cert(id(3), certOf(3, 1));
  fetcher.cert(id(3), certOf(3, 1));
  assert.equal(fetcher.drops.digest_mismatch, 1);
  assert.equal(fetcher.drops.unsolicited, 0);
  assert.equal(requests.length, 6);
  assert.deepEqual(accepted.slice(1).map((a) => [toHex(a.cert)]), [[toHex(certOf(2, 1))], [toHex(certOf(3, 1))]]);
  assert.equal(fetcher.outstanding, 0);

  // A relay flipping the digest cannot make us ask more than twice at once.
  for (let v = 0; v < 100; v++) fetcher.up(id(4), sha256(certOf(4, v)), 5);
  assert.equal(requests.filter((r) => r === toHex(id(4))).length, 2);
  fetcher.stop();
});
