/**
 * Direct-path re-handshake (docs/architecture.md "Carriers";
 * docs/protocol.md §3.3): after a pinned mutual-TLS WebSocket to a peer
 * opens, both ends prove they hold the end-to-end session with that peer,
 * bound to THIS TLS connection. Pure: callers pass bytes, the time and a
 * random source, and get bytes to send, completion, or an error
 * (docs/conventions.md §5). No sockets, no timers, no logging.
 *
 * Key schedule (path-auth-keys below):
 *
 *     sessionId = HMAC-SHA-256(k_path, "shadowmesh v1 path session id")[0..16)
 *     K         = HKDF-SHA-256(ikm = k_path, salt = exporter,
 *                              info = "shadowmesh v1 path-auth", 32)
 *
 * where k_path is the session's path-auth key (docs/handshake.md §3) and
 * `exporter` is this connection's TLS exporter (RFC 8446 §7.5, label
 * EXPORTER-shadowmesh-path-auth, empty context, 32 bytes). Messages
 * (layouts in src/wire/path-frames.ts):
 *
 *     dialer   -> acceptor  PATH_REQUEST  sessionId, challenge, timestampMs
 *     acceptor -> dialer    PATH_RESPONSE sessionId, challenge2, timestampMs,
 *                           mac_R = HMAC(K, "shadowmesh v1 path-auth response" ‖ REQUEST ‖ RESPONSE[0..60))
 *     dialer   -> acceptor  PATH_COMPLETE mac_I = HMAC(K, "shadowmesh v1 path-auth complete" ‖ REQUEST ‖ RESPONSE)
 *
 * Each MAC covers the whole transcript so far; the two labels keep a
 * response from being reflected as a completion. K depends on the exporter,
 * so nothing from one connection verifies on another, and a challenge seen
 * before (ChallengeReplayCache) or a timestamp outside ±skewMs is refused
 * even before that.
 *
 * Initiator (dialer) states:
 *
 *     start --request()--> await-response --onResponse ok--> done
 *                                |
 *                                +------- any error -------> failed
 *
 * Responder (acceptor) states:
 *
 *     await-request --onRequest ok--> await-complete --onComplete ok--> done
 *           |                               |
 *           +--------- any error -----------+---------------------> failed
 *
 * Error contract: every error is a PathAuthError (a HandshakeError). Bad
 * received bytes are `fatal: true`: the machine is `failed`, its key is
 * wiped, and the caller closes the connection (TCP has no retransmissions
 * to wait for). SM_ERR_PATH_AUTH_STATE (a method called in the wrong state,
 * a bad argument) is `fatal: false` and leaves the machine unchanged.
 *
 * Buffers: returned frames are fresh arrays. The constructor copies nothing
 * of `pathAuthKey` beyond deriving K and the session id from it, so the
 * caller may hand in session memory that is wiped later.
 */
import { HandshakeError } from '../errors.js';
import { equalBytes, toHex, utf8, wipe } from '../crypto/bytes.js';
import { hkdf, hmacSha256 } from '../crypto/hkdf.js';
import {
  PATH_CHALLENGE_BYTES,
  PATH_MAC_BYTES,
  PATH_SESSION_ID_BYTES,
  PathFrameType,
} from '../wire/constants.js';
import { decodePathFrame, encodePathFrame, type PathFrame } from '../wire/path-frames.js';
import { PathAuthCode, type PathAuthCodeValue } from './handshake-errors.js';

/** TLS exporter label (RFC 8446 §7.5); empty context. */
export const PATH_AUTH_EXPORTER_LABEL = 'EXPORTER-shadowmesh-path-auth';
/** Exporter bytes the key is bound to. */
export const PATH_AUTH_EXPORTER_BYTES = 32;
/** HKDF info for K. */
export const PATH_AUTH_KEY_INFO = 'shadowmesh v1 path-auth';
/** HMAC input that names the session on the wire without revealing k_path. */
export const PATH_SESSION_ID_LABEL = 'shadowmesh v1 path session id';
/** MAC labels; distinct so a RESPONSE MAC never verifies as a COMPLETE MAC. */
export const PATH_AUTH_RESPONSE_LABEL = 'shadowmesh v1 path-auth response';
export const PATH_AUTH_COMPLETE_LABEL = 'shadowmesh v1 path-auth complete';
/** The session's path-auth key size (docs/handshake.md §3, k_path). */
export const PATH_AUTH_KEY_BYTES = 32;
/** Accept peer timestamps this far from our clock: a 30 s window (docs/protocol.md §3.3)
 *  covers NTP-synchronised hosts and slow links; wider only widens replay. */
export const DEFAULT_PATH_AUTH_SKEW_MS = 30_000;
/** Challenges remembered for replay detection: thousands of re-handshakes per
 *  skew window is far beyond any real mesh; the bound keeps memory fixed. */
export const DEFAULT_REPLAY_CACHE_ENTRIES = 4_096;

export class PathAuthError extends HandshakeError {
  override name = 'PathAuthError';
  constructor(code: PathAuthCodeValue, message: string, options?: { cause?: unknown; fatal?: boolean }) {
    super(code, `path-auth: ${message}`, { cause: options?.cause, fatal: options?.fatal ?? true });
  }
}

function argError(message: string): PathAuthError {
  return new PathAuthError(PathAuthCode.STATE, message, { fatal: false });
}

function checkLen(name: string, b: unknown, n: number): asserts b is Uint8Array {
  if (!(b instanceof Uint8Array) || b.length !== n) {
    throw argError(`${name}: expected ${n} bytes, got ${b instanceof Uint8Array ? b.length : typeof b}`);
  }
}

// ------------------------------------------------------------ key schedule

/** sessionId = HMAC(k_path, PATH_SESSION_ID_LABEL)[0..16): a fresh array. */
export function pathSessionId(pathAuthKey: Uint8Array): Uint8Array {
  checkLen('pathAuthKey', pathAuthKey, PATH_AUTH_KEY_BYTES);
  const mac = hmacSha256(pathAuthKey, utf8(PATH_SESSION_ID_LABEL));
  const id = mac.slice(0, PATH_SESSION_ID_BYTES);
  wipe(mac);
  return id;
}

/** K = HKDF(ikm = k_path, salt = exporter, info = PATH_AUTH_KEY_INFO, 32): a fresh array the caller wipes. */
export function pathMacKey(pathAuthKey: Uint8Array, exporter: Uint8Array): Uint8Array {
  checkLen('pathAuthKey', pathAuthKey, PATH_AUTH_KEY_BYTES);
  checkLen('exporter', exporter, PATH_AUTH_EXPORTER_BYTES);
  return hkdf(pathAuthKey, exporter, PATH_AUTH_KEY_INFO, PATH_MAC_BYTES);
}

const RESPONSE_LABEL = utf8(PATH_AUTH_RESPONSE_LABEL);
const COMPLETE_LABEL = utf8(PATH_AUTH_COMPLETE_LABEL);
/** RESPONSE without its trailing MAC: what mac_R covers of it. */
const RESPONSE_UNMACED_BYTES = 60;

// ------------------------------------------------------------ replay cache

/**
 * Challenges seen recently, shared by all re-handshakes of one transport.
 * A challenge is remembered while a message carrying it could still pass
 * the timestamp check (its timestamp + skewMs); past the entry bound the
 * oldest is forgotten first. Forgetting early weakens only this check: K is
 * bound to the TLS exporter, so a replay on another connection still fails
 * its MAC.
 */
export class ChallengeReplayCache {
  readonly #max: number;
  /** hex(challenge) -> expiry (ms), in insertion order. */
  readonly #seen = new Map<string, number>();

  constructor(maxEntries: number = DEFAULT_REPLAY_CACHE_ENTRIES) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1 || maxEntries > 1_000_000) {
      throw argError(`replay cache maxEntries: expected an integer in [1, 1000000], got ${String(maxEntries)}`);
    }
    this.#max = maxEntries;
  }

  get size(): number {
    return this.#seen.size;
  }

  /** True (and nothing recorded) when `challenge` was seen and has not expired; otherwise records it until `expiresAtMs`. */
  checkAndRecord(challenge: Uint8Array, expiresAtMs: number, nowMs: number): boolean {
    const key = toHex(challenge);
    const until = this.#seen.get(key);
    if (until !== undefined && until >= nowMs) return true;
    this.#seen.delete(key);
    for (const [k, exp] of this.#seen) {
      if (this.#seen.size < this.#max && exp >= nowMs) break;
      this.#seen.delete(k);
    }
    this.#seen.set(key, expiresAtMs);
    return false;
  }
}

// ------------------------------------------------------------ shared

export interface PathAuthParams {
  /** The session's path-auth key with this peer (PeerSession.currentPathAuthKey()); not kept. */
  pathAuthKey: Uint8Array;
  /** This TLS connection's exporter value (PATH_AUTH_EXPORTER_LABEL, 32 bytes); copied. */
  exporter: Uint8Array;
  /** Timestamp window, ± ms; default DEFAULT_PATH_AUTH_SKEW_MS. */
  skewMs?: number;
  /** Shared replay cache; default a private one (enough for a single machine). */
  replay?: ChallengeReplayCache;
}

export type PathAuthInitiatorState = 'start' | 'await-response' | 'done' | 'failed';
export type PathAuthResponderState = 'await-request' | 'await-complete' | 'done' | 'failed';

abstract class PathAuthBase<S extends string> {
  protected state_: S;
  protected key: Uint8Array | null;
  protected readonly sessionId: Uint8Array;
  protected readonly skewMs: number;
  protected readonly replay: ChallengeReplayCache;
  protected request_: Uint8Array | null = null;
  protected response_: Uint8Array | null = null;

  constructor(params: PathAuthParams, initial: S) {
    if (params === null || typeof params !== 'object') throw argError('params: expected an object');
    const skewMs = params.skewMs ?? DEFAULT_PATH_AUTH_SKEW_MS;
    if (!Number.isInteger(skewMs) || skewMs < 0 || skewMs > 24 * 3_600_000) {
      throw argError(`skewMs: expected an integer in [0, 86400000], got ${String(skewMs)}`);
    }
    this.key = pathMacKey(params.pathAuthKey, params.exporter);
    this.sessionId = pathSessionId(params.pathAuthKey);
    this.skewMs = skewMs;
    this.replay = params.replay ?? new ChallengeReplayCache();
    this.state_ = initial;
  }

  get state(): S {
    return this.state_;
  }

  get failed(): boolean {
    return this.state_ === 'failed';
  }

  get done(): boolean {
    return this.state_ === 'done';
  }

  /** Wipe the key; the machine is `failed` unless it already finished. Idempotent. */
  destroy(): void {
    wipe(this.key);
    this.key = null;
    this.request_ = null;
    this.response_ = null;
    if (this.state_ !== 'done') this.state_ = 'failed' as S;
  }

  protected expect(state: S, method: string): void {
    if (this.state_ !== state) throw argError(`${method} in state ${this.state_}`);
  }

  protected decode(bytes: Uint8Array, type: number, what: string): PathFrame {
    let frame: PathFrame;
    try {
      frame = decodePathFrame(bytes);
    } catch (err) {
      throw new PathAuthError(PathAuthCode.PROTOCOL, `${what} does not decode (${String((err as { code?: unknown }).code ?? err)})`, { cause: err });
    }
    if (frame.type !== type) throw new PathAuthError(PathAuthCode.PROTOCOL, `expected ${what}, got frame type 0x${frame.type.toString(16)}`);
    return frame;
  }

  protected checkSession(sessionId: Uint8Array, what: string): void {
    if (!equalBytes(sessionId, this.sessionId)) throw new PathAuthError(PathAuthCode.SESSION, `${what} names another session`);
  }

  protected checkTime(timestampMs: number, nowMs: number, what: string): void {
    if (Math.abs(timestampMs - nowMs) > this.skewMs) {
      throw new PathAuthError(PathAuthCode.STALE, `${what} timestamp ${timestampMs} is ${timestampMs - nowMs} ms from our clock (window ±${this.skewMs} ms)`);
    }
  }

  protected checkFresh(challenge: Uint8Array, timestampMs: number, nowMs: number, what: string): void {
    if (this.replay.checkAndRecord(challenge, timestampMs + this.skewMs, nowMs)) {
      throw new PathAuthError(PathAuthCode.REPLAY, `${what} challenge was seen before`);
    }
  }

  protected mac(label: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
    return hmacSha256(this.key as Uint8Array, label, ...parts);
  }

  protected guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof PathAuthError && !err.fatal) throw err;
      this.destroy();
      this.state_ = 'failed' as S;
      if (err instanceof PathAuthError) throw err;
      throw new PathAuthError(PathAuthCode.PROTOCOL, `re-handshake failed: ${(err as Error).message ?? String(err)}`, { cause: err });
    }
  }
}

function randomChallenge(rng: (n: number) => Uint8Array): Uint8Array {
  const c = rng(PATH_CHALLENGE_BYTES);
  checkLen('rng output', c, PATH_CHALLENGE_BYTES);
  return c;
}

// ------------------------------------------------------------ initiator (dialer)

export class PathAuthInitiator extends PathAuthBase<PathAuthInitiatorState> {
  constructor(params: PathAuthParams) {
    super(params, 'start');
  }

  /** PATH_REQUEST with a fresh challenge and our clock. */
  request(nowMs: number, rng: (n: number) => Uint8Array): Uint8Array {
    this.expect('start', 'request');
    const challenge = randomChallenge(rng);
    const frame = encodePathFrame({ type: PathFrameType.PathRequest, sessionId: this.sessionId, challenge, timestampMs: nowMs });
    this.request_ = frame;
    this.state_ = 'await-response';
    return frame;
  }

  /** PATH_RESPONSE in, PATH_COMPLETE out; the machine is then `done`. */
  onResponse(bytes: Uint8Array, nowMs: number): Uint8Array {
    this.expect('await-response', 'onResponse');
    return this.guard(() => {
      const f = this.decode(bytes, PathFrameType.PathResponse, 'PATH_RESPONSE');
      if (f.type !== PathFrameType.PathResponse) throw new Error('unreachable');
      this.checkSession(f.sessionId, 'PATH_RESPONSE');
      this.checkTime(f.timestampMs, nowMs, 'PATH_RESPONSE');
      const request = this.request_ as Uint8Array;
      const expected = this.mac(RESPONSE_LABEL, request, bytes.subarray(0, RESPONSE_UNMACED_BYTES));
      if (!equalBytes(expected, f.mac)) throw new PathAuthError(PathAuthCode.MAC, 'PATH_RESPONSE MAC does not verify');
      this.checkFresh(f.challenge, f.timestampMs, nowMs, 'PATH_RESPONSE');
      const complete = encodePathFrame({ type: PathFrameType.PathComplete, mac: this.mac(COMPLETE_LABEL, request, bytes) });
      this.state_ = 'done';
      this.destroy();
      return complete;
    });
  }
}

// ------------------------------------------------------------ responder (acceptor)

export class PathAuthResponder extends PathAuthBase<PathAuthResponderState> {
  constructor(params: PathAuthParams) {
    super(params, 'await-request');
  }

  /** PATH_REQUEST in, PATH_RESPONSE out. */
  onRequest(bytes: Uint8Array, nowMs: number, rng: (n: number) => Uint8Array): Uint8Array {
    this.expect('await-request', 'onRequest');
    return this.guard(() => {
      const f = this.decode(bytes, PathFrameType.PathRequest, 'PATH_REQUEST');
      if (f.type !== PathFrameType.PathRequest) throw new Error('unreachable');
      this.checkSession(f.sessionId, 'PATH_REQUEST');
      this.checkTime(f.timestampMs, nowMs, 'PATH_REQUEST');
      this.checkFresh(f.challenge, f.timestampMs, nowMs, 'PATH_REQUEST');
      const challenge2 = randomChallenge(rng);
      const response = encodePathFrame({
        type: PathFrameType.PathResponse,
        sessionId: this.sessionId,
        challenge: challenge2,
        timestampMs: nowMs,
        mac: new Uint8Array(PATH_MAC_BYTES),
      });
      const request = Uint8Array.prototype.slice.call(bytes) as Uint8Array;
      response.set(this.mac(RESPONSE_LABEL, request, response.subarray(0, RESPONSE_UNMACED_BYTES)), RESPONSE_UNMACED_BYTES);
      this.request_ = request;
      this.response_ = response;
      this.state_ = 'await-complete';
      return response;
    });
  }

  /** PATH_COMPLETE in; the machine is then `done`. */
  onComplete(bytes: Uint8Array): void {
    this.expect('await-complete', 'onComplete');
    this.guard(() => {
      const f = this.decode(bytes, PathFrameType.PathComplete, 'PATH_COMPLETE');
      if (f.type !== PathFrameType.PathComplete) throw new Error('unreachable');
      const expected = this.mac(COMPLETE_LABEL, this.request_ as Uint8Array, this.response_ as Uint8Array);
      if (!equalBytes(expected, f.mac)) throw new PathAuthError(PathAuthCode.MAC, 'PATH_COMPLETE MAC does not verify');
      this.state_ = 'done';
      this.destroy();
    });
  }
}

/** The session id a PATH_REQUEST names, or null when `bytes` is not a PATH_REQUEST; lets an acceptor pick the peer's key first. */
export function requestSessionId(bytes: Uint8Array): Uint8Array | null {
  try {
    const f = decodePathFrame(bytes);
    return f.type === PathFrameType.PathRequest ? f.sessionId : null;
  } catch {
    return null;
  }
}
