/**
 * Mesh ping: a round trip to a member through its end-to-end session
 * (docs/protocol.md §2, inner types MESH_PING / MESH_PONG). What `shadowmesh
 * ping PEER` measures: the answer proves the peer holds the session keys, not
 * only that the relay forwards frames.
 *
 *     MESH_PING / MESH_PONG body, little-endian
 *     | 0..7 id u64 | 8.. echo bytes (any, possibly none) |
 *
 * Every authenticated MESH_PING is answered with a MESH_PONG carrying the
 * same body unchanged (the session already proves who sent it, and the reply
 * is no larger than the request, so answering cannot amplify). A MESH_PONG
 * resolves the outstanding ping with its id only when it comes from the peer
 * that was pinged.
 *
 * What callers must know:
 *  - At most `maxOutstanding` pings wait at once; another is refused with
 *    SM_ERR_PING_BUSY instead of growing the table.
 *  - ping() rejects with a MeshPingError: SM_ERR_PING_TIMEOUT (no pong in
 *    time), SM_ERR_PING_UNREACHABLE (the session layer dropped the request),
 *    SM_ERR_PING_BUSY, SM_ERR_PING_STOPPED (stop() while waiting).
 *  - The first ping to a peer without a session waits for the handshake, so
 *    its RTT includes it (as the first ping of a fresh WireGuard tunnel does).
 *  - Bad input from peers (a body shorter than the id, a pong nobody waits
 *    for) is dropped and counted in `drops`, never thrown.
 *  - RTTs come from `deps.hrtimeMs` (default performance.now, sub-millisecond);
 *    timeouts from the injected clock.
 */
import { performance } from 'node:perf_hooks';
import { randomBytes, toHex } from '../crypto/bytes.js';
import { ConfigError, SmError } from '../errors.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';
import { InnerType } from '../wire/constants.js';
import { MeshPingCode } from './node-errors.js';

/** A ping that takes longer than this over a relay is as good as lost; also covers a first handshake (tens of ms). */
export const DEFAULT_PING_TIMEOUT_MS = 5_000;
/** Outstanding pings at once: a CLI pings one peer at a time; 256 leaves room for scripts without letting a loop grow the table. */
export const DEFAULT_MAX_OUTSTANDING_PINGS = 256;
/** The id that starts every ping body. */
export const MESH_PING_ID_BYTES = 8;
/** Upper bound of a ping timeout: a minute is already far past any useful answer. */
export const MAX_PING_TIMEOUT_MS = 60_000;

export class MeshPingError extends SmError {
  override name = 'MeshPingError';
}

/** What the pinger needs from the peer manager (PeerManager satisfies it). */
export interface MeshPingPeers {
  sendInner(peerId: Uint8Array, innerType: number, body: Uint8Array): 'sent' | 'queued' | 'dropped';
  on(event: 'inner', listener: (peerId: Uint8Array, innerType: number, body: Uint8Array) => void): unknown;
  off(event: 'inner', listener: (peerId: Uint8Array, innerType: number, body: Uint8Array) => void): unknown;
}

export interface MeshPingerDeps {
  peers: MeshPingPeers;
  clock?: Clock;
  logger?: Logger;
  /** Monotonic milliseconds for RTTs; default performance.now. */
  hrtimeMs?: () => number;
}

export interface MeshPingerOptions {
  defaultTimeoutMs?: number;
  maxOutstanding?: number;
}

export const MESH_PINGER_DEFAULTS = Object.freeze({
  defaultTimeoutMs: DEFAULT_PING_TIMEOUT_MS,
  maxOutstanding: DEFAULT_MAX_OUTSTANDING_PINGS,
});

export type MeshPingDropReason = 'malformed' | 'unsolicited_pong' | 'wrong_peer' | 'reply_dropped';

interface Outstanding {
  peerHex: string;
  sentAtMs: number;
  timer: TimerHandle;
  resolve: (r: { rttMs: number }) => void;
  reject: (err: MeshPingError) => void;
}

function resolveOptions(options: MeshPingerOptions): Readonly<Required<MeshPingerOptions>> {
  if (options === null || typeof options !== 'object') throw new ConfigError('SM_ERR_CONFIG_VALUE', `MeshPinger options: expected an object, got ${String(options)}`);
  for (const key of Object.keys(options)) {
    if (!(key in MESH_PINGER_DEFAULTS)) throw new ConfigError('SM_ERR_CONFIG_UNKNOWN_OPTION', `MeshPinger option ${key}: unknown option`);
  }
  const o = { ...MESH_PINGER_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) };
  const int = (name: string, v: unknown, min: number, max: number): void => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new ConfigError('SM_ERR_CONFIG_VALUE', `MeshPinger option ${name}: expected an integer in [${min}, ${max}], got ${String(v)}`);
    }
  };
  int('defaultTimeoutMs', o.defaultTimeoutMs, 1, MAX_PING_TIMEOUT_MS);
  int('maxOutstanding', o.maxOutstanding, 1, 65_536);
  return Object.freeze(o);
}

export class MeshPinger {
  readonly #peers: MeshPingPeers;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #hrtime: () => number;
  readonly #o: Readonly<Required<MeshPingerOptions>>;
  readonly #outstanding = new Map<bigint, Outstanding>();
  readonly #drops: Record<MeshPingDropReason, number> = { malformed: 0, unsolicited_pong: 0, wrong_peer: 0, reply_dropped: 0 };
  readonly stats = { pingsSent: 0, pongsReceived: 0, pingsAnswered: 0, timeouts: 0 };
  readonly #onInner = (peerId: Uint8Array, innerType: number, body: Uint8Array): void => this.#handle(peerId, innerType, body);
  #nextId: bigint;
  #running = false;

  constructor(deps: MeshPingerDeps, options: MeshPingerOptions = {}) {
    if (deps === null || typeof deps !== 'object' || typeof deps.peers?.sendInner !== 'function') {
      throw new ConfigError('SM_ERR_CONFIG_VALUE', 'MeshPinger deps.peers: expected a peer manager (sendInner, on, off)');
    }
    this.#peers = deps.peers;
    this.#clock = deps.clock ?? systemClock;
    this.#logger = deps.logger ?? silentLogger;
    this.#hrtime = deps.hrtimeMs ?? (() => performance.now());
    this.#o = resolveOptions(options);
    // A random start keeps ids of a restarted daemon from matching late pongs of the previous one.
    this.#nextId = Buffer.from(randomBytes(8)).readBigUInt64LE(0);
  }

  get drops(): Readonly<Record<MeshPingDropReason, number>> {
    return this.#drops;
  }

  get outstanding(): number {
    return this.#outstanding.size;
  }

  /** Begin answering pings and receiving pongs; idempotent. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#peers.on('inner', this.#onInner);
  }

  /** Stop listening and reject every outstanding ping with SM_ERR_PING_STOPPED; idempotent. */
  stop(): void {
    if (!this.#running) return;
    this.#running = false;
    this.#peers.off('inner', this.#onInner);
    for (const [id, o] of this.#outstanding) {
      this.#outstanding.delete(id);
      o.timer.cancel();
      o.reject(new MeshPingError(MeshPingCode.STOPPED, 'mesh ping stopped: the node is shutting down'));
    }
  }

  /** One round trip to `peerId` through its end-to-end session. */
  ping(peerId: Uint8Array, timeoutMs: number = this.#o.defaultTimeoutMs): Promise<{ rttMs: number }> {
    if (!(peerId instanceof Uint8Array) || peerId.length !== 32) {
      return Promise.reject(new ConfigError('SM_ERR_CONFIG_PEER_ID', `MeshPinger.ping peerId: expected 32 bytes, got ${peerId instanceof Uint8Array ? peerId.length : typeof peerId}`));
    }
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_PING_TIMEOUT_MS) {
      return Promise.reject(new ConfigError('SM_ERR_CONFIG_VALUE', `MeshPinger.ping timeoutMs: expected an integer in [1, ${MAX_PING_TIMEOUT_MS}], got ${String(timeoutMs)}`));
    }
    const hex = toHex(peerId);
    if (!this.#running) return Promise.reject(new MeshPingError(MeshPingCode.STOPPED, `${hex.slice(0, 8)} mesh ping: the pinger is not running`));
    if (this.#outstanding.size >= this.#o.maxOutstanding) {
      return Promise.reject(new MeshPingError(MeshPingCode.BUSY, `${hex.slice(0, 8)} mesh ping: ${this.#o.maxOutstanding} pings already outstanding`));
    }
    const id = this.#nextId;
    this.#nextId = (this.#nextId + 1n) & 0xffff_ffff_ffff_ffffn;
    const body = new Uint8Array(MESH_PING_ID_BYTES);
    new DataView(body.buffer).setBigUint64(0, id, true);
    return new Promise((resolve, reject) => {
      const timer = this.#clock.schedule(timeoutMs, () => {
        if (this.#outstanding.get(id) === undefined) return;
        this.#outstanding.delete(id);
        this.stats.timeouts++;
        reject(new MeshPingError(MeshPingCode.TIMEOUT, `${hex.slice(0, 8)} mesh ping: no reply within ${timeoutMs} ms`));
      });
      this.#outstanding.set(id, { peerHex: hex, sentAtMs: this.#hrtime(), timer, resolve, reject });
      const sent = this.#peers.sendInner(peerId, InnerType.MeshPing, body);
      if (sent === 'dropped') {
        this.#outstanding.delete(id);
        timer.cancel();
        reject(new MeshPingError(MeshPingCode.UNREACHABLE, `${hex.slice(0, 8)} mesh ping: the request was dropped (no session and none can be started, or the relay link is down)`));
        return;
      }
      this.stats.pingsSent++;
    });
  }

  #handle(peerId: Uint8Array, innerType: number, body: Uint8Array): void {
    if (innerType !== InnerType.MeshPing && innerType !== InnerType.MeshPong) return;
    if (body.length < MESH_PING_ID_BYTES) {
      this.#drops.malformed++;
      this.#logger.debug(`${toHex(peerId).slice(0, 8)} mesh ping body too short`, { bytes: body.length });
      return;
    }
    if (innerType === InnerType.MeshPing) {
      // The body is a view into a reused receive buffer; sendInner seals it before returning.
      if (this.#peers.sendInner(peerId, InnerType.MeshPong, body) === 'dropped') this.#drops.reply_dropped++;
      else this.stats.pingsAnswered++;
      return;
    }
    const id = new DataView(body.buffer, body.byteOffset, body.byteLength).getBigUint64(0, true);
    const o = this.#outstanding.get(id);
    if (o === undefined) {
      this.#drops.unsolicited_pong++;
      return;
    }
    if (o.peerHex !== toHex(peerId)) {
      this.#drops.wrong_peer++;
      return;
    }
    this.#outstanding.delete(id);
    o.timer.cancel();
    this.stats.pongsReceived++;
    o.resolve({ rttMs: Math.max(0, this.#hrtime() - o.sentAtMs) });
  }
}
