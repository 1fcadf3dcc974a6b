/**
 * All timer policy of one peer's session (docs/conventions.md §7;
 * docs/architecture.md "Sessions and keys": rekey on time and volume, old keys
 * wiped), modelled on WireGuard's timers
 * (whitepaper §6.1-§6.4, REKEY_* / REJECT_* constants).
 *
 * PeerSession only reports events (onDataSent, onDataReceived,
 * onKeysInstalled, onPacketQueued, handshake started/failed) and asks the
 * predicates canSend/canReceive on its hot path. Everything that happens
 * because time passed is decided here, on ONE tick per session: no timer is
 * armed per packet, the hot path only stores a timestamp (and compares one).
 *
 * The tick runs every tickMs while the session carries data (a DATA frame
 * sent or received since the previous tick: the rekey rules below look at
 * exactly that). An idle session's tick sleeps until the first deadline: a
 * pair's expiry, the previous pair's grace, a handshake retry, a keepalive
 * due; with none (no keys, no attempt) it is not armed at all. The first
 * frame sent or received, and every event that sets a deadline, wake it
 * within tickMs. So a thousand idle peers cost nothing between their
 * deadlines instead of 2,000 callbacks a second (docs/architecture.md
 * "Timers").
 *
 * Rekey policy, and why:
 *  - volume: either side asks for a handshake once the current pair sealed
 *    rekeyAfterMessages frames ('rekey_messages').
 *  - time, initiator: the side that initiated the current pair asks after
 *    rekeyAfterTimeMs if it is sending ('rekey_time'), as WireGuard does:
 *    only one side rekeys on time, so the two do not start crossing
 *    handshakes at the same moment. It also asks if it is only receiving once
 *    the pair is lateRekeyAfterMs old (below), so a one-way flow toward it
 *    does not run into the hard expiry.
 *  - time, responder: it asks only if it is still sending when the pair is
 *    lateRekeyAfterMs old = rejectAfterTime - keepaliveTimeout - rekeyTimeout
 *    (165 s by default). By then the initiator had 45 s to rekey and has not
 *    (it is idle, or its handshakes are lost); without this the responder's
 *    traffic would stall at rejectAfterTime, and waiting that long means it
 *    almost never races the initiator.
 *  - "sending"/"receiving" means a DATA frame since the previous tick: idle
 *    peers do not rekey, their keys simply expire and the next packet starts a
 *    fresh handshake ('first_packet').
 *
 * Handshake attempts: an attempt begins when a packet is queued without a key
 * (reported as 'first_packet'), when a rekey is due, or when the owner reports
 * handshakeStarted(). While it runs, no new reason is reported; every
 * rekeyTimeoutMs plus a random jitter in [0, rekeyTimeoutJitterMs] it is
 * retried ('retry'), until installKeys ends it or rekeyAttemptTimeMs has
 * passed since it began, when the host gives up (queued packets dropped).
 *
 * Keepalive: when we authenticated a PAYLOAD frame and sent nothing for
 * keepaliveTimeoutMs since, the host is asked to send a KEEPALIVE (received
 * keepalives never trigger one, or two peers would ping-pong forever).
 *
 * Key lifetime: a pair older than rejectAfterTimeMs, or that sealed
 * rejectAfterMessages frames, is never used to send; a pair older than
 * rejectAfterTimeMs is never used to receive; a previous pair receives for
 * previousKeyGraceMs after it was replaced. The tick tells the host to drop
 * (and wipe) pairs past these limits.
 *
 * Reentrancy: the host's callbacks may call back into this object (e.g.
 * initiateHandshake -> handshakeStarted, or stop()); state is updated before
 * each callback and the tick stops as soon as stop() was called.
 */
import type { Clock, TimerHandle } from '../../util/clock.js';
import { ConfigError } from '../../errors.js';
import { REJECT_AFTER_MESSAGES as AEAD_REJECT_AFTER_MESSAGES } from '../../crypto/aead.js';
import { SessionCode } from './session-errors.js';

/** Initiator rekeys a pair this old while sending: WireGuard's REKEY_AFTER_TIME. */
export const REKEY_AFTER_TIME_MS = 120_000;
/** A pair this old is never used again: WireGuard's REJECT_AFTER_TIME. Bounds
 *  how much traffic one key protects and how long a stolen key is useful. */
export const REJECT_AFTER_TIME_MS = 180_000;
/** Give up a handshake attempt (and drop queued packets) after this long:
 *  WireGuard's REKEY_ATTEMPT_TIME. */
export const REKEY_ATTEMPT_TIME_MS = 90_000;
/** Retry an unanswered handshake after this long: WireGuard's REKEY_TIMEOUT,
 *  above any sane round trip through the relay. */
export const REKEY_TIMEOUT_MS = 5_000;
/** Up to this much random delay is added to each retry, as WireGuard's
 *  REKEY_TIMEOUT_JITTER_MAX (1/3 s), so many peers that lost the relay at
 *  once do not retry in lockstep. */
export const REKEY_TIMEOUT_JITTER_MS = 333;
/** Send a keepalive when we received data but sent nothing this long:
 *  WireGuard's KEEPALIVE_TIMEOUT. Lets the sender see that its data arrives. */
export const KEEPALIVE_TIMEOUT_MS = 10_000;
/** Frames sealed under the previous pair are accepted this long after the
 *  new pair was installed: frames in flight on the old path (relay queue,
 *  a direct path being drained during migration) still land, a relay round
 *  trip being well under a second. Same as KEEPALIVE_TIMEOUT so a quiet peer
 *  has sent something under the new key by then. */
export const PREVIOUS_KEY_GRACE_MS = 10_000;
/** Ask for a new pair after this many sealed frames: WireGuard's
 *  REKEY_AFTER_MESSAGES (2^60), far before the nonce space runs out. */
export const REKEY_AFTER_MESSAGES = 2n ** 60n;
/** Never seal or open with counter >= this (the AEAD's hard limit, leaving
 *  room for the replay window below the u64 wrap). */
export const REJECT_AFTER_MESSAGES = AEAD_REJECT_AFTER_MESSAGES;
/** Cadence of the session tick while the session carries data, and the
 *  longest an event waits for it: fine enough that every deadline above
 *  (>= 5 s) is met within 10 %. An idle session's tick sleeps (header). */
export const SESSION_TICK_MS = 500;

export interface SessionTimerOptions {
  rekeyAfterTimeMs: number;
  rejectAfterTimeMs: number;
  rekeyAttemptTimeMs: number;
  rekeyTimeoutMs: number;
  keepaliveTimeoutMs: number;
  previousKeyGraceMs: number;
  rekeyAfterMessages: bigint;
  tickMs: number;
  /** Maximum random delay added to each retry (ms). */
  rekeyTimeoutJitterMs: number;
  /** Hard message limit per key pair (send and receive). */
  rejectAfterMessages: bigint;
}

export const DEFAULT_SESSION_TIMERS: Readonly<SessionTimerOptions> = Object.freeze({
  rekeyAfterTimeMs: REKEY_AFTER_TIME_MS,
  rejectAfterTimeMs: REJECT_AFTER_TIME_MS,
  rekeyAttemptTimeMs: REKEY_ATTEMPT_TIME_MS,
  rekeyTimeoutMs: REKEY_TIMEOUT_MS,
  keepaliveTimeoutMs: KEEPALIVE_TIMEOUT_MS,
  previousKeyGraceMs: PREVIOUS_KEY_GRACE_MS,
  rekeyAfterMessages: REKEY_AFTER_MESSAGES,
  tickMs: SESSION_TICK_MS,
  rekeyTimeoutJitterMs: REKEY_TIMEOUT_JITTER_MS,
  rejectAfterMessages: REJECT_AFTER_MESSAGES,
});

const MS_KEYS = [
  'rekeyAfterTimeMs', 'rejectAfterTimeMs', 'rekeyAttemptTimeMs', 'rekeyTimeoutMs',
  'keepaliveTimeoutMs', 'previousKeyGraceMs', 'tickMs', 'rekeyTimeoutJitterMs',
] as const;
const BIGINT_KEYS = ['rekeyAfterMessages', 'rejectAfterMessages'] as const;
/** Upper bound for any duration option: one day; more is a unit mistake. */
const MAX_DURATION_MS = 86_400_000;

function bad(name: string, expected: string, got: unknown): never {
  throw new ConfigError(SessionCode.OPTION, `session timers ${name}: expected ${expected}, got ${String(got)}`);
}

/** Defaults merged with `overrides` (undefined values ignored), validated, frozen. Unknown keys are rejected. */
export function resolveSessionTimers(overrides?: Partial<SessionTimerOptions>): Readonly<SessionTimerOptions> {
  const o: SessionTimerOptions = { ...DEFAULT_SESSION_TIMERS };
  if (overrides !== undefined) {
    if (typeof overrides !== 'object' || overrides === null) bad('options', 'an object', overrides);
    const rec = o as unknown as Record<string, unknown>;
    for (const [k, v] of Object.entries(overrides)) {
      if (!(k in DEFAULT_SESSION_TIMERS)) bad(k, 'a known option', 'an unknown key');
      if (v !== undefined) rec[k] = v;
    }
  }
  for (const k of MS_KEYS) {
    const v = o[k];
    const min = k === 'rekeyTimeoutJitterMs' ? 0 : 1;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > MAX_DURATION_MS) {
      bad(k, `an integer number of ms in [${min}, ${MAX_DURATION_MS}]`, v);
    }
  }
  for (const k of BIGINT_KEYS) {
    const v = o[k];
    if (typeof v !== 'bigint' || v < 1n || v > REJECT_AFTER_MESSAGES) bad(k, `a bigint in [1, ${REJECT_AFTER_MESSAGES}]`, v);
  }
  if (o.rekeyAfterTimeMs >= o.rejectAfterTimeMs) bad('rekeyAfterTimeMs', `less than rejectAfterTimeMs (${o.rejectAfterTimeMs})`, o.rekeyAfterTimeMs);
  if (o.rekeyAfterMessages > o.rejectAfterMessages) bad('rekeyAfterMessages', `at most rejectAfterMessages (${o.rejectAfterMessages})`, o.rekeyAfterMessages);
  if (o.rekeyTimeoutMs > o.rekeyAttemptTimeMs) bad('rekeyTimeoutMs', `at most rekeyAttemptTimeMs (${o.rekeyAttemptTimeMs})`, o.rekeyTimeoutMs);
  if (o.keepaliveTimeoutMs + o.rekeyTimeoutMs >= o.rejectAfterTimeMs) {
    bad('rejectAfterTimeMs', `more than keepaliveTimeoutMs + rekeyTimeoutMs (${o.keepaliveTimeoutMs + o.rekeyTimeoutMs})`, o.rejectAfterTimeMs);
  }
  return Object.freeze(o);
}

export type HandshakeReason = 'first_packet' | 'rekey_time' | 'rekey_messages' | 'retry';

/** What the timers need to know about a key pair (KeyPair implements it). */
export interface TimedKeyPair {
  readonly createdAtMs: number;
  /** When it stopped being current; null while current. */
  readonly retiredAtMs: number | null;
  readonly isInitiator: boolean;
  /** Frames sealed so far. */
  readonly sent: bigint;
}

/** The session the timers act on (PeerSession implements it). */
export interface SessionTimerHost {
  currentKeyPair(): TimedKeyPair | null;
  previousKeyPair(): TimedKeyPair | null;
  /** Drop and wipe a key pair the timers declared dead. */
  dropKeyPair(which: 'current' | 'previous'): void;
  initiateHandshake(reason: HandshakeReason): void;
  sendKeepalive(): void;
  /** The attempt ran out: drop the queued packets and tell the owner. */
  handshakeGaveUp(): void;
}

export class SessionTimers {
  readonly options: Readonly<SessionTimerOptions>;
  /** Age at which the responder (or a receive-only initiator) rekeys; see header. */
  readonly lateRekeyAfterMs: number;
  readonly #clock: Clock;
  readonly #host: SessionTimerHost;
  readonly #rng: (n: number) => Uint8Array;
  #handle: TimerHandle | null = null;
  /** When the armed tick runs; Infinity while none is armed. Compared on the hot path (#wake). */
  #dueMs = Infinity;
  #running = false;
  #lastTickMs = -Infinity;
  /** Whether a DATA frame was sent or received between the last two ticks (the session is active). */
  #carriedData = false;
  #lastSentMs = -Infinity;
  #lastReceivedMs = -Infinity;
  /** First PAYLOAD authenticated since we last sent; NaN when none is waiting for an answer. */
  #unansweredSinceMs = Number.NaN;
  /** Start of the running handshake attempt; NaN when none runs. */
  #attemptStartMs = Number.NaN;
  #nextRetryMs = Number.NaN;
  readonly #onTick = (): void => {
    this.#handle = null;
    this.#dueMs = Infinity;
    if (!this.#running) return;
    this.tick(this.#clock.now());
    if (this.#running && this.#handle === null) this.#arm(this.nextTickDelayMs(this.#clock.now()));
  };

  constructor(
    deps: { clock: Clock; host: SessionTimerHost; rng: (n: number) => Uint8Array },
    options?: Partial<SessionTimerOptions>,
  ) {
    this.options = resolveSessionTimers(options);
    this.lateRekeyAfterMs = this.options.rejectAfterTimeMs - this.options.keepaliveTimeoutMs - this.options.rekeyTimeoutMs;
    this.#clock = deps.clock;
    this.#host = deps.host;
    this.#rng = deps.rng;
  }

  // ---- hot-path predicates -------------------------------------------------

  /** May `kp` seal a frame now? Current, younger than rejectAfterTime, under the message limit. */
  canSend(kp: TimedKeyPair, nowMs: number): boolean {
    return kp.retiredAtMs === null && nowMs - kp.createdAtMs < this.options.rejectAfterTimeMs && kp.sent < this.options.rejectAfterMessages;
  }

  /** May `kp` open a frame now? Younger than rejectAfterTime and, if replaced, still within the grace. */
  canReceive(kp: TimedKeyPair, nowMs: number): boolean {
    if (nowMs - kp.createdAtMs >= this.options.rejectAfterTimeMs) return false;
    return kp.retiredAtMs === null || nowMs - kp.retiredAtMs < this.options.previousKeyGraceMs;
  }

  /** True while a handshake attempt runs (from its start until keys or give-up). */
  get handshakeInProgress(): boolean {
    return !Number.isNaN(this.#attemptStartMs);
  }

  // ---- events ----------------------------------------------------------------

  /** A DATA frame (payload or keepalive) was sealed. */
  onDataSent(nowMs: number): void {
    this.#lastSentMs = nowMs;
    this.#unansweredSinceMs = Number.NaN;
    this.#wake(nowMs);
  }

  /** A DATA frame authenticated; `payload` is false for keepalives. */
  onDataReceived(nowMs: number, payload: boolean): void {
    this.#lastReceivedMs = nowMs;
    if (payload && Number.isNaN(this.#unansweredSinceMs)) this.#unansweredSinceMs = nowMs;
    this.#wake(nowMs);
  }

  /** A packet was queued for lack of a key: start an attempt unless one runs. */
  onPacketQueued(nowMs: number): void {
    if (this.handshakeInProgress) return;
    this.#beginAttempt(nowMs);
    this.#wake(nowMs);
    this.#host.initiateHandshake('first_packet');
  }

  /** The owner sent HS_INIT: the retry clock counts from now. Begins an attempt if none runs. */
  onHandshakeStarted(nowMs: number): void {
    if (!this.handshakeInProgress) this.#attemptStartMs = nowMs;
    this.#nextRetryMs = nowMs + this.#retryDelayMs();
    this.#wake(nowMs);
  }

  /** The owner's handshake failed: retry after the usual delay (not at once: a failing peer is not hammered). */
  onHandshakeFailed(nowMs: number): void {
    if (!this.handshakeInProgress) return;
    this.#nextRetryMs = nowMs + this.#retryDelayMs();
    this.#wake(nowMs);
  }

  /** New keys are current: the attempt, if any, succeeded. The previous pair's grace now runs out (a deadline). */
  onKeysInstalled(): void {
    this.#attemptStartMs = Number.NaN;
    this.#nextRetryMs = Number.NaN;
    this.#wake(this.#clock.now());
  }

  /**
   * How long the tick may wait after running at `nowMs` (header): tickMs while the session carried data since
   * the previous tick, else until the first deadline but at least tickMs; Infinity when nothing is due (no key
   * pair, no attempt, no keepalive owed). Public so tests can read it.
   */
  nextTickDelayMs(nowMs: number): number {
    const o = this.options;
    if (this.#carriedData) return o.tickMs;
    let next = Infinity;
    const due = (ms: number): void => {
      if (ms < next) next = ms; // NaN (nothing scheduled) compares false
    };
    const host = this.#host;
    const prev = host.previousKeyPair();
    if (prev !== null) {
      due(prev.createdAtMs + o.rejectAfterTimeMs);
      if (prev.retiredAtMs !== null) due(prev.retiredAtMs + o.previousKeyGraceMs);
    }
    const cur = host.currentKeyPair();
    if (cur !== null) {
      due(cur.createdAtMs + o.rejectAfterTimeMs);
      if (cur.retiredAtMs !== null) due(cur.retiredAtMs + o.previousKeyGraceMs);
    }
    due(this.#nextRetryMs);
    due(this.#unansweredSinceMs + o.keepaliveTimeoutMs);
    return next === Infinity ? Infinity : Math.max(o.tickMs, next - nowMs);
  }

  /** Have the tick run within tickMs of `nowMs` (it may be sleeping until a later deadline, or not armed). */
  #wake(nowMs: number): void {
    if (!this.#running || this.#dueMs <= nowMs + this.options.tickMs) return;
    this.#handle?.cancel();
    this.#handle = null;
    this.#arm(this.options.tickMs);
  }

  #arm(delayMs: number): void {
    if (delayMs === Infinity) {
      this.#dueMs = Infinity;
      return;
    }
    this.#dueMs = this.#clock.now() + delayMs;
    this.#handle = this.#clock.schedule(delayMs, this.#onTick);
  }

  // ---- lifecycle ---------------------------------------------------------

  /** Start the periodic tick. Idempotent. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#lastTickMs = this.#clock.now();
    this.#arm(this.options.tickMs);
  }

  /** Stop the tick and forget all timer state. Idempotent. */
  stop(): void {
    this.#running = false;
    if (this.#handle !== null) {
      this.#handle.cancel();
      this.#handle = null;
    }
    this.#dueMs = Infinity;
    this.#carriedData = false;
    this.#lastSentMs = -Infinity;
    this.#lastReceivedMs = -Infinity;
    this.#unansweredSinceMs = Number.NaN;
    this.#attemptStartMs = Number.NaN;
    this.#nextRetryMs = Number.NaN;
  }

  /** One pass of the policy at `nowMs`. Called by the periodic tick; public for tests. */
  tick(nowMs: number): void {
    const o = this.options;
    const host = this.#host;
    const since = this.#lastTickMs;
    this.#lastTickMs = nowMs;
    this.#carriedData = this.#lastSentMs >= since || this.#lastReceivedMs >= since;

    // 1. Lifetimes: drop pairs that can no longer be used either way.
    const prev = host.previousKeyPair();
    if (prev !== null && !this.canReceive(prev, nowMs)) host.dropKeyPair('previous');
    let cur = host.currentKeyPair();
    if (cur !== null && nowMs - cur.createdAtMs >= o.rejectAfterTimeMs) {
      host.dropKeyPair('current');
      cur = null;
    }

    // 2. A running attempt: retry or give up.
    if (this.handshakeInProgress) {
      if (nowMs >= this.#nextRetryMs) {
        if (nowMs - this.#attemptStartMs >= o.rekeyAttemptTimeMs) {
          this.#attemptStartMs = Number.NaN;
          this.#nextRetryMs = Number.NaN;
          host.handshakeGaveUp();
        } else {
          this.#nextRetryMs = nowMs + this.#retryDelayMs();
          host.initiateHandshake('retry');
        }
        if (!this.#running) return;
      }
    } else if (cur !== null && cur.retiredAtMs === null) {
      // 3. Rekey of a live pair (policy in the header comment).
      const age = nowMs - cur.createdAtMs;
      const sending = this.#lastSentMs >= since;
      const receiving = this.#lastReceivedMs >= since;
      let reason: HandshakeReason | null = null;
      if (cur.sent >= o.rekeyAfterMessages) reason = 'rekey_messages';
      else if (cur.isInitiator && sending && age >= o.rekeyAfterTimeMs) reason = 'rekey_time';
      else if ((sending || (cur.isInitiator && receiving)) && age >= this.lateRekeyAfterMs) reason = 'rekey_time';
      if (reason !== null) {
        this.#beginAttempt(nowMs);
        host.initiateHandshake(reason);
        if (!this.#running) return;
      }
    }

    // 4. Keepalive for data we received but did not answer.
    if (!Number.isNaN(this.#unansweredSinceMs) && nowMs - this.#unansweredSinceMs >= o.keepaliveTimeoutMs) {
      this.#unansweredSinceMs = Number.NaN;
      const live = host.currentKeyPair();
      if (live !== null && this.canSend(live, nowMs)) host.sendKeepalive();
    }
  }

  #beginAttempt(nowMs: number): void {
    this.#attemptStartMs = nowMs;
    this.#nextRetryMs = nowMs + this.#retryDelayMs();
  }

  /** rekeyTimeoutMs plus a uniform jitter in [0, rekeyTimeoutJitterMs] from the injected rng. */
  #retryDelayMs(): number {
    const j = this.options.rekeyTimeoutJitterMs;
    if (j === 0) return this.options.rekeyTimeoutMs;
    const b = this.#rng(4);
    const r = ((b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0) / 0x1_0000_0000;
    return this.options.rekeyTimeoutMs + Math.floor(r * (j + 1));
  }
}
