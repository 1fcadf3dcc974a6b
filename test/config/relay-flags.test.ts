/**
 * `--relay` repeated on `up` (src/config/relay-flags.ts): the (last) value
 * without a pin is node.relay, entries with their pins are node.relays in order, and
 * every malformed value is one problem naming the flag and the value.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { relayFlagSettings } from '../../src/config/relay-flags.js';

const PIN_A = `sha256:${'0a'.repeat(32)}`;
const PIN_B = `sha256:${'0b'.repeat(32)}`;

test('one --relay without a pin is node.relay, as it always was', () => {
  assert.deepEqual(relayFlagSettings('wss://r1.example:8443'), { relay: 'wss://r1.example:8443', problems: [] });
  assert.deepEqual(relayFlagSettings(['wss://r1.example:8443']), { relay: 'wss://r1.example:8443', problems: [] });
});

test('entries with their pins become node.relays in the order given, next to a relay without a pin', () => {
  assert.deepEqual(relayFlagSettings([`wss://r2.example:8443#${PIN_A}`, `wss://r3.example:8443#${PIN_A},${PIN_B}`]), {
    relays: `wss://r2.example:8443#${PIN_A} wss://r3.example:8443#${PIN_A},${PIN_B}`,
    problems: [],
  });
  assert.deepEqual(relayFlagSettings([`wss://r2.example:8443#${PIN_A}`, 'wss://r1.example:8443']), {
    relay: 'wss://r1.example:8443',
    relays: `wss://r2.example:8443#${PIN_A}`,
    problems: [],
  });
});

test('a malformed value is a problem naming --relay, the accepted forms and the value; the good ones are kept', () => {
  const bad = ['http://r1.example:8443', `wss://r1.example:8443#sha256:abc`, `wss://r1.example:8443/path#${PIN_A}`, `wss://r1.example:8443#${PIN_A},`, 'r1.example:8443'];
  for (const v of bad) {
    const r = relayFlagSettings([v, `wss://ok.example:1#${PIN_B}`]);
    assert.equal(r.problems.length, 1, v);
    assert.match(r.problems[0]!, /^--relay: expected wss:\/\/HOST:PORT \(its pin set in --pin\) or wss:\/\/HOST:PORT#PIN\[,PIN\.\.\.\], got "/);
    assert.ok(r.problems[0]!.includes(`"${v}"`), r.problems[0]);
    assert.equal(r.relays, `wss://ok.example:1#${PIN_B}`);
  }
});

test('of two relays without a pin the last one wins, as when --relay took one value', () => {
  assert.deepEqual(relayFlagSettings(['wss://r1.example:8443', `wss://r3.example:8443#${PIN_A}`, 'wss://r2.example:8443']), {
    relay: 'wss://r2.example:8443',
    relays: `wss://r3.example:8443#${PIN_A}`,
    problems: [],
  });
});
