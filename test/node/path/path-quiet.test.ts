/**
 * Quiet peers (src/node/path/path-timers.ts header, docs/architecture.md
 * "Timers") in the in-memory lab on the FakeClock: a pair that sends nothing
 * for quietAfterMs probes its paths once per quiet interval instead of twice
 * a second, keeps its path selected and trusted, and wakes on the first
 * frame without a switch, a mirror or a lost frame; a path cut while quiet is
 * found out by the next quiet probe, and one cut just before the wake costs
 * no more than a cut under traffic does; frames no session would open
 * (forgeries) neither wake it nor keep it busy.
 */
import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_PATH_TIMERS } from '../../../src/node/path/path-timers.js';
import { A, B, FORGED_FRAME_BASE, Lab, dataFrame, tally } from '../../../testkit/path-manager-lab.js';
import type { MemoryPathPair } from '../../../testkit/memory-path.js';

const T = DEFAULT_PATH_TIMERS;

/** Numbered frames both ways, one per millisecond each, for `ms`. */
function stream(lab: Lab, from: { a: number; b: number }, ms: number): void {
  for (let i = 0; i < ms; i++) {
    lab.a.send(B, dataFrame(from.a++));
    lab.b.send(A, dataFrame(from.b++));
    lab.clock.advance(1);
  }
}

/** A pair on one UDP path that carried a second of traffic both ways, then `idleMs` of nothing. */
function quietPair(idleMs: number): { lab: Lab; udp: MemoryPathPair; next: { a: number; b: number }; relayed: () => number } {
  const lab = new Lab({ directLatencyMs: 2 });
  lab.connectorEnabled = false;
  const udp = lab.connect(2, 'udp');
  let relayed = 0;
  lab.relay.onSend = () => { relayed++; };
  lab.clock.advance(100);
  const next = { a: 0, b: 0 };
  stream(lab, next, 1_000);
  lab.clock.advance(idleMs);
  return { lab, udp, next, relayed: () => relayed };
}

test('an idle pair goes quiet: one probe per path per quiet interval instead of two a second, still selected and trusted', () => {
  const { lab, udp, relayed } = quietPair(T.quietAfterMs + 1_000);
  const info0 = lab.a.pathInfo(B)!;
  const ticks = mock.method(lab.a.timers, 'tick').mock;
  const out0 = udp.a.stats.framesOut;
  const relayed0 = relayed();
  lab.clock.advance(60_000);
  const sent = udp.a.stats.framesOut - out0; // A's probes and its answers to B's
  const busy = 2 * 2 * 60; // two probes and two answers a second on the busy schedule
  assert.ok(sent >= 6 && sent <= 2 * (60_000 / T.quietProbeIntervalMs + 1), `${sent} probe frames in 60 s quiet (busy: ${busy})`);
  assert.ok(ticks.callCount() <= 3 * (60_000 / T.quietProbeIntervalMs) + 3, `${ticks.callCount()} ticks in 60 s quiet`);
  const info = lab.a.pathInfo(B)!;
  assert.equal(info.carrier, 'udp');
  assert.equal(info.mirroring, false);
  assert.deepEqual(info.migrations, info0.migrations, 'no move while quiet');
  assert.equal(info.fallbacks, 0);
  assert.equal(relayed() - relayed0, 0, 'nothing went over the relay');
  lab.stop();
});

test('the first frame wakes a quiet pair: every frame once, on the same path, nothing mirrored, probes at the busy cadence again', () => {
  const { lab, udp, next, relayed } = quietPair(60_000);
  const info0 = lab.a.pathInfo(B)!;
  const firstA = next.a;
  const firstB = next.b;
  const relayed0 = relayed();
  const out0 = udp.a.stats.framesOut;
  stream(lab, next, 3_000);
  lab.clock.advance(100);
  const probeFrames = udp.a.stats.framesOut - out0 - (next.a - firstA);
  assert.ok(probeFrames >= 10, `${probeFrames} probe frames in 3 s after the wake (busy cadence: 12)`);
  const atB = tally(lab.atB.filter((n) => n >= firstA).map((n) => n - firstA), next.a - firstA);
  const atA = tally(lab.atA.filter((n) => n >= firstB).map((n) => n - firstB), next.b - firstB);
  assert.deepEqual([atB.missing, atB.duplicates, atA.missing, atA.duplicates], [0, 0, 0, 0]);
  assert.equal(relayed() - relayed0, 0, 'no mirror, no fallback');
  const info = lab.a.pathInfo(B)!;
  assert.equal(info.carrier, 'udp');
  assert.deepEqual(info.migrations, info0.migrations);
  assert.equal(lab.a.stats.mirroredFrames + lab.b.stats.mirroredFrames, 0);
  lab.stop();
});

test('a path cut while quiet is found out by the next quiet probe, and the relay carries on', () => {
  const { lab, udp } = quietPair(T.quietAfterMs + 2_000);
  const cutAt = lab.clock.now();
  let fellAt = Number.NaN;
  lab.a.on('migrated', (_p: Uint8Array, ev: { kind: string }) => { if (ev.kind === 'to_relay' && Number.isNaN(fellAt)) fellAt = lab.clock.now(); });
  udp.link.cut();
  lab.clock.advance(T.quietProbeIntervalMs + T.directDeadMs + 500);
  assert.ok(!Number.isNaN(fellAt), 'the quiet path was found dead');
  assert.ok(fellAt - cutAt <= T.quietProbeIntervalMs + T.directDeadMs + T.tickMs, `fallback ${fellAt - cutAt} ms after the cut`);
  assert.equal(lab.a.pathInfo(B)!.path, 'relay');
  lab.stop();
});

test('a cut just before the wake: loss ends within the trust window of the wake, and the path dies on the busy schedule', () => {
  const { lab, udp, next } = quietPair(T.quietAfterMs + 3_000);
  // Cut between two quiet probes: the path is still trusted at the wake, and only the wake's probe finds the cut.
  udp.link.cut();
  lab.clock.advance(200);
  const wokeAt = lab.clock.now();
  let mirrorAt = Number.NaN;
  let fellAt = Number.NaN;
  lab.a.on('mirror', (_p: Uint8Array, on: boolean) => { if (on && Number.isNaN(mirrorAt)) mirrorAt = lab.clock.now(); });
  lab.a.on('migrated', (_p: Uint8Array, ev: { kind: string }) => { if (ev.kind === 'to_relay' && Number.isNaN(fellAt)) fellAt = lab.clock.now(); });
  const firstA = next.a;
  for (let i = 0; i < 3_000; i++) {
    lab.a.send(B, dataFrame(next.a++));
    lab.clock.advance(1);
  }
  lab.clock.advance(500);
  assert.ok(!Number.isNaN(fellAt), 'the path died');
  // Mirroring or the fallback (whichever came first) ends the loss.
  const rescuedAt = Number.isNaN(mirrorAt) ? fellAt : Math.min(mirrorAt, fellAt);
  assert.ok(rescuedAt - wokeAt <= T.directTrustMs + T.tickMs, `frames reached the relay ${rescuedAt - wokeAt} ms after the wake`);
  assert.ok(fellAt - wokeAt <= T.directDeadMs + T.tickMs, `dead ${fellAt - wokeAt} ms after the wake`);
  const got = new Set(lab.atB);
  const firstRescued = firstA + (rescuedAt - wokeAt) + 1;
  for (let n = firstRescued; n < next.a; n++) assert.ok(got.has(n), `frame ${n}, sent after the relay took over, arrived`);
  lab.stop();
});

test('a quiet peer makes no voluntary move on single probes; once traffic is back the faster path wins as before', () => {
  const lab = new Lab({ directLatencyMs: 2, manager: { timers: { switchDwellMs: 1_000 } } });
  lab.connectorEnabled = false;
  const first = lab.connect(2, 'udp');
  const second = lab.connect(2, 'udp');
  lab.clock.advance(2_000);
  assert.equal(lab.a.pathInfo(B)!.remote, first.a.remote);
  lab.clock.advance(T.quietAfterMs);
  first.link.latencyMs = 30; // a route change while quiet: one sparse probe per path is no RTT to compare
  lab.clock.advance(40_000);
  assert.equal(lab.a.pathInfo(B)!.remote, first.a.remote, 'no move while quiet');
  stream(lab, { a: 0, b: 0 }, 15_000);
  assert.equal(lab.a.pathInfo(B)!.remote, second.a.remote, 'busy again, the clearly faster path wins after an RTT window');
  lab.stop();
});

test('frames forged from a path\'s address reach the owner but neither wake a quiet peer nor keep it busy', () => {
  const { lab, udp } = quietPair(T.quietAfterMs + 1_000);
  const out0 = udp.a.stats.framesOut;
  const seen0 = lab.atA.length;
  // An off-path spoofer with the path's addresses: a frame every 500 ms for 30 s. The owner gets each (its session
  // drops them) and reports none as traffic (the lab's FORGED_FRAME_BASE, as the PeerManager reports only frames it
  // opened), so the pair stays on the quiet schedule; counted on arrival, they kept it probing twice a second.
  for (let i = 0; i < 60; i++) {
    udp.a.onFrame?.(dataFrame(FORGED_FRAME_BASE + i));
    lab.clock.advance(500);
  }
  assert.equal(lab.atA.length - seen0, 60, 'every forged frame reached the owner');
  const sent = udp.a.stats.framesOut - out0; // A's probes and its answers to B's
  assert.ok(sent <= 2 * (30_000 / T.quietProbeIntervalMs + 1), `${sent} probe frames in 30 s of forgeries (busy: 120)`);
  assert.equal(lab.a.pathInfo(B)!.carrier, 'udp');
  lab.stop();
});

test('a path added to a quiet peer is proven or given up on the busy schedule', () => {
  const { lab } = quietPair(T.quietAfterMs + 1_000);
  const fresh = lab.connect(2, 'wss');
  fresh.link.cut(); // it never answers
  assert.equal(lab.a.pathInfo(B)!.directPaths, 2);
  lab.clock.advance(T.directDeadMs + T.tickMs);
  assert.equal(lab.a.pathInfo(B)!.directPaths, 1, 'the unproven path was given up after the dead time, not a quiet interval later');
  assert.equal(lab.a.pathInfo(B)!.carrier, 'udp');
  const other = lab.connect(2, 'wss');
  lab.clock.advance(50);
  assert.equal(other.a.stats.framesIn > 0, true, 'a new path that answers is probed at once');
  lab.stop();
});
