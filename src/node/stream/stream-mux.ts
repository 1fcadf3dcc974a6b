/**
 * The stream layer of one node (docs/architecture.md "Streams";
 * docs/protocol.md §6): reliable, flow-controlled byte streams carried as
 * STREAM frames (inner type 0x08) inside the end-to-end sessions, for the
 * SOCKS5 proxy and port forwards of a member without a device.
 *
 * Roles: the opener (`open`) names a destination address and port; the
 * member that receives OPEN asks its StreamAcceptor (stream-acceptor.ts),
 * which decides and connects, and answers ACCEPT or REFUSE with a reason.
 * Each side's stream ids form their own space (STREAM_FLAG_OPENER).
 *
 * Reliability and flow control (stream-flow.ts): sessions may lose frames
 * (UDP paths, a full relay queue), so each direction is a go-back-N window:
 * DATA at byte offsets, cumulative ACKs carrying the receiver's credit,
 * resends after RTO or three duplicate ACKs. OPEN is resent until answered.
 * A receiver grants credit only for what its local reader took, so a stream
 * whose reader stalls stops at one window while the others go on: nothing
 * is shared between streams but the session.
 *
 * What an authenticated peer can make us keep (docs/threat-model.md
 * "Streams"): at most `maxStreamsPerPeer` streams it opened (and
 * `maxStreams` in all), each holding at most one window of its bytes and one
 * window of ours; OPENs past the bound are refused (Busy) and counted, and
 * refusals keep no state. A stream reset while the acceptor still connects
 * for it keeps its slot until that connect settles, so OPEN then RESET in a
 * loop cannot start more connects (sockets) than the bound. Frames that break the rules (credit exceeded, a
 * FIN that contradicts the bytes, an ACK of bytes never sent) reset that
 * stream and are counted; undecodable frames are dropped and counted. No
 * network input throws out of `onFrame`.
 *
 * Timers (docs/conventions.md §7): one tick for all streams drives resends,
 * open retries, credit refreshes and timeouts; ACKs are coalesced to one
 * flush per event-loop turn.
 *
 * Endpoints (the local sockets) are called from inside onFrame and tick;
 * they must not re-enter the mux synchronously except through their
 * StreamHandle (write, finish, reset), which is safe.
 */
import { toHex } from '../../crypto/bytes.js';
import { ConfigError } from '../../errors.js';
import { systemClock, type Clock, type TimerHandle } from '../../util/clock.js';
import { silentLogger, type Logger } from '../../util/logger.js';
import { InnerType, MAX_STREAM_CHUNK_BYTES, MAX_STREAM_WINDOW_BYTES, StreamFrameKind, StreamReason } from '../../wire/constants.js';
import { decodeStreamFrame, encodeStreamFrame, type StreamFrame } from '../../wire/stream-frames.js';
import { ReceiveWindow, SendWindow } from './stream-flow.js';

/** The session layer as the streams need it (PeerManager fits). */
export interface StreamSessions {
  sendInner(peerId: Uint8Array, innerType: number, body: Uint8Array): 'sent' | 'queued' | 'dropped';
}

/** The local end of a stream (a socket), as the mux drives it. */
export interface StreamEndpoint {
  /** In-order bytes from the peer (the endpoint's own copy); call `taken` once the local reader has them, which returns credit. */
  deliver(bytes: Uint8Array, taken: () => void): void;
  /** The peer finished sending (half-close). */
  end(): void;
  /** The stream is gone (reset, timeout): close the local end abruptly. */
  abort(reason: number): void;
  /** The send window has room again: read the local source again. */
  resume(): void;
}

/** What the endpoint uses to feed the stream. */
export interface StreamHandle {
  readonly peerHex: string;
  readonly id: number;
  /** Queue bytes to the peer (kept by reference); false when the window is full: pause the source until resume(). */
  write(bytes: Uint8Array): boolean;
  /** The local source ended: send FIN after the last byte. */
  finish(): void;
  /** Abort the stream: RESET to the peer, state dropped. */
  reset(reason: number): void;
}

/** Decides and connects a stream a peer opened (stream-acceptor.ts fits). */
export interface StreamAcceptor {
  /** Resolve with the endpoint once connected, or a StreamReason to refuse. Must not reject. */
  accept(peerId: Uint8Array, address: Uint8Array, port: number, handle: StreamHandle): Promise<StreamEndpoint | number>;
}

export interface StreamMuxDeps {
  sessions: StreamSessions;
  /** Absent: every OPEN is refused (Disabled). */
  acceptor?: StreamAcceptor;
  clock?: Clock;
  logger?: Logger;
}

export interface StreamMuxOptions {
  /** Credit each side grants per stream, bytes. */
  windowBytes?: number;
  maxStreamsPerPeer?: number;
  maxStreams?: number;
}

/** 256 KiB per stream: a window per round trip is ~250 MB/s at 1 ms and ~25 MB/s at 10 ms, while
 *  maxStreamsPerPeer windows (32 MiB) bound what one peer makes us hold. */
export const DEFAULT_STREAM_WINDOW_BYTES = 256 * 1024;
/** Streams one peer may have open to us: a browser behind the proxy opens tens at once; 128 leaves room
 *  and keeps a peer's hold to 128 windows. */
export const DEFAULT_MAX_STREAMS_PER_PEER = 128;
/** Streams in all (opened by us or to us): a bound on memory and sockets whatever the number of peers. */
export const DEFAULT_MAX_STREAMS = 4_096;
export const STREAM_DEFAULTS = Object.freeze({ windowBytes: DEFAULT_STREAM_WINDOW_BYTES, maxStreamsPerPeer: DEFAULT_MAX_STREAMS_PER_PEER, maxStreams: DEFAULT_MAX_STREAMS });

/** Tick of resends and timeouts, while any stream is held: a fraction of the smallest RTO, so a resend is late by at most this. */
export const STREAM_TICK_MS = 100;
/** First resend timeout: well above a loaded relay round trip (a spurious resend costs a window of bytes). */
export const STREAM_RTO_INITIAL_MS = 1_000;
/** Resend timeout cap (doubling on each timeout without progress). */
export const STREAM_RTO_MAX_MS = 8_000;
/** Duplicate ACKs that trigger a resend before the RTO (as TCP's fast retransmit). */
export const STREAM_DUP_ACKS = 3;
/** OPEN is resent this often until ACCEPT or REFUSE. */
export const STREAM_OPEN_RETRY_MS = 1_000;
/** An OPEN unanswered this long fails (Timeout): longer than the acceptor's connect timeout. */
export const STREAM_OPEN_TIMEOUT_MS = 20_000;
/** Bytes outstanding with no acknowledgement for this long: the peer is gone, the stream is reset. */
export const STREAM_STALL_TIMEOUT_MS = 30_000;
/** Every open stream re-sends its ACK this often, so a lost credit update cannot leave the sender waiting forever. */
export const STREAM_ACK_REFRESH_MS = 1_000;

export type StreamDropReason = 'malformed' | 'busy' | 'unknown_stream' | 'protocol' | 'early' | 'disabled';
export type StreamOpenResult = { handle: StreamHandle } | { refused: number };

type State = 'opening' | 'connecting' | 'open';

interface Stream {
  readonly key: string;
  readonly peerHex: string;
  readonly peerId: Uint8Array;
  readonly id: number;
  /** We opened it. */
  readonly mine: boolean;
  state: State;
  readonly send: SendWindow;
  readonly recv: ReceiveWindow;
  endpoint: StreamEndpoint | null;
  readonly handle: StreamHandle;
  readonly address: Uint8Array;
  readonly port: number;
  startedMs: number;
  /** Last acknowledgement that moved something (the stall timeout counts from it). */
  lastProgressMs: number;
  /** The RTO counts from here: the last progress or the last resend. */
  rtoBaseMs: number;
  /** Bytes the peer sent before the opener attached its endpoint (at most one window, as credit bounds them). */
  early: { bytes: Uint8Array; taken: () => void }[];
  lastAckSentMs: number;
  rtoMs: number;
  retryAtMs: number;
  dupAcks: number;
  endDelivered: boolean;
  resolveOpen: ((r: StreamOpenResult) => void) | null;
  /** The acceptor is still connecting for it: its slot stays counted until that settles, even once it is forgotten. */
  accepting: boolean;
}

export class StreamMux {
  readonly #deps: Required<Pick<StreamMuxDeps, 'sessions' | 'clock' | 'logger'>> & { acceptor: StreamAcceptor | null };
  readonly #o: Readonly<Required<StreamMuxOptions>>;
  readonly #streams = new Map<string, Stream>();
  readonly #perPeer = new Map<string, number>();
  /** Streams forgotten (reset, dropped, stopped) while the acceptor still connects for them: they hold a socket. */
  #orphanAccepts = 0;
  readonly #ackDue = new Set<Stream>();
  #ackFlush: TimerHandle | null = null;
  #tick: TimerHandle | null = null;
  #nextId = 1;
  #running = false;
  readonly #drops: Record<StreamDropReason, number> = { malformed: 0, busy: 0, unknown_stream: 0, protocol: 0, early: 0, disabled: 0 };
  readonly stats = { opened: 0, accepted: 0, refused: 0, resets: 0, resends: 0, bytesSent: 0, bytesReceived: 0 };

  constructor(deps: StreamMuxDeps, options: StreamMuxOptions = {}) {
    for (const k of Object.keys(options)) if (!(k in STREAM_DEFAULTS)) throw new ConfigError('SM_ERR_CONFIG_VALUE', `stream option ${k}: unknown`);
    const o = { ...STREAM_DEFAULTS, ...options };
    if (!Number.isInteger(o.windowBytes) || o.windowBytes < MAX_STREAM_CHUNK_BYTES || o.windowBytes > MAX_STREAM_WINDOW_BYTES) {
      throw new ConfigError('SM_ERR_CONFIG_VALUE', `stream windowBytes: expected ${MAX_STREAM_CHUNK_BYTES}..${MAX_STREAM_WINDOW_BYTES}, got ${String(o.windowBytes)}`);
    }
    for (const k of ['maxStreamsPerPeer', 'maxStreams'] as const) {
      if (!Number.isInteger(o[k]) || o[k] < 1) throw new ConfigError('SM_ERR_CONFIG_VALUE', `stream ${k}: expected a positive whole number, got ${String(o[k])}`);
    }
    this.#o = Object.freeze(o);
    this.#deps = { sessions: deps.sessions, acceptor: deps.acceptor ?? null, clock: deps.clock ?? systemClock, logger: deps.logger ?? silentLogger };
  }

  get drops(): Readonly<Record<StreamDropReason, number>> { return this.#drops; }
  /** Streams held now (every state). */
  get size(): number { return this.#streams.size; }
  /** Streams a peer opened to us that we hold now, counting those reset while the acceptor still connects for them. */
  heldFor(peerHex: string): number { return this.#perPeer.get(peerHex) ?? 0; }
  /** Bytes held for all streams: received and not taken by local readers, plus written and not acknowledged. */
  get bufferedBytes(): number {
    let n = 0;
    for (const s of this.#streams.values()) n += s.recv.held + s.send.buffered;
    return n;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#scheduleTick();
  }

  stop(): void {
    if (!this.#running) return;
    this.#running = false;
    this.#tick?.cancel();
    this.#tick = null;
    this.#ackFlush?.cancel();
    this.#ackFlush = null;
    for (const s of [...this.#streams.values()]) this.#close(s, StreamReason.Aborted, true);
  }

  /** Open a stream to `address`:`port` through `peerId`; resolves once accepted or refused (a StreamReason). Attach the endpoint with `attach`. */
  open(peerId: Uint8Array, address: Uint8Array, port: number): Promise<StreamOpenResult> {
    if (!this.#running) return Promise.resolve({ refused: StreamReason.Aborted });
    if (this.#streams.size >= this.#o.maxStreams) return Promise.resolve({ refused: StreamReason.Busy });
    const peerHex = toHex(peerId);
    let id = this.#nextId;
    while (this.#streams.has(`${peerHex}:o:${id}`)) id = id >= 0xffff_ffff ? 1 : id + 1;
    this.#nextId = id >= 0xffff_ffff ? 1 : id + 1;
    const s = this.#newStream(peerHex, peerId, id, true, 'opening', 0, address.slice(), port);
    this.stats.opened++;
    return new Promise((resolve) => {
      s.resolveOpen = resolve;
      this.#send(s, { kind: StreamFrameKind.Open, streamId: id, opener: true, window: this.#o.windowBytes, address, port });
    });
  }

  /** Give an accepted stream opened with `open` its local end; bytes the peer already sent are delivered. */
  attach(handle: StreamHandle, endpoint: StreamEndpoint): void {
    const s = this.#streams.get(`${handle.peerHex}:o:${handle.id}`);
    if (s === undefined || s.handle !== handle) { endpoint.abort(StreamReason.Unknown); return; }
    s.endpoint = endpoint;
    for (const e of s.early.splice(0)) endpoint.deliver(e.bytes, e.taken);
    this.#maybeEnd(s);
  }

  /** Forget every stream with a peer (it left or was revoked): their local ends are aborted. */
  dropPeer(peerHex: string): void {
    for (const s of [...this.#streams.values()]) if (s.peerHex === peerHex) this.#close(s, StreamReason.Aborted, false);
  }

  /** A STREAM body from an authenticated peer. Never throws (docs/conventions.md §10). */
  onFrame(peerId: Uint8Array, body: Uint8Array): void {
    let f: StreamFrame;
    try {
      f = decodeStreamFrame(body);
    } catch {
      this.#drops.malformed++;
      return;
    }
    try {
      this.#onFrame(peerId, f);
    } catch (err) {
      // A bug in handling one frame loses that frame, never the node.
      this.#drops.malformed++;
      this.#deps.logger.warn('stream: frame handling failed', { error: (err as Error).message });
    }
  }

  #onFrame(peerId: Uint8Array, f: StreamFrame): void {
    const peerHex = toHex(peerId);
    // The sender's opener bit names whose id space this is: theirs (we accept) or ours (we opened).
    const key = `${peerHex}:${f.opener ? 'i' : 'o'}:${f.streamId}`;
    const s = this.#streams.get(key);
    if (f.kind === StreamFrameKind.Open) {
      if (!f.opener) { this.#drops.malformed++; return; }
      if (s !== undefined) {
        // A resent OPEN: our ACCEPT was lost (or is on its way).
        if (s.state === 'open') this.#send(s, { kind: StreamFrameKind.Accept, streamId: s.id, opener: false, window: this.#o.windowBytes });
        return;
      }
      this.#onOpen(peerHex, peerId, f.streamId, f.window, f.address, f.port);
      return;
    }
    if (s === undefined) {
      if (f.kind === StreamFrameKind.Reset || f.kind === StreamFrameKind.Refuse || f.kind === StreamFrameKind.Accept) { this.#drops.unknown_stream++; return; }
      // DATA, FIN or ACK of a stream we do not hold: tell the sender, so it stops resending (never answer a RESET with one).
      this.#drops.unknown_stream++;
      this.#sendRaw(peerId, { kind: StreamFrameKind.Reset, streamId: f.streamId, opener: !f.opener, reason: StreamReason.Unknown });
      return;
    }
    switch (f.kind) {
      case StreamFrameKind.Accept:
        if (!s.mine) { this.#protocol(s); return; }
        if (s.state === 'opening') {
          s.state = 'open';
          s.send.onAck(0, f.window, false);
          s.lastProgressMs = s.rtoBaseMs = this.#deps.clock.now();
          this.stats.accepted++;
          const resolve = s.resolveOpen;
          s.resolveOpen = null;
          resolve?.({ handle: s.handle });
          this.#pump(s);
        }
        return;
      case StreamFrameKind.Refuse:
        if (!s.mine) { this.#protocol(s); return; }
        if (s.state === 'opening') {
          this.stats.refused++;
          const resolve = s.resolveOpen;
          s.resolveOpen = null;
          this.#forget(s);
          resolve?.({ refused: f.reason });
        }
        return;
      case StreamFrameKind.Reset:
        this.#close(s, f.reason, false, true);
        return;
      case StreamFrameKind.Data:
        this.#onData(s, f.offset, f.bytes);
        return;
      case StreamFrameKind.Fin:
        if (s.state !== 'open') { this.#drops.early++; return; }
        if (!s.recv.onFin(f.offset)) { this.#protocol(s); return; }
        this.#markAck(s);
        this.#maybeEnd(s);
        return;
      case StreamFrameKind.Ack:
        this.#onAck(s, f.received, f.limit, f.fin);
        return;
    }
  }

  #onOpen(peerHex: string, peerId: Uint8Array, id: number, window: number, address: Uint8Array, port: number): void {
    const acceptor = this.#deps.acceptor;
    if (acceptor === null) {
      this.#drops.disabled++;
      this.#sendRaw(peerId, { kind: StreamFrameKind.Refuse, streamId: id, opener: false, reason: StreamReason.Disabled });
      return;
    }
    if ((this.#perPeer.get(peerHex) ?? 0) >= this.#o.maxStreamsPerPeer || this.#streams.size + this.#orphanAccepts >= this.#o.maxStreams) {
      // Refusals keep no state: an OPEN flood costs the sender one frame per REFUSE and us nothing held.
      this.#drops.busy++;
      this.#sendRaw(peerId, { kind: StreamFrameKind.Refuse, streamId: id, opener: false, reason: StreamReason.Busy });
      return;
    }
    const s = this.#newStream(peerHex, peerId, id, false, 'connecting', window, address.slice(), port);
    this.#perPeer.set(peerHex, (this.#perPeer.get(peerHex) ?? 0) + 1);
    s.accepting = true;
    acceptor.accept(peerId, s.address, port, s.handle).then((r) => {
      s.accepting = false;
      if (this.#streams.get(s.key) !== s) {
        // Reset or dropped while connecting: only now is its slot free (the connect held a socket until here).
        this.#releaseOrphan(s);
        if (typeof r !== 'number') r.abort(StreamReason.Aborted);
        return;
      }
      if (typeof r === 'number') {
        this.stats.refused++;
        this.#forget(s);
        this.#sendRaw(peerId, { kind: StreamFrameKind.Refuse, streamId: id, opener: false, reason: r });
        return;
      }
      s.endpoint = r;
      s.state = 'open';
      s.lastProgressMs = s.rtoBaseMs = this.#deps.clock.now();
      this.stats.accepted++;
      this.#send(s, { kind: StreamFrameKind.Accept, streamId: id, opener: false, window: this.#o.windowBytes });
      this.#pump(s);
      this.#maybeEnd(s);
    }, () => {
      s.accepting = false;
      if (this.#streams.get(s.key) === s) this.#close(s, StreamReason.Unreachable, true);
      else this.#releaseOrphan(s);
    });
  }

  #onData(s: Stream, offset: number, bytes: Uint8Array): void {
    if (s.state !== 'open') { this.#drops.early++; return; }
    const r = s.recv.onData(offset, bytes);
    if (r.kind === 'violation') { this.#protocol(s); return; }
    this.#markAck(s);
    if (r.kind !== 'accept') return;
    this.stats.bytesReceived += r.bytes.length;
    const n = r.bytes.length;
    // The session's plaintext buffer is not ours to keep: the endpoint gets its own copy.
    const taken = (): void => {
      if (this.#streams.get(s.key) === s && s.recv.onConsumed(n)) this.#markAck(s);
    };
    if (s.endpoint !== null) s.endpoint.deliver(r.bytes.slice(), taken);
    else s.early.push({ bytes: r.bytes.slice(), taken });
    this.#maybeEnd(s);
  }

  #onAck(s: Stream, received: number, limit: number, fin: boolean): void {
    if (s.state !== 'open') { this.#drops.early++; return; }
    const before = s.send.acked;
    const finBefore = s.send.finAcked;
    const limitBefore = s.send.limit;
    if (!s.send.onAck(received, limit, fin)) { this.#protocol(s); return; }
    const now = this.#deps.clock.now();
    if (s.send.acked > before || (s.send.finAcked && !finBefore)) {
      s.lastProgressMs = now;
      s.rtoBaseMs = now;
      s.rtoMs = STREAM_RTO_INITIAL_MS;
      s.dupAcks = 0;
    } else if (s.send.outstanding && received === s.send.acked && limit <= limitBefore && s.dupAcks >= 0) {
      // The receiver saw a gap: after STREAM_DUP_ACKS go back once, then wait for progress. An ACK that
      // grants more credit is a window update (its reader took bytes), not a duplicate, as in TCP (RFC 5681 §2).
      if (++s.dupAcks >= STREAM_DUP_ACKS) {
        s.dupAcks = -1;
        s.send.rewind();
        this.stats.resends++;
      }
    }
    if (s.send.buffered < this.#o.windowBytes) s.endpoint?.resume();
    this.#pump(s);
    this.#maybeDone(s);
  }

  #newStream(peerHex: string, peerId: Uint8Array, id: number, mine: boolean, state: State, peerWindow: number, address: Uint8Array, port: number): Stream {
    const key = `${peerHex}:${mine ? 'o' : 'i'}:${id}`;
    const now = this.#deps.clock.now();
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const mux = this;
    const s: Stream = {
      key, peerHex, peerId: peerId.slice(), id, mine, state,
      send: new SendWindow(peerWindow),
      recv: new ReceiveWindow(this.#o.windowBytes),
      endpoint: null,
      handle: {
        peerHex, id,
        write(bytes: Uint8Array): boolean { return mux.#write(s, bytes); },
        finish(): void { mux.#finish(s); },
        reset(reason: number): void { if (mux.#streams.get(key) === s) mux.#close(s, reason, true); },
      },
      address, port,
      startedMs: now, lastProgressMs: now, rtoBaseMs: now, lastAckSentMs: now, early: [],
      rtoMs: STREAM_RTO_INITIAL_MS, retryAtMs: now + STREAM_OPEN_RETRY_MS, dupAcks: 0,
      endDelivered: false, resolveOpen: null, accepting: false,
    };
    this.#streams.set(key, s);
    this.#scheduleTick();
    return s;
  }

  #write(s: Stream, bytes: Uint8Array): boolean {
    if (this.#streams.get(s.key) !== s || s.send.finQueued) return false;
    s.send.write(bytes);
    if (s.state === 'open') this.#pump(s);
    return s.send.buffered < this.#o.windowBytes;
  }

  #finish(s: Stream): void {
    if (this.#streams.get(s.key) !== s || s.send.finQueued) return;
    s.send.finish();
    if (s.state === 'open') this.#pump(s);
  }

  /** Send what the credit allows, then a due FIN. */
  #pump(s: Stream): void {
    if (s.state !== 'open') return;
    if (!s.send.outstanding) {
      // Nothing in flight: the timers start with what this pump sends, not at the last progress long ago.
      s.lastProgressMs = s.rtoBaseMs = this.#deps.clock.now();
    }
    for (;;) {
      const c = s.send.take(MAX_STREAM_CHUNK_BYTES);
      if (c === null) break;
      this.stats.bytesSent += c.bytes.length;
      // A frame the transport refused is left to the RTO: it goes again from the first unacknowledged byte.
      if (this.#send(s, { kind: StreamFrameKind.Data, streamId: s.id, opener: s.mine, offset: c.offset, bytes: c.bytes }) === 'dropped') break;
    }
    if (s.send.finDue) {
      s.send.markFinSent();
      this.#send(s, { kind: StreamFrameKind.Fin, streamId: s.id, opener: s.mine, offset: s.send.written });
    }
  }

  #markAck(s: Stream): void {
    this.#ackDue.add(s);
    if (this.#ackFlush === null && this.#running) this.#ackFlush = this.#deps.clock.schedule(0, () => this.#flushAcks());
  }

  #flushAcks(): void {
    this.#ackFlush = null;
    const now = this.#deps.clock.now();
    const due = [...this.#ackDue];
    this.#ackDue.clear();
    for (const s of due) if (this.#streams.get(s.key) === s) this.#sendAck(s, now);
  }

  #sendAck(s: Stream, now: number): void {
    s.lastAckSentMs = now;
    this.#send(s, { kind: StreamFrameKind.Ack, streamId: s.id, opener: s.mine, received: s.recv.received, limit: s.recv.grant(), fin: s.recv.finished });
    this.#maybeDone(s);
  }

  #maybeEnd(s: Stream): void {
    if (!s.endDelivered && s.recv.finished && s.endpoint !== null) {
      s.endDelivered = true;
      s.endpoint.end();
    }
    this.#maybeDone(s);
  }

  /** Both directions finished and acknowledged: the stream's state goes. */
  #maybeDone(s: Stream): void {
    if (s.endDelivered && s.send.done && this.#streams.get(s.key) === s && !this.#ackDue.has(s)) this.#forget(s);
  }

  #protocol(s: Stream): void {
    this.#drops.protocol++;
    this.#close(s, StreamReason.Protocol, true);
  }

  /** End a stream: the local end aborted, a RESET to the peer when `tell`. */
  #close(s: Stream, reason: number, tell: boolean, fromPeer = false): void {
    if (this.#streams.get(s.key) !== s) return;
    this.#forget(s);
    this.stats.resets++;
    if (tell) this.#sendRaw(s.peerId, { kind: StreamFrameKind.Reset, streamId: s.id, opener: s.mine, reason });
    const resolve = s.resolveOpen;
    s.resolveOpen = null;
    resolve?.({ refused: reason });
    // A RESET 'unknown' for a stream that had finished both ways only means our last ACK of its FIN was lost.
    const graceful = fromPeer && reason === StreamReason.Unknown && s.endDelivered && s.send.finQueued && s.send.acked === s.send.written;
    if (graceful) return;
    s.endpoint?.abort(reason);
  }

  #forget(s: Stream): void {
    this.#streams.delete(s.key);
    this.#ackDue.delete(s);
    s.send.clear();
    s.early.length = 0;
    if (s.mine) return;
    // A connect still in flight keeps its slot (per peer and in all) until it settles: #releaseOrphan.
    if (s.accepting) this.#orphanAccepts++;
    else this.#releasePeerSlot(s.peerHex);
  }

  /** The acceptor settled for a stream forgotten while it connected. */
  #releaseOrphan(s: Stream): void {
    this.#orphanAccepts--;
    this.#releasePeerSlot(s.peerHex);
  }

  #releasePeerSlot(peerHex: string): void {
    const n = (this.#perPeer.get(peerHex) ?? 1) - 1;
    if (n <= 0) this.#perPeer.delete(peerHex);
    else this.#perPeer.set(peerHex, n);
  }

  #send(s: Stream, f: StreamFrame): 'sent' | 'queued' | 'dropped' {
    return this.#sendRaw(s.peerId, f);
  }

  #sendRaw(peerId: Uint8Array, f: StreamFrame): 'sent' | 'queued' | 'dropped' {
    return this.#deps.sessions.sendInner(peerId, InnerType.Stream, encodeStreamFrame(f));
  }

  /** The tick runs only while a stream is held: an idle mux arms no timer. */
  #scheduleTick(): void {
    if (!this.#running || this.#tick !== null || this.#streams.size === 0) return;
    this.#tick = this.#deps.clock.schedule(STREAM_TICK_MS, () => {
      this.#tick = null;
      try {
        this.#onTick();
      } finally {
        this.#scheduleTick();
      }
    });
  }

  #onTick(): void {
    const now = this.#deps.clock.now();
    for (const s of [...this.#streams.values()]) {
      if (this.#streams.get(s.key) !== s) continue;
      if (s.state === 'opening') {
        if (now - s.startedMs >= STREAM_OPEN_TIMEOUT_MS) this.#close(s, StreamReason.Timeout, true);
        else if (now >= s.retryAtMs) {
          s.retryAtMs = now + STREAM_OPEN_RETRY_MS;
          this.#send(s, { kind: StreamFrameKind.Open, streamId: s.id, opener: true, window: this.#o.windowBytes, address: s.address, port: s.port });
        }
        continue;
      }
      if (s.state !== 'open') continue;
      if (s.send.outstanding || (s.send.next < s.send.written && s.send.next < s.send.limit)) {
        if (now - s.lastProgressMs >= STREAM_STALL_TIMEOUT_MS) { this.#close(s, StreamReason.Timeout, true); continue; }
        if (now - s.rtoBaseMs >= s.rtoMs) {
          // docs/protocol.md §6 "Loss": go back to the first unacknowledged byte.
          s.send.rewind();
          s.rtoMs = Math.min(s.rtoMs * 2, STREAM_RTO_MAX_MS);
          s.rtoBaseMs = now;
          s.dupAcks = 0;
          this.stats.resends++;
          this.#pump(s);
        }
      }
      if (now - s.lastAckSentMs >= STREAM_ACK_REFRESH_MS) this.#sendAck(s, now);
    }
  }
}
