/**
 * Path timer policy (src/node/path/path-timers.ts) on the FakeClock with a
 * recording host: option validation, backoff arithmetic, and what one tick
 * decides — probes, dead paths, drains, retries, attempt timeouts, the
 * backoff reset after a stable period.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_PATH_TIMERS, PathTimers, resolvePathTimers,
  type ActivityTimes, type DirectTimes, type PathTimerHost, type RetryTimes, type TimedDirect, type TimedPeer,
} from '../../../src/node/path/path-timers.js';
import { FakeClock } from '../../../testkit/fake-clock.js';

class D implements TimedDirect {
  closed = false;
  constructor(readonly name: string, readonly times: DirectTimes) {}
}
class P implements TimedPeer<D> {
  list: D[] = [];
  constructor(readonly retry: RetryTimes, readonly activity: ActivityTimes) {}
  directs(): Iterable<D> {
    return this.list;
  }
}

function rig(options: Parameters<typeof resolvePathTimers>[0] = {}, random = () => 0) {
  const clock = new FakeClock();
  const log: string[] = [];
  const peers: P[] = [];
  const carrier = { better: false };
  const host: PathTimerHost<P, D> = {
    timedPeers: () => peers,
    sendProbe: (_p, d) => log.push(`probe ${d.name}@${clock.now() - t0}`),
    directDead: (_p, d) => { d.closed = true; log.push(`dead ${d.name}@${clock.now() - t0}`); },
    reselect: () => {},
    drained: (_p, d) => { d.closed = true; log.push(`drained ${d.name}@${clock.now() - t0}`); },
    wantDirect: () => log.push(`want@${clock.now() - t0}`),
    attemptOutcome: (_p, o) => log.push(`${o}@${clock.now() - t0}`),
    wantsBetterCarrier: () => carrier.better,
    wantUpgrade: () => log.push(`upgrade@${clock.now() - t0}`),
  };
  const timers = new PathTimers<P, D>({ clock, host, random }, options);
  const t0 = clock.now();
  const peer = new P(timers.newRetryTimes(), timers.newActivity(clock.now()));
  peers.push(peer);
  timers.start();
  return { clock, log, timers, peer, t0, carrier, addDirect(name: string): D {
    const d = new D(name, timers.newDirectTimes(clock.now()));
    peer.list.push(d);
    timers.onDirectAdded(peer, d);
    return d;
  } };
}

test('defaults are frozen, validated, and make fallback complete within 2 s of a cut', () => {
  assert.ok(Object.isFrozen(DEFAULT_PATH_TIMERS));
  const o = resolvePathTimers();
  assert.ok(Object.isFrozen(o));
  assert.ok(o.directTrustMs > 2 * o.probeIntervalMs, 'trust window is a bit over two probe intervals');
  assert.ok(o.directDeadMs >= 3 * o.probeIntervalMs, 'three probes are missed before a path is dead');
  assert.ok(o.directDeadMs + o.tickMs < 2_000, 'dead detection + one tick < 2 s');
  assert.equal(o.retryMaxMs, 60_000);
});

test('bad options throw PathCode.OPTION naming the option', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ probeIntervalMs: 0 }, /probeIntervalMs/],
    [{ probeIntervalMs: 1.5 }, /probeIntervalMs/],
    [{ tickMs: '50' }, /tickMs/],
    [{ nope: 1 }, /nope/],
    [{ directTrustMs: 500 }, /directTrustMs/],
    [{ directDeadMs: 1_000 }, /directDeadMs/],
    [{ retryMaxMs: 10, retryBaseMs: 100 }, /retryMaxMs/],
    [{ retryJitterRatio: 1 }, /retryJitterRatio/],
    [{ tickMs: 600 }, /tickMs/],
  ];
  for (const [opt, re] of cases) {
    assert.throws(() => resolvePathTimers(opt as never), (e: unknown) => (e as { code?: string }).code === 'SM_ERR_PATH_OPTION' && re.test((e as Error).message), JSON.stringify(opt));
  }
  assert.equal(resolvePathTimers({ probeIntervalMs: undefined }).probeIntervalMs, 500, 'undefined keeps the default');
});

test('retry delay: exponential from the base, capped, jitter only shortens it', () => {
  const noJitter = rig({}, () => 0).timers;
  assert.deepEqual([0, 1, 2, 3, 5, 6, 7, 100].map((f) => noJitter.retryDelayMs(f)), [1_000, 2_000, 4_000, 8_000, 32_000, 60_000, 60_000, 60_000]);
  const maxJitter = rig({}, () => 0.999999).timers;
  assert.equal(maxJitter.retryDelayMs(0), 800);
  assert.equal(maxJitter.retryDelayMs(10), 48_000);
  for (let f = 0; f < 12; f++) {
    const d = rig({}, Math.random).timers.retryDelayMs(f);
    const full = Math.min(60_000, 1_000 * 2 ** f);
    assert.ok(d > full * 0.8 - 1 && d <= full, `attempt ${f}: ${d}`);
  }
});

test('a new direct path is probed at once, then every interval', () => {
  const r = rig();
  r.addDirect('x');
  r.clock.advance(1_100);
  assert.deepEqual(r.log, ['probe x@0', 'probe x@500', 'probe x@1000']);
});

test('no answer for directDeadMs: dead on the first tick past it (three probes missed)', () => {
  const r = rig();
  const d = r.addDirect('x');
  r.clock.advance(300);
  r.timers.onProbeAnswered(r.peer, d, r.clock.now()); // last proof of life at 300
  r.clock.advance(3_000);
  const dead = r.log.find((l) => l.startsWith('dead'));
  assert.equal(dead, 'dead x@1900', '300 + 1600, on a 50 ms tick');
  assert.deepEqual(
    r.log.filter((l) => l.startsWith('probe')),
    ['probe x@0', 'probe x@500', 'probe x@900', 'probe x@1000', 'probe x@1100', 'probe x@1200', 'probe x@1300', 'probe x@1400', 'probe x@1500', 'probe x@1600', 'probe x@1700', 'probe x@1800'],
    'the interval until the answer is late (300 + 500 + 100), then every 100 ms; none after death',
  );
});

test('a late answer makes probes come every LATE_PROBE_INTERVAL_MS until one is answered, then the interval again', () => {
  const r = rig();
  const d = r.addDirect('x');
  r.clock.advance(10);
  r.timers.onProbeAnswered(r.peer, d, r.clock.now()); // answered at 10
  r.clock.advance(590); // 600: the probe sent at 500 is not answered yet, but not late either
  assert.deepEqual(r.log, ['probe x@0', 'probe x@500']);
  r.clock.advance(300); // late from 610 on: 650, 750, 850 (one tick after 610, then every 100 ms)
  assert.deepEqual(r.log.slice(2), ['probe x@650', 'probe x@750', 'probe x@850']);
  r.timers.onProbeAnswered(r.peer, d, r.clock.now()); // answered at 900: the normal cadence again
  r.clock.advance(500);
  assert.deepEqual(r.log.slice(5), ['probe x@1350'], '500 ms after the last probe, not 100');
  assert.equal(r.log.filter((l) => l.startsWith('dead')).length, 0);
});

test('a path never answered is probed at the interval (an attempt, not a late answer)', () => {
  const r = rig();
  r.addDirect('x');
  r.clock.advance(1_550);
  assert.deepEqual(r.log.filter((l) => l.startsWith('probe')), ['probe x@0', 'probe x@500', 'probe x@1000', 'probe x@1500']);
});

test('answered probes keep a path alive indefinitely', () => {
  const r = rig();
  const d = r.addDirect('x');
  for (let i = 0; i < 100; i++) {
    r.clock.advance(500);
    r.timers.onProbeAnswered(r.peer, d, r.clock.now());
  }
  assert.equal(r.log.filter((l) => l.startsWith('dead')).length, 0);
});

test('a path we left drains for drainMs, still probed (it stays a candidate), then is handed back', () => {
  const r = rig();
  const d = r.addDirect('x');
  r.timers.onLeft(d, r.clock.now());
  r.clock.advance(400);
  r.timers.onProbeAnswered(r.peer, d, r.clock.now());
  r.clock.advance(5_000);
  const late = [1100, 1200, 1300, 1400, 1500, 1600, 1700, 1800, 1900].map((t) => `probe x@${t}`); // answer late from 1000 on
  assert.deepEqual(r.log, ['probe x@0', 'probe x@500', 'probe x@1000', ...late, 'drained x@2000']);
});

test('a path selected again before its drain ended is not closed', () => {
  const r = rig({ drainMs: 1_000 });
  const d = r.addDirect('x');
  r.timers.onLeft(d, r.clock.now());
  r.clock.advance(300);
  r.timers.onRejoined(d);
  for (let i = 0; i < 10; i++) {
    r.clock.advance(300);
    r.timers.onProbeAnswered(r.peer, d, r.clock.now());
  }
  assert.equal(r.log.filter((l) => l.startsWith('drained')).length, 0);
});

test('fallback schedules a retry with backoff; a silent attempt fails and backs off further', () => {
  const r = rig();
  r.timers.onFallback(r.peer, r.clock.now());
  r.timers.onFallback(r.peer, r.clock.now()); // a second report does not double-schedule
  r.clock.advance(1_000 + 10_000 + 2_000 + 10_000 + 4_000 + 10);
  assert.deepEqual(r.log, ['want@1000', 'failed@11000', 'want@13000', 'failed@23000', 'want@27000']);
  assert.equal(r.peer.retry.failures, 3);
});

test('an answered probe ends a running attempt as ok and cancels pending retries', () => {
  const r = rig();
  r.timers.onFallback(r.peer, r.clock.now());
  r.clock.advance(1_000);
  const d = r.addDirect('y');
  r.clock.advance(20);
  r.timers.onProbeAnswered(r.peer, d, r.clock.now());
  r.timers.onSelected(r.peer, true, r.clock.now());
  r.clock.advance(20_000);
  assert.deepEqual(r.log.filter((l) => /^(want|ok|failed)/.test(l)), ['want@1000', 'ok@1020']);
});

test('the backoff resets only after a direct path stayed selected for stableMs', () => {
  const r = rig();
  r.peer.retry.failures = 5;
  r.timers.onSelected(r.peer, true, r.clock.now());
  r.clock.advance(29_000);
  assert.equal(r.peer.retry.failures, 5);
  r.clock.advance(1_100);
  assert.equal(r.peer.retry.failures, 0);
  r.timers.onSelected(r.peer, false, r.clock.now());
  assert.ok(Number.isNaN(r.peer.retry.directSinceMs));
});

test('on a direct path of a worse carrier, a better one is tried for with the retry backoff, and no more once it is there', () => {
  const r = rig();
  r.timers.onSelected(r.peer, true, r.clock.now());
  r.clock.advance(5_000);
  assert.equal(r.log.length, 0, 'nothing while the selected carrier is the best to be had');
  r.carrier.better = true;
  const from = r.clock.now();
  r.clock.advance(7_600);
  const at = r.log.filter((l) => l.startsWith('upgrade@')).map((l) => Number(l.slice(8)) - (from - r.t0));
  // The first is scheduled on the first tick that sees the chance (an idle tick sleeps up to a probe interval).
  assert.equal(at.length, 3, String(at));
  assert.ok(at[0]! >= 1_000 && at[0]! <= 1_500, `first try at ${at[0]}`);
  assert.deepEqual([at[1]! - at[0]!, at[2]! - at[1]!], [2_000, 4_000], 'then each base x 2^tries after the one before');
  assert.equal(r.peer.retry.upgrades, 3);
  r.carrier.better = false;
  r.clock.advance(60_000);
  assert.equal(r.log.filter((l) => l.startsWith('upgrade@')).length, 3, 'a path of the better carrier came: no more tries');
  assert.equal(r.peer.retry.upgrades, 0, 'and the backoff starts over next time');
  r.carrier.better = true;
  r.clock.advance(1_500);
  assert.equal(r.log.filter((l) => l.startsWith('upgrade@')).length, 4);
});

test('the better-carrier tries are capped at retryMaxMs and stop on the relay (the fallback retries take over)', () => {
  const r = rig({ retryBaseMs: 1_000, retryMaxMs: 4_000 });
  r.carrier.better = true;
  r.timers.onSelected(r.peer, true, r.clock.now());
  r.clock.advance(30_000);
  const at = r.log.filter((l) => l.startsWith('upgrade@')).map((l) => Number(l.slice(8)));
  const gaps = at.slice(1).map((t, i) => t - at[i]!);
  assert.ok(gaps.length >= 5 && gaps.slice(2).every((g) => g === 4_000), `capped gaps: ${gaps.join(', ')}`);
  r.timers.onSelected(r.peer, false, r.clock.now());
  const before = r.log.length;
  r.clock.advance(30_000);
  assert.equal(r.log.slice(before).filter((l) => l.startsWith('upgrade@')).length, 0, 'on the relay: no better-carrier tries');
  assert.equal(r.peer.retry.upgrades, 0);
});

test('stop() ends the tick; start() is idempotent', () => {
  const r = rig();
  r.timers.start();
  r.addDirect('x');
  r.timers.stop();
  r.clock.advance(10_000);
  assert.deepEqual(r.log, ['probe x@0']);
  assert.equal(r.clock.pendingCount, 0);
});

test('idle: with every probe answered the tick sleeps until the next probe is due; an unanswered probe brings the 50 ms tick back, and a cut dies on schedule', () => {
  const clock = new FakeClock();
  const t0 = clock.now();
  let ticks = 0;
  let probes = 0;
  let answer = true;
  let lastAck = 0;
  const dead: number[] = [];
  const host: PathTimerHost<P, D> = {
    timedPeers: () => [peer],
    sendProbe: (p, d) => {
      probes++;
      if (!answer) return;
      lastAck = clock.now() - t0;
      timers.onProbeAnswered(p, d, clock.now());
    },
    directDead: (_p, d) => { d.closed = true; dead.push(clock.now() - t0); },
    reselect: () => { ticks++; },
    drained: () => {},
    wantDirect: () => {},
    attemptOutcome: () => {},
    wantsBetterCarrier: () => false,
    wantUpgrade: () => {},
  };
  const timers: PathTimers<P, D> = new PathTimers<P, D>({ clock, host }, { quietAfterMs: 60_000 }); // busy throughout
  const peer = new P(timers.newRetryTimes(), timers.newActivity(clock.now()));
  timers.start();
  const d = new D('x', timers.newDirectTimes(clock.now()));
  peer.list.push(d);
  timers.onDirectAdded(peer, d);
  clock.advance(10_000);
  assert.ok(probes >= 20 && probes <= 21, `probed twice a second as ever: ${probes}`);
  assert.ok(ticks <= 22, `about one tick per probe, not twenty a second: ${ticks} in 10 s`);
  assert.equal(timers.nextTickDelayMs(clock.now()) <= DEFAULT_PATH_TIMERS.probeIntervalMs, true);

  // The link is cut: the next probe goes unanswered, and from then on the tick runs every 50 ms.
  answer = false;
  const before = ticks;
  clock.advance(2_000);
  assert.equal(dead.length, 1);
  assert.ok(dead[0]! - lastAck <= DEFAULT_PATH_TIMERS.directDeadMs + DEFAULT_PATH_TIMERS.tickMs, `dead ${dead[0]! - lastAck} ms after the last answer`);
  assert.ok(ticks - before >= 20, `fast ticks while unanswered: ${ticks - before}`);
  timers.stop();
});
