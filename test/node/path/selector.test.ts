/**
 * The pure path selector (src/node/path/selector.ts): one test per rule of
 * its header, with the default policy numbers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isTrusted, selectPath, type Candidate, type SelectorPolicy } from '../../../src/node/path/selector.js';

const policy: SelectorPolicy = { trustWindowMs: 1_200, minDwellMs: 3_000, rttMarginMs: 5, rttMarginRatio: 0.2 };
const relay: Candidate = { id: 'relay-1', kind: 'relay', alive: true, rttMs: null, sinceAckMs: null, ageMs: 60_000 };
function direct(id: string, over: Partial<Candidate> = {}): Candidate {
  return { id, kind: 'direct', alive: true, rttMs: 20, sinceAckMs: 100, ageMs: 10_000, ...over };
}
const long = 60_000;

test('rule 1: trusted = alive direct answered within the window (bounds included)', () => {
  assert.equal(isTrusted(direct('d'), policy), true);
  assert.equal(isTrusted(direct('d', { sinceAckMs: 1_200 }), policy), true, 'at the window edge');
  assert.equal(isTrusted(direct('d', { sinceAckMs: 1_201 }), policy), false);
  assert.equal(isTrusted(direct('d', { sinceAckMs: null }), policy), false, 'never answered');
  assert.equal(isTrusted(direct('d', { alive: false }), policy), false);
  assert.equal(isTrusted(relay, policy), false, 'the relay is the floor, not trusted');
});

test('initial selection: relay when no direct is trusted, else the trusted direct', () => {
  assert.deepEqual(selectPath([relay], null, policy), { primary: 'relay-1', mirror: null, reason: 'initial' });
  assert.equal(selectPath([relay, direct('d', { sinceAckMs: null })], null, policy).primary, 'relay-1');
  assert.equal(selectPath([relay, direct('d')], null, policy).primary, 'd');
  assert.deepEqual(selectPath([], null, policy), { primary: null, mirror: null, reason: 'none' });
});

test('a trusted direct beats the relay at once (no dwell for an upgrade)', () => {
  const s = selectPath([relay, direct('d')], { id: 'relay-1', dwellMs: 0 }, policy);
  assert.deepEqual(s, { primary: 'd', mirror: null, reason: 'upgrade' });
});

test('an untrusted direct does not move traffic off the relay', () => {
  const s = selectPath([relay, direct('d', { sinceAckMs: null })], { id: 'relay-1', dwellMs: long }, policy);
  assert.deepEqual(s, { primary: 'relay-1', mirror: null, reason: 'keep' });
  const lapsed = selectPath([relay, direct('d', { sinceAckMs: 5_000 })], { id: 'relay-1', dwellMs: long }, policy);
  assert.equal(lapsed.primary, 'relay-1');
});

test('a trusted current direct is kept', () => {
  assert.deepEqual(selectPath([relay, direct('d')], { id: 'd', dwellMs: 10 }, policy), { primary: 'd', mirror: null, reason: 'keep' });
});

test('trust lapsed: keep the direct path and mirror on the relay until a probe answers', () => {
  const s = selectPath([relay, direct('d', { sinceAckMs: 1_300 })], { id: 'd', dwellMs: long }, policy);
  assert.deepEqual(s, { primary: 'd', mirror: 'relay-1', reason: 'trust_lapsed' });
  const answered = selectPath([relay, direct('d', { sinceAckMs: 0 })], { id: 'd', dwellMs: long }, policy);
  assert.deepEqual(answered, { primary: 'd', mirror: null, reason: 'keep' });
});

test('trust lapsed with another trusted direct: move to it, ignoring the dwell', () => {
  const s = selectPath([relay, direct('d1', { sinceAckMs: 1_500 }), direct('d2', { rttMs: 50 })], { id: 'd1', dwellMs: 0 }, policy);
  assert.deepEqual(s, { primary: 'd2', mirror: null, reason: 'fallback' });
});

test('current direct dead or vanished: fall back to the relay at once', () => {
  const dead = selectPath([relay, direct('d', { alive: false })], { id: 'd', dwellMs: 0 }, policy);
  assert.deepEqual(dead, { primary: 'relay-1', mirror: null, reason: 'fallback' });
  const gone = selectPath([relay], { id: 'd', dwellMs: 0 }, policy);
  assert.deepEqual(gone, { primary: 'relay-1', mirror: null, reason: 'fallback' });
  const toOther = selectPath([relay, direct('d', { alive: false }), direct('e', { rttMs: 90 })], { id: 'd', dwellMs: 0 }, policy);
  assert.equal(toOther.primary, 'e', 'another trusted direct is preferred to the relay');
  assert.deepEqual(selectPath([direct('d', { alive: false })], { id: 'd', dwellMs: 0 }, policy), { primary: null, mirror: null, reason: 'none' });
});

test('hysteresis: a better direct path needs the margin', () => {
  const cur = { id: 'd1', dwellMs: long };
  // current 20 ms: margin = max(5, 4) = 5 ms; 15 is not enough, 14.9 is.
  assert.equal(selectPath([relay, direct('d1'), direct('d2', { rttMs: 15 })], cur, policy).primary, 'd1');
  assert.deepEqual(selectPath([relay, direct('d1'), direct('d2', { rttMs: 14.9 })], cur, policy), { primary: 'd2', mirror: null, reason: 'better_rtt' });
  // current 100 ms: the ratio dominates, margin 20 ms.
  const slow = direct('d1', { rttMs: 100 });
  assert.equal(selectPath([relay, slow, direct('d2', { rttMs: 81 })], cur, policy).primary, 'd1');
  assert.equal(selectPath([relay, slow, direct('d2', { rttMs: 79 })], cur, policy).primary, 'd2');
});

test('hysteresis: a better direct path needs the minimum dwell', () => {
  const cands = [relay, direct('d1', { rttMs: 100 }), direct('d2', { rttMs: 10 })];
  assert.equal(selectPath(cands, { id: 'd1', dwellMs: 2_999 }, policy).primary, 'd1');
  assert.equal(selectPath(cands, { id: 'd1', dwellMs: 3_000 }, policy).primary, 'd2');
});

test('an untrusted better-RTT path never wins', () => {
  const cands = [relay, direct('d1', { rttMs: 100 }), direct('d2', { rttMs: 1, sinceAckMs: 2_000 })];
  assert.equal(selectPath(cands, { id: 'd1', dwellMs: long }, policy).primary, 'd1');
});

test('ties are deterministic: lowest RTT, then the longest established, then the smaller id', () => {
  const a = direct('b-path', { rttMs: 10, ageMs: 5_000 });
  const b = direct('a-path', { rttMs: 10, ageMs: 9_000 });
  assert.equal(selectPath([relay, a, b], null, policy).primary, 'a-path');
  assert.equal(selectPath([relay, b, a], null, policy).primary, 'a-path', 'order of candidates does not matter');
  const c = direct('z', { rttMs: 10, ageMs: 9_000 });
  assert.equal(selectPath([relay, c, b], null, policy).primary, 'a-path');
});

test('pure: inputs are not modified and equal inputs give equal outputs', () => {
  const cands = [relay, direct('d1'), direct('d2', { rttMs: 3 })];
  const copy = structuredClone(cands);
  const r1 = selectPath(cands, { id: 'd1', dwellMs: long }, policy);
  const r2 = selectPath(cands, { id: 'd1', dwellMs: long }, policy);
  assert.deepEqual(r1, r2);
  assert.deepEqual(cands, copy);
});

// ---- carrier rank (UDP 0 before WSS 1), issue 5

test('carrier rank: at equal RTT (within rttMarginMs) a UDP path beats a WSS one, whatever the age or id', () => {
  const wss = direct('a-wss', { rank: 1, rttMs: 20, ageMs: 60_000 });
  const udp = direct('z-udp', { rank: 0, rttMs: 25, ageMs: 1_000 });
  assert.equal(selectPath([relay, wss, udp], null, policy).primary, 'z-udp');
  assert.equal(selectPath([relay, udp, wss], null, policy).primary, 'z-udp', 'order of candidates does not matter');
  assert.equal(selectPath([relay, wss, direct('z-udp', { rank: 0, rttMs: 25.1 })], null, policy).primary, 'a-wss', 'beyond the margin RTT decides');
  assert.equal(selectPath([relay, direct('w', { rttMs: 20 }), direct('u', { rank: 0, rttMs: 20 })], null, policy).primary, 'u', 'rank defaults to 0 (ties then go by age and id)');
});

test('carrier rank: a much faster WSS path beats a slower UDP one', () => {
  const wss = direct('wss', { rank: 1, rttMs: 5 });
  const udp = direct('udp', { rank: 0, rttMs: 40 });
  assert.equal(selectPath([relay, udp, wss], null, policy).primary, 'wss');
  assert.deepEqual(selectPath([relay, udp, wss], { id: 'udp', dwellMs: long }, policy), { primary: 'wss', mirror: null, reason: 'better_rtt' });
  assert.deepEqual(selectPath([relay, udp, wss], { id: 'wss', dwellMs: long }, policy), { primary: 'wss', mirror: null, reason: 'keep' });
});

test('carrier rank: WSS -> UDP at near-equal RTT waits for the dwell, then moves as better_carrier', () => {
  const cands = [relay, direct('wss', { rank: 1, rttMs: 20 }), direct('udp', { rank: 0, rttMs: 24 })];
  assert.deepEqual(selectPath(cands, { id: 'wss', dwellMs: policy.minDwellMs - 1 }, policy), { primary: 'wss', mirror: null, reason: 'keep' });
  assert.deepEqual(selectPath(cands, { id: 'wss', dwellMs: policy.minDwellMs }, policy), { primary: 'udp', mirror: null, reason: 'better_carrier' });
  // A UDP path slower than the current WSS one by more than the margin does not take over.
  const slower = [relay, direct('wss', { rank: 1, rttMs: 20 }), direct('udp', { rank: 0, rttMs: 25.5 })];
  assert.equal(selectPath(slower, { id: 'wss', dwellMs: long }, policy).reason, 'keep');
  // Nor does an untrusted one.
  const untrusted = [relay, direct('wss', { rank: 1, rttMs: 20 }), direct('udp', { rank: 0, rttMs: 10, sinceAckMs: null })];
  assert.equal(selectPath(untrusted, { id: 'wss', dwellMs: long }, policy).primary, 'wss');
});

test('carrier rank: no flapping between near-equal paths, same rank or not, under jittering RTTs', () => {
  let seed = 7;
  const jitter = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) & 0x7fff_ffff;
    return (seed % 401) / 100 - 2; // -2..+2 ms
  };
  for (const [r1, r2, expected] of [[0, 0, 0], [1, 1, 0], [0, 1, 0], [1, 0, 1]] as const) {
    let current = { id: 'p1', dwellMs: long };
    let switches = 0;
    for (let i = 0; i < 500; i++) {
      const cands = [relay, direct('p1', { rank: r1, rttMs: 20 + jitter() }), direct('p2', { rank: r2, rttMs: 20 + jitter() })];
      const s = selectPath(cands, current, policy);
      if (s.primary !== current.id) {
        switches++;
        current = { id: s.primary!, dwellMs: 0 };
      } else {
        current = { id: current.id, dwellMs: current.dwellMs + 1_000 };
      }
    }
    assert.equal(switches, expected, `ranks ${r1}/${r2}: ${switches} switches (WSS -> UDP once, never back)`);
  }
  // A UDP path currently selected is kept when a WSS path is faster by less than the margin.
  const cands = [relay, direct('udp', { rank: 0, rttMs: 20 }), direct('wss', { rank: 1, rttMs: 16 })];
  assert.deepEqual(selectPath(cands, { id: 'udp', dwellMs: long }, policy), { primary: 'udp', mirror: null, reason: 'keep' });
});

// ---- load cannot overturn the carrier rank (issue 12)

test('a busy UDP path is not left for a WSS path on RTT alone, however much faster the WSS one looks', () => {
  const udp = direct('udp', { rank: 0, carrierRank: 0, rttMs: 60, busy: true });
  const wss = direct('wss', { rank: 2, carrierRank: 1, rttMs: 3 });
  assert.deepEqual(selectPath([relay, udp, wss], { id: 'udp', dwellMs: long }, policy), { primary: 'udp', mirror: null, reason: 'keep' });
  // The same paths while the UDP one is idle: the RTT rule applies as before.
  const idle = { ...udp, busy: false };
  assert.deepEqual(selectPath([relay, idle, wss], { id: 'udp', dwellMs: long }, policy), { primary: 'wss', mirror: null, reason: 'better_rtt' });
});

test('a busy path still moves to a clearly faster path of the same or a better carrier', () => {
  const udp1 = direct('udp1', { rank: 1, carrierRank: 0, rttMs: 60, busy: true });
  const wss = direct('wss', { rank: 2, carrierRank: 1, rttMs: 3 });
  const udp2 = direct('udp2', { rank: 1, carrierRank: 0, rttMs: 10 });
  assert.deepEqual(selectPath([relay, udp1, wss, udp2], { id: 'udp1', dwellMs: long }, policy), { primary: 'udp2', mirror: null, reason: 'better_rtt' });
  const busyWss = direct('wss', { rank: 2, carrierRank: 1, rttMs: 60, busy: true });
  const fastUdp = direct('udp', { rank: 0, carrierRank: 0, rttMs: 3 });
  assert.deepEqual(selectPath([relay, busyWss, fastUdp], { id: 'wss', dwellMs: long }, policy), { primary: 'udp', mirror: null, reason: 'better_rtt' });
});

test('a busy path is still left by the forced moves: death and lapsed trust', () => {
  const wss = direct('wss', { rank: 2, carrierRank: 1, rttMs: 3 });
  assert.deepEqual(selectPath([relay, direct('udp', { carrierRank: 0, busy: true, alive: false }), wss], { id: 'udp', dwellMs: long }, policy), { primary: 'wss', mirror: null, reason: 'fallback' });
  assert.deepEqual(selectPath([relay, direct('udp', { carrierRank: 0, busy: true, sinceAckMs: 5_000 }), wss], { id: 'udp', dwellMs: long }, policy), { primary: 'wss', mirror: null, reason: 'fallback' });
});

test('rule 6: a redundant direct is never the best, and a current redundant one is left at once for the best trusted direct', () => {
  // Never chosen, however fast or old.
  assert.equal(selectPath([relay, direct('dup', { redundant: true, rttMs: 1, ageMs: long }), direct('keep', { rttMs: 20 })], null, policy).primary, 'keep');
  assert.equal(selectPath([relay, direct('dup', { redundant: true })], { id: 'relay-1', dwellMs: long }, policy).primary, 'relay-1');
  // The current one is left without the dwell, busy or not.
  for (const busy of [false, true]) {
    const s = selectPath([relay, direct('dup', { redundant: true, busy }), direct('keep', { rttMs: 25 })], { id: 'dup', dwellMs: 0 }, policy);
    assert.deepEqual(s, { primary: 'keep', mirror: null, reason: 'redundant' });
  }
  // With nothing trusted to go to, it is kept (rules 2-3 as for any direct).
  const alone = selectPath([relay, direct('dup', { redundant: true }), direct('keep', { sinceAckMs: null })], { id: 'dup', dwellMs: 0 }, policy);
  assert.deepEqual(alone, { primary: 'dup', mirror: null, reason: 'keep' });
});
