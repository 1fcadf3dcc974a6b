/**
 * Timer policy of the direct WSS transport (docs/architecture.md "Timers";
 * docs/conventions.md §7): the per-connection budget, the TLS handshake
 * bound handed to the TLS server, and when the ephemeral certificate is
 * rotated or, after a failed rotation, tried again. direct-transport.ts
 * arms the timers; every interval and deadline comes from here.
 *
 * Pure arithmetic: no clock, no timers, never throws.
 */
import { backoffCeilingMs } from '../../util/backoff.js';

/** TCP + TLS + WebSocket + re-handshake within this: a healthy path takes a few RTTs;
 *  10 s also covers a lossy link, and a dead candidate is given up in bounded time. */
export const DEFAULT_DIRECT_CONNECT_TIMEOUT_MS = 10_000;
/** TCP accept to finished TLS handshake, at most (Node's default is 120 s, long enough for a
 *  stranger to hold thousands of sockets and exhaust file descriptors): a TLS 1.3 handshake is
 *  one round trip plus certificates, so 5 s covers a slow satellite link several times over. */
export const DEFAULT_DIRECT_TLS_HANDSHAKE_TIMEOUT_MS = 5_000;
/** Rotate when this fraction of the certificate lifetime is left (6 h of 24 h, as the relay):
 *  room for a missed timer or a sleeping host before the certificate expires. */
export const ROTATE_BEFORE_EXPIRY_FRACTION = 0.25;
/** Shortest lifetime accepted: below a second a certificate could rotate before a handshake ends. */
export const MIN_CERT_LIFETIME_MS = 1_000;
/** First retry of a failed rotation (key generation failing is rare and usually passes): one
 *  second, the shortest lifetime, so even a short-lived certificate gets its retry in time. */
export const ROTATION_RETRY_BASE_MS = MIN_CERT_LIFETIME_MS;
/** Later retries double up to this: a host that keeps failing is not spun on, and a minute is
 *  far inside the quarter lifetime (6 h by default) left before the certificate expires. */
export const ROTATION_RETRY_MAX_MS = 60_000;

/** Delay from `nowMs` until the certificate expiring at `notAfterMs` is rotated (0 when overdue). */
export function rotationDelayMs(notAfterMs: number, certLifetimeMs: number, nowMs: number): number {
  const rotateBeforeMs = Math.floor(certLifetimeMs * ROTATE_BEFORE_EXPIRY_FRACTION);
  return Math.max(0, notAfterMs - rotateBeforeMs - nowMs);
}

/** Delay before the next try after `failures` (>= 1) rotations in a row failed: 1 s, 2 s, 4 s … at most a minute. */
export function rotationRetryDelayMs(failures: number): number {
  return backoffCeilingMs(ROTATION_RETRY_BASE_MS, ROTATION_RETRY_MAX_MS, failures - 1);
}
