/**
 * PathManager in the in-memory lab (testkit/path-manager-lab.ts), on the
 * FakeClock: start on the relay, migrate to a proven direct path, a 10,000
 * frame stream across the switch with zero loss and zero duplicates, a cut
 * with fallback in < 2 s, retry with backoff after the link returns,
 * hysteresis between near-equal direct paths, 100 migrations under load, and
 * the bookkeeping (pathInfo, counters, drops) around them.
 *
 * Duplicates: only while the manager MIRRORS (a direct path's trust lapsed)
 * may one frame reach the receiver twice, once per path; in the node the
 * session's replay window drops the copy. Tests that involve mirroring
 * assert on the set of frames received; the others assert that nothing was
 * mirrored and nothing was duplicated.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PathManager } from '../../../src/node/path/path-manager.js';
import { encodeProbe, PROBE_FRAME_BYTES } from '../../../src/node/path/probe-frames.js';
import { memoryPathPair } from '../../../testkit/memory-path.js';
import { FakeClock } from '../../../testkit/fake-clock.js';
import { A, B, Lab, dataFrame, frameNumber, tally } from '../../../testkit/path-manager-lab.js';

/** Advance `ms` one millisecond at a time, sending `perMs` numbered frames each way per millisecond. */
class Streams {
  nextA = 0; // A -> B
  nextB = 0; // B -> A
  refused = 0;
  constructor(readonly lab: Lab, readonly perMs = 1, readonly bothWays = true) {}
  run(ms: number): void {
    for (let i = 0; i < ms; i++) {
      for (let k = 0; k < this.perMs; k++) {
        if (!this.lab.a.send(B, dataFrame(this.nextA++))) this.refused++;
        if (this.bothWays && !this.lab.b.send(A, dataFrame(this.nextB++))) this.refused++;
      }
      this.lab.clock.advance(1);
    }
  }
  /** Stop sending and let everything in flight land. */
  settle(): void {
    this.lab.clock.advance(3_000);
  }
}

test('probe RTTs come from the high-resolution time base, not the millisecond clock', () => {
  // A time base running at an eighth of the clock's speed: a 4 ms round trip on the clock reads 0.5 ms in it. The
  // node passes performance.now, so a LAN path reads 0.31 ms where Clock.now() said 0 or 1.
  let lab: Lab | null = null;
  lab = new Lab({ directLatencyMs: 2, hrtimeMs: () => (lab === null ? 0 : lab.clock.now() / 8) });
  lab.connectorEnabled = false;
  lab.connect();
  lab.clock.advance(1_000);
  const info = lab.a.pathInfo(B)!;
  assert.equal(info.path, 'direct');
  assert.equal(info.rttMs, 0.5);
  assert.equal(lab.a.stats.lastProbeRttMs, 0.5);
  assert.equal(info.directs[0]?.rttMs, 0.5);
  lab.stop();
});

test('a switch made while the peer is idle records no migration time; a switch under traffic does', () => {
  const lab = new Lab({ directLatencyMs: 2, manager: { timers: { switchDwellMs: 1_000 } } });
  lab.connectorEnabled = false;
  const recorded: number[] = [];
  lab.a.on('migration_complete', (_p: Uint8Array, ms: number) => recorded.push(ms));
  lab.connect(2, 'wss');
  lab.clock.advance(10_000); // selected at once, and nothing to send for 10 s
  assert.equal(lab.a.pathInfo(B)!.path, 'direct');
  const s = new Streams(lab, 1, false);
  s.run(100);
  assert.deepEqual(recorded, [], 'the first frame came 10 s after the switch: not a migration time');
  assert.equal(lab.a.pathInfo(B)!.migrationMs, null);
  assert.equal(lab.a.stats.maxMigrationMs, null);
  lab.connect(2, 'udp');
  s.run(1_500);
  assert.equal(lab.a.pathInfo(B)!.carrier, 'udp', 'moved to the better carrier under traffic');
  assert.equal(recorded.length, 1);
  assert.ok(recorded[0]! <= 5, `a migration under traffic: ${recorded[0]} ms`);
  assert.equal(lab.a.pathInfo(B)!.migrationMs, recorded[0]);
  lab.stop();
});

test('a peer starts on the relay and stays there without a direct path', () => {
  const lab = new Lab();
  const s = new Streams(lab);
  s.run(100);
  s.settle();
  const info = lab.a.pathInfo(B)!;
  assert.equal(info.path, 'relay');
  assert.equal(info.remote, 'relay');
  assert.equal(info.rttMs, null);
  assert.deepEqual(info.migrations, { to_direct: 0, to_relay: 0 });
  assert.deepEqual(tally(lab.atB, s.nextA), { missing: 0, duplicates: 0, outOfOrder: 0, maxReorder: 0 });
  assert.equal(lab.relay.delivered, 200);
  lab.stop();
});

test('a direct path carries data only after it proves alive, then at once (migration < 50 ms)', () => {
  const lab = new Lab({ directLatencyMs: 2 });
  const s = new Streams(lab);
  s.run(50);
  const pair = lab.connect();
  const added = lab.clock.now();
  s.run(3); // RTT is 4 ms: not proven yet
  assert.equal(lab.a.pathInfo(B)!.path, 'relay', 'not trusted before a probe answers');
  assert.equal(pair.a.stats.bytesOut, pair.a.stats.framesOut * PROBE_FRAME_BYTES, 'only probes and acks went out on it');
  s.run(10);
  const info = lab.a.pathInfo(B)!;
  assert.equal(info.path, 'direct');
  assert.equal(info.remote, pair.a.remote);
  assert.equal(info.rttMs, 4);
  assert.deepEqual(info.migrations, { to_direct: 1, to_relay: 0 });
  assert.ok(info.migrationMs !== null && info.migrationMs <= 5, `migration took ${info.migrationMs} ms`);
  assert.ok(info.since >= added + 4);
  assert.equal(lab.b.pathInfo(A)!.path, 'direct', 'both directions switch');
  assert.ok(lab.a.stats.maxMigrationMs! < 50);
  lab.stop();
});

test('10,000 numbered frames across the relay -> direct switch: zero loss, zero duplicates', () => {
  const lab = new Lab({ relayLatencyMs: 40, directLatencyMs: 2 });
  const s = new Streams(lab, 10); // 10 frames/ms each way
  s.run(300); // 3,000 frames on the relay
  lab.connect();
  s.run(700); // the switch, then 7,000 more
  s.settle();
  assert.equal(s.nextA, 10_000);
  assert.equal(s.refused, 0);
  assert.equal(lab.a.pathInfo(B)!.path, 'direct');
  assert.equal(lab.a.stats.mirroredFrames, 0, 'no mirroring in this run');
  for (const [seen, n] of [[lab.atB, s.nextA], [lab.atA, s.nextB]] as const) {
    const t = tally(seen, n);
    assert.equal(t.missing, 0, 'nothing lost');
    assert.equal(t.duplicates, 0, 'nothing duplicated');
    assert.equal(seen.length, n);
    // Direct frames overtake those still on the relay: reordering, within the session's 8192-counter replay window.
    assert.ok(t.outOfOrder > 0, 'the switch did reorder frames (relay 40 ms vs direct 2 ms)');
    assert.ok(t.maxReorder < 8_192, `reorder depth ${t.maxReorder}`);
  }
  lab.stop();
});

test('cut the direct link: mirrored on the relay within the trust window, fallback counted in < 2 s', () => {
  const lab = new Lab({ relayLatencyMs: 30, directLatencyMs: 2 });
  lab.connectorEnabled = false;
  const s = new Streams(lab);
  const fallbacksAt: number[] = [];
  const mirrorAt: number[] = [];
  lab.a.on('fallback', () => fallbacksAt.push(lab.clock.now()));
  lab.a.on('mirror', (_p: Uint8Array, on: boolean) => { if (on) mirrorAt.push(lab.clock.now()); });
  const pair = lab.connect();
  s.run(5_000); // settle on direct, several probe rounds
  assert.equal(lab.a.pathInfo(B)!.path, 'direct');
  const cutAt = lab.clock.now();
  const sentBeforeCut = s.nextA;
  pair.link.cut();
  s.run(3_000);
  assert.equal(fallbacksAt.length, 1);
  const fallbackMs = fallbacksAt[0]! - cutAt;
  const mirrorMs = mirrorAt[0]! - cutAt;
  assert.ok(mirrorMs <= 1_250, `mirroring began ${mirrorMs} ms after the cut`);
  assert.ok(fallbackMs < 2_000, `fallback ${fallbackMs} ms after the cut`);
  const info = lab.a.pathInfo(B)!;
  assert.equal(info.path, 'relay');
  assert.equal(info.fallbacks, 1);
  assert.equal(info.migrations.to_relay, 1);
  assert.equal(info.mirroring, false);
  assert.equal(lab.b.pathInfo(A)!.fallbacks, 1, 'B notices too');
  assert.equal(pair.a.closed, true, 'the dead path is closed');
  s.settle();
  // Frames sent on the cut path before mirroring began are lost (the measured gap); every later frame arrives.
  const got = new Set(lab.atB);
  let lost = 0;
  for (let n = sentBeforeCut; n < s.nextA; n++) if (!got.has(n)) lost++;
  const firstMirrored = sentBeforeCut + mirrorMs;
  for (let n = firstMirrored; n < s.nextA; n++) assert.ok(got.has(n), `frame ${n}, sent after mirroring began, arrived`);
  for (let n = 0; n < sentBeforeCut - 10; n++) assert.ok(got.has(n), `frame ${n}, sent before the cut, arrived`);
  assert.ok(lost > 0 && lost <= mirrorMs + 1, `gap: ${lost} frames (1 per ms) between the cut and the relay taking over`);
  lab.stop();
});

test('after a cut, direct attempts back off while the link is down and succeed once it returns', () => {
  const lab = new Lab({ relayLatencyMs: 30, directLatencyMs: 2 });
  const s = new Streams(lab, 1, false);
  const wants: number[] = [];
  lab.a.on('want_direct', () => wants.push(lab.clock.now()));
  const pair = lab.connect();
  s.run(2_000);
  pair.link.cut();
  lab.directBlocked = true;
  s.run(40_000);
  const fallbackAt = lab.a.pathInfo(B)!.since;
  assert.equal(lab.a.pathInfo(B)!.path, 'relay');
  const retries = lab.a.stats.retries;
  assert.ok(retries.failed >= 2, `failed attempts: ${retries.failed}`);
  assert.equal(retries.ok, 0);
  // A's attempts: the first after the base delay, each next one after the attempt timeout (10 s)
  // plus a delay that doubles, jitter taking off at most 20 %, on a 50 ms tick.
  const gaps = wants.map((t, i) => t - (i === 0 ? fallbackAt : wants[i - 1]!));
  assert.ok(gaps.length >= 3, `${gaps.length} attempts`);
  gaps.forEach((g, i) => {
    const full = 1_000 * 2 ** i;
    const timeout = i === 0 ? 0 : 10_000;
    assert.ok(g >= timeout + full * 0.8 - 1 && g <= timeout + full + 50, `attempt ${i}: ${g} ms after the previous`);
  });
  lab.directBlocked = false;
  s.run(60_000 + 20_000);
  const info = lab.a.pathInfo(B)!;
  assert.equal(info.path, 'direct', 'traffic is back on a direct path');
  assert.equal(info.migrations.to_direct, 2);
  assert.ok(lab.a.stats.retries.ok >= 1);
  assert.ok(lab.pairs.length >= 2);
  s.settle();
  lab.stop();
});

test('retry delays grow exponentially from the base, capped at retryMaxMs', () => {
  const lab = new Lab({ manager: { timers: { retryJitterRatio: 0, retryMaxMs: 8_000, attemptTimeoutMs: 1_000 } } });
  lab.connectorEnabled = false;
  const wants: number[] = [];
  lab.a.on('want_direct', () => wants.push(lab.clock.now()));
  const outcomes: string[] = [];
  lab.a.on('retry', (_p: Uint8Array, o: string) => outcomes.push(o));
  const pair = lab.connect();
  lab.clock.advance(100);
  pair.a.close('reset by peer');
  const t = lab.clock.now();
  lab.clock.advance(60_000);
  const gaps = wants.map((w, i) => w - (i === 0 ? t : wants[i - 1]!));
  // first after base (1 s), then attempt timeout (1 s) + 2 s, + 4 s, + 8 s (cap), + 8 s ... (50 ms tick granularity)
  const expect = [1_000, 3_000, 5_000, 9_000, 9_000];
  expect.forEach((e, i) => assert.ok(Math.abs(gaps[i]! - e) <= 50, `gap ${i}: ${gaps[i]} vs ${e}`));
  assert.ok(outcomes.every((o) => o === 'failed') && outcomes.length >= 5);
  lab.stop();
});

test('hysteresis: two direct paths with RTTs within the margin do not flap over 1,000 ticks', () => {
  // The control run also shortens the RTT window to one sample: a windowed minimum alone already damps this jitter.
  for (const [margin, expectFlaps] of [[{}, false], [{ rttMarginMs: 0, rttMarginRatio: 0, rttWindowMs: 1 }, true]] as const) {
    // A long drain keeps a path we left open for the whole run, so flapping would be possible.
    // No data flows, so quietAfterMs is raised: a quiet peer makes no voluntary move at all (see the quiet tests).
    const lab = new Lab({ directLatencyMs: 10, manager: { ...margin, timers: { switchDwellMs: 500, drainMs: 100_000, quietAfterMs: 600_000 } } });
    lab.connectorEnabled = false;
    const p1 = lab.connect(10);
    const p2 = lab.connect(11);
    let toDirect = 0;
    lab.a.on('migrated', (_p: Uint8Array, ev: { kind: string }) => { if (ev.kind === 'to_direct') toDirect++; });
    const tickMs = lab.a.timers.options.tickMs;
    let seed = 7;
    const jitter = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return Math.floor((seed / 2 ** 31) * 4) / 2; // 0, 0.5, 1 or 1.5 ms
    };
    for (let i = 0; i < 1_000; i++) {
      // Both paths jitter around 10 ms one way: their RTTs stay within 3 ms of each other, and which is lower keeps changing.
      p1.link.latencyMs = 10 + jitter();
      p2.link.latencyMs = 10 + jitter();
      lab.clock.advance(tickMs);
    }
    if (expectFlaps) assert.ok(toDirect > 10, `without a margin the paths flap (${toDirect} switches): the test can fail`);
    else assert.equal(toDirect, 1, `one initial upgrade, no flapping (${toDirect})`);
    lab.stop();
  }
});

test('a clearly better direct path wins after the dwell; the old one drains, then closes', () => {
  const lab = new Lab({ manager: { timers: { switchDwellMs: 1_000 } } });
  lab.connectorEnabled = false;
  const s = new Streams(lab);
  const slow = lab.connect(40);
  s.run(200);
  assert.equal(lab.a.pathInfo(B)!.remote, slow.a.remote);
  const fast = lab.connect(2);
  s.run(600);
  assert.equal(lab.a.pathInfo(B)!.remote, slow.a.remote, 'dwell not over yet');
  s.run(600);
  assert.equal(lab.a.pathInfo(B)!.remote, fast.a.remote);
  assert.equal(slow.a.closed, false, 'the old path drains');
  s.run(2_100);
  assert.equal(slow.a.closed, true, 'closed after the drain');
  s.settle();
  assert.deepEqual(tally(lab.atB, s.nextA).missing, 0);
  assert.deepEqual(tally(lab.atB, s.nextA).duplicates, 0);
  assert.deepEqual(tally(lab.atA, s.nextB).missing, 0);
  lab.stop();
});

test('100 migrations back and forth under load lose nothing and duplicate nothing', () => {
  const lab = new Lab({ relayLatencyMs: 25, directLatencyMs: 3 });
  lab.connectorEnabled = false;
  const s = new Streams(lab, 4);
  for (let round = 0; round < 50; round++) {
    s.run(37);
    const pair = lab.connect(1 + (round % 5));
    s.run(40); // proven, carrying data
    assert.equal(lab.a.pathInfo(B)!.path, 'direct', `round ${round}: on direct`);
    assert.equal(lab.b.pathInfo(A)!.path, 'direct');
    // Graceful close from alternating ends: traffic goes back to the relay.
    (round % 2 === 0 ? pair.a : pair.b).close('test migration');
    s.run(13);
    assert.equal(lab.a.pathInfo(B)!.path, 'relay', `round ${round}: back on the relay`);
  }
  s.settle();
  const info = lab.a.pathInfo(B)!;
  assert.equal(info.migrations.to_direct + info.migrations.to_relay, 100);
  assert.equal(lab.a.stats.mirroredFrames + lab.b.stats.mirroredFrames, 0);
  assert.equal(s.refused, 0);
  for (const [seen, n] of [[lab.atB, s.nextA], [lab.atA, s.nextB]] as const) {
    const t = tally(seen, n);
    assert.equal(t.missing, 0, `lost ${t.missing} of ${n}`);
    assert.equal(t.duplicates, 0);
    assert.ok(t.maxReorder < 8_192);
  }
  lab.stop();
});

test('trust lapsed on a path that still delivers: mirrored frames may arrive twice, only while mirroring, and none is lost', () => {
  const lab = new Lab({ relayLatencyMs: 30, directLatencyMs: 2 });
  lab.connectorEnabled = false;
  const s = new Streams(lab, 1, false);
  const pair = lab.connect();
  s.run(2_000);
  // The direct path turns slow for a while: one probe answer comes 1.4 s after the previous
  // one (trust lapses, mirroring starts) but before the path counts as dead (1.6 s).
  pair.link.latencyMs = 900;
  s.run(1_000);
  pair.link.latencyMs = 2;
  s.run(3_000);
  s.settle();
  const t = tally(lab.atB, s.nextA);
  assert.equal(t.missing, 0);
  assert.ok(lab.a.stats.mirroredFrames > 0, 'mirroring happened');
  assert.ok(t.duplicates > 0 && t.duplicates <= lab.a.stats.mirroredFrames, `${t.duplicates} duplicates, ${lab.a.stats.mirroredFrames} mirrored`);
  assert.equal(lab.a.pathInfo(B)!.path, 'direct', 'the path recovered without a fallback');
  assert.equal(lab.a.pathInfo(B)!.fallbacks, 0);
  lab.stop();
});

test('a refused direct send goes over the relay instead (zero loss under backpressure)', () => {
  const lab = new Lab();
  lab.connectorEnabled = false;
  const s = new Streams(lab, 1, false);
  const pair = lab.connect();
  s.run(100);
  assert.equal(lab.a.pathInfo(B)!.path, 'direct');
  pair.link.capacity = 0;
  s.run(100);
  pair.link.capacity = Infinity;
  s.run(100);
  s.settle();
  assert.equal(lab.a.stats.drops.direct_refused, 100);
  assert.deepEqual(tally(lab.atB, s.nextA).missing, 0);
  lab.stop();
});

test('a refused direct send takes another live direct path before the relay (zero loss with the relay down)', () => {
  const lab = new Lab();
  lab.connectorEnabled = false;
  const s = new Streams(lab, 1, false);
  const first = lab.connect();
  const second = lab.connect();
  s.run(200);
  const info = lab.a.pathInfo(B)!;
  assert.equal(info.path, 'direct');
  const selected = info.remote === first.a.remote ? first : second;
  lab.relay.down = true;
  // The selected path refuses while its closing handshake runs; the other one still works.
  selected.link.capacity = 0;
  s.run(100);
  selected.link.capacity = Infinity;
  s.run(100);
  s.settle();
  assert.equal(s.refused, 0, 'every frame found a path');
  assert.equal(lab.a.stats.drops.direct_refused, 100);
  assert.deepEqual(tally(lab.atB, s.nextA).missing, 0);
  lab.stop();
});

test('probes: answered on direct paths, never passed to onFrame; bad probes and relay probes dropped and counted', () => {
  const clock = new FakeClock();
  const relayOut: Uint8Array[] = [];
  const m = new PathManager({ relay: { send: (_d, f) => { relayOut.push(f); return true; } }, clock });
  const seen: Uint8Array[] = [];
  m.onFrame = (_s, f) => seen.push(f);
  m.start();
  const { a, b } = memoryPathPair({ clock, peerA: A, peerB: B });
  const fromManager: Uint8Array[] = [];
  b.onFrame = (f) => fromManager.push(f);
  m.addDirectPath(B, a);
  clock.advance(0);
  assert.equal(fromManager.length, 1, 'a probe at once');
  fromManager.length = 0;
  b.send(encodeProbe({ ack: false, id: 77n, sentAtMs: 5 }));
  b.send(encodeProbe({ ack: true, id: 999n, sentAtMs: 5 })); // never sent
  b.send(new Uint8Array(PROBE_FRAME_BYTES + 1).fill(0x28, 1, 2).fill(1, 0, 1)); // wrong length
  clock.advance(0);
  assert.deepEqual(fromManager.map((f) => [f[1], f.length]), [[0x29, PROBE_FRAME_BYTES]], 'the probe was answered with an ack');
  assert.deepEqual(fromManager[0]!.subarray(4), encodeProbe({ ack: true, id: 77n, sentAtMs: 5 }).subarray(4));
  m.onRelayFrame(B, encodeProbe({ ack: false, id: 1n, sentAtMs: 1 }));
  assert.equal(seen.length, 0, 'no probe reached onFrame');
  assert.equal(relayOut.length, 0, 'relay probes are not answered');
  assert.equal(m.stats.drops.ack_unknown, 1);
  assert.equal(m.stats.drops.probe_malformed, 1);
  assert.equal(m.stats.drops.probe_on_relay, 1);
  m.onRelayFrame(B, dataFrame(5));
  assert.equal(seen.length, 1, 'data from the relay reaches onFrame');
  m.stop();
  assert.equal(a.closed, true, 'stop closes direct paths');
  assert.equal(m.send(B, dataFrame(1)), false);
  assert.equal(m.stats.drops.stopped, 1);
});

test('arguments and options are checked', () => {
  const clock = new FakeClock();
  const m = new PathManager({ relay: { send: () => true }, clock });
  const { a } = memoryPathPair({ clock, peerA: A, peerB: B });
  const relayKind = memoryPathPair({ clock, peerA: A, peerB: B }, { kind: 'relay' }).a;
  const code = (c: string) => (e: unknown) => (e as { code?: string }).code === c;
  assert.throws(() => m.addDirectPath(A, a), code('SM_ERR_PATH_ARG'), 'path to another peer');
  assert.throws(() => m.addDirectPath(B, relayKind), code('SM_ERR_PATH_ARG'));
  assert.throws(() => new PathManager({ relay: { send: () => true } }, { rttMarginRatio: 2 }), code('SM_ERR_PATH_OPTION'));
  assert.throws(() => new PathManager({ relay: { send: () => true } }, { bogus: 1 } as never), code('SM_ERR_PATH_OPTION'));
  assert.throws(() => new PathManager({ relay: { send: () => true } }, { rttWindowMs: 0 }), code('SM_ERR_PATH_OPTION'));
  assert.throws(() => new PathManager({ relay: { send: () => true } }, { timers: { probeIntervalMs: -1 } }), code('SM_ERR_PATH_OPTION'));
  assert.equal(m.pathInfo(B), null);
});

test('at most maxDirectPathsPerPeer direct paths: the oldest unselected one is closed', () => {
  const lab = new Lab({ manager: { maxDirectPathsPerPeer: 2 } });
  lab.connectorEnabled = false;
  const p1 = lab.connect();
  lab.clock.advance(100);
  const p2 = lab.connect(5);
  const p3 = lab.connect(6);
  assert.equal(p1.a.closed, false, 'the selected path stays');
  assert.equal(p2.a.closed, true);
  assert.equal(p3.a.closed, false);
  assert.equal(lab.a.pathInfo(B)!.directPaths, 2);
  lab.stop();
});

test('timers change on a running manager: a longer dead time delays the fallback; a bad combination changes nothing', () => {
  const lab = new Lab({ relayLatencyMs: 30, directLatencyMs: 2 });
  lab.connectorEnabled = false;
  const s = new Streams(lab);
  const fallbacksAt: number[] = [];
  lab.a.on('fallback', () => fallbacksAt.push(lab.clock.now()));
  const pair = lab.connect();
  s.run(5_000);
  assert.equal(lab.a.pathInfo(B)!.path, 'direct');
  const before = lab.a.timers.options;
  // directTrustMs must stay above probeIntervalMs: refused as a whole, nothing changes.
  assert.throws(() => lab.a.setTimerOptions({ directTrustMs: before.probeIntervalMs }), { code: 'SM_ERR_PATH_OPTION' });
  assert.equal(lab.a.timers.options, before);
  lab.a.setTimerOptions({ directTrustMs: 4_000, directDeadMs: 6_000 });
  lab.b.setTimerOptions({ directTrustMs: 4_000, directDeadMs: 6_000 });
  assert.equal(lab.a.timers.options.directDeadMs, 6_000);
  assert.equal(lab.a.timers.options.probeIntervalMs, before.probeIntervalMs, 'keys not named keep their values');
  const cutAt = lab.clock.now();
  pair.link.cut();
  s.run(3_000);
  assert.equal(fallbacksAt.length, 0, 'with the old 1.6 s dead time this path would be gone by now');
  assert.equal(lab.a.pathInfo(B)!.mirroring, false, 'the new 4 s trust window holds too');
  s.run(4_000);
  assert.equal(fallbacksAt.length, 1);
  const ms = fallbacksAt[0]! - cutAt;
  // The dead time runs from the last answered probe, up to one probe interval before the cut.
  assert.ok(ms >= 6_000 - before.probeIntervalMs && ms < 7_000, `fallback ${ms} ms after the cut, with a 6 s dead time`);
  lab.stop();
});

test('WSS first, then a UDP path of about the same RTT: the switch waits for the dwell, loses and duplicates nothing, and stays; the WSS path stands by and takes over when UDP dies', () => {
  const lab = new Lab({ manager: { timers: { switchDwellMs: 1_000 } } });
  lab.connectorEnabled = false;
  const s = new Streams(lab, 2);
  const wss = lab.connect(3, 'wss');
  s.run(300);
  assert.equal(lab.a.pathInfo(B)!.carrier, 'wss');
  const udp = lab.connect(3, 'udp');
  s.run(400);
  assert.equal(lab.a.pathInfo(B)!.carrier, 'wss', 'equal RTT: no switch before the dwell');
  s.run(1_000);
  assert.equal(lab.a.pathInfo(B)!.carrier, 'udp');
  assert.equal(lab.a.pathInfo(B)!.remote, udp.a.remote);
  s.run(3_000);
  assert.equal(wss.a.closed, false, 'the WSS path left for UDP stays open, past the drain time');
  assert.equal(lab.a.pathInfo(B)!.carrier, 'udp', 'and the choice stays');
  udp.a.close('test: UDP path lost');
  s.run(100);
  assert.equal(lab.a.pathInfo(B)!.carrier, 'wss', 'the standby takes over');
  assert.equal(lab.a.stats.fallbacks, 0, 'not through the relay');
  s.settle();
  assert.deepEqual(tally(lab.atB, s.nextA).missing, 0);
  assert.deepEqual(tally(lab.atB, s.nextA).duplicates, 0);
  assert.deepEqual(tally(lab.atA, s.nextB).missing, 0);
  assert.deepEqual(tally(lab.atA, s.nextB).duplicates, 0);
  lab.stop();
});

test('under load the UDP path keeps the traffic: its late probes move nothing to a faster-looking WSS path (issue 12)', () => {
  // Twice: with the windowed minimum RTT, and with a one-sample window, where the carrier rank of a busy path alone holds.
  for (const rttWindowMs of [undefined, 1]) {
    const lab = new Lab({ manager: { rttWindowMs, timers: { switchDwellMs: 1_000 } } });
    lab.connectorEnabled = false;
    const s = new Streams(lab, 1);
    const udp = lab.connect(2, 'udp');
    const wss = lab.connect(2, 'wss');
    s.run(2_000);
    assert.equal(lab.a.pathInfo(B)!.carrier, 'udp');
    assert.equal(lab.b.pathInfo(A)!.carrier, 'udp');
    const before = { a: { ...lab.a.stats.migrations }, b: { ...lab.b.stats.migrations } };
    // A saturating transfer: every frame and every probe on the UDP path now waits behind 28 ms of queue.
    udp.link.latencyMs = 30;
    s.run(30_000);
    for (const [m, peer, label] of [[lab.a, B, 'A'], [lab.b, A, 'B']] as const) {
      const info = m.pathInfo(peer)!;
      assert.equal(info.carrier, 'udp', `${label} (window ${String(rttWindowMs)}): still on UDP`);
      assert.ok(info.rttMs !== null && info.rttMs >= 60, `${label}: the loaded RTT was measured (${info.rttMs} ms)`);
      assert.equal(info.fallbacks, 0);
      assert.equal(info.mirroring, false);
    }
    assert.deepEqual(lab.a.stats.migrations, before.a, 'no carrier change at A');
    assert.deepEqual(lab.b.stats.migrations, before.b, 'no carrier change at B');
    assert.equal(wss.a.closed, false, 'the WSS path stays a candidate');
    s.settle();
    assert.deepEqual(tally(lab.atB, s.nextA).missing, 0);
    assert.deepEqual(tally(lab.atA, s.nextB).missing, 0);
    lab.stop();
  }
});

test('on WSS without a UDP path the manager asks for one with backoff (want_upgrade); the UDP path that comes ends the asking and wins', () => {
  const lab = new Lab({ udpPossible: true, manager: { timers: { switchDwellMs: 1_000 } } });
  lab.connectorEnabled = false;
  const asked: number[] = [];
  lab.a.on('want_upgrade', (peerId: Uint8Array) => {
    assert.deepEqual(peerId, B);
    asked.push(lab.now);
    if (asked.length === 2) lab.connect(3, 'udp'); // the node's punch answers the second try
  });
  const s = new Streams(lab, 2);
  lab.connect(3, 'wss');
  s.run(300);
  assert.equal(lab.a.pathInfo(B)!.carrier, 'wss');
  s.run(4_000);
  assert.equal(asked.length, 2, `tries at ${asked.join(', ')} ms`);
  assert.ok(asked[1]! - asked[0]! >= 2_000 - 100, 'the second try waited twice the base');
  assert.equal(lab.a.pathInfo(B)!.carrier, 'udp', 'the UDP path answered and won on its carrier');
  s.run(30_000);
  assert.equal(asked.length, 2, 'no more tries once a UDP path is there');
  s.settle();
  assert.equal(tally(lab.atB, s.nextA).missing, 0);
  assert.equal(tally(lab.atB, s.nextA).duplicates, 0);
  lab.stop();
});

test('no want_upgrade where no UDP path can be had, on UDP itself, or on the relay', () => {
  for (const [label, udpPossible, carrier] of [['no UDP transport', false, 'wss'], ['on UDP', true, 'udp']] as const) {
    const lab = new Lab({ udpPossible });
    lab.connectorEnabled = false;
    let asked = 0;
    lab.a.on('want_upgrade', () => asked++);
    lab.b.on('want_upgrade', () => asked++);
    const s = new Streams(lab, 2);
    lab.connect(3, carrier);
    s.run(20_000);
    assert.equal(lab.a.pathInfo(B)!.carrier, carrier, label);
    assert.equal(asked, 0, label);
    lab.stop();
  }
  const lab = new Lab({ udpPossible: true });
  lab.connectorEnabled = false;
  let asked = 0;
  lab.a.on('want_upgrade', () => asked++);
  const s = new Streams(lab, 2);
  s.run(20_000);
  assert.equal(lab.a.pathInfo(B)!.path, 'relay');
  assert.equal(asked, 0, 'on the relay the fallback retries (want_direct) ask for every carrier');
  lab.stop();
});

test('an idle UDP path is still left for a clearly faster WSS path (the carrier rule holds only under load)', () => {
  // Idle here means not under load; quietAfterMs is raised so the peer does not go quiet (no moves at all then).
  const lab = new Lab({ manager: { timers: { switchDwellMs: 1_000, quietAfterMs: 600_000 } } });
  lab.connectorEnabled = false;
  const udp = lab.connect(2, 'udp');
  lab.connect(2, 'wss');
  lab.clock.advance(2_000);
  assert.equal(lab.a.pathInfo(B)!.carrier, 'udp');
  udp.link.latencyMs = 30; // a real route change, no data: after one RTT window the WSS path wins
  lab.clock.advance(9_000);
  assert.equal(lab.a.pathInfo(B)!.carrier, 'udp', 'inside the RTT window the faster past samples stand');
  lab.clock.advance(3_000);
  assert.equal(lab.a.pathInfo(B)!.carrier, 'wss');
  lab.stop();
});

test('relay deliveries from senders the directory does not list reach onFrame but get no path state', () => {
  const clock = new FakeClock(0);
  const listed = new Uint8Array(32).fill(7);
  const m = new PathManager({ relay: { send: () => true }, clock, isMember: (id) => id[0] === 7 && id.every((x) => x === 7) });
  const seen: number[] = [];
  m.onFrame = (src) => seen.push(src[0]!);
  for (let i = 0; i < 5_000; i++) {
    const forged = new Uint8Array(32);
    forged[0] = i % 250;
    forged[1] = i >> 8;
    forged[2] = 1; // never equal to the listed id
    m.onRelayFrame(forged, dataFrame(i));
  }
  assert.equal(m.pathInfos().size, 0, 'no entry for any forged sender');
  assert.equal(seen.length, 5_000, 'the owner still sees (and drops) them');
  m.onRelayFrame(listed, dataFrame(1));
  assert.equal(m.pathInfos().size, 1, 'a listed member gets its entry');
  m.stop();
});

test('takesTransient / sendTransient: a selected UDP path gets the scratch frame itself; the relay, a WSS path and a refusal get copies that outlive it', () => {
  const hexB = Buffer.from(B).toString('hex');
  const scratch = new Uint8Array(64);
  const put = (n: number): Uint8Array => {
    scratch.set(dataFrame(n));
    return scratch.subarray(0, dataFrame(n).length);
  };
  const lab = new Lab();
  lab.connectorEnabled = false;
  const toRelay: Uint8Array[] = [];
  lab.relay.onSend = (f) => toRelay.push(f);

  assert.equal(lab.a.takesTransient(hexB), false, 'no direct path: the relay would need a copy');
  assert.equal(lab.a.sendTransient(B, hexB, put(1)), true);
  put(99);
  assert.equal(toRelay.length, 1);
  assert.notEqual(toRelay[0]!.buffer, scratch.buffer, 'no direct path: the relay gets a copy');
  assert.equal(frameNumber(toRelay[0]!), 1);

  const udp = lab.connect(2, 'udp');
  lab.clock.advance(600);
  assert.equal(lab.a.pathInfo(B)!.carrier, 'udp');
  assert.equal(lab.a.takesTransient(hexB), true);
  assert.equal(lab.a.takesTransient('00'.repeat(32)), false, 'a peer it does not track');
  const toUdp: Uint8Array[] = [];
  const udpSend = udp.a.send.bind(udp.a);
  udp.a.send = (f: Uint8Array): boolean => { toUdp.push(f); return udpSend(f); };
  toRelay.length = 0;
  assert.equal(lab.a.sendTransient(B, hexB, put(2)), true);
  assert.equal(toUdp.length, 1);
  assert.equal(toUdp[0]!.buffer, scratch.buffer, 'the UDP path takes the scratch frame as it is');
  assert.equal(toRelay.length, 0);

  udp.link.capacity = 0;
  assert.equal(lab.a.sendTransient(B, hexB, put(3)), true);
  put(99);
  assert.equal(toRelay.length, 1, 'refused: over the relay');
  assert.notEqual(toRelay[0]!.buffer, scratch.buffer, 'as a copy');
  assert.equal(frameNumber(toRelay[0]!), 3);
  udp.link.capacity = Infinity;
  lab.clock.advance(200);
  assert.ok(lab.atB.includes(1) && lab.atB.includes(2) && lab.atB.includes(3), `B saw ${lab.atB.join(',')}`);
  assert.ok(!lab.atB.includes(99), 'nothing sent reads the overwritten scratch');
  lab.stop();

  const wssLab = new Lab();
  wssLab.connectorEnabled = false;
  const wss = wssLab.connect(2, 'wss');
  wssLab.clock.advance(600);
  assert.equal(wssLab.a.pathInfo(B)!.carrier, 'wss');
  assert.equal(wssLab.a.takesTransient(hexB), false);
  const toWss: Uint8Array[] = [];
  const wssSend = wss.a.send.bind(wss.a);
  wss.a.send = (f: Uint8Array): boolean => { toWss.push(f); return wssSend(f); };
  assert.equal(wssLab.a.sendTransient(B, hexB, put(4)), true);
  assert.equal(toWss.length, 1);
  assert.notEqual(toWss[0]!.buffer, scratch.buffer, 'a WSS path gets a copy');
  wssLab.stop();

  const stopped = new Lab();
  stopped.stop();
  assert.equal(stopped.a.takesTransient(hexB), false);
  assert.equal(stopped.a.sendTransient(B, hexB, put(5)), false);
  assert.equal(stopped.a.stats.drops.stopped, 1);
});

/** A lab (peer ids given unless `peerIds` is false) with a stream and a first WSS path dialed by `first`, run 500 ms. */
function wssPair(first: 'a' | 'b', perMs: number, peerIds = true): { lab: Lab; s: Streams; first: ReturnType<Lab['connect']> } {
  const lab = new Lab({ peerIds });
  lab.connectorEnabled = false;
  const s = new Streams(lab, perMs);
  const path = lab.connect(2, 'wss', first);
  s.run(500);
  return { lab, s, first: path };
}

test('two WSS paths to one peer (each side dialed one): both ends keep the one the lower peer id dialed and close the other; nothing lost or duplicated', () => {
  // B (the higher id) dialed first: both ends carry on it.
  const { lab, s, first: byB } = wssPair('b', 2);
  assert.equal(lab.a.pathInfo(B)!.remote, byB.a.remote);
  assert.equal(lab.b.pathInfo(A)!.remote, byB.b.remote);
  const byA = lab.connect(2, 'wss', 'a');
  s.run(4_000);
  assert.equal(lab.a.pathInfo(B)!.remote, byA.a.remote, 'A moved to the path it dialed');
  assert.equal(lab.b.pathInfo(A)!.remote, byA.b.remote, 'B moved to the path A dialed');
  assert.equal(byB.a.closed && byB.b.closed, true, 'the other drained and closed at both ends');
  assert.equal(byA.a.closed || byA.b.closed, false);
  assert.equal(lab.a.pathInfo(B)!.directs.length, 1);
  assert.equal(lab.a.stats.fallbacks + lab.b.stats.fallbacks, 0, 'never on the relay meanwhile');
  s.settle();
  for (const [seen, sent] of [[lab.atB, s.nextA], [lab.atA, s.nextB]] as const) {
    assert.equal(tally(seen, sent).missing, 0);
    assert.equal(tally(seen, sent).duplicates, 0);
  }
  lab.stop();
});

test('a second WSS path leaves the first only once it answers probes; the one it duplicates goes even when never selected; without peer ids both stay', () => {
  // The lower id's path arrives over a link that carries nothing yet: the working path keeps the traffic.
  const one = wssPair('b', 1);
  const byA = one.lab.connect(2, 'wss', 'a');
  byA.link.cut();
  one.s.run(1_000); // under the dead time (1.6 s): it is not given up, only not trusted
  assert.equal(one.lab.a.pathInfo(B)!.remote, one.first.a.remote);
  assert.equal(one.first.a.closed, false, 'not left for a path that has not proven itself');
  byA.link.restore();
  one.s.run(4_000);
  assert.equal(one.lab.a.pathInfo(B)!.remote, byA.a.remote);
  assert.equal(one.first.a.closed && one.first.b.closed, true);
  one.lab.stop();

  // The kept path first, the duplicate second: the duplicate is never selected, and still closes.
  const two = wssPair('a', 1);
  const second = two.lab.connect(2, 'wss', 'b');
  two.s.run(4_000);
  assert.equal(two.lab.a.pathInfo(B)!.remote, two.first.a.remote);
  assert.equal(second.a.closed && second.b.closed, true);
  two.lab.stop();

  // Without peer ids (no tie-break) both paths stay.
  const three = wssPair('b', 1, false);
  const other = three.lab.connect(2, 'wss', 'a');
  three.s.run(4_000);
  assert.equal(three.first.a.closed || other.a.closed, false);
  three.lab.stop();
});
