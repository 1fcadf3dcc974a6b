/**
 * All timer policy of the relay link (docs/architecture.md "Timers";
 * docs/conventions.md §7: one file owns an object's timer policy, on an
 * injected clock). The link (relay-link.ts) only reports events (an attempt
 * started, an admission, a failure, a frame from the relay) and keeps the
 * time it last heard from the relay; this file decides what happens when
 * time passes:
 *
 *  - connect deadline: TCP + TLS + WebSocket + admission must finish within
 *    `connectTimeoutMs`, or the attempt fails;
 *  - idle check: once admitted, the relay announces an idle timeout; the
 *    link is declared dead when nothing came from the relay for longer, and
 *    that is checked four times per timeout (detection at most 25 % late);
 *  - reconnect backoff: after a failure the next attempt waits a uniform
 *    random time in [0, ceiling] (full jitter, so a crowd of nodes does not
 *    reconnect to a restarted relay in lockstep), the ceiling doubling per
 *    failure from `reconnectBaseMs` up to `reconnectMaxMs`
 *    (src/util/backoff.ts); an admission resets it;
 *  - with several relays, the delay before the next attempt comes from the
 *    relay set (relay-set.ts: backoff per relay, jitter on a move); this
 *    file only arms it;
 *  - close grace: stop() gives the relay this long to acknowledge our close
 *    before the socket is cut.
 *
 * One timer at most per concern and per link, never one per frame. Every
 * returned handle's cancel() is idempotent; a cancelled idle check never
 * fires again. Callbacks run from the clock, never synchronously from the
 * call that armed them.
 */
import { backoffCeilingMs } from '../../util/backoff.js';
import type { Clock, TimerHandle } from '../../util/clock.js';

/** Admission usually takes milliseconds; 10 s covers a slow network and a busy relay. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** First backoff ceiling: quick enough that a relay restart is barely noticed. */
export const DEFAULT_RECONNECT_BASE_MS = 500;
/** Backoff cap: a relay down for long is retried twice a minute, not hammered. */
export const DEFAULT_RECONNECT_MAX_MS = 30_000;
/** How long stop() waits for the relay to acknowledge our close before cutting the socket. */
export const LINK_CLOSE_GRACE_MS = 500;
/** Idle checks per announced idle timeout: four bound the detection delay to a quarter of the timeout. */
export const IDLE_CHECKS_PER_TIMEOUT = 4;

export interface RelayLinkTimerOptions {
  connectTimeoutMs: number;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
}

/** How often the link checks for silence from a relay that announced `idleTimeoutMs` (at least every 1 ms). */
export function idleCheckPeriodMs(idleTimeoutMs: number): number {
  return Math.max(1, Math.floor(idleTimeoutMs / IDLE_CHECKS_PER_TIMEOUT));
}

/** The delay before the next attempt after `failures` failures since the last admission; `random` in [0, 1). */
export function reconnectDelayMs(options: RelayLinkTimerOptions, failures: number, random: number): number {
  return Math.floor(random * backoffCeilingMs(options.reconnectBaseMs, options.reconnectMaxMs, failures));
}

export class RelayLinkTimers {
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #o: RelayLinkTimerOptions;
  /** Failures since the last admission: the backoff exponent. */
  #failures = 0;

  constructor(deps: { clock: Clock; random: () => number }, options: RelayLinkTimerOptions) {
    this.#clock = deps.clock;
    this.#random = deps.random;
    this.#o = Object.freeze({ connectTimeoutMs: options.connectTimeoutMs, reconnectBaseMs: options.reconnectBaseMs, reconnectMaxMs: options.reconnectMaxMs });
  }

  get options(): Readonly<RelayLinkTimerOptions> {
    return this.#o;
  }

  /** Failures since the last admission. */
  get failures(): number {
    return this.#failures;
  }

  /** An attempt started: `onExpire` runs if it is not admitted within connectTimeoutMs. */
  connectDeadline(onExpire: () => void): TimerHandle {
    return this.#clock.schedule(this.#o.connectTimeoutMs, onExpire);
  }

  /** Admitted: the next failure backs off from the base again. */
  admitted(): void {
    this.#failures = 0;
  }

  /**
   * Watch an admitted connection: every idleCheckPeriodMs, `onDead(silentMs)`
   * runs (once, and the watch ends) if `lastSeenMs()` is more than
   * `idleTimeoutMs` ago.
   */
  watchIdle(idleTimeoutMs: number, lastSeenMs: () => number, onDead: (silentMs: number) => void): TimerHandle {
    const periodMs = idleCheckPeriodMs(idleTimeoutMs);
    let pending: TimerHandle | null = null;
    let cancelled = false;
    const arm = (): void => {
      pending = this.#clock.schedule(periodMs, () => {
        pending = null;
        if (cancelled) return;
        const silentMs = this.#clock.now() - lastSeenMs();
        if (silentMs > idleTimeoutMs) {
          cancelled = true;
          onDead(silentMs);
          return;
        }
        arm();
      });
    };
    arm();
    return {
      cancel: () => {
        cancelled = true;
        pending?.cancel();
        pending = null;
      },
    };
  }

  /** An attempt failed: `onDue` runs after the backoff delay for this failure, which counts towards the next. */
  reconnectAfterFailure(onDue: () => void): TimerHandle {
    const delayMs = reconnectDelayMs(this.#o, this.#failures, this.#random());
    this.#failures++;
    return this.#clock.schedule(delayMs, onDue);
  }

  /** With several relays: the next attempt after the delay the relay set chose (relay-set.ts owns that backoff). */
  after(delayMs: number, onDue: () => void): TimerHandle {
    return this.#clock.schedule(Math.max(0, delayMs), onDue);
  }

  /** stop() sent its close: `onExpire` cuts the socket if the relay has not closed it by then. */
  closeGrace(onExpire: () => void): TimerHandle {
    return this.#clock.schedule(LINK_CLOSE_GRACE_MS, onExpire);
  }
}
