/**
 * Token bucket: a rate with bursts. The relay's per-connection frame and byte
 * limits (docs/architecture.md "Relay admission"; their values and reasons are
 * in src/relay/relay-options.ts), the STUN responder's per-source limit and the
 * peer manager's handshake budgets are all one of these.
 *
 * A bucket holds at most `burst` tokens and refills continuously at
 * `ratePerSec`. `take(n, nowMs)` removes n tokens and answers true, or leaves
 * the bucket unchanged and answers false. Pure: time is passed in by the
 * caller (the relay's injected clock), so tests drive it with a fake clock and
 * no timers are involved. A request larger than `burst` can never succeed;
 * callers size `burst` to at least their largest unit.
 */
import { ConfigError } from '../errors.js';

const MS_PER_SECOND = 1_000;

export class TokenBucket {
  readonly ratePerSec: number;
  readonly burst: number;
  #tokens: number;
  #lastRefillMs: number;

  constructor(ratePerSec: number, burst: number, nowMs: number) {
    if (!Number.isFinite(ratePerSec) || ratePerSec <= 0) {
      throw new ConfigError('SM_ERR_CONFIG_VALUE', `token bucket ratePerSec: expected a positive number, got ${String(ratePerSec)}`);
    }
    if (!Number.isFinite(burst) || burst <= 0) {
      throw new ConfigError('SM_ERR_CONFIG_VALUE', `token bucket burst: expected a positive number, got ${String(burst)}`);
    }
    this.ratePerSec = ratePerSec;
    this.burst = burst;
    this.#tokens = burst;
    this.#lastRefillMs = nowMs;
  }

  /** Tokens available at `nowMs` (refills first). */
  available(nowMs: number): number {
    this.#refill(nowMs);
    return this.#tokens;
  }

  /** Remove `amount` tokens if that many are available at `nowMs`. */
  take(amount: number, nowMs: number): boolean {
    this.#refill(nowMs);
    if (amount > this.#tokens) return false;
    this.#tokens -= amount;
    return true;
  }

  #refill(nowMs: number): void {
    // A clock that steps backwards refills nothing and does not move the mark back.
    const elapsedMs = nowMs - this.#lastRefillMs;
    if (elapsedMs <= 0) return;
    this.#tokens = Math.min(this.burst, this.#tokens + (elapsedMs * this.ratePerSec) / MS_PER_SECOND);
    this.#lastRefillMs = nowMs;
  }
}
