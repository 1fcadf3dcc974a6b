/**
 * Anti-replay sliding window for DATA counters (RFC 6479, "IPsec Anti-Replay
 * Algorithm without Bit Shifting"; docs/protocol.md §2; docs/architecture.md "Sessions and keys").
 *
 * The window remembers which of the last `windowSize` counters below the
 * highest one seen have been accepted. The bitmap is a ring of 32-bit words
 * indexed by `counter / 32`; when the highest counter moves forward, the words
 * it passes over are zeroed instead of shifting the whole bitmap, so each
 * packet costs O(1) (a jump clears at most the whole ring once).
 *
 * The ring holds at least one word more than the window needs (RFC 6479 §2:
 * the redundant block), so the word the newest counter lands in never
 * aliases a word that still describes an accepted counter inside the window.
 *
 * What callers must know:
 *  - call check() BEFORE decrypting (cheap reject of replays and stale
 *    counters), and accept() only AFTER the AEAD tag verified: a forged frame
 *    must never move the window (that was a flaw of an earlier design).
 *  - accepted counters are exactly: not seen before and `highest - counter <
 *    windowSize`. Anything newer than the highest is always accepted.
 *  - counters above Number.MAX_SAFE_INTEGER (2^53 - 1) are always rejected.
 *    A key pair lives at most REJECT_AFTER_TIME (180 s): reaching 2^53
 *    messages would take 5 * 10^13 packets per second, so no honest sender
 *    gets there, and staying in doubles keeps the hot path free of bigint
 *    arithmetic.
 *  - not reentrant-sensitive: plain synchronous state, one instance per
 *    receiving key pair.
 */
import { ConfigError } from '../../errors.js';
import { SessionCode } from './session-errors.js';

/** Default window: 8192 counters. A relay -> direct path switch lets the
 *  direct path overtake frames still queued in the relay; at 1 Gbit/s of
 *  1400-byte frames, 8192 counters is ~90 ms of reordering, more than the
 *  50 ms migration target (docs/architecture.md "Migration without loss"). */
export const REPLAY_WINDOW_DEFAULT_COUNTERS = 8192;
/** Smallest window we allow: 2048 counters, WireGuard's order of magnitude. A
 *  smaller window would drop honest reordered frames on a path switch. */
export const REPLAY_WINDOW_MIN_COUNTERS = 2048;
/** Largest window we allow: 2^20 counters, a 128 KiB bitmap per key pair;
 *  past that a peer's memory cost stops being negligible. */
export const REPLAY_WINDOW_MAX_COUNTERS = 1 << 20;

const WORD_BITS = 32;
const MAX_COUNTER = Number.MAX_SAFE_INTEGER;

export class ReplayWindow {
  readonly windowSize: number;
  readonly #words: Uint32Array;
  readonly #mask: number;
  /** Highest accepted counter; -1 before the first one. */
  #highest = -1;

  constructor(windowSize: number = REPLAY_WINDOW_DEFAULT_COUNTERS) {
    if (
      !Number.isInteger(windowSize) ||
      windowSize < REPLAY_WINDOW_MIN_COUNTERS ||
      windowSize > REPLAY_WINDOW_MAX_COUNTERS ||
      windowSize % WORD_BITS !== 0
    ) {
      throw new ConfigError(
        SessionCode.OPTION,
        `replay windowSize: expected a multiple of ${WORD_BITS} in [${REPLAY_WINDOW_MIN_COUNTERS}, ${REPLAY_WINDOW_MAX_COUNTERS}], got ${String(windowSize)}`,
      );
    }
    this.windowSize = windowSize;
    // RFC 6479 §2: window words plus one redundant word, rounded up to a power
    // of two so the ring index is a mask instead of a division.
    let words = 1;
    while (words < windowSize / WORD_BITS + 1) words <<= 1;
    this.#words = new Uint32Array(words);
    this.#mask = words - 1;
  }

  /** Highest counter accepted so far, or -1n before the first. For diagnostics. */
  get highest(): bigint {
    return BigInt(this.#highest);
  }

  /** True when `counter` would be accepted: not seen and not older than the window. Does not change state. */
  check(counter: bigint): boolean {
    if (counter < 0n || counter > MAX_COUNTER) return false;
    const c = Number(counter);
    if (c > this.#highest) return true;
    if (this.#highest - c >= this.windowSize) return false;
    // ToInt32 in `&` keeps the low 32 bits exactly, so this is correct for any
    // integer counter up to 2^53.
    const word = Math.floor(c / WORD_BITS) & this.#mask;
    return (this.#words[word]! & (1 << (c % WORD_BITS))) === 0;
  }

  /** Mark `counter` as seen. Call only after the frame authenticated. False (and no change) if it is a replay or too old. */
  accept(counter: bigint): boolean {
    if (counter < 0n || counter > MAX_COUNTER) return false;
    const c = Number(counter);
    const words = this.#words;
    const block = Math.floor(c / WORD_BITS);
    if (c > this.#highest) {
      // RFC 6479 §3: zero the words between the old highest block and the new
      // one; a jump past the whole ring clears it at once.
      const oldBlock = this.#highest < 0 ? -1 : Math.floor(this.#highest / WORD_BITS);
      const advance = block - oldBlock;
      if (advance > this.#mask) {
        words.fill(0);
      } else {
        for (let i = 1; i <= advance; i++) words[(oldBlock + i) & this.#mask] = 0;
      }
      this.#highest = c;
    } else if (this.#highest - c >= this.windowSize) {
      return false;
    }
    const word = block & this.#mask;
    const bit = 1 << (c % WORD_BITS);
    const w = words[word]!;
    if ((w & bit) !== 0) return false;
    words[word] = w | bit;
    return true;
  }

  /** Forget everything (the bitmap is not secret, but a reset window must not remember old counters). */
  reset(): void {
    this.#words.fill(0);
    this.#highest = -1;
  }
}
