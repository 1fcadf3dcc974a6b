/**
 * Path selection for one peer, as a pure scoring function (docs/architecture.md
 * "The selector": a pure function with hysteresis and a trust window). No clock, no I/O: the path manager passes
 * what it measured and applies the decision.
 *
 * Rules, in order:
 *  1. A direct path is TRUSTED when it is alive and a probe was answered
 *     within the trust window (sinceAckMs <= trustWindowMs). Trusted direct
 *     beats the relay.
 *  2. The current selection is kept while it is trusted (direct) or while
 *     nothing trusted is on offer (relay), unless rule 4 allows a switch.
 *  3. Forced moves ignore the dwell time: the current direct path died or
 *     vanished -> the best trusted direct, else the relay ('fallback'); the
 *     current direct path is alive but its trust lapsed -> another trusted
 *     direct if there is one ('fallback'), else keep it and MIRROR on the
 *     relay (send on both until a probe answers, 'trust_lapsed').
 *  4. Voluntary moves: relay -> trusted direct ('upgrade') happens at once,
 *     since the migration target is tens of ms and relay and direct are
 *     never near-equal (what damps relay <-> direct flapping is the trust
 *     window, mirroring instead of demoting, and the retry backoff after a
 *     death). Direct -> another direct ('better_rtt') needs both the
 *     minimum dwell on the current selection and an RTT gain beyond the
 *     margin, max(rttMarginMs, current RTT x rttMarginRatio): hysteresis,
 *     so two near-equal paths do not flap.
 *     A direct path of a preferred rank (path-rank.ts: UDP before WSS,
 *     since UDP survives NAT rebinding and avoids TCP over TCP; an address
 *     on a link of this machine before one behind a tunnel device, a local
 *     network address before a public one) whose RTT
 *     is within the absolute margin of the current one also wins after the
 *     dwell ('better_carrier'); the margin keeps it from flapping.
 *     A BUSY current path (it carried data recently) is never left for a
 *     path of a worse carrier (path-rank.ts carrierRank: UDP, then WSS) on
 *     RTT alone: queueing delay behind its own data is what raises a busy
 *     path's RTT, so such a move flaps exactly when the link is busiest
 *     (issue 12). Only the forced moves of rule 3 leave it. The RTTs given
 *     here are windowed minimums (rtt-window.ts) for the same reason.
 *  5. Among trusted directs the lowest RTT wins, except that RTTs within
 *     the absolute margin count as equal and the lower rank wins; ties go
 *     to the longest established, then the smaller id, so the result is
 *     deterministic.
 *  6. A REDUNDANT direct path (the second WSS connection of a pair, where
 *     each side dialed one; the path manager marks it only while the one
 *     it duplicates is trusted, and both ends mark the same one) is never
 *     the best. A current selection that is redundant is left for the best
 *     trusted direct at once, dwell or not ('redundant'); the manager then
 *     drains and closes it.
 *
 * The relay is the floor: when no candidate is trusted and the current one
 * is not an alive direct, the relay is chosen even if its link is down
 * (frames are then refused and counted). With no relay candidate and no
 * trusted direct the result's primary is null.
 */
import type { PathKind } from './path.js';

export interface Candidate {
  id: string;
  kind: PathKind;
  /** Open and not declared dead. Relay candidates count as alive (the floor). */
  alive: boolean;
  /** RTT of the last answered probe; null before the first answer (always null for the relay). */
  rttMs: number | null;
  /** Time since the last probe answer; null when none was ever answered. */
  sinceAckMs: number | null;
  /** Time since the path was established. */
  ageMs: number;
  /** Preference among direct paths, lower is better (path-rank.ts: UDP before WSS, local network first); default 0. */
  rank?: number;
  /** The carrier alone, lower is better (path-rank.ts carrierRank: UDP 0, WSS 1); default 0. */
  carrierRank?: number;
  /** It carried data recently; read for the current selection only (rule 4); default false. */
  busy?: boolean;
  /** A duplicate of another trusted direct path, to be left (rule 6); default false. */
  redundant?: boolean;
}

export interface CurrentSelection {
  id: string;
  /** How long it has been selected. */
  dwellMs: number;
}

export interface SelectorPolicy {
  /** A direct path counts as trusted this long after its last probe answer. */
  trustWindowMs: number;
  /** Minimum time on a direct selection before switching to a better direct path. */
  minDwellMs: number;
  /** Absolute RTT gain (ms) a direct path needs over the current direct one. */
  rttMarginMs: number;
  /** Relative RTT gain (fraction of the current RTT) needed; the larger of the two margins applies. */
  rttMarginRatio: number;
}

/** Default absolute RTT margin: below a few ms, RTT differences are scheduling noise. */
export const SELECT_RTT_MARGIN_MS = 5;
/** Default relative RTT margin: a 20 % better path is worth a switch, jitter of a few % is not. */
export const SELECT_RTT_MARGIN_RATIO = 0.2;

export type SelectReason = 'initial' | 'keep' | 'upgrade' | 'better_rtt' | 'better_carrier' | 'redundant' | 'fallback' | 'trust_lapsed' | 'none';

export interface Selection {
  /** The path to send on; null only with no relay and no usable direct path. */
  primary: string | null;
  /** Also send on this path (the relay) while the primary's trust has lapsed; null otherwise. */
  mirror: string | null;
  reason: SelectReason;
}

/** Rule 1. */
export function isTrusted(c: Candidate, policy: SelectorPolicy): boolean {
  return c.kind === 'direct' && c.alive && c.sinceAckMs !== null && c.sinceAckMs <= policy.trustWindowMs;
}

/** Rules 1 and 6: a candidate the selector may choose as the best direct path. */
function eligible(c: Candidate, policy: SelectorPolicy): boolean {
  return isTrusted(c, policy) && c.redundant !== true;
}

function better(a: Candidate, b: Candidate, policy: SelectorPolicy): boolean {
  const ra = a.rttMs ?? Infinity;
  const rb = b.rttMs ?? Infinity;
  const ka = a.rank ?? 0;
  const kb = b.rank ?? 0;
  if (ka !== kb && Math.abs(ra - rb) <= policy.rttMarginMs) return ka < kb;
  if (ra !== rb) return ra < rb;
  if (a.ageMs !== b.ageMs) return a.ageMs > b.ageMs;
  return a.id < b.id;
}

/** Decide which path carries the next frames (rules in the header). Pure. */
export function selectPath(candidates: readonly Candidate[], current: CurrentSelection | null, policy: SelectorPolicy): Selection {
  let relay: Candidate | null = null;
  let best: Candidate | null = null;
  let cur: Candidate | null = null;
  for (const c of candidates) {
    if (c.kind === 'relay' && relay === null) relay = c;
    if (eligible(c, policy) && (best === null || better(c, best, policy))) best = c;
    if (current !== null && c.id === current.id) cur = c;
  }
  const floor = relay?.id ?? null;
  const to = (c: Candidate | null, reason: SelectReason): Selection =>
    c === null ? { primary: floor, mirror: null, reason: floor === null ? 'none' : reason } : { primary: c.id, mirror: null, reason };

  // Nothing selected yet: the best trusted direct, else the relay.
  if (current === null || cur === null) {
    if (current === null) return to(best, 'initial');
    return to(best, 'fallback'); // the selected path vanished
  }

  if (cur.kind === 'relay') {
    if (best !== null) return to(best, 'upgrade');
    return { primary: cur.id, mirror: null, reason: 'keep' };
  }

  // The current selection is a direct path.
  if (!cur.alive) return to(best, 'fallback');
  if (!isTrusted(cur, policy)) {
    if (best !== null) return to(best, 'fallback');
    return { primary: cur.id, mirror: floor, reason: 'trust_lapsed' };
  }
  if (cur.redundant === true && best !== null) return to(best, 'redundant');
  if (cur.busy === true && best !== null && (best.carrierRank ?? 0) > (cur.carrierRank ?? 0)) {
    // Rule 4: a busy path only gives way, voluntarily, to a carrier at least as good.
    best = null;
    const floorRank = cur.carrierRank ?? 0;
    for (const c of candidates) {
      if ((c.carrierRank ?? 0) <= floorRank && eligible(c, policy) && (best === null || better(c, best, policy))) best = c;
    }
  }
  if (best !== null && best.id !== cur.id && current.dwellMs >= policy.minDwellMs) {
    const curRtt = cur.rttMs ?? Infinity;
    const margin = Math.max(policy.rttMarginMs, curRtt * policy.rttMarginRatio);
    const bestRtt = best.rttMs ?? Infinity;
    if (bestRtt + margin < curRtt) return to(best, 'better_rtt');
    if ((best.rank ?? 0) < (cur.rank ?? 0) && bestRtt <= curRtt + policy.rttMarginMs) return to(best, 'better_carrier');
  }
  return { primary: cur.id, mirror: null, reason: 'keep' };
}
