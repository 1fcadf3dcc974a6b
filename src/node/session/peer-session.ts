/**
 * The end-to-end data session with one peer (docs/protocol.md §2, DATA
 * frames; docs/architecture.md "Sessions and keys"): the current and previous key pairs, sealing and
 * opening DATA frames, the anti-replay window, the queue of packets waiting
 * for a handshake, and per-reason drop counters.
 *
 *   DATA | 0 ver | 1 type 0x24 | 2..3 zero | 4..7 receiverIndex u32 LE | 8..15 counter u64 LE | ciphertext | tag 16 |
 *   AAD = bytes 0..15; nonce = 4 zero bytes || counter LE; plaintext = innerType u8 || body
 *
 * Division of labour: this file moves frames and keys; session-timers.ts owns
 * every decision that depends on time (rekey, retry, give-up, keepalive, key
 * expiry) and reports it through PeerSessionEvents. The owner (the node's
 * peer manager) runs handshakes and transports and tells the session about
 * them (installKeys, handshakeStarted, handshakeFailed).
 *
 * Callers must know:
 *  - decrypt() never throws on network input: every failure is counted in
 *    `drops` by reason and returns null. A frame only moves the replay window
 *    after its tag verified.
 *  - decrypt() returns the same result object every time (no allocation per
 *    packet): read its fields before the next decrypt(). It decrypts in place
 *    (AeadOpener.openInPlace): `body` is a view of `frame.sealed`, which the
 *    caller hands over with the frame. Once a frame passed the replay check,
 *    its sealed bytes are plaintext or garbage afterwards, whatever the result;
 *    a frame refused before (unknown index, replay, expired key) is untouched.
 *  - encrypt() copies `payload`; the returned frame is a fresh array, with
 *    room for a transport header before it (dataplane/frame-headroom.ts) so
 *    the relay link sends it without another copy.
 *  - sealInto() is encrypt() for the per-packet path: it seals into the
 *    caller's scratch buffer (no array per frame) and only when a key is
 *    usable now; null means nothing happened and encrypt() decides (seal,
 *    queue or drop). The frame is a view of the scratch buffer: the caller
 *    sends it before the next sealInto() and to nothing that keeps it.
 *  - installKeys() takes ownership of the SessionKeys buffers and zeroes them
 *    when the pair is dropped (session-keys.ts).
 *  - events and onFlush may re-enter the session (e.g. call encrypt() or
 *    stop()); state is settled before each callback.
 *  - stop() wipes every key and drops the queue; start() after stop() works
 *    with new keys.
 */
import type { Clock } from '../../util/clock.js';
import { silentLogger, type Logger } from '../../util/logger.js';
import { ConfigError } from '../../errors.js';
import type { AeadAlgorithm } from '../../crypto/aead.js';
import { AEAD_TAG_BYTES } from '../../crypto/aead.js';
import { randomBytes } from '../../crypto/bytes.js';
import { writeDataHeader, type DataFrameView } from '../../wire/peer-frames.js';
import { DATA_COUNTER_OFFSET, DATA_HEADER_BYTES, InnerType, MAX_PEER_FRAME_BYTES, isDataInnerType } from '../../wire/constants.js';
import { allocFrameWithHeadroom } from '../dataplane/frame-headroom.js';
import { KeyPair } from './key-pair.js';
import { checkSessionKeys, type SessionKeys } from './session-keys.js';
import { REPLAY_WINDOW_DEFAULT_COUNTERS, ReplayWindow } from './replay-window.js';
import { SessionTimers, type HandshakeReason, type SessionTimerHost, type SessionTimerOptions, type TimedKeyPair } from './session-timers.js';
import { SessionCode } from './session-errors.js';

/** Why a frame or packet was dropped; each has its own counter in `drops`. */
export type DropReason =
  /** receiverIndex names none of our live key pairs (e.g. a previous pair already wiped). */
  | 'unknown_index'
  /** counter already accepted, or older than the replay window. */
  | 'replay'
  /** the AEAD tag did not verify: tampered, forged or under another key. */
  | 'auth_failed'
  /** the pair is past rejectAfterTime, past its grace, or the counter past rejectAfterMessages. */
  | 'expired_key'
  /** sealed part too short to hold an inner type byte and a tag. */
  | 'too_short'
  /** no key pair at all: a frame arrived, or queued packets were abandoned, a keepalive was refused. */
  | 'no_session'
  /** authentic, but an inner type v1 does not define (or a keepalive with a body). */
  | 'bad_inner_type'
  /** the queue waiting for a handshake was full: its oldest packet went. */
  | 'queue_full';

export const DROP_REASONS: readonly DropReason[] = Object.freeze([
  'unknown_index', 'replay', 'auth_failed', 'expired_key', 'too_short', 'no_session', 'bad_inner_type', 'queue_full',
] as const);

/** What the session reports; the owner acts. */
export interface PeerSessionEvents {
  /** Start a handshake as initiator (one may already run: the owner dedups). */
  initiateHandshake(reason: HandshakeReason): void;
  /** Seal encrypt(InnerType.Keepalive, empty) and send it. */
  sendKeepalive(): void;
  /** rekeyAttemptTimeMs passed without new keys; queued packets were dropped. */
  handshakeGaveUp(): void;
}

export interface PeerSessionDeps {
  clock: Clock;
  events: PeerSessionEvents;
  logger?: Logger;
  /** Randomness for retry jitter; defaults to the OS CSPRNG. */
  rng?: (n: number) => Uint8Array;
}

export interface PeerSessionOptions {
  aead?: AeadAlgorithm;
  timers?: Partial<SessionTimerOptions>;
  /** Packets kept while no key is usable; the oldest is dropped past this. */
  maxQueuedPackets?: number;
  /** Replay window size in counters (replay-window.ts). */
  replayWindow?: number;
}

/** Packets held while a handshake runs: WireGuard's MAX_STAGED_PACKETS. Enough
 *  for a TCP initial window plus a few retransmissions; more would only add
 *  stale data (and up to 64 KiB each) once the session comes up. */
export const DEFAULT_MAX_QUEUED_PACKETS = 128;
/** Largest queue we accept: 4096 packets, 256 MiB of 64 KiB segments per peer at worst. */
export const MAX_QUEUED_PACKETS_LIMIT = 4096;
/** Inner plaintext header: the inner type byte (protocol.md §2). */
const INNER_TYPE_BYTES = 1;
/** Largest body encrypt() takes: the whole DATA frame must fit a peer frame. */
export const MAX_DATA_BODY_BYTES = MAX_PEER_FRAME_BYTES - DATA_HEADER_BYTES - INNER_TYPE_BYTES - AEAD_TAG_BYTES;
/** Smallest sealed part that can hold an inner type byte. */
const MIN_SEALED_BYTES = INNER_TYPE_BYTES + AEAD_TAG_BYTES;

const OPTION_KEYS = new Set(['aead', 'timers', 'maxQueuedPackets', 'replayWindow']);

function badOption(name: string, expected: string, got: unknown): never {
  throw new ConfigError(SessionCode.OPTION, `PeerSession ${name}: expected ${expected}, got ${String(got)}`);
}

export interface SessionStats {
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
  handshakes: number;
  lastHandshakeAtMs: number | null;
  sessionStartedAtMs: number | null;
}

/** The reused result of decrypt(). */
export interface OpenedData {
  innerType: number;
  body: Uint8Array;
}

export class PeerSession {
  /** Receives frames sealed from the queue right after installKeys. Set by the owner; if null, queued packets are dropped ('no_session'). */
  onFlush: ((frame: Uint8Array) => void) | null = null;
  readonly drops: Readonly<Record<DropReason, number>>;
  readonly stats: Readonly<SessionStats>;

  readonly #clock: Clock;
  readonly #events: PeerSessionEvents;
  readonly #log: Logger;
  readonly #alg: AeadAlgorithm;
  readonly #maxQueued: number;
  readonly #replayWindow: number;
  readonly #timers: SessionTimers;
  readonly #drops: Record<DropReason, number>;
  readonly #stats: SessionStats;
  readonly #opened: OpenedData = { innerType: 0, body: new Uint8Array(0) };
  #current: KeyPair | null = null;
  #previous: KeyPair | null = null;
  /** Ring of queued frames: each already laid out as header room || inner type || body || tag room. */
  readonly #queue: Array<Uint8Array | undefined>;
  #queueHead = 0;
  #queueCount = 0;

  constructor(deps: PeerSessionDeps, options: PeerSessionOptions = {}) {
    if (typeof options !== 'object' || options === null) badOption('options', 'an object', options);
    for (const k of Object.keys(options)) if (!OPTION_KEYS.has(k)) badOption(k, 'a known option', 'an unknown key');
    const alg = options.aead ?? 'chacha20-poly1305';
    if (alg !== 'chacha20-poly1305' && alg !== 'aes-256-gcm') badOption('aead', "'chacha20-poly1305' or 'aes-256-gcm'", alg);
    const maxQueued = options.maxQueuedPackets ?? DEFAULT_MAX_QUEUED_PACKETS;
    if (!Number.isInteger(maxQueued) || maxQueued < 0 || maxQueued > MAX_QUEUED_PACKETS_LIMIT) {
      badOption('maxQueuedPackets', `an integer in [0, ${MAX_QUEUED_PACKETS_LIMIT}]`, maxQueued);
    }
    this.#alg = alg;
    this.#maxQueued = maxQueued;
    this.#replayWindow = options.replayWindow ?? REPLAY_WINDOW_DEFAULT_COUNTERS;
    this.#clock = deps.clock;
    this.#events = deps.events;
    this.#log = deps.logger ?? silentLogger;
    this.#queue = new Array<Uint8Array | undefined>(maxQueued);
    this.#drops = {
      unknown_index: 0, replay: 0, auth_failed: 0, expired_key: 0, too_short: 0, no_session: 0, bad_inner_type: 0, queue_full: 0,
    };
    this.drops = this.#drops;
    this.#stats = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, handshakes: 0, lastHandshakeAtMs: null, sessionStartedAtMs: null };
    this.stats = this.#stats;
    const host: SessionTimerHost = {
      currentKeyPair: (): TimedKeyPair | null => this.#current,
      previousKeyPair: (): TimedKeyPair | null => this.#previous,
      dropKeyPair: (which) => this.#dropKeyPair(which),
      initiateHandshake: (reason) => this.#events.initiateHandshake(reason),
      sendKeepalive: () => this.#events.sendKeepalive(),
      handshakeGaveUp: () => this.#gaveUp(),
    };
    this.#timers = new SessionTimers({ clock: deps.clock, host, rng: deps.rng ?? randomBytes }, options.timers);
    // Fail at construction, not at the first handshake, on a bad window size.
    void new ReplayWindow(this.#replayWindow);
  }

  /** The resolved timer options (frozen). */
  get timerOptions(): Readonly<SessionTimerOptions> {
    return this.#timers.options;
  }

  /** Packets waiting for a key. */
  get queuedPackets(): number {
    return this.#queueCount;
  }

  /** True while a handshake attempt runs (see session-timers.ts). */
  get handshakeInProgress(): boolean {
    return this.#timers.handshakeInProgress;
  }

  /** The current pair's direct-path authentication key, or null. Aliases session memory that is zeroed when the pair is dropped: do not keep it. */
  currentPathAuthKey(): Uint8Array | null {
    const kp = this.#current;
    return kp !== null && this.#timers.canReceive(kp, this.#clock.now()) ? kp.pathAuthKey : null;
  }

  /** The path-auth keys a peer may still use: the current pair's, then the previous pair's while it may receive (a re-key is not simultaneous at both ends). Same aliasing rule as currentPathAuthKey. */
  pathAuthKeys(): Uint8Array[] {
    const now = this.#clock.now();
    const out: Uint8Array[] = [];
    for (const kp of [this.#current, this.#previous]) {
      const key = kp !== null && this.#timers.canReceive(kp, now) ? kp.pathAuthKey : null;
      if (key !== null) out.push(key);
    }
    return out;
  }

  /** New keys become current; the old current becomes previous (kept for the grace); anything older is wiped now. */
  installKeys(keys: SessionKeys): void {
    checkSessionKeys(keys);
    for (const kp of [this.#current, this.#previous]) {
      if (kp !== null && kp.localIndex === keys.localIndex) {
        throw new ConfigError(SessionCode.KEYS, `session keys localIndex: ${keys.localIndex} is already in use by a live key pair`);
      }
    }
    const now = this.#clock.now();
    const fresh = new KeyPair(keys, this.#alg, this.#timers.options.rejectAfterMessages, this.#replayWindow, now);
    if (this.#previous !== null) this.#previous.destroy();
    const old = this.#current;
    this.#previous = old;
    if (old !== null) old.retire(now);
    this.#current = fresh;
    const st = this.#stats;
    st.handshakes++;
    st.lastHandshakeAtMs = now;
    if (st.sessionStartedAtMs === null) st.sessionStartedAtMs = now;
    this.#timers.onKeysInstalled();
    this.#log.debug('key pair installed', { localIndex: keys.localIndex, initiator: keys.isInitiator });
    this.#flush(now);
  }

  /**
   * Seal a DATA frame under the current key pair: header || ciphertext || tag.
   * Returns null when no key is usable: a PAYLOAD is then queued (bounded,
   * oldest dropped as 'queue_full') and a handshake is asked for; a KEEPALIVE
   * is not queued (counted 'no_session').
   */
  encrypt(innerType: number, payload: Uint8Array): Uint8Array | null {
    if (!isDataInnerType(innerType) && innerType !== InnerType.Keepalive) {
      throw new ConfigError(SessionCode.ARG, `encrypt innerType: expected a known inner type (protocol.md §2), got ${String(innerType)}`);
    }
    if (!(payload instanceof Uint8Array) || payload.length > MAX_DATA_BODY_BYTES) {
      throw new ConfigError(SessionCode.ARG, `encrypt payload: expected a Uint8Array of at most ${MAX_DATA_BODY_BYTES} bytes`);
    }
    if (innerType === InnerType.Keepalive && payload.length !== 0) {
      throw new ConfigError(SessionCode.ARG, `encrypt payload: a keepalive is empty, got ${payload.length} bytes`);
    }
    const frame = allocFrameWithHeadroom(DATA_HEADER_BYTES + INNER_TYPE_BYTES + payload.length + AEAD_TAG_BYTES);
    frame[DATA_HEADER_BYTES] = innerType;
    frame.set(payload, DATA_HEADER_BYTES + INNER_TYPE_BYTES);
    const now = this.#clock.now();
    const kp = this.#current;
    if (kp !== null && this.#timers.canSend(kp, now)) {
      this.#seal(kp, frame, now);
      return frame;
    }
    if (innerType === InnerType.Keepalive) {
      this.#drops.no_session++;
      return null;
    }
    this.#enqueue(frame);
    this.#timers.onPacketQueued(now);
    return null;
  }

  /**
   * Seal `innerType` ‖ `payload` into `scratch` with the current pair, if it may send now: the DATA frame as a
   * view of `scratch`'s start, or null (no usable key, or `scratch` too small) with nothing sealed or counted.
   * For the owner's per-packet path: the types and sizes are the owner's, not checked again here.
   */
  sealInto(innerType: number, payload: Uint8Array, scratch: Uint8Array): Uint8Array | null {
    const length = DATA_HEADER_BYTES + INNER_TYPE_BYTES + payload.length + AEAD_TAG_BYTES;
    if (length > scratch.length) return null;
    const kp = this.#current;
    if (kp === null) return null;
    const now = this.#clock.now();
    if (!this.#timers.canSend(kp, now)) return null;
    const frame = scratch.subarray(0, length);
    frame[DATA_HEADER_BYTES] = innerType;
    frame.set(payload, DATA_HEADER_BYTES + INNER_TYPE_BYTES);
    this.#seal(kp, frame, now);
    return frame;
  }

  /**
   * Authenticate and decrypt a decoded DATA frame. Finds the pair by
   * receiverIndex (current, or previous within the grace), checks the replay
   * window, opens, then marks the counter seen. Returns the (reused) result
   * or null, with the drop counted by reason. Never throws on network input.
   */
  decrypt(frame: DataFrameView): OpenedData | null {
    const drops = this.#drops;
    const cur = this.#current;
    const prev = this.#previous;
    let kp: KeyPair | null = null;
    if (cur !== null && cur.localIndex === frame.receiverIndex) kp = cur;
    else if (prev !== null && prev.localIndex === frame.receiverIndex) kp = prev;
    if (kp === null) {
      if (cur === null && prev === null) drops.no_session++;
      else drops.unknown_index++;
      return null;
    }
    const header = frame.header;
    const sealed = frame.sealed;
    if (header.length !== DATA_HEADER_BYTES || sealed.length < MIN_SEALED_BYTES) {
      drops.too_short++;
      return null;
    }
    const now = this.#clock.now();
    const counter = frame.counter;
    if (!this.#timers.canReceive(kp, now) || counter >= this.#timers.options.rejectAfterMessages) {
      drops.expired_key++;
      return null;
    }
    if (!kp.replay.check(counter)) {
      drops.replay++;
      return null;
    }
    // In place: the received frame is ours (module header), so no plaintext array per packet.
    const plain = kp.opener.openInPlace(header, counter, sealed);
    if (plain === null) {
      drops.auth_failed++;
      return null;
    }
    const innerType = plain[0]!;
    const bodyLength = plain.length - INNER_TYPE_BYTES;
    if (!isDataInnerType(innerType) && (innerType !== InnerType.Keepalive || bodyLength !== 0)) {
      // Authentic but not understood: the
      // counter is still spent, so a replay of it is not re-examined.
      kp.replay.accept(counter);
      plain.fill(0);
      drops.bad_inner_type++;
      return null;
    }
    if (!kp.replay.accept(counter)) {
      plain.fill(0);
      drops.replay++;
      return null;
    }
    const st = this.#stats;
    st.framesIn++;
    st.bytesIn += DATA_HEADER_BYTES + sealed.length;
    this.#timers.onDataReceived(now, innerType !== InnerType.Keepalive);
    const out = this.#opened;
    out.innerType = innerType;
    out.body = plain.subarray(INNER_TYPE_BYTES);
    return out;
  }

  /** True when encrypt() would seal now rather than queue. */
  hasUsableKey(): boolean {
    const kp = this.#current;
    return kp !== null && this.#timers.canSend(kp, this.#clock.now());
  }

  /** Receiver indices of live key pairs (current first); the owner maps index -> session. */
  localIndices(): number[] {
    const out: number[] = [];
    if (this.#current !== null) out.push(this.#current.localIndex);
    if (this.#previous !== null) out.push(this.#previous.localIndex);
    return out;
  }

  /** The owner sent HS_INIT for this peer. */
  handshakeStarted(): void {
    this.#timers.onHandshakeStarted(this.#clock.now());
  }

  /** The owner's handshake for this peer failed; the retry policy decides what next. */
  handshakeFailed(): void {
    this.#timers.onHandshakeFailed(this.#clock.now());
  }

  /** Start the periodic tick. Idempotent. */
  start(): void {
    this.#timers.start();
  }

  /** Stop the tick, wipe every key, drop the queue ('no_session'). Idempotent. */
  stop(): void {
    this.#timers.stop();
    this.#dropKeyPair('previous');
    this.#dropKeyPair('current');
    this.#dropQueue();
  }

  // ---- internals -----------------------------------------------------------

  /** Seal `frame` (laid out by encrypt/enqueue) under `kp` in place. */
  #seal(kp: KeyPair, frame: Uint8Array, now: number): void {
    writeDataHeader(frame, 0, kp.remoteIndex);
    // canSend() checked the limit, so the sealer cannot be exhausted here.
    kp.sealer!.sealInPlace(frame, 0, DATA_HEADER_BYTES, DATA_COUNTER_OFFSET, frame.length - DATA_HEADER_BYTES - AEAD_TAG_BYTES);
    const st = this.#stats;
    st.framesOut++;
    st.bytesOut += frame.length;
    this.#timers.onDataSent(now);
  }

  #enqueue(frame: Uint8Array): void {
    const cap = this.#maxQueued;
    if (cap === 0) {
      this.#drops.queue_full++;
      return;
    }
    if (this.#queueCount === cap) {
      // Oldest first: under a flood the freshest packets are the useful ones.
      this.#queue[this.#queueHead] = undefined;
      this.#queueHead = (this.#queueHead + 1) % cap;
      this.#queueCount--;
      this.#drops.queue_full++;
    }
    this.#queue[(this.#queueHead + this.#queueCount) % cap] = frame;
    this.#queueCount++;
  }

  #dequeue(): Uint8Array | undefined {
    if (this.#queueCount === 0) return undefined;
    const f = this.#queue[this.#queueHead];
    this.#queue[this.#queueHead] = undefined;
    this.#queueHead = (this.#queueHead + 1) % this.#maxQueued;
    this.#queueCount--;
    return f;
  }

  /** Seal and hand over queued packets, oldest first, while the current pair can send. */
  #flush(now: number): void {
    if (this.#queueCount === 0) return;
    if (this.onFlush === null) {
      this.#dropQueue();
      return;
    }
    while (this.#queueCount > 0) {
      const kp = this.#current;
      if (kp === null || !this.#timers.canSend(kp, now)) return;
      const frame = this.#dequeue()!;
      this.#seal(kp, frame, now);
      const sink = this.onFlush;
      if (sink === null) {
        this.#drops.no_session++;
        continue;
      }
      sink(frame);
    }
  }

  #dropQueue(): void {
    while (this.#queueCount > 0) {
      this.#dequeue();
      this.#drops.no_session++;
    }
    this.#queueHead = 0;
  }

  #dropKeyPair(which: 'current' | 'previous'): void {
    const kp = which === 'current' ? this.#current : this.#previous;
    if (kp === null) return;
    if (which === 'current') this.#current = null;
    else this.#previous = null;
    kp.destroy();
    this.#log.debug('key pair dropped', { which, localIndex: kp.localIndex });
    if (this.#current === null && this.#previous === null) this.#stats.sessionStartedAtMs = null;
  }

  #gaveUp(): void {
    this.#dropQueue();
    this.#log.debug('handshake attempts gave up');
    this.#events.handshakeGaveUp();
  }
}
