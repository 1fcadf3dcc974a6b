/**
 * The RTT estimate of one direct path: the minimum of the probe RTTs
 * answered within the last RTT_WINDOW_MS (docs/architecture.md "The
 * selector"). Queueing delay only ever adds to a round trip, so under a
 * saturating load every probe comes back late, while the minimum over a
 * window that reaches back before the load keeps the path's real
 * propagation delay. A path choice made on the last sample flaps exactly
 * when the link is busiest (issue 12); one made on the windowed minimum
 * does not, and still follows a real, lasting change of route within one
 * window.
 *
 * A monotonic queue: samples are kept in time order with strictly
 * increasing RTTs, so the front is the minimum of the window; a new sample
 * evicts every later-kept sample it undercuts. Memory is bounded by
 * RTT_WINDOW_MAX_SAMPLES whatever the probe rate. Time comes from the
 * caller (docs/conventions.md §7); nothing here reads a clock.
 */
import { ConfigError } from '../../errors.js';
import { PathCode } from './path-errors.js';

/** How far back the minimum reaches: twenty probe intervals, long enough
 *  that a burst of load (an iperf run, a file copy) is covered by samples
 *  taken before it, short enough that a real route change is followed
 *  within ten seconds. */
export const RTT_WINDOW_MS = 10_000;
/** Most samples kept. A monotonic queue rarely holds more than a few; the
 *  bound only matters if probes were answered far faster than their
 *  500 ms cadence (it then forgets the oldest, which can only raise the
 *  estimate, never invent a low one). */
export const RTT_WINDOW_MAX_SAMPLES = 64;

export class RttWindow {
  readonly #windowMs: number;
  readonly #atMs: number[] = [];
  readonly #rttMs: number[] = [];
  #last: number | null = null;

  constructor(windowMs = RTT_WINDOW_MS) {
    if (!(Number.isFinite(windowMs) && windowMs > 0)) throw new ConfigError(PathCode.OPTION, `rtt window windowMs: expected a positive number of ms, got ${String(windowMs)}`);
    this.#windowMs = windowMs;
  }

  /** Record an answered probe's RTT, measured at `nowMs`. */
  add(nowMs: number, rttMs: number): void {
    this.#last = rttMs;
    while (this.#rttMs.length > 0 && (this.#rttMs[this.#rttMs.length - 1] as number) >= rttMs) {
      this.#rttMs.pop();
      this.#atMs.pop();
    }
    this.#rttMs.push(rttMs);
    this.#atMs.push(nowMs);
    if (this.#rttMs.length > RTT_WINDOW_MAX_SAMPLES) {
      this.#rttMs.shift();
      this.#atMs.shift();
    }
    this.#expire(nowMs);
  }

  /**
   * The minimum RTT answered within the window ending at `nowMs`; when no
   * sample is that recent, the last one ever (a path that stopped answering
   * loses its trust long before this matters); null before any sample.
   */
  estimate(nowMs: number): number | null {
    this.#expire(nowMs);
    return this.#rttMs.length > 0 ? (this.#rttMs[0] as number) : this.#last;
  }

  /** The most recent sample, null before any. */
  get last(): number | null {
    return this.#last;
  }

  #expire(nowMs: number): void {
    while (this.#atMs.length > 0 && (this.#atMs[0] as number) < nowMs - this.#windowMs) {
      this.#atMs.shift();
      this.#rttMs.shift();
    }
  }
}
