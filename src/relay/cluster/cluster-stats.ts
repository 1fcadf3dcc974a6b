/**
 * Counters of the relay cluster, served in GET /stats under `cluster` and as
 * Prometheus series (src/metrics/relay-metrics.ts; docs/conventions.md §13:
 * every drop reason has its own counter).
 *
 * Per peer relay: frames and payload bytes forwarded to it and received
 * from it, keyed by the relay's name. Names come from the network, so the
 * map is bounded by the presence table's relay bound (relays removed from
 * the table keep their counters only while fewer than MAX_PEER_COUNTERS
 * names are known). Drop reasons are fixed strings from code.
 */
import type { ClusterDecodeReason } from './cluster-messages.js';

/** Why a NATS message or a frame was not used; one counter each. */
export type ClusterDropReason =
  | ClusterDecodeReason
  /** A certificate in a member list that is not a valid, unrevoked member certificate of this network's CA. */
  | 'bad-certificate'
  /** The presence table refused a new relay or member (remote-presence.ts bounds). */
  | 'relays-full'
  | 'members-full'
  /** A member announced with an older admission than the one already known. */
  | 'stale'
  /** FORWARD whose source member is not attached to the sending relay. */
  | 'unknown-source'
  /** FORWARD for a member not attached here (it moved or left). */
  | 'unreachable'
  /** FORWARD for a member whose send queue is full. */
  | 'queue-full'
  /** A frame for a remote member while NATS is disconnected. */
  | 'nats-down'
  /** A message on a subject this relay did not expect it on. */
  | 'subject';

export interface PeerRelayCounters {
  framesOut: number;
  bytesOut: number;
  framesIn: number;
  bytesIn: number;
}

/** Past this many distinct peer names, counters of new names are not kept (bounded labels). */
export const MAX_PEER_COUNTERS = 256;

export class ClusterStats {
  readonly #drops = new Map<ClusterDropReason, number>();
  readonly #peers = new Map<string, PeerRelayCounters>();
  /** Times the NATS connection was (re)established. */
  connects = 0;
  /** Times it was lost. */
  disconnects = 0;
  /** Full member lists this relay published (on connect and when another relay said HELLO). */
  syncsSent = 0;

  drop(reason: ClusterDropReason): void {
    this.#drops.set(reason, (this.#drops.get(reason) ?? 0) + 1);
  }

  peer(name: string): PeerRelayCounters | null {
    let c = this.#peers.get(name);
    if (c === undefined) {
      if (this.#peers.size >= MAX_PEER_COUNTERS) return null;
      c = { framesOut: 0, bytesOut: 0, framesIn: 0, bytesIn: 0 };
      this.#peers.set(name, c);
    }
    return c;
  }

  drops(): Record<string, number> {
    return Object.fromEntries(this.#drops);
  }

  peers(): Record<string, PeerRelayCounters> {
    const out: Record<string, PeerRelayCounters> = {};
    for (const [k, v] of this.#peers) out[k] = { ...v };
    return out;
  }
}
