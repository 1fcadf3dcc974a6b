/**
 * Stateless handshake cookies (docs/handshake.md §6), the responder's answer
 * to HS_INIT when its handshake budget is under pressure, in the manner of
 * WireGuard's cookie reply: instead of an ML-KEM encapsulation and an ML-DSA
 * signature, the responder sends HS_COOKIE, and does that work only for an
 * INIT that comes back carrying the cookie.
 *
 *   cookie = HMAC-SHA-256(secret, COOKIE_LABEL ‖ claimed sender id ‖ INIT without cookie)[0..16]
 *
 * The cookie binds the peer id the transport named as sender and that one
 * INIT (its nonce and ephemeral KEM key make every INIT unique), so it proves
 * only that whoever sent the INIT receives frames addressed to that peer id;
 * it cannot be moved to another INIT or another claimed sender. The secret
 * is random, held only here, and rotates every COOKIE_SECRET_ROTATION_MS; a
 * cookie made with the previous secret is still accepted, so one made just
 * before a rotation is not refused. Nothing is stored per INIT.
 *
 * Pure apart from the injected RNG: time comes in as `nowMs`. Returned
 * cookies are fresh buffers; inputs are not kept or modified.
 */
import { equalBytes, utf8, wipe } from '../crypto/bytes.js';
import { hmacSha256 } from '../crypto/hkdf.js';
import { HS_COOKIE_MAC_BYTES } from '../wire/constants.js';

/** Separates cookie MACs from every other use of HMAC in the protocol. */
export const COOKIE_LABEL = 'shadowmesh v1 hs-cookie';
/** Secret lifetime: WireGuard's two minutes. A cookie lives one to two rotations, far longer than a round trip. */
export const COOKIE_SECRET_ROTATION_MS = 120_000;
const SECRET_BYTES = 32;

const LABEL_BYTES = utf8(COOKIE_LABEL);

export class InitCookies {
  readonly #rng: (n: number) => Uint8Array;
  #current: Uint8Array;
  #previous: Uint8Array | null = null;
  #rotatedAtMs: number;

  constructor(rng: (n: number) => Uint8Array, nowMs: number) {
    this.#rng = rng;
    this.#current = rng(SECRET_BYTES);
    this.#rotatedAtMs = nowMs;
  }

  /** The cookie for an INIT (`initBytes` without any cookie) claimed to come from `senderId`. */
  make(senderId: Uint8Array, initBytes: Uint8Array, nowMs: number): Uint8Array {
    this.#rotate(nowMs);
    return mac(this.#current, senderId, initBytes);
  }

  /** True if `cookie` is what make() gave, with the current or the previous secret, for this sender and INIT. */
  check(senderId: Uint8Array, initBytes: Uint8Array, cookie: Uint8Array, nowMs: number): boolean {
    this.#rotate(nowMs);
    if (cookie.length !== HS_COOKIE_MAC_BYTES) return false;
    if (equalBytes(mac(this.#current, senderId, initBytes), cookie)) return true;
    return this.#previous !== null && equalBytes(mac(this.#previous, senderId, initBytes), cookie);
  }

  /** Wipe both secrets. */
  destroy(): void {
    wipe(this.#current, this.#previous);
  }

  #rotate(nowMs: number): void {
    if (nowMs - this.#rotatedAtMs < COOKIE_SECRET_ROTATION_MS) return;
    // After two rotations' silence the previous secret is as stale as the current one: drop both.
    const stale = nowMs - this.#rotatedAtMs >= 2 * COOKIE_SECRET_ROTATION_MS;
    wipe(this.#previous);
    this.#previous = stale ? null : this.#current;
    if (stale) wipe(this.#current);
    this.#current = this.#rng(SECRET_BYTES);
    this.#rotatedAtMs = nowMs;
  }
}

function mac(secret: Uint8Array, senderId: Uint8Array, initBytes: Uint8Array): Uint8Array {
  return hmacSha256(secret, LABEL_BYTES, senderId, initBytes).subarray(0, HS_COOKIE_MAC_BYTES);
}
