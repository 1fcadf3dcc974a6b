/**
 * All timer policy of the paths to our peers (docs/architecture.md
 * "Fallback" and "Timers": liveness, fallback, retry with capped exponential
 * backoff, hysteresis; docs/conventions.md §7: one file owns the timer
 * policy, injected clock).
 *
 * The path manager only reports events (a direct path was added, a probe was
 * answered, a selection changed, a fallback happened) and keeps the small
 * timing records defined here on its own objects. Everything that happens
 * because time passed is decided on ONE periodic tick for all peers: probes
 * due, paths declared dead, trust windows lapsing (the manager re-runs the
 * selector), drains ending, direct attempts retried or given up, a better
 * carrier tried for while a worse direct path carries. No timer is armed
 * per frame or per path.
 *
 * The tick runs every tickMs only while something needs that granularity: a
 * probe not answered yet (its answer may be late, the trust window may
 * lapse, the path may die). Otherwise, every probe answered, the next thing
 * due is known exactly: the next probe, a drain's end, a retry, an attempt's
 * deadline, a try for a better carrier; the tick sleeps until the first of
 * them (at most a probe interval), so an idle daemon wakes a few times a
 * second, not twenty. An event that starts something (a path added and
 * probed, a drain, a fallback) wakes it within a tick. A cut is noticed as
 * before: the probe after the last answer goes unanswered, and from then on
 * the tick runs every tickMs.
 *
 * Quiet peers (docs/architecture.md "Quiet peers"): a peer that carried no
 * traffic for quietAfterMs is quiet (the owner counts what traffic is: frames
 * sent but keepalives, frames a session opened but keepalives). Its paths are probed every
 * quietProbeIntervalMs instead (a NAT keepalive and a liveness check, not a
 * round-trip sampler), and its trust and dead windows are stretched by the
 * difference, so a quiet path answering its probes stays selected and
 * trusted, and one that stops answering is dead a dead window after its
 * probe went unanswered, as when busy. The first traffic either way wakes the
 * peer (onActive): each path trusted at that moment counts as answered
 * then, so it keeps carrying without a switch or a mirror and is trusted and
 * dead on the busy schedule from the wake, and the tick probes every path
 * within tickMs. Not at once: probes sent and answered before the frame that
 * woke the peer (and before the reply to it) tripled the first round trip
 * after a quiet spell. A path that broke while quiet, after its last answer, is then found
 * out exactly as a cut at the moment of the wake would be.
 *
 * Why these numbers (all settable, see PathTimerOptions):
 *  - Fallback must complete within 2 s of a cut (issue 4). A cut just after
 *    an answered probe at time a is noticed twice: the trust window lapses at
 *    a + DIRECT_TRUST_MS (1.2 s), and from then on every frame also goes over
 *    the relay (mirror), so traffic is back on the relay at most ~1.25 s
 *    after the cut; the path is declared dead at a + DIRECT_DEAD_MS (1.6 s,
 *    three probes missed) and dropped, so the full fallback happens by
 *    1.6 s + one tick (50 ms) = 1.65 s, leaving 350 ms for event-loop lag.
 *  - A slower probe interval would need a longer trust window and miss the
 *    2 s target; a faster one buys little (a probe is 20 bytes, two per
 *    second per direct path).
 *
 * Reentrancy: host callbacks may call back into this object (e.g. a probe
 * send fails and the path closes); each record is updated before the
 * callback, and the tick stops as soon as stop() was called.
 */
import { ConfigError } from '../../errors.js';
import { backoffCeilingMs } from '../../util/backoff.js';
import type { Clock, TimerHandle } from '../../util/clock.js';
import { PathCode } from './path-errors.js';
import { RTT_WINDOW_MS } from './rtt-window.js';

/** Tick cadence while a probe is unanswered: the granularity of the trust
 *  and dead windows below. 50 ms keeps the fallback well inside 2 s. */
export const PATH_TICK_MS = 50;
/** Probe cadence on each open direct path (the active one and candidates). */
export const PROBE_INTERVAL_MS = 500;
/** Once a proven path's answer is late (no probe answered for a probe
 *  interval plus this), probes go out this often until one is answered. A
 *  saturated path loses datagrams, probes among them; at one probe per
 *  interval, two lost in a row (likely enough over a long transfer) lapse
 *  the trust window and move a busy path's traffic for nothing (issue 12).
 *  Probing faster while in doubt gives the path about six chances instead
 *  of one before its trust lapses, and costs a few 20-byte probes only
 *  while an answer is late; a cut still lapses and dies on the same
 *  schedule (the windows below count from the last answer). */
export const LATE_PROBE_INTERVAL_MS = 100;
/** A direct path is trusted this long after its last answered probe: a bit
 *  over two intervals, so one lost probe (or one slow answer, up to 200 ms)
 *  does not demote it; when it lapses, frames go over both paths. */
export const DIRECT_TRUST_MS = 1_200;
/** A direct path with no answered probe for this long (three probes missed)
 *  is dead: closed, and the relay carries everything. Chosen so fallback
 *  completes in < 2 s of a cut (header). */
export const DIRECT_DEAD_MS = 1_600;
/** Minimum time on one direct path before switching to a better one
 *  (hysteresis): six probe intervals, enough RTT samples to trust a gain. */
export const SWITCH_DWELL_MS = 3_000;
/** A path we migrated away from keeps delivering received frames this long
 *  before it is closed: frames in flight on it (socket buffers, a relay
 *  queue) land in well under a second; the session's replay window absorbs
 *  the reordering. */
export const MIGRATION_DRAIN_MS = 2_000;
/** First retry of a direct path after a fallback. */
export const RETRY_BASE_MS = 1_000;
/** Retries back off exponentially up to this (issue 4: cap 60 s default), so
 *  a path that stays broken costs one attempt a minute. */
export const RETRY_MAX_MS = 60_000;
/** Each retry delay is shortened by a random fraction up to this, so peers
 *  that lost their paths together (a NAT reboot) do not retry in lockstep,
 *  while the cap still holds. */
export const RETRY_JITTER_RATIO = 0.2;
/** An attempt (want_direct) that yields no answered probe within this long
 *  failed: a TLS connect and the re-handshake take well under 2 s even across
 *  continents; the rest covers trying several candidates. */
export const DIRECT_ATTEMPT_TIMEOUT_MS = 10_000;
/** A direct path that stayed selected this long resets the backoff, so a
 *  path that flaps every few seconds keeps backing off instead. */
export const DIRECT_STABLE_MS = 30_000;
/** A direct path that sent a data frame this recently is busy, and the
 *  selector does not leave it for a worse carrier on RTT (selector.ts rule
 *  4). As long as the RTT window (rtt-window.ts RTT_WINDOW_MS): until the
 *  probes taken under the load have left the window, the path's RTT
 *  estimate may still carry its queueing delay. */
export const DIRECT_BUSY_MS = RTT_WINDOW_MS;
/** A peer that carried no traffic this long is quiet (header): as
 *  long as the session keepalive (session-timers.ts KEEPALIVE_TIMEOUT_MS),
 *  so a conversation that pauses for a reply stays busy. */
export const QUIET_AFTER_MS = 10_000;
/** Probe cadence on the paths of a quiet peer: well inside the 30 s that the
 *  shortest common NAT UDP timeouts allow an idle mapping, twenty times
 *  fewer probes than PROBE_INTERVAL_MS, and a path that broke while quiet is
 *  found out within this plus DIRECT_DEAD_MS. Never below probeIntervalMs. */
export const QUIET_PROBE_INTERVAL_MS = 10_000;

export interface PathTimerOptions {
  tickMs: number;
  probeIntervalMs: number;
  directTrustMs: number;
  directDeadMs: number;
  switchDwellMs: number;
  drainMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** Fraction in [0, 1): how much of a retry delay jitter may take off. */
  retryJitterRatio: number;
  attemptTimeoutMs: number;
  stableMs: number;
  quietAfterMs: number;
  /** Used as max(quietProbeIntervalMs, probeIntervalMs). */
  quietProbeIntervalMs: number;
}

export const DEFAULT_PATH_TIMERS: Readonly<PathTimerOptions> = Object.freeze({
  tickMs: PATH_TICK_MS,
  probeIntervalMs: PROBE_INTERVAL_MS,
  directTrustMs: DIRECT_TRUST_MS,
  directDeadMs: DIRECT_DEAD_MS,
  switchDwellMs: SWITCH_DWELL_MS,
  drainMs: MIGRATION_DRAIN_MS,
  retryBaseMs: RETRY_BASE_MS,
  retryMaxMs: RETRY_MAX_MS,
  retryJitterRatio: RETRY_JITTER_RATIO,
  attemptTimeoutMs: DIRECT_ATTEMPT_TIMEOUT_MS,
  stableMs: DIRECT_STABLE_MS,
  quietAfterMs: QUIET_AFTER_MS,
  quietProbeIntervalMs: QUIET_PROBE_INTERVAL_MS,
});

/** Upper bound for any duration option: one day; more is a unit mistake. */
const MAX_DURATION_MS = 86_400_000;

function bad(name: string, expected: string, got: unknown): never {
  throw new ConfigError(PathCode.OPTION, `path timers ${name}: expected ${expected}, got ${String(got)}`);
}

/** Defaults merged with `overrides` (undefined values ignored), validated, frozen. Unknown keys are rejected. */
export function resolvePathTimers(overrides?: Partial<PathTimerOptions>): Readonly<PathTimerOptions> {
  const o: PathTimerOptions = { ...DEFAULT_PATH_TIMERS };
  if (overrides !== undefined) {
    if (typeof overrides !== 'object' || overrides === null) bad('options', 'an object', overrides);
    const rec = o as unknown as Record<string, unknown>;
    for (const [k, v] of Object.entries(overrides)) {
      if (!(k in DEFAULT_PATH_TIMERS)) bad(k, 'a known option', 'an unknown key');
      if (v !== undefined) rec[k] = v;
    }
  }
  for (const [k, v] of Object.entries(o)) {
    if (k === 'retryJitterRatio') {
      if (typeof v !== 'number' || !(v >= 0 && v < 1)) bad(k, 'a number in [0, 1)', v);
    } else if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_DURATION_MS) {
      bad(k, `an integer number of ms in [1, ${MAX_DURATION_MS}]`, v);
    }
  }
  if (o.directTrustMs <= o.probeIntervalMs) bad('directTrustMs', `more than probeIntervalMs (${o.probeIntervalMs})`, o.directTrustMs);
  if (o.directDeadMs < o.directTrustMs) bad('directDeadMs', `at least directTrustMs (${o.directTrustMs})`, o.directDeadMs);
  if (o.retryMaxMs < o.retryBaseMs) bad('retryMaxMs', `at least retryBaseMs (${o.retryBaseMs})`, o.retryMaxMs);
  if (o.tickMs > o.probeIntervalMs) bad('tickMs', `at most probeIntervalMs (${o.probeIntervalMs})`, o.tickMs);
  return Object.freeze(o);
}

/** The timing record of one direct path (kept on the manager's path entry). */
export interface DirectTimes {
  readonly addedAtMs: number;
  lastProbeAtMs: number;
  /** NaN until a probe is answered. */
  lastAckAtMs: number;
  /** When a path we left is closed; NaN while it is not draining. */
  drainUntilMs: number;
  /** When the manager last saw a data frame sent on it (noted once per selection run, not per frame); NaN before any. */
  lastDataAtMs: number;
  /** When its quiet peer woke while it was trusted: counts as an answer then (header); NaN otherwise. */
  wokeAtMs: number;
}

/** The activity record of one peer: the owner counts frames, the tick turns the count into quiet or busy. */
export interface ActivityTimes {
  /** Frames of traffic sent to and received from the peer (no probes, no keepalives); the owner increments it. */
  frames: number;
  /** `frames` as the tick last saw it. */
  seenFrames: number;
  /** When the tick last saw `frames` move (or the peer woke). */
  activeAtMs: number;
  /** No traffic for quietAfterMs: probed at the quiet cadence, windows stretched. */
  quiet: boolean;
}

/** The retry record of one peer. */
export interface RetryTimes {
  /** Tries for a better carrier since one last came (backoff count; see wantsBetterCarrier). */
  upgrades: number;
  /** When to try for a better carrier next; NaN when none is scheduled. */
  upgradeAtMs: number;
  /** Consecutive fallbacks and failed attempts since the last stable direct path. */
  failures: number;
  /** When to ask for the next direct attempt; NaN when none is scheduled. */
  nextAtMs: number;
  /** When the running attempt fails unless a path answers; NaN when none runs. */
  attemptDeadlineMs: number;
  /** Since when a direct path is selected; NaN when on the relay. */
  directSinceMs: number;
}

export interface TimedDirect {
  readonly times: DirectTimes;
  readonly closed: boolean;
}

export interface TimedPeer<D extends TimedDirect> {
  readonly retry: RetryTimes;
  readonly activity: ActivityTimes;
  directs(): Iterable<D>;
}

export type AttemptOutcome = 'ok' | 'failed';

/** What the timers ask of the path manager. */
export interface PathTimerHost<P extends TimedPeer<D>, D extends TimedDirect> {
  timedPeers(): Iterable<P>;
  sendProbe(peer: P, direct: D): void;
  /** No probe answered for directDeadMs: close it and fall back. */
  directDead(peer: P, direct: D): void;
  /** Trust windows may have lapsed: run the selector. */
  reselect(peer: P): void;
  /** The drain of a path we left is over: close it. */
  drained(peer: P, direct: D): void;
  /** Ask the owner to (re)connect a direct path to this peer. */
  wantDirect(peer: P): void;
  attemptOutcome(peer: P, outcome: AttemptOutcome): void;
  /** A direct path is selected, but a better carrier may be had: none of its paths is of that carrier, and a
   *  transport for it runs and knows where to reach the peer. */
  wantsBetterCarrier(peer: P): boolean;
  /** Ask the owner to try for that carrier now (the selected path keeps carrying meanwhile). */
  wantUpgrade(peer: P): void;
}

export class PathTimers<P extends TimedPeer<D>, D extends TimedDirect> {
  #options: Readonly<PathTimerOptions>;
  readonly #clock: Clock;
  readonly #host: PathTimerHost<P, D>;
  readonly #random: () => number;
  #handle: TimerHandle | null = null;
  /** When the armed tick runs (clock ms); meaningless while #handle is null. */
  #dueMs = 0;
  #running = false;

  /** The options in force (frozen; replaced as a whole by setOptions). */
  get options(): Readonly<PathTimerOptions> {
    return this.#options;
  }

  /**
   * Change timers on a running instance (a configuration reload): `changes`
   * are merged over the options in force and validated as a whole; on a
   * problem this throws PathCode.OPTION and nothing changes. Every later
   * decision uses the new values; deadlines already computed (a drain, an
   * attempt under way, a backoff already drawn) run out as they were.
   */
  setOptions(changes: Partial<PathTimerOptions>): Readonly<PathTimerOptions> {
    this.#options = this.check(changes);
    this.#hurry();
    return this.#options;
  }

  /** The options setOptions(changes) would put in force (merged, validated), without applying them; throws PathCode.OPTION like it. */
  check(changes: Partial<PathTimerOptions>): Readonly<PathTimerOptions> {
    const merged: Partial<PathTimerOptions> = { ...this.#options };
    for (const [k, v] of Object.entries(changes ?? {})) if (v !== undefined) (merged as Record<string, unknown>)[k] = v;
    return resolvePathTimers(merged);
  }
  readonly #onTick = (): void => {
    this.#handle = null;
    if (!this.#running) return;
    this.tick(this.#clock.now());
    if (this.#running && this.#handle === null) this.#arm(this.nextTickDelayMs(this.#clock.now()));
  };

  #arm(delayMs: number): void {
    this.#dueMs = this.#clock.now() + delayMs;
    this.#handle = this.#clock.schedule(delayMs, this.#onTick);
  }

  /** Something that needs the tick started: have it run within tickMs. */
  #hurry(): void {
    if (!this.#running || (this.#handle !== null && this.#dueMs <= this.#clock.now() + this.options.tickMs)) return;
    this.#handle?.cancel();
    this.#arm(this.options.tickMs);
  }

  /**
   * How long the tick may sleep after running at `nowMs` (header): tickMs while any direct path has a probe
   * unanswered, else until the first deadline (a probe due, a drain's end, a retry, an attempt's deadline, a try
   * for a better carrier), between tickMs and probeIntervalMs. Public so tests can read it.
   */
  nextTickDelayMs(nowMs: number): number {
    const o = this.options;
    const longest = this.#quietIntervalMs();
    let next = nowMs + longest;
    const due = (ms: number): void => {
      if (ms < next) next = ms; // NaN (nothing scheduled) compares false
    };
    for (const peer of this.#host.timedPeers()) {
      const r = peer.retry;
      due(r.nextAtMs);
      due(r.attemptDeadlineMs);
      due(r.upgradeAtMs);
      const a = peer.activity;
      let anyDirect = false;
      for (const d of peer.directs()) {
        if (d.closed) continue;
        anyDirect = true;
        const t = d.times;
        if (!(t.lastAckAtMs >= t.lastProbeAtMs)) return o.tickMs; // unanswered (NaN: never answered)
        due(t.lastProbeAtMs + (a.quiet ? longest : o.probeIntervalMs));
        due(t.drainUntilMs);
      }
      if (anyDirect && !a.quiet) due(a.activeAtMs + o.quietAfterMs);
      // wantsBetterCarrier is asked, not told: looked at every probe interval while a busy peer is on a direct path.
      if (!a.quiet && !Number.isNaN(r.directSinceMs)) due(nowMs + o.probeIntervalMs);
    }
    return Math.min(longest, Math.max(o.tickMs, next - nowMs));
  }

  /** The probe cadence of a quiet peer's paths: quietProbeIntervalMs, never below probeIntervalMs. */
  #quietIntervalMs(): number {
    return Math.max(this.options.quietProbeIntervalMs, this.options.probeIntervalMs);
  }

  /** How much a quiet peer's trust and dead windows are stretched: its probes come that much further apart. */
  #stretchMs(peer: TimedPeer<D>): number {
    return peer.activity.quiet ? this.#quietIntervalMs() - this.options.probeIntervalMs : 0;
  }

  constructor(deps: { clock: Clock; host: PathTimerHost<P, D>; random?: () => number }, options?: Partial<PathTimerOptions>) {
    this.#options = resolvePathTimers(options);
    this.#clock = deps.clock;
    this.#host = deps.host;
    this.#random = deps.random ?? Math.random;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#arm(this.options.tickMs);
  }

  stop(): void {
    this.#running = false;
    this.#handle?.cancel();
    this.#handle = null;
  }

  // ---- records --------------------------------------------------------------

  newDirectTimes(nowMs: number): DirectTimes {
    return { addedAtMs: nowMs, lastProbeAtMs: -Infinity, lastAckAtMs: Number.NaN, drainUntilMs: Number.NaN, lastDataAtMs: Number.NaN, wokeAtMs: Number.NaN };
  }

  /** A new peer counts as busy from `nowMs`. */
  newActivity(nowMs: number): ActivityTimes {
    return { frames: 0, seenFrames: 0, activeAtMs: nowMs, quiet: false };
  }

  newRetryTimes(): RetryTimes {
    return { failures: 0, nextAtMs: Number.NaN, attemptDeadlineMs: Number.NaN, directSinceMs: Number.NaN, upgrades: 0, upgradeAtMs: Number.NaN };
  }

  /** Delay before the next attempt after `failures` failures: base x 2^failures, capped, minus up to retryJitterRatio of it. */
  retryDelayMs(failures: number): number {
    const o = this.options;
    const raw = backoffCeilingMs(o.retryBaseMs, o.retryMaxMs, failures);
    return Math.max(1, Math.round(raw * (1 - o.retryJitterRatio * this.#random())));
  }

  /**
   * Time since the path last proved alive (its answer or a wake while trusted), less a quiet peer's stretch; for a
   * path that never answered, time since its birth, unstretched: a new path is proven or given up on the busy
   * schedule, quiet peer or not.
   */
  silenceMs(peer: TimedPeer<D>, t: DirectTimes, nowMs: number): number {
    const heard = answeredAtMs(t);
    return Number.isNaN(heard) ? nowMs - t.addedAtMs : nowMs - heard - this.#stretchMs(peer);
  }

  /** Time since the last answered probe (or a wake while trusted), less a quiet peer's stretch; null before any answer (the selector's sinceAckMs). */
  sinceAckMs(peer: TimedPeer<D>, t: DirectTimes, nowMs: number): number | null {
    const heard = answeredAtMs(t);
    return Number.isNaN(heard) ? null : Math.max(0, nowMs - heard - this.#stretchMs(peer));
  }

  /**
   * How long after its last probe `t`'s path is probed again: the probe
   * interval (a quiet peer's answered path: the quiet one), or LATE_PROBE_INTERVAL_MS
   * (never below a tick) once a path that has answered before is silent for
   * more than that interval plus LATE_PROBE_INTERVAL_MS (its answer is late:
   * a probe or its answer was lost or queued).
   */
  probeIntervalFor(peer: TimedPeer<D>, t: DirectTimes, nowMs: number): number {
    const o = this.options;
    const heard = answeredAtMs(t);
    if (Number.isNaN(heard)) return o.probeIntervalMs; // never answered: proven on the busy schedule
    const interval = peer.activity.quiet ? this.#quietIntervalMs() : o.probeIntervalMs;
    const late = Math.max(o.tickMs, Math.min(LATE_PROBE_INTERVAL_MS, o.probeIntervalMs));
    return nowMs - heard < interval + late ? interval : late;
  }

  /** Whether the path carried data within DIRECT_BUSY_MS (the selector's `busy`). */
  isBusy(t: DirectTimes, nowMs: number): boolean {
    return nowMs - t.lastDataAtMs <= DIRECT_BUSY_MS;
  }

  // ---- events from the manager -------------------------------------------------

  /**
   * A frame went to or came from a quiet peer (the owner checks `activity.quiet` first): it is busy again from
   * `nowMs`. Each path trusted under the quiet windows counts as answered now, so it keeps carrying on the busy
   * schedule; the tick probes every path within tickMs (header).
   */
  onActive(peer: P, nowMs: number): void {
    const a = peer.activity;
    if (!a.quiet) return;
    const trustMs = this.options.directTrustMs;
    for (const d of peer.directs()) {
      if (d.closed) continue;
      const since = this.sinceAckMs(peer, d.times, nowMs);
      if (since !== null && since <= trustMs) d.times.wokeAtMs = nowMs;
    }
    a.quiet = false;
    a.seenFrames = a.frames;
    a.activeAtMs = nowMs;
    // Probed by the tick, within tickMs: not before the frame that woke us (header).
    this.#hurry();
  }

  /** A direct path arrived: probe it at once, so it can carry data one RTT later. */
  onDirectAdded(peer: P, direct: D): void {
    this.#probe(peer, direct, this.#clock.now());
    this.#hurry();
  }

  /** A probe on `direct` was answered. Ends a running attempt successfully. */
  onProbeAnswered(peer: P, direct: D, nowMs: number): void {
    direct.times.lastAckAtMs = nowMs;
    const r = peer.retry;
    if (!Number.isNaN(r.attemptDeadlineMs) || !Number.isNaN(r.nextAtMs)) {
      r.attemptDeadlineMs = Number.NaN;
      r.nextAtMs = Number.NaN;
      this.#host.attemptOutcome(peer, 'ok');
    }
  }

  /** The selection moved onto a direct path (`onDirect`) or onto the relay. */
  onSelected(peer: P, onDirect: boolean, nowMs: number): void {
    const r = peer.retry;
    this.#hurry();
    if (onDirect) {
      if (Number.isNaN(r.directSinceMs)) r.directSinceMs = nowMs;
    } else {
      r.directSinceMs = Number.NaN;
    }
  }

  /** We migrated away from `direct` while it still works: drain, then close it. */
  onLeft(direct: D, nowMs: number): void {
    direct.times.drainUntilMs = nowMs + this.options.drainMs;
    this.#hurry();
  }

  /** `direct` is selected again before its drain ended. */
  onRejoined(direct: D): void {
    direct.times.drainUntilMs = Number.NaN;
  }

  /** The owner's attempt failed before the deadline (e.g. no candidate connected): back off from now. */
  onAttemptFailed(peer: P, nowMs: number): void {
    const r = peer.retry;
    if (Number.isNaN(r.attemptDeadlineMs)) return;
    r.attemptDeadlineMs = nowMs;
    this.#retryTick(peer, nowMs);
    this.#hurry();
  }

  /** The last usable direct path died or closed: schedule a retry with backoff (unless one is pending). */
  onFallback(peer: P, nowMs: number): void {
    const r = peer.retry;
    this.#hurry();
    r.directSinceMs = Number.NaN;
    if (!Number.isNaN(r.nextAtMs) || !Number.isNaN(r.attemptDeadlineMs)) return;
    r.nextAtMs = nowMs + this.retryDelayMs(r.failures);
    r.failures++;
  }

  // ---- the tick ------------------------------------------------------------------

  /** One pass over every peer; public so tests can drive it directly. */
  tick(nowMs: number): void {
    const o = this.options;
    for (const peer of this.#host.timedPeers()) {
      if (!this.#running) return;
      const a = peer.activity;
      if (a.frames !== a.seenFrames) {
        a.seenFrames = a.frames;
        a.activeAtMs = nowMs;
      }
      let anyDirect = false;
      for (const d of peer.directs()) {
        if (d.closed) continue;
        anyDirect = true;
        const t = d.times;
        // A draining path is still probed: it stays a candidate until it is closed.
        if (nowMs >= t.drainUntilMs) {
          this.#host.drained(peer, d);
          continue;
        }
        if (this.silenceMs(peer, t, nowMs) >= o.directDeadMs) {
          this.#host.directDead(peer, d);
          continue;
        }
        if (nowMs - t.lastProbeAtMs >= this.probeIntervalFor(peer, t, nowMs)) this.#probe(peer, d, nowMs);
      }
      // Quiet from the next tick on: this one's windows and probes were judged on the busy schedule.
      if (anyDirect && !a.quiet && nowMs - a.activeAtMs >= o.quietAfterMs) a.quiet = true;
      if (anyDirect) this.#host.reselect(peer);
      this.#retryTick(peer, nowMs);
    }
  }

  #probe(peer: P, d: D, nowMs: number): void {
    d.times.lastProbeAtMs = nowMs;
    this.#host.sendProbe(peer, d);
  }

  #retryTick(peer: P, nowMs: number): void {
    const r = peer.retry;
    if (!Number.isNaN(r.directSinceMs)) {
      if (r.failures > 0 && nowMs - r.directSinceMs >= this.options.stableMs) r.failures = 0;
      this.#upgradeTick(peer, nowMs);
      return;
    }
    r.upgradeAtMs = Number.NaN;
    r.upgrades = 0;
    if (!Number.isNaN(r.attemptDeadlineMs) && nowMs >= r.attemptDeadlineMs) {
      r.attemptDeadlineMs = Number.NaN;
      r.nextAtMs = nowMs + this.retryDelayMs(r.failures);
      r.failures++;
      this.#host.attemptOutcome(peer, 'failed');
    }
    if (!Number.isNaN(r.nextAtMs) && nowMs >= r.nextAtMs) {
      r.nextAtMs = Number.NaN;
      r.attemptDeadlineMs = nowMs + this.options.attemptTimeoutMs;
      this.#host.wantDirect(peer);
    }
  }

  /**
   * On a direct path of a worse carrier than one the peer could have (a WSS path after its UDP path died: the
   * UDP path could not authenticate probes once an idle session's keys expired, or a NAT dropped its mapping),
   * try for the better one with the retry backoff: retryBaseMs, doubling up to retryMaxMs, so a peer whose UDP
   * stays blocked costs one try a minute. The selected path carries on meanwhile, and the selector moves to the
   * new path once it answers (selector.ts 'better_carrier'). Nothing is scheduled once such a path exists.
   */
  #upgradeTick(peer: P, nowMs: number): void {
    const r = peer.retry;
    if (!this.#host.wantsBetterCarrier(peer)) {
      r.upgradeAtMs = Number.NaN;
      r.upgrades = 0;
      return;
    }
    if (Number.isNaN(r.upgradeAtMs)) {
      r.upgradeAtMs = nowMs + this.retryDelayMs(r.upgrades);
      return;
    }
    if (nowMs < r.upgradeAtMs) return;
    r.upgrades++;
    // The next try is due after the backoff from this one (the tick may sleep until then).
    r.upgradeAtMs = nowMs + this.retryDelayMs(r.upgrades);
    this.#host.wantUpgrade(peer);
  }
}

/** When the path last counted as answered: its last answered probe, or a wake while it was trusted (NaN: neither). */
function answeredAtMs(t: DirectTimes): number {
  const ack = t.lastAckAtMs;
  const woke = t.wokeAtMs;
  if (Number.isNaN(woke)) return ack;
  return Number.isNaN(ack) || woke > ack ? woke : ack;
}
