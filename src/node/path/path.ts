/**
 * The Path interface (docs/architecture.md "Path choice"; docs/conventions.md §11, §15):
 * one way of carrying peer frames to one peer. Every implementation — the
 * relay path (relay-path.ts), the direct paths (direct-*.ts) and the memory
 * paths of the testkit — passes the same compliance suite
 * (testkit/path-compliance.ts).
 *
 * What callers and implementers must know:
 *  - A path carries opaque peer frames (protocol.md §2): sealed DATA,
 *    handshakes, and the path probes of probe-frames.ts. It never looks
 *    inside them; the end-to-end session authenticates and de-duplicates.
 *  - send() never throws for operational reasons: it returns false when the
 *    frame was not handed to the carrier (closed, link down, backpressure)
 *    and counts the reason in stats.drops ('closed' after close(); other
 *    reasons are the implementation's). Frames are datagrams: a refused
 *    frame is not queued.
 *  - send() does not keep `frame` after it returns (implementations copy or
 *    write it out synchronously); onFrame's argument is owned by the callee.
 *  - close(reason) is idempotent. It fires onClose once, whether the close
 *    came from our side or the carrier's; a closed path refuses every send.
 *    A graceful close loses nothing in flight: what we sent before close()
 *    still reaches the remote, and what the remote had already sent may
 *    still be delivered to onFrame after our close (the session
 *    authenticates it like any frame).
 *  - onFrame / onClose are set once by the owner (the PathManager); a path
 *    with no onFrame drops what it receives and counts 'no_handler'.
 */

export type PathKind = 'relay' | 'direct';
/** What carries a path: the relay link, a direct TLS 1.3 WebSocket, or direct UDP datagrams. */
export type PathCarrier = 'relay' | 'wss' | 'udp';

export interface PathStats {
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Frames refused or discarded, by reason ('closed', 'backpressure', 'no_handler', ...). */
  drops: Record<string, number>;
}

export interface Path {
  readonly kind: PathKind;
  /** 'relay' for the relay path; 'wss' or 'udp' for a direct one. */
  readonly carrier: PathCarrier;
  /** A WSS path: true when we dialed it, false when the peer did (both may, so a pair can hold two; the path
   *  manager keeps the one the lower peer id dialed). Undefined for carriers without a dialing side. */
  readonly dialed?: boolean;
  /** Unique per path instance (never reused in this process). */
  readonly id: string;
  /** 'relay', or the remote 'IP:PORT' of a direct path. */
  readonly remote: string;
  readonly peerId: Uint8Array;
  /** false = not sent (closed, link down, backpressure); the reason is counted. */
  send(frame: Uint8Array): boolean;
  /** Idempotent; fires onClose once. */
  close(reason: string): void;
  readonly closed: boolean;
  readonly stats: Readonly<PathStats>;
  onFrame: ((frame: Uint8Array) => void) | null;
  onClose: ((reason: string) => void) | null;
}

/**
 * The consumer-side view of whatever carries peer frames to any peer: the
 * PeerManager sends through it (the PathManager in a node, a memory relay
 * in tests). false = not sent.
 */
export interface FrameTransport {
  /** `traffic` false: a frame that is no traffic (a keepalive), which does not keep the peer's paths busy. */
  send(peerId: Uint8Array, frame: Uint8Array, traffic?: boolean): boolean;
  /**
   * Optional: a frame from `hex` opened under a session that carried traffic (not a keepalive). The one way received
   * frames count as activity for the quiet-peer rule (docs/architecture.md "Quiet peers"): counted after the session
   * authenticated them, so nothing an unauthenticated sender makes up wakes a quiet peer or keeps it busy.
   */
  trafficFrom?(hex: string): void;
  /**
   * Optional, with takesTransient: send() for a frame in the caller's scratch buffer, overwritten as soon as this
   * returns, so whatever would keep it (a queue, a later retry) copies it first. `hex` is `peerId` in lowercase hex.
   */
  sendTransient?(peerId: Uint8Array, hex: string, frame: Uint8Array): boolean;
  /** Whether sendTransient would send a scratch frame to this peer as it is, with no copy: else a fresh frame is cheaper. */
  takesTransient?(hex: string): boolean;
}

/** Fresh zeroed counters for a Path implementation. */
export function newPathStats(): PathStats {
  return { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, drops: {} };
}

/** Count one dropped frame under `reason`. */
export function countPathDrop(stats: PathStats, reason: string): void {
  stats.drops[reason] = (stats.drops[reason] ?? 0) + 1;
}

let nextPathSerial = 0;

/** A process-unique path id such as 'direct-7'; implementations use it for `id`. */
export function newPathId(kind: PathKind): string {
  nextPathSerial++;
  return `${kind}-${nextPathSerial}`;
}
