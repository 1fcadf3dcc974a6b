/**
 * The node's peers: one end-to-end session per peer, the handshakes that key
 * it, and the routing of incoming peer frames by receiver index
 * (DESIGN.md "Security model"; docs/protocol.md §2; docs/handshake.md §4).
 *
 * It sits between a frame transport (today the relay link; later any path)
 * and the payload consumers. It owns handshake orchestration — who initiates,
 * replay of INITs, simultaneous initiation, index allocation, expiry of
 * half-done handshakes — while all session timer policy (rekey, keepalive,
 * retries) stays in node/session/peer-session.ts, which asks for a handshake
 * through its events.
 *
 * Every frame from the network goes through `onFrame`, which never throws:
 * anything malformed, unexpected or unauthenticated is dropped and counted by
 * reason in `drops`.
 *
 * Simultaneous initiation: when both sides start a handshake at once, the side
 * with the lower peer id keeps its own and ignores the other's INIT; the other
 * abandons its own and responds. Both then agree on one key pair.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from '../crypto/bytes.js';
import { hasCode } from '../errors.js';
import { HandshakeInitiator, HandshakeResponder, type HandshakeIdentity, type VerifiedPeer } from '../handshake/peer-handshake.js';
import { FrameType, InnerType } from '../wire/constants.js';
import { decodePeerFrame, type PeerFrame } from '../wire/peer-frames.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';
import { PeerSession, type DropReason } from './session/peer-session.js';
import type { SessionTimerOptions } from './session/session-timers.js';
import type { AeadAlgorithm } from '../crypto/aead.js';

/** How long a responder waits for FINISH before forgetting the half-done handshake. */
export const RESPONDER_TIMEOUT_MS = 15_000;
/** Minimum spacing of INITs we process from one peer: each costs an ML-KEM encapsulation and an ML-DSA signature, so a flood must not buy unbounded CPU. */
export const INIT_MIN_INTERVAL_MS = 100;
/** Housekeeping cadence: expire half-done handshakes and forget indices of wiped key pairs. */
export const SWEEP_INTERVAL_MS = 1_000;
/** Upper bound on peers tracked at once (each holds a session and small queues). */
export const DEFAULT_MAX_PEERS = 4_096;

/** The consumer-side view of whatever carries peer frames (the relay link today). */
export interface FrameTransport {
  send(peerId: Uint8Array, frame: Uint8Array): boolean;
}

export type ManagerDropReason =
  | 'malformed' | 'unexpected_type' | 'unknown_index' | 'src_mismatch' | 'hs_invalid' | 'hs_replay'
  | 'hs_rate_limited' | 'hs_tiebreak' | 'too_many_peers' | 'transport_full';

export interface PeerManagerOptions {
  aead?: AeadAlgorithm;
  timers?: Partial<SessionTimerOptions>;
  maxPeers?: number;
  maxQueuedPackets?: number;
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
  lastInitFromPeerTs: number;
  lastInitProcessedAtMs: number;
}

type IndexOwner<P extends VerifiedPeer> =
  | { kind: 'initiator'; peer: PeerEntry<P> }
  | { kind: 'responder'; peer: PeerEntry<P>; responder: HandshakeResponder<P> }
  | { kind: 'session'; peer: PeerEntry<P> };

function hexOf(id: Uint8Array): string {
  return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex');
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

export interface PeerManagerDeps<P extends VerifiedPeer> {
  identity: HandshakeIdentity<P>;
  /** Our own peer id (for the simultaneous-initiation tie-break). */
  localPeerId: Uint8Array;
  transport: FrameTransport;
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
  readonly #deps: Required<Omit<PeerManagerDeps<P>, 'logger' | 'clock' | 'rng'>> & { clock: Clock; logger: Logger; rng: (n: number) => Uint8Array };
  readonly #options: Required<Pick<PeerManagerOptions, 'maxPeers'>> & PeerManagerOptions;
  readonly #peers = new Map<string, PeerEntry<P>>();
  readonly #indices = new Map<number, IndexOwner<P>>();
  readonly #drops: Record<ManagerDropReason, number> = {
    malformed: 0, unexpected_type: 0, unknown_index: 0, src_mismatch: 0, hs_invalid: 0, hs_replay: 0,
    hs_rate_limited: 0, hs_tiebreak: 0, too_many_peers: 0, transport_full: 0,
  };
  #lastInitTimestamp = 0;
  #sweep: TimerHandle | null = null;
  #running = false;

  constructor(deps: PeerManagerDeps<P>, options: PeerManagerOptions = {}) {
    super();
    this.#deps = {
      identity: deps.identity,
      localPeerId: deps.localPeerId,
      transport: deps.transport,
      clock: deps.clock ?? systemClock,
      logger: deps.logger ?? silentLogger,
      rng: deps.rng ?? randomBytes,
    };
    this.#options = { maxPeers: DEFAULT_MAX_PEERS, ...options };
  }

  get drops(): Readonly<Record<ManagerDropReason, number>> {
    return this.#drops;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#scheduleSweep();
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
  }

  /** Send an application payload to a peer, end to end. Queued (bounded) while a handshake runs. */
  sendPayload(peerId: Uint8Array, payload: Uint8Array): 'sent' | 'queued' | 'dropped' {
    return this.sendInner(peerId, InnerType.Payload, payload);
  }

  /** Send `body` under a data inner type (protocol.md §2) to a peer, end to end. */
  sendInner(peerId: Uint8Array, innerType: number, body: Uint8Array): 'sent' | 'queued' | 'dropped' {
    const peer = this.#peer(peerId);
    if (!peer) return 'dropped';
    const frame = peer.session.encrypt(innerType, body);
    if (frame === null) return 'queued';
    if (!this.#deps.transport.send(peer.id, frame)) {
      this.#drops.transport_full++;
      return 'dropped';
    }
    return 'sent';
  }

  /** Start a fresh handshake with every peer we hold a session with (after the transport reconnected). */
  rehandshakeAll(): void {
    for (const p of this.#peers.values()) if (p.session.hasUsableKey() || p.initiator) this.#initiate(p);
  }

  /** Drop everything about a peer now: its half-done handshakes, its session (keys wiped) and queued packets. Used when it is revoked. */
  forgetPeer(peerId: Uint8Array): void {
    const peer = this.#peers.get(hexOf(peerId));
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
    return this.#peers.get(hexOf(peerId))?.session.currentPathAuthKey() ?? null;
  }

  /** The current and (within its grace) previous path-auth keys with a peer; empty without a session. Do not keep them. */
  pathAuthKeys(peerId: Uint8Array): Uint8Array[] {
    return this.#peers.get(hexOf(peerId))?.session.pathAuthKeys() ?? [];
  }

  /** The verified certificate a peer presented in its last completed handshake, or null. */
  peerCertificate(peerId: Uint8Array): P | null {
    return this.#peers.get(hexOf(peerId))?.cert ?? null;
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
        case FrameType.HsInit: return this.#onInit(src, bytes, frame.timestampMs);
        case FrameType.HsResp: return this.#onResp(src, bytes, frame.receiverIndex);
        case FrameType.HsFinish: return this.#onFinish(src, bytes, frame.receiverIndex);
        default: this.#drops.unexpected_type++;
      }
    } catch (err) {
      // A bug must not take the packet loop down; count it and keep going.
      this.#drops.hs_invalid++;
      this.#deps.logger.error('peer frame handler failed', { error: (err as Error).message });
    }
  }

  #peer(peerId: Uint8Array): PeerEntry<P> | null {
    const hex = hexOf(peerId);
    const existing = this.#peers.get(hex);
    if (existing) return existing;
    if (this.#peers.size >= this.#options.maxPeers) {
      this.#drops.too_many_peers++;
      return null;
    }
    const id = new Uint8Array(peerId);
    const entry: PeerEntry<P> = {
      id, hex, cert: null, initiator: null, lastInitFromPeerTs: 0, lastInitProcessedAtMs: -Infinity,
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
            if (f) this.#deps.transport.send(entry.id, f);
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

  #onInit(src: Uint8Array, bytes: Uint8Array, timestampMs: number): void {
    const peer = this.#peer(src);
    if (!peer) return;
    const now = this.#deps.clock.now();
    if (timestampMs <= peer.lastInitFromPeerTs) {
      this.#drops.hs_replay++;
      return;
    }
    if (now - peer.lastInitProcessedAtMs < INIT_MIN_INTERVAL_MS) {
      this.#drops.hs_rate_limited++;
      return;
    }
    if (peer.initiator && compareBytes(this.#deps.localPeerId, peer.id) < 0) {
      // Both sides initiated at once: the lower peer id keeps its own handshake.
      this.#drops.hs_tiebreak++;
      return;
    }
    peer.lastInitProcessedAtMs = now;
    let responder: HandshakeResponder<P>;
    try {
      responder = HandshakeResponder.respond(this.#deps.identity, bytes, src, this.#allocateIndex(), now);
    } catch (err) {
      this.#countHandshakeError(peer, err);
      return;
    }
    peer.lastInitFromPeerTs = timestampMs;
    this.#abandonInitiator(peer);
    this.#indices.set(responder.localIndex, { kind: 'responder', peer, responder });
    if (!this.#deps.transport.send(peer.id, responder.resp)) this.#drops.transport_full++;
  }

  /** The handshake a RESP/FINISH names by receiver index, if it is of `kind` and came from its peer; else counted and null. */
  #handshakeOwner<K extends 'initiator' | 'responder'>(src: Uint8Array, receiverIndex: number, kind: K): Extract<IndexOwner<P>, { kind: K }> | null {
    const owner = this.#indices.get(receiverIndex);
    if (!owner || owner.kind !== kind || (kind === 'initiator' && !owner.peer.initiator)) {
      this.#drops.unknown_index++;
      return null;
    }
    if (hexOf(src) !== owner.peer.hex) {
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
      this.#countHandshakeError(peer, err);
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
      this.#countHandshakeError(peer, err);
      return;
    }
    this.#indices.set(receiverIndex, { kind: 'session', peer });
    this.#established(peer, result.peer, result.keys);
  }

  #established(peer: PeerEntry<P>, cert: P, keys: Parameters<PeerSession['installKeys']>[0]): void {
    peer.cert = cert;
    peer.session.installKeys(keys);
    this.#deps.logger.info(`${peer.hex.slice(0, 8)} session established`, { initiator: keys.isInitiator, index: keys.localIndex });
    this.emit('established', peer.id, cert);
  }

  #onData(src: Uint8Array, frame: Extract<PeerFrame, { type: typeof FrameType.Data }>): void {
    const owner = this.#indices.get(frame.receiverIndex);
    if (!owner || owner.kind !== 'session') {
      this.#drops.unknown_index++;
      // A member whose DATA we cannot open has keys we lost (we restarted): re-key with it.
      const peer = this.#peers.get(hexOf(src));
      if (peer && !peer.session.hasUsableKey() && !peer.initiator) this.#initiate(peer);
      else if (!peer && this.#running) {
        const p = this.#peer(src);
        if (p) this.#initiate(p);
      }
      return;
    }
    const peer = owner.peer;
    if (hexOf(src) !== peer.hex) {
      this.#drops.src_mismatch++;
      return;
    }
    const opened = peer.session.decrypt(frame);
    if (!opened) return;
    if (opened.innerType === InnerType.Payload) this.emit('payload', peer.id, opened.body);
    else if (opened.innerType !== InnerType.Keepalive) this.emit('inner', peer.id, opened.innerType, opened.body);
  }

  #countHandshakeError(peer: PeerEntry<P>, err: unknown): void {
    this.#drops.hs_invalid++;
    const code = (err as { code?: unknown }).code;
    this.#deps.logger.info(`${peer.hex.slice(0, 8)} handshake message dropped`, {
      code: typeof code === 'string' ? code : 'unknown',
      reason: (err as Error).message,
    });
    if (hasCode(err, 'SM_ERR_HS_CERT') || hasCode(err, 'SM_ERR_HS_SIGNATURE') || hasCode(err, 'SM_ERR_HS_PEER_MISMATCH')) {
      this.emit('handshake_failed', peer.id, String(code));
    }
  }

  #scheduleSweep(): void {
    this.#sweep = this.#deps.clock.schedule(SWEEP_INTERVAL_MS, () => {
      if (!this.#running) return;
      this.#sweepOnce();
      this.#scheduleSweep();
    });
  }

  #sweepOnce(): void {
    const now = this.#deps.clock.now();
    for (const [index, owner] of this.#indices) {
      if (owner.kind === 'responder') {
        if (now - owner.responder.createdAtMs > RESPONDER_TIMEOUT_MS || owner.responder.state !== 'sent_resp') {
          owner.responder.destroy();
          this.#indices.delete(index);
        }
      } else if (owner.kind === 'session') {
        if (!owner.peer.session.localIndices().includes(index)) this.#indices.delete(index);
      }
    }
  }
}
