/**
 * The daemon's netcheck bound (src/node/path/netcheck-runner.ts): one run
 * at a time however many ask, a report reused for NETCHECK_CACHE_MS, a
 * `fresh` request measuring again only NETCHECK_MIN_INTERVAL_MS after the
 * last run started, and a failed run passed to its waiters and not kept.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FILTERING_NOTE, type NetcheckReport } from '../../../src/node/path/netcheck-probe.js';
import { NETCHECK_CACHE_MS, NETCHECK_MIN_INTERVAL_MS, NetcheckRunner } from '../../../src/node/path/netcheck-runner.js';
import { FakeClock } from '../../../testkit/fake-clock.js';

function report(latencyMs: number): NetcheckReport {
  return { udp: true, localPort: 4000, stun: [], reflexive: ['192.0.2.1:4000'], mapping: 'endpoint-independent', filtering: 'unknown', filteringNote: FILTERING_NOTE, relays: [{ url: 'wss://relay.example:443', ok: true, latencyMs }], preferredRelay: 'wss://relay.example:443' };
}

/** A measure() whose runs the test finishes by hand. */
function gated(): { measure: () => Promise<NetcheckReport>; started: number; finish(r: NetcheckReport | Error): void } {
  const pending: Array<(r: NetcheckReport | Error) => void> = [];
  const g = {
    started: 0,
    measure: (): Promise<NetcheckReport> => new Promise((resolve, reject) => {
      g.started++;
      pending.push((r) => (r instanceof Error ? reject(r) : resolve(r)));
    }),
    finish: (r: NetcheckReport | Error): void => { pending.shift()!(r); },
  };
  return g;
}

test('requests while a run is in progress share it: one measurement, every waiter gets its report', async () => {
  const clock = new FakeClock(1_000);
  const g = gated();
  const runner = new NetcheckRunner({ clock, measure: g.measure });
  const answers = Array.from({ length: 20 }, (_, i) => runner.run(i % 2 === 0 ? { fresh: true } : {}));
  assert.equal(g.started, 1);
  clock.advance(2_000);
  g.finish(report(12));
  const got = await Promise.all(answers);
  assert.equal(g.started, 1);
  assert.deepEqual(got.map((r) => r.relays[0]), got.map(() => ({ url: 'wss://relay.example:443', ok: true, latencyMs: 12 })));
  assert.equal(got[0]!.cached, false);
  assert.ok(got.slice(1).every((r) => r.cached));
  assert.equal(got[0]!.measuredAtMs, 3_000);
});

test('a report is reused for NETCHECK_CACHE_MS; fresh measures again only NETCHECK_MIN_INTERVAL_MS after the last start', async () => {
  const clock = new FakeClock(0);
  const g = gated();
  const runner = new NetcheckRunner({ clock, measure: g.measure });
  const first = runner.run();
  g.finish(report(10));
  await first;
  clock.advance(NETCHECK_CACHE_MS - 1);
  const again = await runner.run();
  assert.equal(again.cached, true);
  assert.equal(g.started, 1);
  assert.equal((await runner.run({ fresh: true })).cached, true, 'fresh too soon after the last run is the last report');
  clock.advance(1);
  const stale = runner.run();
  assert.equal(g.started, 2, 'past the cache a new run starts');
  g.finish(report(20));
  assert.equal(((await stale).relays[0] as { latencyMs: number }).latencyMs, 20);
  clock.advance(NETCHECK_MIN_INTERVAL_MS);
  const fresh = runner.run({ fresh: true });
  assert.equal(g.started, 3);
  g.finish(report(30));
  assert.equal((await fresh).cached, false);
  assert.equal(runner.runs, 3);
});

test('a run that fails reaches every waiter and is not kept: the next request measures again', async () => {
  const clock = new FakeClock(0);
  const g = gated();
  const runner = new NetcheckRunner({ clock, measure: g.measure });
  const a = runner.run();
  const b = runner.run();
  g.finish(new Error('no socket'));
  await assert.rejects(a, /no socket/);
  await assert.rejects(b, /no socket/);
  const c = runner.run();
  assert.equal(g.started, 2);
  g.finish(report(5));
  assert.equal((await c).cached, false);
});
