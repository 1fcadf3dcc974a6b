/**
 * UdpTransport: the direct UDP transport of a node (docs/architecture.md
 * "Carriers": hole punching survives NAT, and UDP avoids TCP over TCP;
 * docs/protocol.md §3.5; issue 5). It owns
 *
 *  - one UDP socket (dual stack when it can, a configurable port) shared by
 *    every UDP path, by hole punching and by STUN;
 *  - reflexive address discovery from that very socket (udp-reflexive.ts:
 *    STUN to each configured server every `stunIntervalMs` and before a
 *    direct attempt); the answers are our reflexive candidates, and
 *    comparing two servers' answers classifies our NAT's mapping;
 *  - our UDP candidates (interface addresses and reflexive ones, with the
 *    socket's port): the owner puts them into our signed PATH_OFFER, which
 *    reaches the peer end to end through the relay;
 *  - hole punching: connect(peer) sends authenticated punch probes to every
 *    UDP candidate of the peer, every `punchIntervalMs` for
 *    `punchTimeoutMs`. The peer does the same at the same time (the owner
 *    re-sends our offer when it asks for a direct path, and an offer makes
 *    the receiver connect: "call me maybe" through the relay). A probe
 *    received is answered at its source and probed back (its source is the
 *    peer's mapping towards us: a peer-reflexive candidate), so one open
 *    direction is enough. The first answered probe makes a UdpPath to the
 *    address the answer came from; answers within a short grace add more
 *    (LAN and reflexive both), and the path manager keeps the fastest.
 *  - after a path exists: PMTU probes (padded to 1400 and 1472 bytes; the
 *    largest answered becomes the path's datagram size), liveness probes of
 *    the path manager wrapped in authenticated UDP probes, close notices,
 *    and roaming: an authenticated probe of a peer from a new address moves
 *    that peer's path there (NAT rebinding after a mapping expired).
 *
 * Security: every probe carries a MAC under K_udp from the session's
 * path-auth key (udp-probe-auth.ts), a timestamp checked within ± skew and a
 * random 128-bit txid remembered while fresh (replay cache); an ACK must echo
 * a txid we sent. A relay, which never holds the session, cannot make a
 * node send data to an address of its choice. Data on a UDP path is sealed
 * DATA of the session like on every path; datagrams from an address with no
 * path are dropped and counted (only authenticated probes open or move a
 * path). Verifying probes from addresses without a path is rate-limited, so
 * junk cannot buy unbounded HMAC work. Datagrams from a path's address are
 * not authenticated either: the path passes on only peer frames, and path
 * probes reach the path manager only out of authenticated liveness probes
 * (udp-path.ts), so a spoofed source cannot keep a dead path trusted.
 * Candidates (peers' offers, our STUN answers) pass
 * rendezvous/candidate-filter.ts before anything is sent to them, at most MAX_CANDIDATES_PER_OFFER of them,
 * and one punch attempt sends at most MAX_PUNCH_PROBES_PER_ATTEMPT probes
 * (docs/protocol.md §3.5.6). The txid replay cache is per peer, sized by its
 * paths (UDP_REPLAY_ENTRIES_PER_PATH). The rendezvous (UdpRendezvous) says
 * which addresses are inside the mesh; the node hands us peers' UDP
 * candidates from it (setPeerCandidates) and puts ours into it.
 *
 * Timers armed here, with every interval and deadline from udp-timers.ts:
 * punch rounds and deadline, the grace after the first answer, MTU
 * re-probes, the drain of a closed path's address, probe-back rate.
 *
 * Events: 'path' (peerId, UdpPath) — set onFrame/onClose in the listener;
 * 'connect_failed' (peerId, codes); 'candidates' (PathCandidate[]) — our
 * UDP candidates changed; 'nat' (NatMapping). Never 'error'.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import { randomBytes, toHex } from '../../crypto/bytes.js';
import { ConfigError } from '../../errors.js';
import { DEFAULT_PATH_AUTH_SKEW_MS } from '../../handshake/path-auth.js';
import type { NatMapping } from '../../stun/nat-mapping.js';
import { isStunMessage, type StunAddress } from '../../stun/stun-message.js';
import { systemClock, type Clock, type TimerHandle } from '../../util/clock.js';
import { silentLogger, type Logger } from '../../util/logger.js';
import {
  HEADER_TYPE_OFFSET,
  MAX_PATH_CANDIDATES,
  MAX_UDP_DATAGRAM_BYTES,
  MIN_UDP_PROBE_BYTES,
  PEER_ID_BYTES,
  UDP_TXID_BYTES,
  UdpFrameType,
  UdpProbePurpose,
} from '../../wire/constants.js';
import { canonicalIpText, formatHostPort, unmapIpv4 } from '../../wire/ip-address.js';
import { datagramType, decodeUdpProbe, type UdpProbe } from '../../wire/udp-frames.js';
import { PathCode, UdpCode } from './path-errors.js';
import { DEFAULT_PUNCH_INTERVAL_MS, DEFAULT_PUNCH_TIMEOUT_MS, DEFAULT_STUN_INTERVAL_MS, probeBackDue, PUNCH_GRACE_MS, STUN_ON_CONNECT_MIN_AGE_MS, UDP_CLOSE_DRAIN_MS, UDP_MTU_REPROBE_MS } from './udp-timers.js';
import type { PathCandidate } from './rendezvous/path-offer.js';
import { sealUdpProbe, UdpReplayCache, verifyUdpProbe } from './udp-probe-auth.js';
import { UdpPath, type UdpPathHost } from './udp-path.js';
import { listenAddresses } from './rendezvous/listen-addresses.js';
import { candidateRefusal, filterCandidates, interfaceBroadcasts, isLoopbackAddress, MAX_CANDIDATES_PER_OFFER, newRefusalCounts, type CandidatePolicy, type CandidateRefusal } from './rendezvous/candidate-filter.js';
import { PATH_PROBE_ACK_TYPE } from './probe-frames.js';
import { raiseSocketBuffers } from './udp-socket-buffers.js';
import { UdpSendAddresses } from './udp-send-address.js';
import { UdpNativeReceive, type NativeDatagramReadAddon } from './udp-native-receive.js';
import { UdpNativeSend, type NativeDatagramAddon } from './udp-native-send.js';
import { ReflexiveDiscovery, type UdpServer } from './udp-reflexive.js';

export type { UdpServer } from './udp-reflexive.js';

/** Datagram size before any MTU probe answered: 1280 (the IPv6 minimum MTU) - 40 (IPv6) - 8 (UDP).
 *  It crosses every path that carries IPv6, and nearly every IPv4 one, without IP fragmentation. */
export const DEFAULT_UDP_MAX_DATAGRAM = 1_232;
/** Sizes MTU probes try, largest first: a 1500-byte Ethernet path (1472), and PPPoE/tunnel-sized ones. */
export const UDP_MTU_PROBE_SIZES: readonly number[] = Object.freeze([MAX_UDP_DATAGRAM_BYTES, 1_400]);
/** Socket send queue above which a path refuses frames: about 64 full 64 KiB segments, as the WSS path. */
export const DEFAULT_UDP_SEND_QUEUE_BYTES = 4 * 1024 * 1024;
/** Socket buffers asked for (each direction): 64 frames of 64 KiB in flight. */
export const UDP_SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;
/** UDP paths per peer, as the path manager's direct-path bound. */
export const MAX_UDP_PATHS_PER_PEER = 4;
/** txids of a peer's probes remembered per UDP path of that peer (udp-probe-auth.ts UdpReplayCache; the peer gets its
 *  paths + 1 times this, the one for punching). Per path at the defaults: liveness requests and acks both ways every
 *  500 ms are ~4 txids/s, kept up to 2 x 30 s skew = 240; a punch attempt's probes (5 s of 200 ms rounds) fit the extra one. */
export const UDP_REPLAY_ENTRIES_PER_PATH = 512;
/** Probes we sent and wait for an answer to, at most (oldest forgotten first). */
const MAX_OUTSTANDING = 4_096;
/** Probe verifications per second for addresses with no path (a peer punching, or junk). */
const UNPATHED_VERIFY_PER_SECOND = 1_000;
/** Punch probes per candidate round: more candidates than this are not tried (candidate-filter.ts). */
const MAX_PUNCH_TARGETS = MAX_CANDIDATES_PER_OFFER;
/** Punch probes one connect() sends at most, whatever the timers: the default 5 s of 200 ms rounds to
 *  16 candidates is 400. Bounds what a peer's (or a relay's) candidates can make us send (§3.5.6). */
export const MAX_PUNCH_PROBES_PER_ATTEMPT = 400;
/** Sources remembered for the probe-back rate limit. */
const MAX_PROBE_BACK_SOURCES = 1_024;

/**
 * What the transport reads from the rendezvous (docs/conventions.md §11;
 * rendezvous/rendezvous.ts fits it).
 */
export interface UdpRendezvous {
  /** Addresses inside our own mesh subnets are never advertised nor punched (a path through the tunnel it carries). */
  isMeshAddress(address: string): boolean;
}

export interface UdpTransportDeps {
  localPeerId: Uint8Array;
  /** The session's current and previous path-auth keys with a peer (PeerManager.pathAuthKeys); empty without a session. */
  pathAuthKeys(peerId: Uint8Array): Uint8Array[];
  /** The rendezvous; without one no address counts as inside the mesh (tests on one host). */
  rendezvous?: UdpRendezvous;
  clock?: Clock;
  logger?: Logger;
  /** What sends datagrams without dgram's request per datagram (udp-native-send.ts) and reads them in batches
   *  (udp-native-receive.ts): default the TAP/TUN addon where it loads; null sends and reads everything through
   *  dgram, as does an addon without the calls. */
  datagramAddon?: (NativeDatagramAddon & Partial<NativeDatagramReadAddon>) | null;
}

export interface UdpTransportOptions {
  /** Socket address; default '::' (dual stack), falling back to 0.0.0.0. */
  listenHost?: string;
  /** Socket port; default 0 = any free port. */
  listenPort?: number;
  /** STUN servers asked for our reflexive address; two or more also classify the NAT. */
  stunServers?: UdpServer[];
  stunIntervalMs?: number;
  punchIntervalMs?: number;
  punchTimeoutMs?: number;
  /** Probe timestamp window, ± ms. */
  skewMs?: number;
  /** Datagram size before MTU probes answer. */
  initialMaxDatagram?: number;
  maxSendQueueBytes?: number;
  /** Probe loopback candidates even when the socket is not bound to a loopback address (tests on one
   *  host with a dual-stack socket). Default false: loopback only when bound to loopback (§3.5.6). */
  allowLoopbackCandidates?: boolean;
}

export const UDP_TRANSPORT_DEFAULTS = Object.freeze({
  listenHost: '::',
  listenPort: 0,
  stunServers: Object.freeze([]) as readonly UdpServer[],
  stunIntervalMs: DEFAULT_STUN_INTERVAL_MS,
  punchIntervalMs: DEFAULT_PUNCH_INTERVAL_MS,
  punchTimeoutMs: DEFAULT_PUNCH_TIMEOUT_MS,
  skewMs: DEFAULT_PATH_AUTH_SKEW_MS,
  initialMaxDatagram: DEFAULT_UDP_MAX_DATAGRAM,
  maxSendQueueBytes: DEFAULT_UDP_SEND_QUEUE_BYTES,
  allowLoopbackCandidates: false,
});

type ResolvedOptions = { -readonly [K in keyof typeof UDP_TRANSPORT_DEFAULTS]: (typeof UDP_TRANSPORT_DEFAULTS)[K] };

export type UdpDropReason =
  | 'unknown_source' | 'malformed' | 'unknown_peer' | 'bad_mac' | 'stale' | 'replay' | 'ack_unknown'
  | 'rate_limited' | 'socket_error' | 'self' | 'path_limit'
  // A path's address sent a PATH_PROBE / PATH_PROBE_ACK outside a UDP probe (whole or reassembled), or no peer frame.
  | 'unauthenticated_probe' | 'not_peer_frame';

export interface UdpTransportStats {
  punches: number;
  punchProbes: number;
  established: number;
  roams: number;
  drops: Record<UdpDropReason, number>;
  /**
   * Datagrams handed to the kernel at once (udp-native-send.ts): one by one (`native`) or many in one send with
   * UDP segmentation offload (`segmented`); and through dgram's send (its queue, or no addon here).
   */
  sends: { native: number; segmented: number; dgram: number };
  /** Datagrams read by the addon in batches (udp-native-receive.ts), and by dgram's 'message' event (no addon here). */
  receives: { native: number; dgram: number };
  /** Candidates never probed (candidate-filter.ts): peers' offers and our STUN answers, by reason. */
  candidatesRefused: Record<CandidateRefusal | 'over_cap', number>;
}

interface PeerUdp {
  id: Uint8Array;
  hex: string;
  candidates: PathCandidate[];
  punch: Punch | null;
  paths: Set<UdpPath>;
  /** txids of this peer's accepted probes (sized by its paths). */
  replay: UdpReplayCache;
}

interface Punch {
  round: TimerHandle | null;
  deadline: TimerHandle | null;
  found: boolean;
  /** Punch probes this attempt sent (MAX_PUNCH_PROBES_PER_ATTEMPT). */
  sent: number;
}

interface Outstanding {
  peerHex: string;
  purpose: number;
  size: number;
  path: UdpPath | null;
}

const OPTION_KEYS = Object.keys(UDP_TRANSPORT_DEFAULTS);

function optionError(name: string, value: unknown, expected: string): ConfigError {
  return new ConfigError(PathCode.OPTION, `UDP transport option ${name}: expected ${expected}, got ${JSON.stringify(value) ?? String(value)}`);
}

function resolveOptions(options: UdpTransportOptions): Readonly<ResolvedOptions> {
  if (options === null || typeof options !== 'object') throw optionError('options', options, 'an object');
  for (const key of Object.keys(options)) if (!OPTION_KEYS.includes(key)) throw new ConfigError(PathCode.OPTION, `UDP transport option ${key}: unknown option`);
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const o = { ...UDP_TRANSPORT_DEFAULTS, ...defined } as ResolvedOptions;
  const int = (name: string, v: unknown, min: number, max: number): void => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw optionError(name, v, `an integer in [${min}, ${max}]`);
  };
  if (typeof o.listenHost !== 'string' || isIP(o.listenHost) === 0) throw optionError('listenHost', o.listenHost, 'an IPv4 or IPv6 address');
  int('listenPort', o.listenPort, 0, 0xffff);
  int('stunIntervalMs', o.stunIntervalMs, 1_000, 3_600_000);
  int('punchIntervalMs', o.punchIntervalMs, 10, 60_000);
  int('punchTimeoutMs', o.punchTimeoutMs, 100, 600_000);
  int('skewMs', o.skewMs, 0, 3_600_000);
  int('initialMaxDatagram', o.initialMaxDatagram, 576 - 28, MAX_UDP_DATAGRAM_BYTES);
  int('maxSendQueueBytes', o.maxSendQueueBytes, 64 * 1024, Number.MAX_SAFE_INTEGER);
  if (typeof o.allowLoopbackCandidates !== 'boolean') throw optionError('allowLoopbackCandidates', o.allowLoopbackCandidates, 'a boolean');
  if (!Array.isArray(o.stunServers) || o.stunServers.some((s) => typeof s?.host !== 'string' || s.host === '' || !Number.isInteger(s.port) || s.port < 1 || s.port > 0xffff)) {
    throw optionError('stunServers', o.stunServers, 'an array of { host, port (1..65535) }');
  }
  return Object.freeze({ ...o, stunServers: Object.freeze(o.stunServers.map((s) => Object.freeze({ host: s.host, port: s.port }))) });
}

function remoteKey(address: string, port: number): string {
  return `${address}|${port}`;
}

export class UdpTransport extends EventEmitter implements UdpPathHost {
  readonly stats: UdpTransportStats = {
    punches: 0, punchProbes: 0, established: 0, roams: 0,
    drops: { unknown_source: 0, malformed: 0, unknown_peer: 0, bad_mac: 0, stale: 0, replay: 0, ack_unknown: 0, rate_limited: 0, socket_error: 0, self: 0, path_limit: 0, unauthenticated_probe: 0, not_peer_frame: 0 },
    sends: { native: 0, segmented: 0, dgram: 0 },
    receives: { native: 0, dgram: 0 },
    candidatesRefused: newRefusalCounts(),
  };
  readonly maxSendQueueBytes: number;
  readonly #deps: UdpTransportDeps;
  readonly #o: Readonly<ResolvedOptions>;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #localPeerId: Uint8Array;
  #socket: Socket | null = null;
  /** Sends on #socket's fd without dgram's per-datagram request (null: dgram alone); dropped with #socket. */
  #nativeSend: UdpNativeSend | null = null;
  /** Reads #socket in batches instead of dgram (null: dgram reads); stopped before #socket closes. */
  #nativeReceive: UdpNativeReceive | null = null;
  #dualStack = false;
  /** The bound socket's destinations (udp-send-address.ts): parsed once per remote, not per datagram. */
  #sendAddresses = new UdpSendAddresses(false);
  #port = 0;
  #state: 'idle' | 'running' | 'stopped' = 'idle';
  #discovery: ReflexiveDiscovery | null = null;
  #candidates: PathCandidate[] = [];
  readonly #peers = new Map<string, PeerUdp>();
  /** remoteKey -> the path at that address (open, or closed and draining). */
  readonly #byRemote = new Map<string, UdpPath>();
  readonly #outstanding = new Map<string, Outstanding>();
  readonly #probeBack = new Map<string, number>();
  #verifyWindowStart = 0;
  #verifyWindowCount = 0;

  constructor(deps: UdpTransportDeps, options: UdpTransportOptions = {}) {
    super();
    if (deps === null || typeof deps !== 'object' || typeof deps.pathAuthKeys !== 'function') throw optionError('deps', deps, 'an object with pathAuthKeys()');
    if (!(deps.localPeerId instanceof Uint8Array) || deps.localPeerId.length !== PEER_ID_BYTES) throw optionError('deps.localPeerId', deps.localPeerId, `${PEER_ID_BYTES} bytes`);
    this.#deps = deps;
    this.#o = resolveOptions(options);
    this.#clock = deps.clock ?? systemClock;
    this.#log = deps.logger ?? silentLogger;
    this.#localPeerId = Uint8Array.from(deps.localPeerId);
    this.maxSendQueueBytes = this.#o.maxSendQueueBytes;
  }

  get options(): Readonly<ResolvedOptions> {
    return this.#o;
  }

  /** The bound UDP port (0 before start). */
  get port(): number {
    return this.#port;
  }

  /** Our NAT's mapping behaviour as STUN answers show it. */
  get natMapping(): NatMapping {
    return this.#discovery?.mapping ?? 'unknown';
  }

  /** STUN answers received and queries failed (udp-reflexive.ts), since start. */
  get stunStats(): Readonly<{ answers: number; failures: number }> {
    return this.#discovery?.stats ?? { answers: 0, failures: 0 };
  }

  /** Reflexive addresses STUN servers reported (copies). */
  get reflexive(): StunAddress[] {
    return this.#discovery?.reflexive ?? [];
  }

  /** Open UDP paths to a peer (copies of the set). */
  pathsTo(peerId: Uint8Array): UdpPath[] {
    return [...(this.#peers.get(toHex(peerId))?.paths ?? [])].filter((p) => !p.closed);
  }

  // ------------------------------------------------------------ lifecycle

  async start(): Promise<void> {
    if (this.#state !== 'idle') throw new ConfigError(PathCode.ARG, `UdpTransport.start: already ${this.#state}`);
    const host = this.#o.listenHost;
    const v6 = isIP(host) === 6;
    let socket: Socket;
    try {
      socket = await this.#bind(v6 ? 'udp6' : 'udp4', host);
      this.#dualStack = v6;
    } catch (err) {
      if (host !== '::') throw err;
      socket = await this.#bind('udp4', '0.0.0.0'); // no IPv6 on this host
      this.#dualStack = false;
    }
    this.#socket = socket;
    const addon = this.#deps.datagramAddon;
    this.#nativeSend = addon === null ? null : UdpNativeSend.forSocket(socket, this.#dualStack ? 6 : 4, addon);
    this.#port = socket.address().port;
    // A 64 KiB frame is ~45 datagrams: the default socket buffers hold only a few (udp-socket-buffers.ts).
    const buffers = raiseSocketBuffers(socket, UDP_SOCKET_BUFFER_BYTES);
    if (buffers.granted < UDP_SOCKET_BUFFER_BYTES) {
      this.#log.warn('UDP receive buffer smaller than asked: bursts on UDP paths may be dropped (run with CAP_NET_ADMIN, or raise net.core.rmem_max and net.core.wmem_max)', {
        grantedBytes: buffers.granted, askedBytes: UDP_SOCKET_BUFFER_BYTES,
      });
    }
    this.#state = 'running';
    socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
      this.stats.receives.dgram++;
      this.#onDatagram(msg, unmapIpv4(rinfo.address), rinfo.port); // the socket's text is canonical but for the IPv4-mapped form
    });
    this.#nativeReceive = addon === null ? null : UdpNativeReceive.forSocket(socket, (msg, address, port) => {
      this.stats.receives.native++;
      this.#onDatagram(msg, address, port);
    }, addon);
    socket.on('error', () => { this.stats.drops.socket_error++; });
    const discovery = new ReflexiveDiscovery(
      {
        send: (bytes, port, address) => { this.sendDatagram(bytes, canonicalIpText(address) ?? address, port); },
        localAddresses: () => this.#hostAddresses().map((address) => ({ address: canonicalIpText(address) ?? address, port: this.#port })),
        dualStack: this.#dualStack,
        clock: this.#clock,
        logger: this.#log,
      },
      { servers: this.#o.stunServers, intervalMs: this.#o.stunIntervalMs },
    );
    discovery.on('changed', () => this.#updateCandidates());
    discovery.on('nat', (mapping: NatMapping) => this.emit('nat', mapping));
    this.#discovery = discovery;
    this.#updateCandidates();
    this.#log.debug('UDP socket up', { port: this.#port });
    // STUN runs in the background: the interface candidates are usable now, the reflexive ones
    // follow in a 'candidates' event (a STUN server that does not answer must not delay start).
    discovery.start();
  }

  #bind(type: 'udp4' | 'udp6', host: string): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const addresses = new UdpSendAddresses(type === 'udp6');
      const s = createSocket({ type, ipv6Only: false, reuseAddr: false, lookup: addresses.lookup });
      const onError = (err: Error): void => {
        s.close();
        reject(new ConfigError(PathCode.OPTION, `UDP transport: cannot bind ${host}:${this.#o.listenPort}: ${err.message}`));
      };
      s.once('error', onError);
      s.bind({ address: host, port: this.#o.listenPort, exclusive: true }, () => {
        s.off('error', onError);
        this.#sendAddresses = addresses;
        resolve(s);
      });
    });
  }

  async stop(): Promise<void> {
    if (this.#state !== 'running') {
      this.#state = 'stopped';
      return;
    }
    this.#state = 'stopped';
    this.#discovery?.stop();
    for (const p of this.#peers.values()) this.#endPunch(p);
    for (const path of [...this.#byRemote.values()]) path.close('stopping');
    this.#byRemote.clear();
    this.#outstanding.clear();
    const s = this.#socket;
    this.#socket = null;
    this.#nativeSend = null; // before the fd closes: its number may be reused
    this.#nativeReceive?.stop();
    this.#nativeReceive = null;
    if (s !== null) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  // ------------------------------------------------------------ candidates and STUN

  /** Our UDP candidates: reflexive addresses first (they cross NATs), then interface addresses, all with our port. */
  localCandidates(): PathCandidate[] {
    return this.#candidates.map((c) => ({ ...c }));
  }

  #hostAddresses(): string[] {
    return listenAddresses(this.#o.listenHost, this.#dualStack).map((a) => canonicalIpText(a) ?? a);
  }

  #updateCandidates(): void {
    const seen = new Set<string>();
    const next: PathCandidate[] = [];
    const add = (address: string, port: number, reflexive: boolean): void => {
      const a = canonicalIpText(address) ?? address;
      const k = remoteKey(a, port);
      if (seen.has(k) || next.length >= MAX_PATH_CANDIDATES || this.#deps.rendezvous?.isMeshAddress(a) === true) return;
      if (!this.#dualStack && isIP(a) === 6) return;
      seen.add(k);
      next.push({ address: a, port, transport: 'udp', reflexive });
    };
    // A STUN answer (by default the relay's) is someone else's word: peers would probe it.
    const policy = this.#candidatePolicy();
    for (const r of this.reflexive) {
      const why = candidateRefusal(r.address, r.port, policy);
      if (why === null) add(r.address, r.port, true);
      else this.stats.candidatesRefused[why]++;
    }
    for (const h of this.#hostAddresses()) add(h, this.#port, false);
    const same = next.length === this.#candidates.length && next.every((c, i) => {
      const o = this.#candidates[i]!;
      return o.address === c.address && o.port === c.port && o.reflexive === c.reflexive;
    });
    if (same) return;
    this.#candidates = next;
    this.emit('candidates', this.localCandidates());
  }

  /** Ask every STUN server now (reflexive candidates and NAT classification). Never rejects. */
  async refreshReflexive(): Promise<void> {
    await this.#discovery?.refresh();
  }

  // ------------------------------------------------------------ peers

  #peer(peerId: Uint8Array): PeerUdp {
    const hex = toHex(peerId);
    let p = this.#peers.get(hex);
    if (p === undefined) {
      p = { id: Uint8Array.from(peerId), hex, candidates: [], punch: null, paths: new Set(), replay: new UdpReplayCache(this.#o.skewMs) };
      this.#peers.set(hex, p);
    }
    return p;
  }

  /** The peer's UDP candidates from its latest verified PATH_OFFER. */
  setPeerCandidates(peerId: Uint8Array, candidates: readonly PathCandidate[]): void {
    if (!(peerId instanceof Uint8Array) || peerId.length !== PEER_ID_BYTES) throw new ConfigError(PathCode.ARG, 'setPeerCandidates: expected a 32-byte peer id');
    const p = this.#peer(peerId);
    p.candidates = candidates
      .filter((c) => (c.transport ?? 'wss') === 'udp')
      .map((c) => ({ ...c, address: canonicalIpText(c.address) ?? c.address }))
      .filter((c) => this.#deps.rendezvous?.isMeshAddress(c.address) !== true && (this.#dualStack || isIP(c.address) === 4))
      // Interface addresses first: a LAN answer should win the race when there is one.
      .sort((a, b) => Number(a.reflexive === true) - Number(b.reflexive === true));
    // docs/protocol.md §3.5.6: never probe unspecified, multicast, broadcast or (off loopback) loopback addresses.
    p.candidates = filterCandidates(p.candidates, this.#candidatePolicy(), this.stats.candidatesRefused, MAX_PUNCH_TARGETS);
  }

  /** What we may probe (candidate-filter.ts). */
  #candidatePolicy(): CandidatePolicy {
    return { loopbackAllowed: this.#o.allowLoopbackCandidates || isLoopbackAddress(this.#o.listenHost), broadcasts: interfaceBroadcasts() };
  }

  /** Whether connect(peerId) has something to punch: the socket runs and the peer's offer left UDP candidates we may probe. */
  canReach(peerId: Uint8Array): boolean {
    if (this.#state !== 'running') return false;
    const p = this.#peers.get(toHex(peerId));
    return p !== undefined && p.candidates.length > 0;
  }

  /** Forget a peer (it left): its paths close, its punch stops. */
  forgetPeer(peerId: Uint8Array): void {
    const p = this.#peers.get(toHex(peerId));
    if (p === undefined) return;
    this.#endPunch(p);
    for (const path of [...p.paths]) path.close('peer_forgotten');
    this.#peers.delete(p.hex);
  }

  // ------------------------------------------------------------ hole punching

  /** Punch towards every UDP candidate of the peer; the outcome is a 'path' or a 'connect_failed'. A punch under way is left alone. */
  connect(peerId: Uint8Array): void {
    if (!(peerId instanceof Uint8Array) || peerId.length !== PEER_ID_BYTES) throw new ConfigError(PathCode.ARG, 'connect: expected a 32-byte peer id');
    if (this.#state !== 'running') {
      // No socket (it failed to bind, or we stopped): say so, so a combined attempt is not left waiting on us.
      this.emit('connect_failed', Uint8Array.from(peerId), [UdpCode.NOT_RUNNING]);
      return;
    }
    const p = this.#peer(peerId);
    if (p.punch !== null) return;
    // A direct attempt often follows a lost path, and a lost path often means our NAT mapping changed
    // (it expired, the router restarted): re-ask STUN now, so a new reflexive address reaches the peer in
    // our next offer within a round trip instead of at the next periodic refresh.
    this.#discovery?.refreshIfOlderThan(STUN_ON_CONNECT_MIN_AGE_MS);
    if (this.#deps.pathAuthKeys(p.id).length === 0) {
      this.emit('connect_failed', Uint8Array.from(p.id), [UdpCode.NO_SESSION]);
      return;
    }
    if (p.candidates.length === 0) {
      this.emit('connect_failed', Uint8Array.from(p.id), [UdpCode.NO_CANDIDATES]);
      return;
    }
    this.stats.punches++;
    const punch: Punch = { round: null, deadline: null, found: false, sent: 0 };
    p.punch = punch;
    punch.deadline = this.#clock.schedule(this.#o.punchTimeoutMs, () => {
      if (p.punch !== punch) return;
      this.#endPunch(p);
      if (!punch.found && this.#state === 'running') this.emit('connect_failed', Uint8Array.from(p.id), [UdpCode.TIMEOUT]);
    });
    const round = (): void => {
      if (p.punch !== punch || punch.found || this.#state !== 'running') return;
      for (const c of p.candidates) {
        if (punch.sent >= MAX_PUNCH_PROBES_PER_ATTEMPT) return; // the deadline still ends the attempt
        punch.sent++;
        this.#sendProbe(p, UdpProbePurpose.Punch, c.address, c.port, null, 0);
      }
      punch.round = this.#clock.schedule(this.#o.punchIntervalMs, round);
    };
    round();
  }

  #endPunch(p: PeerUdp): void {
    const punch = p.punch;
    if (punch === null) return;
    p.punch = null;
    punch.round?.cancel();
    punch.deadline?.cancel();
  }

  /** Send an authenticated probe (not an ack); returns false when there is no key or the socket refused. */
  #sendProbe(p: PeerUdp, purpose: UdpProbePurpose, address: string, port: number, path: UdpPath | null, padTo: number, embed?: Uint8Array): boolean {
    const key = this.#deps.pathAuthKeys(p.id)[0];
    if (key === undefined) return false;
    const txid = randomBytes(UDP_TXID_BYTES);
    const embedBytes = embed ?? new Uint8Array(0);
    const padding = Math.max(0, padTo - (MIN_UDP_PROBE_BYTES + embedBytes.length));
    const bytes = sealUdpProbe({ ack: false, purpose, senderPeerId: this.#localPeerId, txid, timestampMs: this.#clock.now(), embed: embedBytes, padding }, key);
    if (purpose === UdpProbePurpose.Punch || purpose === UdpProbePurpose.Mtu) {
      if (this.#outstanding.size >= MAX_OUTSTANDING) {
        const oldest = this.#outstanding.keys().next();
        if (oldest.done !== true) this.#outstanding.delete(oldest.value);
      }
      this.#outstanding.set(toHex(txid), { peerHex: p.hex, purpose, size: bytes.length, path });
      if (purpose === UdpProbePurpose.Punch) this.stats.punchProbes++;
    }
    return this.sendDatagram(bytes, address, port);
  }

  #sendAck(p: PeerUdp, probe: UdpProbe, address: string, port: number, embed?: Uint8Array): void {
    const key = this.#deps.pathAuthKeys(p.id)[0];
    if (key === undefined) return;
    const txid = probe.purpose === UdpProbePurpose.Liveness ? randomBytes(UDP_TXID_BYTES) : Uint8Array.from(probe.txid);
    const bytes = sealUdpProbe({ ack: true, purpose: probe.purpose, senderPeerId: this.#localPeerId, txid, timestampMs: this.#clock.now(), embed: embed ?? new Uint8Array(0), padding: 0 }, key);
    this.sendDatagram(bytes, address, port);
  }

  // ------------------------------------------------------------ UdpPathHost

  sendDatagram(bytes: Uint8Array, address: string, port: number): boolean {
    const s = this.#socket;
    if (s === null) return false;
    const to = this.#sendAddresses.target(address);
    try {
      // Straight to the kernel while dgram holds nothing queued, so order is kept; dgram queues what the
      // socket cannot take now (and sends it all when the addon is missing).
      if (this.#nativeSend !== null && s.getSendQueueCount() === 0 && this.#nativeSend.send(bytes, to, port)) {
        this.stats.sends.native++;
        return true;
      }
      s.send(Buffer.from(bytes), port, to); // a copy: dgram may hold it past this call, the caller may reuse its buffer
      this.stats.sends.dgram++;
      return true;
    } catch {
      this.stats.drops.socket_error++;
      return false;
    }
  }

  sendDatagrams(bytes: Uint8Array, segment: number, address: string, port: number): boolean {
    const s = this.#socket;
    if (s === null) return false;
    let off = 0;
    if (this.#nativeSend !== null && s.getSendQueueCount() === 0) {
      off = this.#nativeSend.sendSegments(bytes, segment, this.#sendAddresses.target(address), port);
      this.stats.sends.segmented += Math.ceil(off / segment);
    }
    // What the offload did not take (none here, a full socket, a refusal): one datagram at a time, in order.
    for (; off < bytes.length; off += segment) {
      if (!this.sendDatagram(bytes.subarray(off, Math.min(bytes.length, off + segment)), address, port)) return false;
    }
    return true;
  }

  unauthenticatedDrop(reason: 'unauthenticated_probe' | 'not_peer_frame'): void {
    this.stats.drops[reason]++;
  }

  sendQueueBytes(): number {
    try {
      return this.#socket?.getSendQueueSize() ?? 0;
    } catch {
      return 0;
    }
  }

  sendLiveness(path: UdpPath, embedded: Uint8Array): boolean {
    const p = this.#peers.get(toHex(path.peerId));
    if (p === undefined) return false;
    const isAck = embedded[HEADER_TYPE_OFFSET] === PATH_PROBE_ACK_TYPE; // answer as an ack so the peer's manager gets it
    if (!isAck) return this.#sendProbe(p, UdpProbePurpose.Liveness, path.address, path.port, path, 0, embedded);
    const key = this.#deps.pathAuthKeys(p.id)[0];
    if (key === undefined) return false;
    const bytes = sealUdpProbe({ ack: true, purpose: UdpProbePurpose.Liveness, senderPeerId: this.#localPeerId, txid: randomBytes(UDP_TXID_BYTES), timestampMs: this.#clock.now(), embed: embedded, padding: 0 }, key);
    return this.sendDatagram(bytes, path.address, path.port);
  }

  pathClosed(path: UdpPath, reason: string): void {
    const p = this.#peers.get(toHex(path.peerId));
    if (p !== undefined) {
      p.paths.delete(path);
      this.#forgetPunchProbes(p);
      // Tell the other end now rather than let it find out at its probe timeout (twice: one may be lost).
      if (reason !== 'stopping' || this.#state === 'running') {
        for (let i = 0; i < 2; i++) this.#sendProbe(p, UdpProbePurpose.Close, path.address, path.port, null, 0);
      }
    }
    this.#drainThenForget(path);
  }

  /** A path of `p` closed: answers to punch probes sent before must not open a new one (only a new connect() or the peer's punch may). */
  #forgetPunchProbes(p: PeerUdp): void {
    for (const [k, o] of this.#outstanding) if (o.peerHex === p.hex && o.purpose === UdpProbePurpose.Punch) this.#outstanding.delete(k);
  }

  #drainThenForget(path: UdpPath): void {
    const k = remoteKey(path.address, path.port);
    if (this.#state !== 'running') {
      if (this.#byRemote.get(k) === path) this.#byRemote.delete(k);
      return;
    }
    this.#clock.schedule(UDP_CLOSE_DRAIN_MS, () => {
      if (this.#byRemote.get(k) === path) this.#byRemote.delete(k);
    });
  }

  // ------------------------------------------------------------ receiving

  /** A datagram from `address` (canonical text, IPv4 unmapped) and `port`: unauthenticated, possibly spoofed. */
  #onDatagram(msg: Buffer, address: string, port: number): void {
    if (this.#state !== 'running') return;
    const type = datagramType(msg);
    if (type === UdpFrameType.UdpProbe || type === UdpFrameType.UdpProbeAck) return this.#onProbe(msg, address, port);
    const path = this.#byRemote.get(remoteKey(address, port));
    if (path !== undefined) return path.receiveDatagram(msg);
    if (isStunMessage(msg) && this.#discovery?.onMessage(msg, { address, port }) === true) return;
    this.stats.drops.unknown_source++;
  }

  #onProbe(msg: Buffer, address: string, port: number): void {
    const drops = this.stats.drops;
    const pathHere = this.#byRemote.get(remoteKey(address, port));
    if (pathHere === undefined || pathHere.closed) {
      const now = this.#clock.now();
      if (now - this.#verifyWindowStart >= 1_000) {
        this.#verifyWindowStart = now;
        this.#verifyWindowCount = 0;
      }
      if (++this.#verifyWindowCount > UNPATHED_VERIFY_PER_SECOND) {
        drops.rate_limited++;
        return;
      }
    }
    let probe: UdpProbe;
    try {
      probe = decodeUdpProbe(msg);
    } catch {
      drops.malformed++;
      return;
    }
    const hex = toHex(probe.senderPeerId);
    if (hex === toHex(this.#localPeerId)) {
      drops.self++;
      return;
    }
    const p = this.#peers.get(hex);
    if (p === undefined) {
      drops.unknown_peer++;
      return;
    }
    const keys = this.#deps.pathAuthKeys(p.id);
    if (keys.length === 0) {
      drops.unknown_peer++;
      return;
    }
    if (!verifyUdpProbe(probe, keys)) {
      drops.bad_mac++;
      return;
    }
    const now = this.#clock.now();
    if (Math.abs(now - probe.timestampMs) > this.#o.skewMs) {
      drops.stale++;
      return;
    }
    if (probe.ack) this.#onAck(p, probe, address, port, pathHere);
    else this.#onRequest(p, probe, address, port, pathHere, now);
  }

  #isReplay(p: PeerUdp, probe: UdpProbe, now: number): boolean {
    let open = 0;
    for (const path of p.paths) if (!path.closed) open++;
    return p.replay.checkAndRecord(probe.txid, probe.timestampMs, now, (open + 1) * UDP_REPLAY_ENTRIES_PER_PATH);
  }

  #onRequest(p: PeerUdp, probe: UdpProbe, address: string, port: number, pathHere: UdpPath | undefined, now: number): void {
    if (this.#isReplay(p, probe, now)) {
      this.stats.drops.replay++;
      return;
    }
    switch (probe.purpose) {
      case UdpProbePurpose.Punch:
      case UdpProbePurpose.Mtu:
        this.#sendAck(p, probe, address, port);
        // The source is the peer's mapping towards us: probe it back, so our side gets a path too.
        if (probe.purpose === UdpProbePurpose.Punch && (pathHere === undefined || pathHere.closed)) this.#probeBackTo(p, address, port, now);
        return;
      case UdpProbePurpose.Liveness: {
        const path = this.#pathFor(p, pathHere, address, port);
        if (path === null) return;
        path.deliverAuthenticated(Uint8Array.from(probe.embed), now); // the PATH_PROBE; the manager answers through path.send
        return;
      }
      case UdpProbePurpose.Close:
        if (pathHere !== undefined && !pathHere.closed && p.paths.has(pathHere)) {
          p.paths.delete(pathHere);
          this.#forgetPunchProbes(p);
          this.#drainThenForget(pathHere);
          pathHere.closeFromRemote('remote_closed');
        }
        return;
      default:
        this.stats.drops.malformed++;
    }
  }

  #onAck(p: PeerUdp, probe: UdpProbe, address: string, port: number, pathHere: UdpPath | undefined): void {
    if (probe.purpose === UdpProbePurpose.Liveness) {
      if (this.#isReplay(p, probe, this.#clock.now())) {
        this.stats.drops.replay++;
        return;
      }
      const path = this.#pathFor(p, pathHere, address, port);
      if (path !== null) path.deliverAuthenticated(Uint8Array.from(probe.embed), this.#clock.now()); // the PATH_PROBE_ACK, for the manager's RTT and trust
      return;
    }
    const key = toHex(probe.txid);
    const o = this.#outstanding.get(key);
    if (o === undefined || o.peerHex !== p.hex || o.purpose !== probe.purpose) {
      this.stats.drops.ack_unknown++;
      return;
    }
    this.#outstanding.delete(key);
    if (probe.purpose === UdpProbePurpose.Mtu) {
      if (o.path !== null && !o.path.closed) o.path.maxDatagram = Math.max(o.path.maxDatagram, o.size);
      return;
    }
    // Punch answered: the address it came from reaches the peer's session holder.
    if (pathHere !== undefined && !pathHere.closed) return;
    this.#newPath(p, address, port);
  }

  /** The open path of `p` at this address, or (roaming) its most recently heard path moved here. */
  #pathFor(p: PeerUdp, pathHere: UdpPath | undefined, address: string, port: number): UdpPath | null {
    if (pathHere !== undefined && !pathHere.closed && p.paths.has(pathHere)) return pathHere;
    if (pathHere !== undefined && !pathHere.closed) {
      this.stats.drops.unknown_source++; // another peer's path address: never moved
      return null;
    }
    let best: UdpPath | null = null;
    for (const path of p.paths) if (!path.closed && (best === null || path.lastReceiveMs > best.lastReceiveMs)) best = path;
    if (best === null) {
      this.stats.drops.unknown_source++;
      return null;
    }
    const oldKey = remoteKey(best.address, best.port);
    if (this.#byRemote.get(oldKey) === best) this.#byRemote.delete(oldKey);
    this.#log.info(`${p.hex.slice(0, 8)} UDP path moved`, { from: best.remote, to: formatHostPort(address, port) });
    best.moveTo(address, port);
    this.#byRemote.set(remoteKey(address, port), best);
    this.stats.roams++;
    return best;
  }

  #probeBackTo(p: PeerUdp, address: string, port: number, now: number): void {
    const k = remoteKey(address, port);
    const last = this.#probeBack.get(k);
    if (!probeBackDue(last, now)) return;
    this.#probeBack.delete(k);
    if (this.#probeBack.size >= MAX_PROBE_BACK_SOURCES) {
      const oldest = this.#probeBack.keys().next();
      if (oldest.done !== true) this.#probeBack.delete(oldest.value);
    }
    this.#probeBack.set(k, now);
    this.#sendProbe(p, UdpProbePurpose.Punch, address, port, null, 0);
  }

  #newPath(p: PeerUdp, address: string, port: number): void {
    let open = 0;
    for (const path of p.paths) if (!path.closed) open++;
    if (open >= MAX_UDP_PATHS_PER_PEER) {
      this.stats.drops.path_limit++;
      return;
    }
    const path = new UdpPath({ host: this, peerId: p.id, address, port, maxDatagram: this.#o.initialMaxDatagram, clock: this.#clock });
    p.paths.add(path);
    this.#byRemote.set(remoteKey(address, port), path);
    this.stats.established++;
    const punch = p.punch;
    if (punch !== null && !punch.found) {
      punch.found = true;
      punch.round?.cancel();
      punch.deadline?.cancel();
      punch.deadline = this.#clock.schedule(PUNCH_GRACE_MS, () => { if (p.punch === punch) this.#endPunch(p); });
    }
    this.#log.debug(`${p.hex.slice(0, 8)} UDP path up`, { remote: path.remote });
    this.emit('path', Uint8Array.from(p.id), path);
    this.#probeMtu(p, path);
    this.#clock.schedule(UDP_MTU_REPROBE_MS, () => { if (!path.closed && this.#state === 'running') this.#probeMtu(p, path); });
  }

  #probeMtu(p: PeerUdp, path: UdpPath): void {
    for (const size of UDP_MTU_PROBE_SIZES) {
      if (size > path.maxDatagram) this.#sendProbe(p, UdpProbePurpose.Mtu, path.address, path.port, path, size);
    }
  }
}
