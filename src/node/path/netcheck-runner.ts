/**
 * The daemon's `netcheck` (docs/architecture.md "Web console"; the control
 * method of src/node/control/control-handlers.ts): the measurement of
 * netcheck-probe.ts towards this node's own relays and STUN servers, run
 * for whoever asks (the CLI over the control socket, the console's
 * "Network check" panel), bounded:
 *
 *  - One run at a time: a request while one runs waits for that run and
 *    gets its report. However often a page or a script asks, the daemon
 *    opens at most one extra UDP socket and one TLS probe per relay.
 *  - A report is reused for NETCHECK_CACHE_MS after it finished (`cached`
 *    is then true); `fresh` starts a new run only once that long has
 *    passed since the last one started, so a held-down Run button cannot
 *    turn the node into a packet source.
 *
 * A run never throws for what the network does (netcheck-probe.ts); a
 * failure of the run itself (no socket) is passed to every waiter and not
 * cached. The clock is the caller's (tests pass a fake).
 */
import type { Clock } from '../../util/clock.js';
import type { NetcheckReport } from './netcheck-probe.js';

/** A report is this fresh enough to hand out again: a NAT's mapping and a relay's latency change over minutes, not seconds. */
export const NETCHECK_CACHE_MS = 30_000;
/** Runs are at least this far apart even when asked for fresh: the same as the cache, so repeated Runs measure nothing new. */
export const NETCHECK_MIN_INTERVAL_MS = NETCHECK_CACHE_MS;

export interface NetcheckRun extends NetcheckReport {
  /** When the measurement finished (clock ms). */
  measuredAtMs: number;
  /** True when this answer is a report measured for an earlier request. */
  cached: boolean;
}

export class NetcheckRunner {
  readonly #measure: () => Promise<NetcheckReport>;
  readonly #clock: Clock;
  #running: Promise<NetcheckRun> | null = null;
  #last: NetcheckRun | null = null;
  #lastStartMs = Number.NEGATIVE_INFINITY;
  /** Runs started (tests, status). */
  runs = 0;

  constructor(deps: { measure: () => Promise<NetcheckReport>; clock: Clock }) {
    this.#measure = deps.measure;
    this.#clock = deps.clock;
  }

  /** The last report if recent enough (or `fresh` asked too soon after the last run), else the run in progress, else a new run. */
  run(options: { fresh?: boolean } = {}): Promise<NetcheckRun> {
    const now = this.#clock.now();
    if (this.#running !== null) return this.#running.then((r) => ({ ...r, cached: true }));
    const last = this.#last;
    if (last !== null) {
      const reusable = options.fresh === true ? now - this.#lastStartMs < NETCHECK_MIN_INTERVAL_MS : now - last.measuredAtMs < NETCHECK_CACHE_MS;
      if (reusable) return Promise.resolve({ ...last, cached: true });
    }
    this.#lastStartMs = now;
    this.runs++;
    const running = this.#measure().then(
      (report) => {
        const r: NetcheckRun = { ...report, measuredAtMs: this.#clock.now(), cached: false };
        this.#last = r;
        return r;
      },
    ).finally(() => {
      this.#running = null;
    });
    this.#running = running;
    return running;
  }
}
