import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SourceLimit, sourceKey } from '../../src/util/source-limit.js';

test('sources: an IPv4 address, its IPv4-mapped form, and one IPv6 /64 for every address inside it', () => {
  assert.equal(sourceKey('192.0.2.7'), '192.0.2.7');
  assert.equal(sourceKey('::ffff:192.0.2.7'), '192.0.2.7');
  assert.equal(sourceKey('2001:db8:1:2::1'), '2001:db8:1:2::/64');
  assert.equal(sourceKey('2001:db8:1:2:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
  assert.notEqual(sourceKey('2001:db8:1:3::1'), sourceKey('2001:db8:1:2::1'));
  assert.equal(sourceKey(undefined), '?');
});

test('a source holds at most its share of pending connections; passed ones free their slot; empty sources are forgotten', () => {
  const l = new SourceLimit(2);
  assert.equal(l.tryOpen('a'), true);
  assert.equal(l.tryOpen('a'), true);
  assert.equal(l.tryOpen('a'), false);
  assert.equal(l.tryOpen('b'), true);
  l.passed('a');
  assert.equal(l.pending('a'), 1);
  assert.equal(l.tryOpen('a'), true);
  l.closed('a');
  l.closed('a');
  l.closed('a');
  l.passedClosed('a');
  l.closed('b');
  assert.equal(l.sources, 0);
  l.closed('never-seen');
  assert.equal(l.sources, 0);
});
