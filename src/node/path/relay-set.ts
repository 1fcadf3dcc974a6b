/**
 * Which relay the node's one relay link should use (docs/architecture.md
 * "Several relays"). Pure policy on an injected clock and random source: no
 * sockets, no timers. The link (relay-link.ts) asks `next()` before every
 * connection attempt and reports admissions and failures; the failover tick
 * (relay-failover.ts) reports light probes and asks `better()`.
 *
 * Choice, in this order:
 *  - a relay whose connection failed is not tried again before its own
 *    backoff ends: a delay drawn uniformly in [ceiling/2, ceiling], the
 *    ceiling doubling per consecutive failure of that relay
 *    (src/util/backoff.ts) — at least half the ceiling, so a dead relay that
 *    is also the fastest one is not re-picked at once while another works;
 *  - among the others, a relay whose last probe answered comes before one
 *    whose last probe failed, then the lowest smoothed probe RTT, then the
 *    configuration order (unprobed relays sort after probed ones);
 *  - when every relay is backing off, the one whose backoff ends first, at
 *    that time;
 *  - moving to another relay after a failure waits a random [0,
 *    failoverJitterMs): members cut off by the same dead relay do not all
 *    arrive at the next one in the same millisecond.
 * `better()` returns to a faster relay only with hysteresis: it must have
 * answered `returnAfterGoodProbes` probes in a row and be faster than the
 * current one by both `switchMinGainMs` and the factor `switchRatio`, so two
 * relays of similar latency never make the node flap between them.
 *
 * Every relay carries a pin set: admission to it needs its TLS key to match
 * one of its pins (the link checks that). Adding the new pin before the
 * relay's key changes, and removing the old one afterwards, rotates the key
 * without a member restart.
 *
 * Never throws after construction; bad options throw a ConfigError there.
 */
import { ConfigError } from '../../errors.js';
import { backoffCeilingMs } from '../../util/backoff.js';
import type { Clock } from '../../util/clock.js';
import { PathCode } from './path-errors.js';
import { parseRelayUrl, resolvePins } from './relay-link.js';
import { DEFAULT_RECONNECT_BASE_MS, DEFAULT_RECONNECT_MAX_MS } from './relay-link-timers.js';

/** One relay as configured: its URL and the pins its TLS key may match. */
export interface RelayTarget {
  readonly url: string;
  readonly pins: readonly string[];
}

export type RelayState = 'unknown' | 'up' | 'current' | 'down' | 'unreachable';

/** What status and metrics show for one relay. */
export interface RelayInfo {
  url: string;
  pins: readonly string[];
  state: RelayState;
  /** Smoothed light-probe RTT (TLS handshake time), null before an answered probe. */
  rttMs: number | null;
  /** Consecutive connection failures (the backoff exponent). */
  failures: number;
  /** Last connection failure code, null after an admission. */
  lastError: string | null;
}

export interface RelaySetOptions {
  reconnectBaseMs?: number;
  reconnectMaxMs?: number;
  failoverJitterMs?: number;
  returnAfterGoodProbes?: number;
  switchMinGainMs?: number;
  switchRatio?: number;
}

/** Spread of the move to the next relay: a few round trips, so a crowd spreads without a visible outage. */
export const DEFAULT_FAILOVER_JITTER_MS = 250;
/** Answered probes in a row before returning to a faster relay: one lucky probe is no reason to move. */
export const DEFAULT_RETURN_AFTER_GOOD_PROBES = 2;
/** A faster relay must win by at least this much: below it, a move costs more (a re-admission) than it saves. */
export const DEFAULT_SWITCH_MIN_GAIN_MS = 5;
/** …and by this factor: RTTs within 30 % of each other are noise, not a reason to move. */
export const DEFAULT_SWITCH_RATIO = 0.7;
/** Weight of a new probe sample in the smoothed RTT (the RFC 6298 SRTT weight). */
const RTT_SMOOTHING = 1 / 8;

export const RELAY_SET_DEFAULTS = Object.freeze({
  reconnectBaseMs: DEFAULT_RECONNECT_BASE_MS,
  reconnectMaxMs: DEFAULT_RECONNECT_MAX_MS,
  failoverJitterMs: DEFAULT_FAILOVER_JITTER_MS,
  returnAfterGoodProbes: DEFAULT_RETURN_AFTER_GOOD_PROBES,
  switchMinGainMs: DEFAULT_SWITCH_MIN_GAIN_MS,
  switchRatio: DEFAULT_SWITCH_RATIO,
});

interface Entry {
  target: RelayTarget;
  index: number;
  rttMs: number | null;
  probeOk: boolean | null;
  goodProbes: number;
  failures: number;
  retryAtMs: number;
  lastError: string | null;
}

function optionError(name: string, value: unknown, expected: string): ConfigError {
  return new ConfigError(PathCode.OPTION, `relay set option ${name}: expected ${expected}, got ${JSON.stringify(value) ?? String(value)}`);
}

export class RelaySet {
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #o: Readonly<Required<RelaySetOptions>>;
  readonly #entries: Entry[];
  #current: Entry | null = null;
  #lastAdmitted: Entry | null = null;
  /** Admissions at a relay other than the previous admission's. */
  switches = 0;

  constructor(deps: { clock: Clock; random?: () => number }, relays: readonly RelayTarget[], options: RelaySetOptions = {}) {
    if (!Array.isArray(relays) || relays.length === 0) throw optionError('relays', relays, 'at least one relay');
    const seen = new Set<string>();
    const targets: RelayTarget[] = [];
    for (const r of relays) {
      if (r === null || typeof r !== 'object') throw optionError('relays', r, '{ url, pins }');
      // The link names relays by their normalised URL (wss://host:port/); so does the set.
      const url = parseRelayUrl(r.url).url;
      if (seen.has(url)) throw optionError('relays', r.url, 'each relay URL once');
      seen.add(url);
      targets.push({ url, pins: resolvePins(r.pins, `pins of ${url}`) });
    }
    for (const key of Object.keys(options)) {
      if (!(key in RELAY_SET_DEFAULTS)) throw new ConfigError(PathCode.OPTION, `relay set option ${key}: unknown option`);
    }
    const o = { ...RELAY_SET_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as Required<RelaySetOptions>;
    const int = (name: keyof RelaySetOptions, min: number): void => {
      const v = o[name];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 3_600_000) throw optionError(name, v, `an integer in [${min}, 3600000]`);
    };
    int('reconnectBaseMs', 1);
    int('reconnectMaxMs', o.reconnectBaseMs);
    int('failoverJitterMs', 0);
    int('returnAfterGoodProbes', 1);
    int('switchMinGainMs', 0);
    if (typeof o.switchRatio !== 'number' || !(o.switchRatio > 0 && o.switchRatio <= 1)) throw optionError('switchRatio', o.switchRatio, 'a number in (0, 1]');
    this.#o = Object.freeze(o);
    this.#clock = deps.clock;
    this.#random = deps.random ?? Math.random;
    this.#entries = targets.map((r, index) => ({
      target: Object.freeze({ url: r.url, pins: Object.freeze([...r.pins]) }),
      index,
      rttMs: null,
      probeOk: null,
      goodProbes: 0,
      failures: 0,
      retryAtMs: 0,
      lastError: null,
    }));
  }

  get targets(): readonly RelayTarget[] {
    return this.#entries.map((e) => e.target);
  }

  /** The relay the link is admitted to, or null. */
  get current(): RelayTarget | null {
    return this.#current?.target ?? null;
  }

  /** Where the next connection attempt goes and after how long. */
  next(): { target: RelayTarget; delayMs: number } {
    const now = this.#clock.now();
    const ready = this.#entries.filter((e) => e.retryAtMs <= now);
    if (ready.length === 0) {
      const soonest = this.#entries.reduce((a, b) => (b.retryAtMs < a.retryAtMs ? b : a));
      return { target: soonest.target, delayMs: soonest.retryAtMs - now };
    }
    const best = [...ready].sort(compareEntries)[0] as Entry;
    // After a failure (nothing current), moving on is spread; the very first attempt is not.
    const moving = this.#lastAdmitted !== null || this.#entries.some((e) => e.failures > 0);
    return { target: best.target, delayMs: moving ? Math.floor(this.#random() * this.#o.failoverJitterMs) : 0 };
  }

  /** The link was admitted by `url`. */
  admitted(url: string): void {
    const e = this.#find(url);
    if (e === undefined) return;
    if (this.#lastAdmitted !== null && this.#lastAdmitted !== e) this.switches++;
    this.#current = e;
    this.#lastAdmitted = e;
    e.failures = 0;
    e.retryAtMs = 0;
    e.lastError = null;
  }

  /** A connection to `url` failed or went away (`code`: its SM_ERR_RELAY_* code). */
  failed(url: string, code: string): void {
    const e = this.#find(url);
    if (e === undefined) return;
    if (this.#current === e) this.#current = null;
    const ceiling = backoffCeilingMs(this.#o.reconnectBaseMs, this.#o.reconnectMaxMs, e.failures);
    e.failures++;
    e.retryAtMs = this.#clock.now() + Math.floor(ceiling / 2 + this.#random() * (ceiling / 2));
    e.lastError = code;
    e.goodProbes = 0;
  }

  /** The link left the current relay on purpose (a move to a better one): no failure, no backoff. */
  left(url: string): void {
    if (this.#current?.target.url === url) this.#current = null;
  }

  /** A light probe of `url` answered in `rttMs`, or failed (null). */
  probed(url: string, rttMs: number | null): void {
    const e = this.#find(url);
    if (e === undefined) return;
    if (rttMs === null) {
      e.probeOk = false;
      e.goodProbes = 0;
      return;
    }
    e.probeOk = true;
    e.goodProbes++;
    e.rttMs = e.rttMs === null ? rttMs : e.rttMs + RTT_SMOOTHING * (rttMs - e.rttMs);
  }

  /** A relay worth leaving the current one for (hysteresis in the file comment), or null. */
  better(): RelayTarget | null {
    const cur = this.#current;
    if (cur === null || cur.rttMs === null) return null;
    const now = this.#clock.now();
    let best: Entry | null = null;
    for (const e of this.#entries) {
      if (e === cur || e.retryAtMs > now || e.probeOk !== true || e.rttMs === null) continue;
      if (e.goodProbes < this.#o.returnAfterGoodProbes) continue;
      if (!(e.rttMs <= cur.rttMs - this.#o.switchMinGainMs && e.rttMs <= cur.rttMs * this.#o.switchRatio)) continue;
      if (best === null || compareEntries(e, best) < 0) best = e;
    }
    return best?.target ?? null;
  }

  /** Every relay with its state, in configuration order. */
  snapshot(): RelayInfo[] {
    const now = this.#clock.now();
    return this.#entries.map((e) => ({
      url: e.target.url,
      pins: e.target.pins,
      state: e === this.#current ? 'current' : e.retryAtMs > now ? 'down' : e.probeOk === false ? 'unreachable' : e.probeOk === true ? 'up' : 'unknown',
      rttMs: e.rttMs === null ? null : Math.round(e.rttMs * 10) / 10,
      failures: e.failures,
      lastError: e.lastError,
    }));
  }

  #find(url: string): Entry | undefined {
    let key: string;
    try {
      key = parseRelayUrl(url).url;
    } catch {
      return undefined;
    }
    return this.#entries.find((e) => e.target.url === key);
  }
}

function compareEntries(a: Entry, b: Entry): number {
  const fa = a.probeOk === false ? 1 : 0;
  const fb = b.probeOk === false ? 1 : 0;
  if (fa !== fb) return fa - fb;
  const ra = a.rttMs ?? Number.POSITIVE_INFINITY;
  const rb = b.rttMs ?? Number.POSITIVE_INFINITY;
  if (ra !== rb) return ra - rb;
  return a.index - b.index;
}
