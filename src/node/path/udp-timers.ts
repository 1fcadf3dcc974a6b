/**
 * Timer policy of the direct UDP transport (docs/architecture.md "Timers";
 * docs/conventions.md §7): the punch cadence and deadline, the grace for
 * late answers, STUN refreshes, MTU re-probes, the drain of a closed path's
 * address and the rate of peer-reflexive probes back. udp-transport.ts arms
 * the timers; every interval and deadline comes from here.
 *
 * Pure arithmetic: no clock, no timers, never throws.
 */

/** Punch probes go out this often while punching: a few per peer RTT, so a hole opens within one
 *  round trip of both sides starting, without flooding a NAT's new-mapping rate limits. */
export const DEFAULT_PUNCH_INTERVAL_MS = 200;
/** Give up a punch after this long (then the path manager backs off and retries): both sides start
 *  within one relay round trip of each other, so 5 s covers slow relays and lost offers twice over. */
export const DEFAULT_PUNCH_TIMEOUT_MS = 5_000;
/** After the first answer, keep listening this long for others (a LAN answer after a reflexive one). */
export const PUNCH_GRACE_MS = 250;
/** Re-ask STUN this often: refreshes the reflexive address (a NAT may re-map) and keeps the
 *  mapping towards the STUN server alive; below the 30 s UDP timeout common NATs use. */
export const DEFAULT_STUN_INTERVAL_MS = 25_000;
/** connect() re-asks STUN when the last answer is older than this (not on every retry of a burst). */
export const STUN_ON_CONNECT_MIN_AGE_MS = 2_000;
/** MTU probes are sent at path creation and again after this (one lost probe is not a small MTU). */
export const UDP_MTU_REPROBE_MS = 1_000;
/** A closed path's address keeps delivering late frames this long (its frames may still be in flight). */
export const UDP_CLOSE_DRAIN_MS = 2_000;
/** A peer-reflexive probe back to one source at most this often. */
export const PROBE_BACK_MIN_INTERVAL_MS = 100;

/** Whether a probe back to a source last probed at `lastMs` (undefined: never) may go out at `nowMs`. */
export function probeBackDue(lastMs: number | undefined, nowMs: number): boolean {
  return lastMs === undefined || nowMs - lastMs >= PROBE_BACK_MIN_INTERVAL_MS;
}
