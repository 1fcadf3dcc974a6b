/**
 * DirectTransport: the direct WSS transport of a node (docs/architecture.md
 * "Carriers"; docs/protocol.md §3; issue 4 §1-3). It owns
 *
 *  - a TLS 1.3-only, mutual-TLS WebSocket listener at `/ws` on all
 *    addresses (IPv4 and IPv6) and a configurable port;
 *  - an ephemeral ECDSA P-256 certificate (tls-ephemeral.ts), rotated a
 *    quarter of its lifetime before expiry: new connections use the new one,
 *    open connections keep theirs, and 'offer_changed' tells the owner to
 *    re-send localOffer() to every peer;
 *  - our PATH_OFFER (path-offer.ts) and the offers peers sent us: their pins
 *    (SHA-256 of the certificate's SPKI DER) and candidates;
 *  - dialing: all of a peer's candidates at once, the first to finish the
 *    re-handshake wins, the others are closed.
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
 *       ends keep the same one (e.g. the one dialed by the lower peer id).
 *   'offer_changed' ()  our certificate rotated or our candidates changed.
 *   'refused' (peerId: Uint8Array | null, code: string)  an offer, a pin or a
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
 * Timer policy owned here: the per-connection timeout (TCP + TLS +
 * WebSocket + re-handshake), the TLS handshake timeout (handed to the TLS
 * server) and the certificate rotation.
 */
import { parseCidr, type Cidr } from '../../identity/cidr.js';
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
  PathAuthCode,
  PathAuthInitiator,
  PathAuthResponder,
  pathSessionId,
  requestSessionId,
} from '../../handshake/path-auth.js';
import { systemClock, type Clock, type TimerHandle } from '../../util/clock.js';
import { silentLogger, type Logger } from '../../util/logger.js';
import { MAX_FRAME_BYTES, MAX_PATH_CANDIDATES, PEER_ID_BYTES } from '../../wire/constants.js';
import { canonicalIpText, formatHostPort, parseIpAddress } from '../../wire/ip-address.js';
import { DirectPath } from './direct-path.js';
import { listenAddresses } from './listen-addresses.js';
import { SourceLimit, sourceKey } from '../../util/source-limit.js';
import { candidateRefusal, filterCandidates, interfaceBroadcasts, isLoopbackAddress, newRefusalCounts, type CandidatePolicy, type CandidateRefusal } from './candidate-filter.js';
import { PathCode } from './path-errors.js';
import { decodePathOffer, signPathOffer, verifyPathOffer, type PathCandidate } from './path-offer.js';
import { createEphemeralCertificate, EPHEMERAL_CERT_LIFETIME_MS, fingerprintOfX509, type EphemeralCertificate } from './tls-ephemeral.js';

/** WebSocket path of the listener (issue 4 §1). */
export const DIRECT_WS_PATH = '/ws';
/** TCP + TLS + WebSocket + re-handshake within this: a healthy path takes a few RTTs;
 *  10 s also covers a lossy link, and a dead candidate is given up in bounded time. */
export const DEFAULT_DIRECT_CONNECT_TIMEOUT_MS = 10_000;
/** Rotate when this fraction of the certificate lifetime is left (6 h of 24 h, as the relay):
 *  room for a missed timer or a sleeping host before the certificate expires. */
export const ROTATE_BEFORE_EXPIRY_FRACTION = 0.25;
/** Shortest lifetime accepted: below a second a certificate could rotate before a handshake ends. */
export const MIN_CERT_LIFETIME_MS = 1_000;
/** WebSocket backlog per path before send() drops: about 64 full 64 KiB segments, as the relay link. */
export const DEFAULT_DIRECT_SEND_QUEUE_BYTES = 4 * 1024 * 1024;
/** TLS connections past the pin check but not yet re-handshaken; only members get this far,
 *  the bound stops one member from holding unbounded sockets open. */
export const DEFAULT_MAX_PENDING_ACCEPTS = 64;
/** TCP accept to finished TLS handshake, at most (Node's default is 120 s, long enough for a
 *  stranger to hold thousands of sockets and exhaust file descriptors): a TLS 1.3 handshake is
 *  one round trip plus certificates, so 5 s covers a slow satellite link several times over. */
export const DEFAULT_DIRECT_TLS_HANDSHAKE_TIMEOUT_MS = 5_000;
/** Connections between TCP accept and finished TLS, from anyone: anyone can open them, and each
 *  holds a descriptor and TLS state until the timeout; peers need a handful each. */
export const DEFAULT_DIRECT_MAX_HANDSHAKES = 256;
/** The same, from one source (an IPv4 address or an IPv6 /64; ../../util/source-limit.ts): a peer
 *  dials each of our candidates at most once per attempt, and a few members may share a NAT, so
 *  16 is plenty for honest use while one host cannot take the global bound for itself. */
export const DEFAULT_DIRECT_MAX_HANDSHAKES_PER_ADDRESS = 16;

export interface DirectTransportDeps {
  /** Our HybridSigner (signs PATH_OFFERs). */
  signer: { sign(context: string, message: Uint8Array): Uint8Array };
  localPeerId: Uint8Array;
  /** The session's path-auth key with a peer, or null when there is no session. Not kept. */
  pathAuthKey(peerId: Uint8Array): Uint8Array | null;
  /** The peer's hybrid identity public key (from its verified member certificate), or null if unknown. */
  peerPublicKey(peerId: Uint8Array): Uint8Array | null;
  clock?: Clock;
  logger?: Logger;
}

export interface DirectTransportOptions {
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
  /** Extra candidate IPs advertised with our listener port, e.g. the address the relay observed. */
  advertise?: string[];
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
  listenHost: '::',
  listenPort: 0,
  certLifetimeMs: EPHEMERAL_CERT_LIFETIME_MS,
  rehandshakeSkewMs: DEFAULT_PATH_AUTH_SKEW_MS,
  connectTimeoutMs: DEFAULT_DIRECT_CONNECT_TIMEOUT_MS,
  advertise: Object.freeze([]) as readonly string[],
  sendQueueBytes: DEFAULT_DIRECT_SEND_QUEUE_BYTES,
  maxPendingAccepts: DEFAULT_MAX_PENDING_ACCEPTS,
  tlsHandshakeTimeoutMs: DEFAULT_DIRECT_TLS_HANDSHAKE_TIMEOUT_MS,
  maxHandshakes: DEFAULT_DIRECT_MAX_HANDSHAKES,
  maxHandshakesPerAddress: DEFAULT_DIRECT_MAX_HANDSHAKES_PER_ADDRESS,
});

type ResolvedOptions = { -readonly [K in keyof typeof DIRECT_TRANSPORT_DEFAULTS]: (typeof DIRECT_TRANSPORT_DEFAULTS)[K] };

/** SM_ERR_* codes of the transport (re-handshake refusals use PathAuthCode). Stable; never reused. */
export const DirectCode = {
  /** Dialer: the server's certificate is not the one the peer signed (a man in the middle). */
  PIN: 'SM_ERR_PATH_PIN',
  /** Listener: the client's certificate is no known peer's signed pin. */
  PIN_UNKNOWN: 'SM_ERR_PATH_PIN_UNKNOWN',
  /** Listener: the client presented no certificate. */
  NO_CLIENT_CERT: 'SM_ERR_PATH_NO_CLIENT_CERT',
  /** connect() to a peer that sent no offer. */
  NO_OFFER: 'SM_ERR_PATH_NO_OFFER',
  /** No end-to-end session with the peer (no path-auth key). */
  NO_SESSION: 'SM_ERR_PATH_NO_SESSION',
  /** Too many accepted connections awaiting their re-handshake. */
  BUSY: 'SM_ERR_PATH_BUSY',
  /** A TCP connection cut at accept: its source address already holds maxHandshakesPerAddress unfinished TLS handshakes. */
  SOURCE_BUSY: 'SM_ERR_PATH_SOURCE_BUSY',
  /** A TCP connection cut at accept: maxHandshakes unfinished TLS handshakes are open. */
  HANDSHAKES_FULL: 'SM_ERR_PATH_HANDSHAKES_FULL',
  OFFER_MALFORMED: 'SM_ERR_PATH_OFFER_MALFORMED',
  /** The offer names another peer than the session it came from. */
  OFFER_PEER: 'SM_ERR_PATH_OFFER_PEER',
  /** No identity key for the sender. */
  OFFER_UNKNOWN_PEER: 'SM_ERR_PATH_OFFER_UNKNOWN_PEER',
  OFFER_SIGNATURE: 'SM_ERR_PATH_OFFER_SIGNATURE',
  /** Not newer than the last accepted offer from that peer. */
  OFFER_STALE: 'SM_ERR_PATH_OFFER_STALE',
  /** Operational failures (counted in stats.failures, not refusals). */
  CONNECT: 'SM_ERR_PATH_CONNECT',
  TLS: 'SM_ERR_PATH_TLS',
  /** Listener: a TLS handshake did not finish within tlsHandshakeTimeoutMs; the socket was closed. */
  TLS_TIMEOUT: 'SM_ERR_PATH_TLS_TIMEOUT',
  TIMEOUT: 'SM_ERR_PATH_TIMEOUT',
  CLOSED: 'SM_ERR_PATH_CLOSED',
} as const;

export interface DirectTransportStats {
  dials: number;
  accepts: number;
  established: number;
  /** Refusals by SM_ERR_* code: offers, pins, re-handshakes. */
  refused: Record<string, number>;
  /** Connections that failed for operational reasons, by SM_ERR_* code. */
  failures: Record<string, number>;
  /** Candidates never dialed (candidate-filter.ts): of peers' offers, and relay-observed addresses we would have advertised; by reason. */
  candidatesRefused: Record<CandidateRefusal | 'over_cap', number>;
}

/** What we know of a peer from its latest accepted offer. */
interface PeerOffer {
  peerId: Uint8Array;
  timestampMs: number;
  bytes: Uint8Array;
  /** Current pin first, then the previous one: a connection the peer began before rotating still passes. */
  pins: Uint8Array[];
  candidates: PathCandidate[];
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
  if (!Array.isArray(o.advertise) || o.advertise.some((a) => typeof a !== 'string' || isIP(a) === 0)) {
    throw optionError('advertise', o.advertise, 'an array of IP addresses');
  }
  return Object.freeze({ ...o, advertise: Object.freeze([...o.advertise]) });
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

/** True when the first `prefix` bits of `a` and `b` are equal (same length arrays). */
function prefixMatch(a: Uint8Array, b: Uint8Array, prefix: number): boolean {
  const full = prefix >> 3;
  for (let i = 0; i < full; i++) if (a[i] !== b[i]) return false;
  const rest = prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((a[full]! ^ b[full]!) & mask) === 0;
}

export class DirectTransport extends EventEmitter {
  /** Our mesh subnets (the device's CIDRs): never advertised, never dialed — a direct path must not run through the tunnel it carries. */
  #meshPrefixes: Cidr[] = [];
  readonly stats: DirectTransportStats = { dials: 0, accepts: 0, established: 0, refused: {}, failures: {}, candidatesRefused: newRefusalCounts() };
  readonly #deps: DirectTransportDeps;
  readonly #o: Readonly<ResolvedOptions>;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #replay = new ChallengeReplayCache();
  readonly #localPeerId: Uint8Array;
  #advertise: readonly string[];
  #state: 'idle' | 'starting' | 'running' | 'stopped' = 'idle';
  #starting: Promise<void> | null = null;
  #stopping: Promise<void> | null = null;
  #server: HttpsServer | null = null;
  #wss: WebSocketServer | null = null;
  #port = 0;
  #boundHost = '';
  #cert: EphemeralCertificate | null = null;
  #rotationTimer: TimerHandle | null = null;
  #offer: Uint8Array | null = null;
  #lastOfferMs = 0;
  /** hex(peerId) -> latest accepted offer. */
  readonly #peers = new Map<string, PeerOffer>();
  /** hex(pin) -> hex(peerId)s that signed it. */
  readonly #pinIndex = new Map<string, Set<string>>();
  readonly #groups = new Map<string, DialGroup>();
  /** Accepted TLS sockets past the pin check -> the peers their pin names. */
  readonly #accepted = new Map<Socket, { attempt: Attempt; peers: Set<string> }>();
  readonly #sockets = new Set<Socket>();
  /** TCP connections per source between accept and finished TLS (maxHandshakes, maxHandshakesPerAddress). */
  #sources: SourceLimit | null = null;
  readonly #paths = new Set<DirectPath>();
  /** UDP candidates our offer also carries (the UDP transport's host and reflexive addresses). */
  #udpCandidates: readonly PathCandidate[] = [];

  constructor(deps: DirectTransportDeps, options: DirectTransportOptions = {}) {
    super();
    if (deps === null || typeof deps !== 'object') throw optionError('deps', deps, 'an object');
    if (typeof deps.signer?.sign !== 'function') throw optionError('deps.signer', typeof deps.signer, 'a signer with sign(context, message)');
    if (typeof deps.pathAuthKey !== 'function') throw optionError('deps.pathAuthKey', typeof deps.pathAuthKey, 'a function');
    if (typeof deps.peerPublicKey !== 'function') throw optionError('deps.peerPublicKey', typeof deps.peerPublicKey, 'a function');
    checkPeerId(deps.localPeerId, 'deps.localPeerId');
    this.#deps = deps;
    this.#localPeerId = Uint8Array.from(deps.localPeerId);
    this.#o = resolveOptions(options);
    this.#advertise = this.#o.advertise;
    this.#clock = deps.clock ?? systemClock;
    this.#log = deps.logger ?? silentLogger;
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

  /** Listen and issue the first certificate; idempotent. */
  start(): Promise<void> {
    if (this.#starting === null) this.#starting = this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    if (this.#state !== 'idle') return;
    this.#state = 'starting';
    const cert = await createEphemeralCertificate(this.#clock.now(), this.#o.certLifetimeMs);
    if (this.#state !== 'starting') return;
    this.#cert = cert;
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

  // ------------------------------------------------------------ offers

  /**
   * Our current PATH_OFFER, signed: the body that follows the inner-type
   * byte PATH_OFFER (0x06) in a session message. Cached until the
   * certificate or the candidates change; each new one has a later timestamp.
   */
  localOffer(): Uint8Array {
    if (this.#cert === null || this.#state !== 'running') {
      throw new ConfigError(PathCode.ARG, 'DirectTransport.localOffer: the transport is not running (call start() first)');
    }
    if (this.#offer === null) {
      const timestampMs = Math.max(this.#clock.now(), this.#lastOfferMs + 1);
      this.#offer = signPathOffer(this.#deps.signer, {
        peerId: this.#localPeerId,
        timestampMs,
        fingerprint: this.#cert.fingerprint,
        candidates: this.localCandidates(),
      });
      this.#lastOfferMs = timestampMs;
    }
    return this.#offer;
  }

  /**
   * Declare our mesh subnets (the device's CIDRs from our certificate).
   * Addresses inside them are neither advertised nor dialed: a "direct" path
   * through the tunnel would carry the tunnel inside itself.
   */
  setMeshPrefixes(cidrs: readonly string[]): void {
    this.#meshPrefixes = cidrs.map((c) => parseCidr(c));
    this.#offer = null;
    if (this.#state === 'running') this.emit('offer_changed');
  }

  /** True for an address inside our mesh subnets (never advertised, never dialed). */
  isMeshAddress(address: string): boolean {
    return this.#inMesh(address);
  }

  #inMesh(address: string): boolean {
    if (this.#meshPrefixes.length === 0) return false;
    let bytes: Uint8Array;
    try {
      bytes = parseIpAddress(address).bytes;
    } catch {
      return false;
    }
    return this.#meshPrefixes.some((c) => c.address.length === bytes.length && prefixMatch(c.address, bytes, c.prefix));
  }

  /** The candidates our offer carries: listener addresses and `advertise`, all with the real port. */
  localCandidates(): PathCandidate[] {
    const hosts = listenAddresses(this.#boundHost, this.#boundHost === '::');
    const seen = new Set<string>();
    const out: PathCandidate[] = [];
    // UDP first (they cross NATs), then advertised (reflexive) WSS addresses, then the interfaces.
    for (const c of this.#udpCandidates) {
      if (out.length >= MAX_PATH_CANDIDATES || this.#inMesh(c.address)) continue;
      out.push({ ...c });
    }
    const policy = this.#candidatePolicy();
    for (const h of [...this.#advertise, ...hosts]) {
      const a = canonicalIpText(h) ?? h;
      if (seen.has(a) || out.length >= MAX_PATH_CANDIDATES || this.#inMesh(a)) continue;
      // An advertised address may be the relay's word (ESTABLISHED): peers would dial it.
      if (this.#advertise.includes(h) && candidateRefusal(a, this.#port, policy) !== null) continue;
      seen.add(a);
      out.push({ address: a, port: this.#port, transport: 'wss', reflexive: this.#advertise.includes(a) });
    }
    return out;
  }

  /** Replace the UDP candidates our offer carries (udp-transport.ts 'candidates'); emits 'offer_changed' when they differ. */
  setUdpCandidates(candidates: readonly PathCandidate[]): void {
    const next = Object.freeze(candidates.map((c) => ({ address: canonicalIpText(c.address) ?? c.address, port: c.port, transport: 'udp' as const, reflexive: c.reflexive === true })));
    const same = next.length === this.#udpCandidates.length &&
      next.every((c, i) => { const o = this.#udpCandidates[i]!; return o.address === c.address && o.port === c.port && o.reflexive === c.reflexive; });
    if (same) return;
    this.#udpCandidates = next;
    this.#offer = null;
    if (this.#state === 'running') this.emit('offer_changed');
  }

  /** Replace the extra advertised addresses (e.g. a new relay-observed address); emits 'offer_changed' when they differ. */
  setAdvertise(addresses: readonly string[]): void {
    if (!Array.isArray(addresses) || addresses.some((a) => typeof a !== 'string' || isIP(a) === 0)) {
      throw optionError('advertise', addresses, 'an array of IP addresses');
    }
    const next = Object.freeze(addresses.map((a) => canonicalIpText(a) ?? a));
    if (next.length === this.#advertise.length && next.every((a, i) => a === this.#advertise[i])) return;
    // Kept (a later bind may change the loopback rule) but never put in an offer while refused (localCandidates).
    const policy = this.#candidatePolicy();
    for (const a of next) {
      const why = candidateRefusal(a, this.#port === 0 ? 1 : this.#port, policy);
      if (why !== null) this.stats.candidatesRefused[why]++;
    }
    this.#advertise = next;
    this.#offer = null;
    if (this.#state === 'running') this.emit('offer_changed');
  }

  /**
   * A PATH_OFFER received inside the session from `peerId`. Verified with
   * peerPublicKey(peerId) and refused unless newer than the last accepted
   * one (the same offer again is a harmless duplicate: true). False, counted
   * and 'refused', otherwise.
   */
  acceptOffer(peerId: Uint8Array, offer: Uint8Array): boolean {
    checkPeerId(peerId, 'acceptOffer peerId');
    let o;
    try {
      o = decodePathOffer(offer);
    } catch {
      return this.#refuse(peerId, DirectCode.OFFER_MALFORMED);
    }
    if (!equalBytes(o.peerId, peerId)) return this.#refuse(peerId, DirectCode.OFFER_PEER);
    const key = toHex(peerId);
    const known = this.#peers.get(key);
    if (known !== undefined && o.timestampMs <= known.timestampMs) {
      if (o.timestampMs === known.timestampMs && equalBytes(known.bytes, offer)) return true;
      return this.#refuse(peerId, DirectCode.OFFER_STALE);
    }
    const publicKey = this.#deps.peerPublicKey(peerId);
    if (publicKey === null) return this.#refuse(peerId, DirectCode.OFFER_UNKNOWN_PEER);
    if (!verifyPathOffer(publicKey, o)) return this.#refuse(peerId, DirectCode.OFFER_SIGNATURE);
    const fingerprint = Uint8Array.from(o.fingerprint);
    const pins: Uint8Array[] = [fingerprint];
    const previous = known?.pins[0];
    if (previous !== undefined && !equalBytes(previous, fingerprint)) pins.push(previous);
    this.#unindex(key, known);
    // docs/protocol.md §3.5.6: no unspecified, multicast, broadcast or (unless we are on loopback) loopback
    // address is ever dialed or probed, and at most MAX_CANDIDATES_PER_OFFER of an offer are taken.
    const candidates = filterCandidates(o.candidates, this.#candidatePolicy(), this.stats.candidatesRefused).map((c) => ({ ...c }));
    const entry: PeerOffer = { peerId: Uint8Array.from(peerId), timestampMs: o.timestampMs, bytes: Uint8Array.from(offer), pins, candidates };
    this.#peers.set(key, entry);
    for (const pin of pins) {
      const k = toHex(pin);
      let set = this.#pinIndex.get(k);
      if (set === undefined) this.#pinIndex.set(k, (set = new Set()));
      set.add(key);
    }
    this.#log.debug(`${shortId(peerId)} path offer accepted`, { candidates: o.candidates.length });
    return true;
  }

  /** What we may dial (candidate-filter.ts): loopback only while our listener is on loopback. */
  #candidatePolicy(): CandidatePolicy {
    return { loopbackAllowed: isLoopbackAddress(this.#boundHost === '' ? this.#o.listenHost : this.#boundHost), broadcasts: interfaceBroadcasts() };
  }

  /** Forget a peer's offer and pins (it left the network or its session ended); open paths stay. */
  forgetPeer(peerId: Uint8Array): void {
    checkPeerId(peerId, 'forgetPeer peerId');
    const key = toHex(peerId);
    this.#unindex(key, this.#peers.get(key));
    this.#peers.delete(key);
  }

  /** The candidates of `peerId`'s latest accepted offer (copies), or null; `transport` filters. */
  peerCandidates(peerId: Uint8Array, transport?: 'wss' | 'udp'): PathCandidate[] | null {
    const p = this.#peers.get(toHex(peerId));
    if (p === undefined) return null;
    return p.candidates.filter((c) => transport === undefined || (c.transport ?? 'wss') === transport).map((c) => ({ ...c }));
  }

  #unindex(key: string, known: PeerOffer | undefined): void {
    if (known === undefined) return;
    for (const pin of known.pins) {
      const k = toHex(pin);
      const set = this.#pinIndex.get(k);
      set?.delete(key);
      if (set?.size === 0) this.#pinIndex.delete(k);
    }
  }

  // ------------------------------------------------------------ dialing

  /** Dial every candidate of `peerId` at once; the result is a 'path' or a 'connect_failed' event. A dial already under way for that peer is left alone. */
  connect(peerId: Uint8Array): void {
    checkPeerId(peerId, 'connect peerId');
    if (this.#state !== 'running' || this.#cert === null) return;
    const key = toHex(peerId);
    if (this.#groups.has(key)) return;
    const peer = this.#peers.get(key);
    if (peer === undefined || !peer.candidates.some((c) => (c.transport ?? 'wss') === 'wss')) {
      this.#refuse(peerId, DirectCode.NO_OFFER);
      this.emit('connect_failed', Uint8Array.from(peerId), [DirectCode.NO_OFFER]);
      return;
    }
    if (this.#deps.pathAuthKey(peerId) === null) {
      this.#refuse(peerId, DirectCode.NO_SESSION);
      this.emit('connect_failed', Uint8Array.from(peerId), [DirectCode.NO_SESSION]);
      return;
    }
    const candidates = peer.candidates.filter((c) => (c.transport ?? 'wss') === 'wss' && !this.#inMesh(c.address));
    if (candidates.length === 0) {
      this.#refuse(peerId, DirectCode.NO_OFFER);
      this.emit('connect_failed', Uint8Array.from(peerId), [DirectCode.NO_OFFER]);
      return;
    }
    const group: DialGroup = { peerId: peer.peerId, attempts: new Set(), won: false, codes: [] };
    this.#groups.set(key, group);
    for (const c of candidates) this.#dial(peer, c, group);
  }

  #dial(peer: PeerOffer, cand: PathCandidate, group: DialGroup): void {
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

  #onDialSecure(attempt: Attempt, peer: PeerOffer, cand: PathCandidate): void {
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
    const peers = this.#pinIndex.get(toHex(fp));
    if (peers === undefined || peers.size === 0) {
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
    this.#accepted.set(socket, { attempt, peers: new Set(peers) });
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

  #onAcceptedWs(attempt: Attempt, peers: Set<string>, ws: WebSocket): void {
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
      let chosen: PeerOffer | null = null;
      let key: Uint8Array | null = null;
      for (const k of peers) {
        const p = this.#peers.get(k);
        const pk = p === undefined ? null : this.#deps.pathAuthKey(p.peerId);
        if (p !== undefined && pk !== null && equalBytes(pathSessionId(pk), sid)) {
          chosen = p;
          key = pk;
          break;
        }
      }
      if (chosen === null || key === null) {
        const only = peers.size === 1 ? (this.#peers.get([...peers][0] as string)?.peerId ?? null) : null;
        attempt.peerId = only;
        return this.#refuseAttempt(attempt, PathAuthCode.SESSION);
      }
      attempt.peerId = chosen.peerId;
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
    const rotateBeforeMs = Math.floor(this.#o.certLifetimeMs * ROTATE_BEFORE_EXPIRY_FRACTION);
    const delay = Math.max(0, cert.notAfterMs - rotateBeforeMs - this.#clock.now());
    this.#rotationTimer = this.#clock.schedule(delay, () => {
      this.#rotationTimer = null;
      void this.#rotate().catch((err: unknown) => {
        // Keep serving the current certificate; try again a little later.
        this.#log.error('direct certificate rotation failed', { error: (err as Error).message ?? String(err) });
        if (this.#state === 'running') this.#rotationTimer = this.#clock.schedule(MIN_CERT_LIFETIME_MS, () => void this.#rotate().catch(() => undefined));
      });
    });
  }

  /** Issue a new certificate now: new connections use it, open ones keep theirs; emits 'offer_changed'. */
  async rotate(): Promise<void> {
    this.#rotationTimer?.cancel();
    this.#rotationTimer = null;
    await this.#rotate();
  }

  async #rotate(): Promise<void> {
    if (this.#state !== 'running') return;
    const next = await createEphemeralCertificate(this.#clock.now(), this.#o.certLifetimeMs);
    if (this.#state !== 'running' || this.#server === null) return;
    this.#server.setSecureContext({ key: next.keyPem, cert: next.certPem, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' });
    this.#cert = next;
    this.#offer = null;
    this.#log.debug('direct certificate rotated', { notAfterMs: next.notAfterMs });
    this.#scheduleRotation();
    this.emit('offer_changed');
  }
}
