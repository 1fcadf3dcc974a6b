/**
 * UdpPath: a Path (path.ts) over UDP datagrams to one peer at one remote
 * address (docs/architecture.md "Carriers";
 * docs/protocol.md §3.5). Only udp-transport.ts builds
 * one, and only after a probe we sent to that address came back with a MAC
 * under the session's path-auth key — so the address demonstrably reaches
 * the holder of that session.
 *
 * What callers must know:
 *  - A peer frame that fits `maxDatagram` goes out as one datagram; a larger
 *    one (a 64 KiB segment of the data plane) is split into UDP_FRAGMENTs of
 *    at most `maxDatagram` bytes each, so the IP layer never fragments
 *    (udp-transport.ts raises `maxDatagram` from a safe floor with MTU
 *    probes). The fragments are laid end to end in one buffer and handed to
 *    the host at once, which sends them with UDP segmentation offload where
 *    it can. The receiver reassembles (udp-reassembly.ts); a lost fragment
 *    loses its frame, which the session's replay window and the traffic's
 *    own retransmissions absorb like any loss.
 *  - PATH_PROBE / PATH_PROBE_ACK handed to send() (the path manager's
 *    liveness probes) are not sent bare: the host wraps them in an
 *    authenticated UDP_PROBE (a forged ack cannot keep a dead path alive).
 *  - What arrives has two doors (docs/protocol.md §3.5.5). Datagrams from
 *    the path's address (receiveDatagram) are unauthenticated — anyone can
 *    send from a spoofed source — so whole or reassembled, only end-to-end
 *    peer frames (0x21..0x24: DATA the session opens, handshake frames it
 *    verifies) pass to the owner; a probe type there is dropped
 *    (`unauthenticated_probe`), anything else too (`unknown_type`). Path
 *    probes reach the owner only through deliverAuthenticated, which the
 *    transport calls after a UDP probe's MAC, timestamp and txid checked
 *    out; only that moves `lastReceiveMs`. So liveness and RTT come from
 *    the session holder alone.
 *  - send() does not keep the caller's buffer (the host sends it at once or
 *    queues a copy), so the caller may reuse it at once. It refuses when
 *    the socket's send queue is over the host's bound ('backpressure'): UDP
 *    has no other backpressure signal.
 *  - close(reason) is idempotent, fires onClose once and tells the host,
 *    which tells the remote end (an authenticated close notice) and keeps
 *    delivering late frames from the address for a short drain.
 *  - `remote` can change: an authenticated probe from a new address of the
 *    same peer moves the path there (NAT rebinding).
 */
import type { Clock } from '../../util/clock.js';
import { MAX_FRAME_BYTES, UDP_FRAGMENT_HEADER_BYTES, MAX_UDP_FRAGMENTS, UdpFrameType } from '../../wire/constants.js';
import { isPeerFrameType } from '../../wire/frame-header.js';
import { formatHostPort } from '../../wire/ip-address.js';
import { datagramType, decodeUdpFragment, putUdpFragmentHeader } from '../../wire/udp-frames.js';
import { countPathDrop, newPathId, newPathStats, type Path, type PathKind, type PathStats } from './path.js';
import { isProbeType } from './probe-frames.js';
import { UdpReassembler } from './udp-reassembly.js';

/** What a UdpPath needs from its transport. */
export interface UdpPathHost {
  /** Hand one datagram to the socket: sent before return, or a copy queued; the caller keeps its buffer. False when refused. */
  sendDatagram(bytes: Uint8Array, address: string, port: number): boolean;
  /**
   * Hand datagrams of `segment` bytes each, laid end to end in `bytes` (the last may be shorter), to the socket in
   * order, with as few syscalls as it can (UDP segmentation offload). Same contract as sendDatagram otherwise.
   */
  sendDatagrams(bytes: Uint8Array, segment: number, address: string, port: number): boolean;
  /** Bytes waiting in the socket's send queue. */
  sendQueueBytes(): number;
  /** Above this many queued bytes, send() refuses a frame. */
  readonly maxSendQueueBytes: number;
  /** Wrap a PATH_PROBE / PATH_PROBE_ACK in an authenticated UDP probe and send it. */
  sendLiveness(path: UdpPath, embedded: Uint8Array): boolean;
  /** The path closed (our side): tell the remote, keep the address draining. */
  pathClosed(path: UdpPath, reason: string): void;
  /** A datagram from the path's address carried something only an authenticated probe may carry, or no peer frame (the host's drop counters). */
  unauthenticatedDrop?(reason: 'unauthenticated_probe' | 'not_peer_frame'): void;
}

export interface UdpPathInit {
  host: UdpPathHost;
  peerId: Uint8Array;
  address: string;
  port: number;
  /** Largest datagram to send before any MTU probe answered. */
  maxDatagram: number;
  clock: Clock;
}

export class UdpPath implements Path {
  readonly kind: PathKind = 'direct';
  readonly carrier = 'udp' as const;
  readonly id: string;
  readonly peerId: Uint8Array;
  onFrame: ((frame: Uint8Array) => void) | null = null;
  onClose: ((reason: string) => void) | null = null;
  /** Largest datagram we send; raised by answered MTU probes. */
  maxDatagram: number;
  /** Clock ms of the last authenticated probe received on this path (deliverAuthenticated); spoofable datagrams leave it alone. */
  lastReceiveMs: number;
  #address: string;
  #port: number;
  #remote: string;
  readonly #host: UdpPathHost;
  readonly #clock: Clock;
  readonly #stats: PathStats = newPathStats();
  readonly #reassembly = new UdpReassembler(MAX_FRAME_BYTES);
  #nextFrameId = 0;
  #closed = false;

  constructor(init: UdpPathInit) {
    this.#host = init.host;
    this.#clock = init.clock;
    this.peerId = Uint8Array.from(init.peerId);
    this.#address = init.address;
    this.#port = init.port;
    this.#remote = formatHostPort(init.address, init.port);
    this.maxDatagram = init.maxDatagram;
    this.lastReceiveMs = init.clock.now();
    this.id = `${newPathId('direct')}@udp:${this.#remote}`;
  }

  get remote(): string {
    return this.#remote;
  }

  get address(): string {
    return this.#address;
  }

  get port(): number {
    return this.#port;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get stats(): Readonly<PathStats> {
    return this.#stats;
  }

  /** Reassembly drops by reason (fragments lost, late, evicted). */
  get reassemblyDrops(): Readonly<Record<string, number>> {
    return this.#reassembly.drops;
  }

  /** Move to a new remote address (the transport checked an authenticated probe from it). */
  moveTo(address: string, port: number): void {
    this.#address = address;
    this.#port = port;
    this.#remote = formatHostPort(address, port);
  }

  send(frame: Uint8Array): boolean {
    const st = this.#stats;
    if (this.#closed) {
      countPathDrop(st, 'closed');
      return false;
    }
    if (!(frame instanceof Uint8Array) || frame.length === 0) {
      countPathDrop(st, 'empty');
      return false;
    }
    if (frame.length > MAX_FRAME_BYTES) {
      countPathDrop(st, 'too_large');
      return false;
    }
    if (isProbeType(frame)) {
      let sent: boolean;
      try {
        sent = this.#host.sendLiveness(this, frame);
      } catch {
        sent = false; // not a well-formed 20-byte probe: the codec refused to embed it
      }
      if (!sent) {
        countPathDrop(st, 'probe_refused');
        return false;
      }
      st.framesOut++;
      st.bytesOut += frame.length;
      return true;
    }
    if (this.#host.sendQueueBytes() > this.#host.maxSendQueueBytes) {
      countPathDrop(st, 'backpressure');
      return false;
    }
    const max = this.maxDatagram;
    if (frame.length <= max) {
      if (!this.#host.sendDatagram(frame, this.#address, this.#port)) {
        countPathDrop(st, 'socket');
        return false;
      }
    } else {
      const per = max - UDP_FRAGMENT_HEADER_BYTES;
      const count = Math.ceil(frame.length / per);
      if (count > MAX_UDP_FRAGMENTS) {
        countPathDrop(st, 'too_large');
        return false;
      }
      const frameId = this.#nextFrameId;
      this.#nextFrameId = (this.#nextFrameId + 1) >>> 0;
      // Every fragment but the last is exactly `max` bytes: the layout UDP segmentation offload sends in one go.
      const all = Buffer.allocUnsafe(count * UDP_FRAGMENT_HEADER_BYTES + frame.length);
      for (let i = 0, off = 0, at = 0; i < count; i++, off += per) {
        const n = Math.min(per, frame.length - off);
        putUdpFragmentHeader(all, at, frameId, i, count);
        all.set(frame.subarray(off, off + n), at + UDP_FRAGMENT_HEADER_BYTES);
        at += UDP_FRAGMENT_HEADER_BYTES + n;
      }
      if (!this.#host.sendDatagrams(all, max, this.#address, this.#port)) {
        countPathDrop(st, 'socket');
        return false;
      }
    }
    st.framesOut++;
    st.bytesOut += frame.length;
    return true;
  }

  close(reason: string): void {
    if (this.#closed) return;
    this.#host.pathClosed(this, reason);
    this.#finish(reason);
  }

  /** The remote end closed its side (authenticated close notice). */
  closeFromRemote(reason: string): void {
    this.#finish(reason);
  }

  #finish(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reassembly.clear();
    const cb = this.onClose;
    if (cb !== null) {
      try {
        cb(reason);
      } catch {
        countPathDrop(this.#stats, 'close_handler_error');
      }
    }
  }

  /** A datagram from this path's remote that is not a UDP probe: a whole peer frame or a fragment. Unauthenticated (the source may be spoofed). Never throws. */
  receiveDatagram(bytes: Uint8Array): void {
    const type = datagramType(bytes);
    if (type === UdpFrameType.UdpFragment) {
      let whole: Uint8Array | null;
      try {
        whole = this.#reassembly.add(decodeUdpFragment(bytes), this.#clock.now());
      } catch {
        return countPathDrop(this.#stats, 'malformed_fragment');
      }
      if (whole !== null) this.#deliverUnauthenticated(whole);
      return;
    }
    this.#deliverUnauthenticated(bytes);
  }

  /** docs/protocol.md §3.5.5: only end-to-end peer frames pass without a UDP probe's MAC; a path probe here would be liveness anyone could forge. */
  #deliverUnauthenticated(frame: Uint8Array): void {
    if (isProbeType(frame)) {
      this.#host.unauthenticatedDrop?.('unauthenticated_probe');
      return countPathDrop(this.#stats, 'unauthenticated_probe');
    }
    if (!isPeerFrameType(datagramType(frame))) {
      this.#host.unauthenticatedDrop?.('not_peer_frame');
      return countPathDrop(this.#stats, 'unknown_type');
    }
    this.#deliver(frame);
  }

  /**
   * A PATH_PROBE / PATH_PROBE_ACK the transport unwrapped from a UDP probe whose MAC, timestamp and
   * txid it checked (udp-transport.ts): the one way liveness reaches the owner. Anything else is
   * dropped (`not_probe`). Marks the path heard at `nowMs`.
   */
  deliverAuthenticated(frame: Uint8Array, nowMs: number): void {
    if (!isProbeType(frame)) return countPathDrop(this.#stats, 'not_probe');
    this.lastReceiveMs = nowMs;
    this.#deliver(frame);
  }

  /** Hand one frame (a peer frame, or an authenticated liveness probe) to the owner. */
  #deliver(frame: Uint8Array): void {
    const st = this.#stats;
    const cb = this.onFrame;
    if (cb === null) return countPathDrop(st, 'no_handler');
    st.framesIn++;
    st.bytesIn += frame.length;
    try {
      cb(frame);
    } catch {
      countPathDrop(st, 'handler_error');
    }
  }
}
