/**
 * DirectPath: a Path (path.ts) over one pinned, re-handshaken TLS 1.3
 * WebSocket to a peer (docs/architecture.md "Carriers";
 * docs/protocol.md §3). Only direct-transport.ts builds one,
 * and only after the TLS pin matched and the re-handshake (src/handshake/
 * path-auth.ts) completed, so everything it carries is from that peer's
 * session holder.
 *
 * What callers must know:
 *  - One WebSocket binary message = one frame: a peer frame (protocol.md §2)
 *    or a path probe (§3). The path never looks further inside; the session
 *    authenticates and de-duplicates DATA.
 *  - Receive: every non-empty binary message goes to onFrame (a Buffer the
 *    callee owns) — the path does not judge frames, the session does. Text
 *    messages, empty messages, a late re-handshake frame (v1 header with type
 *    0x25..0x27: only the transport speaks those, and only before the path
 *    exists) and anything above MAX_FRAME_BYTES (ws closes with 1009) are
 *    dropped and counted; a throwing onFrame is counted, never rethrown.
 *  - send() copies the frame (ws masks client frames in place, and callers
 *    reuse pooled buffers), so the caller may reuse its buffer at once. Over
 *    `maxBufferedBytes` of WebSocket backlog it drops ('backpressure').
 *  - close(reason) is idempotent and fires onClose once, whoever closed.
 *    Frames already received while closing are still delivered.
 */
import type { WebSocket, RawData } from 'ws';
import type { Clock, TimerHandle } from '../../util/clock.js';
import { HEADER_BYTES, MAX_FRAME_BYTES, PROTOCOL_VERSION } from '../../wire/constants.js';
import { isPathAuthFrameType } from '../../wire/path-frames.js';
import { countPathDrop, newPathId, newPathStats, type Path, type PathKind, type PathStats } from './path.js';

/** WebSocket close code for a normal close (RFC 6455 §7.4.1). */
const WS_CLOSE_NORMAL = 1000;
/** Close reasons are capped: a control frame carries at most 125 bytes, 2 of them the code. */
const MAX_CLOSE_REASON_CHARS = 120;
/** After our close frame, wait this long for the peer's before cutting the socket: enough for a
 *  round trip on any path worth using, short enough that a dead peer frees the socket quickly. */
export const DIRECT_CLOSE_GRACE_MS = 1_000;

export interface DirectPathInit {
  ws: WebSocket;
  peerId: Uint8Array;
  /** 'IP:PORT' ('[v6]:PORT') of the other end. */
  remote: string;
  /** True when we dialed (the peer accepted); lets an owner holding two paths keep the same one as the peer does. */
  dialed: boolean;
  maxBufferedBytes: number;
  clock: Clock;
  /** The transport's own bookkeeping; runs before onClose. */
  onClosed?: (path: DirectPath) => void;
}

function toBytes(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

export class DirectPath implements Path {
  readonly kind: PathKind = 'direct';
  readonly carrier = 'wss' as const;
  readonly id: string;
  readonly remote: string;
  readonly peerId: Uint8Array;
  readonly dialed: boolean;
  onFrame: ((frame: Uint8Array) => void) | null = null;
  onClose: ((reason: string) => void) | null = null;
  readonly #ws: WebSocket;
  readonly #stats: PathStats = newPathStats();
  readonly #maxBuffered: number;
  readonly #clock: Clock;
  readonly #onClosed: ((path: DirectPath) => void) | undefined;
  #closed = false;
  #graceTimer: TimerHandle | null = null;

  constructor(init: DirectPathInit) {
    this.#ws = init.ws;
    this.peerId = Uint8Array.from(init.peerId);
    this.remote = init.remote;
    this.dialed = init.dialed;
    this.id = `${newPathId('direct')}@${init.remote}`; // e.g. direct-7@203.0.113.5:41641
    this.#maxBuffered = init.maxBufferedBytes;
    this.#clock = init.clock;
    this.#onClosed = init.onClosed;
    const ws = init.ws;
    ws.on('message', (data: RawData, isBinary: boolean) => this.#receive(data, isBinary));
    ws.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') countPathDrop(this.#stats, 'too_large');
      else countPathDrop(this.#stats, 'socket_error');
    });
    ws.on('close', (code: number) => {
      this.#graceTimer?.cancel();
      this.#finish(`remote closed (${code})`);
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  get stats(): Readonly<PathStats> {
    return this.#stats;
  }

  /** Bytes queued in the WebSocket, not yet handed to the kernel. */
  get bufferedBytes(): number {
    return this.#ws.bufferedAmount;
  }

  send(frame: Uint8Array): boolean {
    if (this.#closed || this.#ws.readyState !== this.#ws.OPEN) {
      countPathDrop(this.#stats, 'closed');
      return false;
    }
    if (!(frame instanceof Uint8Array) || frame.length === 0) {
      countPathDrop(this.#stats, 'empty');
      return false;
    }
    if (frame.length > MAX_FRAME_BYTES) {
      countPathDrop(this.#stats, 'too_large');
      return false;
    }
    if (this.#ws.bufferedAmount > this.#maxBuffered) {
      countPathDrop(this.#stats, 'backpressure');
      return false;
    }
    this.#ws.send(Buffer.from(frame), { binary: true });
    this.#stats.framesOut++;
    this.#stats.bytesOut += frame.length;
    return true;
  }

  close(reason: string): void {
    if (this.#closed) return;
    const ws = this.#ws;
    if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) {
      try {
        ws.close(WS_CLOSE_NORMAL, String(reason).slice(0, MAX_CLOSE_REASON_CHARS));
      } catch {
        ws.terminate();
      }
      this.#graceTimer = this.#clock.schedule(DIRECT_CLOSE_GRACE_MS, () => ws.terminate());
    }
    this.#finish(reason);
  }

  #finish(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClosed?.(this);
    const cb = this.onClose;
    if (cb !== null) {
      try {
        cb(reason);
      } catch {
        countPathDrop(this.#stats, 'close_handler_error');
      }
    }
  }

  #receive(data: RawData, isBinary: boolean): void {
    const st = this.#stats;
    if (!isBinary) return countPathDrop(st, 'not_binary');
    const bytes = toBytes(data);
    if (bytes.length === 0) return countPathDrop(st, 'empty');
    if (bytes.length >= HEADER_BYTES && bytes[0] === PROTOCOL_VERSION && isPathAuthFrameType(bytes[1] as number)) {
      return countPathDrop(st, 'unexpected_path_auth');
    }
    const cb = this.onFrame;
    if (cb === null) return countPathDrop(st, 'no_handler');
    st.framesIn++;
    st.bytesIn += bytes.length;
    try {
      cb(bytes);
    } catch {
      countPathDrop(st, 'handler_error');
    }
  }
}
