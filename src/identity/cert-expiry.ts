/**
 * Certificate expiry warnings (docs/architecture.md "Certificate expiry"): when
 * a member certificate or the CA certificate ends within the warning window
 * (30 days), `status`, /stats, a Prometheus gauge and the log say so, so an
 * operator renews before members are refused.
 *
 *   certExpiry()          the decision, from notAfter and the time now:
 *                         'ok', 'expiring' (within the window), 'expired';
 *                         its log level is 'warn', or 'error' when expired
 *                         or under EXPIRY_ERROR_MS (24 h) are left
 *   nextExpiryCheckDelayMs()  when to look again: at the next threshold
 *                         (window, 7 d, 1 d, expiry) of any certificate, and
 *                         at least once every EXPIRY_RECHECK_MS (24 h)
 *   CertExpiryWatch       logs at start() and at each check, one line per
 *                         certificate in the window; one timer on the
 *                         injected clock (unref'd on the system clock),
 *                         cancelled by stop()
 *
 * Pure decisions take the time as an argument so tests need no clock.
 */
import { formatDuration } from '../util/duration.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import type { Logger } from '../util/logger.js';

const DAY_MS = 24 * 60 * 60 * 1_000;

/** Warn when a certificate ends within this long. */
export const DEFAULT_EXPIRY_WARNING_MS = 30 * DAY_MS;
/** Under this long left (or expired), the log line is an error. */
export const EXPIRY_ERROR_MS = DAY_MS;
/** Look again at least this often while running. */
export const EXPIRY_RECHECK_MS = DAY_MS;
/** Time-left thresholds within the window at which a check is scheduled (besides the window itself). */
const EXPIRY_THRESHOLDS_MS = [7 * DAY_MS, DAY_MS, 0];

export type ExpiryState = 'ok' | 'expiring' | 'expired';

/** One certificate's expiry as status, /stats and the log report it. */
export interface CertExpiry {
  /** Which certificate: 'member', 'ca' or 'tls'. */
  cert: string;
  notAfter: string;
  notAfterMs: number;
  /** notAfter minus now; negative once expired. */
  remainingMs: number;
  state: ExpiryState;
  /** What the log says about it: nothing when 'ok'. */
  level: 'none' | 'warn' | 'error';
}

/** The expiry decision for a certificate ending at `notAfterMs`, seen at `nowMs`. */
export function certExpiry(cert: string, notAfterMs: number, nowMs: number, windowMs: number = DEFAULT_EXPIRY_WARNING_MS): CertExpiry {
  const remainingMs = notAfterMs - nowMs;
  const state: ExpiryState = remainingMs <= 0 ? 'expired' : remainingMs <= windowMs ? 'expiring' : 'ok';
  const level = state === 'ok' ? 'none' : remainingMs < EXPIRY_ERROR_MS ? 'error' : 'warn';
  return { cert, notAfter: new Date(notAfterMs).toISOString(), notAfterMs, remainingMs, state, level };
}

/** "9d23h" for a time left, rounded down to the minute (hours from a day up); "expired 2h ago" once past. */
export function formatTimeLeft(remainingMs: number): string {
  const abs = Math.abs(remainingMs);
  const unit = abs >= DAY_MS ? 3_600_000 : 60_000;
  const text = abs < 60_000 ? '0m' : formatDuration(Math.floor(abs / unit) * unit);
  return remainingMs <= 0 ? `expired ${text} ago` : `${text} left`;
}

/** What the log line says: "member certificate expires in 9d23h (2026-...)". */
export function expiryMessage(e: CertExpiry): string {
  const what = e.cert === 'ca' ? 'CA certificate' : e.cert === 'tls' ? 'relay TLS certificate' : `${e.cert} certificate`;
  return e.state === 'expired'
    ? `${what} expired at ${e.notAfter} (${formatTimeLeft(e.remainingMs)})`
    : `${what} expires at ${e.notAfter} (${formatTimeLeft(e.remainingMs)}); renew it`;
}

/** Delay until the next check: the next threshold any certificate crosses, at most EXPIRY_RECHECK_MS, at least 1 s. */
export function nextExpiryCheckDelayMs(notAfterMs: readonly number[], nowMs: number, windowMs: number = DEFAULT_EXPIRY_WARNING_MS): number {
  let delay = EXPIRY_RECHECK_MS;
  for (const end of notAfterMs) {
    for (const t of [windowMs, ...EXPIRY_THRESHOLDS_MS.filter((x) => x < windowMs)]) {
      const at = end - t;
      if (at > nowMs) delay = Math.min(delay, at - nowMs);
    }
  }
  return Math.max(1_000, delay);
}

export interface WatchedCertificate {
  readonly cert: string;
  readonly notAfterMs: number;
}

/** Logs certificates that end within the window, at start and then at each threshold and once a day. */
export class CertExpiryWatch {
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #windowMs: number;
  readonly #certs: () => readonly WatchedCertificate[];
  #timer: TimerHandle | null = null;
  #running = false;

  /** `certs` is read at every check, so a certificate replaced while running is seen. */
  constructor(deps: { clock: Clock; logger: Logger; certs: () => readonly WatchedCertificate[] }, windowMs: number = DEFAULT_EXPIRY_WARNING_MS) {
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#certs = deps.certs;
    this.#windowMs = windowMs;
  }

  /** The decisions now, for every watched certificate. */
  current(): CertExpiry[] {
    const now = this.#clock.now();
    return this.#certs().map((c) => certExpiry(c.cert, c.notAfterMs, now, this.#windowMs));
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#check();
  }

  /** Check again now and reschedule from the certificates in force (after one was replaced); no-op unless started. */
  recheck(): void {
    if (!this.#running) return;
    this.#timer?.cancel();
    this.#timer = null;
    this.#check();
  }

  stop(): void {
    this.#running = false;
    this.#timer?.cancel();
    this.#timer = null;
  }

  #check(): void {
    if (!this.#running) return;
    const all = this.current();
    for (const e of all) {
      if (e.level === 'none') continue;
      const fields = { cert: e.cert, notAfter: e.notAfter, remainingSeconds: Math.floor(e.remainingMs / 1_000) };
      if (e.level === 'error') this.#logger.error(expiryMessage(e), fields);
      else this.#logger.warn(expiryMessage(e), fields);
    }
    const delay = nextExpiryCheckDelayMs(all.map((e) => e.notAfterMs), this.#clock.now(), this.#windowMs);
    this.#timer = this.#clock.schedule(delay, () => this.#check());
  }
}
