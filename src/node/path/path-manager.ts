/**
 * The paths to every peer, and which one carries the next frame (docs/architecture.md
 * "Path choice"; docs/conventions.md §7). It is the FrameTransport the
 * PeerManager sends through, and the single receive point for all paths.
 *
 * Per peer it holds the relay path (the floor, always there) and any direct
 * paths the direct transport hands over with addDirectPath(). The pure
 * selector (selector.ts) picks the send path; all timing — probes, trust
 * windows, dead paths, drains, retries — is decided in path-timers.ts.
 *
 * Migration is a change of the selected path and nothing else: the session
 * keys, counters and replay window are the PeerManager's and stay as they
 * are, so no handshake is forced. Zero loss:
 *  - every frame handed to send() goes out on the selected path; if that
 *    direct path refuses it (closed under us, backpressure), another direct
 *    path that has answered a probe takes it, else the relay (a peer closing
 *    the path we selected while the relay is away must not cost a frame);
 *  - while the selected direct path's trust window has lapsed, frames are
 *    MIRRORED on the relay too, until a probe answers or the path is
 *    declared dead. The receiver's onFrame may then see a frame twice: the
 *    session's replay window drops the copy (that is its job), so mirroring
 *    costs bandwidth, never correctness;
 *  - a path we migrated away from keeps delivering what arrives on it, and
 *    is closed only after the drain time (MIGRATION_DRAIN_MS). Frames in
 *    flight on it land after newer frames on the new path; the replay window
 *    accepts reordering within its width. A WSS path left for a UDP one is
 *    not closed: it stands by for when the UDP path dies;
 *  - of two WSS paths to one peer (each side dialed one), both ends keep
 *    the one the lower peer id dialed and drain the other (#reselect,
 *    selector.ts rule 6).
 *
 * Receiving: every path's frames go to `onFrame(peerId, bytes)`, set once by
 * the owner (the PeerManager's onFrame), except path probes, which are
 * answered or measured here. Probes on the relay path and malformed probes
 * are dropped and counted. The owner feeds relay deliveries in through
 * onRelayFrame().
 *
 * Events (peer ids are this manager's copies; do not mutate them):
 *  'migrated' (peerId, MigrationEvent)      the selected path changed
 *  'migration_complete' (peerId, durationMs) first frame sent on a newly selected direct path
 *  'fallback' (peerId, reason)              a selected direct path was lost; traffic is on the relay
 *  'mirror' (peerId, on: boolean)           mirroring on the relay started / ended
 *  'want_direct' (peerId)                   please (re)connect a direct path (backoff applied)
 *  'want_upgrade' (peerId)                  a WSS path carries, please try for a UDP path (backoff applied)
 *  'retry' (peerId, 'ok' | 'failed')        outcome of a direct attempt
 *
 * Reentrancy: send() and the receive path may run inside a path's callbacks;
 * state is updated before every event is emitted.
 */
import { EventEmitter } from 'node:events';
import { ConfigError, SmError } from '../../errors.js';
import { equalBytes, toHex } from '../../crypto/bytes.js';
import type { Clock } from '../../util/clock.js';
import { systemClock } from '../../util/clock.js';
import type { Logger } from '../../util/logger.js';
import { silentLogger } from '../../util/logger.js';
import type { FrameTransport, Path, PathCarrier, PathKind } from './path.js';
import { allocFrameWithHeadroom } from '../dataplane/frame-headroom.js';
import { carrierRank, directPathRank, isOnLinkNow, type OnLinkTest } from './path-rank.js';
import { PathCode } from './path-errors.js';
import { PathTimers, type ActivityTimes, type AttemptOutcome, type DirectTimes, type PathTimerOptions, type RetryTimes } from './path-timers.js';
import { decodeProbe, encodeProbe, isProbeType } from './probe-frames.js';
import { RelayPath, type RelaySender } from './relay-path.js';
import { RTT_WINDOW_MS, RttWindow } from './rtt-window.js';
import { SELECT_RTT_MARGIN_MS, SELECT_RTT_MARGIN_RATIO, isTrusted, selectPath, type Candidate, type SelectorPolicy, type SelectReason } from './selector.js';

/** Most direct paths kept per peer: both sides connect at once and a peer may
 *  have several candidate addresses; beyond this the oldest unselected goes. */
export const MAX_DIRECT_PATHS_PER_PEER = 4;
/** Upper bound on peers tracked (same order as the PeerManager's). */
export const DEFAULT_MAX_PATH_PEERS = 4_096;
/** Probes awaiting an answer, per path: every probe sent from the last answer
 *  until the path is dead, at the late cadence (path-timers.ts
 *  LATE_PROBE_INTERVAL_MS; 1.6 s / 100 ms = 16), with room to spare, so a slow
 *  answer is still recognised when it comes. */
const MAX_OUTSTANDING_PROBES = 24;

export interface PathManagerOptions {
  timers?: Partial<PathTimerOptions>;
  rttMarginMs?: number;
  rttMarginRatio?: number;
  /** How far back a path's RTT estimate (a windowed minimum) reaches. */
  rttWindowMs?: number;
  maxDirectPathsPerPeer?: number;
  maxPeers?: number;
}

interface ResolvedOptions {
  rttMarginMs: number;
  rttMarginRatio: number;
  rttWindowMs: number;
  maxDirectPathsPerPeer: number;
  maxPeers: number;
}

const DEFAULTS: Readonly<ResolvedOptions> = Object.freeze({
  rttMarginMs: SELECT_RTT_MARGIN_MS,
  rttMarginRatio: SELECT_RTT_MARGIN_RATIO,
  rttWindowMs: RTT_WINDOW_MS,
  maxDirectPathsPerPeer: MAX_DIRECT_PATHS_PER_PEER,
  maxPeers: DEFAULT_MAX_PATH_PEERS,
});

function resolveOptions(o: PathManagerOptions): Readonly<ResolvedOptions> {
  const bad = (k: string, want: string, v: unknown): never => {
    throw new ConfigError(PathCode.OPTION, `PathManager ${k}: expected ${want}, got ${String(v)}`);
  };
  if (typeof o !== 'object' || o === null) bad('options', 'an object', o);
  for (const k of Object.keys(o)) if (k !== 'timers' && !(k in DEFAULTS)) bad(k, 'a known option', 'an unknown key');
  const r: ResolvedOptions = { ...DEFAULTS };
  for (const k of Object.keys(DEFAULTS) as (keyof ResolvedOptions)[]) {
    const v = o[k];
    if (v !== undefined) r[k] = v;
  }
  if (!(Number.isFinite(r.rttMarginMs) && r.rttMarginMs >= 0)) bad('rttMarginMs', 'a number >= 0', r.rttMarginMs);
  if (!(Number.isFinite(r.rttMarginRatio) && r.rttMarginRatio >= 0 && r.rttMarginRatio < 1)) bad('rttMarginRatio', 'a number in [0, 1)', r.rttMarginRatio);
  if (!Number.isInteger(r.rttWindowMs) || r.rttWindowMs < 1 || r.rttWindowMs > 3_600_000) bad('rttWindowMs', 'an integer number of ms in [1, 3600000]', r.rttWindowMs);
  if (!Number.isInteger(r.maxDirectPathsPerPeer) || r.maxDirectPathsPerPeer < 1 || r.maxDirectPathsPerPeer > 64) bad('maxDirectPathsPerPeer', 'an integer in [1, 64]', r.maxDirectPathsPerPeer);
  if (!Number.isInteger(r.maxPeers) || r.maxPeers < 1) bad('maxPeers', 'an integer >= 1', r.maxPeers);
  return Object.freeze(r);
}

export interface PathManagerDeps {
  /** The relay link (RelayLink satisfies it). */
  relay: RelaySender;
  clock?: Clock;
  logger?: Logger;
  /** Uniform in [0, 1), for retry jitter. */
  random?: () => number;
  /** Whether the directory lists `peerId`: relay deliveries from anyone else get no per-peer state here (they still
   *  reach onFrame, whose owner drops them). Without it every sender is tracked. */
  isMember?: (peerId: Uint8Array) => boolean;
  /** Whether a remote address is on a link of this machine (path-rank.ts); default: this machine's interfaces,
   *  read once per new path or new remote. */
  onLink?: OnLinkTest;
  /** Whether a UDP path to `peerId` may be had (the UDP transport runs and knows the peer's UDP candidates, the
   *  policy allows it): while a WSS path is selected and no UDP path exists, the manager then asks for one
   *  ('want_upgrade', with backoff). Without it, never. */
  udpPossible?: (peerId: Uint8Array) => boolean;
  /** Our own peer id: of two WSS paths to a peer (each side dialed one), the one the lower id dialed is kept and
   *  the other drained and closed, the same one at both ends (selector.ts rule 6). Without it both are kept. */
  localPeerId?: Uint8Array;
  /** Milliseconds for probe round trips, at sub-millisecond resolution where the clock is real (the node passes
   *  performance.now): a direct path between two machines on one LAN answers in well under a millisecond, which
   *  `Clock.now` rounds to 0 or 1. Default: the clock's now(), so a fake clock times probes too. */
  hrtimeMs?: () => number;
}

export type PathDropReason =
  | 'probe_on_relay' | 'probe_malformed' | 'ack_unknown' | 'probe_send_failed' | 'direct_refused'
  | 'no_handler' | 'untracked_peer' | 'stopped';

export interface MigrationCounters { to_direct: number; to_relay: number }
export interface RetryCounters { ok: number; failed: number }

export interface MigrationEvent {
  kind: 'to_direct' | 'to_relay';
  from: string;
  to: string;
  reason: SelectReason;
}

export interface PathInfo {
  path: PathKind;
  /** 'relay', 'wss' or 'udp'. */
  carrier: PathCarrier;
  /** 'relay' or the direct path's 'IP:PORT'. */
  remote: string;
  /** Last probe RTT measured to this peer (any direct path); null before any. */
  rttMs: number | null;
  migrations: MigrationCounters;
  fallbacks: number;
  retries: RetryCounters;
  /** When the current path was selected (clock ms). */
  since: number;
  /** Frames also go over the relay (the direct path's trust lapsed). */
  mirroring: boolean;
  /** Direct paths held (selected, candidates, draining). */
  directPaths: number;
  /** The direct paths held and not dead, selected or not: what a peer could move to. */
  directs: DirectPathInfo[];
  /** Last relay -> direct migration time: path available to first frame on it (not recorded when that frame came
   *  more than the drain time after the switch: the peer was idle). */
  migrationMs: number | null;
}

/** One direct path a peer's entry holds. */
export interface DirectPathInfo {
  carrier: PathCarrier;
  /** The other end, 'IP:PORT'. */
  remote: string;
  /** The last probe round trip on this path; null before any answer. */
  rttMs: number | null;
  /** It carries the peer's frames now. */
  selected: boolean;
}

export interface PathManagerStats {
  migrations: MigrationCounters;
  fallbacks: number;
  retries: RetryCounters;
  /** Frames sent on the relay in addition to a lapsed direct path. */
  mirroredFrames: number;
  lastProbeRttMs: number | null;
  lastMigrationMs: number | null;
  maxMigrationMs: number | null;
  drops: Record<PathDropReason, number>;
}

class DirectEntry {
  readonly times: DirectTimes;
  /** Probe RTTs; the selector sees their windowed minimum, so load cannot raise it. */
  readonly rtt: RttWindow;
  /** Data frames sent on it, and the count the last selection run saw (times.lastDataAtMs moves when they differ). */
  framesSent = 0;
  framesSeen = 0;
  dead = false;
  /** Selected and no data frame sent on it yet: measure the migration time. */
  migrationFromMs = Number.NaN;
  everSelected = false;
  /** Outstanding probes: id -> when sent, in the manager's RTT time base (`hrtimeMs`). */
  readonly probes = new Map<bigint, number>();
  /** The rank of `path.remote` as it was when last ranked: a path that roams is ranked again. */
  #ranked: { remote: string; rank: number } | null = null;
  constructor(readonly path: Path, times: DirectTimes, rttWindowMs: number) {
    this.times = times;
    this.rtt = new RttWindow(rttWindowMs);
  }
  get closed(): boolean {
    return this.dead || this.path.closed;
  }
  rank(onLink: OnLinkTest): number {
    const remote = this.path.remote;
    if (this.#ranked === null || this.#ranked.remote !== remote) this.#ranked = { remote, rank: directPathRank(this.path.carrier, remote, onLink) };
    return this.#ranked.rank;
  }
}

class PeerPaths {
  readonly direct = new Map<string, DirectEntry>();
  selected: DirectEntry | null = null;
  selectedAtMs: number;
  mirror = false;
  rttMs: number | null = null;
  migrationMs: number | null = null;
  readonly migrations: MigrationCounters = { to_direct: 0, to_relay: 0 };
  fallbacks = 0;
  readonly retries: RetryCounters = { ok: 0, failed: 0 };
  constructor(
    readonly id: Uint8Array, readonly hex: string, readonly relay: RelayPath, readonly retry: RetryTimes,
    readonly activity: ActivityTimes, nowMs: number,
  ) {
    this.selectedAtMs = nowMs;
  }
  directs(): Iterable<DirectEntry> {
    return this.direct.values();
  }
}

export class PathManager extends EventEmitter implements FrameTransport {
  /** Where every non-probe frame from any path goes (the PeerManager's onFrame). */
  onFrame: ((peerId: Uint8Array, frame: Uint8Array) => void) | null = null;
  readonly timers: PathTimers<PeerPaths, DirectEntry>;
  readonly #o: Readonly<ResolvedOptions>;
  #policy: Readonly<SelectorPolicy>;
  readonly #relay: RelaySender;
  readonly #isMember: (peerId: Uint8Array) => boolean;
  readonly #onLink: OnLinkTest;
  readonly #udpPossible: (peerId: Uint8Array) => boolean;
  /** Our peer id in lowercase hex (compares as the bytes do), or null: no WSS tie-break. */
  readonly #localHex: string | null;
  readonly #clock: Clock;
  readonly #hrtime: () => number;
  readonly #log: Logger;
  readonly #peers = new Map<string, PeerPaths>();
  #nextProbeId = 0n;
  #running = false;
  #stopped = false;
  readonly #stats: PathManagerStats = {
    migrations: { to_direct: 0, to_relay: 0 },
    fallbacks: 0,
    retries: { ok: 0, failed: 0 },
    mirroredFrames: 0,
    lastProbeRttMs: null,
    lastMigrationMs: null,
    maxMigrationMs: null,
    drops: {
      probe_on_relay: 0, probe_malformed: 0, ack_unknown: 0, probe_send_failed: 0, direct_refused: 0,
      no_handler: 0, untracked_peer: 0, stopped: 0,
    },
  };

  constructor(deps: PathManagerDeps, options: PathManagerOptions = {}) {
    super();
    this.#o = resolveOptions(options);
    this.#relay = deps.relay;
    this.#isMember = deps.isMember ?? (() => true);
    this.#onLink = deps.onLink ?? isOnLinkNow;
    this.#udpPossible = deps.udpPossible ?? (() => false);
    this.#localHex = deps.localPeerId === undefined ? null : toHex(deps.localPeerId);
    this.#clock = deps.clock ?? systemClock;
    const clock = this.#clock;
    this.#hrtime = deps.hrtimeMs ?? (() => clock.now());
    this.#log = deps.logger ?? silentLogger;
    this.timers = new PathTimers<PeerPaths, DirectEntry>(
      {
        clock: this.#clock,
        random: deps.random,
        host: {
          timedPeers: () => this.#peers.values(),
          sendProbe: (p, d) => this.#sendProbe(d),
          directDead: (p, d) => this.#kill(p, d, 'probe_timeout'),
          reselect: (p) => this.#reselect(p),
          drained: (p, d) => d.path.close('drained'),
          wantDirect: (p) => this.emit('want_direct', p.id),
          attemptOutcome: (p, outcome) => this.#attemptOutcome(p, outcome),
          wantsBetterCarrier: (p) => this.#wantsUdp(p),
          wantUpgrade: (p) => {
            this.#log.debug(`${p.hex.slice(0, 8)} no UDP path beside the selected direct path: trying for one`);
            this.emit('want_upgrade', p.id);
          },
        },
      },
      options.timers,
    );
    const t = this.timers.options;
    this.#policy = Object.freeze({ trustWindowMs: t.directTrustMs, minDwellMs: t.switchDwellMs, rttMarginMs: this.#o.rttMarginMs, rttMarginRatio: this.#o.rttMarginRatio });
  }

  get stats(): Readonly<PathManagerStats> {
    return this.#stats;
  }

  /** Change the path timers of the running manager (PathTimers.setOptions; the selector's trust window and dwell follow). Throws PathCode.OPTION and changes nothing on a bad combination. */
  setTimerOptions(changes: Partial<PathTimerOptions>): void {
    const t = this.timers.setOptions(changes);
    this.#policy = Object.freeze({ ...this.#policy, trustWindowMs: t.directTrustMs, minDwellMs: t.switchDwellMs });
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#stopped = false;
    this.timers.start();
  }

  /** Close every direct path and forget all peers. send() refuses afterwards until start(). */
  stop(): void {
    if (!this.#running) return;
    this.#running = false;
    this.#stopped = true;
    this.timers.stop();
    for (const p of [...this.#peers.values()]) this.#forget(p, 'stopping');
  }

  // ---- sending ------------------------------------------------------------------

  /** FrameTransport: send on the selected path (and the relay while mirroring). Never throws for operational reasons. */
  send(peerId: Uint8Array, frame: Uint8Array, traffic = true): boolean {
    if (this.#stopped) {
      this.#stats.drops.stopped++;
      return false;
    }
    const p = this.#peer(peerId);
    if (p === null) {
      this.#stats.drops.untracked_peer++;
      return this.#relay.send(peerId, frame);
    }
    return this.#sendOn(p, frame, false, traffic);
  }

  /**
   * FrameTransport.sendTransient: send() for a frame in the caller's scratch buffer, which it overwrites once this
   * returns. Only a UDP path takes it as it is (UdpPath.send writes it out or queues a copy before returning);
   * everything else — the relay, a WSS path, mirroring, a refusal that moves on — gets a copy first. `hex` is
   * `peerId` in hex (the caller's, so no string per frame).
   */
  sendTransient(peerId: Uint8Array, hex: string, frame: Uint8Array): boolean {
    if (this.#stopped) {
      this.#stats.drops.stopped++;
      return false;
    }
    const p = this.#peers.get(hex);
    if (p === undefined) return this.send(peerId, keepableCopy(frame));
    return this.#sendOn(p, frame, true, true);
  }

  /** FrameTransport.trafficFrom: the session opened a frame of traffic from `hex`; activity that wakes a quiet peer (docs/architecture.md "Quiet peers"). */
  trafficFrom(hex: string): void {
    const p = this.#peers.get(hex);
    if (p !== undefined) this.#countFrame(p);
  }

  /**
   * Whether a UDP path to `peerId` is worth trying for now: a direct path of another carrier is selected, no UDP
   * path is held beside it, and udpPossible says one may be had. The better-carrier tries ('want_upgrade') ask
   * this on every tick; the owner asks it when a peer's offer arrives.
   */
  wantsUdp(peerId: Uint8Array): boolean {
    const p = this.#peers.get(toHex(peerId));
    return p !== undefined && this.#wantsUdp(p);
  }

  #wantsUdp(p: PeerPaths): boolean {
    return p.selected !== null && p.selected.path.carrier !== 'udp' && !hasUdpPath(p) && this.#udpPossible(p.id);
  }

  /** FrameTransport.takesTransient: true while the peer's selected path is UDP and nothing is mirrored, the one case sendTransient sends a scratch frame without a copy. */
  takesTransient(hex: string): boolean {
    if (this.#stopped) return false;
    const p = this.#peers.get(hex);
    return p !== undefined && takesAsIs(p);
  }

  #sendOn(p: PeerPaths, frame: Uint8Array, transient: boolean, traffic: boolean): boolean {
    if (traffic) this.#countFrame(p);
    const d = p.selected;
    if (transient && !takesAsIs(p)) {
      frame = keepableCopy(frame);
      transient = false;
    }
    if (d === null) return p.relay.send(frame);
    const ok = d.path.send(frame);
    if (ok) d.framesSent++;
    if (ok && !Number.isNaN(d.migrationFromMs)) this.#migrationDone(p, d);
    if (p.mirror) {
      this.#stats.mirroredFrames++;
      return p.relay.send(frame) || ok;
    }
    if (ok) return true;
    // The direct path refused (closed under us, backpressure). Another direct path
    // that has answered a probe takes it first: the peer may be closing the selected
    // one while the relay is away, and a frame handed to neither would be lost.
    this.#stats.drops.direct_refused++;
    if (transient) frame = keepableCopy(frame);
    for (const other of p.direct.values()) {
      if (other !== d && !other.closed && !Number.isNaN(other.times.lastAckAtMs) && other.path.send(frame)) return true;
    }
    return p.relay.send(frame);
  }

  // ---- paths in ---------------------------------------------------------------------

  /**
   * Hand over an authenticated direct path to `peerId` (the transport's 'path'
   * event). It is probed at once and carries data as soon as a probe answers.
   * Returns false when the manager is stopped or the peer table is full (the
   * path is then closed). Throws PathCode.ARG for a relay path or a path
   * to another peer.
   */
  addDirectPath(peerId: Uint8Array, path: Path): boolean {
    if (path.kind !== 'direct') throw new SmError(PathCode.ARG, `addDirectPath: expected a direct path, got kind ${String(path.kind)}`);
    if (!equalBytes(path.peerId, peerId)) throw new SmError(PathCode.ARG, 'addDirectPath: the path belongs to another peer');
    if (path.closed) return false;
    const p = this.#stopped ? null : this.#peer(peerId);
    if (p === null) {
      path.close(this.#stopped ? 'stopping' : 'too_many_peers');
      return false;
    }
    if (p.direct.has(path.id)) return true;
    this.#makeRoom(p);
    const d = new DirectEntry(path, this.timers.newDirectTimes(this.#clock.now()), this.#o.rttWindowMs);
    p.direct.set(path.id, d);
    path.onFrame = (f) => this.#receive(p, d, f);
    path.onClose = (reason) => this.#onDirectClosed(p, d, reason);
    this.#log.debug(`${p.hex.slice(0, 8)} direct path added`, { remote: path.remote, id: path.id });
    this.timers.onDirectAdded(p, d);
    return true;
  }

  /** A frame the relay link delivered from `src` (wire: link.on('deliver', ...)). Never throws. */
  onRelayFrame(src: Uint8Array, frame: Uint8Array): void {
    // A relay can name any sender id: only listed members (or peers already tracked) get an entry, so forged ids
    // cannot fill the table and lock genuine members out of direct paths.
    const p = this.#stopped ? null : this.#peers.get(toHex(src)) ?? (this.#isMember(src) ? this.#peer(src) : null);
    if (p === null) {
      this.#stats.drops.untracked_peer++;
      this.#deliver(src, frame);
      return;
    }
    p.relay.deliver(frame);
  }

  /** The owner's direct attempt for `peerId` failed (the transport's 'connect_failed'): count it and back off now rather than at the attempt deadline. */
  directAttemptFailed(peerId: Uint8Array): void {
    const p = this.#peers.get(toHex(peerId));
    if (p !== undefined && p.direct.size === 0) this.timers.onAttemptFailed(p, this.#clock.now());
  }

  /**
   * Close a peer's direct paths; it goes on over the relay (the network
   * policy now keeps us apart from it). Returns how many were closed.
   */
  closeDirectPaths(peerId: Uint8Array, reason: string): number {
    const p = this.#peers.get(toHex(peerId));
    if (p === undefined) return 0;
    const all = [...p.direct.values()];
    for (const d of all) this.#kill(p, d, reason);
    return all.length;
  }

  /** Close a peer's direct paths and forget its state (member left). */
  forgetPeer(peerId: Uint8Array): void {
    const p = this.#peers.get(toHex(peerId));
    if (p !== undefined) this.#forget(p, 'peer_forgotten');
  }

  // ---- status ---------------------------------------------------------------------------

  pathInfo(peerId: Uint8Array): PathInfo | null {
    const p = this.#peers.get(toHex(peerId));
    return p === undefined ? null : this.#info(p);
  }

  /** pathInfo for every tracked peer, keyed by hex peer id. */
  pathInfos(): Map<string, PathInfo> {
    const out = new Map<string, PathInfo>();
    for (const p of this.#peers.values()) out.set(p.hex, this.#info(p));
    return out;
  }

  #info(p: PeerPaths): PathInfo {
    const d = p.selected;
    return {
      path: d === null ? 'relay' : 'direct',
      carrier: d === null ? 'relay' : d.path.carrier,
      remote: d === null ? p.relay.remote : d.path.remote,
      rttMs: p.rttMs,
      migrations: { ...p.migrations },
      fallbacks: p.fallbacks,
      retries: { ...p.retries },
      since: p.selectedAtMs,
      mirroring: p.mirror,
      directPaths: p.direct.size,
      directs: [...p.direct.values()].filter((x) => !x.closed).map((x) => ({ carrier: x.path.carrier, remote: x.path.remote, rttMs: x.rtt.last, selected: x === d })),
      migrationMs: p.migrationMs,
    };
  }

  // ---- internals -----------------------------------------------------------------------

  #peer(peerId: Uint8Array): PeerPaths | null {
    const hex = toHex(peerId);
    const existing = this.#peers.get(hex);
    if (existing !== undefined) return existing;
    if (this.#peers.size >= this.#o.maxPeers) return null;
    const id = new Uint8Array(peerId);
    const relay = new RelayPath({ link: this.#relay, peerId: id });
    const now = this.#clock.now();
    const p = new PeerPaths(id, hex, relay, this.timers.newRetryTimes(), this.timers.newActivity(now), now);
    relay.onFrame = (f) => this.#receive(p, null, f);
    this.#peers.set(hex, p);
    return p;
  }

  #forget(p: PeerPaths, reason: string): void {
    this.#peers.delete(p.hex);
    p.selected = null;
    for (const d of [...p.direct.values()]) d.path.close(reason);
    p.relay.close(reason);
  }

  #deliver(peerId: Uint8Array, frame: Uint8Array): void {
    const h = this.onFrame;
    if (h === null) {
      this.#stats.drops.no_handler++;
      return;
    }
    h(peerId, frame);
  }

  /** Traffic went to `p` or came from it (a session opened it): the activity the timers turn into busy or quiet; wakes a quiet peer. */
  #countFrame(p: PeerPaths): void {
    const a = p.activity;
    a.frames++;
    if (a.quiet) this.timers.onActive(p, this.#clock.now());
  }

  #receive(p: PeerPaths, d: DirectEntry | null, frame: Uint8Array): void {
    // Not counted as activity here: the session has not opened it yet (trafficFrom does, once it has).
    if (!isProbeType(frame)) return this.#deliver(p.id, frame);
    if (d === null) {
      this.#stats.drops.probe_on_relay++;
      return;
    }
    const probe = decodeProbe(frame);
    if (probe === null) {
      this.#stats.drops.probe_malformed++;
      return;
    }
    if (!probe.ack) {
      if (!d.path.send(encodeProbe({ ack: true, id: probe.id, sentAtMs: probe.sentAtMs }))) this.#stats.drops.probe_send_failed++;
      return;
    }
    const sentAt = d.probes.get(probe.id);
    if (sentAt === undefined) {
      this.#stats.drops.ack_unknown++;
      return;
    }
    d.probes.delete(probe.id);
    const now = this.#clock.now();
    const rtt = Math.max(0, this.#hrtime() - sentAt);
    d.rtt.add(now, rtt);
    p.rttMs = rtt;
    this.#stats.lastProbeRttMs = rtt;
    this.timers.onProbeAnswered(p, d, now);
    if (!d.closed) this.#reselect(p);
  }

  #sendProbe(d: DirectEntry): void {
    const id = ++this.#nextProbeId;
    const now = this.#clock.now();
    d.probes.set(id, this.#hrtime());
    if (d.probes.size > MAX_OUTSTANDING_PROBES) {
      const oldest = d.probes.keys().next();
      if (oldest.done !== true) d.probes.delete(oldest.value);
    }
    if (!d.path.send(encodeProbe({ ack: false, id, sentAtMs: now }))) this.#stats.drops.probe_send_failed++;
  }

  #makeRoom(p: PeerPaths): void {
    if (p.direct.size < this.#o.maxDirectPathsPerPeer) return;
    for (const d of p.direct.values()) {
      if (d !== p.selected) {
        d.path.close('replaced');
        if (p.direct.size < this.#o.maxDirectPathsPerPeer) return;
      }
    }
  }

  #kill(p: PeerPaths, d: DirectEntry, reason: string): void {
    d.dead = true;
    this.#log.info(`${p.hex.slice(0, 8)} direct path dead`, { remote: d.path.remote, reason });
    d.path.close(reason); // -> #onDirectClosed
    this.#onDirectClosed(p, d, reason); // in case the path's onClose was already spent
  }

  #onDirectClosed(p: PeerPaths, d: DirectEntry, reason: string): void {
    if (p.direct.get(d.path.id) !== d) return;
    d.dead = true;
    p.direct.delete(d.path.id);
    if (this.#peers.get(p.hex) !== p) return; // forgotten or stopping
    if (p.selected === d) this.#reselect(p, reason);
    else if (p.selected === null && p.direct.size === 0) this.timers.onFallback(p, this.#clock.now()); // an attempt's path died before carrying data
  }

  #attemptOutcome(p: PeerPaths, outcome: AttemptOutcome): void {
    p.retries[outcome]++;
    this.#stats.retries[outcome]++;
    this.emit('retry', p.id, outcome);
  }

  #reselect(p: PeerPaths, lostReason?: string): void {
    const now = this.#clock.now();
    const cands: Candidate[] = [{ id: p.relay.id, kind: 'relay', alive: true, rttMs: null, sinceAckMs: null, ageMs: 0 }];
    const directs: DirectEntry[] = [];
    // Of two WSS paths (each side dialed one), the one to keep: a trusted one the lower peer id dialed. Both ends
    // name the same connection and leave the other, which drains and closes; nothing in flight is lost (path.ts: a
    // graceful close delivers what was sent). While no such path is trusted nothing is redundant: a path not yet
    // proven is no reason to leave one that works. Without our id (#localHex), no tie-break.
    const keepDialed = this.#localHex === null ? null : this.#localHex < p.hex;
    let keeper: DirectEntry | null = null;
    for (const d of p.direct.values()) {
      if (d.closed) continue;
      if (d.framesSent !== d.framesSeen) {
        d.framesSeen = d.framesSent;
        d.times.lastDataAtMs = now;
      }
      const c: Candidate = {
        id: d.path.id, kind: 'direct', alive: true, rttMs: d.rtt.estimate(now), sinceAckMs: this.timers.sinceAckMs(p, d.times, now),
        ageMs: now - d.times.addedAtMs, rank: d.rank(this.#onLink),
        carrierRank: carrierRank(d.path.carrier), busy: this.timers.isBusy(d.times, now),
      };
      cands.push(c);
      directs.push(d);
      if (keeper === null && d.path.carrier === 'wss' && d.path.dialed === keepDialed && isTrusted(c, this.#policy)) keeper = d;
    }
    if (keeper !== null) {
      for (let i = 0; i < directs.length; i++) {
        const d = directs[i] as DirectEntry;
        if (!isRedundant(d, keeper)) continue;
        (cands[i + 1] as Candidate).redundant = true;
        // Not selected: drain it now (the peer leaves it too); selected, the selector moves off it and #switchTo drains it.
        if (d !== p.selected && Number.isNaN(d.times.drainUntilMs)) {
          this.#log.debug(`${p.hex.slice(0, 8)} second WSS path, draining it`, { remote: d.path.remote });
          this.timers.onLeft(d, now);
        }
      }
    }
    const currentId = p.selected === null ? p.relay.id : p.selected.path.id;
    // A quiet peer makes no voluntary move (path-timers.ts header): one sparse probe per path is no RTT to compare.
    const dwellMs = p.activity.quiet ? 0 : now - p.selectedAtMs;
    const sel = selectPath(cands, { id: currentId, dwellMs }, this.#policy);
    const mirror = sel.mirror !== null;
    if (mirror !== p.mirror) {
      p.mirror = mirror;
      this.#log.info(`${p.hex.slice(0, 8)} ${mirror ? 'direct path unconfirmed, mirroring on the relay' : 'direct path confirmed, mirroring ended'}`);
      this.emit('mirror', p.id, mirror);
    }
    const target = sel.primary === null || sel.primary === p.relay.id ? null : p.direct.get(sel.primary) ?? null;
    if (target !== p.selected) this.#switchTo(p, target, sel.reason, lostReason, now, keeper);
  }

  #switchTo(p: PeerPaths, target: DirectEntry | null, reason: SelectReason, lostReason: string | undefined, now: number, keeper: DirectEntry | null): void {
    const from = p.selected;
    const fromRemote = from === null ? p.relay.remote : from.path.remote;
    p.selected = target;
    p.selectedAtMs = now;
    if (target === null) p.mirror = false;
    // A path we left drains and closes, except a WSS path left for a UDP one: it stays as the standby that takes
    // over at once when the UDP path dies (a NAT drops its mapping, an idle session's keys expire), as a WSS path
    // that was never selected beside a UDP one does. One per pair: a redundant one goes all the same.
    const standby = from !== null && from.path.carrier === 'wss' && target?.path.carrier === 'udp' && !isRedundant(from, keeper);
    if (from !== null && !from.closed && !standby) this.timers.onLeft(from, now);
    if (target !== null) {
      this.timers.onRejoined(target);
      // Migration time: from the path's arrival for its first selection, else from this switch.
      target.migrationFromMs = target.everSelected ? now : target.times.addedAtMs;
      target.everSelected = true;
    }
    this.timers.onSelected(p, target !== null, now);
    const kind = target === null ? 'to_relay' : 'to_direct';
    p.migrations[kind]++;
    this.#stats.migrations[kind]++;
    const ev: MigrationEvent = { kind, from: fromRemote, to: target === null ? p.relay.remote : target.path.remote, reason };
    this.#log.info(`${p.hex.slice(0, 8)} path ${ev.from} -> ${ev.to}`, { reason });
    this.emit('migrated', p.id, ev);
    if (target === null && from !== null && (reason === 'fallback' || from.closed)) {
      p.fallbacks++;
      this.#stats.fallbacks++;
      this.timers.onFallback(p, now);
      this.emit('fallback', p.id, lostReason ?? reason);
    }
  }

  #migrationDone(p: PeerPaths, d: DirectEntry): void {
    const now = this.#clock.now();
    const ms = Math.max(0, now - d.migrationFromMs);
    d.migrationFromMs = Number.NaN;
    // A switch made while the peer was idle is no migration anyone waited for: its first frame may come minutes
    // later, and that wait says nothing about how long moving takes. Under traffic the next frame follows at once.
    if (now - p.selectedAtMs > this.timers.options.drainMs) return;
    p.migrationMs = ms;
    this.#stats.lastMigrationMs = ms;
    this.#stats.maxMigrationMs = Math.max(this.#stats.maxMigrationMs ?? 0, ms);
    this.emit('migration_complete', p.id, ms);
  }
}

/** Whether `d` is a second WSS path beside `keeper` (the one kept of two, #reselect): one the other end dialed. */
function isRedundant(d: DirectEntry, keeper: DirectEntry | null): boolean {
  return keeper !== null && d.path.carrier === 'wss' && typeof d.path.dialed === 'boolean' && d.path.dialed !== keeper.path.dialed;
}

/** Whether `p` has a UDP path that is not closed. */
function hasUdpPath(p: PeerPaths): boolean {
  for (const d of p.direct.values()) if (!d.closed && d.path.carrier === 'udp') return true;
  return false;
}

/** Whether a transient frame to `p` can go out without a copy: only its selected path, UDP, and nothing mirrored. */
function takesAsIs(p: PeerPaths): boolean {
  return !p.mirror && p.selected !== null && p.selected.path.carrier === 'udp';
}

/** A copy of a scratch frame that may be kept (queued, sent later), with the relay's headroom before it. */
function keepableCopy(frame: Uint8Array): Uint8Array {
  const copy = allocFrameWithHeadroom(frame.length);
  copy.set(frame);
  return copy;
}
