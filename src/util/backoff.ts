/**
 * Capped exponential backoff, the one formula behind every retry delay: the
 * relay link's reconnects (node/path/relay-link.ts), the direct-path retries
 * (node/path/path-timers.ts) and chat retransmissions
 * (messaging/conversation.ts).
 *
 *     ceiling(attempt) = min(maxMs, baseMs x 2^attempt)
 *
 * Each caller keeps its own constants and its own jitter, because the three
 * want different things: the relay link draws uniformly in [0, ceiling)
 * ("full jitter"), so a crowd of nodes reconnecting to a restarted relay
 * spreads out; the path timers take up to a fixed fraction off, so the cap
 * still holds and a broken path still costs about one attempt per ceiling;
 * chat uses the ceiling as it is (one conversation, a deterministic
 * schedule its tests can name).
 *
 * Pure arithmetic: no clock, no randomness, never throws.
 */

/** Doublings beyond this change nothing for any delay under a few years; it keeps 2^attempt finite for a huge count. */
const MAX_DOUBLINGS = 40;

/** baseMs x 2^attempt, at most maxMs (attempt 0 is the first retry: baseMs). Callers validate maxMs >= baseMs > 0. */
export function backoffCeilingMs(baseMs: number, maxMs: number, attempt: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attempt, 0), MAX_DOUBLINGS));
}
