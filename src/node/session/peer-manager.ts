/**
 * The node's peers: one end-to-end session per peer, the handshakes that key
 * it, and the routing of incoming peer frames by receiver index
 * (docs/architecture.md "Sessions and keys"; docs/protocol.md §2;
 * docs/handshake.md §4).
 *
 * It sits between its frame transport (in a node the PathManager, which
 * carries each frame on the relay or a direct path, and hands every path's
 * frames back to onFrame; a memory relay in tests) and the payload
 * consumers. It owns handshake orchestration — who initiates, replay of
 * INITs, simultaneous initiation, index allocation, expiry of half-done
 * handshakes — while all session timer policy (rekey, keepalive, retries)
 * stays in node/session/session-timers.ts, whose PeerSession asks for a
 * handshake through its events.
 *
 * Every frame from the network goes through `onFrame`, which never throws:
 * anything malformed, unexpected or unauthenticated is dropped and counted by
 * reason in `drops`.
 *
 * Simultaneous initiation: when both sides start a handshake at once, the side
 * with the lower peer id keeps its own and ignores the other's INIT; the other
 * responds, and abandons its own once the INIT's FINISH authenticated it. Both
 * then agree on one key pair.
 *
 * Who gets state (docs/handshake.md §4, INIT acceptance): an HS_INIT is not
 * signed and proves nothing until its FINISH verifies, so an INIT changes no
 * state of a peer: its timestamp is recorded for replay only when the
 * handshake completes, and our own handshake in progress is kept. New peer
 * entries (and the handshakes we answer or start because of an unknown-index
 * DATA) exist only for peer ids `isMember` admits — the node's directory of
 * CA-verified members — never for ourselves. A local send (`sendInner`) is
 * not input from the network and may start a handshake with a peer not
 * listed yet (the relay's PEER_UP may trail its ESTABLISHED); the peer's
 * certificate is verified in that handshake as always, and the entry is
 * pruned like any other once it has no session or handshake. An entry with an authenticated
 * session outlives its member's listing (the relay may blink or lie about
 * presence); one without a session or a handshake in progress is pruned once
 * its member is no longer listed. Entries are thus bounded by the directory
 * plus the established sessions.
 *
 * Handshake budgets (docs/handshake.md §6): an INIT that passes the free
 * checks (timestamp, membership, replay, tie-break) costs a certificate
 * verification from a global bucket; one that also verifies costs its
 * member's own bucket, then the KEM and signing work. Junk claiming a member
 * thus spends nothing of that member's. When the global bucket runs below
 * COOKIE_PRESSURE_RATIO of its burst, INITs without a valid cookie get a
 * stateless HS_COOKIE instead of any work.
 */
import { EventEmitter } from 'node:events';
import { compareBytes, equalBytes, randomBytes, toHex } from '../../crypto/bytes.js';
import { hasCode } from '../../errors.js';
import { HandshakeInitiator, HandshakeResponder, type HandshakeIdentity, type VerifiedInit, type VerifiedPeer } from '../../handshake/peer-handshake.js';
import { InitCookies } from '../../handshake/init-cookie.js';
import { CERT_CLOCK_SKEW_MS } from '../../identity/membership.js';
import { TokenBucket } from '../../util/token-bucket.js';
import { FrameType, InnerType, MAX_PEER_FRAME_BYTES } from '../../wire/constants.js';
import { decodePeerFrame, encodePeerFrame, initWithoutCookie, newDataFrameView, readDataFrame, type DataFrameView, type PeerFrame } from '../../wire/peer-frames.js';
import { DEFAULT_MAX_CLIENTS } from '../../relay/relay-options.js';
import type { Clock, TimerHandle } from '../../util/clock.js';
import { systemClock } from '../../util/clock.js';
import type { Logger } from '../../util/logger.js';
import { silentLogger } from '../../util/logger.js';
import { PeerSession, type DropReason } from './peer-session.js';
import type { FrameTransport } from '../path/path.js';
import type { SessionTimerOptions } from './session-timers.js';
import type { AeadAlgorithm } from '../../crypto/aead.js';

/** How long a responder waits for FINISH before forgetting the half-done handshake. */
export const RESPONDER_TIMEOUT_MS = 15_000;
/** Per-member INITs we do the expensive work for (an ML-KEM encapsulation and an ML-DSA signature each): a genuine
 *  initiator sends one per attempt and retries every few seconds, so two a second with a burst of four leave room
 *  for simultaneous initiation and a retry, while one member flooding cannot take the global budget alone. */
export const PEER_INITS_PER_SECOND = 2;
export const PEER_INIT_BURST = 4;
/** INITs per second, over all peers, whose certificate we verify (and then answer): bounds the CPU all INITs together can buy. */
export const DEFAULT_HANDSHAKES_PER_SECOND = 20;
/** Burst of the global budget: a relay re-admission makes every member re-handshake at once. */
export const DEFAULT_HANDSHAKE_BURST = 40;
/** Below this fraction of the global burst left, INITs must carry a cookie (docs/handshake.md §6). */
export const COOKIE_PRESSURE_RATIO = 0.5;
/** HS_COOKIE replies per member: a genuine initiator needs one per INIT; more only echoes a flood back. */
export const PEER_COOKIES_PER_SECOND = 10;
/** HS_COOKIE replies over all peers: each answers an INIT 1:1, so without a cap a flood of INITs would be reflected
 *  into our own relay link's frame budget; 1,000 a second is far above the genuine need and far below that budget. */
export const COOKIES_PER_SECOND = 1_000;
/** An INIT timestamp later than now + this is refused: the certificates' own clock skew, so honest clocks that
 *  agree on certificate validity agree here too; a later one could only be a forgery aiming to outlast genuine INITs. */
export const INIT_FUTURE_SKEW_MS = CERT_CLOCK_SKEW_MS;
/** Housekeeping cadence while we answer a handshake (a responder is held): expire half-done handshakes, forget
 *  indices of wiped key pairs, prune departed members. */
export const SWEEP_INTERVAL_MS = 1_000;
/** Housekeeping cadence otherwise: what is left to do then (an index of a key pair a rekey retired, an entry of a
 *  member no longer listed) is bounded by the peers we have and harmless for a few seconds, so an idle node does
 *  not wake every second for it (docs/architecture.md "Timers"). */
export const IDLE_SWEEP_INTERVAL_MS = 10_000;
/** HS_INITs refused as not (yet) from a member, kept to be tried again when that member's certificate arrives
 *  (presence announces a member before its certificate is fetched: docs/architecture.md "Presence at scale"). */
export const HELD_INITS_MAX = 16;
/** A held INIT older than this is not tried again: the initiator has retried by then. */
export const HELD_INIT_TTL_MS = 5_000;
/** Upper bound on peers tracked at once (each holds a session and small queues): as many members as one relay
 *  admits (docs/architecture.md "Limits and scale"), the same bound as the node's directory. */
export const DEFAULT_MAX_PEERS = DEFAULT_MAX_CLIENTS;

export type ManagerDropReason =
  | 'malformed' | 'unexpected_type' | 'unknown_index' | 'src_mismatch' | 'hs_invalid' | 'hs_replay'
  | 'hs_rate_limited' | 'hs_tiebreak' | 'too_many_peers' | 'transport_full'
  // docs/handshake.md §4, §6: frames naming ourselves as sender; senders the directory does not list; INITs dated
  // beyond the skew; INITs answered with a cookie instead of work; wrong cookies; INITs past the global budget;
  // a second HS_COOKIE for the same INIT of ours (one for no handshake of ours is unknown_index).
  | 'self_frame' | 'not_member' | 'hs_future_timestamp' | 'hs_cookie_required' | 'hs_cookie_invalid' | 'hs_overloaded'
  | 'hs_cookie_unexpected'
  // an INIT that needed a cookie when the cookie replies for its sender (or for all) were used up
  | 'hs_cookie_rate_limited';

export interface PeerManagerOptions {
  aead?: AeadAlgorithm;
  timers?: Partial<SessionTimerOptions>;
  maxPeers?: number;
  maxQueuedPackets?: number;
  /** Global handshake budget (INITs verified per second); default DEFAULT_HANDSHAKES_PER_SECOND. */
  handshakesPerSecond?: number;
  /** Burst of the global handshake budget; default DEFAULT_HANDSHAKE_BURST. */
  handshakeBurst?: number;
}

export interface PeerInfo {
  peerId: string;
  name: string | null;
  established: boolean;
  stats: PeerSession['stats'];
  drops: Readonly<Record<DropReason, number>>;
}

interface PeerEntry<P extends VerifiedPeer> {
  id: Uint8Array;
  hex: string;
  session: PeerSession;
  cert: P | null;
  initiator: HandshakeInitiator<P> | null;
  /** True once our current INIT was re-sent with a cookie: one cookie per INIT, so forged HS_COOKIEs buy one resend at most. */
  initiatorCookied: boolean;
  /** Timestamp of the last INIT from this peer whose handshake COMPLETED (authenticated by FINISH): the replay floor. */
  lastInitFromPeerTs: number;
  /** The per-member INIT budget, charged only by INITs whose certificate verified. */
  initBudget: TokenBucket;
  /** The per-member HS_COOKIE reply budget. */
  cookieBudget: TokenBucket;
}

type IndexOwner<P extends VerifiedPeer> =
  | { kind: 'initiator'; peer: PeerEntry<P> }
  | { kind: 'responder'; peer: PeerEntry<P>; responder: HandshakeResponder<P> }
  | { kind: 'session'; peer: PeerEntry<P> };

export interface PeerManagerDeps<P extends VerifiedPeer> {
  identity: HandshakeIdentity<P>;
  /** Our own peer id (for the simultaneous-initiation tie-break). */
  localPeerId: Uint8Array;
  transport: FrameTransport;
  /**
   * Whether the directory lists `peerId` (a CA-verified member now). Only such peers get new state. Without it every
   * sender is admitted (a manager used without a directory, as in unit tests); a node always passes it.
   */
  isMember?: (peerId: Uint8Array) => boolean;
  clock?: Clock;
  logger?: Logger;
  rng?: (n: number) => Uint8Array;
}

/**
 * Events: 'payload' (peerId: Uint8Array, body: Uint8Array) — an authenticated
 * PAYLOAD from a member; 'inner' (peerId, innerType: number, body) — any other
 * authenticated data inner type (device frames, mesh pings); 'established' (peerId: Uint8Array, peer: P) — a
 * handshake completed; 'handshake_failed' (peerId: Uint8Array, code: string).
 */
export class PeerManager<P extends VerifiedPeer = VerifiedPeer> extends EventEmitter {
  readonly #deps: Required<Omit<PeerManagerDeps<P>, 'logger' | 'clock' | 'rng' | 'isMember'>> & {
    clock: Clock; logger: Logger; rng: (n: number) => Uint8Array; isMember: (peerId: Uint8Array) => boolean;
  };
  readonly #options: Required<Pick<PeerManagerOptions, 'maxPeers'>> & PeerManagerOptions;
  readonly #peers = new Map<string, PeerEntry<P>>();
  readonly #indices = new Map<number, IndexOwner<P>>();
  readonly #drops: Record<ManagerDropReason, number> = {
    malformed: 0, unexpected_type: 0, unknown_index: 0, src_mismatch: 0, hs_invalid: 0, hs_replay: 0,
    hs_rate_limited: 0, hs_tiebreak: 0, too_many_peers: 0, transport_full: 0,
    self_frame: 0, not_member: 0, hs_future_timestamp: 0, hs_cookie_required: 0, hs_cookie_invalid: 0, hs_overloaded: 0,
    hs_cookie_unexpected: 0, hs_cookie_rate_limited: 0,
  };
  readonly #localHex: string;
  readonly #handshakeBudget: TokenBucket;
  readonly #cookieBudget: TokenBucket;
  readonly #cookies: InitCookies;
  #lastInitTimestamp = 0;
  /** HS_INITs refused as not_member, by sender (hex), oldest first; at most HELD_INITS_MAX, copies. */
  readonly #heldInits = new Map<string, { atMs: number; bytes: Uint8Array }>();
  #sweep: TimerHandle | null = null;
  /** When the armed sweep runs (clock ms). */
  #sweepAtMs = Number.POSITIVE_INFINITY;
  #running = false;
  /** sendDeviceFrame seals into this and the transport sends it before returning (FrameTransport.sendTransient). */
  readonly #scratch = new Uint8Array(MAX_PEER_FRAME_BYTES);
  /** onFrame reads each DATA frame's fields into this instead of decoding an object per frame. */
  readonly #dataView: DataFrameView = newDataFrameView();
  /**
   * Where authenticated DEVICE_FRAME bodies go (the node's data plane), with the sender's id and hex; while null
   * they are 'inner' events like the other inner types. The body is a view of the received frame.
   */
  onDeviceFrame: ((peerId: Uint8Array, hex: string, body: Uint8Array) => void) | null = null;

  constructor(deps: PeerManagerDeps<P>, options: PeerManagerOptions = {}) {
    super();
    this.#deps = {
      identity: deps.identity,
      localPeerId: deps.localPeerId,
      transport: deps.transport,
      isMember: deps.isMember ?? (() => true),
      clock: deps.clock ?? systemClock,
      logger: deps.logger ?? silentLogger,
      rng: deps.rng ?? randomBytes,
    };
    this.#options = { maxPeers: DEFAULT_MAX_PEERS, ...options };
    this.#localHex = toHex(deps.localPeerId);
    const now = this.#deps.clock.now();
    // TokenBucket refuses a non-positive rate or burst with a ConfigError naming it.
    this.#handshakeBudget = new TokenBucket(
      options.handshakesPerSecond ?? DEFAULT_HANDSHAKES_PER_SECOND, options.handshakeBurst ?? DEFAULT_HANDSHAKE_BURST, now,
    );
    this.#cookieBudget = new TokenBucket(COOKIES_PER_SECOND, COOKIES_PER_SECOND, now);
    this.#cookies = new InitCookies(this.#deps.rng, now);
  }

  get drops(): Readonly<Record<ManagerDropReason, number>> {
    return this.#drops;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#scheduleSweep(IDLE_SWEEP_INTERVAL_MS);
  }

  stop(): void {
    if (!this.#running) return;
    this.#running = false;
    this.#sweep?.cancel();
    this.#sweep = null;
    for (const owner of this.#indices.values()) if (owner.kind === 'responder') owner.responder.destroy();
    for (const p of this.#peers.values()) {
      p.initiator?.destroy();
      p.session.stop();
    }
    this.#peers.clear();
    this.#indices.clear();
    this.#heldInits.clear();
  }

  /** Send an application payload to a peer, end to end. Queued (bounded) while a handshake runs. */
  sendPayload(peerId: Uint8Array, payload: Uint8Array): 'sent' | 'queued' | 'dropped' {
    return this.sendInner(peerId, InnerType.Payload, payload);
  }

  /** Send `body` under a data inner type (protocol.md §2) to a peer, end to end. */
  sendInner(peerId: Uint8Array, innerType: number, body: Uint8Array): 'sent' | 'queued' | 'dropped' {
    const peer = this.#peers.get(toHex(peerId)) ?? this.#admit(peerId, 'local');
    if (!peer) return 'dropped';
    const frame = peer.session.encrypt(innerType, body);
    if (frame === null) return 'queued';
    if (!this.#deps.transport.send(peer.id, frame)) {
      this.#drops.transport_full++;
      return 'dropped';
    }
    return 'sent';
  }

  /**
   * sendInner(peerId, DEVICE_FRAME, body) for the data plane's per-packet path: `hex` is `peerId` in lowercase hex
   * (the caller's, so no string per packet), and while the session has a usable key and the transport would send a
   * transient frame to this peer without copying it (a UDP path), the frame is sealed into a scratch buffer instead
   * of a fresh array. Otherwise sendInner (whose frame the relay link sends without a copy).
   */
  sendDeviceFrame(peerId: Uint8Array, hex: string, body: Uint8Array): 'sent' | 'queued' | 'dropped' {
    const transport = this.#deps.transport;
    const peer = this.#peers.get(hex);
    if (peer !== undefined && transport.sendTransient !== undefined && transport.takesTransient?.(hex) === true) {
      const frame = peer.session.sealInto(InnerType.DeviceFrame, body, this.#scratch);
      if (frame !== null) {
        if (transport.sendTransient(peer.id, peer.hex, frame)) return 'sent';
        this.#drops.transport_full++;
        return 'dropped';
      }
    }
    return this.sendInner(peerId, InnerType.DeviceFrame, body);
  }

  /**
   * `peerId` became a member (its certificate arrived and was verified): an HS_INIT of its that was refused for
   * want of that certificate in the last HELD_INIT_TTL_MS is handled now, as if it had just arrived, instead of
   * leaving the initiator to its retry seconds later with its packets queued. It passes every check again.
   */
  memberArrived(peerId: Uint8Array): void {
    const hex = toHex(peerId);
    const held = this.#heldInits.get(hex);
    if (held === undefined) return;
    this.#heldInits.delete(hex);
    if (this.#deps.clock.now() - held.atMs > HELD_INIT_TTL_MS) return;
    this.onFrame(peerId, held.bytes);
  }

  /** Keep a refused INIT for memberArrived: one per sender (the newest), HELD_INITS_MAX in all, the oldest evicted. */
  #holdInit(src: Uint8Array, bytes: Uint8Array, now: number): void {
    const hex = toHex(src);
    this.#heldInits.delete(hex);
    if (this.#heldInits.size >= HELD_INITS_MAX) this.#heldInits.delete(this.#heldInits.keys().next().value as string);
    this.#heldInits.set(hex, { atMs: now, bytes: Uint8Array.from(bytes) });
  }

  /** Start a fresh handshake with every peer we hold a session with (after the transport reconnected). */
  rehandshakeAll(): void {
    for (const p of this.#peers.values()) if (p.session.hasUsableKey() || p.initiator) this.#initiate(p);
  }

  /**
   * Present `certificate` (our renewed member certificate, encoded and already checked by the caller) in every
   * handshake from now on: new sessions and the rekeys of live ones (docs/architecture.md "Certificate renewal").
   * Live sessions keep their keys; each peer learns the new certificate at the next handshake with it.
   */
  setCertificate(certificate: Uint8Array): void {
    this.#deps.identity = { ...this.#deps.identity, certificate };
  }

  /** Drop everything about a peer now: its half-done handshakes, its session (keys wiped) and queued packets. Used when it is no member any more (revoked, or its certificate expired). */
  forgetPeer(peerId: Uint8Array): void {
    const peer = this.#peers.get(toHex(peerId));
    if (!peer) return;
    this.#abandonInitiator(peer);
    for (const [index, owner] of this.#indices) {
      if (owner.peer !== peer) continue;
      if (owner.kind === 'responder') owner.responder.destroy();
      this.#indices.delete(index);
    }
    peer.session.stop();
    this.#peers.delete(peer.hex);
  }

  /** The current session's path-authentication key with a peer (for direct-path re-handshakes), or null. A view: do not keep or modify it. */
  pathAuthKey(peerId: Uint8Array): Uint8Array | null {
    return this.#peers.get(toHex(peerId))?.session.currentPathAuthKey() ?? null;
  }

  /** The current and (within its grace) previous path-auth keys with a peer; empty without a session. Do not keep them. */
  pathAuthKeys(peerId: Uint8Array): Uint8Array[] {
    return this.#peers.get(toHex(peerId))?.session.pathAuthKeys() ?? [];
  }

  /** The verified certificate a peer presented in its last completed handshake, or null. */
  peerCertificate(peerId: Uint8Array): P | null {
    return this.#peers.get(toHex(peerId))?.cert ?? null;
  }

  /** Peers with a usable session now. */
  establishedPeers(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const p of this.#peers.values()) if (p.session.hasUsableKey()) out.push(p.id);
    return out;
  }

  peers(): PeerInfo[] {
    return [...this.#peers.values()].map((p) => ({
      peerId: p.hex,
      name: (p.cert as { name?: unknown } | null)?.name as string | undefined ?? null,
      established: p.session.hasUsableKey(),
      stats: p.session.stats,
      drops: p.session.drops,
    }));
  }

  /** Entry point for every peer frame from the transport. Never throws. */
  onFrame(src: Uint8Array, bytes: Uint8Array): void {
    // Bytes, not hex: no string per frame on the data path (docs/conventions.md §8).
    if (equalBytes(src, this.#deps.localPeerId)) {
      // No session with ourselves: such a frame is a relay's forgery or a loop.
      this.#drops.self_frame++;
      return;
    }
    // DATA, the per-packet case, without an object per frame; anything else (or a malformed DATA) is decoded.
    const view = this.#dataView;
    if (readDataFrame(bytes, view)) {
      try {
        return this.#onData(src, view);
      } catch (err) {
        return this.#handlerFailed(err);
      }
    }
    let frame: PeerFrame;
    try {
      frame = decodePeerFrame(bytes);
    } catch {
      this.#drops.malformed++;
      return;
    }
    try {
      switch (frame.type) {
        case FrameType.Data: return this.#onData(src, frame);
        case FrameType.HsInit: return this.#onInit(src, bytes, frame);
        case FrameType.HsResp: return this.#onResp(src, bytes, frame.receiverIndex);
        case FrameType.HsFinish: return this.#onFinish(src, bytes, frame.receiverIndex);
        case FrameType.HsCookie: return this.#onCookie(src, frame.receiverIndex, frame.cookie);
        default: this.#drops.unexpected_type++;
      }
    } catch (err) {
      this.#handlerFailed(err);
    }
  }

  /** A bug in a frame handler must not take the packet loop down: count it and keep going. */
  #handlerFailed(err: unknown): void {
    this.#drops.hs_invalid++;
    this.#deps.logger.error('peer frame handler failed', { error: (err as Error).message });
  }

  /**
   * A new entry for `peerId`, only if it is a listed member other than ourselves, or for a local send any peer
   * but ourselves (module header); null, counted, otherwise.
   */
  #admit(peerId: Uint8Array, cause: 'network' | 'local' = 'network'): PeerEntry<P> | null {
    const hex = toHex(peerId);
    if (hex === this.#localHex) return null;
    if (cause === 'network' && !this.#deps.isMember(peerId)) {
      this.#drops.not_member++;
      return null;
    }
    if (this.#peers.size >= this.#options.maxPeers) {
      this.#drops.too_many_peers++;
      return null;
    }
    const id = new Uint8Array(peerId);
    const entry: PeerEntry<P> = {
      id, hex, cert: null, initiator: null, initiatorCookied: false, lastInitFromPeerTs: 0,
      initBudget: new TokenBucket(PEER_INITS_PER_SECOND, PEER_INIT_BURST, this.#deps.clock.now()),
      cookieBudget: new TokenBucket(PEER_COOKIES_PER_SECOND, PEER_COOKIES_PER_SECOND, this.#deps.clock.now()),
      session: undefined as unknown as PeerSession,
    };
    entry.session = new PeerSession(
      {
        clock: this.#deps.clock,
        logger: this.#deps.logger.child(hex.slice(0, 8)),
        rng: this.#deps.rng,
        events: {
          initiateHandshake: () => this.#initiate(entry),
          sendKeepalive: () => {
            const f = entry.session.encrypt(InnerType.Keepalive, new Uint8Array(0));
            // No traffic: a keepalive does not keep the peer's paths on the busy schedule (docs/architecture.md "Quiet peers").
            if (f) this.#deps.transport.send(entry.id, f, false);
          },
          handshakeGaveUp: () => {
            this.#abandonInitiator(entry);
            this.emit('handshake_failed', entry.id, 'SM_ERR_HS_TIMEOUT');
          },
        },
      },
      { aead: this.#options.aead, timers: this.#options.timers, maxQueuedPackets: this.#options.maxQueuedPackets },
    );
    entry.session.onFlush = (f) => { this.#deps.transport.send(entry.id, f); };
    if (this.#running) entry.session.start();
    this.#peers.set(hex, entry);
    return entry;
  }

  #allocateIndex(): number {
    for (let i = 0; i < 64; i++) {
      const b = this.#deps.rng(4);
      const idx = ((b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0);
      if (idx !== 0 && !this.#indices.has(idx)) return idx;
    }
    throw new Error('could not allocate a free receiver index');
  }

  #initiate(peer: PeerEntry<P>): void {
    if (!this.#running) return;
    this.#abandonInitiator(peer);
    const now = this.#deps.clock.now();
    this.#lastInitTimestamp = Math.max(now, this.#lastInitTimestamp + 1);
    const index = this.#allocateIndex();
    const init = HandshakeInitiator.start(this.#deps.identity, peer.id, index, this.#lastInitTimestamp, now, this.#deps.rng);
    peer.initiator = init;
    peer.initiatorCookied = false;
    this.#indices.set(index, { kind: 'initiator', peer });
    peer.session.handshakeStarted();
    if (!this.#deps.transport.send(peer.id, init.init)) this.#drops.transport_full++;
  }

  #abandonInitiator(peer: PeerEntry<P>): void {
    if (!peer.initiator) return;
    this.#indices.delete(peer.initiator.localIndex);
    peer.initiator.destroy();
    peer.initiator = null;
  }

  /**
   * HS_INIT: docs/handshake.md §4 (acceptance) and §6 (cookies). Free checks first, then the global budget pays for
   * the certificate check, then the member's budget for the KEM and signature. Nothing about the peer changes here:
   * the replay floor moves and our own handshake is abandoned only when FINISH authenticates this INIT.
   */
  #onInit(src: Uint8Array, bytes: Uint8Array, frame: Extract<PeerFrame, { type: typeof FrameType.HsInit }>): void {
    const now = this.#deps.clock.now();
    if (frame.timestampMs > now + INIT_FUTURE_SKEW_MS) {
      this.#drops.hs_future_timestamp++;
      return;
    }
    let peer: PeerEntry<P> | null = this.#peers.get(toHex(src)) ?? null;
    // A listed member, or one we hold an authenticated session with (it may re-key while the relay blinks).
    if (!this.#deps.isMember(src) && !peer?.session.hasUsableKey()) {
      this.#drops.not_member++;
      this.#holdInit(src, bytes, now);
      return;
    }
    if (peer && frame.timestampMs <= peer.lastInitFromPeerTs) {
      this.#drops.hs_replay++;
      return;
    }
    if (peer?.initiator && compareBytes(this.#deps.localPeerId, peer.id) < 0) {
      // Both sides initiated at once: the lower peer id keeps its own handshake.
      this.#drops.hs_tiebreak++;
      return;
    }
    if (this.#handshakeBudget.available(now) < this.#handshakeBudget.burst * COOKIE_PRESSURE_RATIO) {
      const unsigned = initWithoutCookie(frame, bytes);
      if (frame.cookie === undefined) {
        // A listed member gets an entry to hold its cookie budget (entries are bounded by the directory).
        peer ??= this.#admit(src);
        if (!peer) return;
        if (!peer.cookieBudget.take(1, now) || !this.#cookieBudget.take(1, now)) {
          this.#drops.hs_cookie_rate_limited++;
          return;
        }
        this.#drops.hs_cookie_required++;
        const reply = encodePeerFrame({ type: FrameType.HsCookie, receiverIndex: frame.senderIndex, cookie: this.#cookies.make(src, unsigned, now) });
        if (!this.#deps.transport.send(src, reply)) this.#drops.transport_full++;
        return;
      }
      if (!this.#cookies.check(src, unsigned, frame.cookie, now)) {
        this.#drops.hs_cookie_invalid++;
        return;
      }
    }
    if (!this.#handshakeBudget.take(1, now)) {
      this.#drops.hs_overloaded++;
      return;
    }
    let verified: VerifiedInit<P>;
    try {
      verified = HandshakeResponder.verifyInit(this.#deps.identity, bytes, src, now);
    } catch (err) {
      this.#countHandshakeError(src, err);
      return;
    }
    peer ??= this.#admit(src);
    if (!peer) return;
    if (!peer.initBudget.take(1, now)) {
      this.#drops.hs_rate_limited++;
      return;
    }
    let responder: HandshakeResponder<P>;
    try {
      responder = HandshakeResponder.respondVerified(this.#deps.identity, verified, this.#allocateIndex(), now);
    } catch (err) {
      this.#countHandshakeError(src, err);
      return;
    }
    this.#indices.set(responder.localIndex, { kind: 'responder', peer, responder });
    if (this.#sweepAtMs > now + SWEEP_INTERVAL_MS) this.#scheduleSweep(SWEEP_INTERVAL_MS);
    if (!this.#deps.transport.send(peer.id, responder.resp)) this.#drops.transport_full++;
  }

  /** HS_COOKIE (docs/handshake.md §6): re-send our INIT to that peer once, with the cookie. */
  #onCookie(src: Uint8Array, receiverIndex: number, cookie: Uint8Array): void {
    const owner = this.#handshakeOwner(src, receiverIndex, 'initiator');
    if (!owner) return;
    const peer = owner.peer;
    if (peer.initiatorCookied) {
      this.#drops.hs_cookie_unexpected++;
      return;
    }
    peer.initiatorCookied = true;
    if (!this.#deps.transport.send(peer.id, peer.initiator!.initWithCookie(cookie))) this.#drops.transport_full++;
  }

  /** The handshake a RESP/FINISH names by receiver index, if it is of `kind` and came from its peer; else counted and null. */
  #handshakeOwner<K extends 'initiator' | 'responder'>(src: Uint8Array, receiverIndex: number, kind: K): Extract<IndexOwner<P>, { kind: K }> | null {
    const owner = this.#indices.get(receiverIndex);
    if (!owner || owner.kind !== kind || (kind === 'initiator' && !owner.peer.initiator)) {
      this.#drops.unknown_index++;
      return null;
    }
    if (toHex(src) !== owner.peer.hex) {
      this.#drops.src_mismatch++;
      return null;
    }
    return owner as Extract<IndexOwner<P>, { kind: K }>;
  }

  #onResp(src: Uint8Array, bytes: Uint8Array, receiverIndex: number): void {
    const owner = this.#handshakeOwner(src, receiverIndex, 'initiator');
    if (!owner) return;
    const peer = owner.peer;
    let result;
    try {
      result = peer.initiator!.onResponse(bytes, this.#deps.clock.now());
    } catch (err) {
      this.#countHandshakeError(peer.id, err);
      return;
    }
    peer.initiator = null;
    this.#indices.set(receiverIndex, { kind: 'session', peer });
    // FINISH first: the responder installs its keys on FINISH, and the transport keeps order.
    if (!this.#deps.transport.send(peer.id, result.finish)) this.#drops.transport_full++;
    this.#established(peer, result.peer, result.keys);
  }

  #onFinish(src: Uint8Array, bytes: Uint8Array, receiverIndex: number): void {
    const owner = this.#handshakeOwner(src, receiverIndex, 'responder');
    if (!owner) return;
    const peer = owner.peer;
    let result;
    try {
      result = owner.responder.onFinish(bytes, this.#deps.clock.now());
    } catch (err) {
      this.#countHandshakeError(peer.id, err);
      return;
    }
    // handshake.md §4: FINISH authenticated the INIT; only now does its timestamp become the replay floor, and only
    // now does a handshake of ours that crossed it give way.
    peer.lastInitFromPeerTs = Math.max(peer.lastInitFromPeerTs, owner.responder.initTimestampMs);
    this.#abandonInitiator(peer);
    this.#indices.set(receiverIndex, { kind: 'session', peer });
    this.#established(peer, result.peer, result.keys);
  }

  #established(peer: PeerEntry<P>, cert: P, keys: Parameters<PeerSession['installKeys']>[0]): void {
    peer.cert = cert;
    peer.session.installKeys(keys);
    this.#deps.logger.info(`${peer.hex.slice(0, 8)} session established`, { initiator: keys.isInitiator, index: keys.localIndex });
    this.emit('established', peer.id, cert);
  }

  #onData(src: Uint8Array, frame: DataFrameView): void {
    const owner = this.#indices.get(frame.receiverIndex);
    if (!owner || owner.kind !== 'session') {
      this.#drops.unknown_index++;
      // A member whose DATA we cannot open has keys we lost (we restarted): re-key with it. Only a listed member:
      // an unknown sender id gets no entry and no handshake (module header).
      const peer = this.#peers.get(toHex(src));
      if (peer && !peer.session.hasUsableKey() && !peer.initiator) {
        if (this.#deps.isMember(peer.id)) this.#initiate(peer);
      } else if (!peer && this.#running) {
        const p = this.#admit(src);
        if (p) this.#initiate(p);
      }
      return;
    }
    const peer = owner.peer;
    if (!equalBytes(src, peer.id)) {
      this.#drops.src_mismatch++;
      return;
    }
    const opened = peer.session.decrypt(frame);
    if (!opened) return;
    // Authentic now: traffic (not a keepalive) is the activity that wakes a quiet peer's paths, before it is handled.
    if (opened.innerType !== InnerType.Keepalive) this.#deps.transport.trafficFrom?.(peer.hex);
    if (opened.innerType === InnerType.DeviceFrame && this.onDeviceFrame !== null) this.onDeviceFrame(peer.id, peer.hex, opened.body);
    else if (opened.innerType === InnerType.Payload) this.emit('payload', peer.id, opened.body);
    else if (opened.innerType !== InnerType.Keepalive) this.emit('inner', peer.id, opened.innerType, opened.body);
  }

  #countHandshakeError(peerId: Uint8Array, err: unknown): void {
    this.#drops.hs_invalid++;
    const code = (err as { code?: unknown }).code;
    this.#deps.logger.info(`${toHex(peerId).slice(0, 8)} handshake message dropped`, {
      code: typeof code === 'string' ? code : 'unknown',
      reason: (err as Error).message,
    });
    if (hasCode(err, 'SM_ERR_HS_CERT') || hasCode(err, 'SM_ERR_HS_SIGNATURE') || hasCode(err, 'SM_ERR_HS_PEER_MISMATCH')) {
      this.emit('handshake_failed', peerId, String(code));
    }
  }

  #scheduleSweep(delayMs: number): void {
    this.#sweep?.cancel();
    this.#sweepAtMs = this.#deps.clock.now() + delayMs;
    this.#sweep = this.#deps.clock.schedule(delayMs, () => {
      this.#sweep = null;
      if (!this.#running) return;
      const answering = this.#sweepOnce();
      this.#scheduleSweep(answering ? SWEEP_INTERVAL_MS : IDLE_SWEEP_INTERVAL_MS);
    });
  }

  /** One pass of housekeeping; returns whether a responder is still held (the next pass is due in a second). */
  #sweepOnce(): boolean {
    const now = this.#deps.clock.now();
    const answering = new Set<PeerEntry<P>>();
    for (const [index, owner] of this.#indices) {
      if (owner.kind === 'responder') {
        if (now - owner.responder.createdAtMs > RESPONDER_TIMEOUT_MS || owner.responder.state !== 'sent_resp') {
          owner.responder.destroy();
          this.#indices.delete(index);
        } else {
          answering.add(owner.peer);
        }
      } else if (owner.kind === 'session') {
        if (!owner.peer.session.localIndices().includes(index)) this.#indices.delete(index);
      }
    }
    // Module header: no session, no handshake, no longer listed -> no state.
    for (const p of [...this.#peers.values()]) {
      if (p.session.hasUsableKey() || p.initiator || answering.has(p) || this.#deps.isMember(p.id)) continue;
      this.forgetPeer(p.id);
    }
    return answering.size > 0;
  }
}
