/**
 * What the page remembers of each peer between snapshots, for the charts
 * (docs/architecture.md "Web console"): per peer, the last HISTORY_POINTS
 * samples (one per snapshot: time, RTT, bytes per second in and out since
 * the previous snapshot) and the path changes among them. Everything lives
 * in the browser tab and is bounded: HISTORY_POINTS samples and
 * MAX_PATH_EVENTS changes per peer, MAX_TRACKED_PEERS peers (the one not
 * seen for longest is forgotten first). A reload starts empty: the daemon
 * keeps no history for the page.
 */

/** Five minutes at one snapshot a second. */
export const HISTORY_POINTS = 300;
/** Path changes kept per peer: more than five minutes of flapping shows as a full list anyway. */
export const MAX_PATH_EVENTS = 50;
/** Peers followed at once; a network larger than this charts the ones seen most recently. */
export const MAX_TRACKED_PEERS = 64;

/** One peer in one snapshot, as the history reads it. */
export interface PeerSample {
  peerId: string;
  path: string;
  carrier: string;
  remote: string;
  rttMs: number | null;
  stats: { bytesIn: number; bytesOut: number };
}

export interface PathEvent {
  /** Seconds since the Unix epoch (the charts' x axis). */
  t: number;
  from: string;
  to: string;
}

export interface PeerSeries {
  t: number[];
  rttMs: Array<number | null>;
  inBps: Array<number | null>;
  outBps: Array<number | null>;
  events: PathEvent[];
  lastPath: string | null;
  lastBytes: { t: number; bytesIn: number; bytesOut: number } | null;
  seenAt: number;
}

/** 'relay', or 'direct udp 172.31.0.12:42155'. */
export function pathLabel(p: PeerSample): string {
  return p.path === 'direct' ? `direct ${p.carrier} ${p.remote}` : 'relay';
}

export class PeerHistory {
  readonly #peers = new Map<string, PeerSeries>();

  /** Add one snapshot's peers, taken at `atMs`. */
  record(atMs: number, peers: readonly PeerSample[]): void {
    const t = atMs / 1000;
    for (const p of peers) {
      let s = this.#peers.get(p.peerId);
      if (s === undefined) {
        s = { t: [], rttMs: [], inBps: [], outBps: [], events: [], lastPath: null, lastBytes: null, seenAt: t };
        this.#peers.set(p.peerId, s);
        this.#forgetBeyondBound();
      }
      s.seenAt = t;
      const label = pathLabel(p);
      if (s.lastPath !== null && s.lastPath !== label) {
        s.events.push({ t, from: s.lastPath, to: label });
        if (s.events.length > MAX_PATH_EVENTS) s.events.shift();
      }
      s.lastPath = label;
      const prev = s.lastBytes;
      const dt = prev === null ? 0 : t - prev.t;
      // Counters restart with a new session: a negative delta is no rate, not a negative one.
      const rate = (now: number, before: number | undefined): number | null => (prev === null || dt <= 0 || before === undefined || now < before ? null : (now - before) / dt);
      s.t.push(t);
      s.rttMs.push(p.rttMs);
      s.inBps.push(rate(p.stats.bytesIn, prev?.bytesIn));
      s.outBps.push(rate(p.stats.bytesOut, prev?.bytesOut));
      s.lastBytes = { t, bytesIn: p.stats.bytesIn, bytesOut: p.stats.bytesOut };
      if (s.t.length > HISTORY_POINTS) {
        s.t.shift();
        s.rttMs.shift();
        s.inBps.shift();
        s.outBps.shift();
      }
    }
  }

  get(peerId: string): PeerSeries | undefined {
    return this.#peers.get(peerId);
  }

  #forgetBeyondBound(): void {
    while (this.#peers.size > MAX_TRACKED_PEERS) {
      let oldest: string | null = null;
      let oldestAt = Infinity;
      for (const [id, s] of this.#peers) if (s.seenAt < oldestAt) { oldest = id; oldestAt = s.seenAt; }
      if (oldest === null) return;
      this.#peers.delete(oldest);
    }
  }
}
