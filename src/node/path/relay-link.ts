/**
 * The node's link to its relay (docs/architecture.md "Path choice": every peer
 * is reachable through the relay first, and the link stays up; docs/protocol.md §1).
 *
 * One RelayLink keeps one WSS connection to one relay up: it dials TLS 1.3,
 * authenticates the relay (a pinned SPKI hash, or a CA file), runs admission
 * (src/handshake/relay-auth.ts) bound to this TLS connection's exporter,
 * answers PINGs, declares the relay dead after the idle timeout the relay
 * announced, and reconnects with full-jitter exponential backoff, re-running
 * admission every time.
 *
 * Relay authentication happens before the WebSocket exists: the link opens
 * the TLS socket itself, checks `sha256:` + hex(SHA-256(SPKI)) of the server
 * certificate against `pin`, and only then hands the socket to `ws`. On a
 * mismatch the socket is destroyed (SM_ERR_RELAY_PIN, counted, logged,
 * retried with backoff): an impersonator never sees an HTTP request, let
 * alone a HELLO.
 *
 * Events:
 *   'established' (info: RelayEstablished)  after EVERY (re)admission
 *   'deliver' (src: Uint8Array, payload: Uint8Array)  both are views into the
 *       received frame, valid only during the call: copy what you keep
 *   'unreachable' (peerId: Uint8Array)  a copy
 *   'peer_up' (cert: Uint8Array, onlineSinceMs: number)  the relay says a
 *       member is online (PEER_UP). `cert` is a copy of the certificate
 *       bytes, NOT verified: the relay is untrusted, so a listener verifies
 *       it against the network CA (src/node/directory.ts does) before
 *       believing anything in it.
 *   'peer_down' (peerId: Uint8Array)  a copy; the relay says a member went
 *       offline (PEER_DOWN). May name a peer never announced: ignore it then.
 *   'policy' (blob: Uint8Array)  a copy of a POLICY frame's signed policy
 *       blob, NOT verified (docs/protocol.md §1 POLICY): the relay is
 *       untrusted, so a listener verifies it against the network CA and
 *       refuses older versions (src/policy/node-policy.ts). The frame is the
 *       only one allowed above MAX_FRAME_BYTES, up to MAX_POLICY_FRAME_BYTES,
 *       which is therefore the WebSocket message limit of the link.
 *       PEER_UP / PEER_DOWN come from relays older than PRESENCE; a current
 *       relay sends PRESENCE instead, one event per entry:
 *   'presence_up' (peerId, certDigest: Uint8Array, onlineSinceMs: number)
 *       copies; a member is online with the certificate of that SHA-256,
 *       which the listener fetches with requestCertificate (NOT verified:
 *       src/node/cert-fetcher.ts checks the digest, the directory the rest)
 *   'presence_down' (peerId: Uint8Array)  a copy, as 'peer_down'
 *   'cert' (peerId: Uint8Array, cert: Uint8Array)  copies; the relay's
 *       answer to requestCertificate, unverified like everything it sends
 *   Presence and admissions: after EVERY (re)admission the relay re-sends
 *       the full list of online members as 'peer_up' events, and 'established'
 *       is always emitted before any 'peer_up' of that admission. A listener
 *       therefore treats 'established' (or 'down') as "forget the list, it
 *       will be re-sent"; there is no end-of-list marker.
 *   'down' (reason: { code: string; message: string })  a connection attempt
 *       failed or an established link went away; a retry is scheduled unless stopped
 *   'refused' (err: SmError)  the relay refused admission (err.code is the
 *       SM_ERR_RELAY_* code of the relay's ERROR; err.relayCode its number)
 * The link never emits 'error'.
 *
 * `send` never queues without bound: over `sendQueueBytes` of WebSocket
 * backlog it drops, counts and answers false. The payload is copied once
 * into the outgoing frame, so the caller may reuse its buffer at once —
 * except a frame fresh from PeerSession.encrypt (dataplane/frame-headroom.ts),
 * which nobody reuses: its SEND header goes into the room before it and the
 * frame itself is handed to the socket uncopied.
 *
 * WebSocket masking: client frames carry a zero masking key, so neither this
 * side nor the relay runs the per-byte mask loop (ws skips it for a zero
 * key; it was the largest single cost on both). Masking exists so a
 * browser script cannot make cleartext bytes that a proxy misreads (RFC 6455
 * §10.3); here every byte is inside TLS and the payloads are sealed frames,
 * so it protects nothing. The frames stay valid WebSocket frames.
 *
 * Pin sets: `pin` may list several pins; the relay's key must match one of
 * them (a key rotation adds the new pin before the old one goes).
 *
 * Several relays (docs/architecture.md "Several relays"): given a
 * `RelayChooser` (relay-set.ts), the link still holds one connection, but
 * asks the chooser where each attempt goes and how long to wait first,
 * reports admissions and failures to it, and `moveTo()` leaves the current
 * relay for the chooser's next pick. Without one it reconnects to `url`
 * with its own backoff, as it always did. Every admission, to whichever
 * relay, emits 'established' with that relay's URL.
 *
 * Timers come from the injected clock; all of the link's timer policy
 * (connect deadline, idle check, reconnect backoff, close grace) is in
 * relay-link-timers.ts, and this file only reports attempts, admissions,
 * failures and the time it last heard from the relay.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { WebSocket } from 'ws';
import { randomBytes } from '../../crypto/bytes.js';
import type { HybridSigner } from '../../crypto/hybrid-sign.js';
import { ConfigError, SmError } from '../../errors.js';
import {
  RELAY_AUTH_EXPORTER_BYTES,
  RELAY_AUTH_EXPORTER_LABEL,
  RelayAuthClient,
  smCodeOfRelayCode,
} from '../../handshake/relay-auth.js';
import { systemClock, type Clock, type TimerHandle } from '../../util/clock.js';
import { silentLogger, type Logger } from '../../util/logger.js';
import { FrameType, MAX_FRAME_BYTES, MAX_POLICY_FRAME_BYTES, PEER_ID_BYTES, PresenceKind, RelayErrorCode, SEND_HEADER_BYTES } from '../../wire/constants.js';
import { decodeRelayFrame, encodeRelayFrame, writeRelayHeader } from '../../wire/relay-frames.js';
import { claimFrameHeadroom, FRAME_HEADROOM_BYTES } from '../dataplane/frame-headroom.js';
import { RelayLinkCode } from './path-errors.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_RECONNECT_BASE_MS, DEFAULT_RECONNECT_MAX_MS, RelayLinkTimers } from './relay-link-timers.js';

export interface RelayLinkOptions {
  /** wss://host:port (port defaults to 443). */
  url: string;
  /** `sha256:<hex>` of the relay's SPKI, as the relay prints it, or a pin set (any one must match). Exactly one of pin / tlsCaFile. */
  pin?: string | readonly string[];
  /** Trust a relay certificate issued by this CA (PEM) instead of a pin. */
  tlsCaFile?: string;
  /** TCP + TLS + WebSocket + admission must finish within this time. */
  connectTimeoutMs?: number;
  /** First reconnect delay ceiling; doubles per failure. */
  reconnectBaseMs?: number;
  /** Largest reconnect delay ceiling. */
  reconnectMaxMs?: number;
  /** WebSocket backlog above which send() drops. */
  sendQueueBytes?: number;
}

export interface RelayEstablished {
  /** The relay that admitted us (wss://host:port/). */
  relayUrl: string;
  sessionId: Uint8Array;
  observedAddress: string;
  observedPort: number;
  heartbeatMs: number;
  maxFrameBytes: number;
  /** This admission only presents a renewed certificate (renewCertificate): the link was not lost, nothing needs redoing. */
  renewal: boolean;
}

export interface RelayLinkStats {
  /** Admissions that reached ESTABLISHED. */
  connects: number;
  /** Connection attempts after the first. */
  reconnects: number;
  /** DELIVER frames received. */
  framesIn: number;
  /** SEND frames written. */
  framesOut: number;
  /** PEER_UP frames received (unverified announcements). */
  peerUps: number;
  /** PEER_DOWN frames received. */
  peerDowns: number;
  /** PRESENCE frames received. */
  presenceFrames: number;
  /** CERT_REQUEST frames sent. */
  certRequests: number;
  /** CERT frames received. */
  certs: number;
  /** Frames not sent or not delivered, by reason. */
  drops: Record<string, number>;
  /** Failed or ended connections, by SM_ERR_* code (SM_ERR_RELAY_PIN, …). */
  failures: Record<string, number>;
  /** Admissions at a relay other than the one of the previous admission. */
  switches: number;
  /** Re-admissions started to present a renewed certificate (renewCertificate). */
  renewals: number;
}

/**
 * Where the link connects when the node knows several relays (relay-set.ts
 * implements it; docs/conventions.md §11). `next()` is asked before every
 * attempt; the link reports what happened to the target it was given.
 */
export interface RelayChooser {
  next(): { target: { url: string; pins: readonly string[] }; delayMs: number };
  admitted(url: string): void;
  failed(url: string, code: string): void;
  /** The link left this relay on purpose (moveTo): not a failure. */
  left(url: string): void;
}

/** Same bound as the relay's per-client queue (relay-options.ts): ~64 full segments. */
export const DEFAULT_LINK_SEND_QUEUE_BYTES = 4 * 1024 * 1024;

export const RELAY_LINK_DEFAULTS = Object.freeze({
  connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS,
  reconnectBaseMs: DEFAULT_RECONNECT_BASE_MS,
  reconnectMaxMs: DEFAULT_RECONNECT_MAX_MS,
  sendQueueBytes: DEFAULT_LINK_SEND_QUEUE_BYTES,
});

const OPTION_KEYS = ['url', 'pin', 'tlsCaFile', 'connectTimeoutMs', 'reconnectBaseMs', 'reconnectMaxMs', 'sendQueueBytes'] as const;
const WS_CLOSE_NORMAL = 1000;

/** The pin format the relay prints (src/relay/tls-identity.ts): `sha256:` + hex(SHA-256(SPKI DER)). */
const PIN_RE = /^sha256:[0-9a-f]{64}$/;

/** True when `text` is one pin in the format the relay prints. */
export function isRelayPin(text: unknown): text is string {
  return typeof text === 'string' && PIN_RE.test(text);
}

/** `sha256:<hex>` of DER SubjectPublicKeyInfo bytes; must match tls-identity.ts's spkiPin (a test checks both agree). */
export function relayPinOf(spkiDer: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(spkiDer).digest('hex');
}

/** The pin of the key the TLS peer presented ('' when it presented none or it cannot be read); checked against a relay's pin set. */
export function presentedRelayPin(socket: TLSSocket): string {
  try {
    const cert = socket.getPeerX509Certificate();
    return cert === undefined ? '' : relayPinOf(cert.publicKey.export({ type: 'spki', format: 'der' }));
  } catch {
    return '';
  }
}

/** Where one attempt goes. */
interface Target {
  host: string;
  port: number;
  url: string;
  /** The pin set; null when the relay is judged by the CA file. */
  pins: readonly string[] | null;
}

interface ResolvedOptions extends Target {
  ca: Buffer | null;
  connectTimeoutMs: number;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  sendQueueBytes: number;
}

function optionError(name: string, value: unknown, expected: string): ConfigError {
  return new ConfigError('SM_ERR_CONFIG_VALUE', `relay link option ${name}: expected ${expected}, got ${JSON.stringify(value) ?? String(value)}`);
}

function resolveOptions(options: RelayLinkOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') throw optionError('options', options, 'an object');
  for (const key of Object.keys(options)) {
    if (!(OPTION_KEYS as readonly string[]).includes(key)) {
      throw new ConfigError('SM_ERR_CONFIG_UNKNOWN_OPTION', `relay link option ${key}: unknown option (value ${JSON.stringify((options as unknown as Record<string, unknown>)[key]) ?? 'undefined'})`);
    }
  }
  const o = { ...RELAY_LINK_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as Required<Omit<RelayLinkOptions, 'pin' | 'tlsCaFile'>> & RelayLinkOptions;
  const { host, port, url } = parseRelayUrl(o.url);
  if ((o.pin === undefined) === (o.tlsCaFile === undefined)) throw optionError('pin/tlsCaFile', { pin: o.pin, tlsCaFile: o.tlsCaFile }, 'exactly one of pin and tlsCaFile');
  const pins = o.pin === undefined ? null : resolvePins(o.pin, 'pin');
  let ca: Buffer | null = null;
  if (o.tlsCaFile !== undefined) {
    try {
      ca = readFileSync(o.tlsCaFile);
    } catch (err) {
      throw new ConfigError('SM_ERR_CONFIG_VALUE', `relay link option tlsCaFile: cannot read ${o.tlsCaFile}: ${(err as Error).message}`, { cause: err });
    }
  }
  const int = (name: string, v: unknown, min: number, max: number): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw optionError(name, v, `an integer in [${min}, ${max}]`);
    return v;
  };
  const reconnectBaseMs = int('reconnectBaseMs', o.reconnectBaseMs, 1, 3_600_000);
  return {
    host,
    port,
    url,
    pins,
    ca,
    connectTimeoutMs: int('connectTimeoutMs', o.connectTimeoutMs, 1, 3_600_000),
    reconnectBaseMs,
    reconnectMaxMs: int('reconnectMaxMs', o.reconnectMaxMs, reconnectBaseMs, 3_600_000),
    sendQueueBytes: int('sendQueueBytes', o.sendQueueBytes, MAX_FRAME_BYTES, Number.MAX_SAFE_INTEGER),
  };
}

/** wss://host:port as host, port and the normalised URL; a ConfigError naming `url` otherwise. */
export function parseRelayUrl(text: unknown): { host: string; port: number; url: string } {
  let parsed: URL;
  try {
    parsed = new URL(String(text));
  } catch {
    throw optionError('url', text, 'wss://host:port');
  }
  if (typeof text !== 'string' || parsed.protocol !== 'wss:' || parsed.hostname === '' || (parsed.pathname !== '/' && parsed.pathname !== '')) {
    throw optionError('url', text, 'wss://host:port');
  }
  const host = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname;
  return { host, port: parsed.port === '' ? 443 : Number(parsed.port), url: `wss://${parsed.host}/` };
}

/** A pin or a non-empty pin set, each `sha256:<64 lowercase hex>`; a ConfigError naming `name` otherwise. */
export function resolvePins(pin: unknown, name: string): readonly string[] {
  const list = typeof pin === 'string' ? [pin] : pin;
  if (!Array.isArray(list) || list.length === 0) throw optionError(name, pin, 'a pin or a non-empty list of pins');
  for (const p of list) if (!isRelayPin(p)) throw optionError(name, p, 'sha256:<64 lowercase hex digits>');
  return Object.freeze([...new Set(list as string[])]);
}

/** A zero WebSocket masking key (see the file comment: inside TLS, masking protects nothing). */
function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

/** One connection attempt; events from a superseded attempt are ignored. */
interface Attempt {
  socket: TLSSocket;
  ws: WebSocket | null;
  auth: RelayAuthClient;
  exporter: Uint8Array | null;
  timer: TimerHandle | null;
  lastSeenMs: number;
  idleTimeoutMs: number;
  info: RelayEstablished | null;
  failed: boolean;
  target: Target;
  /** The member certificate this attempt presents. */
  certificate: Uint8Array;
  /** Started by renewCertificate. */
  renewal: boolean;
}

type LinkState = 'idle' | 'connecting' | 'established' | 'backoff' | 'stopped';

export class RelayLink extends EventEmitter {
  readonly stats: RelayLinkStats = { connects: 0, reconnects: 0, framesIn: 0, framesOut: 0, peerUps: 0, peerDowns: 0, presenceFrames: 0, certRequests: 0, certs: 0, drops: {}, failures: {}, switches: 0, renewals: 0 };
  readonly #signer: Pick<HybridSigner, 'sign'>;
  #certificate: Uint8Array;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #timers: RelayLinkTimers;
  readonly #o: ResolvedOptions;
  readonly #chooser: RelayChooser | null;
  #lastAdmittedUrl: string | null = null;
  #state: LinkState = 'idle';
  #attempt: Attempt | null = null;
  #backoffTimer: TimerHandle | null = null;
  #attempts = 0;
  #stopping: Promise<void> | null = null;

  constructor(
    deps: { signer: HybridSigner; certificate: Uint8Array; logger?: Logger; clock?: Clock; random?: () => number; relays?: RelayChooser },
    options: RelayLinkOptions,
  ) {
    super();
    if (deps === null || typeof deps !== 'object' || typeof deps.signer?.sign !== 'function') throw optionError('deps.signer', typeof deps?.signer, 'a HybridSigner');
    if (!(deps.certificate instanceof Uint8Array) || deps.certificate.length === 0) throw optionError('deps.certificate', typeof deps.certificate, 'the encoded member certificate');
    this.#signer = deps.signer;
    this.#certificate = deps.certificate;
    this.#logger = deps.logger ?? silentLogger;
    this.#clock = deps.clock ?? systemClock;
    this.#o = resolveOptions(options);
    this.#chooser = deps.relays ?? null;
    this.#timers = new RelayLinkTimers({ clock: this.#clock, random: deps.random ?? Math.random }, this.#o);
  }

  /** The current admission, or null while not admitted. */
  get established(): RelayEstablished | null {
    return this.#state === 'established' ? (this.#attempt?.info ?? null) : null;
  }

  /** Local TCP port of the current connection (what the relay should report as observedPort), or null. */
  get localPort(): number | null {
    return this.#attempt?.socket.localPort ?? null;
  }

  /** The relay of the current or last attempt (wss://host:port/). */
  get relayUrl(): string {
    return this.#attempt?.target.url ?? this.#o.url;
  }

  /** Begin connecting; idempotent. */
  start(): void {
    if (this.#state !== 'idle') return;
    this.#connect();
  }

  /**
   * Leave the current relay for the chooser's next pick (a better one): the
   * current connection is closed as on stop() and the next attempt starts
   * at once, without a failure or a backoff. No-op without a chooser or
   * while not admitted.
   */
  moveTo(): void {
    const attempt = this.#attempt;
    if (this.#chooser === null || this.#state !== 'established' || attempt === null) return;
    attempt.failed = true;
    attempt.timer?.cancel();
    attempt.timer = null;
    this.#chooser.left(attempt.target.url);
    const ws = attempt.ws;
    if (ws !== null && ws.readyState === WebSocket.OPEN) {
      ws.send(encodeRelayFrame({ type: FrameType.Close, code: RelayErrorCode.ShuttingDown, reason: 'moving to another relay' }));
      ws.close(WS_CLOSE_NORMAL);
      this.#timers.closeGrace(() => attempt.socket.destroy());
    } else {
      attempt.socket.destroy();
    }
    this.#logger.info('leaving relay for a faster one', { relay: attempt.target.url });
    this.emit('down', { code: 'moving', message: `leaving ${attempt.target.url} for a faster relay` });
    this.#connect();
  }

  /**
   * Renewal (docs/architecture.md "Certificate renewal"): admit with
   * `certificate` (our renewed member certificate, encoded, checked by the
   * caller) from now on. While admitted, the current connection is closed as
   * by moveTo() and a new admission starts at once with the new certificate,
   * without a failure or a backoff, so the relay holds it before the old one
   * ends; its 'established' says `renewal: true`. While not admitted, the
   * next attempt presents it; an attempt already under way with the old one
   * re-admits again as soon as it is admitted. Returns whether a
   * re-admission was started.
   */
  renewCertificate(certificate: Uint8Array): boolean {
    if (!(certificate instanceof Uint8Array) || certificate.length === 0) throw optionError('certificate', typeof certificate, 'the encoded member certificate');
    this.#certificate = certificate;
    const attempt = this.#attempt;
    if (this.#state !== 'established' || attempt === null) return false;
    attempt.failed = true;
    attempt.timer?.cancel();
    attempt.timer = null;
    const ws = attempt.ws;
    if (ws !== null && ws.readyState === WebSocket.OPEN) {
      ws.send(encodeRelayFrame({ type: FrameType.Close, code: RelayErrorCode.ShuttingDown, reason: 'certificate renewed; re-admitting' }));
      ws.close(WS_CLOSE_NORMAL);
      this.#timers.closeGrace(() => attempt.socket.destroy());
    } else {
      attempt.socket.destroy();
    }
    this.#chooser?.left(attempt.target.url);
    this.stats.renewals++;
    this.#logger.info('re-admitting with the renewed certificate', { relay: attempt.target.url });
    this.emit('down', { code: 'renewing', message: `re-admitting to ${attempt.target.url} with the renewed certificate` });
    this.#connect(true);
    return true;
  }

  /** Close the link and cancel retries; idempotent. Resolves when the socket is gone. */
  stop(): Promise<void> {
    if (this.#stopping !== null) return this.#stopping;
    this.#stopping = this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#state = 'stopped';
    this.#backoffTimer?.cancel();
    this.#backoffTimer = null;
    const attempt = this.#attempt;
    if (attempt === null) return;
    attempt.timer?.cancel();
    attempt.failed = true;
    const ws = attempt.ws;
    await new Promise<void>((resolve) => {
      if (attempt.socket.destroyed) return resolve();
      attempt.socket.once('close', () => resolve());
      if (ws !== null && ws.readyState === WebSocket.OPEN) {
        if (attempt.info !== null) ws.send(encodeRelayFrame({ type: FrameType.Close, code: RelayErrorCode.ShuttingDown, reason: 'node stopping' }));
        ws.close(WS_CLOSE_NORMAL);
        this.#timers.closeGrace(() => attempt.socket.destroy());
      } else {
        attempt.socket.destroy();
      }
    });
  }

  /**
   * Send `payload` to `peerId` through the relay. False (dropped and counted)
   * when not established, empty, larger than the relay's frame limit, or over
   * the send queue limit.
   */
  send(peerId: Uint8Array, payload: Uint8Array): boolean {
    if (!(peerId instanceof Uint8Array) || peerId.length !== PEER_ID_BYTES) {
      throw new SmError('SM_ERR_RELAY_ARG', `RelayLink.send peerId: expected ${PEER_ID_BYTES} bytes, got ${peerId instanceof Uint8Array ? peerId.length : typeof peerId}`);
    }
    const attempt = this.#attempt;
    const info = attempt?.info ?? null;
    const ws = attempt?.ws ?? null;
    if (this.#state !== 'established' || info === null || ws === null || ws.readyState !== WebSocket.OPEN) return this.#drop('not-established');
    if (payload.length === 0) return this.#drop('empty');
    const size = SEND_HEADER_BYTES + payload.length;
    if (size > info.maxFrameBytes) return this.#drop('too-large');
    if (ws.bufferedAmount > this.#o.sendQueueBytes) return this.#drop('queue-full');
    let frame: Buffer;
    if (SEND_HEADER_BYTES <= FRAME_HEADROOM_BYTES && claimFrameHeadroom(payload)) {
      // A sealed frame from PeerSession.encrypt: its headroom takes the SEND header; no copy.
      frame = Buffer.from(payload.buffer, payload.byteOffset - SEND_HEADER_BYTES, size);
    } else {
      frame = Buffer.allocUnsafe(size);
      frame.set(payload, SEND_HEADER_BYTES);
    }
    writeRelayHeader(frame, 0, FrameType.Send, peerId);
    ws.send(frame, { binary: true });
    this.stats.framesOut++;
    return true;
  }

  /**
   * Ask the relay for a member's certificate (CERT_REQUEST; the answer is a
   * 'cert' event, or nothing). False (dropped and counted) when not
   * established or over the send queue limit.
   */
  requestCertificate(peerId: Uint8Array): boolean {
    if (!(peerId instanceof Uint8Array) || peerId.length !== PEER_ID_BYTES) {
      throw new SmError('SM_ERR_RELAY_ARG', `RelayLink.requestCertificate peerId: expected ${PEER_ID_BYTES} bytes, got ${peerId instanceof Uint8Array ? peerId.length : typeof peerId}`);
    }
    const attempt = this.#attempt;
    const ws = attempt?.ws ?? null;
    if (this.#state !== 'established' || attempt?.info == null || ws === null || ws.readyState !== WebSocket.OPEN) return this.#drop('not-established');
    if (ws.bufferedAmount > this.#o.sendQueueBytes) return this.#drop('queue-full');
    ws.send(encodeRelayFrame({ type: FrameType.CertRequest, peerId }), { binary: true });
    this.stats.certRequests++;
    return true;
  }

  #drop(reason: string): false {
    this.stats.drops[reason] = (this.stats.drops[reason] ?? 0) + 1;
    return false;
  }

  // ------------------------------------------------------------ connecting

  /** The chooser's pick (validated here: a bad target is a programmer's mistake), or the configured relay. */
  #nextTarget(): Target {
    if (this.#chooser === null) return this.#o;
    const { target } = this.#chooser.next();
    return { ...parseRelayUrl(target.url), pins: resolvePins(target.pins, `pins of ${target.url}`) };
  }

  #connect(renewal = false): void {
    if (this.#state === 'stopped') return;
    this.#state = 'connecting';
    if (this.#attempts++ > 0) this.stats.reconnects++;
    const o = this.#o;
    const target = this.#nextTarget();
    const socket = tlsConnect({
      host: target.host,
      port: target.port,
      servername: isIP(target.host) === 0 ? target.host : undefined,
      minVersion: 'TLSv1.3',
      ALPNProtocols: ['http/1.1'],
      // With a pin, the chain is not judged by the CA store: the pin check below replaces it.
      rejectUnauthorized: target.pins === null,
      ...(o.ca !== null ? { ca: o.ca } : {}),
    });
    const attempt: Attempt = {
      socket,
      ws: null,
      auth: new RelayAuthClient({ signer: this.#signer, certificate: this.#certificate }),
      exporter: null,
      timer: null,
      lastSeenMs: this.#clock.now(),
      idleTimeoutMs: 0,
      info: null,
      failed: false,
      target,
      certificate: this.#certificate,
      renewal,
    };
    this.#attempt = attempt;
    attempt.timer = this.#timers.connectDeadline(() => {
      this.#fail(attempt, RelayLinkCode.CONNECT_TIMEOUT, `no admission within ${o.connectTimeoutMs} ms`);
    });
    socket.on('error', (err) => this.#fail(attempt, attempt.ws === null ? RelayLinkCode.TLS : RelayLinkCode.SOCKET, err.message));
    socket.on('close', () => this.#fail(attempt, RelayLinkCode.CLOSED, 'connection closed'));
    socket.once('secureConnect', () => this.#onSecure(attempt));
  }

  #onSecure(attempt: Attempt): void {
    if (attempt.failed) return;
    const pins = attempt.target.pins;
    const socket = attempt.socket;
    if (pins !== null) {
      const seen = presentedRelayPin(socket);
      if (!pins.includes(seen)) {
        this.#fail(attempt, RelayLinkCode.PIN, `relay TLS key ${seen || '(none)'} of ${attempt.target.url} matches no pin of its set (${pins.join(', ')})`);
        return;
      }
    }
    try {
      attempt.exporter = new Uint8Array(socket.exportKeyingMaterial(RELAY_AUTH_EXPORTER_BYTES, RELAY_AUTH_EXPORTER_LABEL, Buffer.alloc(0)));
    } catch (err) {
      this.#fail(attempt, RelayLinkCode.TLS, `no TLS exporter: ${(err as Error).message}`);
      return;
    }
    const ws = new WebSocket(attempt.target.url, {
      createConnection: () => socket,
      perMessageDeflate: false,
      // One whole signed policy per POLICY frame; every other frame is still held to MAX_FRAME_BYTES by decodeRelayFrame.
      maxPayload: MAX_POLICY_FRAME_BYTES,
      generateMask: zeroMask,
    });
    attempt.ws = ws;
    ws.on('open', () => {
      if (attempt.failed) return;
      ws.send(attempt.auth.hello(randomBytes), { binary: true });
    });
    ws.on('message', (data, isBinary) => this.#onMessage(attempt, data, isBinary));
    ws.on('error', (err) => this.#fail(attempt, RelayLinkCode.SOCKET, err.message));
    ws.on('close', (code, reason) => this.#fail(attempt, RelayLinkCode.CLOSED, `websocket closed (${code}${reason.length > 0 ? ` ${reason.toString()}` : ''})`));
  }

  #onMessage(attempt: Attempt, data: unknown, isBinary: boolean): void {
    if (attempt.failed) return;
    attempt.lastSeenMs = this.#clock.now();
    if (!isBinary || !Buffer.isBuffer(data)) {
      if (attempt.info === null) this.#fail(attempt, 'SM_ERR_RELAY_AUTH_PROTOCOL', 'relay sent a non-binary message during admission');
      else this.#drop('malformed');
      return;
    }
    if (attempt.info === null) {
      this.#onAdmissionFrame(attempt, data);
      return;
    }
    let frame;
    try {
      frame = decodeRelayFrame(data);
    } catch {
      this.#drop('malformed');
      return;
    }
    switch (frame.type) {
      case FrameType.Deliver:
        this.stats.framesIn++;
        this.emit('deliver', frame.peerId, frame.payload);
        return;
      case FrameType.Unreachable:
        this.emit('unreachable', Uint8Array.from(frame.peerId));
        return;
      case FrameType.PeerUp:
        // protocol.md §1 Presence: a hint from an untrusted relay; listeners verify the certificate.
        this.stats.peerUps++;
        this.emit('peer_up', Uint8Array.from(frame.cert), frame.onlineSinceMs);
        return;
      case FrameType.PeerDown:
        this.stats.peerDowns++;
        this.emit('peer_down', Uint8Array.from(frame.peerId));
        return;
      case FrameType.Policy:
        // docs/protocol.md §1 POLICY: untrusted bytes; the listener verifies them.
        this.emit('policy', Uint8Array.from(frame.blob));
        return;
      case FrameType.Presence:
        // protocol.md §1 Presence: hints from an untrusted relay, in order; listeners fetch and verify certificates.
        this.stats.presenceFrames++;
        for (const e of frame.entries) {
          if (e.kind === PresenceKind.Up) this.emit('presence_up', Uint8Array.from(e.peerId), Uint8Array.from(e.certDigest), e.onlineSinceMs);
          else this.emit('presence_down', Uint8Array.from(e.peerId));
        }
        return;
      case FrameType.Cert:
        this.stats.certs++;
        this.emit('cert', Uint8Array.from(frame.peerId), Uint8Array.from(frame.cert));
        return;
      case FrameType.Ping:
        attempt.ws?.send(encodeRelayFrame({ type: FrameType.Pong, nonce: frame.nonce }), { binary: true });
        return;
      case FrameType.Pong:
        return;
      case FrameType.Close:
      case FrameType.Error: {
        const text = frame.type === FrameType.Close ? frame.reason : frame.message;
        this.#fail(attempt, smCodeOfRelayCode(frame.code), `relay closed the link: ${text} (relay code ${frame.code})`);
        return;
      }
      default:
        this.#drop('unexpected');
    }
  }

  #onAdmissionFrame(attempt: Attempt, data: Buffer): void {
    const auth = attempt.auth;
    try {
      if (auth.state === 'await-challenge') {
        const reply = auth.onChallenge(data, attempt.exporter as Uint8Array);
        attempt.ws?.send(reply, { binary: true });
        return;
      }
      if (auth.state === 'await-established') {
        const admission = auth.onEstablished(data);
        const info: RelayEstablished = {
          relayUrl: attempt.target.url,
          sessionId: admission.sessionId,
          observedAddress: admission.observedAddress,
          observedPort: admission.observedPort,
          heartbeatMs: admission.heartbeatMs,
          maxFrameBytes: Math.min(admission.maxFrameBytes, MAX_FRAME_BYTES),
          renewal: attempt.renewal,
        };
        this.#onEstablished(attempt, info, admission.idleTimeoutMs);
        return;
      }
      this.#fail(attempt, 'SM_ERR_RELAY_AUTH_PROTOCOL', `frame during admission state ${auth.state}`);
    } catch (err) {
      const e = err as SmError & { byRelay?: boolean };
      if (e.byRelay === true) {
        this.#logger.info('relay refused admission', { relay: attempt.target.url, code: e.code, message: e.message });
        this.emit('refused', e);
      }
      this.#fail(attempt, typeof e.code === 'string' ? e.code : 'SM_ERR_RELAY_AUTH_PROTOCOL', e.message);
    }
  }

  #onEstablished(attempt: Attempt, info: RelayEstablished, idleTimeoutMs: number): void {
    attempt.timer?.cancel();
    attempt.info = info;
    attempt.idleTimeoutMs = idleTimeoutMs;
    attempt.lastSeenMs = this.#clock.now();
    this.#state = 'established';
    this.#timers.admitted();
    this.stats.connects++;
    if (this.#lastAdmittedUrl !== null && this.#lastAdmittedUrl !== attempt.target.url) this.stats.switches++;
    this.#lastAdmittedUrl = attempt.target.url;
    this.#chooser?.admitted(attempt.target.url);
    attempt.timer = this.#timers.watchIdle(idleTimeoutMs, () => attempt.lastSeenMs, (silentMs) => {
      if (!attempt.failed) this.#fail(attempt, RelayLinkCode.DEAD, `no traffic from the relay for ${silentMs} ms`);
    });
    this.#logger.info('admitted by relay', { relay: attempt.target.url, observed: `${info.observedAddress}:${info.observedPort}` });
    this.emit('established', info);
    // A certificate renewed while this attempt was under way: present it now, before the old one ends.
    if (attempt.certificate !== this.#certificate && this.#attempt === attempt && this.#state === 'established') this.renewCertificate(this.#certificate);
  }

  /** End `attempt` (once): count, emit 'down', tear down, schedule the next try. */
  #fail(attempt: Attempt, code: string, message: string): void {
    if (attempt.failed) return;
    attempt.failed = true;
    attempt.timer?.cancel();
    attempt.timer = null;
    const wasEstablished = attempt.info !== null;
    this.stats.failures[code] = (this.stats.failures[code] ?? 0) + 1;
    if (attempt.ws !== null) attempt.ws.terminate();
    attempt.socket.destroy();
    if (this.#state === 'stopped') return;
    this.#chooser?.failed(attempt.target.url, code);
    const fields = { relay: attempt.target.url, code, message };
    const what = wasEstablished ? 'relay link down' : 'relay connection failed';
    if (code === RelayLinkCode.PIN) this.#logger.warn(what, fields);
    else this.#logger.info(what, fields);
    this.emit('down', { code, message });
    if (this.#attempt === attempt) this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    if (this.#state === 'stopped') return;
    this.#state = 'backoff';
    const onDue = (): void => {
      this.#backoffTimer = null;
      this.#connect();
    };
    // With several relays the chooser's backoff (per relay) decides; with one, the link's own.
    if (this.#chooser !== null) {
      this.#backoffTimer = this.#timers.after(this.#chooser.next().delayMs, onDue);
      return;
    }
    this.#backoffTimer = this.#timers.reconnectAfterFailure(() => {
      this.#backoffTimer = null;
      this.#connect();
    });
  }
}
