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
