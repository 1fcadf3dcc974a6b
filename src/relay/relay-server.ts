/**
 * The ShadowMesh relay: a WSS server (TLS 1.3 only) that admits network
 * members and routes sealed frames between them by peer id (docs/architecture.md
 * "Components", "Relay admission"; docs/protocol.md §1).
 *
 * The relay is untrusted for content. It sees peer ids, frame sizes and
 * timing, never plaintext: SEND(dst, payload) becomes DELIVER(src, payload) by
 * rewriting the 36-byte prefix in place, and the payload — a peer frame sealed
 * end to end between the two members — is never parsed, copied or logged. The
 * relay holds no key that opens peer traffic; its only secrets are its TLS key
 * (transport to the relay) and nonces.
 *
 * Wiring only; each idea has its own file:
 *   tls-identity.ts      certificate, persisted key, pin, renewal
 *   client-connection.ts one socket: admission, limits, frame loop
 *   peer-table.ts        peer id -> admitted connection, replacement
 *   presence.ts          PRESENCE (coalesced ups / downs) to the other
 *                        members; CERT_REQUEST is answered here (certRequest)
 *   policy-carrier.ts    the CA-signed network policy, POLICY to each member
 *   ../util/token-bucket.ts  per-connection rate limit
 *   certificate-cache.ts verified member certificates: one CA signature
 *                        check per certificate, validity judged every HELLO
 *   ../util/source-limit.ts  connections per source address between TCP
 *                        accept and admission (maxPendingPerAddress)
 *   relay-stats.ts       counters for GET /stats
 *   member-list.ts       the members online and their traffic, for the operator page
 *   relay-options.ts     defaults and validation
 *   ../stun/stun-responder.ts  STUN Binding on UDP (docs/protocol.md §5), by
 *                        default on the WSS port number; its bind failure
 *                        fails start() with SM_ERR_STUN_LISTEN
 *   cluster/             optional: other relays of the network over NATS
 *                        (attachCluster; docs/architecture.md "Relay
 *                        cluster"); without it nothing of it is loaded
 *
 * Timer policy lives here, in one sweep (not a timer per connection):
 * handshake deadlines, heartbeat PINGs, idle timeouts, close grace, member
 * certificate expiry, and TLS certificate renewal. It runs at a steady
 * period fine enough for the heartbeat and idle timeout every admitted
 * member has (a quarter of the finer: 7.5 s at the defaults), and besides
 * at the earliest deadline a connection holds for a while only (its
 * handshake, its close grace, its certificate's expiry), which is met to
 * the millisecond: an idle relay wakes a few times a minute, not four
 * times a second (docs/architecture.md "Timers"). A sweep at a handshake
 * or close deadline walks only the connections that hold one, so pending
 * handshakes timing out one after another (at most maxPending of them) do
 * not make the relay walk every member each time.
 *
 * Callers must know: `start()`/`stop()` are idempotent; `stop()` sends
 * CLOSE(ShuttingDown) to every client and resolves once the listener is
 * closed. `recheckRevocations()` is the hook for a reloaded CRL,
 * `setPolicy()` the one for a (re)loaded signed policy, which the caller
 * has verified: the server only carries the blob.
 */
import { formatHostPort, unmapIpv4 } from '../wire/ip-address.js';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import { randomBytes, toHex } from '../crypto/bytes.js';
import { SmError } from '../errors.js';
import { certExpiry } from '../identity/cert-expiry.js';
import { RELAY_AUTH_EXPORTER_BYTES, RELAY_AUTH_EXPORTER_LABEL, type MembershipCheck } from '../handshake/relay-auth.js';
import { systemClock, type Clock, type TimerHandle } from '../util/clock.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { FrameType, RelayErrorCode, SEND_HEADER_BYTES } from '../wire/constants.js';
import { encodeRelayFrame, writeRelayHeader } from '../wire/relay-frames.js';
import { ClientConnection, type ConnectionHost, type RelayMemberCertificate } from './client-connection.js';
import { PeerTable } from './peer-table.js';
import { PolicyCarrier } from './policy-carrier.js';
import { RelayPresence } from './presence.js';
import { MIN_SWEEP_INTERVAL_MS, resolveRelayOptions, sweepIntervalMs, type RelayOptions } from './relay-options.js';
import { memberList, type MemberListSnapshot } from './member-list.js';
import { RelayStats, type RelayStatsSnapshot } from './relay-stats.js';
import type { TlsIdentity } from './tls-identity.js';
import { StunResponder } from '../stun/stun-responder.js';
import { SourceLimit, sourceKey } from '../util/source-limit.js';
import { CertificateCache } from './certificate-cache.js';
import type { StunAddress } from '../stun/stun-message.js';
import type { ClusterHost, ClusterSnapshot } from './cluster/relay-cluster.js';

/** The relay's view of the membership verifier: MembershipVerifier (src/identity) fits. */
export interface RelayMembership<C extends RelayMemberCertificate> extends MembershipCheck<C> {
  isRevoked(peerId: Uint8Array): boolean;
  /** verify()'s checks after the CA signature (times, revocation); with it, verified certificates are cached. */
  checkCurrent?(cert: C, nowMs: number): void;
}

export interface RelayServerDeps<C extends RelayMemberCertificate> {
  verifier: RelayMembership<C>;
  tls: TlsIdentity;
  logger?: Logger;
  clock?: Clock;
  /** CSPRNG for nonces and session ids; tests may fix it. */
  random?: (n: number) => Uint8Array;
  /** Event-fed metrics (src/metrics/relay-metrics.ts); counters are read from `snapshot()` instead. */
  metrics?: RelayServerMetrics;
  /** The network CA certificate's notAfter, reported in /stats `certificates.ca`; absent: not reported. */
  caNotAfterMs?: number;
}

/**
 * What the server needs of a relay cluster (cluster/relay-cluster.ts's
 * RelayCluster fits; docs/conventions.md §11). Absent in single-relay mode.
 */
export interface RelayClusterPort {
  localJoined(peerId: Uint8Array, cert: Uint8Array, admittedAtMs: number): void;
  localLeft(peerId: Uint8Array, admittedAtMs: number): void;
  /** Publish a DELIVER frame to the relay holding `dst`; false when no relay does. */
  forward(dst: Uint8Array, deliverFrame: Uint8Array): boolean;
  snapshot(): ClusterSnapshot;
}

/** The relay's only event-fed metric: called once per admission, never per frame. */
export interface RelayServerMetrics {
  /** Seconds from the WebSocket connection accepted to the member admitted. */
  admission(seconds: number): void;
}

/** How long `stop()` waits for clients to acknowledge CLOSE before cutting them: well inside a service manager's stop timeout. */
export const SHUTDOWN_GRACE_MS = 1_500;
/** WebSocket upgrades are accepted on this path only. */
export const RELAY_WS_PATH = '/';
/** HTTP status for an upgrade refused because too many handshakes are pending (RFC 9110 §15.6.4). */
const HTTP_SERVICE_UNAVAILABLE = 503;

function normalizeAddress(address: string | undefined): string {
  if (address === undefined) return '0.0.0.0';
  // An IPv4 client on a dual-stack socket shows up as ::ffff:a.b.c.d; report the IPv4 address it used.
  return unmapIpv4(address);
}

export class RelayServer<C extends RelayMemberCertificate> implements ConnectionHost<C>, ClusterHost {
  readonly options: Readonly<RelayOptions>;
  readonly stats = new RelayStats();
  readonly logger: Logger;
  readonly verifier: RelayMembership<C>;
  /** HELLO certificates go through this: one CA signature check per distinct certificate. */
  readonly admission: CertificateCache<C>;
  readonly #tls: TlsIdentity;
  readonly #clock: Clock;
  readonly #caNotAfterMs: number | undefined;
  readonly #random: (n: number) => Uint8Array;
  readonly #metrics: RelayServerMetrics | null;
  readonly #table = new PeerTable<ClientConnection<C>>();
  readonly #connections = new Set<ClientConnection<C>>();
  readonly #presence: RelayPresence<ClientConnection<C>>;
  readonly #policy = new PolicyCarrier();
  #server: Server | null = null;
  #wss: WebSocketServer | null = null;
  #sweep: TimerHandle | null = null;
  /** When the armed sweep runs (clock ms); +Infinity when none is armed. */
  #sweepAtMs = Number.POSITIVE_INFINITY;
  /** When the next sweep walks every connection: the steady period, or an admitted member's certificate expiry. */
  #fullSweepAtMs = Number.POSITIVE_INFINITY;
  /** Connections holding a handshake or close-grace deadline (at most maxPending handshaking, plus those closing):
   *  what a sweep at such a deadline walks. */
  readonly #transient = new Set<ClientConnection<C>>();
  #state: 'idle' | 'running' | 'stopping' | 'stopped' = 'idle';
  #starting: Promise<void> | null = null;
  #stopping: Promise<void> | null = null;
  #renewing = false;
  #pending = 0;
  /** Raw TCP connections per source, from accept to admission (maxPendingPerAddress). */
  readonly #sources: SourceLimit;
  /** Admitted connections counted as passed in #sources, so each is released exactly once. */
  readonly #passed = new Set<ClientConnection<C>>();
  #port = 0;
  #stun: StunResponder | null = null;
  #cluster: RelayClusterPort | null = null;
  /** Admission time (Unix ms) of each admitted connection: what PEER_UP and the cluster announce. */
  readonly #admittedAt = new WeakMap<ClientConnection<C>, number>();

  constructor(deps: RelayServerDeps<C>, options: Partial<RelayOptions> = {}) {
    this.options = resolveRelayOptions(options);
    this.verifier = deps.verifier;
    this.admission = new CertificateCache<C>(deps.verifier, this.options.certCacheEntries);
    this.#sources = new SourceLimit(this.options.maxPendingPerAddress);
    this.#tls = deps.tls;
    this.logger = deps.logger ?? silentLogger;
    this.#clock = deps.clock ?? systemClock;
    this.#caNotAfterMs = deps.caNotAfterMs;
    this.#random = deps.random ?? randomBytes;
    this.#metrics = deps.metrics ?? null;
    this.#presence = new RelayPresence({ table: this.#table, stats: this.stats, schedule: (ms, fn) => this.#clock.schedule(ms, fn) });
  }

  /** The TLS pin clients use (`sha256:<hex>` of the SPKI). */
  get pin(): string {
    return this.#tls.pin;
  }

  /** The bound port (the real one when options.port was 0); 0 before start. */
  get port(): number {
    return this.#port;
  }

  /** `wss://host:port` as clients should dial it. */
  get url(): string {
    return `wss://${formatHostPort(this.options.host, this.#port)}`;
  }

  /** Where the STUN responder listens (UDP); null when options.stun is false or before start. */
  get stunAddress(): StunAddress | null {
    return this.#stun?.address ?? null;
  }

  /** True from the listener bound until stop() begins: what readiness probes ask. */
  get listening(): boolean {
    return this.#state === 'running';
  }

  /** Counters for GET /stats. */
  snapshot(): RelayStatsSnapshot {
    this.stats.activeClients = this.#table.size;
    this.stats.pendingClients = this.#pending;
    const snap = this.stats.snapshot();
    snap.certificateCache = this.admission.stats;
    const stun = this.#stun?.stats;
    if (stun !== undefined) snap.stun = { requests: stun.requests, answered: stun.answered, dropped: { ...stun.dropped } };
    if (this.#cluster !== null) snap.cluster = this.#cluster.snapshot();
    snap.certificates = this.certificates();
    if (this.#policy.carrying) snap.policy = { version: this.#policy.version, ...this.#policy.stats };
    return snap;
  }

  /**
   * What the operator page shows (docs/architecture.md "Web console"): the
   * counters of GET /stats and the members online with their traffic
   * (member-list.ts, bounded). Member names are in it, so it is served only
   * behind the admin token, never on /stats.
   */
  operatorSnapshot(): RelayStatsSnapshot & { members: MemberListSnapshot } {
    const entries: Array<{ conn: ClientConnection<C>; admittedAtMs: number }> = [];
    for (const conn of this.#table.connections()) {
      const at = this.#admittedAt.get(conn);
      if (conn.state === 'admitted' && at !== undefined) entries.push({ conn, admittedAtMs: at });
    }
    return { ...this.snapshot(), members: memberList(entries) };
  }

  /**
   * Expiry of the CA certificate and of the TLS certificate served now
   * (src/identity/cert-expiry.ts). A self-signed TLS certificate is renewed
   * on its own, so it is only reported 'expired' (a failed renewal), never 'expiring'.
   */
  certificates(): NonNullable<RelayStatsSnapshot['certificates']> {
    const now = this.#clock.now();
    const tls = this.#tls.material.notAfterMs;
    return {
      ...(this.#caNotAfterMs !== undefined ? { ca: certExpiry('ca', this.#caNotAfterMs, now) } : {}),
      tls: { ...(this.#tls.selfSigned ? certExpiry('tls', tls, now, 0) : certExpiry('tls', tls, now)), selfSigned: this.#tls.selfSigned },
    };
  }

  /** Join a relay cluster: presence and frames for members attached to other relays go through `cluster`. Before start(). */
  attachCluster(cluster: RelayClusterPort): void {
    this.#cluster = cluster;
  }

  start(): Promise<void> {
    if (this.#starting !== null) return this.#starting;
    this.#starting = this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    const o = this.options;
    const material = this.#tls.material;
    const server = createServer({
      key: material.keyPem,
      cert: material.certPem,
      minVersion: 'TLSv1.3',
      // The TLS handshake itself is bounded like admission, so half-open TLS cannot pile up.
      handshakeTimeout: o.handshakeTimeoutMs,
    });
    // Admitted clients plus pending handshakes; past this the kernel connection is dropped at accept.
    server.maxConnections = o.maxClients + o.maxPending;
    server.headersTimeout = Math.max(o.handshakeTimeoutMs, 1_000);
    server.requestTimeout = Math.max(o.handshakeTimeoutMs, 1_000);
    server.on('connection', (socket: Socket) => this.#onTcpConnection(socket));
    server.on('request', (req, res) => this.#onHttp(req, res));
    server.on('upgrade', (req, socket, head) => this.#onUpgrade(req, socket, head));
    server.on('tlsClientError', (err) => this.logger.debug('TLS handshake failed', { error: err.message }));
    server.on('clientError', (err, socket) => {
      this.logger.debug('HTTP client error', { error: err.message });
      socket.destroy();
    });
    const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: o.maxFrameBytes, clientTracking: false });
    wss.on('error', (err) => this.logger.error('websocket server error', { error: err.message }));
    this.#server = server;
    this.#wss = wss;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(new SmError('SM_ERR_RELAY_LISTEN', `relay: cannot listen on ${o.host}:${o.port}: ${err.message}`, { cause: err }));
      server.once('error', onError);
      server.listen(o.port, o.host, () => {
        server.off('error', onError);
        resolve();
      });
    });
    server.on('error', (err) => this.logger.error('listener error', { error: err.message }));
    this.#port = (server.address() as AddressInfo).port;
    if (o.stun) {
      // Default: UDP on the WSS port number, so a node that knows the relay URL knows where to ask.
      const stun = new StunResponder({ logger: this.logger.child('stun') }, o.stunListen ?? { host: o.host, port: this.#port });
      try {
        await stun.start();
      } catch (err) {
        await new Promise<void>((resolve) => server.close(() => resolve()));
        throw err;
      }
      this.#stun = stun;
    }
    this.#state = 'running';
    this.#fullSweepAtMs = this.#clock.now() + sweepIntervalMs(this.options);
    this.#armSweep(this.#fullSweepAtMs);
    this.logger.info('relay listening', { url: this.url, pin: this.pin });
  }

  /** Stop accepting, CLOSE(ShuttingDown) every client, wait up to SHUTDOWN_GRACE_MS, release the listener. */
  stop(): Promise<void> {
    if (this.#stopping !== null) return this.#stopping;
    this.#stopping = this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    // The clock's timers are unref'd; hold the process open until the graceful stop has finished,
    // or a caller awaiting stop() in an otherwise idle process would see it never resolve.
    const hold = setInterval(() => undefined, 1_000);
    try {
      await this.#stopNow();
    } finally {
      clearInterval(hold);
    }
  }

  async #stopNow(): Promise<void> {
    if (this.#starting !== null) await this.#starting.catch(() => undefined);
    this.#state = 'stopping';
    this.#sweep?.cancel();
    this.#sweep = null;
    this.#sweepAtMs = Number.POSITIVE_INFINITY;
    this.#presence.stop();
    const server = this.#server;
    for (const conn of [...this.#connections]) {
      if (conn.state === 'handshaking') conn.refuse(RelayErrorCode.ShuttingDown, 'relay shutting down');
      else conn.close(RelayErrorCode.ShuttingDown, 'relay shutting down');
    }
    if (server !== null) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await this.#waitForClients(SHUTDOWN_GRACE_MS);
      for (const conn of [...this.#connections]) conn.terminate();
      server.closeAllConnections();
      await closed;
    }
    this.#wss?.close();
    await this.#stun?.stop();
    this.#state = 'stopped';
    this.logger.info('relay stopped');
  }

  #waitForClients(maxMs: number): Promise<void> {
    return new Promise((resolve) => {
      const deadline = this.#clock.now() + maxMs;
      const check = (): void => {
        if (this.#connections.size === 0 || this.#clock.now() >= deadline) resolve();
        else this.#clock.schedule(Math.min(50, maxMs), check);
      };
      check();
    });
  }

  /**
   * Disconnect admitted members (CLOSE Revoked) and refuse pending ones whose
   * peer id the verifier now lists as revoked. Call after loading a new CRL
   * into the verifier. Returns how many connections were cut.
   */
  recheckRevocations(): number {
    let cut = 0;
    for (const conn of [...this.#connections]) {
      if (conn.state === 'admitted' && conn.peerId !== null && this.verifier.isRevoked(conn.peerId)) {
        this.stats.disconnect('revoked');
        conn.close(RelayErrorCode.Revoked, 'certificate revoked');
        cut++;
      }
    }
    if (cut > 0) this.logger.info('revocation list applied', { disconnected: cut });
    return cut;
  }

  /**
   * Carry `blob` (a signed policy the caller verified, of `version`; never
   * parsed here) from now on: every member admitted later gets it after
   * ESTABLISHED, and every member admitted now gets it at once. Returns how
   * many were sent it.
   */
  setPolicy(blob: Uint8Array, version: number): number {
    return this.#policy.set(blob, version, this.#table.connections());
  }

  // ------------------------------------------------------------ ConnectionHost

  now(): number {
    return this.#clock.now();
  }

  random(n: number): Uint8Array {
    return this.#random(n);
  }

  checkCapacity(peerId: Uint8Array): number | null {
    if (this.#state !== 'running') return RelayErrorCode.ShuttingDown;
    // A returning peer replaces its own entry, so it never needs a free slot.
    if (this.#table.size >= this.options.maxClients && this.#table.get(toHex(peerId)) === undefined) return RelayErrorCode.RelayFull;
    return null;
  }

  admit(conn: ClientConnection<C>): number | null {
    const peerId = conn.peerId;
    if (peerId === null) return RelayErrorCode.Protocol;
    const capacity = this.checkCapacity(peerId);
    if (capacity !== null) return capacity;
    // Revocation can land between HELLO and AUTH (a SIGHUP'd CRL).
    if (this.verifier.isRevoked(peerId)) return RelayErrorCode.Revoked;
    this.#pending--;
    this.#sources.passed(sourceKey(conn.remoteAddress));
    this.#passed.add(conn);
    const previous = this.#table.admit(conn.peerKey, conn);
    this.stats.admissions++;
    // The connection was created handshakeTimeoutMs before its deadline (client-connection.ts).
    this.#metrics?.admission(Math.max(0, this.#clock.now() - (conn.deadlineMs - this.options.handshakeTimeoutMs)) / 1000);
    if (previous !== undefined) {
      this.stats.disconnect('replaced');
      previous.close(RelayErrorCode.Replaced, 'replaced by a newer connection');
    }
    return null;
  }

  joined(conn: ClientConnection<C>): void {
    // A connection replaced between admit() and here (impossible today: both run in one AUTH frame) would announce a stale member.
    if (this.#table.get(conn.peerKey) !== conn) return;
    const cert = conn.certificate as C;
    const now = this.#clock.now();
    this.#admittedAt.set(conn, now);
    this.#transient.delete(conn);
    // Its certificate's expiry: met by a sweep of every connection at that moment.
    this.#fullSweepAtMs = Math.min(this.#fullSweepAtMs, cert.notAfterMs + 1);
    this.#sweepBy(cert.notAfterMs + 1);
    // docs/protocol.md §1 POLICY: the policy comes right after ESTABLISHED, before the presence list.
    this.#policy.sendTo(conn);
    this.#presence.dropRemote(conn.peerKey);
    this.#presence.joined(conn, cert.raw, now);
    this.#cluster?.localJoined(conn.peerId as Uint8Array, cert.raw, now);
  }

  observedAddress(conn: ClientConnection<C>): { address: string; port: number } {
    return { address: conn.remoteAddress, port: conn.remotePort };
  }

  /**
   * docs/protocol.md §1 "Presence": answer with the certificate this relay
   * admitted for `peerId` (or, in a cluster, the one another relay announced).
   * Keeps nothing per request: an unknown peer or a full send queue is dropped
   * and counted, and the member asks again.
   */
  certRequest(conn: ClientConnection<C>, peerId: Uint8Array): void {
    const key = toHex(peerId);
    const local = this.#table.get(key);
    const cert = local !== undefined && local.state === 'admitted' ? (local.certificate as C).raw : this.#presence.remoteCertificate(key);
    if (cert === undefined) {
      this.stats.drop('cert-unknown');
      return;
    }
    if (conn.congested) {
      this.stats.drop('cert-queue-full');
      return;
    }
    if (conn.sendFrame(encodeRelayFrame({ type: FrameType.Cert, peerId, cert }))) this.stats.certsSent++;
  }

  forward(src: ClientConnection<C>, frame: Buffer, dst: Uint8Array): void {
    const target = this.#table.get(toHex(dst));
    if (target === undefined && this.#cluster !== null) {
      // Attached to another relay: the same DELIVER bytes go there over NATS (cluster/relay-cluster.ts).
      // `dst` is a view of the SEND prefix the DELIVER header overwrites: copy it first.
      const to = Uint8Array.from(dst);
      writeRelayHeader(frame, 0, FrameType.Deliver, src.peerId as Uint8Array);
      if (this.#cluster.forward(to, frame)) return;
      dst = to;
    }
    if (target === undefined || target.state !== 'admitted') {
      src.countDrop('unreachable');
      src.sendFrame(encodeRelayFrame({ type: FrameType.Unreachable, peerId: dst }));
      return;
    }
    if (target.congested) {
      target.countDrop('queue-full');
      return;
    }
    // protocol.md §1: SEND and DELIVER share the prefix layout, so DELIVER(src) overwrites SEND(dst) in place.
    writeRelayHeader(frame, 0, FrameType.Deliver, src.peerId as Uint8Array);
    if (target.sendFrame(frame)) {
      this.stats.framesRouted++;
      this.stats.bytesRouted += frame.length - SEND_HEADER_BYTES;
    }
  }

  closed(conn: ClientConnection<C>): void {
    this.#transient.delete(conn);
    if (!this.#connections.delete(conn)) return;
    if (this.#passed.delete(conn)) this.#sources.passedClosed(sourceKey(conn.remoteAddress));
    this.#presence.forget(conn);
    if (conn.peerKey !== '' && this.#table.remove(conn.peerKey, conn)) {
      this.logger.info(`${conn.label} disconnected`);
      this.#presence.left(conn);
      const admittedAt = this.#admittedAt.get(conn);
      if (admittedAt !== undefined) this.#cluster?.localLeft(conn.peerId as Uint8Array, admittedAt);
    } else if (conn.certificate === null) {
      this.#pending--;
    }
  }

  // ------------------------------------------------------------ ClusterHost

  localMembers(): { peerId: Uint8Array; cert: Uint8Array; admittedAtMs: number }[] {
    const out: { peerId: Uint8Array; cert: Uint8Array; admittedAtMs: number }[] = [];
    for (const conn of this.#table.connections()) {
      const at = this.#admittedAt.get(conn);
      if (conn.state === 'admitted' && at !== undefined && conn.peerId !== null) out.push({ peerId: conn.peerId, cert: (conn.certificate as C).raw, admittedAtMs: at });
    }
    return out;
  }

  localAdmission(key: string): number | undefined {
    const conn = this.#table.get(key);
    return conn === undefined ? undefined : this.#admittedAt.get(conn);
  }

  verifyMember(cert: Uint8Array): Uint8Array {
    return this.admission.verify(cert, this.#clock.now()).peerId;
  }

  remoteUp(key: string, peerId: Uint8Array, cert: Uint8Array, onlineSinceMs: number): void {
    const local = this.#table.get(key);
    if (local !== undefined && this.#table.remove(key, local)) {
      // Admitted on another relay after here: that one is the member now (newest admission wins).
      this.#presence.replaced(local);
      this.stats.disconnect('replaced');
      local.close(RelayErrorCode.Replaced, 'replaced by a newer connection on another relay');
    }
    this.#presence.remoteUp(key, peerId, cert, onlineSinceMs);
  }

  remoteDown(key: string, peerId: Uint8Array): void {
    if (this.#table.get(key) !== undefined) return;
    this.#presence.remoteDown(key, peerId);
  }

  deliver(key: string, frame: Uint8Array): 'delivered' | 'unreachable' | 'queue-full' {
    const target = this.#table.get(key);
    if (target === undefined || target.state !== 'admitted') return 'unreachable';
    if (target.congested) return 'queue-full';
    if (!target.sendFrame(frame)) return 'unreachable';
    this.stats.framesRouted++;
    this.stats.bytesRouted += frame.length - SEND_HEADER_BYTES;
    return 'delivered';
  }

  // ------------------------------------------------------------ listener

  /**
   * Every TCP connection, before TLS: a source already holding
   * maxPendingPerAddress connections that are not admitted is cut here, so
   * it can neither fill maxPending nor the listener's connection cap that
   * members from other addresses need (docs/threat-model.md).
   */
  #onTcpConnection(socket: Socket): void {
    const key = sourceKey(socket.remoteAddress);
    if (!this.#sources.tryOpen(key)) {
      this.stats.refused('pending-per-address');
      this.logger.debug('connection refused: source holds its share of pending connections', { source: key });
      socket.destroy();
      return;
    }
    socket.once('close', () => this.#sources.closed(key));
  }

  #onHttp(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok' }));
    } else if (req.method === 'GET' && path === '/stats') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.snapshot()));
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not found' }));
    }
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => undefined);
    const wss = this.#wss;
    const path = (req.url ?? '/').split('?')[0];
    if (this.#state !== 'running' || wss === null || path !== RELAY_WS_PATH) {
      socket.destroy();
      return;
    }
    if (this.#pending >= this.options.maxPending) {
      this.stats.refused('pending-full');
      socket.end(`HTTP/1.1 ${HTTP_SERVICE_UNAVAILABLE} Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => this.#onConnection(ws, req));
  }

  #onConnection(ws: WebSocket, req: IncomingMessage): void {
    const tlsSocket = req.socket as TLSSocket;
    let exporter: Uint8Array;
    try {
      // protocol.md §1: the transcript binds this TLS connection's exporter
      // (empty context; RFC 8446 §7.5 makes it equal to no context).
      exporter = new Uint8Array(tlsSocket.exportKeyingMaterial(RELAY_AUTH_EXPORTER_BYTES, RELAY_AUTH_EXPORTER_LABEL, Buffer.alloc(0)));
    } catch (err) {
      this.logger.debug('no TLS exporter; dropping connection', { error: (err as Error).message });
      ws.terminate();
      return;
    }
    this.stats.totalConnections++;
    this.#pending++;
    const conn = new ClientConnection<C>(this, ws, {
      exporter,
      remoteAddress: normalizeAddress(tlsSocket.remoteAddress),
      remotePort: tlsSocket.remotePort ?? 0,
    });
    this.#connections.add(conn);
    this.#transient.add(conn);
    if (this.#state !== 'running') conn.refuse(RelayErrorCode.ShuttingDown, 'relay shutting down');
    else this.#sweepBy(conn.deadlineMs);
  }

  // ------------------------------------------------------------ the sweep

  /** ConnectionHost: `conn` now holds a deadline (its close grace) the sweep must meet. */
  deadline(conn: ClientConnection<C>, atMs: number): void {
    if (conn.state !== 'closed') this.#transient.add(conn);
    this.#sweepBy(atMs);
  }

  /** Make sure a sweep runs by `atMs` (never sooner than MIN_SWEEP_INTERVAL_MS from now). */
  #sweepBy(atMs: number): void {
    if (this.#state !== 'running' || atMs >= this.#sweepAtMs) return;
    this.#armSweep(atMs);
  }

  #armSweep(atMs: number): void {
    this.#sweep?.cancel();
    const now = this.#clock.now();
    const at = Math.max(atMs, now + MIN_SWEEP_INTERVAL_MS);
    this.#sweepAtMs = at;
    this.#sweep = this.#clock.schedule(at - now, () => {
      this.#sweep = null;
      this.#sweepAtMs = Number.POSITIVE_INFINITY;
      if (this.#state !== 'running') return;
      const t = this.#clock.now();
      let next = t + sweepIntervalMs(this.options);
      try {
        // Every connection at the steady period or a member certificate's expiry; at any other deadline only the
        // connections that hold one (handshaking, closing), so pending handshakes cannot make the relay walk all
        // its members each time one of them ends.
        if (t >= this.#fullSweepAtMs) {
          const due = this.#runSweep(t);
          this.#fullSweepAtMs = Math.min(next, due.certificate);
          next = Math.min(this.#fullSweepAtMs, due.transient);
        } else {
          next = Math.min(this.#fullSweepAtMs, this.#runTransientSweep(t));
        }
      } catch (err) {
        this.logger.error('sweep failed', { error: (err as Error).message });
      }
      // A deadline set while the sweep ran (a close it started) may already have armed an earlier one.
      if (next < this.#sweepAtMs) this.#armSweep(next);
    });
  }

  /** Every connection: returns the earliest certificate expiry of an admitted member and the earliest other deadline. */
  #runSweep(now: number): { certificate: number; transient: number } {
    let certificate = Number.POSITIVE_INFINITY;
    let transient = Number.POSITIVE_INFINITY;
    for (const conn of [...this.#connections]) {
      const due = this.#check(conn, now);
      if (conn.state === 'admitted') certificate = Math.min(certificate, due);
      else transient = Math.min(transient, due);
    }
    // Presence held back by a full send queue; normally resumed by write completions already.
    this.#presence.pump();
    if (this.#tls.needsRenewal(now) && !this.#renewing) this.#renewTls(now);
    return { certificate, transient };
  }

  /** Only the connections holding a handshake or close deadline; returns the earliest left. */
  #runTransientSweep(now: number): number {
    let next = Number.POSITIVE_INFINITY;
    for (const conn of [...this.#transient]) {
      if (conn.state === 'admitted' || conn.state === 'closed') {
        this.#transient.delete(conn);
        continue;
      }
      next = Math.min(next, this.#check(conn, now));
    }
    return next;
  }

  /** One connection's timers at `now`; returns its next deadline (+Infinity: none but the steady period). */
  #check(conn: ClientConnection<C>, now: number): number {
    const o = this.options;
    switch (conn.state) {
      case 'handshaking':
        if (now < conn.deadlineMs) return conn.deadlineMs;
        conn.refuse(RelayErrorCode.HandshakeTimeout, 'handshake timeout');
        return Number.POSITIVE_INFINITY;
      case 'admitted': {
        const cert = conn.certificate as C;
        if (now - conn.lastSeenMs > o.idleTimeoutMs) {
          this.stats.disconnect('idle-timeout');
          conn.close(RelayErrorCode.IdleTimeout, 'idle timeout');
          return Number.POSITIVE_INFINITY;
        }
        if (now > cert.notAfterMs) {
          this.stats.disconnect('cert-expired');
          conn.close(RelayErrorCode.CertValidity, 'certificate expired');
          return Number.POSITIVE_INFINITY;
        }
        if (now - conn.lastPingMs >= o.heartbeatMs) conn.ping(now);
        return cert.notAfterMs + 1;
      }
      case 'closing':
        if (now < conn.closeDeadlineMs) return conn.closeDeadlineMs;
        conn.terminate();
        return Number.POSITIVE_INFINITY;
      case 'closed':
        return Number.POSITIVE_INFINITY;
    }
  }

  #renewTls(now: number): void {
    this.#renewing = true;
    this.#tls.renew(now).then(
      (material) => {
        // Same key, new certificate: pins survive (tls-identity.ts).
        this.#server?.setSecureContext({ key: material.keyPem, cert: material.certPem, minVersion: 'TLSv1.3' });
        this.logger.info('TLS certificate renewed', { notAfter: new Date(material.notAfterMs).toISOString(), pin: material.pin });
      },
      (err: unknown) => this.logger.error('TLS certificate renewal failed', { error: (err as Error).message }),
    ).finally(() => {
      this.#renewing = false;
    });
  }
}
