/** src/web/ui/peer-history.ts: samples and rates per snapshot, path changes as events, and the page's bounds on what it keeps. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HISTORY_POINTS, MAX_PATH_EVENTS, MAX_TRACKED_PEERS, PeerHistory, type PeerSample } from '../../../src/web/ui/peer-history.js';

const sample = (peerId: string, path: 'relay' | 'direct', bytesIn: number, bytesOut: number, rttMs: number | null = null): PeerSample =>
  ({ peerId, path, carrier: path === 'direct' ? 'udp' : 'relay', remote: path === 'direct' ? '172.31.0.12:4000' : 'relay', rttMs, stats: { bytesIn, bytesOut } });

test('rates are bytes per second since the previous snapshot; the first has none, nor does a counter that went back (new session)', () => {
  const h = new PeerHistory();
  h.record(10_000, [sample('b', 'relay', 100, 50)]);
  h.record(12_000, [sample('b', 'relay', 2_100, 1_050)]);
  h.record(13_000, [sample('b', 'relay', 10, 10)]);
  const s = h.get('b')!;
  assert.deepEqual(s.t, [10, 12, 13]);
  assert.deepEqual(s.inBps, [null, 1_000, null]);
  assert.deepEqual(s.outBps, [null, 500, null]);
});

test('a path change is an event with the old and new path; the same path again is none', () => {
  const h = new PeerHistory();
  h.record(1_000, [sample('b', 'relay', 0, 0)]);
  h.record(2_000, [sample('b', 'direct', 0, 0, 2)]);
  h.record(3_000, [sample('b', 'direct', 0, 0, 3)]);
  h.record(4_000, [sample('b', 'relay', 0, 0)]);
  assert.deepEqual(h.get('b')!.events, [
    { t: 2, from: 'relay', to: 'direct udp 172.31.0.12:4000' },
    { t: 4, from: 'direct udp 172.31.0.12:4000', to: 'relay' },
  ]);
  assert.deepEqual(h.get('b')!.rttMs, [null, 2, 3, null]);
});

test(`bounded: ${HISTORY_POINTS} samples and ${MAX_PATH_EVENTS} events per peer, ${MAX_TRACKED_PEERS} peers (the longest unseen forgotten)`, () => {
  const h = new PeerHistory();
  for (let i = 0; i < HISTORY_POINTS + 50; i++) h.record(i * 1_000, [sample('b', i % 2 === 0 ? 'relay' : 'direct', i, i)]);
  const s = h.get('b')!;
  assert.equal(s.t.length, HISTORY_POINTS);
  assert.equal(s.inBps.length, HISTORY_POINTS);
  assert.equal(s.t[0], 50);
  assert.equal(s.events.length, MAX_PATH_EVENTS);
  for (let p = 0; p < MAX_TRACKED_PEERS + 5; p++) h.record(1_000_000 + p * 1_000, [sample(`p${p}`, 'relay', 0, 0)]);
  assert.equal(h.get('b'), undefined, 'the peer unseen for longest went first');
  assert.equal(h.get('p4'), undefined);
  assert.notEqual(h.get('p5'), undefined);
  assert.notEqual(h.get(`p${MAX_TRACKED_PEERS + 4}`), undefined);
});
