/**
 * The relay choice (src/node/path/relay-set.ts) on a fake clock: latency
 * order, failure -> next relay with per-relay backoff, return to a faster
 * relay with hysteresis, and pin sets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RelaySet } from '../../../src/node/path/relay-set.js';
import { FakeClock } from '../../../testkit/fake-clock.js';

const PIN_A = `sha256:${'a'.repeat(64)}`;
const PIN_B = `sha256:${'b'.repeat(64)}`;
const PIN_C = `sha256:${'c'.repeat(64)}`;
const R1 = 'wss://r1.example:7443/';
const R2 = 'wss://r2.example:7443/';
const R3 = 'wss://r3.example:7443/';

function set(clock: FakeClock, random = () => 0.5): RelaySet {
  return new RelaySet({ clock, random }, [
    { url: R1, pins: [PIN_A] },
    { url: R2, pins: [PIN_B, PIN_C] },
    { url: R3, pins: [PIN_C] },
  ], { reconnectBaseMs: 1_000, reconnectMaxMs: 8_000, failoverJitterMs: 100 });
}

test('before any probe the configured order decides; after probes, the lowest RTT, relays whose probe failed last', () => {
  const clock = new FakeClock();
  const s = set(clock);
  assert.deepEqual(s.next(), { target: { url: R1, pins: [PIN_A] }, delayMs: 0 });
  s.probed(R1, 40);
  s.probed(R2, null);
  s.probed(R3, 10);
  assert.equal(s.next().target.url, R3);
  s.probed(R3, null);
  assert.equal(s.next().target.url, R1, 'a relay whose last probe failed comes after one that answered');
});

test('a failed relay backs off on its own (half to all of a doubling ceiling); the next relay is tried after a small jitter', () => {
  const clock = new FakeClock();
  const s = set(clock, () => 0.5);
  s.probed(R1, 5); s.probed(R2, 10); s.probed(R3, 20);
  s.admitted(R1);
  assert.equal(s.current?.url, R1);
  s.failed(R1, 'SM_ERR_RELAY_DEAD');
  assert.equal(s.current, null);
  const n = s.next();
  assert.equal(n.target.url, R2, 'the next fastest');
  assert.equal(n.delayMs, 50, 'jitter: random x failoverJitterMs');
  assert.equal(s.snapshot()[0]!.state, 'down');
  s.failed(R2, 'SM_ERR_RELAY_TLS');
  assert.equal(s.next().target.url, R3);
  s.failed(R3, 'SM_ERR_RELAY_TLS');
  // All three backing off: ceiling 1000 ms, delay 750 ms each; the soonest is R1 (failed first at the same instant).
  const all = s.next();
  assert.equal(all.target.url, R1);
  assert.equal(all.delayMs, 750);
  clock.advance(750);
  assert.equal(s.next().target.url, R1, 'R1 is back in the running after its backoff, and it is the fastest');
  // A second failure of R1 doubles its ceiling (2000 ms -> 1500 ms with random 0.5).
  s.failed(R1, 'SM_ERR_RELAY_DEAD');
  const snap = s.snapshot();
  assert.equal(snap[0]!.failures, 2);
  assert.equal(s.next().target.url, R2);
  clock.advance(1_499);
  assert.notEqual(s.next().target.url, R1);
  clock.advance(1);
  assert.equal(s.next().target.url, R1);
  s.admitted(R1);
  assert.equal(s.snapshot()[0]!.failures, 0, 'an admission resets the backoff');
});

test('switches count admissions at another relay than the previous one', () => {
  const clock = new FakeClock();
  const s = set(clock);
  s.admitted(R1);
  s.failed(R1, 'SM_ERR_RELAY_DEAD');
  s.admitted(R1);
  assert.equal(s.switches, 0);
  s.failed(R1, 'SM_ERR_RELAY_DEAD');
  s.admitted(R2);
  assert.equal(s.switches, 1);
});

test('return to a faster relay only after enough good probes and a clear gain (no flapping)', () => {
  const clock = new FakeClock();
  const s = set(clock);
  s.probed(R1, 50); s.probed(R2, 10);
  s.admitted(R1);
  assert.equal(s.better(), null, 'one good probe is not enough');
  s.probed(R1, 50); s.probed(R2, 10);
  assert.equal(s.better()?.url, R2);
  // Similar latencies: no move.
  const t = set(new FakeClock());
  for (let i = 0; i < 5; i++) { t.probed(R1, 20); t.probed(R2, 17); }
  t.admitted(R1);
  assert.equal(t.better(), null, '17 ms vs 20 ms is within the 30 % band');
  // After a failover to R2, R1 coming back faster wins it back once its backoff is over.
  const u = set(new FakeClock());
  u.probed(R1, 5); u.probed(R2, 40); u.admitted(R1);
  u.failed(R1, 'SM_ERR_RELAY_DEAD');
  u.admitted(R2);
  u.probed(R1, null);
  assert.equal(u.better(), null);
  u.probed(R1, 5); u.probed(R1, 5);
  assert.equal(u.better(), null, 'still in its backoff');
});

test('return after failover once the failed relay answers again and its backoff is over', () => {
  const clock = new FakeClock();
  const s = set(clock);
  s.probed(R1, 5); s.probed(R2, 40); s.probed(R2, 40); s.admitted(R1);
  s.failed(R1, 'SM_ERR_RELAY_DEAD');
  s.admitted(R2);
  clock.advance(1_000);
  s.probed(R1, 5); s.probed(R1, 5);
  assert.equal(s.better()?.url, R1);
  s.left(R2);
  assert.equal(s.next().target.url, R1);
});

test('pin sets: every pin checked, duplicates folded, URLs normalised; bad relays are refused at construction', () => {
  const clock = new FakeClock();
  const s = new RelaySet({ clock }, [{ url: 'wss://r1.example:7443', pins: [PIN_A, PIN_B, PIN_A] }, { url: R2, pins: [PIN_C] }]);
  assert.deepEqual(s.targets[0], { url: R1, pins: [PIN_A, PIN_B] });
  const bad = (relays: unknown, re: RegExp): void => {
    assert.throws(() => new RelaySet({ clock }, relays as never), (e: Error & { code?: string }) => re.test(e.message) && typeof e.code === 'string' && e.code.startsWith('SM_ERR_'));
  };
  bad([], /at least one relay/);
  bad([{ url: R1, pins: [] }], /non-empty list of pins/);
  bad([{ url: R1, pins: ['sha256:xyz'] }], /sha256:<64 lowercase hex digits>/);
  bad([{ url: 'https://r1.example:7443', pins: [PIN_A] }], /wss:\/\/host:port/);
  bad([{ url: R1, pins: [PIN_A] }, { url: 'wss://r1.example:7443', pins: [PIN_B] }], /each relay URL once/);
  assert.throws(() => new RelaySet({ clock }, [{ url: R1, pins: [PIN_A] }], { switchRatio: 2 }), /switchRatio/);
});
