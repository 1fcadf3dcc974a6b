/**
 * The probe tick of a node that knows several relays (docs/architecture.md
 * "Several relays"; its timer row in "Timers"). It owns the one periodic
 * timer of the relay choice: every `probeIntervalMs` it probes every relay
 * once (relay-probe.ts, in parallel, each bounded by `probeTimeoutMs`),
 * reports the results to the relay set (relay-set.ts) and, when the set
 * names a clearly faster relay than the current one, asks the link to move
 * (RelayLink.moveTo). Failover on a failure needs no tick: the link asks the
 * set for the next relay itself.
 *
 * start() runs a first probe round before the link starts (at most
 * probeTimeoutMs), so the first admission already goes to the fastest
 * relay. A round never overlaps the previous one. stop() is idempotent and
 * leaves any probe in flight to finish on its own (each is bounded).
 */
import { ConfigError } from '../../errors.js';
import type { Clock, TimerHandle } from '../../util/clock.js';
import type { Logger } from '../../util/logger.js';
import { silentLogger } from '../../util/logger.js';
import { PathCode, RelayLinkCode } from './path-errors.js';
import type { RelayProbeResult, RelayProbeTarget } from './relay-probe.js';
import type { RelaySet } from './relay-set.js';

/** What the tick needs from the link (docs/conventions.md §11). */
export interface MovableLink {
  start(): void;
  moveTo(): void;
}

export interface RelayFailoverOptions {
  probeIntervalMs?: number;
  probeTimeoutMs?: number;
}

/** A probe round every 30 s: a relay that got slower or came back is noticed within a minute, at one TLS handshake per relay and round. */
export const DEFAULT_RELAY_PROBE_INTERVAL_MS = 30_000;
/** A probe slower than this counts as failed; it also bounds how long start() waits before the first admission. */
export const DEFAULT_RELAY_PROBE_TIMEOUT_MS = 2_000;

export const RELAY_FAILOVER_DEFAULTS = Object.freeze({
  probeIntervalMs: DEFAULT_RELAY_PROBE_INTERVAL_MS,
  probeTimeoutMs: DEFAULT_RELAY_PROBE_TIMEOUT_MS,
});

export type RelayProber = (target: RelayProbeTarget, timeoutMs: number) => Promise<RelayProbeResult>;

export class RelayFailover {
  readonly #set: RelaySet;
  readonly #link: MovableLink;
  readonly #probe: RelayProber;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #o: Readonly<Required<RelayFailoverOptions>>;
  #timer: TimerHandle | null = null;
  #running = false;
  #rounds = 0;

  constructor(deps: { set: RelaySet; link: MovableLink; probe: RelayProber; clock: Clock; logger?: Logger }, options: RelayFailoverOptions = {}) {
    for (const key of Object.keys(options)) if (!(key in RELAY_FAILOVER_DEFAULTS)) throw new ConfigError(PathCode.OPTION, `relay failover option ${key}: unknown option`);
    const o = { ...RELAY_FAILOVER_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as Required<RelayFailoverOptions>;
    for (const name of ['probeIntervalMs', 'probeTimeoutMs'] as const) {
      const v = o[name];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 3_600_000) throw new ConfigError(PathCode.OPTION, `relay failover option ${name}: expected an integer in [1, 3600000], got ${String(v)}`);
    }
    this.#o = Object.freeze(o);
    this.#set = deps.set;
    this.#link = deps.link;
    this.#probe = deps.probe;
    this.#clock = deps.clock;
    this.#logger = deps.logger ?? silentLogger;
  }

  /** Completed probe rounds. */
  get rounds(): number {
    return this.#rounds;
  }

  /** First probe round, then the link starts and the tick runs; idempotent. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    void this.#round().then(() => {
      if (!this.#running) return;
      this.#link.start();
      this.#arm();
    });
  }

  stop(): void {
    this.#running = false;
    this.#timer?.cancel();
    this.#timer = null;
  }

  #arm(): void {
    if (!this.#running) return;
    this.#timer = this.#clock.schedule(this.#o.probeIntervalMs, () => {
      this.#timer = null;
      void this.#round().then(() => {
        if (!this.#running) return;
        const better = this.#set.better();
        if (better !== null) {
          this.#logger.info('a faster relay answers; moving', { relay: better.url });
          this.#link.moveTo();
        }
        this.#arm();
      });
    });
  }

  async #round(): Promise<void> {
    const targets = this.#set.targets;
    const results = await Promise.all(targets.map((t) => this.#probe(t, this.#o.probeTimeoutMs).catch((err: unknown) => ({ ok: false as const, code: RelayLinkCode.TLS, message: String(err) }))));
    if (!this.#running) return;
    results.forEach((r, i) => {
      const t = targets[i] as RelayProbeTarget;
      this.#set.probed(t.url, r.ok ? r.rttMs : null);
      if (!r.ok) this.#logger.debug('relay probe failed', { relay: t.url, code: r.code, message: r.message });
    });
    this.#rounds++;
  }
}
