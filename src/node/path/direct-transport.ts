/**
 * DirectTransport: the direct WSS transport of a node (docs/architecture.md
 * "Carriers"; docs/protocol.md §3; issue 4 §1-3). It owns
 *
 *  - a TLS 1.3-only, mutual-TLS WebSocket listener at `/ws` on all
 *    addresses (IPv4 and IPv6) and a configurable port;
 *  - an ephemeral ECDSA P-256 certificate (tls-ephemeral.ts), rotated a
 *    quarter of its lifetime before expiry: new connections use the new one,
 *    open connections keep theirs, and 'pin_changed' tells the owner that
 *    our PATH_OFFER must be re-signed and re-sent (rendezvous/offer-exchange.ts);
 *  - dialing: all of a peer's WSS candidates at once, the first to finish the
 *    re-handshake wins, the others are closed.
 *
 * Offers and candidates are not ours: the rendezvous
 * (rendezvous/rendezvous.ts) holds the pins peers signed (SHA-256 of their
 * certificates' SPKI DER), their candidates and our mesh subnets; this
 * transport reads them through DirectRendezvous, and tells it where the
 * listener is bound so our own WSS candidates carry the real port.
 *
 * Authentication, in order, on every connection:
 *  1. TLS 1.3 with both certificates. At the TLS layer any self-signed
 *     certificate is accepted; the pin check replaces the chain.
 *  2. Dialer: the server's fingerprint must be a pin the peer signed, checked
 *     on the raw socket before the WebSocket exists (SM_ERR_PATH_PIN: a man in
 *     the middle never sees an HTTP request). Listener: the client's
 *     fingerprint must be some peer's signed pin, checked when the TLS
 *     handshake completes, before any HTTP is read (SM_ERR_PATH_PIN_UNKNOWN,
 *     SM_ERR_PATH_NO_CLIENT_CERT).
 *  3. The re-handshake (src/handshake/path-auth.ts) under the session's
 *     path-auth key and this connection's TLS exporter. The listener learns
 *     the peer from the client pin, and takes the one of the pin's peers whose
 *     session id the REQUEST names (normally the only one: a member that
 *     re-signs someone else's pin cannot push that peer out this way).
 * Only then does a DirectPath exist and the 'path' event fire.
 *
 * Events:
 *   'path' (peerId: Uint8Array, path: DirectPath)  dialed or accepted; set
 *       path.onFrame / onClose in the listener. Both sides may dial at once,
 *       so an owner can get two paths to one peer; `path.dialed` lets both
 *       ends keep the same one (path-manager.ts keeps the one the lower
 *       peer id dialed).
 *   'pin_changed' ()  our certificate rotated: our offer carries another pin.
 *   'refused' (peerId: Uint8Array | null, code: string)  a pin or a
 *       re-handshake was refused (also counted in stats.refused).
 *   'connect_failed' (peerId: Uint8Array, codes: string[])  every candidate
 *       of a connect() failed; the owner schedules the retry (path-timers).
 * Never 'error'. Bad network input is dropped and counted, never thrown.
 *
 * Before authentication the listener bounds what strangers can hold: at
 * most maxHandshakes TCP connections between accept and finished TLS, at
 * most maxHandshakesPerAddress of them from one source (IPv6: one /64), and
 * tlsHandshakeTimeoutMs for the TLS handshake; past the pin check,
 * maxPendingAccepts. Cut connections are counted in stats.refused
 * (SM_ERR_PATH_HANDSHAKES_FULL, SM_ERR_PATH_SOURCE_BUSY), timed-out
 * handshakes in stats.failures (SM_ERR_PATH_TLS_TIMEOUT).
 *
 * Timers armed here, with every interval and deadline from direct-timers.ts:
 * the per-connection timeout (TCP + TLS + WebSocket + re-handshake), the TLS
 * handshake timeout (handed to the TLS server) and the certificate rotation
 * with its retries.
 */
import { EventEmitter } from 'node:events';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { equalBytes, randomBytes, toHex } from '../../crypto/bytes.js';
import { ConfigError } from '../../errors.js';
import {
  ChallengeReplayCache,
  DEFAULT_PATH_AUTH_SKEW_MS,
  PATH_AUTH_EXPORTER_BYTES,
  PATH_AUTH_EXPORTER_LABEL,
  PathAuthInitiator,
  PathAuthResponder,
  pathSessionId,
  requestSessionId,
} from '../../handshake/path-auth.js';
import { PathAuthCode } from '../../handshake/handshake-errors.js';
import { systemClock, type Clock, type TimerHandle } from '../../util/clock.js';
import { silentLogger, type Logger } from '../../util/logger.js';
import { MAX_FRAME_BYTES, PEER_ID_BYTES } from '../../wire/constants.js';
import { formatHostPort } from '../../wire/ip-address.js';
import { DirectPath } from './direct-path.js';
import { SourceLimit, sourceKey } from '../../util/source-limit.js';
import { DirectCode, PathCode } from './path-errors.js';
import type { PathCandidate } from './rendezvous/path-offer.js';
import { createEphemeralCertificate, EPHEMERAL_CERT_LIFETIME_MS, fingerprintOfX509, type EphemeralCertificate } from './tls-ephemeral.js';
import { DEFAULT_DIRECT_CONNECT_TIMEOUT_MS, DEFAULT_DIRECT_TLS_HANDSHAKE_TIMEOUT_MS, MIN_CERT_LIFETIME_MS, rotationDelayMs, rotationRetryDelayMs } from './direct-timers.js';

/** WebSocket path of the listener (issue 4 §1). */
export const DIRECT_WS_PATH = '/ws';
/** WebSocket backlog per path before send() drops: about 64 full 64 KiB segments, as the relay link. */
export const DEFAULT_DIRECT_SEND_QUEUE_BYTES = 4 * 1024 * 1024;
/** TLS connections past the pin check but not yet re-handshaken; only members get this far,
 *  the bound stops one member from holding unbounded sockets open. */
export const DEFAULT_MAX_PENDING_ACCEPTS = 64;
/** Connections between TCP accept and finished TLS, from anyone: anyone can open them, and each
 *  holds a descriptor and TLS state until the timeout; peers need a handful each. */
export const DEFAULT_DIRECT_MAX_HANDSHAKES = 256;
/** The same, from one source (an IPv4 address or an IPv6 /64; ../../util/source-limit.ts): a peer
 *  dials each of our candidates at most once per attempt, and a few members may share a NAT, so
 *  16 is plenty for honest use while one host cannot take the global bound for itself. */
export const DEFAULT_DIRECT_MAX_HANDSHAKES_PER_ADDRESS = 16;

/**
 * What the transport reads from the rendezvous (docs/conventions.md §11;
 * rendezvous/rendezvous.ts fits it): peers' signed pins and candidates, our
 * mesh subnets, and where to say our listener is.
 */
export interface DirectRendezvous {
  /** The pins `peerId` signed in its latest accepted offer (current first), or null without one. */
  peerPins(peerId: Uint8Array): readonly Uint8Array[] | null;
  /** The peers whose latest offer carries `pin`. */
  pinOwners(pin: Uint8Array): Uint8Array[];
  /** `peerId`'s offered candidates of one carrier (already filtered), or null without an offer. */
  peerCandidates(peerId: Uint8Array, carrier: 'wss'): PathCandidate[] | null;
  /** True for an address inside our mesh subnets (never dialed). */
  isMeshAddress(address: string): boolean;
  /** The listener's host and port: configured (`bound` false) or listening. */
  setWssListener(host: string, port: number, bound: boolean): void;
}

export interface DirectTransportDeps {
  /** The session's path-auth key with a peer, or null when there is no session. Not kept. */
  pathAuthKey(peerId: Uint8Array): Uint8Array | null;
  rendezvous: DirectRendezvous;
  /** Issues ephemeral certificates; default tls-ephemeral.ts (tests make it fail). */
  createCertificate?: (nowMs: number, lifetimeMs: number) => Promise<EphemeralCertificate>;
  clock?: Clock;
  logger?: Logger;
}

export interface DirectTransportOptions {
  /**
   * false: carry nothing over WSS (no listener, no dials, no WSS candidates in our offer); the transport
   * still issues and rotates the certificate whose pin our signed PATH_OFFER carries, so UDP paths
   * (udp-transport.ts) work alone. Default true.
   */
  wss?: boolean;
  /** Listener address; default '::' (dual stack, falling back to 0.0.0.0 without IPv6). */
  listenHost?: string;
  /** Listener port; default 0 = any free port (advertised as bound). */
  listenPort?: number;
  /** Ephemeral certificate lifetime; default 24 h. */
  certLifetimeMs?: number;
  /** Re-handshake timestamp window, ± ms; default 30 s. */
  rehandshakeSkewMs?: number;
  /** Per-connection budget for TCP + TLS + WebSocket + re-handshake. */
  connectTimeoutMs?: number;
  /** WebSocket backlog per path above which send() drops. */
  sendQueueBytes?: number;
  /** Accepted TLS connections awaiting their re-handshake, at most. */
  maxPendingAccepts?: number;
  /** TCP accept to finished TLS handshake, at most; then the socket is closed. */
  tlsHandshakeTimeoutMs?: number;
  /** Connections between TCP accept and finished TLS, at most (all sources). */
  maxHandshakes?: number;
  /** Connections between TCP accept and finished TLS from one source address (IPv6: one /64), at most. */
  maxHandshakesPerAddress?: number;
}

export const DIRECT_TRANSPORT_DEFAULTS = Object.freeze({
  wss: true,
  listenHost: '::',
  listenPort: 0,
  certLifetimeMs: EPHEMERAL_CERT_LIFETIME_MS,
  rehandshakeSkewMs: DEFAULT_PATH_AUTH_SKEW_MS,
  connectTimeoutMs: DEFAULT_DIRECT_CONNECT_TIMEOUT_MS,
  sendQueueBytes: DEFAULT_DIRECT_SEND_QUEUE_BYTES,
  maxPendingAccepts: DEFAULT_MAX_PENDING_ACCEPTS,
  tlsHandshakeTimeoutMs: DEFAULT_DIRECT_TLS_HANDSHAKE_TIMEOUT_MS,
  maxHandshakes: DEFAULT_DIRECT_MAX_HANDSHAKES,
  maxHandshakesPerAddress: DEFAULT_DIRECT_MAX_HANDSHAKES_PER_ADDRESS,
});

type ResolvedOptions = { -readonly [K in keyof typeof DIRECT_TRANSPORT_DEFAULTS]: (typeof DIRECT_TRANSPORT_DEFAULTS)[K] };

export interface DirectTransportStats {
  dials: number;
  accepts: number;
  established: number;
  /** Refusals by SM_ERR_* code: pins, re-handshakes. */
  refused: Record<string, number>;
  /** Connections that failed for operational reasons, by SM_ERR_* code. */
  failures: Record<string, number>;
}

/** One connection on its way to a DirectPath. */
interface Attempt {
  socket: TLSSocket;
  ws: WebSocket | null;
  timer: TimerHandle | null;
  finished: boolean;
  dialed: boolean;
  remote: string;
  peerId: Uint8Array | null;
  group: DialGroup | null;
}

/** Whom a dial is for: the peer and the pins it signed when the dial began. */
interface DialTarget {
  peerId: Uint8Array;
  pins: Uint8Array[];
}

interface DialGroup {
  peerId: Uint8Array;
  attempts: Set<Attempt>;
  won: boolean;
  codes: string[];
}

const OPTION_KEYS = Object.keys(DIRECT_TRANSPORT_DEFAULTS);
const EMPTY_CONTEXT = Buffer.alloc(0);

function optionError(name: string, value: unknown, expected: string): ConfigError {
  return new ConfigError(PathCode.OPTION, `direct transport option ${name}: expected ${expected}, got ${JSON.stringify(value) ?? String(value)}`);
}

function resolveOptions(options: DirectTransportOptions): Readonly<ResolvedOptions> {
  if (options === null || typeof options !== 'object') throw optionError('options', options, 'an object');
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.includes(key)) throw new ConfigError(PathCode.OPTION, `direct transport option ${key}: unknown option`);
  }
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const o = { ...DIRECT_TRANSPORT_DEFAULTS, ...defined } as ResolvedOptions;
  const int = (name: string, v: unknown, min: number, max: number): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw optionError(name, v, `an integer in [${min}, ${max}]`);
    return v;
  };
  if (typeof o.wss !== 'boolean') throw optionError('wss', o.wss, 'true or false');
  if (typeof o.listenHost !== 'string' || isIP(o.listenHost) === 0) throw optionError('listenHost', o.listenHost, 'an IPv4 or IPv6 address');
  int('listenPort', o.listenPort, 0, 0xffff);
  int('certLifetimeMs', o.certLifetimeMs, MIN_CERT_LIFETIME_MS, 366 * 24 * 3_600_000);
  int('rehandshakeSkewMs', o.rehandshakeSkewMs, 0, 3_600_000);
  int('connectTimeoutMs', o.connectTimeoutMs, 1, 3_600_000);
  int('sendQueueBytes', o.sendQueueBytes, MAX_FRAME_BYTES, Number.MAX_SAFE_INTEGER);
  int('maxPendingAccepts', o.maxPendingAccepts, 1, 100_000);
  int('tlsHandshakeTimeoutMs', o.tlsHandshakeTimeoutMs, 1, 3_600_000);
  int('maxHandshakes', o.maxHandshakes, 1, 1_000_000);
  int('maxHandshakesPerAddress', o.maxHandshakesPerAddress, 1, o.maxHandshakes);
  return Object.freeze({ ...o });
}

function checkPeerId(peerId: Uint8Array, what: string): void {
  if (!(peerId instanceof Uint8Array) || peerId.length !== PEER_ID_BYTES) {
    throw new ConfigError(PathCode.ARG, `${what}: expected a ${PEER_ID_BYTES}-byte peer id, got ${peerId instanceof Uint8Array ? peerId.length : typeof peerId}`);
  }
}

function toBytes(data: RawData): Uint8Array {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return new Uint8Array(data);
}

function shortId(peerId: Uint8Array | null): string {
  return peerId === null ? '(unknown)' : toHex(peerId.subarray(0, 4));
}

export class DirectTransport extends EventEmitter {
  #dialsPaused = false;
  readonly stats: DirectTransportStats = { dials: 0, accepts: 0, established: 0, refused: {}, failures: {} };
  readonly #deps: DirectTransportDeps;
  readonly #o: Readonly<ResolvedOptions>;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #replay = new ChallengeReplayCache();
  readonly #rendezvous: DirectRendezvous;
  #state: 'idle' | 'starting' | 'running' | 'stopped' = 'idle';
  #starting: Promise<void> | null = null;
  #stopping: Promise<void> | null = null;
  #server: HttpsServer | null = null;
  #wss: WebSocketServer | null = null;
  #port = 0;
  #boundHost = '';
  #cert: EphemeralCertificate | null = null;
  #rotationTimer: TimerHandle | null = null;
  /** Rotations that failed in a row (the retry backs off on it). */
  #rotationFailures = 0;
  readonly #createCertificate: (nowMs: number, lifetimeMs: number) => Promise<EphemeralCertificate>;
  readonly #groups = new Map<string, DialGroup>();
  /** Accepted TLS sockets past the pin check -> the peers their pin names. */
  readonly #accepted = new Map<Socket, { attempt: Attempt; peers: Uint8Array[] }>();
  readonly #sockets = new Set<Socket>();
  /** TCP connections per source between accept and finished TLS (maxHandshakes, maxHandshakesPerAddress). */
  #sources: SourceLimit | null = null;
  readonly #paths = new Set<DirectPath>();

  constructor(deps: DirectTransportDeps, options: DirectTransportOptions = {}) {
    super();
    if (deps === null || typeof deps !== 'object') throw optionError('deps', deps, 'an object');
    if (typeof deps.pathAuthKey !== 'function') throw optionError('deps.pathAuthKey', typeof deps.pathAuthKey, 'a function');
    if (typeof deps.rendezvous?.peerPins !== 'function') throw optionError('deps.rendezvous', typeof deps.rendezvous, 'a rendezvous');
    this.#deps = deps;
    this.#rendezvous = deps.rendezvous;
    this.#o = resolveOptions(options);
    this.#rendezvous.setWssListener(this.#o.listenHost, 0, false);
    this.#clock = deps.clock ?? systemClock;
    this.#log = deps.logger ?? silentLogger;
    this.#createCertificate = deps.createCertificate ?? createEphemeralCertificate;
  }

  /** The resolved options (frozen). */
  get options(): Readonly<ResolvedOptions> {
    return this.#o;
  }

  /** The listener's real port (0 before start). */
  get port(): number {
    return this.#port;
  }

  /** Our current certificate's pin (a copy), or null before start. */
  get fingerprint(): Uint8Array | null {
    return this.#cert === null ? null : Uint8Array.from(this.#cert.fingerprint);
  }

  /** The pin our PATH_OFFER carries while the listener runs (a copy), else null: no offer then. */
  currentPin(): Uint8Array | null {
    return this.#state === 'running' ? this.fingerprint : null;
  }

  /** Listen and issue the first certificate; idempotent. */
  start(): Promise<void> {
    if (this.#starting === null) this.#starting = this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    if (this.#state !== 'idle') return;
    this.#state = 'starting';
    const cert = await this.#createCertificate(this.#clock.now(), this.#o.certLifetimeMs);
    if (this.#state !== 'starting') return;
    this.#cert = cert;
    if (!this.#o.wss) {
      this.#state = 'running';
      this.#scheduleRotation();
      this.#log.debug('direct WSS off: certificate only, no listener');
      return;
    }
    const server = createHttpsServer(
      {
        key: cert.keyPem,
        cert: cert.certPem,
        minVersion: 'TLSv1.3',
        maxVersion: 'TLSv1.3',
        // Mutual TLS: ask for the client's certificate, judge it by the pin below, not by a CA.
        requestCert: true,
        rejectUnauthorized: false,
        // Node's default is 120 s: long enough for strangers to pile up sockets before any check.
        handshakeTimeout: this.#o.tlsHandshakeTimeoutMs,
      },
      (_req, res) => {
        res.writeHead(404).end();
      },
    );
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: MAX_FRAME_BYTES, clientTracking: false });
    this.#sources = new SourceLimit(this.#o.maxHandshakesPerAddress);
    server.on('connection', (socket: Socket) => this.#onTcpConnection(socket));
    server.on('secureConnection', (socket: TLSSocket) => this.#onSecureConnection(socket));
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.#onUpgrade(req, socket, head));
    server.on('tlsClientError', (err: Error, socket: Socket) => {
      this.#fail((err as { code?: unknown }).code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? DirectCode.TLS_TIMEOUT : DirectCode.TLS);
      socket.destroy();
    });
    this.#server = server;
    this.#wss = wss;
    await this.#listen(server);
    this.#state = 'running';
    this.#scheduleRotation();
    this.#log.debug('direct listener up', { host: this.#boundHost, port: this.#port });
  }

  async #listen(server: HttpsServer): Promise<void> {
    const attempt = (host: string): Promise<void> =>
      new Promise((resolve, reject) => {
        const onError = (err: Error): void => reject(err);
        server.once('error', onError);
        server.listen({ host, port: this.#o.listenPort, ipv6Only: false }, () => {
          server.removeListener('error', onError);
          resolve();
        });
      });
    try {
      await attempt(this.#o.listenHost);
      this.#boundHost = this.#o.listenHost;
    } catch (err) {
      // '::' on a host without IPv6: dual stack degrades to IPv4 only.
      const code = (err as { code?: string }).code;
      if (this.#o.listenHost !== '::' || (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL')) throw err;
      await attempt('0.0.0.0');
      this.#boundHost = '0.0.0.0';
    }
    const addr = server.address();
    this.#port = typeof addr === 'object' && addr !== null ? addr.port : 0;
    this.#rendezvous.setWssListener(this.#boundHost, this.#port, true);
    server.on('error', (err) => this.#log.error('direct listener error', { error: err.message }));
  }

  /** Close every path and connection and the listener; idempotent. */
  stop(): Promise<void> {
    if (this.#stopping === null) this.#stopping = this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    if (this.#starting !== null) await this.#starting.catch(() => undefined);
    this.#state = 'stopped';
    this.#rotationTimer?.cancel();
    this.#rotationTimer = null;
    for (const group of this.#groups.values()) for (const a of group.attempts) this.#abort(a);
    this.#groups.clear();
    for (const { attempt } of this.#accepted.values()) this.#abort(attempt);
    this.#accepted.clear();
    for (const path of [...this.#paths]) path.close('transport stopped');
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    this.#wss?.close();
    const server = this.#server;
    if (server !== null && server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  // ------------------------------------------------------------ dialing

  /**
   * Stop (true) or resume (false) dialing peers; the listener keeps
   * accepting. While an exit node is in use our dials, which leave from
   * ephemeral ports no bypass rule matches, would run through the exit
   * node's tunnel (docs/architecture.md "Exit nodes"); accepted connections
   * answer from the listener's port, which one does match.
   */
  pauseDials(paused: boolean): void {
    this.#dialsPaused = paused;
  }

  /** Dial every candidate of `peerId` at once; the result is a 'path' or a 'connect_failed' event. A dial already under way for that peer is left alone. */
  connect(peerId: Uint8Array): void {
    checkPeerId(peerId, 'connect peerId');
    if (this.#state !== 'running' || this.#cert === null) return;
    if (!this.#o.wss) {
      this.emit('connect_failed', Uint8Array.from(peerId), [DirectCode.NO_OFFER]);
      return;
    }
    if (this.#dialsPaused) {
      this.#refuse(peerId, DirectCode.DIALS_PAUSED);
      this.emit('connect_failed', Uint8Array.from(peerId), [DirectCode.DIALS_PAUSED]);
      return;
    }
    const key = toHex(peerId);
    if (this.#groups.has(key)) return;
    const offered = this.#rendezvous.peerCandidates(peerId, 'wss');
    const pins = this.#rendezvous.peerPins(peerId);
    if (offered === null || pins === null || offered.length === 0) {
      this.#refuse(peerId, DirectCode.NO_OFFER);
      this.emit('connect_failed', Uint8Array.from(peerId), [DirectCode.NO_OFFER]);
      return;
    }
    if (this.#deps.pathAuthKey(peerId) === null) {
      this.#refuse(peerId, DirectCode.NO_SESSION);
      this.emit('connect_failed', Uint8Array.from(peerId), [DirectCode.NO_SESSION]);
      return;
    }
    const candidates = offered.filter((c) => !this.#rendezvous.isMeshAddress(c.address));
    if (candidates.length === 0) {
      this.#refuse(peerId, DirectCode.NO_OFFER);
      this.emit('connect_failed', Uint8Array.from(peerId), [DirectCode.NO_OFFER]);
      return;
    }
    const peer: DialTarget = { peerId: Uint8Array.from(peerId), pins: [...pins] };
    const group: DialGroup = { peerId: peer.peerId, attempts: new Set(), won: false, codes: [] };
    this.#groups.set(key, group);
    for (const c of candidates) this.#dial(peer, c, group);
  }

  #dial(peer: DialTarget, cand: PathCandidate, group: DialGroup): void {
    const cert = this.#cert as EphemeralCertificate;
    this.stats.dials++;
    const socket = tlsConnect({
      host: cand.address,
      port: cand.port,
      key: cert.keyPem,
      cert: cert.certPem,
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
      ALPNProtocols: ['http/1.1'],
      // Any self-signed certificate passes TLS; the pin check below is the authentication.
      rejectUnauthorized: false,
    });
    const attempt: Attempt = { socket, ws: null, timer: null, finished: false, dialed: true, remote: formatHostPort(cand.address, cand.port), peerId: peer.peerId, group };
    group.attempts.add(attempt);
    this.#sockets.add(socket);
    attempt.timer = this.#clock.schedule(this.#o.connectTimeoutMs, () => this.#failAttempt(attempt, DirectCode.TIMEOUT));
    socket.on('error', () => this.#failAttempt(attempt, attempt.ws === null ? DirectCode.CONNECT : DirectCode.CLOSED));
    socket.on('close', () => {
      this.#sockets.delete(socket);
      this.#failAttempt(attempt, DirectCode.CLOSED);
    });
    socket.once('secureConnect', () => this.#onDialSecure(attempt, peer, cand));
  }

  #onDialSecure(attempt: Attempt, peer: DialTarget, cand: PathCandidate): void {
    if (attempt.finished) return;
    const socket = attempt.socket;
    const seen = fingerprintOfX509(socket.getPeerX509Certificate());
    // Pin check on the raw socket: nothing is written before it passes.
    if (seen === null || !peer.pins.some((p) => equalBytes(p, seen))) {
      this.#refuseAttempt(attempt, DirectCode.PIN);
      return;
    }
    const key = this.#deps.pathAuthKey(peer.peerId);
    if (key === null) {
      this.#refuseAttempt(attempt, DirectCode.NO_SESSION);
      return;
    }
    let machine: PathAuthInitiator;
    try {
      const exporter = new Uint8Array(socket.exportKeyingMaterial(PATH_AUTH_EXPORTER_BYTES, PATH_AUTH_EXPORTER_LABEL, EMPTY_CONTEXT));
      machine = new PathAuthInitiator({ pathAuthKey: key, exporter, skewMs: this.#o.rehandshakeSkewMs, replay: this.#replay });
    } catch {
      this.#failAttempt(attempt, DirectCode.TLS);
      return;
    }
    const host = isIP(cand.address) === 6 ? `[${cand.address}]` : cand.address;
    const ws = new WebSocket(`wss://${host}:${cand.port}${DIRECT_WS_PATH}`, {
      createConnection: () => socket,
      perMessageDeflate: false,
      maxPayload: MAX_FRAME_BYTES,
    });
    attempt.ws = ws;
    ws.on('error', () => this.#failAttempt(attempt, DirectCode.CLOSED));
    ws.on('close', () => this.#failAttempt(attempt, DirectCode.CLOSED));
    ws.once('open', () => {
      if (attempt.finished) return;
      ws.send(machine.request(this.#clock.now(), randomBytes), { binary: true });
    });
    ws.once('message', (data: RawData) => {
      if (attempt.finished) return;
      let complete: Uint8Array;
      try {
        complete = machine.onResponse(toBytes(data), this.#clock.now());
      } catch (err) {
        machine.destroy();
        this.#refuseAttempt(attempt, String((err as { code?: unknown }).code ?? PathAuthCode.PROTOCOL));
        return;
      }
      ws.send(complete, { binary: true });
      this.#establish(attempt, ws);
    });
  }

  // ------------------------------------------------------------ accepting

  /**
   * Every TCP connection, before TLS: cut at once past maxHandshakes, or
   * past maxHandshakesPerAddress from its source, so strangers cannot hold
   * descriptors enough to keep peers out (counted in stats.refused without a
   * 'refused' event: no peer is known yet). The rest must finish TLS within
   * tlsHandshakeTimeoutMs ('tlsClientError' closes them).
   */
  #onTcpConnection(socket: Socket): void {
    const sources = this.#sources;
    if (sources === null) return;
    const key = sourceKey(socket.remoteAddress);
    let refusal: string | null = null;
    if (sources.pendingTotal >= this.#o.maxHandshakes) refusal = DirectCode.HANDSHAKES_FULL;
    else if (!sources.tryOpen(key)) refusal = DirectCode.SOURCE_BUSY;
    if (refusal !== null) {
      this.stats.refused[refusal] = (this.stats.refused[refusal] ?? 0) + 1;
      socket.destroy();
      return;
    }
    socket.once('close', () => sources.closed(key));
  }

  #onSecureConnection(socket: TLSSocket): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    // TLS finished: this connection no longer counts against the handshake limits.
    const sources = this.#sources;
    if (sources !== null) {
      const key = sourceKey(socket.remoteAddress);
      sources.passed(key);
      socket.once('close', () => sources.passedClosed(key));
    }
    socket.on('error', () => socket.destroy());
    if (this.#state !== 'running') {
      socket.destroy();
      return;
    }
    const fp = fingerprintOfX509(socket.getPeerX509Certificate());
    if (fp === null) {
      this.#refuse(null, DirectCode.NO_CLIENT_CERT);
      socket.destroy();
      return;
    }
    const peers = this.#rendezvous.pinOwners(fp);
    if (peers.length === 0) {
      this.#refuse(null, DirectCode.PIN_UNKNOWN);
      socket.destroy();
      return;
    }
    if (this.#accepted.size >= this.#o.maxPendingAccepts) {
      this.#refuse(null, DirectCode.BUSY);
      socket.destroy();
      return;
    }
    this.stats.accepts++;
    const remote = formatHostPort(socket.remoteAddress ?? '?', socket.remotePort ?? 0);
    const attempt: Attempt = { socket, ws: null, timer: null, finished: false, dialed: false, remote, peerId: null, group: null };
    this.#accepted.set(socket, { attempt, peers });
    attempt.timer = this.#clock.schedule(this.#o.connectTimeoutMs, () => this.#failAttempt(attempt, DirectCode.TIMEOUT));
    socket.once('close', () => this.#failAttempt(attempt, DirectCode.CLOSED));
  }

  #onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const entry = this.#accepted.get(socket);
    const path = (req.url ?? '').split('?')[0];
    if (entry === undefined || entry.attempt.finished || path !== DIRECT_WS_PATH || this.#wss === null) {
      socket.destroy();
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#onAcceptedWs(entry.attempt, entry.peers, ws));
  }

  #onAcceptedWs(attempt: Attempt, peers: Uint8Array[], ws: WebSocket): void {
    if (attempt.finished) {
      ws.terminate();
      return;
    }
    attempt.ws = ws;
    ws.on('error', () => this.#failAttempt(attempt, DirectCode.CLOSED));
    ws.on('close', () => this.#failAttempt(attempt, DirectCode.CLOSED));
    ws.once('message', (data: RawData) => {
      if (attempt.finished) return;
      const request = toBytes(data);
      const sid = requestSessionId(request);
      if (sid === null) return this.#refuseAttempt(attempt, PathAuthCode.PROTOCOL);
      // The pin named the candidates; the session id picks the one whose session this is.
      // A peer whose offer was forgotten since the TLS handshake is no candidate any more.
      const stillOffered = peers.filter((p) => this.#rendezvous.peerPins(p) !== null);
      let chosen: Uint8Array | null = null;
      let key: Uint8Array | null = null;
      for (const p of stillOffered) {
        const pk = this.#deps.pathAuthKey(p);
        if (pk !== null && equalBytes(pathSessionId(pk), sid)) {
          chosen = p;
          key = pk;
          break;
        }
      }
      if (chosen === null || key === null) {
        attempt.peerId = peers.length === 1 ? (stillOffered[0] ?? null) : null;
        return this.#refuseAttempt(attempt, PathAuthCode.SESSION);
      }
      attempt.peerId = chosen;
      let machine: PathAuthResponder;
      let response: Uint8Array;
      try {
        const exporter = new Uint8Array(attempt.socket.exportKeyingMaterial(PATH_AUTH_EXPORTER_BYTES, PATH_AUTH_EXPORTER_LABEL, EMPTY_CONTEXT));
        machine = new PathAuthResponder({ pathAuthKey: key, exporter, skewMs: this.#o.rehandshakeSkewMs, replay: this.#replay });
        response = machine.onRequest(request, this.#clock.now(), randomBytes);
      } catch (err) {
        return this.#refuseAttempt(attempt, String((err as { code?: unknown }).code ?? PathAuthCode.PROTOCOL));
      }
      ws.send(response, { binary: true });
      ws.once('message', (done: RawData) => {
        if (attempt.finished) return;
        try {
          machine.onComplete(toBytes(done));
        } catch (err) {
          machine.destroy();
          return this.#refuseAttempt(attempt, String((err as { code?: unknown }).code ?? PathAuthCode.PROTOCOL));
        }
        this.#establish(attempt, ws);
      });
    });
  }

  // ------------------------------------------------------------ outcomes

  #establish(attempt: Attempt, ws: WebSocket): void {
    attempt.finished = true;
    attempt.timer?.cancel();
    if (!attempt.dialed) this.#accepted.delete(attempt.socket);
    const group = attempt.group;
    if (group !== null) {
      group.attempts.delete(attempt);
      if (group.won || this.#state !== 'running') {
        ws.close(1000, 'superseded');
        return;
      }
      group.won = true;
      for (const other of group.attempts) this.#abort(other);
      group.attempts.clear();
      this.#groups.delete(toHex(group.peerId));
    }
    ws.removeAllListeners('error');
    ws.removeAllListeners('close');
    ws.removeAllListeners('message');
    const peerId = attempt.peerId as Uint8Array;
    const path = new DirectPath({
      ws,
      peerId,
      remote: attempt.remote,
      dialed: attempt.dialed,
      maxBufferedBytes: this.#o.sendQueueBytes,
      clock: this.#clock,
      onClosed: (p) => this.#paths.delete(p),
    });
    this.#paths.add(path);
    this.stats.established++;
    this.#log.debug(`${shortId(peerId)} direct path up`, { remote: attempt.remote, dialed: attempt.dialed });
    this.emit('path', Uint8Array.from(peerId), path);
  }

  /** Tear an attempt down without counting anything (superseded, stopping). */
  #abort(attempt: Attempt): void {
    if (attempt.finished) return;
    attempt.finished = true;
    attempt.timer?.cancel();
    attempt.ws?.terminate();
    attempt.socket.destroy();
  }

  #failAttempt(attempt: Attempt, code: string): void {
    if (attempt.finished) return;
    this.#fail(code);
    this.#endAttempt(attempt, code);
  }

  #refuseAttempt(attempt: Attempt, code: string): void {
    if (attempt.finished) return;
    this.#refuse(attempt.peerId, code);
    this.#endAttempt(attempt, code);
  }

  #endAttempt(attempt: Attempt, code: string): void {
    this.#abort(attempt);
    if (!attempt.dialed) this.#accepted.delete(attempt.socket);
    const group = attempt.group;
    if (group === null) return;
    group.attempts.delete(attempt);
    group.codes.push(code);
    if (group.attempts.size === 0 && !group.won) {
      this.#groups.delete(toHex(group.peerId));
      if (this.#state === 'running') this.emit('connect_failed', Uint8Array.from(group.peerId), [...group.codes]);
    }
  }

  #fail(code: string): void {
    this.stats.failures[code] = (this.stats.failures[code] ?? 0) + 1;
  }

  #refuse(peerId: Uint8Array | null, code: string): false {
    this.stats.refused[code] = (this.stats.refused[code] ?? 0) + 1;
    this.#log.debug(`${shortId(peerId)} direct path refused`, { code });
    this.emit('refused', peerId === null ? null : Uint8Array.from(peerId), code);
    return false;
  }

  // ------------------------------------------------------------ rotation

  #scheduleRotation(): void {
    const cert = this.#cert;
    if (cert === null || this.#state !== 'running') return;
    this.#armRotation(rotationDelayMs(cert.notAfterMs, this.#o.certLifetimeMs, this.#clock.now()));
  }

  #armRotation(delayMs: number): void {
    this.#rotationTimer?.cancel();
    this.#rotationTimer = this.#clock.schedule(delayMs, () => {
      this.#rotationTimer = null;
      void this.#rotate().catch((err: unknown) => this.#rotationFailed(err));
    });
  }

  /** Keep serving the current certificate and try again, backing off, for as long as rotations fail. */
  #rotationFailed(err: unknown): void {
    this.#rotationFailures++;
    this.#log.error('direct certificate rotation failed', { error: (err as Error)?.message ?? String(err), failures: this.#rotationFailures });
    if (this.#state === 'running') this.#armRotation(rotationRetryDelayMs(this.#rotationFailures));
  }

  /** Issue a new certificate now: new connections use it, open ones keep theirs; emits 'pin_changed'. Rejects when it fails (a retry is then scheduled). */
  async rotate(): Promise<void> {
    this.#rotationTimer?.cancel();
    this.#rotationTimer = null;
    try {
      await this.#rotate();
    } catch (err) {
      this.#rotationFailed(err);
      throw err;
    }
  }

  async #rotate(): Promise<void> {
    if (this.#state !== 'running') return;
    const next = await this.#createCertificate(this.#clock.now(), this.#o.certLifetimeMs);
    if (this.#state !== 'running' || (this.#o.wss && this.#server === null)) return;
    this.#server?.setSecureContext({ key: next.keyPem, cert: next.certPem, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' });
    this.#cert = next;
    this.#rotationFailures = 0;
    this.#log.debug('direct certificate rotated', { notAfterMs: next.notAfterMs });
    this.#scheduleRotation();
    this.emit('pin_changed');
  }
}
