/**
 * One WebSocket client of the relay: its admission, its limits and its frame
 * loop (docs/protocol.md §1). The relay server (relay-server.ts) owns the
 * routing table and the periodic sweep; this file owns everything that
 * concerns a single socket.
 *
 * Life of a connection:
 *
 *     handshaking --AUTH verified + host.admit ok--> admitted
 *          |                                            |
 *          +-- refusal: ERROR(code) -----+              +-- CLOSE(code) --+
 *                                        v                                v
 *                                     closing --ws 'close' or grace--> closed
 *
 * Before admission only HELLO then AUTH are accepted; anything else is
 * answered with ERROR(Protocol) and the connection is closed. Nothing is
 * forwarded for a connection that is not admitted.
 *
 * After admission, bad input never escapes this loop (docs/conventions.md §10): a frame
 * that does not decode or is not one a node may send is dropped and counted;
 * past `maxBadFrames` such frames the connection is closed with
 * CLOSE(Protocol). Frames over the rate limit are dropped and counted.
 *
 * The relay never opens payloads: SEND is checked for its framing only, and
 * the same buffer is handed to the host, which rewrites its 36-byte prefix
 * into DELIVER in place (zero payload copies). Logs carry short peer ids,
 * never payload bytes.
 *
 * Timers: none here. The server's sweep reads `deadlineMs`, `lastSeenMs`,
 * `lastPingMs` and `closeDeadlineMs` and calls the methods below; a close
 * tells the server its grace deadline (`host.deadline`) so the sweep meets it.
 */
import type { WebSocket } from 'ws';
import type { Logger } from '../util/logger.js';
import { FrameType, PEER_ID_BYTES, RelayErrorCode, SESSION_ID_BYTES } from '../wire/constants.js';
import { decodeRelayFrame, encodeRelayFrame } from '../wire/relay-frames.js';
import { RelayAuthServer, relayCodeOf, type AdmissibleCertificate, type MembershipCheck } from '../handshake/relay-auth.js';
import { shortId } from '../identity/peer-id.js';
import { toHex } from '../crypto/bytes.js';
import type { RelayOptions } from './relay-options.js';
import type { DropReason, RefusalReason, RelayStats } from './relay-stats.js';
import { TokenBucket } from '../util/token-bucket.js';

export type ConnectionState = 'handshaking' | 'admitted' | 'closing' | 'closed';

/** A member certificate as the relay keeps it: MemberCertificate (src/identity) fits. */
export interface RelayMemberCertificate extends AdmissibleCertificate {
  readonly notAfterMs: number;
  /** The encoded certificate, announced to other members in PEER_UP. */
  readonly raw: Uint8Array;
  /** The member's name and mesh addresses (MemberCertificate has both): what the operator page lists. */
  readonly name?: string;
  readonly addresses?: readonly string[];
}

/**
 * One member's traffic through this connection since admission, for the
 * operator page (member-list.ts). Fixed fields and drop reasons fixed in
 * code, so it costs the same for every member whatever it sends.
 */
export interface MemberTraffic {
  /** Frames received after admission that passed the rate limit, and their bytes on the wire. */
  framesIn: number;
  bytesIn: number;
  /** Frames queued to this member (DELIVER, presence, PING/PONG, POLICY), and their bytes. */
  framesOut: number;
  bytesOut: number;
  /** Frames from or for this member that were dropped, by reason (relay-stats.ts DropReason). */
  drops: Partial<Record<DropReason, number>>;
}

/** What a connection needs from the server that owns it (narrow, so tests can fake it). */
export interface ConnectionHost<C extends RelayMemberCertificate> {
  readonly options: Readonly<RelayOptions>;
  readonly stats: RelayStats;
  readonly logger: Logger;
  /** Judges HELLO certificates (the server passes its cache of verified certificates, certificate-cache.ts). */
  readonly admission: MembershipCheck<C>;
  now(): number;
  random(n: number): Uint8Array;
  /** HELLO verified: may this peer still be admitted? Returns a refusal code, or null. */
  checkCapacity(peerId: Uint8Array): number | null;
  /** AUTH verified: enter the routing table (replacing an older connection). Returns a refusal code, or null. */
  admit(conn: ClientConnection<C>): number | null;
  /** ESTABLISHED has been queued: presence announcements may follow it. */
  joined(conn: ClientConnection<C>): void;
  /** The address and port ESTABLISHED reports back to the member (its socket's remote end). */
  observedAddress(conn: ClientConnection<C>): { address: string; port: number };
  /** An admitted member asks for a member certificate (CERT_REQUEST, already rate-limited): answer with CERT or drop and count. */
  certRequest(conn: ClientConnection<C>, peerId: Uint8Array): void;
  /** Route an admitted SEND; `frame` may be rewritten in place. */
  forward(conn: ClientConnection<C>, frame: Buffer, dst: Uint8Array): void;
  /** The socket is gone; forget the connection. */
  closed(conn: ClientConnection<C>): void;
  /** `conn` now holds a deadline (clock ms) the sweep must act on: its close grace. */
  deadline(conn: ClientConnection<C>, atMs: number): void;
}

/** Maps an admission error code to its refusal counter. */
const REFUSAL_REASONS: ReadonlyMap<number, RefusalReason> = new Map<number, RefusalReason>([
  [RelayErrorCode.Protocol, 'protocol'],
  [RelayErrorCode.NotMember, 'not-member'],
  [RelayErrorCode.CertValidity, 'cert-validity'],
  [RelayErrorCode.Revoked, 'revoked'],
  [RelayErrorCode.BadSignature, 'bad-signature'],
  [RelayErrorCode.HandshakeTimeout, 'handshake-timeout'],
  [RelayErrorCode.RelayFull, 'relay-full'],
  [RelayErrorCode.ShuttingDown, 'shutting-down'],
]);

/** WebSocket close status sent after our own CLOSE/ERROR frame (RFC 6455 §7.4.1: 1000 normal, 1008 policy). */
/** CERT_REQUESTs one member may send per second: a node fetches with a few requests outstanding
 *  (src/node/cert-fetcher.ts), so 200/s fills a 1,000-member directory in about five seconds, while
 *  the relay's output for one member stays near 1.5 MB/s of certificates (~7.4 KB each). */
export const CERT_REQUESTS_PER_SEC = 200;
/** Requests a member may send at once: a small network's whole list (above this, it is paced by the rate). */
export const CERT_REQUEST_BURST = 400;

const WS_CLOSE_NORMAL = 1000;
const WS_CLOSE_POLICY = 1008;

let nextConnectionId = 1;

export class ClientConnection<C extends RelayMemberCertificate> {
  /** Process-unique number for logs before the peer id is known. */
  readonly id = nextConnectionId++;
  readonly ws: WebSocket;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly #host: ConnectionHost<C>;
  readonly #auth: RelayAuthServer<C>;
  readonly #frames: TokenBucket;
  /** CERT_REQUESTs: each costs the relay a certificate's worth of output (docs/threat-model.md "Malicious member"). */
  readonly #certRequests: TokenBucket;
  readonly #bytes: TokenBucket;
  #state: ConnectionState = 'handshaking';
  #certificate: C | null = null;
  #peerKey = '';
  #short = '';
  #badFrames = 0;
  #pingNonce = 0n;
  /** This member's counters (MemberTraffic); read by the operator page through `traffic`. */
  readonly #traffic: MemberTraffic = { framesIn: 0, bytesIn: 0, framesOut: 0, bytesOut: 0, drops: {} };
  /** Handshake must finish before this time. */
  readonly deadlineMs: number;
  /** Last time any frame arrived. */
  lastSeenMs: number;
  /** Last time the relay sent PING. */
  lastPingMs: number;
  /** When `closing`, cut the TCP connection at this time. */
  closeDeadlineMs = Number.POSITIVE_INFINITY;

  constructor(host: ConnectionHost<C>, ws: WebSocket, params: { exporter: Uint8Array; remoteAddress: string; remotePort: number }) {
    this.#host = host;
    this.ws = ws;
    this.remoteAddress = params.remoteAddress;
    this.remotePort = params.remotePort;
    const now = host.now();
    const o = host.options;
    this.deadlineMs = now + o.handshakeTimeoutMs;
    this.lastSeenMs = now;
    this.lastPingMs = now;
    this.#frames = new TokenBucket(o.rateFramesPerSec, o.rateFrameBurst, now);
    this.#bytes = new TokenBucket(o.rateBytesPerSec, o.rateByteBurst, now);
    this.#certRequests = new TokenBucket(CERT_REQUESTS_PER_SEC, CERT_REQUEST_BURST, now);
    this.#auth = new RelayAuthServer<C>({ verifier: host.admission }, { exporter: params.exporter });
    ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    ws.on('close', () => this.#onClose());
    ws.on('error', (err) => {
      // ws reports protocol violations (bad opcode, oversize, bad UTF-8) here and then closes the socket itself.
      const code = (err as { code?: unknown }).code;
      this.countDrop(code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'frame-too-large' : 'malformed');
      host.logger.debug(`${this.label} websocket error`, { code: String(code ?? ''), error: (err as Error).message });
    });
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** A copy of this member's counters. */
  get traffic(): MemberTraffic {
    return { ...this.#traffic, drops: { ...this.#traffic.drops } };
  }

  /** Count a drop of a frame from or for this member, in the relay's counters and its own. */
  countDrop(reason: DropReason): void {
    this.#host.stats.drop(reason);
    this.#traffic.drops[reason] = (this.#traffic.drops[reason] ?? 0) + 1;
  }

  /** The admitted certificate (null before admission). */
  get certificate(): C | null {
    return this.#certificate;
  }

  /** Peer id of the admitted member (null before admission). */
  get peerId(): Uint8Array | null {
    return this.#certificate?.peerId ?? null;
  }

  /** Routing-table key (hex peer id), '' before admission. */
  get peerKey(): string {
    return this.#peerKey;
  }

  /** `<short id>` once known, else `conn#<n>`: the prefix of every log line about this connection. */
  get label(): string {
    return this.#short !== '' ? this.#short : `conn#${this.id}`;
  }

  /** True when frames for this client must be dropped: its socket queue is over the limit. */
  get congested(): boolean {
    return this.ws.bufferedAmount > this.#host.options.sendQueueBytes;
  }

  /**
   * Queue a frame to this client unless the connection is not open or its queue
   * is over `sendQueueBytes` (then count `dropReason` and answer false). The
   * buffer must not be modified afterwards. `onWritten`, if given, runs once
   * the frame has been handed to the socket (presence.ts paces lists with it).
   */
  sendFrame(bytes: Uint8Array, dropReason: DropReason = 'queue-full', onWritten?: () => void): boolean {
    if (this.#state === 'closed' || this.ws.readyState !== this.ws.OPEN) return false;
    if (this.congested) {
      this.countDrop(dropReason);
      return false;
    }
    this.#traffic.framesOut++;
    this.#traffic.bytesOut += bytes.length;
    if (onWritten === undefined) this.ws.send(bytes, { binary: true });
    else this.ws.send(bytes, { binary: true }, onWritten);
    return true;
  }

  /** Send PING (the sweep calls this every heartbeat). */
  ping(now: number): void {
    this.lastPingMs = now;
    this.#pingNonce++;
    this.sendFrame(encodeRelayFrame({ type: FrameType.Ping, nonce: this.#pingNonce }));
  }

  /** Refuse admission: ERROR(code) then close. Counts the refusal and logs at info. */
  refuse(code: number, message: string): void {
    if (this.#state !== 'handshaking') return;
    const reason = REFUSAL_REASONS.get(code) ?? 'protocol';
    this.#host.stats.refused(reason);
    this.#host.logger.info(`${this.label} admission refused`, { reason, code, message, remote: `${this.remoteAddress}:${this.remotePort}` });
    this.#sendAndClose(encodeRelayFrame({ type: FrameType.Error, code, message }), WS_CLOSE_POLICY);
  }

  /** Close an admitted (or handshaking) connection with CLOSE(code, reason). */
  close(code: number, reason: string): void {
    if (this.#state === 'closing' || this.#state === 'closed') return;
    this.#host.logger.info(`${this.label} closing`, { code, reason });
    this.#sendAndClose(encodeRelayFrame({ type: FrameType.Close, code, reason }), WS_CLOSE_NORMAL);
  }

  /** Cut the TCP connection now (after the close grace, or at shutdown). */
  terminate(): void {
    if (this.#state === 'closed') return;
    this.ws.terminate();
  }

  #sendAndClose(frame: Uint8Array, wsCode: number): void {
    this.#state = 'closing';
    this.closeDeadlineMs = this.#host.now() + this.#host.options.closeGraceMs;
    this.#host.deadline(this, this.closeDeadlineMs);
    if (this.ws.readyState === this.ws.OPEN) {
      // A closing frame goes out even past the queue limit: it is small and the last one.
      this.ws.send(frame, { binary: true });
      this.ws.close(wsCode);
    } else {
      this.ws.terminate();
    }
  }

  #onClose(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#host.closed(this);
  }

  #onMessage(data: unknown, isBinary: boolean): void {
    try {
      if (this.#state === 'closing' || this.#state === 'closed') return;
      this.lastSeenMs = this.#host.now();
      if (!isBinary || !Buffer.isBuffer(data)) {
        // A text message (or a fragmented type we never enabled) is not a frame.
        if (this.#state === 'handshaking') this.refuse(RelayErrorCode.Protocol, 'expected a binary frame');
        else this.#bad('malformed', 'text message');
        return;
      }
      if (this.#state === 'handshaking') this.#onHandshakeFrame(data);
      else this.#onAdmittedFrame(data);
    } catch (err) {
      // A bug must not take the process down; this connection is the only casualty.
      this.#host.logger.error(`${this.label} frame handling failed`, { error: (err as Error).message });
      if (this.#state === 'handshaking') this.refuse(RelayErrorCode.Protocol, 'internal error');
      else this.close(RelayErrorCode.Protocol, 'internal error');
    }
  }

  #onHandshakeFrame(data: Buffer): void {
    const host = this.#host;
    if (this.#auth.state === 'await-hello') {
      host.stats.admissionAttempts++;
      let challenge: Uint8Array;
      try {
        challenge = this.#auth.onHello(data, host.now(), (n) => host.random(n));
      } catch (err) {
        this.refuse(relayCodeOf(err), (err as Error).message);
        return;
      }
      const cert = this.#auth.presented as C;
      this.#short = shortId(cert.peerId);
      const capacity = host.checkCapacity(cert.peerId);
      if (capacity !== null) {
        this.refuse(capacity, 'relay full');
        return;
      }
      this.sendFrame(challenge);
      return;
    }
    let cert: C;
    try {
      cert = this.#auth.onAuth(data);
    } catch (err) {
      this.refuse(relayCodeOf(err), (err as Error).message);
      return;
    }
    this.#certificate = cert;
    this.#peerKey = toHex(cert.peerId.subarray(0, PEER_ID_BYTES));
    const refusal = host.admit(this);
    if (refusal !== null) {
      this.#certificate = null;
      this.#peerKey = '';
      this.refuse(refusal, refusal === RelayErrorCode.RelayFull ? 'relay full' : 'refused');
      return;
    }
    this.#state = 'admitted';
    const now = host.now();
    this.lastSeenMs = now;
    this.lastPingMs = now;
    const o = host.options;
    const observed = host.observedAddress(this);
    this.sendFrame(
      encodeRelayFrame({
        type: FrameType.Established,
        sessionId: host.random(SESSION_ID_BYTES),
        heartbeatMs: o.heartbeatMs,
        idleTimeoutMs: o.idleTimeoutMs,
        maxFrameBytes: o.maxFrameBytes,
        observedAddress: observed.address,
        observedPort: observed.port,
      }),
    );
    host.logger.info(`${this.label} admitted`, { remote: `${this.remoteAddress}:${this.remotePort}` });
    // protocol.md §1: presence starts only after ESTABLISHED.
    host.joined(this);
  }

  #onAdmittedFrame(data: Buffer): void {
    const host = this.#host;
    const now = host.now();
    if (!this.#frames.take(1, now) || !this.#bytes.take(data.length, now)) {
      this.countDrop('rate-limited');
      return;
    }
    this.#traffic.framesIn++;
    this.#traffic.bytesIn += data.length;
    let frame;
    try {
      frame = decodeRelayFrame(data);
    } catch (err) {
      this.#bad('malformed', String((err as { code?: unknown }).code ?? 'decode'));
      return;
    }
    switch (frame.type) {
      case FrameType.Send:
        // Framing only (decodeRelayFrame checked the bounds); the payload stays sealed and unread.
        if (data.length > host.options.maxFrameBytes) {
          this.#bad('frame-too-large', `${data.length} bytes`);
          return;
        }
        host.forward(this, data, frame.peerId);
        return;
      case FrameType.CertRequest:
        host.stats.certRequests++;
        if (!this.#certRequests.take(1, now)) {
          host.stats.drop('cert-rate-limited');
          return;
        }
        host.certRequest(this, frame.peerId);
        return;
      case FrameType.Ping:
        this.sendFrame(encodeRelayFrame({ type: FrameType.Pong, nonce: frame.nonce }));
        return;
      case FrameType.Pong:
        return;
      case FrameType.Close:
        host.logger.info(`${this.label} client closed`, { code: frame.code });
        this.#state = 'closing';
        this.closeDeadlineMs = now + host.options.closeGraceMs;
        this.ws.close(WS_CLOSE_NORMAL);
        return;
      default:
        this.#bad('unexpected', `frame type ${frame.type}`);
    }
  }

  #bad(reason: DropReason, detail: string): void {
    const host = this.#host;
    this.countDrop(reason);
    this.#badFrames++;
    host.logger.debug(`${this.label} dropped frame`, { reason, detail });
    if (this.#badFrames > host.options.maxBadFrames) {
      host.stats.disconnect('bad-frames-limit');
      this.close(RelayErrorCode.Protocol, 'too many bad frames');
    }
  }
}
